//! The log's handle, [`Log`]: what the node calls to append, reserve room, sync, compact and close.
//! The appender (`appender`) owns the file, on a thread of its own: every append waiting in the
//! channel when it wakes goes out in one write and, under `always`, one fsync, so concurrent
//! writers share the cost of a sync (group commit).

pub use super::appender::{LogConfig, LogStats};

use super::appender::{Appender, Failure, Op, Pass, SYNC_EVERY};
use super::disk;
use super::format::{encode_start, file_header};
use super::{FsyncPolicy, LogError};
use crate::record::Record;
use crate::store::Store;
use kvs_proto::peer::Cursors;
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use tokio::sync::{oneshot, Semaphore};
// Tokio's clock: the real one on the writer thread, the simulated one when the writer runs in a
// simulated host's task.
use tokio::time::Instant;

/// Resolves once a write is on disk (under `always`), or with the reason it cannot be.
pub type Durable = oneshot::Receiver<Result<(), String>>;

/// Records queued for the writer at most: when the disk cannot keep up, writers wait for room
/// (back-pressure) instead of the queue growing without bound.
const QUEUE_RECORDS: usize = 64 * 1024;

/// Room in the writer's queue, reserved with [`Log::reserve`] before appending. Writers await room
/// in async code, so a slow disk parks tasks, never a runtime worker thread. Room not used is
/// given back when this drops.
#[derive(Debug, Default)]
pub struct Room {
    permits: u32,
    queue: Option<Arc<Semaphore>>,
}

impl Room {
    /// Uses one record's worth of room, if any is left.
    fn take(&mut self) -> bool {
        let had = self.permits > 0;
        self.permits = self.permits.saturating_sub(1);
        had
    }
}

impl Drop for Room {
    fn drop(&mut self) {
        if let (Some(queue), 1..) = (&self.queue, self.permits) {
            queue.add_permits(self.permits as usize);
        }
    }
}

/// Handle on the log writer thread.
#[derive(Debug)]
pub struct Log {
    /// Counters the writer keeps up to date.
    pub stats: Arc<LogStats>,
    writer: Backend,
    /// Free room in the queue (see [`Room`]); closed when the writer fails or stops.
    room: Arc<Semaphore>,
    /// Set when a write or fsync failed; writes are refused while it is.
    failure: Arc<Mutex<Option<Failure>>>,
    /// Set by `close`, so a writer retrying a write gives up.
    closing: Arc<AtomicBool>,
    fsync: FsyncPolicy,
    /// The format the next compaction writes.
    format: Arc<AtomicU32>,
}

/// Where the writer runs.
#[derive(Debug)]
enum Backend {
    /// On a thread of its own, fed through a channel (`None` once closed).
    Thread { ops: Mutex<Option<mpsc::Sender<Op>>>, thread: Mutex<Option<JoinHandle<()>>> },
    /// In the caller's task, one op at a time (the simulator; see `disk::WRITER_THREAD`).
    Inline(Mutex<Option<Appender>>),
}

fn io_error(path: &Path, source: std::io::Error) -> LogError {
    LogError::Io { path: path.display().to_string(), source }
}

