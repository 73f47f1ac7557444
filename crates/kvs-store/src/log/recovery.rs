//! Replaying the log into a store at start, on every core.
//!
//! Replay relies on merge being commutative: records may be applied in any order and still give
//! the store the log describes. So the log is cut into chunks at frame boundaries, each chunk is
//! checked and decoded on its own thread into per-shard buckets, then each thread loads a range of
//! shards (one lock per shard, its tables warm in cache) and builds their origin index in bulk
//! (sorted runs are far cheaper than a million single inserts). Cursors do not depend on order
//! either: each origin's cursor starts at the highest one the log recorded and extends over every
//! next sequence number present in the log.
//!
//! Damage: only an incomplete or checksum-failing record with nothing intact after it is a torn
//! tail, the trace of a crash in the middle of a write; it is cut off. Anything else (a record
//! that passes its checksum but does not decode, or a bad record with intact ones after it) means
//! the file was damaged or written by a newer kvs: start-up stops and the file is left as it is.
use super::disk;
use super::format::{self, checked_body, file_kind, frame_end, FileKind, LogRecord, FILE_HEADER_BYTES};
use super::{legacy, LogError};
use crate::map::Map;
use crate::record::Record;
use crate::store::{Store, SHARDS};
use kvs_proto::peer::Cursors;
use kvs_proto::{NodeId, Version};
use std::path::Path;

/// Where a log stops being intact, and whether that is a torn tail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Damage {
    /// Byte offset of the first record that is not intact.
    pub offset: u64,
    /// What is wrong there, for people.
    pub reason: String,
    /// Nothing intact follows and the record did not decode because it is cut short or fails its
    /// checksum: what a crash in the middle of a write leaves, safe to cut off.
    pub torn_tail: bool,
}

/// What reading a log found, without changing it.
#[derive(Debug, Default)]
pub struct Replay {
    /// Intact records (entries, cursors, start records).
    pub records: u64,
    /// Intact entries among them.
    pub entries: u64,
    /// The largest version in the log: the clock resumes past it.
    pub max_version: Option<Version>,
    /// Offset just past the last intact record.
    pub good_end: u64,
    /// Size of the file.
    pub file_bytes: u64,
    /// The first damage, if any.
    pub damage: Option<Damage>,
    /// The file is in an older format (version 0 or 1) and must be compacted into the current one.
    pub legacy: bool,
    /// The format version of the file (0 before headers existed).
    pub format_version: u32,
    /// The node the log's start record names.
    pub node: Option<NodeId>,
}

/// What start-up recovery did.
#[derive(Debug, Default)]
pub struct Recovered {
    /// What was read.
    pub replay: Replay,
    /// Bytes of torn tail cut off (0 after a clean shutdown).
    pub dropped_bytes: u64,
    /// Size of the log after recovery.
    pub log_bytes: u64,
}

/// What one chunk of frames contributed.
#[derive(Default)]
struct ChunkResult {
    /// Frames decoded intact before any damage.
    intact: usize,
    /// Entries and flushes among them (a counter or a collection's record carries several
    /// origins' writes but is one entry).
    entries: u64,
    /// The first frame that was not intact: its offset, why, and whether its checksum held.
    failure: Option<(usize, String, bool)>,
    /// Records by shard, with their key hashes.
    buckets: Vec<Vec<(u64, Record)>>,
    cursors: Vec<Cursors>,
    /// Sequence numbers seen per origin, gathered while each record is hot in cache.
    seqs: Map<NodeId, Vec<u64>>,
    max_version: Option<Version>,
    node: Option<NodeId>,
    /// Replicated flushes.
    flushes: Vec<Record>,
}

type Decoder = fn(&[u8]) -> Result<LogRecord<'_>, String>;

