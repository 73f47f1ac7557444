//! How far each peer's wall clock is from ours, and whether ours is the one that is wrong.
//!
//! Pure logic, no I/O. Every ping carries the sender's wall clock and echoes the last
//! one it received from us, which gives the four timestamps of a round trip (NTP's method):
//! we sent at `t1`, the peer received at `t2` and answered at `t3` (its clock), we received at
//! `t4`. The peer's offset is `((t2 - t1) + (t3 - t4)) / 2`, accurate to half the round trip.
//!
//! Our own skew is the upper median of `{0} ∪ {our clock − each peer's}` over peers measured
//! recently: with one node wrong in three, the two right ones see a median of 0 and the wrong one
//! sees its own error; with two nodes and no majority, the one ahead is the one whose writes the
//! other refuses (the HLC's skew bound), so the upper median blames it.

use kvs_proto::{ClockSample, NodeId};
use kvs_store::map::Map;
use std::time::Duration;
use tokio::time::Instant;

/// A round trip longer than this gives no estimate worth keeping (and bounds what an echo may claim).
const MAX_ROUND_TRIP_MS: i64 = 10_000;

#[derive(Debug, Default)]
struct PeerClock {
    /// The peer's last `sent_ms` and our wall clock when it arrived: what we echo back to it.
    last_received: Option<(u64, u64)>,
    /// The last estimate of `peer clock − our clock`, and when it was made.
    offset: Option<(i64, Instant)>,
}

/// Clock offsets of every peer we exchange pings with.
#[derive(Debug)]
pub struct ClockOffsets {
    peers: Map<NodeId, PeerClock>,
    /// Estimates older than this no longer count (the peer went quiet).
    fresh_for: Duration,
}

impl ClockOffsets {
    /// An empty table whose estimates count for `fresh_for`.
    pub fn new(fresh_for: Duration) -> Self {
        ClockOffsets { peers: Map::default(), fresh_for }
    }

    /// What to send `peer` with our next ping, our wall clock being `now_ms`.
    pub fn sample_for(&self, peer: NodeId, now_ms: u64) -> ClockSample {
        ClockSample { sent_ms: now_ms, echo: self.peers.get(&peer).and_then(|p| p.last_received) }
    }

    /// Takes the sample `from` sent, which arrived when our wall clock read `now_ms`. An echo that
    /// is not a plausible answer to one of ours (from the future, or a round trip too long or
    /// negative) gives no estimate.
    pub fn received(&mut self, from: NodeId, sample: ClockSample, now_ms: u64, now: Instant) {
        let peer = self.peers.entry(from).or_default();
        peer.last_received = Some((sample.sent_ms, now_ms));
        let Some((t1, t2)) = sample.echo else { return };
        let (t1, t2, t3, t4) = (t1 as i64, t2 as i64, sample.sent_ms as i64, now_ms as i64);
        let round_trip = (t4 - t1) - (t3 - t2);
        if t1 > t4 || t4 - t1 > MAX_ROUND_TRIP_MS || !(0..=MAX_ROUND_TRIP_MS).contains(&round_trip) {
            return;
        }
        peer.offset = Some((((t2 - t1) + (t3 - t4)) / 2, now));
    }

    /// Forgets a peer that left or was replaced.
    pub fn forget(&mut self, peer: NodeId) {
        self.peers.remove(&peer);
    }

    /// `peer clock − our clock` in ms, if measured recently.
    pub fn offset_of(&self, peer: NodeId, now: Instant) -> Option<i64> {
        let (offset, at) = self.peers.get(&peer)?.offset?;
        (now.saturating_duration_since(at) < self.fresh_for).then_some(offset)
    }

