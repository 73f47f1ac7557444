//! The log's on-disk format, version 4, independent of the wire codec.
//!
//! ```text
//! file   := magic "KVSLOG\r\n" (8 bytes) · format version u32 LE · writer u32 LE · frame*
//!   writer: the release that wrote the file, major·1,000,000 + minor·1,000 + patch (format 4;
//!           format 3 holds 0 there)
//! frame  := body length u32 LE · CRC32 of body u32 LE · body
//! body   := tag u8 · fields (all integers little-endian)
//!   tag 1  start:   node u64 · cursors
//!   tag 2  entry:   key_len u32 · key · kind u8 · kind's fields · stamp
//!            kind 0 tombstone
//!            kind 1 value:            value_len u32 · value
//!            kind 2 expiring value:   deadline_ms u64 · value_len u32 · value
//!            kind 3 counter:          has_deadline u8 · [deadline_ms u64] · base stamp · base_value i64
//!                                     · count u32 · (stamp · total i64) * count
//!            kind 4 expired counter   (the stamp is the counter's base)
//!   tag 3  cursors: cursors
//!   tag 4  synced:  offset u64
//!   tag 5  flush:   stamp
//! stamp   := wall_ms u64 · logical u32 · origin u64 · seq u64
//! cursors := count u32 · (origin u64 · seq u64) * count
//! ```
//!
//! An entry's stamp is its newest write's (for a counter, its newest contribution's). Version 4
//! is version 3 with the writer's release in the header, so that a release that cannot read a
//! newer log can say which release wrote it. A node writes version 3 until its cluster opens the
//! `log-format-4` gate (release 0.1.0, which reads only 3, may still be a member until then) and
//! reads both as current. Version 3 added kinds 2–4 and tag 5 (expiry, counters, flush) to
//! version 2; a version-2 log is replayed and compacted at start, like version 1.
//!
//! A synced record says that every byte of the file before `offset` had been fsynced before the
//! record was written (the writer appends one after each fsync, and compaction ends its file with
//! one). It is how recovery tells a crash's debris from damage: after a crash, what was not
//! fsynced may be missing, torn or out of order (the kernel writes pages back in any order), so
//! damage past the last synced offset is a tail to cut, while damage before it, proven by a synced
//! record beyond it, is refused. Version 1 is version 2 without synced records; it is replayed and
//! compacted into the current version at start.
//!
//! Tags are numbers written here, never an enum's declaration order, so reordering code cannot
//! change what a file means. A frame whose checksum holds but whose body does not decode (an
//! unknown tag, a field running past the body, bytes left over) is not a torn write: it is
//! corruption or a newer format, and replay refuses it rather than guess (see `recovery`).

use crate::record::{Body, Record};
use bytes::Bytes;
use kvs_proto::peer::Cursors;
use kvs_proto::{Contribution, Counter, ElementAdd, ElementCount, EntryKind, NodeId, Stamp, Version};

/// First bytes of every log file.
pub const MAGIC: [u8; 8] = *b"KVSLOG\r\n";

/// The newest format version this code writes and reads: format 5 with collection elements and
/// headers.
pub const FORMAT_VERSION: u32 = 6;

/// The newest format the previous release (0.2.0) writes and reads, which this code writes until
/// the `log-format-5` gate opens, and reads as current (a subset of the same frames).
pub const PREVIOUS_RELEASE_FORMAT_VERSION: u32 = 4;

/// The format release 0.1.0 writes and reads: 4 without the writer's release in its header.
/// A node writes it while a 0.1.0 member could still be rolled back onto its log.
pub const FIRST_RELEASE_FORMAT_VERSION: u32 = 3;

/// The oldest version with a header (1: no synced records; 2: no expiry, counters or flush);
/// every version from it up to the current one decodes with this code, a subset of it.
pub const PREVIOUS_FORMAT_VERSION: u32 = 1;

/// The first version with synced records.
pub const SYNCED_FORMAT_VERSION: u32 = 2;

/// Bytes of the file header (magic, version, reserved).
pub const FILE_HEADER_BYTES: usize = 16;

/// Bytes before every body.
pub const FRAME_HEADER_BYTES: usize = 8;

const TAG_START: u8 = 1;
const TAG_ENTRY: u8 = 2;
const TAG_CURSORS: u8 = 3;
const TAG_SYNCED: u8 = 4;
const TAG_FLUSH: u8 = 5;
/// Format 5 on: FLUSHDB of one database.
const TAG_FLUSH_DATABASE: u8 = 6;

