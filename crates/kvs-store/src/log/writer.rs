//! The log writer: one thread owns the file, takes appends in batches and fsyncs by policy.
//!
//! Group commit: every append waiting in the channel when the thread wakes goes out in one write
//! and, under `always`, one fsync; so concurrent writers share the cost of a sync.

use super::disk::{self, fs, File};
use super::format::{encode_cursors, encode_entry, encode_start, encode_synced, file_header};
use super::{FsyncPolicy, LogError};
use crate::record::Record;
use crate::store::{Store, SHARDS};
use kvs_proto::peer::Cursors;
use kvs_proto::NodeId;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;
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

/// Bytes gathered into one write at most.
const MAX_BATCH_BYTES: usize = 4 * 1024 * 1024;

enum Op {
    /// A record to log; encoded on the writer thread, so writers only pass a pointer.
    Record {
        record: Record,
        ack: Option<oneshot::Sender<Result<(), String>>>,
        /// It took reserved room, which the writer gives back once it is written.
        reserved: bool,
    },
    Cursors(Cursors),
    Sync(oneshot::Sender<Result<(), String>>),
    Compact,
}

/// Settings of the writer.
#[derive(Clone, Debug)]
pub struct LogConfig {
    /// The log file.
    pub path: PathBuf,
    /// Whose log it is.
    pub node: NodeId,
    /// When to fsync.
    pub fsync: FsyncPolicy,
    /// Compact the log once it reaches this size and twice its size after the last compaction.
    pub compact_after_bytes: u64,
    /// Fault injection: take records and never write or acknowledge them, as a process that is
    /// killed before its next write would.
    pub hold: bool,
}

/// What the writer reports about itself (Redis reports the same for its AOF under INFO persistence).
#[derive(Debug, Default)]
pub struct LogStats {
    /// Completed compactions.
    pub compactions: AtomicU64,
    /// Whether a compaction is running now.
    pub compacting: AtomicBool,
    /// Compactions that failed (and were tried again later).
    pub compaction_failures: AtomicU64,
    /// Current size of the log in bytes.
    pub log_bytes: AtomicU64,
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
}

/// Why the log refuses writes.
#[derive(Clone, Debug)]
struct Failure {
    reason: String,
    /// It may clear: the writer is retrying.
    transient: bool,
}

/// Whether an I/O error may clear by itself (out of descriptors, disk space or quota): retried
/// with backoff rather than failing the log for good.
fn transient(error: &std::io::Error) -> bool {
    matches!(error.raw_os_error(), Some(libc::EMFILE | libc::ENFILE | libc::ENOSPC | libc::EDQUOT))
}

/// The longest wait between retries of a write that failed for a transient reason.
const MAX_RETRY_BACKOFF: Duration = Duration::from_secs(5);

/// How long after a failed compaction the next one is tried.
const COMPACTION_RETRY: Duration = Duration::from_secs(10);

/// Where the writer runs.
#[derive(Debug)]
enum Backend {
    /// On a thread of its own, fed through a channel (`None` once closed).
    Thread { ops: Mutex<Option<mpsc::Sender<Op>>>, thread: Mutex<Option<JoinHandle<()>>> },
    /// In the caller's task, one op at a time (the simulator; see `disk::WRITER_THREAD`).
    Inline(Mutex<Option<Writer>>),
}

fn io_error(path: &Path, source: std::io::Error) -> LogError {
    LogError::Io { path: path.display().to_string(), source }
}

