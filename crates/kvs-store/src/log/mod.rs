//! Durability: an append-only log of applied records, replayed at start and compacted as it grows.
//!
//! Why a log of our own rather than an embedded engine (fjall, redb): the store already keeps
//! every record in memory, indexed as replication needs; an engine would keep a second copy in its
//! own structures and put its write path (LSM memtable or B-tree pages) in front of every write.
//! What durability needs here is what Redis's AOF and etcd's WAL do: append each applied record,
//! checksummed, fsync by policy with group commit, replay at start, and compact the log from memory
//! when it has grown to twice what it held after the last compaction.
//!
//! - [`format`]: the file header, frames (length, CRC32, body) and the tagged records inside.
//! - [`legacy`]: reading logs of format version 0 (bincode bodies, no header), to upgrade them.
//! - [`check`]: `kvs-node check-data-dir`: an offline report, and the repair an operator asks for.
//! - [`data_dir`]: the directory: exclusive lock, the persisted node id.
//! - [`hint_file`]: the writes a stand-in keeps for an owner that is down, in the log's frames.
//! - [`layout_file`]: the layout the node adopted, as the data dir records it.
//! - [`recovery`]: replaying the log into a store; cutting a torn tail, refusing other damage.
//! - `handle`: [`Log`], what the node calls: append, reserve room, sync, compact, close.
//! - `appender`: the [`Log`]'s thread, which owns the file: passes, group commit, fsync, synced
//!   records, compaction.
//! - `disk`: the filesystem seam (real files, or the simulator's disk).

pub(crate) mod appender;
pub mod check;
pub mod data_dir;
pub(crate) mod disk;
pub mod fetching_file;
pub(crate) mod format;
mod handle;
pub mod hint_file;
pub mod layout_file;
pub(crate) mod legacy;
pub mod recovery;

pub use format::{FIRST_RELEASE_FORMAT_VERSION, FORMAT_VERSION, PREVIOUS_RELEASE_FORMAT_VERSION};
pub use handle::{Durable, Log, LogConfig, LogStats, Room};

use thiserror::Error;

/// A log file in today's format holding `records` and nothing else: what fuzzing starts from.
pub fn log_bytes(records: &[crate::Record]) -> Vec<u8> {
    let mut log = format::file_header(FORMAT_VERSION).to_vec();
    for record in records {
        format::encode_entry(&mut log, record);
    }
    log
}

/// Why the log or the data dir failed.
#[derive(Debug, Error)]
pub enum LogError {
    /// The data directory cannot be used.
    #[error("data dir {path}: {reason}")]
    DataDir {
        /// The directory.
        path: String,
        /// What went wrong, for people.
        reason: String,
    },
    /// Reading or writing the log failed.
    #[error("log i/o on {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// The log is damaged somewhere other than a torn tail; it was left exactly as it was.
    #[error(
        "log {path} is damaged at byte {offset}: {reason}. The file was left as it is; \
         `kvs-node check-data-dir <dir>` reports the damage and `--repair` cuts the log there, \
         losing the records after it"
    )]
    Damaged {
        /// The file.
        path: String,
        /// Where the damage starts.
        offset: u64,
        /// What is wrong there.
        reason: String,
    },
    /// The log was written in a format this kvs does not know (by a newer version).
    #[error("log {path} has format version {version}{}, newer than this kvs ({this}) reads ({known}); the file was left as it is", writer.as_ref().map(|r| format!(", written by kvs {r}")).unwrap_or_default(), this = env!("CARGO_PKG_VERSION"), known = format::FORMAT_VERSION)]
    UnknownFormat {
        /// The file.
        path: String,
        /// The version its header names.
        version: u32,
        /// The release that wrote it, if its header names one.
        writer: Option<String>,
    },
    /// The log is no longer written (an earlier write or fsync failed); writes are refused.
    #[error("the log failed earlier ({0}); writes are refused")]
    Failed(String),
    /// A write failed for a reason that may clear (out of file descriptors or disk space); it is
    /// retried, and writes are refused until a retry succeeds.
    #[error("the log cannot write now ({0}); writes are refused until a retry succeeds")]
    Unavailable(String),
}

/// When appended records are forced to disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FsyncPolicy {
    /// Before a write is acknowledged (group commit shares one fsync among concurrent writes).
    Always,
    /// About once a second; a crash loses at most the last second of writes.
    EverySec,
    /// Never explicitly; the OS writes back when it likes.
    Never,
}

impl std::str::FromStr for FsyncPolicy {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "always" => Ok(FsyncPolicy::Always),
            "everysec" => Ok(FsyncPolicy::EverySec),
            "never" => Ok(FsyncPolicy::Never),
            other => Err(format!("unknown fsync policy '{other}' (always, everysec, never)")),
        }
    }
}

impl std::fmt::Display for FsyncPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            FsyncPolicy::Always => "always",
            FsyncPolicy::EverySec => "everysec",
            FsyncPolicy::Never => "never",
        })
    }
}
