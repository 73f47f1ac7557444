//! The appender: what owns the log file. It takes queued appends in passes, writes each pass at
//! once (group commit), fsyncs by policy, appends synced records, compacts the log, and retries a
//! write that failed for a reason that may clear. It runs on its own thread, or in the caller's
//! task in simulation (see `handle`).

use super::disk::{self, fs, File};
use super::format::{encode_cursors, encode_entry, encode_start, encode_synced, file_header};
use super::FsyncPolicy;
use crate::record::Record;
use crate::store::{Store, SHARDS};
use kvs_proto::peer::Cursors;
use kvs_proto::NodeId;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{oneshot, Semaphore};
// Tokio's clock: the real one on the writer thread, the simulated one when the writer runs in a
// simulated host's task.
use tokio::time::Instant;

/// Bytes gathered into one write at most.
const MAX_BATCH_BYTES: usize = 4 * 1024 * 1024;

pub(super) enum Op {
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
    /// Compact, and answer once the compaction is done (or failed).
    Compacted(oneshot::Sender<Result<(), String>>),
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
    /// The format new files are written in (see [`super::Log::write_format`]).
    pub format: u32,
}

/// What the writer reports about itself (Redis reports the same for its AOF under INFO persistence).
#[derive(Debug, Default)]
pub struct LogStats {
    /// The format version of the file being written.
    pub format: AtomicU32,
    /// Completed compactions.
    pub compactions: AtomicU64,
    /// Whether a compaction is running now.
    pub compacting: AtomicBool,
    /// Compactions that failed (and were tried again later).
    pub compaction_failures: AtomicU64,
    /// Current size of the log in bytes.
    pub log_bytes: AtomicU64,
    /// Syncs of appended records to the disk (`fdatasync`).
    pub syncs: AtomicU64,
    /// Nanoseconds those syncs took, in all.
    pub sync_nanos: AtomicU64,
}

/// Why the log refuses writes.
#[derive(Clone, Debug)]
pub(super) struct Failure {
    pub(super) reason: String,
    /// It may clear: the writer is retrying.
    pub(super) transient: bool,
}

/// Whether an I/O error may clear by itself (out of descriptors, disk space or quota): retried
/// with backoff rather than failing the log for good.
fn transient(error: &std::io::Error) -> bool {
    matches!(error.raw_os_error(), Some(libc::EMFILE | libc::ENFILE | libc::ENOSPC | libc::EDQUOT))
}

/// What a writer waiting for durability is told when the disk fails it for a reason that may
/// clear: no request waits for space to return.
const NOT_DURABLE: &str = "not durable: the write is applied on this node and sent to its peers, and goes into this \
                           node's log once the disk takes writes again (a crash of this node before then loses it \
                           here, not on the peers that received it)";

/// The longest wait between retries of a write that failed for a transient reason.
const MAX_RETRY_BACKOFF: Duration = Duration::from_secs(5);

/// How long after a failed compaction the next one is tried.
const COMPACTION_RETRY: Duration = Duration::from_secs(10);

/// How often `everysec` syncs.
pub(super) const SYNC_EVERY: Duration = Duration::from_secs(1);

/// One pass of the writer: the ops it took, encoded, and what they ask for.
pub(super) struct Pass {
    batch: Vec<u8>,
    waiting: Vec<oneshot::Sender<Result<(), String>>>,
    sync_now: bool,
    compact: bool,
    /// Who waits for the compaction this pass asks for.
    compacted: Vec<oneshot::Sender<Result<(), String>>>,
    /// Reserved room the pass's records took, given back once they are written.
    freed: usize,
}

impl Pass {
    pub(super) fn new(fsync: FsyncPolicy) -> Self {
        Pass {
            batch: Vec::new(),
            waiting: Vec::new(),
            sync_now: fsync == FsyncPolicy::Always,
            compact: false,
            compacted: Vec::new(),
            freed: 0,
        }
    }