impl Log {
    /// Opens the log for appending (writing a header first if it is empty) and starts the writer.
    /// `compact_first`: the log is in an old format, so it is compacted from the store (in the
    /// current format) before anything is appended.
    pub fn start(config: LogConfig, store: Arc<Store>, log_bytes: u64, compact_first: bool) -> Result<Log, LogError> {
        let mut file = disk::private_options()
            .create(true)
            .append(true)
            .open(&config.path)
            .map_err(|e| io_error(&config.path, e))?;
        let mut log_bytes = log_bytes;
        if log_bytes == 0 {
            let mut header = file_header().to_vec();
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
        let mut writer = Writer {
            config: config.clone(),
            file,
            store,
            failure: failure.clone(),
            closing: closing.clone(),
            compact_retry_at: None,
            stats: stats.clone(),
            log_bytes,
            base_bytes: log_bytes,
            room: room.clone(),
            dirty: false,
            next_sync: Instant::now() + SYNC_EVERY,
            unrecorded_sync: None,
        };
        if compact_first {
            writer.compact().map_err(|e| io_error(&config.path, e))?;
            tracing::info!(path = %config.path.display(), "log upgraded to the current format");
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
        Ok(Log { stats, writer, room, failure, closing, fsync: config.fsync })
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
    pub fn append(&self, record: &Record, wait: bool, room: &mut Room) -> Result<Option<Durable>, LogError> {
        let (ack, durable) = if wait && self.fsync == FsyncPolicy::Always {
            let (tx, rx) = oneshot::channel();
            (Some(tx), Some(rx))
        } else {
            (None, None)
        };
        self.send(Op::Record { record: record.clone(), ack, reserved: room.take() })?;
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

/// How often `everysec` syncs.
const SYNC_EVERY: Duration = Duration::from_secs(1);

/// One pass of the writer: the ops it took, encoded, and what they ask for.
struct Pass {
    batch: Vec<u8>,
    waiting: Vec<oneshot::Sender<Result<(), String>>>,
    sync_now: bool,
    compact: bool,
    /// Reserved room the pass's records took, given back once they are written.
    freed: usize,
}

impl Pass {
    fn new(fsync: FsyncPolicy) -> Self {
        Pass {
            batch: Vec::new(),
            waiting: Vec::new(),
            sync_now: fsync == FsyncPolicy::Always,
            compact: false,
            freed: 0,
        }
    }

    fn take(&mut self, op: Op) {
        match op {
            Op::Compact => self.compact = true,
            Op::Record { record, ack, reserved } => {
                encode_entry(&mut self.batch, &record);
                self.waiting.extend(ack);
                self.freed += usize::from(reserved);
            }
            Op::Cursors(cursors) => encode_cursors(&mut self.batch, &cursors),
            Op::Sync(ack) => {
                self.sync_now = true;
                self.waiting.push(ack);
            }
        }
    }
}

#[derive(Debug)]
struct Writer {
    config: LogConfig,
    file: File,
    store: Arc<Store>,
    failure: Arc<Mutex<Option<Failure>>>,
    closing: Arc<AtomicBool>,
    /// After a failed compaction, when the next may be tried.
    compact_retry_at: Option<Instant>,
    stats: Arc<LogStats>,
    log_bytes: u64,
    /// Log size right after the last compaction (or at start).
    base_bytes: u64,
    /// Room in the queue, given back as records are written.
    room: Arc<Semaphore>,
    /// Written since the last sync.
    dirty: bool,
    /// When `everysec` syncs next.
    next_sync: Instant,
    /// The end of the log at the last fsync, until a synced record saying so is written (with the
    /// next records: a synced record must never share an fsync with the bytes it vouches for).
    unrecorded_sync: Option<u64>,
}

impl Writer {
    fn run(mut self, ops: mpsc::Receiver<Op>) {
        if self.config.hold {
            // Keeps every op (acknowledgements included) unanswered until the node stops.
            let held: Vec<Op> = ops.iter().collect();
            tracing::warn!(held = held.len(), "log writer held every record (fault injection)");
            return;
        }
        loop {
            let first = if self.config.fsync == FsyncPolicy::EverySec && self.dirty {
                match ops.recv_timeout(self.next_sync.saturating_duration_since(Instant::now())) {
                    Ok(op) => Some(op),
                    Err(RecvTimeoutError::Timeout) => None,
                    Err(RecvTimeoutError::Disconnected) => break,
                }
            } else {
                match ops.recv() {
                    Ok(op) => Some(op),
                    Err(_) => break,
                }
            };
            let mut pass = Pass::new(self.config.fsync);
            if let Some(op) = first {
                pass.take(op);
            }
            while pass.batch.len() < MAX_BATCH_BYTES {
                match ops.try_recv() {
                    Ok(op) => pass.take(op),
                    Err(_) => break,
                }
            }
            let due = self.sync_due();
            self.finish(pass, due);
        }
        let _ = self.file.sync_data();
        self.room.close();
    }

    /// Whether `everysec` owes a sync now.
    fn sync_due(&self) -> bool {
        self.config.fsync == FsyncPolicy::EverySec && self.dirty && Instant::now() >= self.next_sync
    }

    /// Writes a pass (syncing it if it asks to or `due`), answers its waiters, gives back its
    /// room, and compacts the log if it asked to or has grown enough.
    fn finish(&mut self, pass: Pass, due: bool) {
        let sync = pass.sync_now || due;
        let mut batch = pass.batch;
        if let (false, Some(synced)) = (batch.is_empty(), self.unrecorded_sync) {
            let mut marked = Vec::with_capacity(batch.len() + 32);
            encode_synced(&mut marked, synced);
            marked.extend_from_slice(&batch);
            batch = marked;
            self.unrecorded_sync = None;
        }
        let result = self.write(&batch, sync);
        if !batch.is_empty() {
            self.dirty = true;
        }
        if sync {
            self.dirty = false;
            self.next_sync = Instant::now() + SYNC_EVERY;
            if result.is_ok() {
                self.unrecorded_sync = Some(self.log_bytes);
            }
        }
        for ack in pass.waiting {
            let _ = ack.send(result.clone());
        }
        self.room.add_permits(pass.freed);
        let grown = self.log_bytes >= self.config.compact_after_bytes.max(2 * self.base_bytes);
        let may = self.compact_retry_at.is_none_or(|at| Instant::now() >= at);
        if result.is_ok() && (grown || pass.compact) && may {
            self.stats.compacting.store(true, Ordering::Relaxed);
            match self.compact() {
                Ok(()) => {
                    self.stats.log_bytes.store(self.log_bytes, Ordering::Relaxed);
                    self.stats.compactions.fetch_add(1, Ordering::Relaxed);
                    self.compact_retry_at = None;
                }
                // The old log is whole and still appended to: a failed compaction costs disk
                // space, never writes. It is tried again later.
                Err(error) => {
                    tracing::warn!(%error, retry_in = ?COMPACTION_RETRY, "log compaction failed; the log is intact");
                    self.stats.compaction_failures.fetch_add(1, Ordering::Relaxed);
                    let _ = fs::remove_file(self.config.path.with_extension("compacting"));
                    self.compact_retry_at = Some(Instant::now() + COMPACTION_RETRY);
                }
            }
            self.stats.compacting.store(false, Ordering::Relaxed);
        }
    }

    fn fail(&self, reason: String) {
        tracing::error!(%reason, "the log failed; refusing writes from now on");
        let mut failure = self.failure.lock().unwrap_or_else(|p| p.into_inner());
        if failure.as_ref().is_none_or(|f| f.transient) {
            *failure = Some(Failure { reason, transient: false });
        }
        // Writers waiting for room would wait forever: wake them to the failure.
        self.room.close();
    }

    /// Writes a batch and syncs it if asked; once anything failed for good, everything fails. A
    /// failure that may clear (see [`transient`]) is retried with backoff, on the writer thread,
    /// with the bytes of the failed attempt cut off first so the file stays whole records; local
    /// writes are refused meanwhile and accepted again once a retry succeeds.
    fn write(&mut self, batch: &[u8], sync: bool) -> Result<(), String> {
        let mut backoff = Duration::from_millis(50);
        loop {
            if let Some(Failure { reason, transient: false }) = &*self.failure.lock().unwrap_or_else(|p| p.into_inner())
            {
                return Err(reason.clone());
            }
            let result = self.file.write_all(batch).and_then(|()| if sync { self.file.sync_data() } else { Ok(()) });
            let error = match result {
                Ok(()) => {
                    self.log_bytes += batch.len() as u64;
                    self.stats.log_bytes.store(self.log_bytes, Ordering::Relaxed);
                    if self.failure.lock().unwrap_or_else(|p| p.into_inner()).take().is_some() {
                        tracing::info!("the log writes again; writes are accepted");
                    }
                    return Ok(());
                }
                Err(error) => error,
            };
            let reason = format!("writing {}: {error}", self.config.path.display());
            let retry = transient(&error) && disk::WRITER_THREAD && !self.closing.load(Ordering::Relaxed);
            if !retry || self.file.set_len(self.log_bytes).is_err() {
                self.fail(reason.clone());
                return Err(reason);
            }
            let mut failure = self.failure.lock().unwrap_or_else(|p| p.into_inner());
            if failure.is_none() {
                tracing::warn!(%reason, "the log cannot write; refusing writes and retrying");
            }
            *failure = Some(Failure { reason, transient: true });
            drop(failure);
            std::thread::sleep(backoff);
            backoff = (backoff * 2).min(MAX_RETRY_BACKOFF);
        }
    }

    /// Compacts the log from the store: the file header, a start record with the cursors, then
    /// every record; then swaps
    /// it in atomically. Appends queued meanwhile go to the new file afterwards (some twice, which
    /// replay's merge absorbs).
    fn compact(&mut self) -> std::io::Result<()> {
        let started = Instant::now();
        // Not needed on a real filesystem, where unsynced writes to the replaced file die with its
        // inode; the simulated disk keys unsynced writes by path, and would apply them to the new
        // file after a crash. One fsync per compaction keeps the model honest.
        self.file.sync_data()?;
        let path = &self.config.path;
        let tmp = path.with_extension("compacting");
        let mut out = BufWriter::with_capacity(1 << 20, disk::create_private(&tmp)?);
        let mut buf = file_header().to_vec();
        // Cursors first: every write they cover is then in the walk below.
        encode_start(&mut buf, self.config.node, &self.store.cursors.snapshot());
        for shard in 0..SHARDS {
            for record in self.store.shard_records(shard) {
                encode_entry(&mut buf, &record);
            }
            out.write_all(&buf)?;
            buf.clear();
        }
        // The new file is synced whole before it becomes the log, so its synced record may vouch
        // for everything before it.
        let written = out.get_ref().metadata()?.len() + out.buffer().len() as u64;
        encode_synced(&mut buf, written);
        out.write_all(&buf)?;
        let file = out.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        let size = file.metadata()?.len();
        fs::rename(&tmp, path)?;
        if let Some(dir) = path.parent() {
            disk::sync_dir(dir)?;
        }
        self.file = disk::private_options().append(true).open(path)?;
        tracing::info!(
            before = self.log_bytes,
            after = size,
            ms = started.elapsed().as_millis() as u64,
            "log compacted"
        );
        self.log_bytes = size;
        self.base_bytes = size;
        self.unrecorded_sync = None;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kvs_proto::Version;

    fn held_wal(dir: &Path) -> Log {
        let config = LogConfig {
            path: dir.join("log"),
            node: NodeId(1),
            fsync: FsyncPolicy::Never,
            compact_after_bytes: u64::MAX,
            hold: true,
        };
        Log::start(config, Arc::new(Store::new()), 0, false).unwrap()
    }

    #[tokio::test]
    async fn a_full_queue_parks_the_writer_until_room_comes_back() {
        let dir = tempfile::tempdir().unwrap();
        let log = held_wal(dir.path());
        let mut all = log.reserve(QUEUE_RECORDS).await.unwrap();
        let record = Record::new(b"k", Some(b"v"), Version { wall_ms: 1, logical: 0, node: NodeId(1) }, 1);
        log.append(&record, false, &mut all).unwrap();
        // The writer holds everything (as a disk that never keeps up would): no room is left.
        let waiting = tokio::time::timeout(Duration::from_millis(50), log.reserve(1)).await;
        assert!(waiting.is_err(), "room was granted beyond the queue's bound");
        // Room reserved but not used goes back when dropped, and a waiting writer gets it.
        drop(all);
        let room = tokio::time::timeout(Duration::from_secs(5), log.reserve(1)).await;
        assert!(matches!(room, Ok(Ok(_))), "unused room was not given back");
    }
}