const KIND_TOMBSTONE: u8 = 0;
const KIND_VALUE: u8 = 1;
const KIND_EXPIRING_VALUE: u8 = 2;
const KIND_COUNTER: u8 = 3;
const KIND_EXPIRED_COUNTER: u8 = 4;
/// Format 5 on.
const KIND_HLL: u8 = 5;
/// Format 5 on.
const KIND_EVICTED: u8 = 6;
/// Format 6: a collection element (its adds, removed vector and removes).
const KIND_ELEMENT: u8 = 7;
/// Format 6: a collection header.
const KIND_COLLECTION: u8 = 8;

/// One decoded record; keys and values borrow from the log buffer, so replay copies each entry's
/// bytes once, straight into its [`Record`].
#[derive(Debug, PartialEq, Eq)]
pub enum LogRecord<'a> {
    /// First in every log file: whose log it is and where its cursors stood when it was started.
    Start {
        /// The node the log belongs to.
        node: NodeId,
        /// Cursors when the file was started (a compaction's snapshot point).
        cursors: Cursors,
    },
    /// An entry that was applied to the store.
    Entry(EntryRef<'a>),
    /// A replicated flush that was applied, of one database or (`None`) of all.
    Flush(Stamp, Option<u8>),
    /// Cursors adopted after a completed anti-entropy round.
    Cursors(Cursors),
    /// Every byte before this offset was fsynced before this record was written.
    Synced(u64),
}

/// An entry as the log holds it.
#[derive(Debug, PartialEq, Eq)]
pub struct EntryRef<'a> {
    /// The key.
    pub key: &'a [u8],
    /// The value, or `None` for a tombstone or counter.
    pub value: Option<&'a [u8]>,
    /// The newest write's version.
    pub version: Version,
    /// The newest write's sequence number at its origin (`version.node`).
    pub seq: u64,
    /// When the key expires.
    pub deadline_ms: Option<u64>,
    /// What it is beside a value or tombstone (a counter, an expired counter, a HyperLogLog
    /// whose registers are `value`, an eviction); `None`: a value or tombstone.
    pub kind: Option<EntryKind>,
}

impl<'a> EntryRef<'a> {
    /// A value (`None`: a tombstone) without expiry.
    pub fn plain(key: &'a [u8], value: Option<&'a [u8]>, version: Version, seq: u64) -> Self {
        EntryRef { key, value, version, seq, deadline_ms: None, kind: None }
    }

    /// The record it stands for (copying the bytes once), if well formed.
    pub fn to_record(&self) -> Result<Record, String> {
        let stamp = Stamp { version: self.version, seq: self.seq };
        match &self.kind {
            // The common case, without building a wire entry.
            None => Ok(Record::plain(self.key, self.value, stamp, self.deadline_ms)),
            Some(kind) => {
                Record::from_parts(self.key, self.value, stamp, self.deadline_ms, kind).map_err(|e| e.to_string())
            }
        }
    }
}

/// The file header of a file in `format` (3 or 4).
pub fn file_header(format: u32) -> [u8; FILE_HEADER_BYTES] {
    let mut header = [0u8; FILE_HEADER_BYTES];
    header[..8].copy_from_slice(&MAGIC);
    header[8..12].copy_from_slice(&format.to_le_bytes());
    if format >= 4 {
        header[12..16].copy_from_slice(&release_code(env!("CARGO_PKG_VERSION")).to_le_bytes());
    }
    header
}

/// A release `major.minor.patch` as the header's writer field holds it (0 if it does not parse).
fn release_code(release: &str) -> u32 {
    let mut parts = release.split(['.', '-']).map(|part| part.parse::<u32>().unwrap_or(0));
    let mut next = || parts.next().unwrap_or(0).min(999);
    next() * 1_000_000 + next() * 1_000 + next()
}

/// The release a header's writer field names, if any.
fn release_name(code: u32) -> Option<String> {
    (code != 0).then(|| format!("{}.{}.{}", code / 1_000_000, code / 1_000 % 1_000, code % 1_000))
}

