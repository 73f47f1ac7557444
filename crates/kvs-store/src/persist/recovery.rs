//! Replaying the log into a store at start.

use super::format::{read_frame, Frame, LogRecord};
use super::PersistError;
use crate::record::Record;
use crate::store::Store;
use kvs_proto::{NodeId, Version};
use std::fs::OpenOptions;
use std::path::Path;

/// What replay found.
#[derive(Debug, Default)]
pub struct Recovered {
    /// Entries replayed.
    pub entries: u64,
    /// The largest version in the log: the clock resumes past it.
    pub max_version: Option<Version>,
    /// Our own last write's sequence number: numbering resumes after it.
    pub own_last_seq: u64,
    /// Bytes of torn or corrupt tail dropped (0 after a clean shutdown).
    pub dropped_bytes: u64,
    /// Why the tail was dropped, if it was.
    pub damage: Option<String>,
    /// Size of the log after recovery.
    pub log_bytes: u64,
}

/// Replays `log` into `store` (cursors included) and truncates a damaged tail so appends continue
/// from the last intact record. A missing log is an empty one.
pub fn recover(log: &Path, store: &Store, own: NodeId, max_body: usize) -> Result<Recovered, PersistError> {
    let io = |source| PersistError::Io { path: log.display().to_string(), source };
    let data = match std::fs::read(log) {
        Ok(data) => data,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Recovered::default()),
        Err(e) => return Err(io(e)),
    };
    let mut recovered = Recovered::default();
    let mut pos = 0;
    loop {
        match read_frame(&data, pos, max_body) {
            Frame::Record(record, next) => {
                apply(store, record, &mut recovered);
                pos = next;
            }
            Frame::End => break,
            Frame::Damaged(reason) => {
                recovered.damage = Some(reason);
                break;
            }
        }
    }
    recovered.dropped_bytes = (data.len() - pos) as u64;
    recovered.log_bytes = pos as u64;
    if recovered.dropped_bytes > 0 {
        let file = OpenOptions::new().write(true).open(log).map_err(io)?;
        file.set_len(pos as u64).map_err(io)?;
        file.sync_all().map_err(io)?;
    }
    recovered.own_last_seq = store.cursors.get(own);
    Ok(recovered)
}

fn apply(store: &Store, record: LogRecord, recovered: &mut Recovered) {
    match record {
        LogRecord::Header { cursors, .. } | LogRecord::Cursors(cursors) => store.cursors.advance(&cursors),
        LogRecord::Entry((key, entry)) => {
            let record = Record::from_entry(&key, &entry);
            // Log order is application order, so a cursor may advance exactly as it did live.
            store.cursors.applied_in_order(record.origin(), record.seq());
            store.merge(record);
            recovered.entries += 1;
            recovered.max_version = recovered.max_version.max(Some(entry.version));
        }
    }
}
