//! Who is in the cluster and the tasks that talk to them: the member table, the peer task
//! handles, and anti-entropy's choice of peer.

use crate::anti_entropy_rounds::Rounds;
use crate::membership::{Change, Membership};
use crate::peer_links::{PeerCommand, PeerHandle};
use kvs_proto::peer::Cursors;
use kvs_proto::{MemberInfo, NodeId};
use kvs_store::map::Map;
use std::sync::{Mutex, MutexGuard};
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::task::TaskTracker;

/// Locks a std mutex, carrying on after a panic elsewhere: the tables stay structurally valid.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The member table and the peer tasks that follow it. Std mutexes: held only for table
/// updates, never across an await.
#[derive(Debug)]
pub struct Cluster {
    members: Mutex<Membership>,
    peers: Mutex<Map<NodeId, PeerHandle>>,
    /// Whom anti-entropy asks and when it gives up.
    rounds: Mutex<Rounds>,
    /// Wakes the anti-entropy task for a round now.
    kick: Notify,
}

impl Cluster {
    /// A cluster of one: `members` holds only this node.
    pub fn new(members: Membership) -> Self {
        Cluster {
            members: Mutex::new(members),
            peers: Mutex::new(Map::default()),
            rounds: Mutex::new(Rounds::default()),
            kick: Notify::new(),
        }
    }

    /// This node's own membership record.
    pub fn me(&self) -> MemberInfo {
        lock(&self.members).me().clone()
    }

    /// Every membership record we know, ours first.
    pub fn member_infos(&self) -> Vec<MemberInfo> {
        lock(&self.members).infos()
    }

    /// Runs `f` on the member table (for status and tests).
    pub fn with_members<R>(&self, f: impl FnOnce(&Membership) -> R) -> R {
        f(&lock(&self.members))
    }

    /// How many other members are alive now.
    pub fn alive_peers(&self) -> usize {
        self.with_members(|m| m.alive_peers(Instant::now()).len())
    }

    /// Bumps our heartbeat.
    pub fn beat(&self) {
        lock(&self.members).beat();
    }

    /// Marks this node as leaving.
    pub fn announce_leave(&self) {
        lock(&self.members).announce_leave();
    }

    /// Merges membership records; returns which peer tasks to start or stop (see
    /// `peer_task::merge_members`, the one caller).
    pub(crate) fn merge_members(&self, infos: impl IntoIterator<Item = MemberInfo>) -> Vec<Change> {
        let now = Instant::now();
        let mut members = lock(&self.members);
        infos.into_iter().flat_map(|info| members.merge(info, now)).collect()
    }

    /// Registers the task `make` creates for `peer` and spawns it on `tasks`, unless one runs;
    /// returns whether it started.
    pub(crate) fn start_peer<F>(
        &self,
        tasks: &TaskTracker,
        peer: NodeId,
        make: impl FnOnce() -> (PeerHandle, F),
    ) -> bool
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        let mut peers = lock(&self.peers);
        if peers.contains_key(&peer) {
            return false;
        }
        let (handle, task) = make();
        peers.insert(peer, handle);
        tasks.spawn(task);
        true
    }

    /// Stops the task for a member that left or was replaced.
    pub(crate) fn stop_peer(&self, peer: NodeId) {
        if let Some(handle) = lock(&self.peers).remove(&peer) {
            handle.stop.cancel();
        }
    }

    /// The number of our current connection to `peer`, if its task is connected.
    pub fn peer_connection(&self, peer: NodeId) -> Option<u64> {
        lock(&self.peers).get(&peer)?.link.current()
    }

    fn command(&self, peer: NodeId, command: PeerCommand) -> bool {
        match lock(&self.peers).get(&peer) {
            Some(handle) => handle.control.try_send(command).is_ok(),
            None => false,
        }
    }

    /// Has the task for `peer` send it an anti-entropy request; false if it cannot take it now.
    /// `fresh`: we hold nothing the peer has seen.
    pub fn request_anti_entropy(&self, peer: NodeId, fresh: bool) -> bool {
        self.command(peer, PeerCommand::RequestAntiEntropy { fresh })
    }

    /// Has the task for `peer` answer its anti-entropy request.
    pub fn answer_anti_entropy(&self, peer: NodeId, cursors: Cursors, fresh: bool) {
        if !self.command(peer, PeerCommand::AnswerAntiEntropy { cursors, fresh }) {
            tracing::debug!(%peer, "cannot answer a sync request now; the peer will ask again");
        }
    }

    /// The requester side of anti-entropy.
    pub(crate) fn rounds(&self) -> MutexGuard<'_, Rounds> {
        lock(&self.rounds)
    }

    /// Starts an anti-entropy round now rather than at the next tick.
    pub fn kick_anti_entropy(&self) {
        self.kick.notify_one();
    }

    /// Resolves when [`Cluster::kick_anti_entropy`] is called.
    pub async fn anti_entropy_kicked(&self) {
        self.kick.notified().await
    }
}
