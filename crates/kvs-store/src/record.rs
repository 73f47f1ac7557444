//! [`Record`]: one key's entry in a single shared allocation.
//!
//! The store keeps millions of these, so their size is the store's size: one allocation holding
//! the version, the key length and the key and value bytes back to back, behind an 8-byte
//! reference-counted pointer. Cloning one (for the push log, a scan, an anti-entropy answer) is a refcount bump.

use bytes::Bytes;
use kvs_proto::peer::KeyedEntry;
use kvs_proto::{Contribution, Counter, Entry, EntryKind, NodeId, Stamp, Version};
use serde::de::{Deserialize, Deserializer, Error as _};
use serde::ser::{Serialize, SerializeStruct, SerializeTuple, Serializer};
use std::cell::RefCell;
use std::fmt;
use triomphe::ThinArc;

/// Packed so the header is 32 bytes: the version's fields, the origin sequence number, and the
/// key length with the record's flags.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Header {
    wall_ms: u64,
    node: u64,
    seq: u64,
    logical: u32,
    /// Key length in the low 28 bits; the top four are the flags below.
    key_len_and_flags: u32,
}

const TOMBSTONE_BIT: u32 = 1 << 31;
/// An 8-byte deadline follows the key.
const DEADLINE_BIT: u32 = 1 << 30;
/// The body is a counter (see [`CounterView`]), not a value.
const COUNTER_BIT: u32 = 1 << 29;
/// A replicated flush: empty key, no body.
const FLUSH_BIT: u32 = 1 << 28;
const KEY_MASK: u32 = FLUSH_BIT - 1;

/// Longest key a record can hold.
pub const MAX_RECORD_KEY_BYTES: usize = KEY_MASK as usize;

/// Bytes of a stamp in a counter body: wall u64, logical u32, node u64, seq u64.
const STAMP_BYTES: usize = 28;
/// Bytes of a counter body's head (base stamp, base value) and of each contribution.
const COUNTER_PART_BYTES: usize = STAMP_BYTES + 8;

/// A key with its latest value (or tombstone, counter, flush) and version.
#[derive(Clone)]
pub struct Record(ThinArc<Header, u8>);

/// What a record holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Body<'a> {
    /// A delete marker (also what an expired key becomes).
    Tombstone,
    /// A plain value.
    Value(&'a [u8]),
    /// A counter.
    Counter(CounterView<'a>),
    /// A replicated flush.
    Flush,
}

/// A counter's state, read in place from a record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CounterView<'a>(&'a [u8]);

fn put_stamp(out: &mut Vec<u8>, stamp: &Stamp) {
    out.extend_from_slice(&stamp.version.wall_ms.to_le_bytes());
    out.extend_from_slice(&stamp.version.logical.to_le_bytes());
    out.extend_from_slice(&stamp.version.node.0.to_le_bytes());
    out.extend_from_slice(&stamp.seq.to_le_bytes());
}

/// A contribution as a counter body holds it: its stamp, then its total.
fn put_contribution(out: &mut Vec<u8>, part: &Contribution) {
    put_stamp(out, &part.stamp);
    out.extend_from_slice(&part.total.to_le_bytes());
}

fn le_u64(bytes: &[u8]) -> u64 {
    u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes"))
}

fn read_stamp(bytes: &[u8]) -> Stamp {
    let logical = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes"));
    let version = Version { wall_ms: le_u64(bytes), logical, node: NodeId(le_u64(&bytes[12..])) };
    Stamp { version, seq: le_u64(&bytes[20..]) }
}

impl<'a> CounterView<'a> {
    /// The write the counter started from.
    pub fn base(&self) -> Stamp {
        read_stamp(self.0)
    }

    /// The value at the base.
    pub fn base_value(&self) -> i64 {
        le_u64(&self.0[STAMP_BYTES..]) as i64
    }

    /// Each node's part, sorted by node.
    pub fn contributions(&self) -> impl Iterator<Item = Contribution> + 'a {
        self.0[COUNTER_PART_BYTES..]
            .chunks_exact(COUNTER_PART_BYTES)
            .map(|part| Contribution { stamp: read_stamp(part), total: le_u64(&part[STAMP_BYTES..]) as i64 })
    }

    /// The counter's value: the base plus every node's part (wider than `i64`, so no sum of
    /// in-range parts overflows; a value outside `i64` makes INCR refuse).
    pub fn sum(&self) -> i128 {
        self.base_value() as i128 + self.contributions().map(|c| c.total as i128).sum::<i128>()
    }

    /// An owned copy.
    pub fn to_counter(&self) -> Counter {
        Counter { base: self.base(), base_value: self.base_value(), contributions: self.contributions().collect() }
    }
}