    pub(super) fn take(&mut self, op: Op) {
        match op {
            Op::Compact => self.compact = true,
            Op::Compacted(ack) => {
                self.compact = true;
                self.compacted.push(ack);
            }
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
pub(super) struct Appender {
    pub(super) config: LogConfig,
    pub(super) file: File,
    pub(super) store: Arc<Store>,
    pub(super) failure: Arc<Mutex<Option<Failure>>>,
    pub(super) closing: Arc<AtomicBool>,
    /// After a failed compaction, when the next may be tried.
    pub(super) compact_retry_at: Option<Instant>,
    pub(super) stats: Arc<LogStats>,
    /// The format the next compaction writes (raised by [`super::Log::write_format`]).
    pub(super) format: Arc<AtomicU32>,
    pub(super) log_bytes: u64,
    /// Log size right after the last compaction (or at start).
    pub(super) base_bytes: u64,
    /// Room in the queue, given back as records are written.
    pub(super) room: Arc<Semaphore>,
    /// Written since the last sync.
    pub(super) dirty: bool,
    /// When `everysec` syncs next.
    pub(super) next_sync: Instant,
    /// The end of the log at the last fsync, until a synced record saying so is written (with the
    /// next records: a synced record must never share an fsync with the bytes it vouches for).
    pub(super) unrecorded_sync: Option<u64>,
}

impl Appender {
    pub(super) fn run(mut self, ops: mpsc::Receiver<Op>) {
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

    /// Syncs the appended records to the disk, counting how long that takes.
    fn timed_sync(&self) -> std::io::Result<()> {
        let started = std::time::Instant::now();
        let synced = self.file.sync_data();
        self.stats.syncs.fetch_add(1, Ordering::Relaxed);
        self.stats.sync_nanos.fetch_add(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
        synced
    }

    /// Whether `everysec` owes a sync now.
    pub(super) fn sync_due(&self) -> bool {
        self.config.fsync == FsyncPolicy::EverySec && self.dirty && Instant::now() >= self.next_sync
    }

    /// Writes a pass (syncing it if it asks to or `due`), answers its waiters, gives back its
    /// room, and compacts the log if it asked to or has grown enough.
    pub(super) fn finish(&mut self, pass: Pass, due: bool) {
        let sync = pass.sync_now || due;
        let mut batch = pass.batch;
        if let (false, Some(synced)) = (batch.is_empty(), self.unrecorded_sync) {
            let mut marked = Vec::with_capacity(batch.len() + 32);
            encode_synced(&mut marked, synced);
            marked.extend_from_slice(&batch);
            batch = marked;
            self.unrecorded_sync = None;
        }
        let mut waiting = pass.waiting;
        let result = self.write(&batch, sync, &mut waiting);
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
        for ack in waiting {
            let _ = ack.send(result.clone());
        }
        self.room.add_permits(pass.freed);
        let grown = self.log_bytes >= self.config.compact_after_bytes.max(2 * self.base_bytes);
        // Asked for by someone who waits: tried now, whatever the retry schedule says.
        let may = !pass.compacted.is_empty() || self.compact_retry_at.is_none_or(|at| Instant::now() >= at);
        let mut compaction = Err("not compacted: the log failed".to_string());
        if result.is_ok() && (grown || pass.compact) && may {
            self.stats.compacting.store(true, Ordering::Relaxed);
            match self.compact() {
                Ok(()) => {
                    self.stats.log_bytes.store(self.log_bytes, Ordering::Relaxed);
                    self.stats.compactions.fetch_add(1, Ordering::Relaxed);
                    self.compact_retry_at = None;
                    compaction = Ok(());
                }
                // The old log is whole and still appended to: a failed compaction costs disk
                // space, never writes. It is tried again later.
                Err(error) => {
                    tracing::warn!(%error, retry_in = ?COMPACTION_RETRY, "log compaction failed; the log is intact");
                    self.stats.compaction_failures.fetch_add(1, Ordering::Relaxed);
                    let _ = fs::remove_file(self.config.path.with_extension("compacting"));
                    self.compact_retry_at = Some(Instant::now() + COMPACTION_RETRY);
                    compaction = Err(format!("log compaction failed: {error}"));
                }
            }
            self.stats.compacting.store(false, Ordering::Relaxed);
        }
        for ack in pass.compacted {
            let _ = ack.send(compaction.clone());
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
    /// writes are refused meanwhile and accepted again once a retry succeeds. The batch's
    /// `waiting` writers are answered at the first such failure, not when space returns: their
    /// writes are applied and on their way to the peers, but not durable here (see `NOT_DURABLE`).
    fn write(
        &mut self,
        batch: &[u8],
        sync: bool,
        waiting: &mut Vec<oneshot::Sender<Result<(), String>>>,
    ) -> Result<(), String> {
        let mut backoff = Duration::from_millis(50);
        loop {
            if let Some(Failure { reason, transient: false }) = &*self.failure.lock().unwrap_or_else(|p| p.into_inner())
            {
                return Err(reason.clone());
            }
            let result = self.file.write_all(batch).and_then(|()| if sync { self.timed_sync() } else { Ok(()) });
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
            let not_durable = format!("{reason}; {NOT_DURABLE}");
            *failure = Some(Failure { reason, transient: true });
            drop(failure);
            for ack in waiting.drain(..) {
                let _ = ack.send(Err(not_durable.clone()));
            }
            std::thread::sleep(backoff);
            backoff = (backoff * 2).min(MAX_RETRY_BACKOFF);
        }
    }

    /// Compacts the log from the store: the file header, a start record with the cursors, then
    /// every record; then swaps
    /// it in atomically. Appends queued meanwhile go to the new file afterwards (some twice, which
    /// replay's merge absorbs).
    pub(super) fn compact(&mut self) -> std::io::Result<()> {
        let started = Instant::now();
        // Not needed on a real filesystem, where unsynced writes to the replaced file die with its
        // inode; the simulated disk keys unsynced writes by path, and would apply them to the new
        // file after a crash. One fsync per compaction keeps the model honest.
        self.file.sync_data()?;
        let path = &self.config.path;
        let tmp = path.with_extension("compacting");
        let mut out = BufWriter::with_capacity(1 << 20, disk::create_private(&tmp)?);
        let format = self.format.load(Ordering::Relaxed);
        let mut buf = file_header(format).to_vec();
        // Cursors first: every write they cover is then in the walk below.
        encode_start(&mut buf, self.config.node, &self.store.cursors.snapshot());
        for flush in self.store.floors() {
            encode_entry(&mut buf, &flush);
        }
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
        self.stats.format.store(format, Ordering::Relaxed);
        tracing::info!(
            format,
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
