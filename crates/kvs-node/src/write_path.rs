//! The shell's executor of the core's log and push effects: the log that makes records durable,
//! and the push log that carries our writes to peers. A local write is a core input made within
//! a [`Turn`]; its effects (log it, then push it) are carried out here before the turn ends, so
//! local and remote records take one path to the disk.

use crate::core::{Core, Effect, Pushed, Turn};
use crate::error::WriteRefused;
use crate::fetching_record::FetchingRecord;
use crate::observers::Observers;
use crate::outbox::Outboxes;
use crate::stats::{bump, ReplicationCounters};
use kvs_proto::slot_set::SlotSet;
use kvs_proto::Version;
use kvs_store::local::{Decision, Local};
use kvs_store::log::data_dir::DataDir;
use kvs_store::log::LogError;
use kvs_store::log::{Durable, Log, Room};
use kvs_store::Record;
use tokio::sync::broadcast;

/// A local write that was made.
pub(crate) struct Written {
    /// The version it was made with.
    pub(crate) version: Version,
    /// Under `--fsync always`, what to await before acknowledging it.
    pub(crate) durable: Option<Durable>,
}

/// The log (when durable) and the push log.
pub(crate) struct WritePath {
    /// The log, when the node is durable.
    log: Option<Log>,
    /// Holds the data dir's lock for the node's lifetime, and records the cluster version.
    dir: Option<std::sync::Mutex<DataDir>>,
    /// The push log: each local write is appended once and every peer task reads it from its own
    /// cursor. A bounded ring of record pointers; a reader that falls off its tail learns it lagged.
    push_log: broadcast::Sender<Pushed>,
    /// Every peer link, for pushes the writing session sends itself.
    pub(crate) outboxes: Outboxes,
    /// What hears of every change applied here (keyspace notifications, client tracking).
    pub(crate) observers: Observers,
    /// The slots to fetch as the data dir must record them.
    fetching: FetchingRecord,
}

impl WritePath {
    /// A write path over the log (if durable) and a push log of `push_queue` records, telling
    /// `observers` of every change.
    pub(crate) fn new(log: Option<Log>, dir: Option<DataDir>, push_queue: usize, observers: Observers) -> Self {
        let (push_log, _) = broadcast::channel(push_queue);
        let recorded = dir.as_ref().and_then(|dir| dir.fetching().cloned()).unwrap_or_else(SlotSet::empty);
        let fetching = FetchingRecord::new(recorded);
        let dir = dir.map(std::sync::Mutex::new);
        WritePath { log, dir, push_log, outboxes: Outboxes::default(), observers, fetching }
    }

    /// The cluster reached `version`: recorded in the data dir first (a restart must not forget
    /// it), then the log moves to the format the version opens.
    pub(crate) fn cluster_version_rose(&self, version: u32) -> Result<(), LogError> {
        if let Some(dir) = &self.dir {
            dir.lock().unwrap_or_else(|p| p.into_inner()).record_cluster_version(version)?;
        }
        match &self.log {
            Some(log) => log.write_format(crate::open::log_format(Some(version))),
            None => Ok(()),
        }
    }

    /// Records a layout this node adopted in the data dir (a memory-only node learns it again
    /// from its peers).
    pub(crate) fn record_layout(&self, layout: &kvs_proto::layout::Layout) -> Result<(), LogError> {
        match &self.dir {
            Some(dir) => dir.lock().unwrap_or_else(|p| p.into_inner()).record_layout(layout),
            None => Ok(()),
        }
    }

    /// The core's slots to fetch are now `slots`: recorded in the data dir, but for those done
    /// whose records the log has not synced yet ([`FetchingRecord`]); true if
    /// [`WritePath::sync_fetched`] must run to record them done.
    pub(crate) fn fetching_changed(&self, slots: SlotSet) -> bool {
        let Some(dir) = &self.dir else { return false };
        let (recorded, sync) = self.fetching.changed(slots);
        Self::record_fetching(dir, &recorded);
        sync && self.log.is_some()
    }

    /// Syncs the log until every slot done fetching has its records on disk, recording each
    /// done as its sync ends.
    pub(crate) async fn sync_fetched(&self) {
        let (Some(dir), Some(log)) = (&self.dir, &self.log) else { return };
        loop {
            let covered = self.fetching.sync_begins();
            if let Err(error) = log.sync().await {
                tracing::warn!(%error, "cannot sync the log: the slots fetched stay recorded as still to fetch");
                return;
            }
            let (recorded, again) = self.fetching.synced(&covered);
            Self::record_fetching(dir, &recorded);
            if !again {
                return;
            }
        }
    }

    fn record_fetching(dir: &std::sync::Mutex<DataDir>, slots: &SlotSet) {
        if let Err(error) = dir.lock().unwrap_or_else(|p| p.into_inner()).record_fetching(slots) {
            tracing::warn!(%error, slots = slots.len(), "cannot record the slots to fetch");
        }
    }

