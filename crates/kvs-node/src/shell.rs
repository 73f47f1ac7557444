//! The I/O shell around the replication core: what its tasks share through an `Arc<Shell>`.
//!
//! The shell reads the clocks, feeds the [`Core`] its inputs and carries out the [`Effect`]s it
//! returns with the handles it holds — the log and push log ([`WritePath`]), the peer tasks
//! ([`PeerLinks`]), the task tracker and the shutdown token. It holds no replication state of its
//! own; every rule lives in the core.

use crate::config::NodeConfig;
use crate::connection_budget::ConnectionBudget;
use crate::core::{Core, Effect, Held, Now};
use crate::error::WriteRefused;
use crate::node_clock::NodeClock;
use crate::observers::Observers;
use crate::open::OpenedData;
use crate::peer_links::{PeerCommand, PeerHandle, PeerLinks, PeerTask};
use crate::pubsub::{FanOut, Hub};
use crate::request_stats::RequestStats;
use crate::write_path::{WritePath, Written};
use kvs_proto::{MemberInfo, NodeId, Publication};
use kvs_store::local::{Decision, Local};
use kvs_store::log::Room;
use kvs_store::{Record, Replica, Store};
use std::net::SocketAddr;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Creates the task that replicates to a member; given to the shell by whoever starts it, so the
/// shell does not depend on how peer tasks run.
pub(crate) type SpawnPeer = fn(Arc<Shell>, MemberInfo) -> (PeerHandle, PeerTask);

/// A running node's shell; every task holds an `Arc<Shell>`.
pub struct Shell {
    /// The configuration it was started with.
    pub(crate) config: NodeConfig,
    /// This node's identity.
    pub(crate) id: NodeId,
    /// The address it is bound to and advertises.
    pub(crate) addr: SocketAddr,
    /// The replication core.
    pub(crate) core: Core,
    /// The log and the push log.
    pub(crate) writes: WritePath,
    /// The peer tasks.
    pub(crate) peers: PeerLinks,
    /// Where the Redis-protocol port listens, if enabled (the native port names it to a Redis
    /// client that knocked on the wrong door).
    pub(crate) redis_addr: Option<SocketAddr>,
    /// Accepted connections, across every listener.
    pub(crate) budget: ConnectionBudget,
    /// Every clock read of the node.
    clock: NodeClock,
    /// Creates peer tasks.
    spawn_peer: SpawnPeer,
    /// Cancelled when shutdown begins; parent of every peer task's token.
    shutdown: CancellationToken,
    /// Every task the node spawns, so shutdown can wait for them.
    pub(crate) tasks: TaskTracker,
    /// When the node started, for uptime.
    pub(crate) started: Instant,
    /// Whether the expiry timer reclaims keys (`DEBUG SET-ACTIVE-EXPIRE`).
    pub(crate) active_expiry: AtomicBool,
    /// Where joining through the bootstrap node stands.
    pub(crate) join_state: tokio::sync::watch::Sender<JoinState>,
    /// Requests served, for /metrics.
    pub(crate) requests: RequestStats,
    /// Woken whenever a peer acknowledges more of our writes (what WAIT waits on).
    pub(crate) acknowledged: tokio::sync::Notify,
    /// `maxmemory`: the limit on live data and what a write past it does.
    pub(crate) memory_limit: crate::memory_limit::MemoryLimit,
    /// This node's pub/sub subscriptions (keyspace events reach them from the write path).
    pub(crate) pubsub: Arc<Hub>,
    /// Messages published here, on their way to every peer.
    pub(crate) fanout: FanOut,
    /// The samples the cluster page charts.
    pub(crate) history: crate::history::History,
    /// Redis commands forwarded to owners and from members.
    pub(crate) forwarding: crate::forwarding::Forwarding,
    /// Writes kept for owners that are down, as their stand-in.
    pub(crate) hints: crate::hints::Hints,
}