/// Replays `log` into `store` (cursors included) and cuts off a torn tail so appends continue
/// from the last intact record; refuses, changing nothing, a log damaged anywhere else or written
/// in a newer format. A missing log is an empty one.
pub fn recover(log: &Path, store: &Store, max_body: usize) -> Result<Recovered, LogError> {
    let replay = replay(log, store, max_body)?;
    let mut recovered = Recovered { log_bytes: replay.file_bytes, ..Recovered::default() };
    if let Some(damage) = &replay.damage {
        if !damage.torn_tail {
            return Err(LogError::Damaged {
                path: log.display().to_string(),
                offset: damage.offset,
                reason: damage.reason.clone(),
            });
        }
        let io = |source| LogError::Io { path: log.display().to_string(), source };
        let file = disk::private_options().write(true).open(log).map_err(io)?;
        file.set_len(replay.good_end).map_err(io)?;
        file.sync_all().map_err(io)?;
        recovered.dropped_bytes = replay.file_bytes - replay.good_end;
        recovered.log_bytes = replay.good_end;
    }
    recovered.replay = replay;
    Ok(recovered)
}

/// Reads `log` into `store` up to its first damage and reports what it found; never changes the
/// file. Errors only when the file cannot be read or is of a format this code does not know.
pub fn replay(log: &Path, store: &Store, max_body: usize) -> Result<Replay, LogError> {
    let io = |source| LogError::Io { path: log.display().to_string(), source };
    let data = match disk::read(log, threads()) {
        Ok(data) => data,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Replay::default()),
        Err(e) => return Err(io(e)),
    };
    replay_bytes(data, &log.display().to_string(), store, max_body)
}

/// [`replay`] of a log already in memory; `name` names it in errors. Any bytes at all give a
/// report or a format error, never a panic (the fuzz target `log_replay` holds it to that).
pub fn replay_bytes(data: Vec<u8>, name: &str, store: &Store, max_body: usize) -> Result<Replay, LogError> {
    let started = std::time::Instant::now();
    let mut replay = Replay { file_bytes: data.len() as u64, ..Replay::default() };
    let (first, decoder): (usize, Decoder) = match file_kind(&data) {
        FileKind::Current(version) => {
            replay.format_version = version;
            (FILE_HEADER_BYTES, format::decode_body)
        }
        FileKind::Previous(version) => {
            replay.legacy = true;
            replay.format_version = version;
            (FILE_HEADER_BYTES, format::decode_body)
        }
        FileKind::Legacy => {
            replay.legacy = true;
            (0, legacy::decode_body)
        }
        FileKind::Unstarted => {
            // A crash while the file was being created: there is nothing to lose.
            if !data.is_empty() {
                replay.damage = Some(Damage { offset: 0, reason: "file header cut short".into(), torn_tail: true });
            }
            return Ok(replay);
        }
        FileKind::BadHeader => {
            let reason = "the file header is damaged".to_string();
            replay.damage = Some(Damage { offset: 0, reason, torn_tail: false });
            return Ok(replay);
        }
        FileKind::Newer(version, writer) => {
            return Err(LogError::UnknownFormat { path: name.to_string(), version, writer });
        }
    };
    // Frame boundaries first (lengths only); a length that runs off the end stops the walk.
    let mut frames = Vec::new();
    let mut pos = first;
    let mut framing_damage = None;
    while pos < data.len() {
        match frame_end(&data, pos, max_body) {
            Ok(end) => {
                frames.push((pos, end));
                pos = end;
            }
            Err(reason) => {
                framing_damage = Some((pos, reason, false));
                break;
            }
        }
    }
    let read_ms = started.elapsed().as_millis() as u64;
    let workers = if data.len() < PARALLEL_FROM_BYTES { 1 } else { threads() };
    let results = decode_chunks(store, &data, &frames, decoder, workers);
    let decode_ms = started.elapsed().as_millis() as u64;
    // Nothing after the first damaged frame is loaded, even where later chunks decoded fine.
    let mut kept = Vec::new();
    let mut failure = None;
    for mut result in results {
        replay.records += result.intact as u64;
        failure = result.failure.take();
        kept.push(result);
        if failure.is_some() {
            break;
        }
    }
    let failure = failure.or(framing_damage);
    replay.good_end = match failure {
        Some((offset, _, _)) => offset as u64,
        None => data.len() as u64,
    };
    let synced_records = replay.format_version >= format::SYNCED_FORMAT_VERSION;
    replay.damage = failure.map(|(offset, reason, checksum_held)| {
        classify(&data, offset, reason, checksum_held, max_body, synced_records)
    });
    apply(store, kept, &mut replay, workers);
    let apply_ms = started.elapsed().as_millis() as u64;
    tracing::debug!(read_ms, decode_ms, apply_ms, frames = frames.len(), "replay phases (cumulative)");
    if workers > 1 {
        // Freeing a log-sized buffer takes a noticeable while; it need not delay serving.
        std::thread::spawn(move || drop((data, frames)));
    }
    Ok(replay)
}

