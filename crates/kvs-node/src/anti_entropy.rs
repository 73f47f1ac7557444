//! The anti-entropy task and the handlers of its answers: the shell around
//! [`crate::anti_entropy_rounds`], which decides whom to ask. The exchange itself (request,
//! delta, completion) is carried by the peer tasks; see `peer_task` and `peer_inbound`.

use crate::node::Node;
use crate::stats::bump;
use kvs_proto::peer::Cursors;
use kvs_proto::NodeId;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;
use tokio::time::{interval, MissedTickBehavior};

/// Runs rounds every repair interval, and at once when `Node::kick_anti_entropy` is called.
pub async fn run(node: Arc<Node>) {
    let mut ticks = interval(node.config.anti_entropy_interval);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = node.shutdown_started() => return,
            _ = ticks.tick() => {}
            _ = node.cluster.anti_entropy_kicked() => {}
        }
        start_round(&node);
    }
}

/// Asks the next alive, connected peer for a delta, unless a request is still outstanding.
pub fn start_round(node: &Arc<Node>) {
    let now = Instant::now();
    let candidates: Vec<_> = node
        .cluster
        .with_members(|m| m.alive_peers(now))
        .into_iter()
        .filter_map(|peer| Some((peer, node.cluster.peer_connection(peer)?)))
        .collect();
    let mut rounds = node.cluster.rounds();
    let round = rounds.start(now, &candidates);
    if let Some(peer) = round.gave_up {
        tracing::debug!(%peer, "anti-entropy request stalled; asking another peer");
        bump(&node.stats.anti_entropy_stalls, 1);
    }
    if let Some((peer, fresh)) = round.ask {
        if node.request_anti_entropy(peer, fresh) {
            rounds.asked(peer, now);
        }
    }
}

/// Entries of the answer arrived from `from`: the request is alive.
pub fn progressed(node: &Node, from: NodeId) {
    node.cluster.rounds().progressed(from, Instant::now());
}

/// The peer's delta is complete: advance our cursors to its.
pub fn finished(node: &Arc<Node>, from: NodeId, cursors: &Cursors) {
    node.data.adopt_cursors(cursors);
    bump(&node.stats.anti_entropy_rounds, 1);
    node.cluster.rounds().finished(from);
}

/// The peer purged deletes we may still hold: drop all it has seen, reset cursors, ask it again.
pub fn resync(node: &Arc<Node>, from: NodeId, cursors: &Cursors) {
    let dropped = node.data.drop_seen_by(cursors);
    bump(&node.stats.full_resyncs, 1);
    tracing::warn!(peer = %from, dropped, "behind purged deletes: resynchronizing from scratch");
    let mut rounds = node.cluster.rounds();
    rounds.resync();
    if node.request_anti_entropy(from, true) {
        rounds.asked(from, Instant::now());
    }
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
        let horizon = node.clock.wall_ms().saturating_sub(grace.as_millis() as u64);
        let purged = node.store().purge_tombstones(horizon);
        if purged > 0 {
            bump(&node.stats.tombstones_purged, purged);
            tracing::debug!(purged, "purged tombstones past the grace period");
        }
    }
}