/// The writes a record carries (see [`Record::stamps`]).
#[derive(Clone, Debug)]
pub enum Stamps<'a> {
    /// A value's, tombstone's or flush's one write.
    One(Option<Stamp>),
    /// A counter's contributions, each read in place.
    Parts(std::slice::ChunksExact<'a, u8>),
}

impl Iterator for Stamps<'_> {
    type Item = Stamp;

    fn next(&mut self) -> Option<Stamp> {
        match self {
            Stamps::One(stamp) => stamp.take(),
            Stamps::Parts(parts) => parts.next().map(read_stamp),
        }
    }
}

/// Why a wire entry cannot be a record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum InvalidEntry {
    /// A counter without contributions, with contributions out of order or not after its base,
    /// or whose version is not its newest stamp.
    #[error("malformed counter")]
    Counter,
    /// A flush with a key or a value.
    #[error("malformed flush")]
    Flush,
    /// A key too long for a record.
    #[error("key too long")]
    Key,
}

thread_local! {
    /// Where key and value are laid side by side before being copied into a record in one memcpy.
    static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Scratch space beyond this is released after use, so one huge value does not pin memory.
const SCRATCH_KEEP_BYTES: usize = 64 * 1024;

impl Record {
    /// Builds a record; `value: None` is a tombstone; `seq` numbers the write among its origin's
    /// (`version.node`) writes. Panics if the key exceeds [`MAX_RECORD_KEY_BYTES`] (nodes bound keys
    /// far below that).
    pub fn new(key: &[u8], value: Option<&[u8]>, version: Version, seq: u64) -> Record {
        Record::plain(key, value, Stamp { version, seq }, None)
    }

    /// A value (`None`: a tombstone, which never has a deadline) that expires at `deadline_ms`.
    pub fn plain(key: &[u8], value: Option<&[u8]>, stamp: Stamp, deadline_ms: Option<u64>) -> Record {
        let (flags, deadline_ms) = match value {
            None => (TOMBSTONE_BIT, None),
            Some(_) => (0, deadline_ms),
        };
        Record::build(key, stamp, flags, deadline_ms, |out| out.extend_from_slice(value.unwrap_or_default()))
    }

    /// A counter expiring at `deadline_ms`; stamped with its newest contribution. Panics without
    /// contributions (every counter is made by an increment).
    pub fn counter(key: &[u8], counter: &Counter, deadline_ms: Option<u64>) -> Record {
        let newest = counter.contributions.iter().map(|c| c.stamp).max_by_key(|s| s.version).expect("a contribution");
        Record::build(key, newest, COUNTER_BIT, deadline_ms, |out| {
            put_stamp(out, &counter.base);
            out.extend_from_slice(&counter.base_value.to_le_bytes());
            for part in &counter.contributions {
                put_contribution(out, part);
            }
        })
    }

    /// The counter `view` with `part` in place of its node's contribution (or added, in node
    /// order), expiring at `deadline_ms`: an increment, without building an owned counter.
    pub fn counter_with(key: &[u8], view: CounterView<'_>, part: Contribution, deadline_ms: Option<u64>) -> Record {
        let node = part.stamp.version.node;
        let others = view.contributions().filter(|c| c.stamp.version.node != node);
        let newest = others.map(|c| c.stamp).chain([part.stamp]).max_by_key(|s| s.version).expect("one stamp");
        Record::build(key, newest, COUNTER_BIT, deadline_ms, |out| {
            out.extend_from_slice(&view.0[..COUNTER_PART_BYTES]);
            let mut placed = false;
            for c in view.contributions() {
                let at = c.stamp.version.node;
                if !placed && at >= node {
                    put_contribution(out, &part);
                    placed = true;
                }
                if at != node {
                    put_contribution(out, &c);
                }
            }
            if !placed {
                put_contribution(out, &part);
            }
        })
    }

    /// A replicated flush made by the write `stamp`.
    pub fn flush(stamp: Stamp) -> Record {
        Record::build(b"", stamp, FLUSH_BIT, None, |_| {})
    }

    fn build(
        key: &[u8],
        stamp: Stamp,
        flags: u32,
        deadline_ms: Option<u64>,
        body: impl FnOnce(&mut Vec<u8>),
    ) -> Record {
        assert!(key.len() <= MAX_RECORD_KEY_BYTES, "key of {} bytes is too long for a record", key.len());
        let flags = flags | if deadline_ms.is_some() { DEADLINE_BIT } else { 0 };
        let header = Header {
            wall_ms: stamp.version.wall_ms,
            node: stamp.version.node.0,
            seq: stamp.seq,
            logical: stamp.version.logical,
            key_len_and_flags: key.len() as u32 | flags,
        };
        SCRATCH.with_borrow_mut(|scratch| {
            scratch.clear();
            scratch.extend_from_slice(key);
            if let Some(deadline) = deadline_ms {
                scratch.extend_from_slice(&deadline.to_le_bytes());
            }
            body(scratch);
            let record = Record(ThinArc::from_header_and_slice(header, scratch));
            if scratch.capacity() > SCRATCH_KEEP_BYTES {
                *scratch = Vec::new();
            }
            record
        })
    }

    /// A record from a wire entry (copies the bytes into one allocation), if it is well formed.
    pub fn from_entry(key: &[u8], entry: &Entry) -> Result<Record, InvalidEntry> {
        let stamp = Stamp { version: entry.version, seq: entry.seq };
        Record::from_parts(key, entry.value.as_deref(), stamp, entry.expires_at_ms, &entry.kind)
    }

    /// A record from the parts of a wire entry, if they are well formed.
    fn from_parts(
        key: &[u8],
        value: Option<&[u8]>,
        stamp: Stamp,
        expires_at_ms: Option<u64>,
        kind: &EntryKind,
    ) -> Result<Record, InvalidEntry> {
        if key.len() > MAX_RECORD_KEY_BYTES {
            return Err(InvalidEntry::Key);
        }
        match kind {
            EntryKind::Plain => Ok(Record::plain(key, value, stamp, expires_at_ms)),
            EntryKind::Flush if key.is_empty() && value.is_none() => Ok(Record::flush(stamp)),
            EntryKind::Flush => Err(InvalidEntry::Flush),
            EntryKind::ExpiredCounter if value.is_none() => Ok(Record::expired_counter(key, stamp)),
            EntryKind::ExpiredCounter => Err(InvalidEntry::Counter),
            EntryKind::Counter(counter) => {
                let parts = &counter.contributions;
                let ordered = parts.windows(2).all(|w| w[0].stamp.version.node < w[1].stamp.version.node);
                // A counter restarted over an expired one is based on its own first increment.
                let after_base = parts.iter().all(|c| c.stamp.version >= counter.base.version && c.stamp.seq > 0);
                let newest = parts.iter().map(|c| c.stamp).max_by_key(|s| s.version);
                // A deadline comes from the base write, so a counter that has one has a real base.
                let based = expires_at_ms.is_none() || counter.base.seq > 0;
                if !ordered || !after_base || newest != Some(stamp) || value.is_some() || !based {
                    return Err(InvalidEntry::Counter);
                }
                Ok(Record::counter(key, counter, expires_at_ms))
            }
        }
    }

    fn header(&self) -> &Header {
        &self.0.header.header
    }

    fn flags(&self) -> u32 {
        self.header().key_len_and_flags & !KEY_MASK
    }

    fn key_len(&self) -> usize {
        (self.header().key_len_and_flags & KEY_MASK) as usize
    }

    fn body_start(&self) -> usize {
        self.key_len() + if self.flags() & DEADLINE_BIT != 0 { 8 } else { 0 }
    }

    /// The key.
    pub fn key(&self) -> &[u8] {
        &self.0.slice[..self.key_len()]
    }

    /// What it holds.
    pub fn body(&self) -> Body<'_> {
        let flags = self.flags();
        let body = &self.0.slice[self.body_start()..];
        if flags & TOMBSTONE_BIT != 0 {
            Body::Tombstone
        } else if flags & COUNTER_BIT != 0 {
            Body::Counter(CounterView(body))
        } else if flags & FLUSH_BIT != 0 {
            Body::Flush
        } else {
            Body::Value(body)
        }
    }

    /// The plain value; `None` for a tombstone, a counter or a flush (deadlines not considered).
    pub fn value(&self) -> Option<&[u8]> {
        match self.body() {
            Body::Value(value) => Some(value),
            _ => None,
        }
    }

    /// What a read of the key returns (deadlines not considered): the value, or a counter's sum
    /// in decimal; `None` for a tombstone or a flush.
    pub fn read_bytes(&self) -> Option<Vec<u8>> {
        match self.body() {
            Body::Value(value) => Some(value.to_vec()),
            Body::Counter(counter) => Some(counter.sum().to_string().into_bytes()),
            Body::Tombstone | Body::Flush => None,
        }
    }

    /// When the key expires (Unix milliseconds), if it does.
    pub fn deadline_ms(&self) -> Option<u64> {
        (self.flags() & DEADLINE_BIT != 0).then(|| le_u64(&self.0.slice[self.key_len()..]))
    }

    /// Whether the key has expired at `now_ms`.
    pub fn is_expired_at(&self, now_ms: u64) -> bool {
        self.deadline_ms().is_some_and(|deadline| deadline <= now_ms)
    }

    /// Whether this is a value or counter that has not expired at `now_ms`.
    pub fn is_live_at(&self, now_ms: u64) -> bool {
        self.flags() & (TOMBSTONE_BIT | FLUSH_BIT) == 0 && !self.is_expired_at(now_ms)
    }

    /// Whether this record is a delete marker.
    pub fn is_tombstone(&self) -> bool {
        self.flags() & TOMBSTONE_BIT != 0
    }

    /// Whether this record is a live counter (not one expired to a tombstone).
    pub fn is_counter(&self) -> bool {
        self.flags() & (COUNTER_BIT | TOMBSTONE_BIT) == COUNTER_BIT
    }

    /// Whether this record is a replicated flush.
    pub fn is_flush(&self) -> bool {
        self.flags() & FLUSH_BIT != 0
    }

    /// The version of its newest write (for a counter, its newest contribution).
    pub fn version(&self) -> Version {
        let h = self.header();
        Version { wall_ms: h.wall_ms, logical: h.logical, node: NodeId(h.node) }
    }

    /// The newest write's stamp.
    pub fn stamp(&self) -> Stamp {
        Stamp { version: self.version(), seq: self.seq() }
    }

    /// The node that made the newest write.
    pub fn origin(&self) -> NodeId {
        NodeId(self.header().node)
    }

    /// The newest write's position among its origin's writes.
    pub fn seq(&self) -> u64 {
        self.header().seq
    }

    /// Every write whose effect this record carries, for anti-entropy: the one write of a value,
    /// tombstone or flush; each node's latest increment of a counter (its base is another write,
    /// carried by every contribution).
    ///
    /// One branch per step rather than a chain of two iterators: the origin index walks these on
    /// every write, and the chained form cost ~2% of a node's samples under INCR.
    pub fn stamps(&self) -> Stamps<'_> {
        match self.body() {
            Body::Counter(counter) => Stamps::Parts(counter.0[COUNTER_PART_BYTES..].chunks_exact(COUNTER_PART_BYTES)),
            _ => Stamps::One(Some(self.stamp())),
        }
    }

    /// Where this record stands against another of its key: the larger survives a merge.
    ///
    /// A value or tombstone ranks by its version; a counter by its base, above the base write
    /// itself, so a counter beats the write it started from and any older one, while a write it
    /// never saw (a larger version) resets it, concurrent increments included. At equal version
    /// a tombstone beats a value, since that tombstone is the value expired.
    pub fn rank(&self) -> (Version, u8) {
        match self.body() {
            Body::Value(_) => (self.version(), 0),
            Body::Tombstone if self.is_expired_counter() => (self.version(), 3),
            Body::Tombstone | Body::Flush => (self.version(), 1),
            Body::Counter(counter) => (counter.base().version, 2),
        }
    }

    /// Whether this is the tombstone a counter expired to: stamped with the counter's base and
    /// ranked above every counter of that base, so no copy of the counter revives it.
    pub fn is_expired_counter(&self) -> bool {
        self.flags() & (TOMBSTONE_BIT | COUNTER_BIT) == TOMBSTONE_BIT | COUNTER_BIT
    }

    /// The tombstone a counter of base `base` expires to.
    pub fn expired_counter(key: &[u8], base: Stamp) -> Record {
        Record::build(key, base, TOMBSTONE_BIT | COUNTER_BIT, None, |_| {})
    }

    /// What the record becomes once expired: a tombstone at the write it expires by (a value's
    /// own, a counter's base), so every node reaches the same one whatever increments it saw.
    pub fn expired(&self) -> Record {
        match self.body() {
            Body::Counter(counter) => Record::expired_counter(self.key(), counter.base()),
            _ => Record::plain(self.key(), None, self.stamp(), None),
        }
    }

    /// Key, value and counter bytes together, to bound batch sizes.
    pub fn payload_len(&self) -> usize {
        self.0.slice.len()
    }

    /// Whether two handles share one allocation.
    pub fn same_as(&self, other: &Record) -> bool {
        std::ptr::eq(self.0.ptr(), other.0.ptr())
    }

    /// The wire form (copies the bytes).
    pub fn to_keyed_entry(&self) -> KeyedEntry {
        (Bytes::copy_from_slice(self.key()), self.to_entry())
    }

    fn to_entry(&self) -> Entry {
        let value = self.value().map(Bytes::copy_from_slice);
        let (version, seq, expires_at_ms) = (self.version(), self.seq(), self.deadline_ms());
        Entry { value, version, seq, expires_at_ms, kind: self.entry_kind() }
    }

    fn entry_kind(&self) -> EntryKind {
        match self.body() {
            Body::Counter(counter) => EntryKind::Counter(counter.to_counter()),
            Body::Flush => EntryKind::Flush,
            Body::Tombstone if self.is_expired_counter() => EntryKind::ExpiredCounter,
            Body::Value(_) | Body::Tombstone => EntryKind::Plain,
        }
    }
}

