//! The replication counters, in one table: every place that keeps or reports them (the node's
//! atomics, `status`, `/metrics`, INFO) is generated from [`for_each_replication_counter`], so a
//! counter added to the table is reported everywhere and one added anywhere else does not build.

use serde::{Deserialize, Serialize};

/// The table: each counter's name and what it counts. It calls `$apply!` with the rows, in wire
/// order (append only: `status` encodes them in this order).
#[macro_export]
macro_rules! for_each_replication_counter {
    ($apply:ident) => {
        $apply! {
            push_entries_sent: "Entries pushed to peers",
            push_bytes_sent: "Bytes of push frames sent",
            push_entries_received: "Entries received in pushes",
            push_bytes_received: "Bytes of push frames received",
            gossip_bytes_sent: "Bytes of gossip and ping frames sent (membership, liveness and clocks)",
            gossip_bytes_received: "Bytes of gossip and ping frames received",
            anti_entropy_rounds: "Anti-entropy rounds this node completed as requester",
            anti_entropy_bytes_sent: "Anti-entropy bytes sent (requests, deltas, completions)",
            anti_entropy_bytes_received: "Anti-entropy bytes received",
            anti_entropy_entries_applied: "Entries anti-entropy applied because they were newer than what this node held",
            full_resyncs: "Full resynchronizations after falling behind purged deletes",
            tombstones_purged: "Tombstones purged after the grace period",
            keys_expired: "Keys reclaimed by active expiry after their deadline",
            peer_connections_reset: "Peer connections this node dialed, then dropped (peer dead, a write failed or timed out, data unacknowledged past --dead-after-ms) and redialed",
            silent_peer_connections_closed: "Peer connections closed because nothing arrived on them for --dead-after-ms",
            anti_entropy_stalls: "Anti-entropy requests given up for want of progress (another peer is asked)",
            peer_messages_refused: "Peer messages (or entries in them) refused as not fitting this node's state: an answer nobody asked that peer for, entries not of the sender's origin or over the bounds",
            peer_hellos_refused: "Peer and viewer hellos refused (cluster secret, address)",
        }
    };
}

macro_rules! status_struct {
    ($($name:ident: $help:literal,)*) => {
        /// Replication counters since the node started: the push path, gossip and anti-entropy.
        #[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
        pub struct ReplicationStatus {
            $(
                #[doc = $help]
                pub $name: u64,
            )*
        }

        impl ReplicationStatus {
            /// Every counter as a row: its name, what it counts, its value.
            pub fn rows(&self) -> Vec<(&'static str, &'static str, u64)> {
                vec![$((stringify!($name), $help, self.$name),)*]
            }
        }
    };
}

for_each_replication_counter!(status_struct);
