//! Scheduling anti-entropy and tombstone purge.
//!
//! Every `--repair-interval-ms` the node asks one alive peer, in turn, for what it lacks beyond its
//! cursors; only one request is outstanding at a time, so a node back from a pause fetches what it
//! missed once, from one peer, rather than from all of them. The exchange itself (request, delta,
//! completion) is carried by the peer tasks; see `peer_task` and `peer_inbound`.
//!
//! Only peers we are connected to are asked, and a peer whose answer stalled is passed over while
//! another can be asked, until we reconnect to it or it answers: in a partition that is not
//! transitive, gossip relayed by a third node keeps the unreachable peer alive, and asking it in
//! turn would stall every other round.

use crate::node::Node;
use crate::stats::bump;
use kvs_proto::peer::Cursors;
use kvs_proto::NodeId;
use kvs_store::clock::wall_clock_ms;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::time::{interval, MissedTickBehavior};

/// A request with no progress (no entries, no completion) for this long is given up and the next
/// round asks again, perhaps another peer: an answer lost with a reset connection costs seconds.
const SYNC_STALL: Duration = Duration::from_secs(3);

/// The requester side's state.
#[derive(Debug, Default)]
pub struct SyncState {
    /// The peer asked, and when it last made progress answering.
    outstanding: Option<(NodeId, Instant)>,
    /// Round-robin position over alive peers.
    next: usize,
    /// Our store holds nothing any peer has seen (just cleared for a resync).
    fresh: bool,
    /// Peers whose answer stalled, with the connection it stalled on.
    stalled: HashMap<NodeId, u64>,
}

/// Runs rounds every repair interval, and at once when `Node::kick_anti_entropy` is called.
pub async fn run(node: Arc<Node>) {
    let mut ticks = interval(node.config.repair_interval);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = node.shutdown_started() => return,
            _ = ticks.tick() => {}
            _ = node.anti_entropy_kicked() => {}
        }
        start_round(&node);
    }
}

/// Asks the next alive peer for a delta, unless a request is still outstanding.
pub fn start_round(node: &Arc<Node>) {
    let now = Instant::now();
    let mut state = node.sync_state();
    if let Some((peer, since)) = state.outstanding {
        if now.duration_since(since) < SYNC_STALL {
            return;
        }
        tracing::debug!(%peer, "anti-entropy request stalled; asking another peer");
        bump(&node.stats.anti_entropy_stalls, 1);
        if let Some(connection) = node.peer_connection(peer) {
            state.stalled.insert(peer, connection);
        }
    }
    let mut candidates = node.with_members(|m| m.alive_peers(now));
    candidates.retain(|peer| node.peer_connection(*peer).is_some());
    let responsive: Vec<NodeId> = candidates
        .iter()
        .copied()
        .filter(|peer| state.stalled.get(peer).is_none_or(|&c| node.peer_connection(*peer) != Some(c)))
        .collect();
    if !responsive.is_empty() {
        candidates = responsive;
    }
    if candidates.is_empty() {
        state.outstanding = None;
        return;
    }
    candidates.sort_unstable();
    let peer = candidates[state.next % candidates.len()];
    state.next = state.next.wrapping_add(1);
    if node.request_sync_from(peer, state.fresh) {
        state.outstanding = Some((peer, now));
    }
}

/// Entries of the answer arrived from `from`: the request is alive.
pub fn progressed(node: &Node, from: NodeId) {
    let mut state = node.sync_state();
    if let Some((peer, since)) = &mut state.outstanding {
        if *peer == from {
            *since = Instant::now();
        }
    }
}

/// The peer's delta is complete: advance our cursors to its.
pub fn finished(node: &Arc<Node>, from: NodeId, cursors: &Cursors) {
    node.adopt_cursors(cursors);
    bump(&node.stats.anti_entropy_rounds, 1);
    let mut state = node.sync_state();
    state.fresh = false;
    state.stalled.remove(&from);
    if state.outstanding.is_some_and(|(peer, _)| peer == from) {
        state.outstanding = None;
    }
}

/// The peer purged deletes we may still hold: drop all it has seen, reset cursors, ask it again.
pub fn resync(node: &Arc<Node>, from: NodeId, cursors: &Cursors) {
    let dropped = node.drop_seen_by(cursors);
    bump(&node.stats.full_resyncs, 1);
    tracing::warn!(peer = %from, dropped, "behind purged deletes: resynchronizing from scratch");
    let mut state = node.sync_state();
    state.fresh = true;
    state.outstanding = node.request_sync_from(from, true).then(|| (from, Instant::now()));
}

/// Purges tombstones past the grace period, checking a few times per grace period.
pub async fn purge_tombstones(node: Arc<Node>) {
    let grace = node.config.tombstone_grace;
    let mut ticks = interval((grace / 4).clamp(Duration::from_millis(100), Duration::from_secs(60)));
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = node.shutdown_started() => return,
            _ = ticks.tick() => {}
        }
        let horizon = wall_clock_ms().saturating_sub(grace.as_millis() as u64);
        let purged = node.store().purge_tombstones(horizon);
        if purged > 0 {
            bump(&node.stats.tombstones_purged, purged);
            tracing::debug!(purged, "purged tombstones past the grace period");
        }
    }
}
