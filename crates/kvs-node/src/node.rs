//! The node: its parts, which its tasks share through an `Arc<Node>`, and the few operations that
//! span more than one part.
//!
//! Each part keeps its own invariants: [`Data`] the write path (replica, log, push log),
//! [`Cluster`] the members and peer tasks, [`ClockWatch`] the wall clock and its skew,
//! [`RedisClients`] the Redis port's bookkeeping.

use crate::clock_watch::ClockWatch;
use crate::cluster::Cluster;
use crate::config::NodeConfig;
use crate::data::Data;
use crate::error::WriteRefused;
use crate::membership::Membership;
use crate::redis::clients::RedisClients;
use crate::stats::ReplicationCounters;
use crate::storage::Storage;
use kvs_proto::{MemberInfo, NodeId};
use kvs_store::persist::wal::{Durable, Room};
use kvs_store::{Replica, Store};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// A running node; every task holds an `Arc<Node>`.
pub struct Node {
    /// The configuration it was started with.
    pub config: NodeConfig,
    /// This node's identity.
    pub id: NodeId,
    /// The address it is bound to and advertises.
    pub addr: SocketAddr,
    /// The write path: replica, log, push log.
    pub data: Data,
    /// Members and the peer tasks that follow them.
    pub cluster: Cluster,
    /// The wall clock, and whether ours is off from our peers'.
    pub clock: ClockWatch,
    /// The Redis port's connection bookkeeping.
    pub redis: RedisClients,
    /// Replication traffic counters.
    pub stats: ReplicationCounters,
    /// Cancelled when shutdown begins; parent of every peer task's token.
    shutdown: CancellationToken,
    /// Every task the node spawns, so shutdown can wait for them.
    pub tasks: TaskTracker,
    /// When the node started, for uptime.
    pub started: Instant,
}

impl Node {
    /// A node bound at `addr` over opened storage.
    pub fn new(config: NodeConfig, addr: SocketAddr, storage: Storage) -> Arc<Self> {
        let Storage { id, store, clock, wal, dir } = storage;
        let watch = ClockWatch::new(config.clock_offset_ms, config.max_clock_skew_ms, config.dead_after);
        let me = MemberInfo { id, addr, generation: watch.wall_ms(), heartbeat: 0, left: false };
        Arc::new(Node {
            data: Data::new(Replica::new(store, clock), wal, dir, config.push_queue),
            cluster: Cluster::new(Membership::new(me, config.suspect_after, config.dead_after)),
            clock: watch,
            redis: RedisClients::default(),
            config,
            id,
            addr,
            stats: ReplicationCounters::default(),
            shutdown: CancellationToken::new(),
            tasks: TaskTracker::new(),
            started: Instant::now(),
        })
    }

    /// The data, for reads.
    pub fn store(&self) -> &Store {
        self.data.store()
    }

    /// Applies a client's write (`None` deletes). Returns, under `--fsync always`, what to await
    /// before acknowledging it; refuses when the log has failed or our clock is too far from our
    /// peers' for them to accept the write.
    pub fn write_local(
        &self,
        key: &[u8],
        value: Option<&[u8]>,
        room: &mut Room,
    ) -> Result<Option<Durable>, WriteRefused> {
        if let Some(problem) = self.clock.problem() {
            return Err(WriteRefused::ClockSkew(problem));
        }
        Ok(self.data.write(key, value, self.clock.wall_ms(), room)?)
    }

    /// Merges entries a peer sent (`pushed`: by their origin, in its sequence order; otherwise an
    /// anti-entropy delta), after waiting for room to log them; returns how many were newer.
    pub async fn apply_remote(&self, entries: Vec<kvs_proto::peer::KeyedEntry>, pushed: bool) -> usize {
        // Without room (the log failed), entries still merge; they are not logged.
        let mut room = self.data.reserve(entries.len()).await.unwrap_or_default();
        self.data.apply(entries, pushed, self.clock.wall_ms(), &mut room)
    }

    /// Has the task for `peer` send it an anti-entropy request; false if it cannot take it now.
    /// `fresh`: we hold nothing the peer has seen (an empty store always qualifies).
    pub fn request_anti_entropy(&self, peer: NodeId, fresh: bool) -> bool {
        self.cluster.request_anti_entropy(peer, fresh || self.store().is_empty())
    }

    /// Re-judges our clock against the peers alive now.
    pub fn check_clock(&self) {
        self.clock.check(self.cluster.alive_peers());
    }

    /// Why this node is unhealthy, one line each (empty when healthy).
    pub fn problems(&self) -> Vec<String> {
        let storage = self.data.check().err().map(|e| e.to_string());
        self.clock.problem().into_iter().chain(storage).collect()
    }

    /// Starts a clean shutdown: mark ourselves left, then wake every task to finish.
    pub fn begin_shutdown(&self) {
        if !self.shutdown.is_cancelled() {
            self.cluster.announce_leave();
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