/// What the first bytes of a file say about its format.
#[derive(Debug, PartialEq, Eq)]
pub enum FileKind {
    /// Empty, or a header cut short by a crash while the file was being created.
    Unstarted,
    /// This format or the previous release's (3 or 4, the same frames); they start at
    /// [`FILE_HEADER_BYTES`].
    Current(u32),
    /// An older version with a header (1 or 2): frames as in this format, with fewer kinds.
    Previous(u32),
    /// The format before headers existed (version 0): bincode records, frames from byte 0.
    Legacy,
    /// A kvs log of a format this code does not know, and the release that wrote it if the
    /// header names one.
    Newer(u32, Option<String>),
    /// The magic is there but the header is cut short with bytes it never holds: damaged.
    BadHeader,
}

/// Classifies a log by its first bytes.
pub fn file_kind(data: &[u8]) -> FileKind {
    let headers = (FIRST_RELEASE_FORMAT_VERSION..=FORMAT_VERSION).map(file_header);
    if data.len() < FILE_HEADER_BYTES && headers.into_iter().any(|header| header.starts_with(data)) {
        return FileKind::Unstarted;
    }
    if !data.starts_with(&MAGIC) {
        return FileKind::Legacy;
    }
    if data.len() < FILE_HEADER_BYTES {
        return FileKind::BadHeader;
    }
    let writer = u32::from_le_bytes(data[12..16].try_into().expect("4 bytes"));
    match u32::from_le_bytes(data[8..12].try_into().expect("4 bytes")) {
        current @ (FIRST_RELEASE_FORMAT_VERSION..=FORMAT_VERSION) => FileKind::Current(current),
        older if (PREVIOUS_FORMAT_VERSION..FIRST_RELEASE_FORMAT_VERSION).contains(&older) => FileKind::Previous(older),
        newer => FileKind::Newer(newer, release_name(writer)),
    }
}

/// Appends one frame whose body `write_body` produces.
fn frame(out: &mut Vec<u8>, write_body: impl FnOnce(&mut Vec<u8>)) {
    let start = out.len();
    out.extend_from_slice(&[0u8; FRAME_HEADER_BYTES]);
    write_body(out);
    let body = &out[start + FRAME_HEADER_BYTES..];
    let (len, crc) = (body.len() as u32, crc32fast::hash(body));
    out[start..start + 4].copy_from_slice(&len.to_le_bytes());
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
}

fn put_cursors(out: &mut Vec<u8>, cursors: &Cursors) {
    out.extend_from_slice(&(cursors.len() as u32).to_le_bytes());
    for (origin, seq) in cursors {
        out.extend_from_slice(&origin.0.to_le_bytes());
        out.extend_from_slice(&seq.to_le_bytes());
    }
}

/// Appends a start frame.
pub fn encode_start(out: &mut Vec<u8>, node: NodeId, cursors: &Cursors) {
    frame(out, |body| {
        body.push(TAG_START);
        body.extend_from_slice(&node.0.to_le_bytes());
        put_cursors(body, cursors);
    })
}

fn put_stamp(out: &mut Vec<u8>, stamp: &Stamp) {
    out.extend_from_slice(&stamp.version.wall_ms.to_le_bytes());
    out.extend_from_slice(&stamp.version.logical.to_le_bytes());
    out.extend_from_slice(&stamp.version.node.0.to_le_bytes());
    out.extend_from_slice(&stamp.seq.to_le_bytes());
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
    out.extend_from_slice(bytes);
}

fn put_deadline(out: &mut Vec<u8>, deadline: Option<u64>) {
    out.push(deadline.is_some() as u8);
    if let Some(deadline) = deadline {
        out.extend_from_slice(&deadline.to_le_bytes());
    }
}

/// Appends a count, then (origin, sequence number) pairs.
fn put_pairs(out: &mut Vec<u8>, pairs: &[(NodeId, u64)]) {
    out.extend_from_slice(&(pairs.len() as u32).to_le_bytes());
    for (node, seq) in pairs {
        out.extend_from_slice(&node.0.to_le_bytes());
        out.extend_from_slice(&seq.to_le_bytes());
    }
}

