//! What forwarding a Redis command to a slot's owner over the peer links holds (see
//! docs/partitioning.md, "Forwarding for plain clients"): the sessions awaiting answers, and
//! commands peers forwarded, waiting for the Redis port to run them. The exchange itself is
//! [`crate::forward_exchange`].
//!
//! Which member was asked what is the core's to check ([`crate::core::Core::forward`]); this
//! side only carries messages and wakes the waiting sessions.

use bytes::Bytes;
use kvs_proto::peer::ForwardedCommand;
use kvs_proto::NodeId;
use kvs_store::map::Map;
use std::sync::atomic::AtomicU64;
use std::sync::Mutex;
use tokio::sync::{mpsc, oneshot};

/// Commands forwarded to this node that wait for the Redis port to run them; past it, a
/// forwarding member is told to try again.
const INBOX: usize = 1024;

/// What a forwarding client is told when its command could not reach an owner, or its answer
/// did not come back in time: Redis Cluster's code for "retry shortly".
pub(crate) const TRY_AGAIN: &str = "TRYAGAIN the slot's owner could not be reached; try again";

/// A command a member forwarded to this node, waiting to run.
#[derive(Debug)]
pub(crate) struct Request {
    /// The member that forwarded it, which gets the answer.
    pub(crate) from: NodeId,
    /// Its request id.
    pub(crate) id: u64,
    /// The command.
    pub(crate) command: ForwardedCommand,
}

/// Counts of forwarding, for INFO.
#[derive(Debug, Default)]
pub(crate) struct ForwardStats {
    /// Commands this node forwarded and got an answer to.
    pub(crate) answered: AtomicU64,
    /// Commands this node could not forward, or got no answer to in time.
    pub(crate) failed: AtomicU64,
    /// Commands members forwarded to this node that it ran.
    pub(crate) ran: AtomicU64,
}

/// The sessions waiting for answers, and the commands waiting to run.
#[derive(Debug)]
pub(crate) struct Forwarding {
    waiting: Mutex<Map<u64, oneshot::Sender<Bytes>>>,
    /// Room for forwards awaiting answers: a session past the bound waits for room.
    pub(crate) in_flight: tokio::sync::Semaphore,
    requests: mpsc::Sender<Request>,
    inbox: Mutex<Option<mpsc::Receiver<Request>>>,
    /// What forwarding did so far.
    pub(crate) stats: ForwardStats,
}

impl Default for Forwarding {
    fn default() -> Self {
        let (requests, inbox) = mpsc::channel(INBOX);
        Forwarding {
            waiting: Mutex::default(),
            in_flight: tokio::sync::Semaphore::new(crate::core::forwards_asked::MAX_FORWARDS_IN_FLIGHT),
            requests,
            inbox: Mutex::new(Some(inbox)),
            stats: ForwardStats::default(),
        }
    }
}

/// Why a command was not answered by an owner.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NotForwarded {
    /// No link to the owner is up, or too many forwards await answers.
    Unreachable,
    /// No answer within the peer write timeout; the owner may still have run it.
    TimedOut,
}

impl Forwarding {
    /// The sessions awaiting answers, by request id.
    pub(crate) fn waiting(&self) -> std::sync::MutexGuard<'_, Map<u64, oneshot::Sender<Bytes>>> {
        self.waiting.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The commands peers forward, for the one task that runs them (the Redis port's).
    pub(crate) fn take_inbox(&self) -> Option<mpsc::Receiver<Request>> {
        self.inbox.lock().unwrap_or_else(|p| p.into_inner()).take()
    }

    /// A member forwarded a command: queued to run once there is room (the member's link waits
    /// meanwhile), or handed back when nothing runs forwarded commands here.
    pub(crate) async fn queue_waiting(&self, request: Request) -> Result<(), Request> {
        self.requests.send(request).await.map_err(|error| error.0)
    }

    /// The answer to forward `id` came (the core checked who sent it): wakes its session.
    pub(crate) fn answered(&self, id: u64, reply: Bytes) {
        if let Some(waiter) = self.waiting().remove(&id) {
            let _ = waiter.send(reply);
        }
    }
}
