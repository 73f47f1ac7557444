//! Where the core's records go: the log that makes them durable, and the push log that carries
//! local writes to peers. A local write goes through the core, the log and the push log here, in
//! that order, one write at a time.

use crate::core::Core;
use crate::error::WriteRefused;
use crate::outbox::Outboxes;
use crate::stats::bump;
use kvs_proto::peer::Cursors;
use kvs_proto::Version;
use kvs_store::local::{Decision, Local};
use kvs_store::log::data_dir::DataDir;
use kvs_store::log::writer::{Durable, Log, Room};
use kvs_store::log::LogError;
use kvs_store::Record;
use std::sync::{Arc, Mutex};
use tokio::sync::broadcast;

/// A local write that was made.
pub(crate) struct Written {
    /// The version it was made with.
    pub(crate) version: Version,
    /// Under `--fsync always`, what to await before acknowledging it.
    pub(crate) durable: Option<Durable>,
}

/// What the push log carries: a write, or the writes of one transaction, pushed as one unit.
#[derive(Clone, Debug)]
pub(crate) enum Pushed {
    /// One write.
    One(Record),
    /// A transaction's writes, in sequence order.
    Unit(Arc<Vec<Record>>),
}

/// The log (when durable) and the push log.
pub(crate) struct WritePath {
    /// The log, when the node is durable.
    log: Option<Log>,
    /// Holds the data dir's lock for the node's lifetime.
    _dir: Option<DataDir>,
    /// The push log: each local write is appended once and every peer task reads it from its own
    /// cursor. A bounded ring of record pointers; a reader that falls off its tail learns it lagged.
    push_log: broadcast::Sender<Pushed>,
    /// Held across making, logging and queueing a local write, so our writes enter the log and
    /// the push log in sequence order.
    push_order: Mutex<()>,
    /// Every peer link, for pushes the writing session sends itself.
    pub(crate) outboxes: Outboxes,
}

impl WritePath {
    /// A write path over the log (if durable) and a push log of `push_queue` records.
    pub(crate) fn new(log: Option<Log>, dir: Option<DataDir>, push_queue: usize) -> Self {
        let (push_log, _) = broadcast::channel(push_queue);
        WritePath { log, _dir: dir, push_log, push_order: Mutex::new(()), outboxes: Outboxes::default() }
    }

    /// Refuses when an earlier log write or fsync failed.
    pub(crate) fn check(&self) -> Result<(), LogError> {
        self.log.as_ref().map_or(Ok(()), Log::check)
    }

    /// What the log reports about itself (size, syncs), when the node is durable.
    pub(crate) fn log_stats(&self) -> Option<&kvs_store::log::writer::LogStats> {
        self.log.as_ref().map(|log| &*log.stats)
    }

    /// Waits (asynchronously) for room in the log's queue for `records` writes: how a slow disk
    /// slows writers down without blocking a thread. Memory-only nodes never wait.
    pub(crate) async fn reserve(&self, records: usize) -> Result<Room, LogError> {
        match &self.log {
            Some(log) => log.reserve(records).await,
            None => Ok(Room::default()),
        }
    }

    /// Has `core` make a local write (`None` deletes), logs it in `room` and queues it for every
    /// peer.
    pub(crate) fn write(
        &self,
        core: &Core,
        key: &[u8],
        value: Option<&[u8]>,
        wall_ms: u64,
        room: &mut Room,
    ) -> Result<Written, WriteRefused> {
        let decide = |local: &Local<'_>| Decision::Write(local.value(value, None), ());
        let (written, ()) = self.update(core, key, wall_ms, room, None, decide)?;
        Ok(written.expect("a write was decided"))
    }