/// Appends the frame for `record`: an entry, or a flush.
pub fn encode_entry(out: &mut Vec<u8>, record: &Record) {
    if record.is_flush() {
        return frame(out, |body| match record.flushed_database() {
            None => {
                body.push(TAG_FLUSH);
                put_stamp(body, &record.stamp());
            }
            Some(db) => {
                body.push(TAG_FLUSH_DATABASE);
                body.push(db);
                put_stamp(body, &record.stamp());
            }
        });
    }
    frame(out, |body| {
        body.push(TAG_ENTRY);
        put_bytes(body, record.key());
        match (record.body(), record.deadline_ms()) {
            (Body::Tombstone, _) if record.is_expired_counter() => body.push(KIND_EXPIRED_COUNTER),
            (Body::Tombstone, _) if record.is_evicted() => {
                body.push(KIND_EVICTED);
                let of = record.eviction_target();
                body.extend_from_slice(&of.wall_ms.to_le_bytes());
                body.extend_from_slice(&of.logical.to_le_bytes());
                body.extend_from_slice(&of.node.0.to_le_bytes());
            }
            (Body::Hll(hll), deadline) => {
                body.push(KIND_HLL);
                put_deadline(body, deadline);
                put_stamp(body, &hll.base());
                let stamps: Vec<Stamp> = hll.stamps().collect();
                body.extend_from_slice(&(stamps.len() as u32).to_le_bytes());
                for stamp in &stamps {
                    put_stamp(body, stamp);
                }
                put_bytes(body, hll.compact());
            }
            (Body::Element, _) => {
                body.push(KIND_ELEMENT);
                let EntryKind::Element { adds, removed, removals, counts } =
                    record.element_state().unwrap_or_default().to_kind()
                else {
                    unreachable!("an element's kind")
                };
                body.extend_from_slice(&(adds.len() as u32).to_le_bytes());
                for add in &adds {
                    put_stamp(body, &add.stamp);
                    put_bytes(body, &add.value);
                }
                put_pairs(body, &removed);
                body.extend_from_slice(&(removals.len() as u32).to_le_bytes());
                for stamp in &removals {
                    put_stamp(body, stamp);
                }
                body.extend_from_slice(&(counts.len() as u32).to_le_bytes());
                for count in &counts {
                    put_stamp(body, &count.stamp);
                    put_stamp(body, &count.base);
                    body.extend_from_slice(&count.int.to_le_bytes());
                    body.extend_from_slice(&count.float_bits.to_le_bytes());
                }
            }
            (Body::Collection, deadline) => {
                body.push(KIND_COLLECTION);
                let header = record.header().expect("a header");
                body.push(crate::collection::type_byte(header.of));
                put_deadline(body, deadline);
                put_stamp(body, &header.base);
                body.extend_from_slice(&header.expired_before.to_le_bytes());
                body.extend_from_slice(&(header.stamps.len() as u32).to_le_bytes());
                for stamp in &header.stamps {
                    put_stamp(body, stamp);
                }
                put_pairs(body, &header.cleared);
            }
            (Body::Tombstone | Body::Flush, _) => body.push(KIND_TOMBSTONE),
            (Body::Value(value), None) => {
                body.push(KIND_VALUE);
                put_bytes(body, value);
            }
            (Body::Value(value), Some(deadline)) => {
                body.push(KIND_EXPIRING_VALUE);
                body.extend_from_slice(&deadline.to_le_bytes());
                put_bytes(body, value);
            }
            (Body::Counter(counter), deadline) => {
                body.push(KIND_COUNTER);
                put_deadline(body, deadline);
                put_stamp(body, &counter.base());
                body.extend_from_slice(&counter.base_value().to_le_bytes());
                let parts: Vec<Contribution> = counter.contributions().collect();
                body.extend_from_slice(&(parts.len() as u32).to_le_bytes());
                for part in parts {
                    put_stamp(body, &part.stamp);
                    body.extend_from_slice(&part.total.to_le_bytes());
                }
            }
        }
        put_stamp(body, &record.stamp());
    })
}

/// Appends a cursors frame.
pub fn encode_cursors(out: &mut Vec<u8>, cursors: &Cursors) {
    frame(out, |body| {
        body.push(TAG_CURSORS);
        put_cursors(body, cursors);
    })
}

/// Appends a synced frame: every byte before `offset` is on disk.
pub fn encode_synced(out: &mut Vec<u8>, offset: u64) {
    frame(out, |body| {
        body.push(TAG_SYNCED);
        body.extend_from_slice(&offset.to_le_bytes());
    })
}

