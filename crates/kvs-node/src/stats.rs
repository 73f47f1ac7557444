//! Replication traffic counters, reported under `replication` in `status`.

use kvs_proto::ReplicationStatus;
use std::sync::atomic::{AtomicU64, Ordering};

/// Monotonic counters, bumped on the replication paths.
#[derive(Debug, Default)]
pub struct ReplicationCounters {
    /// Entries pushed to peers.
    pub push_entries_sent: AtomicU64,
    /// Push frame bytes sent.
    pub push_bytes_sent: AtomicU64,
    /// Entries received in pushes.
    pub push_entries_received: AtomicU64,
    /// Push frame bytes received.
    pub push_bytes_received: AtomicU64,
    /// Gossip and ping frame bytes sent.
    pub gossip_bytes_sent: AtomicU64,
    /// Gossip and ping frame bytes received.
    pub gossip_bytes_received: AtomicU64,
    /// Anti-entropy rounds completed as requester.
    pub anti_entropy_rounds: AtomicU64,
    /// Anti-entropy bytes sent.
    pub anti_entropy_bytes_sent: AtomicU64,
    /// Anti-entropy bytes received.
    pub anti_entropy_bytes_received: AtomicU64,
    /// Entries anti-entropy applied because they were newer.
    pub anti_entropy_entries_applied: AtomicU64,
    /// Full resynchronizations.
    pub full_resyncs: AtomicU64,
    /// Tombstones purged.
    pub tombstones_purged: AtomicU64,
    /// Keys reclaimed by active expiry.
    pub keys_expired: AtomicU64,
    /// Peer connections dialed, then dropped and redialed.
    pub peer_connections_reset: AtomicU64,
    /// Inbound peer connections closed after silence.
    pub silent_peer_connections_closed: AtomicU64,
    /// Anti-entropy requests given up unanswered.
    pub anti_entropy_stalls: AtomicU64,
    /// Peer messages (or entries in them) refused as not fitting our state.
    pub peer_messages_refused: AtomicU64,
    /// Peer hellos refused for want of the cluster secret.
    pub peer_hellos_refused: AtomicU64,
}

/// Adds `n` to a counter.
pub fn bump(counter: &AtomicU64, n: usize) {
    counter.fetch_add(n as u64, Ordering::Relaxed);
}

impl ReplicationCounters {
    /// A consistent-enough copy for a status report.
    pub fn snapshot(&self) -> ReplicationStatus {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        ReplicationStatus {
            push_entries_sent: get(&self.push_entries_sent),
            push_bytes_sent: get(&self.push_bytes_sent),
            push_entries_received: get(&self.push_entries_received),
            push_bytes_received: get(&self.push_bytes_received),
            gossip_bytes_sent: get(&self.gossip_bytes_sent),
            gossip_bytes_received: get(&self.gossip_bytes_received),
            anti_entropy_rounds: get(&self.anti_entropy_rounds),
            anti_entropy_bytes_sent: get(&self.anti_entropy_bytes_sent),
            anti_entropy_bytes_received: get(&self.anti_entropy_bytes_received),
            anti_entropy_entries_applied: get(&self.anti_entropy_entries_applied),
            full_resyncs: get(&self.full_resyncs),
            tombstones_purged: get(&self.tombstones_purged),
            keys_expired: get(&self.keys_expired),
            peer_connections_reset: get(&self.peer_connections_reset),
            silent_peer_connections_closed: get(&self.silent_peer_connections_closed),
            anti_entropy_stalls: get(&self.anti_entropy_stalls),
            peer_messages_refused: get(&self.peer_messages_refused),
            peer_hellos_refused: get(&self.peer_hellos_refused),
        }
    }
}