impl Log {
    /// Opens the log for appending (writing a header first if it is empty) and starts the writer.
    /// `file_format`: the format the file is in (`None`: empty). It is compacted from the store
    /// into `config.format` before anything is appended if it is in another.
    pub fn start(
        config: LogConfig,
        store: Arc<Store>,
        log_bytes: u64,
        file_format: Option<u32>,
    ) -> Result<Log, LogError> {
        let mut file = disk::private_options()
            .create(true)
            .append(true)
            .open(&config.path)
            .map_err(|e| io_error(&config.path, e))?;
        let mut log_bytes = log_bytes;
        let mut file_format = file_format.filter(|_| log_bytes > 0);
        if log_bytes == 0 {
            file_format = Some(config.format);
            let mut header = file_header(config.format).to_vec();
            encode_start(&mut header, config.node, &store.cursors.snapshot());
            // The directory too: a crash must not lose the new file's name with what is in it.
            let parent = config.path.parent().unwrap_or(Path::new("."));
            file.write_all(&header)
                .and_then(|()| file.sync_data())
                .and_then(|()| disk::sync_dir(parent))
                .map_err(|e| io_error(&config.path, e))?;
            log_bytes = header.len() as u64;
        }
        // Unbounded here because [`Room`] bounds it: every record appended took reserved room.
        let (ops, receiver) = mpsc::channel();
        let room = Arc::new(Semaphore::new(QUEUE_RECORDS));
        let failure = Arc::new(Mutex::new(None));
        let closing = Arc::new(AtomicBool::new(false));
        let stats = Arc::new(LogStats::default());
        stats.log_bytes.store(log_bytes, Ordering::Relaxed);
        stats.format.store(file_format.unwrap_or(config.format), Ordering::Relaxed);
        let format = Arc::new(AtomicU32::new(config.format));
        let mut writer = Appender {
            config: config.clone(),
            file,
            store,
            failure: failure.clone(),
            closing: closing.clone(),
            compact_retry_at: None,
            stats: stats.clone(),
            format: format.clone(),
            log_bytes,
            base_bytes: log_bytes,
            room: room.clone(),
            dirty: false,
            next_sync: Instant::now() + SYNC_EVERY,
            unrecorded_sync: None,
        };
        if file_format != Some(config.format) {
            writer.compact().map_err(|e| io_error(&config.path, e))?;
            tracing::info!(path = %config.path.display(), from = ?file_format, to = config.format, "log rewritten in the format it is written in");
        }
        let writer = if disk::WRITER_THREAD {
            let thread = std::thread::Builder::new()
                .name("kvs-log".into())
                .spawn(move || writer.run(receiver))
                .map_err(|e| io_error(&config.path, e))?;
            Backend::Thread { ops: Mutex::new(Some(ops)), thread: Mutex::new(Some(thread)) }
        } else {
            Backend::Inline(Mutex::new(Some(writer)))
        };
        Ok(Log { stats, writer, room, failure, closing, fsync: config.fsync, format })
    }

    /// Writes the log in `format` from now on, rewriting it at once (a compaction) if it is in
    /// another: the node's cluster opened a newer format's gate.
    pub fn write_format(&self, format: u32) -> Result<(), LogError> {
        if self.format.swap(format, Ordering::Relaxed) == format {
            return Ok(());
        }
        self.compact()
    }

    /// Refuses when an earlier write or fsync failed.
    pub fn check(&self) -> Result<(), LogError> {
        match &*self.failure.lock().unwrap_or_else(|p| p.into_inner()) {
            Some(Failure { reason, transient: true }) => Err(LogError::Unavailable(reason.clone())),
            Some(Failure { reason, transient: false }) => Err(LogError::Failed(reason.clone())),
            None => Ok(()),
        }
    }

    fn send(&self, op: Op) -> Result<(), LogError> {
        self.check()?;
        let stopped = || LogError::Failed("the log writer has stopped".into());
        match &self.writer {
            Backend::Thread { ops, .. } => {
                let ops = ops.lock().unwrap_or_else(|p| p.into_inner());
                ops.as_ref().and_then(|ops| ops.send(op).ok()).ok_or_else(stopped)
            }
            Backend::Inline(writer) => {
                let mut writer = writer.lock().unwrap_or_else(|p| p.into_inner());
                let writer = writer.as_mut().ok_or_else(stopped)?;
                let mut pass = Pass::new(writer.config.fsync);
                pass.take(op);
                let due = writer.sync_due();
                writer.finish(pass, due);
                Ok(())
            }
        }
    }

    /// Waits for room for `records` appends (at most the whole queue); fails once the log failed.
    pub async fn reserve(&self, records: usize) -> Result<Room, LogError> {
        self.check()?;
        let permits = records.min(QUEUE_RECORDS) as u32;
        if permits == 0 {
            return Ok(Room::default());
        }
        let stopped = |_| LogError::Failed("the log writer has stopped".into());
        self.room.acquire_many(permits).await.map_err(stopped)?.forget();
        Ok(Room { permits, queue: Some(self.room.clone()) })
    }

