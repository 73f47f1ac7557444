//! Backups: every live key of a node in a file, and loading such a file into any cluster; both
//! resume after an interruption.
//!
//! The file format:
//!
//! ```text
//! file  := magic "KVSBACK1" · entry* · end
//! entry := key length u32 LE · key · value length u32 LE · value · deadline u64 LE (Unix ms, 0: none)
//! end   := u32::MAX (0xFFFFFFFF)
//! ```
//!
//! Entries are in key byte order: an interrupted export's last complete entry is where it
//! resumes (any node answers "the keys after this one" alike), and a file without its end is
//! known to be unfinished, so it is never loaded as if it were whole. A counter is saved as its
//! value in decimal, which INCR accepts as a starting point.
//!
//! A hash, set or sorted set is saved as one entry per element, at the element's stored key:
//! `FF EE`, the type (1 hash, 2 set, 3 sorted set), the collection's stored key's length (u32
//! big-endian) and bytes, then the field or member; its value is the field's value (a number in
//! decimal), nothing for a set member, or the member's score as an `f64` (8 bytes little-endian);
//! its deadline is the collection's. A key of database n is stored with the three-byte prefix
//! `FF DB n`, so elements sort after every other key, and a collection's elements together.

use crate::client::Client;
use crate::error::ClientError;
use bytes::Bytes;
use kvs_proto::BackupEntry;
use std::fs::{File, OpenOptions};
use std::io::{self, BufReader, BufWriter, ErrorKind, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use thiserror::Error;

/// The first bytes of a backup file.
pub const MAGIC: &[u8; 8] = b"KVSBACK1";

/// The key length that marks the end of a backup.
const END: u32 = u32::MAX;

/// Bytes of the end mark.
const END_BYTES: u64 = size_of::<u32>() as u64;

/// Bytes an entry takes in the file: two lengths and a deadline besides its key and value.
fn entry_bytes(entry: &BackupEntry) -> u64 {
    16 + entry.key.len() as u64 + entry.value.len() as u64
}

/// Keys asked for per export page (the node may send fewer, to bound its reply).
const PAGE_KEYS: u32 = 100_000;

/// Entries and bytes per import batch: large enough that a request's round trip is a small part
/// of its cost, small enough that a node's reply and log queue stay bounded.
const BATCH_ENTRIES: usize = 5_000;
const BATCH_BYTES: usize = 4 * 1024 * 1024;

/// Why a backup or a restore failed.
#[derive(Debug, Error)]
pub enum BackupError {
    /// The node refused or could not be reached.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        source: io::Error,
    },
    /// The file is not a backup, or is damaged.
    #[error("{path}: {why}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        why: String,
    },
}

/// How far an export or import has got, for a progress display.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    /// Entries saved or loaded so far, those of an earlier interrupted run included.
    pub entries: u64,
    /// Bytes of the file written or read so far.
    pub bytes: u64,
}

/// What a finished export or import did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Entries in the file.
    pub entries: u64,
    /// Of which an earlier, interrupted run had already saved or loaded.
    pub resumed: u64,
    /// Bytes of the file.
    pub bytes: u64,
}

fn io_error(path: &Path) -> impl Fn(io::Error) -> BackupError + '_ {
    move |source| BackupError::Io { path: path.to_path_buf(), source }
}

fn format_error(path: &Path, why: impl Into<String>) -> BackupError {
    BackupError::Format { path: path.to_path_buf(), why: why.into() }
}

/// One item read from a backup.
enum Item {
    Entry(BackupEntry),
    End,
}

/// Reads the next item; `Ok(None)` where the file stops (cleanly or part way through an entry).
fn read_item(input: &mut impl Read, max_len: usize) -> io::Result<Option<Item>> {
    let mut word = [0u8; 4];
    let Some(()) = read_or_stop(input, &mut word)? else { return Ok(None) };
    let key_len = u32::from_le_bytes(word);
    if key_len == END {
        return Ok(Some(Item::End));
    }
    let Some(key) = read_bytes(input, key_len as usize, max_len)? else { return Ok(None) };
    let Some(()) = read_or_stop(input, &mut word)? else { return Ok(None) };
    let Some(value) = read_bytes(input, u32::from_le_bytes(word) as usize, max_len)? else { return Ok(None) };
    let mut deadline = [0u8; 8];
    let Some(()) = read_or_stop(input, &mut deadline)? else { return Ok(None) };
    let expires_at_ms = Some(u64::from_le_bytes(deadline)).filter(|&at| at != 0);
    Ok(Some(Item::Entry(BackupEntry { key, value, expires_at_ms })))
}

/// Fills `buffer`, or `None` if the file ends first.
fn read_or_stop(input: &mut impl Read, buffer: &mut [u8]) -> io::Result<Option<()>> {
    match input.read_exact(buffer) {
        Ok(()) => Ok(Some(())),
        Err(e) if e.kind() == ErrorKind::UnexpectedEof => Ok(None),
        Err(e) => Err(e),
    }
}

