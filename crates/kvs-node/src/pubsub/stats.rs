//! What pub/sub did between nodes, for `/metrics` and INFO.
//!
//! Kept apart from the replication counters, which `status` carries on the wire: a counter added
//! there would change what an older client decodes.

use std::sync::atomic::{AtomicU64, Ordering};

/// Pub/sub counters since the node started.
#[derive(Debug, Default)]
pub struct PubSubStats {
    /// Messages this node's clients published, sent to peers (once per peer).
    pub sent: AtomicU64,
    /// Bytes of `Published` frames sent to peers.
    pub bytes_sent: AtomicU64,
    /// Messages received from peers and delivered to this node's subscribers.
    pub received: AtomicU64,
    /// Messages a peer missed (it was behind the fan-out ring), or refused as over the bounds.
    pub dropped: AtomicU64,
}

impl PubSubStats {
    /// Each counter as a row: its name, what it counts, its value.
    pub fn rows(&self) -> [(&'static str, &'static str, u64); 4] {
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        [
            (
                "pubsub_messages_sent",
                "Pub/sub messages this node's clients published, sent to peers (once per peer)",
                load(&self.sent),
            ),
            ("pubsub_bytes_sent", "Bytes of pub/sub frames sent to peers", load(&self.bytes_sent)),
            (
                "pubsub_messages_received",
                "Pub/sub messages received from peers and delivered to this node's subscribers",
                load(&self.received),
            ),
            (
                "pubsub_messages_dropped",
                "Pub/sub messages a peer missed (behind the bounded fan-out ring) or refused as over the bounds",
                load(&self.dropped),
            ),
        ]
    }
}
