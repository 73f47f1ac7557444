//! The state one node shares between its tasks.

use crate::anti_entropy_rounds::Rounds;
use crate::clock_offsets::ClockOffsets;
use crate::config::NodeConfig;
use crate::error::WriteRefused;
use crate::membership::{Change, Membership};
use crate::peer_links::{PeerCommand, PeerHandle};
use crate::stats::SyncCounters;
use crate::storage::Storage;
use kvs_proto::peer::Cursors;
use kvs_proto::peer::KeyedEntry;
use kvs_proto::{ClockSample, MemberInfo, NodeId};
use kvs_store::clock::wall_clock_ms;
use kvs_store::map::Map;
use kvs_store::persist::data_dir::DataDir;
use kvs_store::persist::wal::{Durable, Wal};
use kvs_store::persist::PersistError;
use kvs_store::{Record, Replica, Store};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use tokio::sync::{broadcast, Notify};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// A running node's shared state; every task holds an `Arc<Node>`.
pub struct Node {
    /// The configuration it was started with.
    pub config: NodeConfig,
    /// This node's identity.
    pub id: NodeId,
    /// The address it is bound to and advertises.
    pub addr: SocketAddr,
    /// Every key's latest entry, and every change to it.
    pub replica: Replica,
    /// The log, when the node is durable.
    wal: Option<Wal>,
    _data_dir: Option<DataDir>,
    /// Std mutex: held only for table updates, never across an await.
    members: Mutex<Membership>,
    /// The push log: each applied local write is appended once and every peer task reads it from
    /// its own cursor. A bounded ring of record pointers; a reader that falls off its tail learns
    /// it lagged.
    push_log: broadcast::Sender<Record>,
    peers: Mutex<Map<NodeId, PeerHandle>>,
    shutdown: CancellationToken,
    /// Every task the node spawns, so shutdown can wait for them.
    pub tasks: TaskTracker,
    /// When the node started, for uptime.
    pub started: Instant,
    /// Where the Redis-protocol port listens, once bound.
    redis_addr: OnceLock<SocketAddr>,
    redis_clients: AtomicU64,
    next_client_id: AtomicU64,
    /// Held across writing and queueing a local write, so our writes enter the push log in
    /// sequence order.
    push_order: Mutex<()>,
    /// Replication traffic counters.
    pub stats: SyncCounters,
    /// Whom anti-entropy asks and when it gives up.
    rounds: Mutex<Rounds>,
    kick: Notify,
    /// Peers' clock offsets, measured from gossip round trips.
    clock_offsets: Mutex<ClockOffsets>,
    /// Our clock's offset from our peers' (see `clock_offsets`), refreshed on every gossip
    /// received and every heartbeat; read on every write, hence an atomic.
    clock_skew_ms: AtomicI64,
}

/// Counts one open Redis connection while alive.
pub struct OpenClient<'a>(&'a AtomicU64);

impl Drop for OpenClient<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Locks a std mutex, carrying on after a panic elsewhere: the tables stay structurally valid.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Node {
    /// A node bound at `addr` over opened storage.
    pub fn new(config: NodeConfig, addr: SocketAddr, storage: Storage) -> Arc<Self> {
        let Storage { id, store, clock, wal, dir } = storage;
        let me = MemberInfo {
            id,
            addr,
            generation: wall_clock_ms().saturating_add_signed(config.clock_offset_ms),
            heartbeat: 0,
            left: false,
        };
        let members = Membership::new(me, config.suspect_after, config.dead_after);
        let (push_log, _) = broadcast::channel(config.push_queue);
        let clock_offsets = Mutex::new(ClockOffsets::new(config.dead_after));
        Arc::new(Node {
            replica: Replica::new(store, clock),
            config,
            id,
            addr,
            wal,
            _data_dir: dir,
            members: Mutex::new(members),
            push_log,
            peers: Mutex::new(Map::default()),
            shutdown: CancellationToken::new(),
            tasks: TaskTracker::new(),
            started: Instant::now(),
            redis_addr: OnceLock::new(),
            redis_clients: AtomicU64::new(0),
            next_client_id: AtomicU64::new(1),
            push_order: Mutex::new(()),
            stats: SyncCounters::default(),
            rounds: Mutex::new(Rounds::default()),
            kick: Notify::new(),
            clock_offsets,
            clock_skew_ms: AtomicI64::new(0),
        })
    }

    /// Applies a local write (`None` deletes), logs it and queues it for every peer. Returns, under
    /// `--fsync always`, what to await before acknowledging it; refuses when the log has failed or
    /// our clock is too far from our peers' for them to accept the write.
    pub fn write_local(&self, key: &[u8], value: Option<&[u8]>) -> Result<Option<Durable>, WriteRefused> {
        if let Some(problem) = self.clock_problem() {
            return Err(WriteRefused::ClockSkew(problem));
        }
        if let Some(wal) = &self.wal {
            wal.check()?;
        }
        let _in_order = lock(&self.push_order);
        let record = self.replica.write(key, value, self.wall_ms());
        let durable = match &self.wal {
            Some(wal) => wal.append(&record, true)?,
            None => None,
        };
        // No receivers just means no peers yet; anti-entropy brings them up to date when they come.
        let _ = self.push_log.send(record);
        Ok(durable)
    }

