//! Replaying the log into a store at start, on every core.
//!
//! Replay relies on merge being commutative: records may be applied in any order and still give
//! the store the log describes. So the log is cut into chunks at frame boundaries, each chunk is
//! checked and decoded on its own thread into per-shard buckets, then each thread loads a range of
//! shards (one lock per shard, its tables warm in cache) and builds their origin index in bulk
//! (sorted runs are far cheaper than a million single inserts). Cursors do not depend on order
//! either: each origin's cursor starts at the highest one the log recorded and extends over every
//! next sequence number present in the log.

use super::format::{decode_frame, frame_end, LogRecordRef};
use super::PersistError;
use crate::record::Record;
use crate::store::{Store, SHARDS};
use kvs_proto::peer::Cursors;
use kvs_proto::{NodeId, Version};
use std::collections::HashMap;
use std::fs::OpenOptions;
use std::path::Path;

/// What replay found.
#[derive(Debug, Default)]
pub struct Recovered {
    /// Entries replayed.
    pub entries: u64,
    /// The largest version in the log: the clock resumes past it.
    pub max_version: Option<Version>,
    /// Bytes of torn or corrupt tail dropped (0 after a clean shutdown).
    pub dropped_bytes: u64,
    /// Why the tail was dropped, if it was.
    pub damage: Option<String>,
    /// Size of the log after recovery.
    pub log_bytes: u64,
}

/// What one chunk of frames contributed.
#[derive(Default)]
struct ChunkResult {
    /// Frames decoded intact before any damage.
    intact: usize,
    damage: Option<String>,
    /// Records by shard, with their key hashes.
    buckets: Vec<Vec<(u64, Record)>>,
    cursors: Vec<Cursors>,
    /// Sequence numbers seen per origin, gathered while each record is hot in cache.
    seqs: HashMap<NodeId, Vec<u64>>,
    max_version: Option<Version>,
}

/// Replays `log` into `store` (cursors included) and truncates a damaged tail so appends continue
/// from the last intact record. A missing log is an empty one.
pub fn recover(log: &Path, store: &Store, max_body: usize) -> Result<Recovered, PersistError> {
    let io = |source| PersistError::Io { path: log.display().to_string(), source };
    let started = std::time::Instant::now();
    let data = match read_parallel(log) {
        Ok(data) => data,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Recovered::default()),
        Err(e) => return Err(io(e)),
    };
    let mut recovered = Recovered::default();
    // Frame boundaries first (lengths only); a length that runs off the end is a torn tail.
    let mut frames = Vec::new();
    let mut pos = 0;
    while pos < data.len() {
        match frame_end(&data, pos, max_body) {
            Ok(end) => {
                frames.push((pos, end));
                pos = end;
            }
            Err(reason) => {
                recovered.damage = Some(reason);
                break;
            }
        }
    }
    let read_ms = started.elapsed().as_millis() as u64;
    let results = decode_chunks(store, &data, &frames);
    let decode_ms = started.elapsed().as_millis() as u64;
    // Everything after the first damaged frame is dropped, even where later chunks decoded fine.
    let mut kept = Vec::new();
    let mut intact_frames = 0;
    for result in results {
        intact_frames += result.intact;
        let damaged = result.damage.is_some();
        if damaged {
            recovered.damage = result.damage.clone();
        }
        kept.push(result);
        if damaged {
            break;
        }
    }
    let good_end = if intact_frames == 0 { 0 } else { frames[intact_frames - 1].1 };
    apply(store, kept, &mut recovered);
    let apply_ms = started.elapsed().as_millis() as u64;
    tracing::debug!(read_ms, decode_ms, apply_ms, frames = frames.len(), "replay phases (cumulative)");
    recovered.dropped_bytes = (data.len() - good_end) as u64;
    recovered.log_bytes = good_end as u64;
    if recovered.dropped_bytes > 0 {
        let file = OpenOptions::new().write(true).open(log).map_err(io)?;
        file.set_len(good_end as u64).map_err(io)?;
        file.sync_all().map_err(io)?;
    }
    // Freeing a log-sized buffer takes a noticeable while; it need not delay serving.
    std::thread::spawn(move || drop((data, frames)));
    Ok(recovered)
}

/// Reads the whole file, one slice per core (the copy out of the page cache is most of the cost).
fn read_parallel(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::os::unix::fs::FileExt;
    let file = std::fs::File::open(path)?;
    let len = file.metadata()?.len() as usize;
    let mut data = vec![0u8; len];
    let part = len.div_ceil(threads()).max(1);
    std::thread::scope(|scope| {
        let readers: Vec<_> = data
            .chunks_mut(part)
            .enumerate()
            .map(|(i, slice)| {
                let file = &file;
                scope.spawn(move || file.read_exact_at(slice, (i * part) as u64))
            })
            .collect();
        readers.into_iter().try_for_each(|r| r.join().expect("log reader panicked"))
    })?;
    Ok(data)
}

fn threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, 16)
}

/// Checks and decodes the frames in one chunk per core.
fn decode_chunks(store: &Store, data: &[u8], frames: &[(usize, usize)]) -> Vec<ChunkResult> {
    let chunk = frames.len().div_ceil(threads()).max(1);
    std::thread::scope(|scope| {
        let workers: Vec<_> =
            frames.chunks(chunk).map(|part| scope.spawn(move || decode_chunk(store, data, part))).collect();
        workers.into_iter().map(|w| w.join().expect("replay worker panicked")).collect()
    })
}