impl fmt::Debug for Record {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Record")
            .field("key", &String::from_utf8_lossy(self.key()))
            .field("value", &self.value().map(String::from_utf8_lossy))
            .field("version", &self.version())
            .finish()
    }
}

/// Bytes serialized as a byte string, like `Bytes` is.
struct RawBytes<'a>(&'a [u8]);

impl Serialize for RawBytes<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(self.0)
    }
}

/// Serializes exactly like a [`KeyedEntry`], so a record goes on the wire without its value
/// being copied and the receiver decodes it as a `KeyedEntry`.
/// An [`Entry`] as it arrives, its bytes still in the received frame: a [`Record`] decodes
/// through it, so a replica copies a pushed key and value once, into the record, instead of
/// first into buffers of their own.
#[derive(serde::Deserialize)]
struct EntryInFrame<'a> {
    #[serde(borrow)]
    value: Option<&'a [u8]>,
    version: Version,
    seq: u64,
    expires_at_ms: Option<u64>,
    kind: EntryKind,
}

/// Decodes what [`KeyedEntry`] encodes (and a record serializes to), refusing an entry that is
/// not well formed; decoders must lend bytes from their input (the peer frames' bincode does).
impl<'de> Deserialize<'de> for Record {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Record, D::Error> {
        let (key, entry): (&'de [u8], EntryInFrame<'de>) = Deserialize::deserialize(deserializer)?;
        let stamp = Stamp { version: entry.version, seq: entry.seq };
        Record::from_parts(key, entry.value, stamp, entry.expires_at_ms, &entry.kind).map_err(D::Error::custom)
    }
}