    /// Merges entries pushed by their origin, in its sequence order; returns how many were newer.
    pub fn apply_pushed(&self, entries: Vec<KeyedEntry>) -> usize {
        self.apply(entries, true)
    }

    /// Merges entries from an anti-entropy delta; returns how many were newer.
    pub fn apply_synced(&self, entries: Vec<KeyedEntry>) -> usize {
        self.apply(entries, false)
    }

    fn apply(&self, entries: Vec<KeyedEntry>, pushed: bool) -> usize {
        let applied = self.replica.apply(entries, pushed, self.wall_ms());
        if let Some((count, error)) = applied.refused {
            tracing::error!(%error, count, "refusing entries from the future");
        }
        for record in &applied.records {
            self.log(record);
        }
        applied.records.len()
    }

    /// Logs a replicated record; a failure marks the log failed, which refuses later local writes.
    fn log(&self, record: &Record) {
        if let Some(wal) = &self.wal {
            if let Err(error) = wal.append(record, false) {
                tracing::debug!(%error, "replicated entry not logged");
            }
        }
    }

    /// Adopts a peer's cursors after a complete anti-entropy delta, and logs them.
    pub fn adopt_cursors(&self, cursors: &Cursors) {
        self.replica.adopt_cursors(cursors);
        if let Some(wal) = &self.wal {
            let _ = wal.append_cursors(cursors.clone());
        }
    }

    /// Drops what a peer has seen before a full resync (and rewrites the log so a restart cannot
    /// bring it back); returns how many records were dropped.
    pub fn drop_seen_by(&self, cursors: &Cursors) -> usize {
        let dropped = self.replica.drop_seen_by(cursors);
        if let Some(wal) = &self.wal {
            let _ = wal.rewrite();
        }
        dropped
    }

    /// The data, for reads.
    pub fn store(&self) -> &Store {
        self.replica.store()
    }

    /// The log, when the node is durable (for INFO).
    pub fn wal(&self) -> Option<&Wal> {
        self.wal.as_ref()
    }

    /// Asks for a log rewrite; false when the node is memory-only.
    pub fn rewrite_log(&self) -> Result<bool, PersistError> {
        match &self.wal {
            Some(wal) => wal.rewrite().map(|()| true),
            None => Ok(false),
        }
    }

    /// Writes and fsyncs the log, then stops its writer; for a clean shutdown.
    pub async fn close_storage(&self) {
        if let Some(wal) = &self.wal {
            if let Err(error) = wal.sync().await {
                tracing::error!(%error, "final log sync failed");
            }
            wal.close();
        }
    }

    /// A new reader of the push log, starting at its head.
    pub fn subscribe_pushes(&self) -> broadcast::Receiver<Record> {
        self.push_log.subscribe()
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

    /// Bumps our heartbeat.
    pub fn beat(&self) {
        lock(&self.members).beat();
    }

    /// Merges membership records; returns which peer tasks to start or stop (see
    /// `peer_task::merge_members`, the one caller).
    pub(crate) fn merge_members(&self, infos: impl IntoIterator<Item = MemberInfo>) -> Vec<Change> {
        let now = Instant::now();
        let mut members = lock(&self.members);
        infos.into_iter().flat_map(|info| members.merge(info, now)).collect()
    }

    /// Registers and spawns the task `make` creates for `peer`, unless one runs or we are
    /// shutting down; returns whether it started.
    pub(crate) fn start_peer<F>(&self, peer: NodeId, make: impl FnOnce() -> (PeerHandle, F)) -> bool
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        if self.is_shutting_down() {
            return false;
        }
        let mut peers = lock(&self.peers);
        if peers.contains_key(&peer) {
            return false;
        }
        let (handle, task) = make();
        peers.insert(peer, handle);
        self.tasks.spawn(task);
        true
    }