/// Decides whether damage at `offset` is what a crash leaves (a tail to cut) or damage to refuse.
///
/// A record that passes its checksum but does not decode is never a crash's doing. Otherwise the
/// record is cut short or fails its checksum, and it is a crash's tail when no intact record
/// follows it, or (in a log with synced records, see `format`) when intact records follow but
/// none of them says the log was on disk past `offset`: a crash may leave the unsynced tail
/// holed, torn and out of order. A synced record beyond the damage proves it was on disk, so the
/// damage came later: refused.
fn classify(
    data: &[u8],
    offset: usize,
    reason: String,
    checksum_held: bool,
    max_body: usize,
    synced_records: bool,
) -> Damage {
    let at = offset as u64;
    if checksum_held {
        let reason = format!("a record passes its checksum but does not decode ({reason})");
        return Damage { offset: at, reason, torn_tail: false };
    }
    let Some(next) = next_intact_frame(data, offset + 1, max_body) else {
        return Damage { offset: at, reason, torn_tail: true };
    };
    if !synced_records {
        let reason = format!("{reason}, yet an intact record follows at byte {next}, so this is not a torn write");
        return Damage { offset: at, reason, torn_tail: false };
    }
    match synced_beyond(data, next, max_body) {
        Some((record, synced)) if synced > at => Damage {
            offset: at,
            reason: format!(
                "{reason}, yet the record at byte {record} says the log was on disk up to byte {synced}, \
                 so this is not what a crash leaves"
            ),
            torn_tail: false,
        },
        _ => Damage {
            offset: at,
            reason: format!("{reason}, in the part of the log a crash may lose (nothing later says it was on disk)"),
            torn_tail: true,
        },
    }
}

/// The intact synced record from `from` on that claims the most: its offset and its claim.
fn synced_beyond(data: &[u8], from: usize, max_body: usize) -> Option<(usize, u64)> {
    let mut best: Option<(usize, u64)> = None;
    let mut pos = Some(from);
    while let Some(at) = pos {
        let end = frame_end(data, at, max_body).ok().filter(|&end| checked_body(data, at, end).is_some());
        let Some(end) = end else {
            pos = next_intact_frame(data, at + 1, max_body);
            continue;
        };
        if let Some(Ok(LogRecord::Synced(synced))) = checked_body(data, at, end).map(format::decode_body) {
            if best.is_none_or(|(_, claim)| synced > claim) {
                best = Some((at, synced));
            }
        }
        pos = (end < data.len()).then_some(end);
    }
    best
}

/// The first offset at or after `from` where a frame with a valid checksum starts.
fn next_intact_frame(data: &[u8], from: usize, max_body: usize) -> Option<usize> {
    (from..data.len())
        .find(|&pos| frame_end(data, pos, max_body).is_ok_and(|end| checked_body(data, pos, end).is_some()))
}

/// Logs smaller than this replay on the calling thread: threads cost more than they save.
const PARALLEL_FROM_BYTES: usize = 1 << 20;

fn threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, 16)
}