impl Serialize for Record {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        struct EntryView<'a>(&'a Record);
        impl Serialize for EntryView<'_> {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                let record = self.0;
                let mut entry = serializer.serialize_struct("Entry", 5)?;
                entry.serialize_field("value", &record.value().map(RawBytes))?;
                entry.serialize_field("version", &record.version())?;
                entry.serialize_field("seq", &record.seq())?;
                entry.serialize_field("expires_at_ms", &record.deadline_ms())?;
                entry.serialize_field("kind", &record.entry_kind())?;
                entry.end()
            }
        }
        let mut tuple = serializer.serialize_tuple(2)?;
        tuple.serialize_element(&RawBytes(self.key()))?;
        tuple.serialize_element(&EntryView(self))?;
        tuple.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kvs_proto::encoding::encode;
    use kvs_proto::PeerMessage;

    fn version() -> Version {
        Version { wall_ms: 1_700_000_000_000, logical: 3, node: NodeId(42) }
    }

    #[test]
    fn holds_key_value_and_version() {
        let record = Record::new(b"key", Some(b"value"), version(), 9);
        assert_eq!((record.key(), record.value(), record.version()), (&b"key"[..], Some(&b"value"[..]), version()));
        assert_eq!((record.origin(), record.seq()), (NodeId(42), 9));
        let tombstone = Record::new(b"key", None, version(), 10);
        assert!(tombstone.is_tombstone());
        assert_eq!(tombstone.value(), None);
        assert_eq!(Record::new(b"", Some(b""), version(), 1).value(), Some(&b""[..]));
    }

    #[test]
    fn encodes_exactly_like_the_wire_entry() {
        for record in [Record::new(b"k", Some(b"v"), version(), 1), Record::new(b"gone", None, version(), 300)] {
            let as_records = PeerMessage::Entries { entries: vec![record.clone()] };
            let as_entries: PeerMessage = PeerMessage::Entries { entries: vec![record.to_keyed_entry()] };
            assert_eq!(encode(&as_records).unwrap(), encode(&as_entries).unwrap());
        }
    }
}
