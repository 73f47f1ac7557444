//! The node's handles on its peer tasks: how to stop one, what to ask of it, whether it is
//! connected. Data only, so the node can hold them without knowing how the tasks run.

use kvs_proto::peer::Cursors;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Queued commands per peer; more are refused (and retried by their senders' next round).
pub const COMMAND_QUEUE: usize = 8;

/// Commands another part of the node sends to a peer task.
#[derive(Debug)]
pub enum PeerCommand {
    /// Ask the peer for what we lack beyond our cursors.
    RequestAntiEntropy {
        /// We hold nothing the peer has seen, so it may skip its resync check.
        fresh: bool,
    },
    /// Answer the peer's request: what it lacks beyond `cursors`.
    AnswerAntiEntropy {
        /// The peer's cursors.
        cursors: Cursors,
        /// The peer holds nothing we have seen.
        fresh: bool,
    },
}

/// The node's handle on a running peer task.
#[derive(Debug)]
pub struct PeerHandle {
    /// Cancelled to stop the task (member left or replaced); child of the node's shutdown token.
    pub stop: CancellationToken,
    /// Delivers [`PeerCommand`]s.
    pub control: mpsc::Sender<PeerCommand>,
    /// The state of the task's connection.
    pub link: Arc<LinkState>,
}

/// Whether a peer task is connected, and over which of its connections.
#[derive(Debug, Default)]
pub struct LinkState {
    /// A connection is up (greeted, streaming).
    connected: AtomicBool,
    /// Connections established so far: a new number means a new connection.
    dials: AtomicU64,
}

impl LinkState {
    /// A connection was established.
    pub fn connected(&self) {
        self.dials.fetch_add(1, Ordering::Relaxed);
        self.connected.store(true, Ordering::Relaxed);
    }

    /// The connection ended.
    pub fn disconnected(&self) {
        self.connected.store(false, Ordering::Relaxed);
    }

    /// The current connection's number, if connected.
    pub fn current(&self) -> Option<u64> {
        self.connected.load(Ordering::Relaxed).then(|| self.dials.load(Ordering::Relaxed))
    }
}