    /// Refuses when an earlier log write or fsync failed.
    pub(crate) fn check(&self) -> Result<(), LogError> {
        self.log.as_ref().map_or(Ok(()), Log::check)
    }

    /// What the log reports about itself (size, syncs), when the node is durable.
    pub(crate) fn log_stats(&self) -> Option<&kvs_store::log::LogStats> {
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

    /// Has `core` make a local write (`None` deletes) and carries it out, logging it in `room`.
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

    /// Runs a local command on `key` through `core` (see [`Core::update`]) and carries out what
    /// it wrote: logged in `room`, then pushed to every peer (inside a transaction, kept in
    /// `unit`). Refused before the core sees it when the log has failed.
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
        let mut turn = core.turn();
        let mut unit = unit;
        let (version, answer) = core.update(&mut turn, key, wall_ms, unit.as_deref_mut(), decide)?;
        let durable = self.carry_out(core.stats(), &mut turn, room)?;
        // A write outside a transaction fires its events as it is pushed; one inside, here.
        if let Some(made) = unit.and_then(|unit| version.and(unit.last())) {
            self.observers.local(made);
        }
        Ok((version.map(|version| Written { version, durable }), answer))
    }

    /// A replicated flush of `database` (`None`: all) through `core`, carried out like a write.
    pub(crate) fn flush(
        &self,
        core: &Core,
        wall_ms: u64,
        database: Option<u8>,
        room: &mut Room,
        unit: Option<&mut Vec<Record>>,
    ) -> Result<Written, WriteRefused> {
        self.check()?;
        let mut turn = core.turn();
        let version = core.flush(&mut turn, wall_ms, database, unit)?;
        let durable = self.carry_out(core.stats(), &mut turn, room)?;
        Ok(Written { version, durable })
    }

    /// Pushes a transaction's writes (logged as they were made) to every peer as one unit.
    pub(crate) fn push_unit(&self, core: &Core, records: Vec<Record>) {
        let mut turn = core.turn();
        core.push_unit(&mut turn, records);
        // Pushing cannot fail; only a log write can.
        let _ = self.carry_out(core.stats(), &mut turn, &mut Room::default());
    }

    /// Carries out the effects of `turn`, in order, before it ends; returns what to await, under
    /// `--fsync always`, before acknowledging the write they logged. A log refusal stops there:
    /// what was not logged is not pushed.
    fn carry_out(
        &self,
        stats: &ReplicationCounters,
        turn: &mut Turn<'_>,
        room: &mut Room,
    ) -> Result<Option<Durable>, LogError> {
        let mut durable = None;
        for effect in turn.effects() {
            durable = self.execute(stats, effect, room)?.or(durable);
        }
        Ok(durable)
    }

    /// Carries out one effect of the log or the push log (the shell carries out the others);
    /// for an [`Effect::LogWrite`] under `--fsync always`, returns what to await.
    pub(crate) fn execute(
        &self,
        stats: &ReplicationCounters,
        effect: Effect,
        room: &mut Room,
    ) -> Result<Option<Durable>, LogError> {
        match effect {
            Effect::LogWrite(record) => {
                return match &self.log {
                    Some(log) => Ok(log.append(record, true, room)?),
                    None => Ok(None),
                };
            }
            Effect::Push(Pushed::One(record)) => {
                self.observers.local(&record);
                // No receivers just means no peers yet; anti-entropy brings them up to date later.
                let queue = |record| drop(self.push_log.send(Pushed::One(record)));
                if let Some(sent) = self.outboxes.push(record, queue) {
                    bump(&stats.push_entries_sent, sent.peers);
                    bump(&stats.push_bytes_sent, sent.peers * sent.bytes);
                }
            }
            Effect::Push(unit @ Pushed::Unit(_)) => self.outboxes.queue_only(|| drop(self.push_log.send(unit))),
            Effect::Log(records) => {
                self.observers.remote(&records);
                self.log_applied(records, room)
            }
            Effect::LogCursors(cursors) => {
                if let Some(log) = &self.log {
                    let _ = log.append_cursors(cursors);
                }
            }
            Effect::CompactLog => {
                if let Err(error) = self.compact_log() {
                    tracing::warn!(%error, "cannot compact the log");
                }
            }
            other => unreachable!("not an effect of the log or the push log: {other:?}"),
        }
        Ok(None)
    }

    /// Logs remote records the core applied, in `room` reserved for them.
    fn log_applied(&self, records: Vec<Record>, room: &mut Room) {
        let Some(log) = &self.log else { return };
        for record in records {
            // A failure marks the log failed, which refuses later local writes.
            if let Err(error) = log.append(record, false, room) {
                tracing::debug!(%error, "replicated entry not logged");
            }
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