/// Where joining the cluster through the bootstrap node stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JoinState {
    /// Still trying (or there is no bootstrap node to join through).
    Joining,
    /// Joined through `through`; `members` counts the members then known, this node included.
    Joined {
        /// The bootstrap address.
        through: SocketAddr,
        /// Members known right after joining.
        members: usize,
    },
    /// Gave up after `--join-timeout-ms`.
    Failed {
        /// The bootstrap address.
        through: SocketAddr,
        /// How long it tried.
        waited: std::time::Duration,
        /// Why the last attempt failed.
        last_error: String,
    },
}

impl Shell {
    /// The shell of a node bound at `addr` (and its Redis port at `redis_addr`) over its opened data.
    pub(crate) fn new(
        config: NodeConfig,
        addr: SocketAddr,
        redis_addr: Option<SocketAddr>,
        data: OpenedData,
        spawn_peer: SpawnPeer,
    ) -> Arc<Self> {
        let OpenedData { id, store, clock, log, dir } = data;
        let node_clock = NodeClock::new(&config.faults);
        let generation = node_clock.wall_ms();
        let me = MemberInfo { id, addr, generation, heartbeat: 0, left: false };
        let replica = Replica::new(store, clock);
        let cluster_version = dir.as_ref().and_then(|dir| dir.cluster_version());
        let layout = dir.as_ref().and_then(|dir| dir.layout().cloned());
        let fetching = dir.as_ref().and_then(|dir| dir.fetching().cloned());
        let memory_limit = crate::memory_limit::MemoryLimit::new(config.memory_limit);
        let pubsub = Arc::new(Hub::default());
        let history = crate::history::History::new(config.history_step);
        let hints = crate::hints::Hints::open(
            config.data_dir.as_deref(),
            config.max_hint_bytes,
            config.limits.max_frame_bytes,
            replica.origin(),
        );
        tracing::debug!(node = %id, origin = %replica.origin(), cursors = ?replica.cursors(), "starting from what was replayed");
        Arc::new(Shell {
            core: Core::new(&config, me, replica, (cluster_version, layout, fetching)),
            writes: WritePath::new(log, dir, config.push_queue, Observers::new(pubsub.clone(), config.observers)),
            peers: PeerLinks::default(),
            redis_addr,
            budget: ConnectionBudget::for_this_process(config.max_connections, config.max_members),
            clock: node_clock,
            spawn_peer,
            id,
            addr,
            config,
            shutdown: CancellationToken::new(),
            tasks: TaskTracker::new(),
            started: Instant::now(),
            active_expiry: AtomicBool::new(true),
            join_state: tokio::sync::watch::Sender::new(JoinState::Joining),
            requests: RequestStats::default(),
            acknowledged: tokio::sync::Notify::new(),
            memory_limit,
            pubsub,
            fanout: FanOut::default(),
            history,
            forwarding: Default::default(),
            hints,
        })
    }

    /// Now, for the core (see [`NodeClock`]).
    pub(crate) fn now(&self) -> Now {
        self.clock.now()
    }

    /// The wall clock alone: what a client's command needs.
    pub(crate) fn wall_ms(&self) -> u64 {
        self.clock.wall_ms()
    }

    /// The data, for reads.
    pub(crate) fn store(&self) -> &Store {
        self.core.store()
    }

    /// Makes a client's write (`None` deletes) in `room` reserved in the log's queue.
    pub(crate) fn write(&self, key: &[u8], value: Option<&[u8]>, room: &mut Room) -> Result<Written, WriteRefused> {
        self.writes.write(&self.core, key, value, self.wall_ms(), room)
    }