    /// Appends an applied record, using `room` reserved for it (a record beyond the room reserved
    /// is still queued: the bound is the reservations'). Under `always` (and when `wait` is set)
    /// returns what to await before acknowledging the write.
    pub fn append(&self, record: Record, wait: bool, room: &mut Room) -> Result<Option<Durable>, LogError> {
        let (ack, durable) = if wait && self.fsync == FsyncPolicy::Always {
            let (tx, rx) = oneshot::channel();
            (Some(tx), Some(rx))
        } else {
            (None, None)
        };
        self.send(Op::Record { record, ack, reserved: room.take() })?;
        Ok(durable)
    }

    /// Appends cursors adopted after an anti-entropy round.
    pub fn append_cursors(&self, cursors: Cursors) -> Result<(), LogError> {
        self.send(Op::Cursors(cursors))
    }

    /// Writes and fsyncs everything appended so far.
    pub async fn sync(&self) -> Result<(), LogError> {
        let (tx, rx) = oneshot::channel();
        self.send(Op::Sync(tx))?;
        rx.await.map_err(|_| LogError::Failed("the log writer has stopped".into()))?.map_err(LogError::Failed)
    }

    /// Compacts the log from the store now and waits until it is done (and, as every compaction
    /// is, synced): SAVE.
    pub async fn compacted(&self) -> Result<(), LogError> {
        let (tx, rx) = oneshot::channel();
        self.send(Op::Compacted(tx))?;
        rx.await.map_err(|_| LogError::Failed("the log writer has stopped".into()))?.map_err(LogError::Failed)
    }

    /// Compacts the log from the store soon, e.g. after records were dropped for a resync, so a
    /// restart cannot bring them back.
    pub fn compact(&self) -> Result<(), LogError> {
        self.send(Op::Compact)
    }

    /// Stops the writer after it has written everything queued (and on its thread, synced it:
    /// an inline writer is closed by a crash as often as by a clean stop, which syncs first).
    pub fn close(&self) {
        self.closing.store(true, Ordering::Relaxed);
        match &self.writer {
            Backend::Thread { ops, thread } => {
                ops.lock().unwrap_or_else(|p| p.into_inner()).take();
                if let Some(thread) = thread.lock().unwrap_or_else(|p| p.into_inner()).take() {
                    let _ = thread.join();
                }
            }
            Backend::Inline(writer) => {
                if let Some(writer) = writer.lock().unwrap_or_else(|p| p.into_inner()).take() {
                    writer.room.close();
                }
            }
        }
    }
}

impl Drop for Log {
    fn drop(&mut self) {
        self.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kvs_proto::NodeId;
    use kvs_proto::Version;
    use std::time::Duration;

    fn held_log(dir: &Path) -> Log {
        let config = LogConfig {
            path: dir.join("log"),
            node: NodeId(1),
            fsync: FsyncPolicy::Never,
            compact_after_bytes: u64::MAX,
            hold: true,
            format: crate::log::FORMAT_VERSION,
        };
        Log::start(config, Arc::new(Store::new()), 0, None).unwrap()
    }

    #[tokio::test]
    async fn a_full_queue_parks_the_writer_until_room_comes_back() {
        let dir = tempfile::tempdir().unwrap();
        let log = held_log(dir.path());
        let mut all = log.reserve(QUEUE_RECORDS).await.unwrap();
        let record = Record::new(b"k", Some(b"v"), Version { wall_ms: 1, logical: 0, node: NodeId(1) }, 1);
        log.append(record, false, &mut all).unwrap();
        // The writer holds everything (as a disk that never keeps up would): no room is left.
        let waiting = tokio::time::timeout(Duration::from_millis(50), log.reserve(1)).await;
        assert!(waiting.is_err(), "room was granted beyond the queue's bound");
        // Room reserved but not used goes back when dropped, and a waiting writer gets it.
        drop(all);
        let room = tokio::time::timeout(Duration::from_secs(5), log.reserve(1)).await;
        assert!(matches!(room, Ok(Ok(_))), "unused room was not given back");
    }
}