fn decode_chunk(store: &Store, data: &[u8], frames: &[(usize, usize)]) -> ChunkResult {
    let mut result = ChunkResult { buckets: vec![Vec::new(); SHARDS], ..ChunkResult::default() };
    for &(start, end) in frames {
        match decode_frame(data, start, end) {
            Ok(LogRecordRef::Entry((key, entry))) => {
                let (hash, shard) = store.hash_and_shard(key);
                result.seqs.entry(entry.version.node).or_default().push(entry.seq);
                result.max_version = result.max_version.max(Some(entry.version));
                result.buckets[shard].push((hash, Record::new(key, entry.value, entry.version, entry.seq)));
            }
            Ok(LogRecordRef::Header { cursors, .. } | LogRecordRef::Cursors(cursors)) => result.cursors.push(cursors),
            Err(reason) => {
                result.damage = Some(reason);
                return result;
            }
        }
        result.intact += 1;
    }
    result
}

/// Loads the records (each thread a range of shards: merge is commutative, so order is free) and
/// sets cursors: the highest recorded, extended over every next sequence number present.
fn apply(store: &Store, mut chunks: Vec<ChunkResult>, recovered: &mut Recovered) {
    let mut seqs: HashMap<NodeId, Vec<u64>> = HashMap::new();
    for chunk in &mut chunks {
        for cursors in &chunk.cursors {
            store.cursors.advance(cursors);
        }
        for (origin, list) in chunk.seqs.drain() {
            recovered.entries += list.len() as u64;
            seqs.entry(origin).or_default().extend(list);
        }
        recovered.max_version = recovered.max_version.max(chunk.max_version);
    }
    // Transpose to shard-major, moving the records (no refcount traffic on a million of them).
    let mut by_shard: Vec<Vec<Vec<(u64, Record)>>> =
        (0..SHARDS).map(|shard| chunks.iter_mut().map(|c| std::mem::take(&mut c.buckets[shard])).collect()).collect();
    let per_thread = SHARDS.div_ceil(threads());
    std::thread::scope(|scope| {
        for (part, shards) in by_shard.chunks_mut(per_thread).enumerate() {
            scope.spawn(move || {
                for (offset, buckets) in shards.iter_mut().enumerate() {
                    store.load_shard(part * per_thread + offset, std::mem::take(buckets));
                }
            });
        }
    });
    for (origin, mut list) in seqs {
        list.sort_unstable();
        store.cursors.applied_all_in_order(origin, list);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::persist::format::{encode_frame, LogRecord};

    fn record(key: &[u8], origin: u64, seq: u64, wall: u64) -> Record {
        Record::new(key, Some(b"v"), Version { wall_ms: wall, logical: 0, node: NodeId(origin) }, seq)
    }

    #[test]
    fn replay_rebuilds_store_cursors_and_drops_a_damaged_tail() {
        let dir = tempfile_dir();
        let log = dir.join("log");
        let mut bytes = Vec::new();
        encode_frame(&mut bytes, &LogRecord::<Record>::Header { node: NodeId(1), cursors: vec![(NodeId(2), 5)] })
            .unwrap();
        let source = Store::new();
        for i in 0..5000u64 {
            let r = record(format!("k{}", i % 3000).as_bytes(), 1, i + 1, 100 + i);
            source.merge(r.clone());
            encode_frame(&mut bytes, &LogRecord::Entry(&r)).unwrap();
        }
        // Origin 2: 6 and 8 present after its recorded cursor 5; 7 missing.
        for seq in [6, 8] {
            let r = record(format!("o2-{seq}").as_bytes(), 2, seq, 50);
            source.merge(r.clone());
            encode_frame(&mut bytes, &LogRecord::Entry(&r)).unwrap();
        }
        let good = bytes.len();
        bytes.extend_from_slice(&[9, 0, 0, 0, 1, 2]);
        std::fs::write(&log, &bytes).unwrap();

        let store = Store::new();
        let recovered = recover(&log, &store, 1 << 20).unwrap();
        assert_eq!(recovered.entries, 5002);
        assert_eq!((recovered.dropped_bytes, recovered.log_bytes), (6, good as u64));
        assert_eq!(store.cursors.get(NodeId(1)), 5000);
        assert_eq!(store.cursors.get(NodeId(2)), 6);
        assert_eq!(store.digest(), source.digest());
        assert_eq!(std::fs::metadata(&log).unwrap().len(), good as u64);
        // The bulk-built index serves deltas like the incremental one.
        let cursors = [(NodeId(1), 4990), (NodeId(2), 0)].into_iter().collect();
        let delta: usize = (0..crate::store::SHARDS).map(|s| store.delta_in_shard(s, &cursors).len()).sum();
        let expected: usize = (0..crate::store::SHARDS).map(|s| source.delta_in_shard(s, &cursors).len()).sum();
        assert_eq!(delta, expected);
        std::fs::remove_dir_all(dir).unwrap();
    }

    fn tempfile_dir() -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("kvs-recovery-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
