//! The shell's handles on its peer tasks: how to stop one, what to hand it, whether it is
//! connected; and the table of them, one per member we replicate to.

use crate::core::Outgoing;
use crate::outbox::Outbox;
use kvs_proto::peer::Cursors;
use kvs_proto::NodeId;
use kvs_store::map::Map;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::{mpsc, Notify};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Queued commands per peer; more are refused (and retried by their senders' next round).
pub(crate) const COMMAND_QUEUE: usize = 8;

/// Forwarded Redis commands and their answers queued per peer; a forwarding session waits for
/// room (its own deadline bounds the wait).
pub(crate) const FORWARD_QUEUE: usize = 256;

/// A peer task, created but not yet spawned.
pub(crate) type PeerTask = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// What the shell hands a peer task.
#[derive(Debug)]
pub(crate) enum PeerCommand {
    /// Send this message.
    Send(Outgoing),
    /// Stream the answer to the peer's anti-entropy request: what it lacks beyond `cursors`.
    AnswerAntiEntropy {
        /// The request answered.
        request: u64,
        /// The peer's cursors.
        cursors: Cursors,
        /// The peer holds nothing we have seen.
        fresh: bool,
        /// A fetch of these slots whole.
        slots: Option<kvs_proto::slot_set::SlotSet>,
    },
}

/// The shell's handle on a running peer task.
#[derive(Debug)]
pub(crate) struct PeerHandle {
    /// Cancelled to stop the task (member left or replaced); child of the node's shutdown token.
    pub(crate) stop: CancellationToken,
    /// Delivers [`PeerCommand`]s.
    pub(crate) control: mpsc::Sender<PeerCommand>,
    /// Delivers forwarded Redis commands and their answers, apart from the control queue so
    /// that a burst of them never crowds out gossip and anti-entropy.
    pub(crate) forwards: mpsc::Sender<Outgoing>,
    /// The state of the task's connection.
    pub(crate) link: Arc<LinkState>,
}

/// Whether a peer task is connected, and over which of its connections.
#[derive(Debug, Default)]
pub(crate) struct LinkState {
    /// A connection is up (greeted, streaming).
    connected: AtomicBool,
    /// Connections established so far: a new number means a new connection.
    dials: AtomicU64,
    /// Where writing sessions send pushes themselves while the link is idle.
    pub(crate) outbox: Arc<Outbox>,
    /// The answer to the peer's latest anti-entropy request, when its queue had no room (the
    /// task redialing a peer that just returned, its queue full of what it could not send):
    /// sent once the link is up, so the peer's first request after a restart is not left to
    /// stall.
    pending_answer: Mutex<Option<PeerCommand>>,
    /// Woken when the peer dials us: it is back, so a task waiting to redial it does so now.
    redial: Notify,
}

impl LinkState {
    /// A connection was established.
    pub(crate) fn connected(&self) {
        self.dials.fetch_add(1, Ordering::Relaxed);
        self.connected.store(true, Ordering::Relaxed);
    }

    /// The connection ended.
    pub(crate) fn disconnected(&self) {
        self.connected.store(false, Ordering::Relaxed);
    }

    /// The current connection's number, if connected.
    pub(crate) fn current(&self) -> Option<u64> {
        self.connected.load(Ordering::Relaxed).then(|| self.dials.load(Ordering::Relaxed))
    }

    /// The anti-entropy answer left for the task to send, if any.
    pub(crate) fn take_pending_answer(&self) -> Option<PeerCommand> {
        self.pending_answer.lock().unwrap_or_else(|p| p.into_inner()).take()
    }

    /// Resolves once the peer dialed us since the last call.
    pub(crate) async fn redial_wanted(&self) {
        self.redial.notified().await
    }
}

/// Every running peer task, by member, and the anti-entropy task's wake-up. Std mutex: held
/// only for table updates, never across an await.
#[derive(Debug, Default)]
pub(crate) struct PeerLinks {
    peers: Mutex<Map<NodeId, PeerHandle>>,
    /// Wakes the anti-entropy task for a round now.
    kick: Notify,
}

impl PeerLinks {
    fn peers(&self) -> MutexGuard<'_, Map<NodeId, PeerHandle>> {
        self.peers.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Registers the task `make` creates for `peer` and spawns it on `tasks`, unless one runs;
    /// returns whether it started.
    pub(crate) fn start(
        &self,
        tasks: &TaskTracker,
        peer: NodeId,
        make: impl FnOnce() -> (PeerHandle, PeerTask),
    ) -> bool {
        let mut peers = self.peers();
        if peers.contains_key(&peer) {
            return false;
        }
        let (handle, task) = make();
        peers.insert(peer, handle);
        tasks.spawn(task);
        true
    }

    /// Stops the task for a member that left or was replaced.
    pub(crate) fn stop(&self, peer: NodeId) {
        if let Some(handle) = self.peers().remove(&peer) {
            handle.stop.cancel();
        }
    }

    /// The number of our current connection to `peer`, if its task is connected.
    pub(crate) fn connection(&self, peer: NodeId) -> Option<u64> {
        self.peers().get(&peer)?.link.current()
    }

    /// Hands `command` to the task for `peer`; false if there is none or its queue is full.
    pub(crate) fn command(&self, peer: NodeId, command: PeerCommand) -> bool {
        match self.peers().get(&peer) {
            Some(handle) => handle.control.try_send(command).is_ok(),
            None => false,
        }
    }

    /// Hands `peer`'s task the answer to its anti-entropy request; when the task's queue has no
    /// room, it is left for the task to send as soon as it can (replacing an older one, which
    /// answered a request the peer no longer waits for). False if there is no task.
    pub(crate) fn answer(&self, peer: NodeId, answer: PeerCommand) -> bool {
        let peers = self.peers();
        let Some(handle) = peers.get(&peer) else { return false };
        if let Err(error) = handle.control.try_send(answer) {
            *handle.link.pending_answer.lock().unwrap_or_else(|p| p.into_inner()) = Some(error.into_inner());
        }
        true
    }

    /// `peer` dialed us: its task redials it now if it waits to.
    pub(crate) fn heard_from(&self, peer: NodeId) {
        if let Some(handle) = self.peers().get(&peer) {
            handle.link.redial.notify_one();
        }
    }

    /// Where forwards for `peer` queue, while its task is connected.
    pub(crate) fn forwards_to(&self, peer: NodeId) -> Option<mpsc::Sender<Outgoing>> {
        let peers = self.peers();
        let handle = peers.get(&peer)?;
        handle.link.current().map(|_| handle.forwards.clone())
    }

    /// Starts an anti-entropy round now rather than at the next tick.
    pub(crate) fn kick_anti_entropy(&self) {
        self.kick.notify_one();
    }

    /// Resolves when [`PeerLinks::kick_anti_entropy`] is called.
    pub(crate) async fn anti_entropy_kicked(&self) {
        self.kick.notified().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(request: u64) -> PeerCommand {
        PeerCommand::AnswerAntiEntropy { request, cursors: Cursors::new(), fresh: false, slots: None }
    }

    #[test]
    fn an_answer_the_queue_has_no_room_for_waits_for_the_task_and_the_newest_wins() {
        let links = PeerLinks::default();
        let peer = NodeId(7);
        let (control, _commands) = mpsc::channel(1);
        let (forwards, _forwarded) = mpsc::channel(1);
        let link = Arc::new(LinkState::default());
        let handle = PeerHandle { stop: CancellationToken::new(), control, forwards, link: link.clone() };
        links.peers().insert(peer, handle);
        assert!(links.command(peer, PeerCommand::Send(Outgoing::Applied { upto: 1 })), "fills the queue");
        assert!(links.answer(peer, answer(1)));
        assert!(links.answer(peer, answer(2)));
        match link.take_pending_answer() {
            Some(PeerCommand::AnswerAntiEntropy { request, .. }) => assert_eq!(request, 2, "the newest request's"),
            other => panic!("an answer left for the task: {other:?}"),
        }
        assert!(link.take_pending_answer().is_none());
        assert!(!links.answer(NodeId(8), answer(3)), "no task, no answer");
    }
}