/// Reads `len` bytes (refused past `max_len`, so a damaged length allocates nothing), or `None`
/// if the file ends first.
fn read_bytes(input: &mut impl Read, len: usize, max_len: usize) -> io::Result<Option<Bytes>> {
    if len > max_len {
        return Err(io::Error::new(ErrorKind::InvalidData, format!("an entry of {len} bytes exceeds {max_len}")));
    }
    let mut bytes = vec![0; len];
    Ok(read_or_stop(input, &mut bytes)?.map(|()| Bytes::from(bytes)))
}

fn write_entry(output: &mut impl Write, entry: &BackupEntry) -> io::Result<u64> {
    output.write_all(&(entry.key.len() as u32).to_le_bytes())?;
    output.write_all(&entry.key)?;
    output.write_all(&(entry.value.len() as u32).to_le_bytes())?;
    output.write_all(&entry.value)?;
    output.write_all(&entry.expires_at_ms.unwrap_or(0).to_le_bytes())?;
    Ok(entry_bytes(entry))
}

/// Where an existing export file stands.
struct Existing {
    /// Bytes of its complete part (magic and whole entries).
    complete_bytes: u64,
    entries: u64,
    last_key: Option<Bytes>,
    finished: bool,
}

/// Reads an existing export file to find where it stops.
fn survey(path: &Path, max_len: usize) -> Result<Existing, BackupError> {
    let file = File::open(path).map_err(io_error(path))?;
    let mut input = BufReader::new(file);
    let mut magic = [0u8; 8];
    if input.read_exact(&mut magic).is_err() || &magic != MAGIC {
        return Err(format_error(path, "not a kvs backup (no KVSBACK1 header); remove it to export afresh"));
    }
    let mut existing = Existing { complete_bytes: 8, entries: 0, last_key: None, finished: false };
    loop {
        match read_item(&mut input, max_len).map_err(|e| format_error(path, e.to_string()))? {
            Some(Item::Entry(entry)) => {
                existing.complete_bytes += entry_bytes(&entry);
                existing.entries += 1;
                existing.last_key = Some(entry.key);
            }
            Some(Item::End) => {
                if input.read(&mut [0u8; 1]).map_err(io_error(path))? > 0 {
                    return Err(format_error(path, "bytes follow the end mark; the file is not one kvs wrote"));
                }
                existing.finished = true;
                return Ok(existing);
            }
            None => return Ok(existing),
        }
    }
}

/// Saves every live key of the node behind `client` to `path`, page by page in key order,
/// reporting progress after each page. An existing, unfinished file at `path` is resumed after
/// its last complete entry; a finished one is left as it is.
pub async fn export(
    client: &mut Client,
    path: &Path,
    mut progress: impl FnMut(Progress),
) -> Result<Summary, BackupError> {
    let max_len = client.max_frame_bytes();
    let existing = match path.exists() {
        true => Some(survey(path, max_len)?),
        false => None,
    };
    if let Some(done) = existing.as_ref().filter(|e| e.finished) {
        let bytes = done.complete_bytes + END_BYTES;
        return Ok(Summary { entries: done.entries, resumed: done.entries, bytes });
    }
    let mut file = OpenOptions::new().create(true).write(true).truncate(false).open(path).map_err(io_error(path))?;
    let (mut after, mut done) = match &existing {
        Some(existing) => {
            // Drop a partly written last entry, and carry on after the last whole one.
            file.set_len(existing.complete_bytes).map_err(io_error(path))?;
            (existing.last_key.clone(), Progress { entries: existing.entries, bytes: existing.complete_bytes })
        }
        None => {
            file.write_all(MAGIC).map_err(io_error(path))?;
            (None, Progress { entries: 0, bytes: MAGIC.len() as u64 })
        }
    };
    let resumed = done.entries;
    file.seek(SeekFrom::Start(done.bytes)).map_err(io_error(path))?;
    let mut output = BufWriter::with_capacity(1 << 20, file);
    loop {
        let page = client.export_page(after.clone(), PAGE_KEYS).await?;
        let Some(last) = page.last() else { break };
        after = Some(last.key.clone());
        for entry in &page {
            done.bytes += write_entry(&mut output, entry).map_err(io_error(path))?;
        }
        done.entries += page.len() as u64;
        // Each page reaches the file before the next is asked for, so a resume loses at most one.
        output.flush().map_err(io_error(path))?;
        progress(done);
    }
    output.write_all(&END.to_le_bytes()).map_err(io_error(path))?;
    let file = output.into_inner().map_err(|e| io_error(path)(e.into_error()))?;
    file.sync_all().map_err(io_error(path))?;
    Ok(Summary { entries: done.entries, resumed, bytes: done.bytes + END_BYTES })
}

/// The file beside `path` where an import notes how far it got.
pub fn import_progress_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".import-progress");
    path.with_file_name(name)
}