/// Where the frame at `pos` ends, checking only its length (the checksum is checked when decoded).
pub fn frame_end(data: &[u8], pos: usize, max_body: usize) -> Result<usize, String> {
    let rest = &data[pos..];
    if rest.len() < FRAME_HEADER_BYTES {
        return Err(format!("{} stray bytes at the end", rest.len()));
    }
    let len = u32::from_le_bytes(rest[0..4].try_into().expect("4 bytes")) as usize;
    if len > max_body {
        return Err(format!("frame length {len} exceeds {max_body}"));
    }
    if rest.len() < FRAME_HEADER_BYTES + len {
        return Err(format!("frame of {len} bytes cut short at {} bytes", rest.len() - FRAME_HEADER_BYTES));
    }
    Ok(pos + FRAME_HEADER_BYTES + len)
}

/// The body of the frame `data[start..end]` found by [`frame_end`], if its checksum holds. An
/// empty body never passes: nothing writes one, and a zero-filled tail would otherwise look like a
/// run of valid frames.
pub fn checked_body(data: &[u8], start: usize, end: usize) -> Option<&[u8]> {
    let crc = u32::from_le_bytes(data[start + 4..start + 8].try_into().expect("4 bytes"));
    let body = &data[start + FRAME_HEADER_BYTES..end];
    (!body.is_empty() && crc32fast::hash(body) == crc).then_some(body)
}

/// Reads fields off a body, refusing to run past its end.
struct Fields<'a> {
    body: &'a [u8],
}

impl<'a> Fields<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], String> {
        if self.body.len() < n {
            return Err(format!("{what} runs past the end of the record"));
        }
        let (head, rest) = self.body.split_at(n);
        self.body = rest;
        Ok(head)
    }

    fn u8(&mut self, what: &str) -> Result<u8, String> {
        Ok(self.take(1, what)?[0])
    }

    fn u32(&mut self, what: &str) -> Result<u32, String> {
        Ok(u32::from_le_bytes(self.take(4, what)?.try_into().expect("4 bytes")))
    }

    fn u64(&mut self, what: &str) -> Result<u64, String> {
        Ok(u64::from_le_bytes(self.take(8, what)?.try_into().expect("8 bytes")))
    }

    fn bytes(&mut self, what: &str) -> Result<&'a [u8], String> {
        let len = self.u32(what)? as usize;
        self.take(len, what)
    }

    fn stamp(&mut self) -> Result<Stamp, String> {
        Ok(Stamp { version: self.version()?, seq: self.u64("seq")? })
    }

    fn deadline(&mut self) -> Result<Option<u64>, String> {
        match self.u8("deadline flag")? {
            0 => Ok(None),
            1 => Ok(Some(self.u64("deadline")?)),
            other => Err(format!("bad deadline flag {other}")),
        }
    }

    fn version(&mut self) -> Result<Version, String> {
        let wall_ms = self.u64("wall_ms")?;
        let logical = self.u32("logical")?;
        Ok(Version { wall_ms, logical, node: NodeId(self.u64("origin")?) })
    }

    /// A HyperLogLog's deadline, base, stamps and compact registers.
    fn hll(&mut self) -> Result<(Option<u64>, EntryKind, &'a [u8]), String> {
        let deadline = self.deadline()?;
        let base = self.stamp()?;
        let count = self.u32("stamp count")? as usize;
        // Bounded by the bytes present before anything is allocated.
        if count > self.body.len() / 28 {
            return Err(format!("{count} stamps do not fit in the record"));
        }
        let stamps = (0..count).map(|_| self.stamp()).collect::<Result<_, String>>()?;
        let registers = self.bytes("registers")?;
        Ok((deadline, EntryKind::Hll { base, stamps }, registers))
    }

    /// A count of items of at least `each` bytes, bounded by the bytes present before anything
    /// is allocated.
    fn count(&mut self, what: &str, each: usize) -> Result<usize, String> {
        let count = self.u32(what)? as usize;
        if count > self.body.len() / each {
            return Err(format!("{count} {what} do not fit in the record"));
        }
        Ok(count)
    }

    fn stamps(&mut self, what: &str) -> Result<Vec<Stamp>, String> {
        let count = self.count(what, 28)?;
        (0..count).map(|_| self.stamp()).collect()
    }

    fn pairs(&mut self, what: &str) -> Result<Vec<(NodeId, u64)>, String> {
        let count = self.count(what, 16)?;
        (0..count).map(|_| Ok((NodeId(self.u64("origin")?), self.u64("sequence number")?))).collect()
    }

    fn element(&mut self) -> Result<EntryKind, String> {
        let count = self.count("adds", 32)?;
        let adds = (0..count)
            .map(|_| {
                Ok(ElementAdd { stamp: self.stamp()?, value: Bytes::copy_from_slice(self.bytes("element value")?) })
            })
            .collect::<Result<_, String>>()?;
        let removed = self.pairs("removed")?;
        let removals = self.stamps("removes")?;
        let count = self.count("increments", 72)?;
        let counts = (0..count)
            .map(|_| {
                let (stamp, base) = (self.stamp()?, self.stamp()?);
                Ok(ElementCount { stamp, base, int: self.u64("increment")? as i64, float_bits: self.u64("increment")? })
            })
            .collect::<Result<_, String>>()?;
        Ok(EntryKind::Element { adds, removed, removals, counts })
    }

    fn collection(&mut self) -> Result<(Option<u64>, EntryKind), String> {
        let byte = self.u8("collection type")?;
        let of = crate::collection::type_of_byte(byte).ok_or_else(|| format!("unknown collection type {byte}"))?;
        let deadline = self.deadline()?;
        let base = self.stamp()?;
        let expired_before = self.u64("expired before")?;
        let stamps = self.stamps("header stamps")?;
        let cleared = self.pairs("cleared")?;
        Ok((deadline, EntryKind::Collection { of, base, stamps, cleared, expired_before }))
    }

    fn counter(&mut self) -> Result<(Option<u64>, Counter), String> {
        let deadline = self.deadline()?;
        let base = self.stamp()?;
        let base_value = self.u64("base value")? as i64;
        let count = self.u32("contribution count")? as usize;
        // Bounded by the bytes present before anything is allocated.
        if count > self.body.len() / 36 {
            return Err(format!("{count} contributions do not fit in the record"));
        }
        let contributions = (0..count)
            .map(|_| Ok(Contribution { stamp: self.stamp()?, total: self.u64("total")? as i64 }))
            .collect::<Result<_, String>>()?;
        Ok((deadline, Counter { base, base_value, contributions }))
    }

    fn cursors(&mut self) -> Result<Cursors, String> {
        let count = self.u32("cursor count")? as usize;
        // Bounded by the bytes present before anything is allocated.
        if count > self.body.len() / 16 {
            return Err(format!("{count} cursors do not fit in the record"));
        }
        (0..count).map(|_| Ok((NodeId(self.u64("cursor origin")?), self.u64("cursor")?))).collect()
    }

    fn finish<T>(self, value: T) -> Result<T, String> {
        match self.body.len() {
            0 => Ok(value),
            extra => Err(format!("{extra} bytes left over after the record")),
        }
    }
}

