//! The node's data path: the replica, the log that makes it durable, and the push log that
//! carries local writes to peers. Each write goes through all three here, in order.

use kvs_proto::peer::{Cursors, KeyedEntry};
use kvs_store::persist::data_dir::DataDir;
use kvs_store::persist::wal::{Durable, Room, Wal};
use kvs_store::persist::PersistError;
use kvs_store::{Record, Replica, Store};
use std::sync::Mutex;
use tokio::sync::broadcast;

/// The replica with its log and push log.
pub struct Data {
    /// Every key's latest entry, and every change to it.
    pub replica: Replica,
    /// The log, when the node is durable.
    log: Option<Wal>,
    /// Holds the data dir's lock for the node's lifetime.
    _dir: Option<DataDir>,
    /// The push log: each applied local write is appended once and every peer task reads it from
    /// its own cursor. A bounded ring of record pointers; a reader that falls off its tail learns
    /// it lagged.
    push_log: broadcast::Sender<Record>,
    /// Held across writing and queueing a local write, so our writes enter the push log (and the
    /// log) in sequence order.
    push_order: Mutex<()>,
}

impl Data {
    /// The data path over a replica, its log (if durable) and a push log of `push_queue` records.
    pub fn new(replica: Replica, log: Option<Wal>, dir: Option<DataDir>, push_queue: usize) -> Self {
        let (push_log, _) = broadcast::channel(push_queue);
        Data { replica, log, _dir: dir, push_log, push_order: Mutex::new(()) }
    }

    /// The data, for reads.
    pub fn store(&self) -> &Store {
        self.replica.store()
    }

    /// Refuses when an earlier log write or fsync failed.
    pub fn check(&self) -> Result<(), PersistError> {
        self.log.as_ref().map_or(Ok(()), Wal::check)
    }

    /// Waits (asynchronously) for room in the log's queue for `records` writes: how a slow disk
    /// slows writers down without blocking a thread. Memory-only nodes never wait.
    pub async fn reserve(&self, records: usize) -> Result<Room, PersistError> {
        match &self.log {
            Some(log) => log.reserve(records).await,
            None => Ok(Room::default()),
        }
    }

    /// Applies a local write (`None` deletes) at wall time `wall_ms`, logs it (in `room`
    /// reserved for it) and queues it for every peer. Returns, under `--fsync always`, what to
    /// await before acknowledging it.
    pub fn write(
        &self,
        key: &[u8],
        value: Option<&[u8]>,
        wall_ms: u64,
        room: &mut Room,
    ) -> Result<Option<Durable>, PersistError> {
        self.check()?;
        let _in_order = self.push_order.lock().unwrap_or_else(|p| p.into_inner());
        let record = self.replica.write(key, value, wall_ms);
        let durable = match &self.log {
            Some(log) => log.append(&record, true, room)?,
            None => None,
        };
        // No receivers just means no peers yet; anti-entropy brings them up to date when they come.
        let _ = self.push_log.send(record);
        Ok(durable)
    }

    /// Merges remote entries (`pushed`: from their origin, in its order) at wall time `wall_ms`
    /// and logs the newer ones in `room`; returns how many were newer.
    pub fn apply(&self, entries: Vec<KeyedEntry>, pushed: bool, wall_ms: u64, room: &mut Room) -> usize {
        let applied = self.replica.apply(entries, pushed, wall_ms);
        if let Some((count, error)) = applied.refused {
            tracing::error!(%error, count, "refusing entries from the future");
        }
        if let Some(log) = &self.log {
            for record in &applied.records {
                // A failure marks the log failed, which refuses later local writes.
                if let Err(error) = log.append(record, false, room) {
                    tracing::debug!(%error, "replicated entry not logged");
                }
            }
        }
        applied.records.len()
    }

    /// Adopts a peer's cursors after a complete anti-entropy delta, and logs them.
    pub fn adopt_cursors(&self, cursors: &Cursors) {
        self.replica.adopt_cursors(cursors);
        if let Some(log) = &self.log {
            let _ = log.append_cursors(cursors.clone());
        }
    }

    /// Drops what a peer has seen before a full resync (and rewrites the log so a restart cannot
    /// bring it back); returns how many records were dropped.
    pub fn drop_seen_by(&self, cursors: &Cursors) -> usize {
        let dropped = self.replica.drop_seen_by(cursors);
        if let Some(log) = &self.log {
            let _ = log.rewrite();
        }
        dropped
    }

    /// The log, when the node is durable (for INFO).
    pub fn log(&self) -> Option<&Wal> {
        self.log.as_ref()
    }

    /// Asks for a log rewrite; false when the node is memory-only.
    pub fn rewrite_log(&self) -> Result<bool, PersistError> {
        match &self.log {
            Some(log) => log.rewrite().map(|()| true),
            None => Ok(false),
        }
    }

    /// Writes and fsyncs the log, then stops its writer; for a clean shutdown.
    pub async fn close(&self) {
        if let Some(log) = &self.log {
            if let Err(error) = log.sync().await {
                tracing::error!(%error, "final log sync failed");
            }
            log.close();
        }
    }

    /// A new reader of the push log, starting at its head.
    pub fn subscribe_pushes(&self) -> broadcast::Receiver<Record> {
        self.push_log.subscribe()
    }
}