/// Loads the backup at `path` through `client` in batches, reporting progress after each. After
/// each batch the file `<path>.import-progress` records how far the load got, so an interrupted
/// import resumes there; it is removed once the whole file is loaded. A file without its end (an
/// export that did not finish) is refused before anything is loaded.
pub async fn import(
    client: &mut Client,
    path: &Path,
    mut progress: impl FnMut(Progress),
) -> Result<Summary, BackupError> {
    let max_len = client.max_frame_bytes();
    let finished = survey(path, max_len)?;
    if !finished.finished {
        return Err(format_error(
            path,
            "the backup is unfinished (its export was interrupted); run the export again to finish it",
        ));
    }
    let noted = import_progress_path(path);
    let (start, resumed) = match std::fs::read_to_string(&noted) {
        Ok(text) => parse_progress(&text).ok_or_else(|| format_error(&noted, "not an import progress note"))?,
        Err(e) if e.kind() == ErrorKind::NotFound => (MAGIC.len() as u64, 0),
        Err(e) => return Err(io_error(&noted)(e)),
    };
    let mut file = File::open(path).map_err(io_error(path))?;
    file.seek(SeekFrom::Start(start)).map_err(io_error(path))?;
    // The file is read and decoded on a thread of its own while the node loads the batch before,
    // so neither waits for the other (in turn, the import ran at 0.92× `redis-cli --pipe`).
    let (batches, mut ready) = tokio::sync::mpsc::channel(2);
    let owned = path.to_path_buf();
    let reader = tokio::task::spawn_blocking(move || {
        read_batches(BufReader::with_capacity(1 << 20, file), max_len, &owned, batches)
    });
    let mut done = Progress { entries: resumed, bytes: start };
    while let Some(batch) = ready.recv().await {
        let (batch, batch_bytes): (Vec<BackupEntry>, u64) = batch?;
        let count = batch.len() as u64;
        client.load(batch).await?;
        done = Progress { entries: done.entries + count, bytes: done.bytes + batch_bytes };
        std::fs::write(&noted, format!("{} {}\n", done.bytes, done.entries)).map_err(io_error(&noted))?;
        progress(done);
    }
    reader.await.map_err(|e| format_error(path, format!("the file reader stopped: {e}")))?;
    match std::fs::remove_file(&noted) {
        Err(e) if e.kind() != ErrorKind::NotFound => return Err(io_error(&noted)(e)),
        _ => {}
    }
    Ok(Summary { entries: done.entries, resumed, bytes: done.bytes + END_BYTES })
}

/// Reads a backup's entries from `input` in import batches (with the bytes each took in the file)
/// and sends them on `batches` until the file's end, an error (sent too), or the importer gone.
fn read_batches(
    mut input: impl Read,
    max_len: usize,
    path: &Path,
    batches: tokio::sync::mpsc::Sender<Result<(Vec<BackupEntry>, u64), BackupError>>,
) {
    let (mut batch, mut batch_bytes) = (Vec::new(), 0u64);
    loop {
        let item = match read_item(&mut input, max_len) {
            Ok(item) => item,
            Err(e) => {
                let _ = batches.blocking_send(Err(format_error(path, e.to_string())));
                return;
            }
        };
        let end = !matches!(item, Some(Item::Entry(_)));
        if let Some(Item::Entry(entry)) = item {
            batch_bytes += entry_bytes(&entry);
            batch.push(entry);
        }
        if !batch.is_empty() && (end || batch.len() >= BATCH_ENTRIES || batch_bytes as usize >= BATCH_BYTES) {
            if batches.blocking_send(Ok((std::mem::take(&mut batch), batch_bytes))).is_err() {
                return;
            }
            batch_bytes = 0;
        }
        if end {
            return;
        }
    }
}

/// `"<offset> <entries>"`, as an import notes its progress.
fn parse_progress(text: &str) -> Option<(u64, u64)> {
    let (offset, entries) = text.trim().split_once(' ')?;
    Some((offset.parse().ok()?, entries.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(key: &str, value: &str, expires_at_ms: Option<u64>) -> BackupEntry {
        BackupEntry { key: Bytes::from(key.to_string()), value: Bytes::from(value.to_string()), expires_at_ms }
    }

    #[test]
    fn entries_round_trip_and_a_cut_entry_reads_as_the_end_of_the_file() {
        let entries = [entry("a", "1", None), entry("bb", "", Some(42)), entry("", "zzz", None)];
        let mut bytes = Vec::new();
        for e in &entries {
            write_entry(&mut bytes, e).unwrap();
        }
        let whole = bytes.len();
        bytes.extend_from_slice(&END.to_le_bytes());
        let mut input = &bytes[..];
        for e in &entries {
            assert!(matches!(read_item(&mut input, 1024).unwrap(), Some(Item::Entry(read)) if read == *e));
        }
        assert!(matches!(read_item(&mut input, 1024).unwrap(), Some(Item::End)));
        for cut in 1..whole {
            let mut input = &bytes[..cut];
            let mut read = 0;
            while let Some(Item::Entry(_)) = read_item(&mut input, 1024).unwrap() {
                read += 1;
            }
            assert!(read < entries.len(), "cut at {cut}");
        }
    }

    #[test]
    fn a_damaged_length_is_an_error_not_an_allocation() {
        let mut bytes = (u32::MAX - 1).to_le_bytes().to_vec();
        bytes.extend_from_slice(b"xx");
        assert!(read_item(&mut &bytes[..], 1 << 20).is_err());
    }
}