/// Decodes a checked body; an error means corruption or a newer format, never a torn write.
pub fn decode_body(body: &[u8]) -> Result<LogRecord<'_>, String> {
    let mut fields = Fields { body };
    match fields.u8("tag")? {
        TAG_START => {
            let node = NodeId(fields.u64("node")?);
            let cursors = fields.cursors()?;
            fields.finish(LogRecord::Start { node, cursors })
        }
        TAG_ENTRY => {
            let key = fields.bytes("key")?;
            let (mut value, mut deadline_ms, mut kind) = (None, None, None);
            match fields.u8("value kind")? {
                KIND_TOMBSTONE => {}
                KIND_VALUE => value = Some(fields.bytes("value")?),
                KIND_EXPIRING_VALUE => {
                    deadline_ms = Some(fields.u64("deadline")?);
                    value = Some(fields.bytes("value")?);
                }
                KIND_COUNTER => {
                    let (deadline, state) = fields.counter()?;
                    (deadline_ms, kind) = (deadline, Some(EntryKind::Counter(state)));
                }
                KIND_EXPIRED_COUNTER => kind = Some(EntryKind::ExpiredCounter),
                KIND_HLL => {
                    let (deadline, hll, registers) = fields.hll()?;
                    (deadline_ms, kind, value) = (deadline, Some(hll), Some(registers));
                }
                KIND_EVICTED => kind = Some(EntryKind::Evicted { of: fields.version()? }),
                KIND_ELEMENT => kind = Some(fields.element()?),
                KIND_COLLECTION => {
                    let (deadline, header) = fields.collection()?;
                    (deadline_ms, kind) = (deadline, Some(header));
                }
                other => return Err(format!("unknown value kind {other}")),
            }
            let Stamp { version, seq } = fields.stamp()?;
            let entry = EntryRef { key, value, version, seq, deadline_ms, kind };
            fields.finish(LogRecord::Entry(entry))
        }
        TAG_FLUSH => {
            let stamp = fields.stamp()?;
            fields.finish(LogRecord::Flush(stamp, None))
        }
        TAG_FLUSH_DATABASE => {
            let db = fields.u8("database")?;
            let stamp = fields.stamp()?;
            fields.finish(LogRecord::Flush(stamp, Some(db)))
        }
        TAG_CURSORS => {
            let cursors = fields.cursors()?;
            fields.finish(LogRecord::Cursors(cursors))
        }
        TAG_SYNCED => {
            let offset = fields.u64("offset")?;
            fields.finish(LogRecord::Synced(offset))
        }
        other => Err(format!("unknown record tag {other} (written by a newer kvs?)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(i: u8, value: Option<&[u8]>) -> Record {
        Record::new(&[i], value, Version { wall_ms: 1, logical: 2, node: NodeId(3) }, i as u64)
    }

    fn decode_at(log: &[u8], start: usize) -> Result<LogRecord<'_>, String> {
        let end = frame_end(log, start, 1 << 20)?;
        decode_body(checked_body(log, start, end).ok_or("checksum mismatch")?)
    }

    #[test]
    fn every_record_kind_round_trips() {
        let mut log = Vec::new();
        let cursors = vec![(NodeId(1), 5), (NodeId(u64::MAX), u64::MAX)];
        encode_start(&mut log, NodeId(9), &cursors);
        let second = log.len();
        encode_entry(&mut log, &record(1, Some(b"value")));
        let third = log.len();
        encode_entry(&mut log, &record(2, None));
        let fourth = log.len();
        encode_cursors(&mut log, &cursors);
        let fifth = log.len();
        encode_synced(&mut log, 4096);
        assert_eq!(decode_at(&log, 0), Ok(LogRecord::Start { node: NodeId(9), cursors: cursors.clone() }));
        let version = Version { wall_ms: 1, logical: 2, node: NodeId(3) };
        let entry = |key, value, seq| LogRecord::Entry(EntryRef::plain(key, value, version, seq));
        assert_eq!(decode_at(&log, second), Ok(entry(&[1][..], Some(&b"value"[..]), 1)));
        assert_eq!(decode_at(&log, third), Ok(entry(&[2][..], None, 2)));
        assert_eq!(decode_at(&log, fourth), Ok(LogRecord::Cursors(cursors)));
        assert_eq!(decode_at(&log, fifth), Ok(LogRecord::Synced(4096)));
    }

    #[test]
    fn hyperloglogs_and_evictions_round_trip() {
        let stamp =
            |wall, node| Stamp { version: Version { wall_ms: wall, logical: 0, node: NodeId(node) }, seq: wall };
        let mut registers = crate::hll::Registers::default();
        registers.raise(7, 3);
        let hll = Record::hll(b"h", stamp(1, 1), &[stamp(2, 1), stamp(3, 2)], &registers.to_compact(), Some(99));
        let evicted = Record::evicted(b"e", stamp(4, 1).version, stamp(5, 2));
        for record in [hll, evicted] {
            let mut log = Vec::new();
            encode_entry(&mut log, &record);
            let Ok(LogRecord::Entry(entry)) = decode_at(&log, 0) else { panic!("not an entry") };
            let back = entry.to_record().unwrap();
            assert_eq!((back.key(), back.body(), back.stamp()), (record.key(), record.body(), record.stamp()));
            assert_eq!((back.deadline_ms(), back.rank()), (record.deadline_ms(), record.rank()));
        }
    }

    #[test]
    fn collection_elements_and_headers_round_trip() {
        use crate::collection::element::ElementState;
        use crate::collection::header::Header;
        use crate::collection::{element_key, CollectionType};
        let stamp =
            |wall, node| Stamp { version: Version { wall_ms: wall, logical: 0, node: NodeId(node) }, seq: wall };
        let added = ElementState::added(stamp(2, 1), Bytes::from_static(b"value"));
        let mut both = added.clone();
        both.merge(&ElementState::added(stamp(3, 2), Bytes::from_static(b"other")));
        let removed = both.removal(stamp(4, 3));
        let key = element_key(CollectionType::Hash, b"h", b"field");
        let header = Header::new(CollectionType::SortedSet, stamp(1, 1), vec![(NodeId(1), 7)]).written(stamp(5, 2));
        let mut expired = header.clone();
        expired.expired_before = 77;
        let records = [
            Record::element(&key, &added),
            Record::element(&key, &both),
            Record::element(&key, &removed),
            Record::collection(b"z", &header, Some(99)),
            Record::collection(b"z", &expired, None),
        ];
        for record in records {
            let mut log = Vec::new();
            encode_entry(&mut log, &record);
            let Ok(LogRecord::Entry(entry)) = decode_at(&log, 0) else { panic!("not an entry") };
            let back = entry.to_record().unwrap();
            assert_eq!((back.key(), back.body(), back.stamp()), (record.key(), record.body(), record.stamp()));
            assert_eq!((back.element_state(), back.header()), (record.element_state(), record.header()));
            assert_eq!((back.deadline_ms(), back.is_tombstone()), (record.deadline_ms(), record.is_tombstone()));
        }
    }

    #[test]
    fn every_cut_and_every_flipped_byte_is_detected() {
        let mut log = Vec::new();
        encode_entry(&mut log, &record(1, Some(b"v")));
        let first = log.len();
        encode_entry(&mut log, &record(2, Some(b"v")));
        for cut in first + 1..log.len() {
            assert!(frame_end(&log[..cut], first, 1 << 20).is_err(), "cut at {cut}");
        }
        for flip in first..log.len() {
            let mut bad = log.clone();
            bad[flip] ^= 0x40;
            let damaged = match frame_end(&bad, first, 1 << 20) {
                Ok(end) => checked_body(&bad, first, end).is_none() || end != log.len(),
                Err(_) => true,
            };
            assert!(damaged, "flip at {flip}");
        }
    }

    #[test]
    fn a_release_survives_the_header() {
        assert_eq!(release_name(release_code("0.2.0")).as_deref(), Some("0.2.0"));
        assert_eq!(release_name(release_code("12.34.56-rc1")).as_deref(), Some("12.34.56"));
        assert_eq!(file_header(3)[12..], [0; 4], "format 3 keeps the field as release 0.1.0 wrote it");
        assert_ne!(file_header(4)[12..], [0; 4]);
    }

    #[test]
    fn a_checksummed_body_that_does_not_decode_is_an_error_not_a_guess() {
        for body in [&[9u8][..], &[TAG_ENTRY, 200, 0, 0, 0][..], &[TAG_CURSORS, 0, 0, 0, 0, 7][..], &[][..]] {
            assert!(decode_body(body).is_err(), "{body:?}");
        }
        // A cursor count is checked against the bytes present before anything is allocated.
        assert!(decode_body(&[TAG_CURSORS, 255, 255, 255, 255]).unwrap_err().contains("do not fit"));
    }

    #[test]
    fn the_header_tells_current_legacy_newer_and_unstarted_files_apart() {
        let header = file_header(FORMAT_VERSION);
        assert_eq!(file_kind(&header), FileKind::Current(6));
        assert_eq!(file_kind(&file_header(5)), FileKind::Current(5));
        assert_eq!(file_kind(&file_header(4)), FileKind::Current(4));
        assert_eq!(file_kind(&file_header(3)), FileKind::Current(3));
        assert_eq!(file_kind(&header[..5]), FileKind::Unstarted);
        assert_eq!(file_kind(&file_header(3)[..10]), FileKind::Unstarted);
        assert_eq!(file_kind(&[]), FileKind::Unstarted);
        assert_eq!(file_kind(&[40, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]), FileKind::Legacy);
        let mut previous = header;
        previous[8] = 1;
        assert_eq!(file_kind(&previous), FileKind::Previous(1));
        let mut newer = header;
        newer[8] = 7;
        newer[12..16].copy_from_slice(&release_code("0.4.0").to_le_bytes());
        assert_eq!(file_kind(&newer), FileKind::Newer(7, Some("0.4.0".into())));
        newer[12..16].copy_from_slice(&[0; 4]);
        assert_eq!(file_kind(&newer), FileKind::Newer(7, None));
        // Found by the log_replay fuzz target: the magic, then a byte no header holds.
        assert_eq!(file_kind(b"KVSLOG\r\n\x91"), FileKind::BadHeader);
    }
}
