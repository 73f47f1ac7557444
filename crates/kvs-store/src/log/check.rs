//! Checking a data dir offline, and cutting a damaged log when an operator asks for it.
//!
//! Start-up never repairs anything but a torn tail; everything else waits for a person to look.
//! [`check`] reads what start-up would read and reports it, changing nothing; [`repair`] cuts the
//! log at its first damage, keeping the cut bytes beside it so nothing is destroyed.

use super::recovery::{replay, Damage};
use super::LogError;
use crate::store::Store;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// What a data dir holds, as read offline.
#[derive(Debug)]
pub struct CheckReport {
    /// The directory.
    pub dir: PathBuf,
    /// The node id stored there, if any.
    pub node_id: Option<String>,
    /// Whether a running node holds the directory's lock (the log may be growing while read).
    pub in_use: bool,
    /// The log's format version (0: before the log had a header).
    pub format_version: u32,
    /// Size of the log file.
    pub log_bytes: u64,
    /// Intact records.
    pub records: u64,
    /// Intact entries among them.
    pub entries: u64,
    /// Live keys after replaying the intact records.
    pub keys: u64,
    /// Tombstones after replaying them.
    pub tombstones: u64,
    /// The newest version's wall clock among the replayed records, in ms since the Unix epoch
    /// (`None` for an empty log): when the data was last written, by the writers' clocks.
    pub newest_write_ms: Option<u64>,
    /// Offset just past the last intact record.
    pub last_good_offset: u64,
    /// The first damage, if any.
    pub damage: Option<Damage>,
}

impl CheckReport {
    /// Sound: the log reads to its end with no damage at all.
    pub fn is_sound(&self) -> bool {
        self.damage.is_none()
    }
}

impl std::fmt::Display for CheckReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "data dir:          {}", self.dir.display())?;
        writeln!(f, "node id:           {}", self.node_id.as_deref().unwrap_or("(none yet)"))?;
        if self.in_use {
            writeln!(f, "in use:            yes, by a running kvs-node (the log may be growing)")?;
        }
        writeln!(f, "log format:        version {}", self.format_version)?;
        writeln!(f, "log bytes:         {}", self.log_bytes)?;
        writeln!(f, "records:           {} ({} entries)", self.records, self.entries)?;
        writeln!(f, "keys:              {} live, {} tombstones", self.keys, self.tombstones)?;
        match self.newest_write_ms {
            Some(ms) => writeln!(f, "newest write:      {ms} ms since the Unix epoch")?,
            None => writeln!(f, "newest write:      none")?,
        }
        writeln!(f, "last good offset:  {}", self.last_good_offset)?;
        match &self.damage {
            None => writeln!(f, "damage:            none\nverdict:           sound"),
            Some(damage) if damage.torn_tail => writeln!(
                f,
                "damage:            torn tail at byte {}: {} ({} bytes; start-up cuts it off)\nverdict:           damaged",
                damage.offset,
                damage.reason,
                self.log_bytes - damage.offset
            ),
            Some(damage) => writeln!(
                f,
                "damage:            at byte {}: {}\n                   start-up refuses this log; `--repair` cuts it at byte {} \
                 (the {} bytes after it are kept in a side file)\nverdict:           damaged",
                damage.offset,
                damage.reason,
                damage.offset,
                self.log_bytes - damage.offset
            ),
        }
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> LogError + '_ {
    move |source| LogError::Io { path: path.display().to_string(), source }
}

fn dir_error(dir: &Path, reason: impl Into<String>) -> LogError {
    LogError::DataDir { path: dir.display().to_string(), reason: reason.into() }
}

/// Whether a running node holds `dir`'s lock; never creates the lock file.
fn held_by_a_node(dir: &Path) -> bool {
    match File::open(dir.join("LOCK")) {
        Ok(lock) => lock.try_lock_shared().is_err(),
        Err(_) => false,
    }
}

/// Reads the data dir at `dir` and reports on it; changes nothing.
pub fn check(dir: &Path, max_body: usize) -> Result<CheckReport, LogError> {
    if !dir.is_dir() {
        return Err(dir_error(dir, "is not a directory"));
    }
    for name in ["node-id", "log"] {
        super::disk::refuse_unless_regular(&dir.join(name)).map_err(|e| dir_error(dir, e.to_string()))?;
    }
    let node_id = match fs::read_to_string(dir.join("node-id")) {
        Ok(text) => Some(text.trim().to_string()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(dir_error(dir, format!("cannot read node-id: {e}"))),
    };
    let store = Store::new();
    let log = replay(&dir.join("log"), &store, max_body)?;
    Ok(CheckReport {
        dir: dir.to_path_buf(),
        node_id,
        in_use: held_by_a_node(dir),
        format_version: log.format_version,
        log_bytes: log.file_bytes,
        records: log.records,
        entries: log.entries,
        keys: store.live_count(),
        tombstones: store.tombstone_count(),
        newest_write_ms: store.snapshot().iter().map(|record| record.version().wall_ms).max(),
        last_good_offset: log.good_end,
        damage: log.damage,
    })
}

/// Cuts the log of `dir` at its first damage, first saving the bytes after it to
/// `log.cut-at-<offset>` beside it; returns that file, or `None` if there was nothing to cut.
/// Refuses while a node runs on the directory.
pub fn repair(dir: &Path, max_body: usize) -> Result<Option<PathBuf>, LogError> {
    if held_by_a_node(dir) {
        return Err(dir_error(dir, "in use by a running kvs-node; stop it before repairing"));
    }
    let report = check(dir, max_body)?;
    let Some(damage) = report.damage else { return Ok(None) };
    let log = dir.join("log");
    let saved = dir.join(format!("log.cut-at-{}", damage.offset));
    let data = fs::read(&log).map_err(io(&log))?;
    let mut side = File::create(&saved).map_err(io(&saved))?;
    side.write_all(&data[damage.offset as usize..]).and_then(|()| side.sync_all()).map_err(io(&saved))?;
    let file = OpenOptions::new().write(true).open(&log).map_err(io(&log))?;
    file.set_len(damage.offset).and_then(|()| file.sync_all()).map_err(io(&log))?;
    File::open(dir).and_then(|d| d.sync_all()).map_err(io(dir))?;
    Ok(Some(saved))
}