    /// Runs a local command on `key` at wall time `wall_ms` (see [`kvs_store::Replica::update`])
    /// in `room`; inside a transaction its write is kept in `unit`.
    pub(crate) fn update<T>(
        &self,
        key: &[u8],
        wall_ms: u64,
        room: &mut Room,
        unit: Option<&mut Vec<Record>>,
        decide: impl FnOnce(&Local<'_>) -> Decision<T>,
    ) -> Result<(Option<Written>, T), WriteRefused> {
        self.writes.update(&self.core, key, wall_ms, room, unit, decide)
    }

    /// FLUSHALL (`database`: `None`) or FLUSHDB at wall time `wall_ms`: a replicated flush, in
    /// `room` (inside a transaction, kept in `unit`).
    pub(crate) fn flush(
        &self,
        wall_ms: u64,
        database: Option<u8>,
        room: &mut Room,
        unit: Option<&mut Vec<Record>>,
    ) -> Result<Written, WriteRefused> {
        self.writes.flush(&self.core, wall_ms, database, room, unit)
    }

    /// Carries out what the core asked for, logging in `room` (reserved for the input's entries).
    pub(crate) fn execute(self: &Arc<Self>, effects: Vec<Effect>, room: &mut Room) {
        for effect in effects {
            match effect {
                effect @ (Effect::Log(_)
                | Effect::LogWrite(_)
                | Effect::LogCursors(_)
                | Effect::CompactLog
                | Effect::Push(_)) => {
                    if let Err(error) = self.writes.execute(self.core.stats(), effect, room) {
                        // The log refuses local writes from now on; replicated ones are fetched
                        // again by anti-entropy once it takes writes.
                        tracing::debug!(%error, "not logged");
                    }
                }
                Effect::StartPeer(info) => self.start_peer(info),
                Effect::StopPeer(peer) => self.peers.stop(peer),
                Effect::Send { to, message } => {
                    let request = matches!(message, crate::core::Outgoing::AntiEntropyRequest { .. });
                    if !self.peers.command(to, PeerCommand::Send(message)) && request {
                        self.core.request_undelivered(to);
                    }
                }
                Effect::ClusterVersionRose(version) => {
                    if let Err(error) = self.writes.cluster_version_rose(version) {
                        tracing::warn!(%error, version, "cannot record the cluster version");
                    }
                }
                Effect::FetchingChanged(slots) => {
                    if self.writes.fetching_changed(slots) {
                        let shell = self.clone();
                        self.tasks.spawn(async move { shell.writes.sync_fetched().await });
                    }
                }
                Effect::LayoutAdopted(layout) => {
                    if let Err(error) = self.writes.record_layout(&layout) {
                        tracing::warn!(%error, epoch = layout.version.epoch, "cannot record the layout");
                    }
                }
                Effect::Acknowledged => self.acknowledged.notify_waiters(),
                Effect::Deliver(messages) => {
                    for publication in &messages {
                        self.pubsub.deliver(publication);
                    }
                }
                Effect::FanOut(publication) => self.fanout.publish(publication),
                Effect::SyncThenSend { to, message } => self.sync_then_send(to, message),
                Effect::SendOnceLogged { to, message } => match self.writes.log() {
                    Some(_) => self.sync_then_send(to, message),
                    None => drop(self.peers.command(to, PeerCommand::Send(message))),
                },
                Effect::KeepHints { owner, records } => self.hints.keep(owner, records),
                Effect::HintsTaken { from, id } => {
                    if !self.hints.taken(from, id) {
                        tracing::warn!(peer = %from, id, "refusing word of hints taken that were not offered to it");
                        crate::stats::bump(&self.core.stats().peer_messages_refused, 1);
                    }
                }
                Effect::ForwardAnswered { id, reply } => self.forwarding.answered(id, reply),
                // Taken out and queued, waiting for room, where peer messages are received
                // (`Shell::queue_forwarded`); one that reaches here is refused, not dropped.
                Effect::RunForwarded { from, id, .. } => self.refuse_forward(from, id),
                Effect::AnswerAntiEntropy { to, request, cursors, fresh, slots } => {
                    if !self.peers.answer(to, PeerCommand::AnswerAntiEntropy { request, cursors, fresh, slots }) {
                        tracing::debug!(peer = %to, "cannot answer an anti-entropy request now; the peer will ask again");
                    }
                }
            }
        }
    }

    /// PUBLISH or SPUBLISH by a client of this node: delivered here and sent to every peer;
    /// how many subscribers of this node took it (what Redis Cluster's PUBLISH answers too).
    pub(crate) fn publish(&self, publication: Publication) -> usize {
        let mut delivered = 0;
        for effect in self.core.publish(publication) {
            match effect {
                Effect::Deliver(messages) => {
                    delivered += messages.iter().map(|m| self.pubsub.deliver(m)).sum::<usize>()
                }
                Effect::FanOut(publication) => self.fanout.publish(publication),
                effect => debug_assert!(false, "a publish has no effect {effect:?}"),
            }
        }
        delivered
    }

    /// WAIT (`held`: applied) or WAITAOF (synced): how many alive peers hold every write made here
    /// so far, once `wanted` of
    /// them have, `timeout` passed (`None`: no limit), `interrupted` completed (CLIENT UNBLOCK;
    /// then the second value is true), or the node shuts down. Peers are asked only when the count
    /// falls short.
    pub(crate) async fn wait_for_peers(
        self: &Arc<Self>,
        held: Held,
        wanted: usize,
        timeout: Option<std::time::Duration>,
        interrupted: impl std::future::Future<Output = ()>,
    ) -> (usize, bool) {
        let deadline = timeout.map(|timeout| tokio::time::Instant::now() + timeout);
        let (want, asks) = self.core.ask_held(held, self.now());
        let mut asks = Some(asks);
        tokio::pin!(interrupted);
        loop {
            let acknowledged = self.acknowledged.notified();
            tokio::pin!(acknowledged);
            // Registered before counting: an acknowledgement in between still wakes us.
            acknowledged.as_mut().enable();
            let count = self.core.held_by(held, want, self.now());
            if count >= wanted {
                return (count, false);
            }
            if let Some(asks) = asks.take() {
                self.execute_control(asks);
            }
            let expired = async {
                match deadline {
                    Some(deadline) => tokio::time::sleep_until(deadline).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = acknowledged => {}
                _ = expired => return (self.core.held_by(held, want, self.now()), false),
                _ = &mut interrupted => return (self.core.held_by(held, want, self.now()), true),
                _ = self.shutdown_started() => return (count, false),
            }
        }
    }

    /// WAITAOF's other side: once the log has what it holds now on disk, `to` hears that we have
    /// its writes up to `upto`. A node without a log never says so.
    fn sync_then_send(self: &Arc<Self>, to: NodeId, message: crate::core::Outgoing) {
        if self.writes.log().is_none() {
            return;
        }
        let shell = self.clone();
        self.tasks.spawn(async move {
            let Some(log) = shell.writes.log() else { return };
            if log.sync().await.is_ok() {
                shell.peers.command(to, PeerCommand::Send(message));
            }
        });
    }

    /// Effects that log nothing (membership, anti-entropy control).
    pub(crate) fn execute_control(self: &Arc<Self>, effects: Vec<Effect>) {
        self.execute(effects, &mut Room::default());
    }

    fn start_peer(self: &Arc<Self>, info: MemberInfo) {
        if self.is_shutting_down() {
            return;
        }
        let make = || (self.spawn_peer)(self.clone(), info.clone());
        if self.peers.start(&self.tasks, info.id, make) {
            tracing::info!(peer = %info.id, addr = %info.addr, "member joined");
            // A new member may hold what we lack, or lack everything: ask without waiting.
            self.peers.kick_anti_entropy();
        }
    }

    /// Why this node is unhealthy, one line each (empty when healthy).
    pub(crate) fn problems(&self) -> Vec<String> {
        let log = self.writes.check().err().map(|e| e.to_string());
        self.core.clock().problem().into_iter().chain(log).collect()
    }

    /// Starts a clean shutdown: mark ourselves left, then wake every task to finish.
    pub(crate) fn begin_shutdown(&self) {
        if !self.shutdown.is_cancelled() {
            self.core.leave();
            self.shutdown.cancel();
        }
    }

    /// Whether shutdown has begun.
    pub(crate) fn is_shutting_down(&self) -> bool {
        self.shutdown.is_cancelled()
    }

    /// Resolves once shutdown has begun.
    pub(crate) async fn shutdown_started(&self) {
        self.shutdown.cancelled().await
    }

    /// A token cancelled when shutdown begins; parent of every peer task's token.
    pub(crate) fn shutdown_token(&self) -> &CancellationToken {
        &self.shutdown
    }
}