/// Checks and decodes the frames in one chunk per core.
fn decode_chunks(
    store: &Store,
    data: &[u8],
    frames: &[(usize, usize)],
    decoder: Decoder,
    workers: usize,
) -> Vec<ChunkResult> {
    if workers == 1 {
        return vec![decode_chunk(store, data, frames, decoder)];
    }
    let chunk = frames.len().div_ceil(workers).max(1);
    std::thread::scope(|scope| {
        let workers: Vec<_> =
            frames.chunks(chunk).map(|part| scope.spawn(move || decode_chunk(store, data, part, decoder))).collect();
        workers.into_iter().map(|w| w.join().expect("replay worker panicked")).collect()
    })
}

fn decode_chunk(store: &Store, data: &[u8], frames: &[(usize, usize)], decoder: Decoder) -> ChunkResult {
    let mut result = ChunkResult { buckets: vec![Vec::new(); SHARDS], ..ChunkResult::default() };
    for &(start, end) in frames {
        let Some(body) = checked_body(data, start, end) else {
            result.failure = Some((start, "checksum mismatch".into(), false));
            return result;
        };
        match decoder(body) {
            Ok(LogRecord::Entry(entry)) => {
                let record = match entry.to_record() {
                    Ok(record) => record,
                    Err(reason) => {
                        result.failure = Some((start, reason, true));
                        return result;
                    }
                };
                let (hash, shard) = store.hash_and_shard(entry.key);
                result.entries += 1;
                for stamp in record.stamps() {
                    result.seqs.entry(stamp.version.node).or_default().push(stamp.seq);
                }
                result.max_version = result.max_version.max(Some(entry.version));
                result.buckets[shard].push((hash, record));
            }
            Ok(LogRecord::Flush(stamp, database)) => {
                result.entries += 1;
                result.seqs.entry(stamp.version.node).or_default().push(stamp.seq);
                result.max_version = result.max_version.max(Some(stamp.version));
                result.flushes.push(Record::flush(stamp, database));
            }
            Ok(LogRecord::Start { node, cursors }) => {
                result.node.get_or_insert(node);
                result.cursors.push(cursors);
            }
            Ok(LogRecord::Cursors(cursors)) => result.cursors.push(cursors),
            Ok(LogRecord::Synced(_)) => {}
            Err(reason) => {
                result.failure = Some((start, reason, true));
                return result;
            }
        }
        result.intact += 1;
    }
    result
}