    /// Stops the task for a member that left or was replaced, and forgets its clock.
    pub(crate) fn stop_peer(&self, peer: NodeId) {
        if let Some(handle) = lock(&self.peers).remove(&peer) {
            handle.stop.cancel();
        }
        lock(&self.clock_offsets).forget(peer);
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
    /// `fresh`: we hold nothing the peer has seen (an empty store always qualifies).
    pub fn request_sync_from(&self, peer: NodeId, fresh: bool) -> bool {
        let fresh = fresh || self.store().is_empty();
        self.command(peer, PeerCommand::RequestSync { fresh })
    }

    /// Has the task for `peer` answer its anti-entropy request.
    pub fn respond_to_sync(&self, peer: NodeId, cursors: Cursors, fresh: bool) {
        if !self.command(peer, PeerCommand::RespondSync { cursors, fresh }) {
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

    /// Resolves when [`Node::kick_anti_entropy`] is called.
    pub async fn anti_entropy_kicked(&self) {
        self.kick.notified().await
    }

    /// This node's wall clock, ms since the Unix epoch: the system's (or a simulator's), shifted
    /// by `--fault-clock-offset-ms` in tests. Every wall-time input of the node is read here.
    pub fn wall_ms(&self) -> u64 {
        wall_clock_ms().saturating_add_signed(self.config.clock_offset_ms)
    }

    /// The clock sample to put in our next gossip to `peer`.
    pub fn clock_sample_for(&self, peer: NodeId) -> ClockSample {
        lock(&self.clock_offsets).sample_for(peer, self.wall_ms())
    }

    /// Takes the clock sample of a gossip message from `from` and re-estimates our skew.
    pub fn clock_sample_received(&self, from: NodeId, sample: ClockSample) {
        lock(&self.clock_offsets).received(from, sample, self.wall_ms(), Instant::now());
        self.check_clock();
    }

    /// Re-estimates our clock's offset from our peers', logging when it crosses the skew bound.
    pub fn check_clock(&self) {
        let now = Instant::now();
        let alive = self.with_members(|m| m.alive_peers(now).len());
        let Some(skew) = lock(&self.clock_offsets).own_skew(now, alive) else { return };
        let before = self.clock_skew_ms.swap(skew, Ordering::Relaxed);
        let bound = self.config.max_clock_skew_ms as i64;
        match (before.abs() > bound, skew.abs() > bound) {
            (false, true) => {
                tracing::error!("{}; refusing client writes until it is corrected", skew_message(skew, bound))
            }
            (true, false) => tracing::info!(skew_ms = skew, "this node's clock is back within the skew bound"),
            _ => {}
        }
    }

    /// Our clock minus our peers', in ms.
    pub fn clock_skew_ms(&self) -> i64 {
        self.clock_skew_ms.load(Ordering::Relaxed)
    }

    /// `peer`'s clock minus ours, in ms, if measured recently.
    pub fn clock_offset_of(&self, peer: NodeId) -> Option<i64> {
        lock(&self.clock_offsets).offset_of(peer, Instant::now())
    }

    /// Why our clock makes us refuse writes, if it does.
    fn clock_problem(&self) -> Option<String> {
        let (skew, bound) = (self.clock_skew_ms(), self.config.max_clock_skew_ms as i64);
        (skew.abs() > bound).then(|| skew_message(skew, bound))
    }

    /// Why this node is unhealthy, one line each (empty when healthy).
    pub fn problems(&self) -> Vec<String> {
        let storage = self.wal.as_ref().and_then(|wal| wal.check().err()).map(|e| e.to_string());
        self.clock_problem().into_iter().chain(storage).collect()
    }

    /// Records where the Redis-protocol port listens.
    pub fn set_redis_addr(&self, addr: SocketAddr) {
        let _ = self.redis_addr.set(addr);
    }

    /// Where the Redis-protocol port listens, if enabled.
    pub fn redis_addr(&self) -> Option<SocketAddr> {
        self.redis_addr.get().copied()
    }

    /// Counts a Redis connection as open until the returned guard drops.
    pub fn redis_client_opened(&self) -> OpenClient<'_> {
        self.redis_clients.fetch_add(1, Ordering::Relaxed);
        OpenClient(&self.redis_clients)
    }

    /// Open Redis connections.
    pub fn redis_clients(&self) -> u64 {
        self.redis_clients.load(Ordering::Relaxed)
    }

    /// A fresh id for `CLIENT ID`.
    pub fn next_redis_client_id(&self) -> u64 {
        self.next_client_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Starts a clean shutdown: mark ourselves left, then wake every task to finish.
    pub fn begin_shutdown(&self) {
        if !self.shutdown.is_cancelled() {
            lock(&self.members).announce_leave();
            self.shutdown.cancel();
        }
    }

    /// Whether shutdown has begun.
    pub fn is_shutting_down(&self) -> bool {
        self.shutdown.is_cancelled()
    }

    /// Resolves once shutdown has begun.
    pub async fn shutdown_started(&self) {
        self.shutdown.cancelled().await
    }

    /// A token cancelled when shutdown begins; parent of every peer task's token.
    pub fn shutdown_token(&self) -> &CancellationToken {
        &self.shutdown
    }
}

/// "this node's clock is 300 s ahead of its peers …", for errors, logs and status.
fn skew_message(skew_ms: i64, bound_ms: i64) -> String {
    let direction = if skew_ms > 0 { "ahead of" } else { "behind" };
    let (secs, bound) = ((skew_ms.abs() + 500) / 1000, bound_ms as f64 / 1000.0);
    format!("this node's clock is {secs} s {direction} its peers (the bound is {bound} s, --max-clock-skew-ms)")
}
