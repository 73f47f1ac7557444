//! Whom anti-entropy asks, and when a request is given up: pure logic, time passed in.
//!
//! One request is outstanding at a time, so a node back from a pause fetches what it missed once,
//! from one peer, rather than from all of them. Only peers we are connected to are asked, and a
//! peer whose answer stalled is passed over for a while (while another can be asked, until we
//! reconnect to it, or for [`PASS_OVER`]): in a partition that is not transitive, gossip relayed
//! by a third node keeps the unreachable peer alive, and asking it in turn would stall every other
//! round. Only for a while: a peer may hold writes nobody else has, and an answer can be lost
//! without the connection breaking (the simulator found a node whose last writes were never
//! fetched because every peer passed it over for good, seed 3801 of the 10,000-seed run).

use kvs_proto::NodeId;
use kvs_store::map::Map;
use std::time::Duration;
use tokio::time::Instant;

/// A request with no progress (no entries, no completion) for this long is given up and the next
/// round asks again, perhaps another peer: an answer lost with a reset connection costs seconds.
pub(crate) const STALL_AFTER: Duration = Duration::from_secs(3);

/// How long a peer whose answer stalled is passed over (unless we reconnect to it first).
pub(crate) const PASS_OVER: Duration = Duration::from_secs(15);

/// A peer that could be asked: its id and the number of our current connection to it.
pub(crate) type Candidate = (NodeId, u64);

/// The requester side's state.
#[derive(Debug, Default)]
pub(crate) struct Rounds {
    /// The peer asked, and when it last made progress answering.
    outstanding: Option<(NodeId, u64, Instant)>,
    /// Round-robin position.
    next: usize,
    /// Our store holds nothing any peer has seen (just cleared for a resync).
    fresh: bool,
    /// Peers whose answer stalled, with the connection it stalled on and when.
    stalled: Map<NodeId, (u64, Instant)>,
    /// Entries of the outstanding answer were refused: its cursors must not be adopted.
    incomplete: bool,
    /// Makes request ids unique to this run of the node (its origin), so an answer to a request
    /// of an earlier run, delivered late, is never taken for ours.
    salt: u64,
    /// Requests made so far.
    requests: u64,
}

/// What a round decided.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Round {
    /// The outstanding request to this peer was given up.
    pub(crate) gave_up: Option<NodeId>,
    /// Ask this peer now, saying whether we are fresh.
    pub(crate) ask: Option<(NodeId, bool)>,
}

impl Rounds {
    /// The rounds of a run whose request ids are salted with `salt` (its origin).
    pub(crate) fn new(salt: u64) -> Self {
        Rounds { salt, ..Rounds::default() }
    }

    /// Starts a round at `now` among `candidates` (alive and connected peers), unless a request is
    /// still outstanding. The caller sends the request and reports whether it could with
    /// [`Rounds::asked`].
    pub(crate) fn start(&mut self, now: Instant, candidates: &[Candidate]) -> Round {
        let mut round = Round::default();
        if let Some((peer, _, since)) = self.outstanding {
            if now.duration_since(since) < STALL_AFTER {
                return round;
            }
            round.gave_up = Some(peer);
            if let Some(&(_, connection)) = candidates.iter().find(|(id, _)| *id == peer) {
                self.stalled.insert(peer, (connection, now));
            }
            self.outstanding = None;
        }
        let stalled_here = |(id, connection): &&Candidate| {
            self.stalled.get(id).is_some_and(|(c, at)| c == connection && now.duration_since(*at) < PASS_OVER)
        };
        let mut chosen: Vec<NodeId> = candidates.iter().filter(|c| !stalled_here(c)).map(|(id, _)| *id).collect();
        if chosen.is_empty() {
            chosen = candidates.iter().map(|(id, _)| *id).collect();
        }
        if chosen.is_empty() {
            return round;
        }
        chosen.sort_unstable();
        let peer = chosen[self.next % chosen.len()];
        self.next = self.next.wrapping_add(1);
        round.ask = Some((peer, self.fresh));
        round
    }

    /// The request to `peer` went out at `now`.
    pub(crate) fn asked(&mut self, peer: NodeId, now: Instant) -> u64 {
        self.incomplete = false;
        self.requests += 1;
        let request = self.salt.wrapping_mul(0x9e37_79b9_7f4a_7c15).wrapping_add(self.requests);
        self.outstanding = Some((peer, request, now));
        request
    }

    /// Whether `request` is our outstanding request, made to `peer`: only that is answered.
    pub(crate) fn is_asking(&self, peer: NodeId, request: u64) -> bool {
        self.outstanding.is_some_and(|(asked, id, _)| asked == peer && id == request)
    }