    /// Runs a local command on `key` through `core` (see [`kvs_store::Replica::update`]); a
    /// record it writes is logged in `room` and queued for every peer, or, inside a transaction,
    /// kept in `unit` to be pushed with the rest of it.
    pub(crate) fn update<T>(
        &self,
        core: &Core,
        key: &[u8],
        wall_ms: u64,
        room: &mut Room,
        unit: Option<&mut Vec<Record>>,
        decide: impl FnOnce(&Local<'_>) -> Decision<T>,
    ) -> Result<(Option<Written>, T), WriteRefused> {
        self.check()?;
        let _in_order = self.push_order.lock().unwrap_or_else(|p| p.into_inner());
        let (record, answer) = core.update(key, wall_ms, decide)?;
        let written = match record {
            Some(record) => Some(self.logged_and_queued(core, record, room, unit)?),
            None => None,
        };
        Ok((written, answer))
    }

    /// A replicated flush through `core`, logged and queued like a write.
    pub(crate) fn flush(
        &self,
        core: &Core,
        wall_ms: u64,
        room: &mut Room,
        unit: Option<&mut Vec<Record>>,
    ) -> Result<Written, WriteRefused> {
        self.check()?;
        let _in_order = self.push_order.lock().unwrap_or_else(|p| p.into_inner());
        let record = core.flush(wall_ms)?;
        self.logged_and_queued(core, record, room, unit)
    }

    fn logged_and_queued(
        &self,
        core: &Core,
        record: Record,
        room: &mut Room,
        unit: Option<&mut Vec<Record>>,
    ) -> Result<Written, WriteRefused> {
        let version = record.version();
        let durable = match &self.log {
            Some(log) => log.append(&record, true, room)?,
            None => None,
        };
        match unit {
            Some(unit) => unit.push(record),
            // No receivers just means no peers yet; anti-entropy brings them up to date later.
            None => {
                let queue = |record| drop(self.push_log.send(Pushed::One(record)));
                if let Some(sent) = self.outboxes.push(record, queue) {
                    bump(&core.stats().push_entries_sent, sent.peers);
                    bump(&core.stats().push_bytes_sent, sent.peers * sent.bytes);
                }
            }
        }
        Ok(Written { version, durable })
    }

    /// Queues a transaction's writes for every peer as one unit. The caller held the core's
    /// isolation lock across the transaction, so no other local write came between them.
    pub(crate) fn push_unit(&self, records: Vec<Record>) {
        let pushed = match records.len() {
            0 => return,
            1 => Pushed::One(records.into_iter().next().expect("one")),
            _ => Pushed::Unit(Arc::new(records)),
        };
        self.outboxes.queue_only(|| drop(self.push_log.send(pushed)));
    }

    /// Logs remote records the core applied, in `room` reserved for them.
    pub(crate) fn log_applied(&self, records: &[Record], room: &mut Room) {
        let Some(log) = &self.log else { return };
        for record in records {
            // A failure marks the log failed, which refuses later local writes.
            if let Err(error) = log.append(record, false, room) {
                tracing::debug!(%error, "replicated entry not logged");
            }
        }
    }

    /// Logs cursors adopted after a complete anti-entropy delta.
    pub(crate) fn log_cursors(&self, cursors: Cursors) {
        if let Some(log) = &self.log {
            let _ = log.append_cursors(cursors);
        }
    }

    /// The log, when the node is durable (for INFO).
    pub(crate) fn log(&self) -> Option<&Log> {
        self.log.as_ref()
    }

    /// Asks for a log compaction; false when the node is memory-only.
    pub(crate) fn compact_log(&self) -> Result<bool, LogError> {
        match &self.log {
            Some(log) => log.compact().map(|()| true),
            None => Ok(false),
        }
    }

    /// Writes and fsyncs the log, then stops its writer; for a clean shutdown.
    pub(crate) async fn close(&self) {
        if let Some(log) = &self.log {
            if let Err(error) = log.sync().await {
                tracing::error!(%error, "final log sync failed");
            }
            log.close();
        }
    }

    /// A new reader of the push log, starting at its head.
    pub(crate) fn subscribe_pushes(&self) -> broadcast::Receiver<Pushed> {
        self.push_log.subscribe()
    }
}