/// Loads the records (each thread a range of shards: merge is commutative, so order is free) and
/// sets cursors: the highest recorded, extended over every next sequence number present.
fn apply(store: &Store, mut chunks: Vec<ChunkResult>, replay: &mut Replay, workers: usize) {
    let mut seqs: Map<NodeId, Vec<u64>> = Map::default();
    // Flushes first: each sets a floor the loads below respect, whatever the order in the log.
    for chunk in &mut chunks {
        for flush in chunk.flushes.drain(..) {
            store.merge(flush);
        }
    }
    for chunk in &mut chunks {
        for cursors in &chunk.cursors {
            store.cursors.advance(cursors);
        }
        replay.entries += chunk.entries;
        for (origin, list) in chunk.seqs.drain() {
            seqs.entry(origin).or_default().extend(list);
        }
        replay.max_version = replay.max_version.max(chunk.max_version);
        replay.node = replay.node.or(chunk.node);
    }
    // Transpose to shard-major, moving the records (no refcount traffic on a million of them).
    let mut by_shard: Vec<Vec<Vec<(u64, Record)>>> =
        (0..SHARDS).map(|shard| chunks.iter_mut().map(|c| std::mem::take(&mut c.buckets[shard])).collect()).collect();
    let per_thread = SHARDS.div_ceil(workers);
    let load = |part: usize, shards: &mut [Vec<Vec<(u64, Record)>>]| {
        for (offset, buckets) in shards.iter_mut().enumerate() {
            store.load_shard(part * per_thread + offset, std::mem::take(buckets));
        }
    };
    if workers == 1 {
        load(0, &mut by_shard);
    } else {
        std::thread::scope(|scope| {
            for (part, shards) in by_shard.chunks_mut(per_thread).enumerate() {
                scope.spawn(move || load(part, shards));
            }
        });
    }
    for (origin, mut list) in seqs {
        list.sort_unstable();
        store.cursors.applied_all_in_order(origin, list);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::format::{encode_entry, encode_start, encode_synced, file_header};

    fn record(key: &[u8], origin: u64, seq: u64, wall: u64) -> Record {
        Record::new(key, Some(&[b'v'; 256]), Version { wall_ms: wall, logical: 0, node: NodeId(origin) }, seq)
    }

    /// The offset of the last synced record in [`sample_log`].
    const LAST_SYNCED_AFTER_ENTRIES: u64 = 4500;

    /// A log of 5,002 entries from two origins (over 1 MiB, so replay runs on every core), with a
    /// synced record every 500 entries as the writer leaves them, and the store it describes.
    fn sample_log() -> (Vec<u8>, Store) {
        let mut bytes = file_header(format::FORMAT_VERSION).to_vec();
        encode_start(&mut bytes, NodeId(1), &vec![(NodeId(2), 5)]);
        let source = Store::new();
        for i in 0..5000u64 {
            let r = record(format!("k{}", i % 3000).as_bytes(), 1, i + 1, 100 + i);
            source.merge(r.clone());
            encode_entry(&mut bytes, &r);
            if (i + 1) % 500 == 0 && i < LAST_SYNCED_AFTER_ENTRIES {
                let synced = bytes.len() as u64;
                encode_synced(&mut bytes, synced);
            }
        }
        // Origin 2: 6 and 8 present after its recorded cursor 5; 7 missing.
        for seq in [6, 8] {
            let r = record(format!("o2-{seq}").as_bytes(), 2, seq, 50);
            source.merge(r.clone());
            encode_entry(&mut bytes, &r);
        }
        (bytes, source)
    }

    #[test]
    fn a_record_carrying_several_origins_writes_counts_as_one_entry() {
        // Found by fuzzing from the collection seeds: entries were counted per origin carried.
        use crate::collection::element::ElementState;
        use crate::collection::{element_key, CollectionType};
        let stamp =
            |node, seq| kvs_proto::Stamp { version: Version { wall_ms: seq, logical: 0, node: NodeId(node) }, seq };
        let mut state = ElementState::added(stamp(1, 1), bytes::Bytes::from_static(b"a"));
        state.merge(&ElementState::added(stamp(2, 1), bytes::Bytes::from_static(b"b")));
        let element = Record::element(&element_key(CollectionType::Set, b"s", b"m"), &state);
        assert_eq!(element.stamps().count(), 2);
        let replay = replay_bytes(crate::log::log_bytes(&[element]), "test", &Store::new(), 1 << 16).unwrap();
        assert_eq!((replay.records, replay.entries), (1, 1));
    }

    #[test]
    fn replay_rebuilds_store_and_cursors_and_cuts_a_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log");
        let (mut bytes, source) = sample_log();
        assert!(bytes.len() > PARALLEL_FROM_BYTES);
        let good = bytes.len();
        bytes.extend_from_slice(&[9, 0, 0, 0, 1, 2]);
        std::fs::write(&log, &bytes).unwrap();

        let store = Store::new();
        let recovered = recover(&log, &store, 1 << 20).unwrap();
        assert_eq!((recovered.replay.entries, recovered.replay.node), (5002, Some(NodeId(1))));
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
    }

    #[test]
    fn a_flipped_byte_mid_log_refuses_start_up_and_leaves_the_file_alone() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log");
        let (mut bytes, _) = sample_log();
        let third = bytes.len() / 3;
        bytes[third] ^= 0x01;
        std::fs::write(&log, &bytes).unwrap();
        let error = recover(&log, &Store::new(), 1 << 20).unwrap_err();
        assert!(matches!(error, LogError::Damaged { offset, .. } if offset as usize <= third), "{error}");
        assert_eq!(std::fs::read(&log).unwrap(), bytes, "the file is untouched");
    }

    #[test]
    fn damage_past_the_last_synced_record_is_a_crash_tail_and_is_cut_with_what_follows() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log");
        let (bytes, _) = sample_log();
        // A hole in the unsynced tail (a page the kernel never wrote back), intact records after it.
        let hole = bytes.len() - 10 * 300;
        let mut holed = bytes.clone();
        holed[hole..hole + 600].fill(0);
        std::fs::write(&log, &holed).unwrap();
        let recovered = recover(&log, &Store::new(), 1 << 20).unwrap();
        let damage = recovered.replay.damage.clone().unwrap();
        assert!(damage.torn_tail && damage.reason.contains("a crash may lose"), "{damage:?}");
        assert!(recovered.replay.entries > LAST_SYNCED_AFTER_ENTRIES && recovered.replay.entries < 5002);
        assert_eq!(recovered.log_bytes, damage.offset);
        assert_eq!(std::fs::read(&log).unwrap(), &holed[..damage.offset as usize]);
    }

    #[test]
    fn damage_mid_log_in_the_previous_format_is_refused_for_want_of_synced_records() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log");
        let mut bytes = file_header(format::FORMAT_VERSION).to_vec();
        bytes[8] = crate::log::format::PREVIOUS_FORMAT_VERSION as u8;
        encode_start(&mut bytes, NodeId(1), &Vec::new());
        for i in 0..100 {
            encode_entry(&mut bytes, &record(format!("k{i}").as_bytes(), 1, i + 1, 100));
        }
        std::fs::write(&log, &bytes).unwrap();
        let clean = replay(&log, &Store::new(), 1 << 20).unwrap();
        assert_eq!((clean.entries, clean.format_version, clean.legacy), (100, 1, true), "{clean:?}");
        let last = bytes.len() - 100;
        bytes[last] ^= 0x01;
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0x01;
        std::fs::write(&log, &bytes).unwrap();
        let error = recover(&log, &Store::new(), 1 << 20).unwrap_err().to_string();
        assert!(error.contains("intact record follows"), "{error}");
    }

    #[test]
    fn a_checksummed_record_that_does_not_decode_refuses_start_up_even_at_the_end() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log");
        let (mut bytes, _) = sample_log();
        let body = [42u8, 1, 2, 3];
        bytes.extend_from_slice(&(body.len() as u32).to_le_bytes());
        bytes.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
        bytes.extend_from_slice(&body);
        std::fs::write(&log, &bytes).unwrap();
        let error = recover(&log, &Store::new(), 1 << 20).unwrap_err().to_string();
        assert!(error.contains("passes its checksum but does not decode"), "{error}");
        assert!(error.contains("unknown record tag 42"), "{error}");
        assert_eq!(std::fs::read(&log).unwrap(), bytes);
    }

    #[test]
    fn a_zero_filled_or_half_written_tail_is_torn_but_a_newer_format_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log");
        let (bytes, _) = sample_log();
        for tail in [vec![0u8; 4096], bytes[FILE_HEADER_BYTES..FILE_HEADER_BYTES + 30].to_vec()] {
            let mut damaged = bytes.clone();
            damaged.extend_from_slice(&tail);
            std::fs::write(&log, &damaged).unwrap();
            let recovered = recover(&log, &Store::new(), 1 << 20).unwrap();
            assert_eq!(recovered.dropped_bytes, tail.len() as u64);
            assert_eq!(std::fs::read(&log).unwrap(), bytes);
        }
        let mut newer = bytes.clone();
        newer[8] = 9;
        std::fs::write(&log, &newer).unwrap();
        let error = recover(&log, &Store::new(), 1 << 20).unwrap_err();
        assert!(matches!(error, LogError::UnknownFormat { version: 9, .. }), "{error}");
        assert_eq!(std::fs::read(&log).unwrap(), newer);
    }
}