    /// Our clock's offset from the cluster's in ms (positive: ours is ahead), once most of the
    /// `alive` peers are measured (`None` before: one peer measured first could make a correct
    /// clock look wrong); 0 without peers.
    pub fn own_skew(&self, now: Instant, alive: usize) -> Option<i64> {
        let mut ours: Vec<i64> =
            std::iter::once(0).chain(self.peers.keys().filter_map(|&p| self.offset_of(p, now)).map(|o| -o)).collect();
        let measured = ours.len() - 1;
        if alive > 0 && measured * 2 <= alive {
            return None;
        }
        ours.sort_unstable();
        Some(ours[ours.len() / 2])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One round trip between us and `peer`, whose clock reads ours plus `offset`, with a one-way
    /// delay of `delay` ms, ending at our wall time `t4`.
    fn round_trip(table: &mut ClockOffsets, peer: NodeId, offset: i64, delay: u64, t4: u64) {
        let t1 = t4 - 2 * delay;
        let us = table.sample_for(peer, t1);
        let t2 = (us.sent_ms as i64 + delay as i64 + offset) as u64;
        let reply = ClockSample { sent_ms: t2, echo: Some((us.sent_ms, t2)) };
        table.received(peer, reply, t4, Instant::now());
    }

    #[test]
    fn a_round_trip_measures_the_offset_whatever_the_delay() {
        let mut table = ClockOffsets::new(Duration::from_secs(5));
        round_trip(&mut table, NodeId(2), 300_000, 40, 1_000_000);
        round_trip(&mut table, NodeId(3), -1_500, 3, 1_000_000);
        assert_eq!(table.offset_of(NodeId(2), Instant::now()), Some(300_000));
        assert_eq!(table.offset_of(NodeId(3), Instant::now()), Some(-1_500));
        assert_eq!(table.offset_of(NodeId(4), Instant::now()), None);
    }

    #[test]
    fn the_node_out_of_step_with_the_majority_is_the_skewed_one() {
        let now = Instant::now();
        // We run 300 s ahead of two peers that agree with each other.
        let mut ahead = ClockOffsets::new(Duration::from_secs(5));
        round_trip(&mut ahead, NodeId(2), -300_000, 1, 2_000_000);
        round_trip(&mut ahead, NodeId(3), -300_000, 1, 2_000_000);
        assert_eq!(ahead.own_skew(now, 2), Some(300_000));
        // One of those two peers: one peer far ahead, one in step.
        let mut fine = ClockOffsets::new(Duration::from_secs(5));
        round_trip(&mut fine, NodeId(1), 300_000, 1, 2_000_000);
        round_trip(&mut fine, NodeId(3), 0, 1, 2_000_000);
        assert_eq!(fine.own_skew(now, 2), Some(0));
        // Two nodes: the one ahead is blamed, the one behind is not.
        let mut pair = ClockOffsets::new(Duration::from_secs(5));
        round_trip(&mut pair, NodeId(2), 300_000, 1, 2_000_000);
        assert_eq!(pair.own_skew(now, 1), Some(0));
        let mut pair = ClockOffsets::new(Duration::from_secs(5));
        round_trip(&mut pair, NodeId(2), -300_000, 1, 2_000_000);
        assert_eq!(pair.own_skew(now, 1), Some(300_000));
        // Alone (or with nothing measured): nothing to be skewed against.
        assert_eq!(ClockOffsets::new(Duration::from_secs(5)).own_skew(now, 0), Some(0));
        // Half the peers measured is no verdict: the first one measured may be the wrong one.
        let mut early = ClockOffsets::new(Duration::from_secs(5));
        round_trip(&mut early, NodeId(3), -300_000, 1, 2_000_000);
        assert_eq!(early.own_skew(now, 2), None);
    }

    #[test]
    fn implausible_echoes_and_stale_estimates_do_not_count() {
        let mut table = ClockOffsets::new(Duration::from_millis(50));
        let start = Instant::now();
        // An echo of a time we never reached, and one with a negative round trip.
        table.received(NodeId(2), ClockSample { sent_ms: 10, echo: Some((5_000, 10)) }, 1_000, start);
        table.received(NodeId(2), ClockSample { sent_ms: 900, echo: Some((990, 100)) }, 1_000, start);
        assert_eq!(table.offset_of(NodeId(2), start), None);
        round_trip(&mut table, NodeId(2), -300_000, 1, 2_000_000);
        assert!(table.offset_of(NodeId(2), Instant::now()).is_some());
        assert_eq!(table.offset_of(NodeId(2), Instant::now() + Duration::from_millis(60)), None);
        assert_eq!(table.own_skew(Instant::now() + Duration::from_millis(60), 1), None);
    }
}
