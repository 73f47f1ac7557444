//! Hint files: the writes a stand-in keeps for one owner that is down, until it hands them over
//! (docs/partitioning.md, "Hints"). A hint file is a log file with entry frames only: the same
//! header, frames and checksums, so the log's decoder (which bounds every length) reads it.
//!
//! A hint is a spare copy: the write's origin and the slot's other owners hold it too. So a file
//! is read up to its first frame that does not check (a crash's torn tail, or damage) and the
//! rest is given up, with a count, where the log itself refuses damage.

use super::format::{self, LogRecord, FILE_HEADER_BYTES, FORMAT_VERSION};
use super::LogError;
use crate::Record;
use std::io::Write;
use std::path::Path;

/// What was read back from a hint file.
#[derive(Debug, Default)]
pub struct ReadHints {
    /// The hints, in the order written.
    pub records: Vec<Record>,
    /// Bytes past the last frame that checked, given up.
    pub lost_bytes: usize,
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> LogError + '_ {
    move |source| LogError::Io { path: path.display().to_string(), source }
}

/// Appends `records` to the hint file at `path`, creating it (with its header) if missing.
pub fn append(path: &Path, records: &[Record]) -> Result<(), LogError> {
    let mut file = std::fs::OpenOptions::new().create(true).append(true).open(path).map_err(io_error(path))?;
    let fresh = file.metadata().map_err(io_error(path))?.len() == 0;
    let mut bytes = Vec::new();
    if fresh {
        bytes.extend_from_slice(&format::file_header(FORMAT_VERSION));
    }
    for record in records {
        format::encode_entry(&mut bytes, record);
    }
    file.write_all(&bytes).map_err(io_error(path))
}

/// Replaces the hint file at `path` with one holding `records` (none: removes it), through a
/// file renamed over it, so a crash leaves the old file or the new one.
pub fn rewrite(path: &Path, records: &[Record]) -> Result<(), LogError> {
    if records.is_empty() {
        return match std::fs::remove_file(path) {
            Err(error) if error.kind() != std::io::ErrorKind::NotFound => Err(io_error(path)(error)),
            _ => Ok(()),
        };
    }
    let next = path.with_extension("next");
    let mut bytes = format::file_header(FORMAT_VERSION).to_vec();
    for record in records {
        format::encode_entry(&mut bytes, record);
    }
    let mut file = std::fs::File::create(&next).map_err(io_error(&next))?;
    file.write_all(&bytes).and_then(|()| file.sync_data()).map_err(io_error(&next))?;
    std::fs::rename(&next, path).map_err(io_error(path))
}

/// Reads the hint file at `path` (missing: none), frames of at most `max_body` bytes.
pub fn read(path: &Path, max_body: usize) -> Result<ReadHints, LogError> {
    let data = match std::fs::read(path) {
        Ok(data) => data,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(ReadHints::default()),
        Err(error) => return Err(io_error(path)(error)),
    };
    Ok(decode(&data, max_body))
}

/// The hints in a hint file's bytes, up to the first frame that does not check.
fn decode(data: &[u8], max_body: usize) -> ReadHints {
    if format::file_kind(data) != format::FileKind::Current(FORMAT_VERSION) {
        return ReadHints { records: Vec::new(), lost_bytes: data.len() };
    }
    let mut records = Vec::new();
    let mut pos = FILE_HEADER_BYTES;
    while pos < data.len() {
        let Ok(end) = format::frame_end(data, pos, max_body) else { break };
        let body = format::checked_body(data, pos, end);
        let record = match body.map(format::decode_body) {
            Some(Ok(LogRecord::Entry(entry))) => entry.to_record().ok(),
            _ => None,
        };
        let Some(record) = record else { break };
        records.push(record);
        pos = end;
    }
    ReadHints { records, lost_bytes: data.len() - pos }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kvs_proto::{NodeId, Version};

    fn record(key: &[u8], seq: u64) -> Record {
        let version = Version { wall_ms: 1_000 + seq, logical: 0, node: NodeId(7) };
        Record::new(key, Some(b"value"), version, seq)
    }

    #[test]
    fn hints_read_back_as_written_and_a_torn_tail_is_given_up() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hints");
        append(&path, &[record(b"a", 1)]).unwrap();
        append(&path, &[record(b"b", 2), record(b"c", 3)]).unwrap();
        let read_back = read(&path, 1 << 20).unwrap();
        let keys: Vec<&[u8]> = read_back.records.iter().map(Record::key).collect();
        assert_eq!(keys, [&b"a"[..], b"b", b"c"]);
        assert_eq!(read_back.lost_bytes, 0);

        let mut data = std::fs::read(&path).unwrap();
        data.truncate(data.len() - 3);
        std::fs::write(&path, &data).unwrap();
        let torn = read(&path, 1 << 20).unwrap();
        assert_eq!(torn.records.len(), 2, "the torn last frame is given up");
        assert!(torn.lost_bytes > 0);

        rewrite(&path, &torn.records[1..]).unwrap();
        assert_eq!(read(&path, 1 << 20).unwrap().records.len(), 1);
        rewrite(&path, &[]).unwrap();
        assert!(!path.exists());
        assert!(read(&path, 1 << 20).unwrap().records.is_empty(), "a missing file holds none");
    }
}