    /// The request to `peer` never went out (its connection's queue was full): forget it, so the
    /// next round asks again rather than waiting for it to stall.
    pub(crate) fn undelivered(&mut self, peer: NodeId) {
        if self.outstanding.is_some_and(|(asked, _, _)| asked == peer) {
            self.outstanding = None;
        }
    }

    /// Entries of the answer arrived from `from` at `now`: the request is alive.
    pub(crate) fn progressed(&mut self, from: NodeId, now: Instant) {
        if let Some((peer, _, since)) = &mut self.outstanding {
            if *peer == from {
                *since = now;
            }
        }
    }

    /// Part of the outstanding answer could not be applied (entries refused).
    pub(crate) fn incomplete(&mut self) {
        self.incomplete = true;
    }

    /// `from` completed its answer; returns whether it was applied whole, so that its cursors may
    /// be adopted.
    pub(crate) fn finished(&mut self, from: NodeId) -> bool {
        let whole = !std::mem::take(&mut self.incomplete);
        if whole {
            self.fresh = false;
        }
        self.stalled.remove(&from);
        if self.outstanding.is_some_and(|(peer, _, _)| peer == from) {
            self.outstanding = None;
        }
        whole
    }

    /// We dropped what a peer has seen to resynchronize from it: until a round completes we hold
    /// nothing any peer has seen, and the caller asks that peer at once.
    pub(crate) fn resync(&mut self) {
        self.fresh = true;
        self.outstanding = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asks_in_turn_one_at_a_time() {
        let mut rounds = Rounds::default();
        let now = Instant::now();
        let peers = [(NodeId(2), 1), (NodeId(3), 1)];
        let first = rounds.start(now, &peers).ask.unwrap().0;
        rounds.asked(first, now);
        assert_eq!(rounds.start(now, &peers), Round::default(), "one request at a time");
        rounds.finished(first);
        let second = rounds.start(now, &peers).ask.unwrap().0;
        assert_ne!(first, second);
    }

    #[test]
    fn a_stalled_peer_is_passed_over_until_reconnected_unless_it_is_the_only_one() {
        let mut rounds = Rounds::default();
        let start = Instant::now();
        let (b, c) = (NodeId(2), NodeId(3));
        rounds.asked(b, start);
        let later = start + STALL_AFTER;
        let round = rounds.start(later, &[(b, 7), (c, 1)]);
        assert_eq!(round.gave_up, Some(b));
        for _ in 0..4 {
            let asked = rounds.start(later, &[(b, 7), (c, 1)]).ask.unwrap().0;
            assert_eq!(asked, c, "the stalled peer is not asked over the same connection");
            rounds.finished(c);
        }
        // A new connection to it, or nobody else to ask: it is asked again.
        assert!(
            (0..2).any(|_| {
                let asked = rounds.start(later, &[(b, 8), (c, 1)]).ask.unwrap().0;
                rounds.finished(asked);
                asked == b
            }),
            "reconnected"
        );
        rounds.asked(b, later);
        rounds.start(later + STALL_AFTER, &[(b, 8)]);
        assert_eq!(rounds.start(later + STALL_AFTER, &[(b, 8)]).ask, Some((b, false)), "the only peer");
    }

    #[test]
    fn a_stalled_peer_is_asked_again_after_a_while_even_over_the_same_connection() {
        // It may hold writes nobody else has; an answer can be lost without the connection
        // breaking (found by the simulator: a node's last writes were never fetched).
        let mut rounds = Rounds::default();
        let start = Instant::now();
        let (b, c) = (NodeId(2), NodeId(3));
        rounds.asked(b, start);
        let stalled_at = start + STALL_AFTER;
        assert_eq!(rounds.start(stalled_at, &[(b, 7), (c, 1)]).gave_up, Some(b));
        rounds.finished(c);
        let asked = |rounds: &mut Rounds, at| {
            (0..2)
                .map(|_| {
                    let peer = rounds.start(at, &[(b, 7), (c, 1)]).ask.unwrap().0;
                    rounds.finished(peer);
                    peer
                })
                .collect::<Vec<_>>()
        };
        assert!(!asked(&mut rounds, stalled_at + PASS_OVER / 2).contains(&b), "passed over for a while");
        assert!(asked(&mut rounds, stalled_at + PASS_OVER).contains(&b), "then asked again");
    }

    #[test]
    fn progress_keeps_a_request_alive() {
        let mut rounds = Rounds::default();
        let start = Instant::now();
        rounds.asked(NodeId(2), start);
        rounds.progressed(NodeId(2), start + STALL_AFTER / 2);
        let round = rounds.start(start + STALL_AFTER, &[(NodeId(2), 1)]);
        assert_eq!(round, Round::default());
    }
}
