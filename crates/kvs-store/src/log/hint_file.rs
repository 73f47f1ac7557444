//! Hint files: the writes a stand-in keeps for one owner that is down, until it hands them over
//! (docs/partitioning.md, "Owners that are down"). A hint file is a log file with entry frames only: the same
//! header, frames and checksums, so the log's decoder (which bounds every length) reads it.
//!
//! A hint is a spare copy: the write's origin and the slot's other owners hold it too. So a file
//! is read up to its first frame that does not check (a crash's torn tail, or damage) and the
//! rest is given up, with a count, where the log itself refuses damage.

use super::disk::{self, fs};
use super::format::{self, LogRecord, FILE_HEADER_BYTES, FORMAT_VERSION};
use super::LogError;
use crate::Record;
use kvs_proto::NodeId;
use std::io::Write;
use std::path::{Path, PathBuf};

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

/// The directory of hint files in `data_dir`, created (private, as the data dir) if missing.
pub fn directory(data_dir: &Path) -> Result<PathBuf, LogError> {
    let dir = data_dir.join("hints");
    disk::create_private_dir(&dir).map_err(io_error(&dir))?;
    Ok(dir)
}

/// The hint file for `owner` in the directory `dir`.
pub fn path(dir: &Path, owner: NodeId) -> PathBuf {
    dir.join(format!("{:016x}.hints", owner.0))
}

/// Every hint file in `dir`, with the owner it is for.
pub fn list(dir: &Path) -> Result<Vec<(NodeId, PathBuf)>, LogError> {
    let entries = fs::read_dir(dir).map_err(io_error(dir))?;
    let mut files = Vec::new();
    for entry in entries {
        let path = entry.map_err(io_error(dir))?.path();
        let owner = (path.extension().is_some_and(|ext| ext == "hints"))
            .then(|| path.file_stem()?.to_str().and_then(|stem| u64::from_str_radix(stem, 16).ok()))
            .flatten();
        if let Some(owner) = owner {
            files.push((NodeId(owner), path));
        }
    }
    Ok(files)
}

/// Appends `records` to the hint file at `path`, creating it (with its header) if missing.
pub fn append(path: &Path, records: &[Record]) -> Result<(), LogError> {
    disk::refuse_unless_regular(path).map_err(io_error(path))?;
    let mut file = disk::private_options().create(true).append(true).open(path).map_err(io_error(path))?;
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
        return match fs::remove_file(path) {
            Err(error) if error.kind() != std::io::ErrorKind::NotFound => Err(io_error(path)(error)),
            _ => Ok(()),
        };
    }
    let next = path.with_extension("next");
    let mut bytes = format::file_header(FORMAT_VERSION).to_vec();
    for record in records {
        format::encode_entry(&mut bytes, record);
    }
    disk::refuse_symlink(&next).map_err(io_error(&next))?;
    let mut file = disk::create_private(&next).map_err(io_error(&next))?;
    file.write_all(&bytes).and_then(|()| file.sync_data()).map_err(io_error(&next))?;
    fs::rename(&next, path).map_err(io_error(path))
}

/// Syncs the hint file at `path` to disk.
pub fn sync(path: &Path) -> Result<(), LogError> {
    fs::File::open(path).and_then(|file| file.sync_data()).map_err(io_error(path))
}

/// Reads the hint file at `path` (missing: none), frames of at most `max_body` bytes.
pub fn read(path: &Path, max_body: usize) -> Result<ReadHints, LogError> {
    disk::refuse_unless_regular(path).map_err(io_error(path))?;
    let data = match fs::read(path) {
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
    use kvs_proto::Version;

    fn record(key: &[u8], seq: u64) -> Record {
        let version = Version { wall_ms: 1_000 + seq, logical: 0, node: NodeId(7) };
        Record::new(key, Some(b"value"), version, seq)
    }

    #[test]
    fn hints_read_back_as_written_and_a_torn_tail_is_given_up() {
        let data_dir = tempfile::tempdir().unwrap();
        let dir = directory(data_dir.path()).unwrap();
        let path = self::path(&dir, NodeId(0xab));
        append(&path, &[record(b"a", 1)]).unwrap();
        append(&path, &[record(b"b", 2), record(b"c", 3)]).unwrap();
        let read_back = read(&path, 1 << 20).unwrap();
        let keys: Vec<&[u8]> = read_back.records.iter().map(Record::key).collect();
        assert_eq!(keys, [&b"a"[..], b"b", b"c"]);
        assert_eq!(read_back.lost_bytes, 0);
        assert_eq!(list(&dir).unwrap(), [(NodeId(0xab), path.clone())]);

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
