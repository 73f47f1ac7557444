//! [`Record`]: one key's entry in a single shared allocation.
//!
//! The store keeps millions of these, so their size is the store's size: one allocation holding
//! the version, the key length and the key and value bytes back to back, behind an 8-byte
//! reference-counted pointer ([`packed`]). Cloning one (for the push log, a scan, an anti-entropy
//! answer) is a refcount bump.

mod collection;
mod counter;
mod evicted;
mod hll;
mod origins;
// The one exception to the crate's `deny(unsafe_code)`: a hand-written thin reference-counted
// allocation (why, and each block's safety argument, in the module).
#[allow(unsafe_code)]
mod packed;
mod wire;

use counter::{le_u64, put_contribution, put_stamp, COUNTER_PART_BYTES, STAMP_BYTES};
pub use counter::{CounterView, Stamps};
pub use hll::HllView;
use packed::{Fields, Packed};

use bytes::Bytes;
use kvs_proto::peer::KeyedEntry;
use kvs_proto::{Contribution, Counter, Entry, EntryKind, NodeId, Stamp, Version};
use std::cell::RefCell;
use std::fmt;

const TOMBSTONE_BIT: u32 = 1 << 31;
/// An 8-byte deadline follows the key.
const DEADLINE_BIT: u32 = 1 << 30;
/// The body is a counter (see [`CounterView`]), not a value.
const COUNTER_BIT: u32 = 1 << 29;
/// A replicated flush: empty key, no body.
const FLUSH_BIT: u32 = 1 << 28;
/// The body is a HyperLogLog (see [`HllView`]).
const HLL_BIT: u32 = 1 << 27;
/// With the tombstone bit: an eviction, whose body is the version of the write it evicted.
const EVICTED_BIT: u32 = 1 << 26;
/// The body is a collection element's state (with the tombstone bit: no add survives).
const ELEMENT_BIT: u32 = 1 << 25;
/// The body is a collection's header.
const COLLECTION_BIT: u32 = 1 << 24;
const KEY_MASK: u32 = COLLECTION_BIT - 1;

/// Longest key a record can hold.
pub(crate) const MAX_RECORD_KEY_BYTES: usize = KEY_MASK as usize;

/// Most bytes (key, deadline and value or counter) a record can hold.
pub const MAX_RECORD_BYTES: usize = packed::MAX_BYTES;

/// A key with its latest value (or tombstone, counter, flush) and version.
#[derive(Clone)]
pub struct Record(Packed);

/// What a record holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Body<'a> {
    /// A delete marker (also what an expired key becomes).
    Tombstone,
    /// A plain value.
    Value(&'a [u8]),
    /// A counter.
    Counter(CounterView<'a>),
    /// A HyperLogLog.
    Hll(HllView<'a>),
    /// A replicated flush.
    Flush,
    /// A collection element (see [`Record::element_state`]).
    Element,
    /// A collection's header (see [`Record::header`]).
    Collection,
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
    /// A HyperLogLog whose stamps are out of order or not after its base, or whose registers are
    /// not in compact form.
    #[error("malformed HyperLogLog")]
    Hll,
    /// An eviction with a value or a deadline, or of a write not older than itself.
    #[error("malformed eviction")]
    Evicted,
    /// A collection element whose lists are out of order, whose key is not an element's, or
    /// whose version is not its newest stamp.
    #[error("malformed collection element")]
    Element,
    /// A collection header whose stamps are out of order or not after its base, or at an
    /// element's or a flush's key.
    #[error("malformed collection header")]
    Collection,
    /// A delete with a deadline: no record holds one (a tombstone never expires), so it would
    /// not read back as what was sent.
    #[error("malformed delete")]
    Tombstone,
    /// A key too long for a record.
    #[error("key too long")]
    Key,
    /// A sequence number of 2^48 or more, which no origin reaches.
    #[error("sequence number out of range")]
    Seq,
    /// More bytes than a record holds ([`MAX_RECORD_BYTES`]).
    #[error("record too large")]
    Size,
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
    pub(crate) fn counter_with(
        key: &[u8],
        view: CounterView<'_>,
        part: Contribution,
        deadline_ms: Option<u64>,
    ) -> Record {
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

    /// A replicated flush made by the write `stamp`: of every database (FLUSHALL, `None`) or of
    /// one (FLUSHDB; its key is the database's prefix, see [`crate::databases`]).
    pub fn flush(stamp: Stamp, database: Option<u8>) -> Record {
        match database {
            None => Record::build(b"", stamp, FLUSH_BIT, None, |_| {}),
            Some(db) => Record::build(&crate::databases::flush_key(db), stamp, FLUSH_BIT, None, |_| {}),
        }
    }

    /// The database a flush clears (`None`: every one).
    pub fn flushed_database(&self) -> Option<u8> {
        (!self.key().is_empty()).then(|| crate::databases::database_of(self.key()))
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
        let fields = Fields {
            wall_ms: stamp.version.wall_ms,
            seq: stamp.seq,
            logical: stamp.version.logical,
            origin: origins::number(stamp.version.node),
            key_len_and_flags: key.len() as u32 | flags,
        };
        SCRATCH.with_borrow_mut(|scratch| {
            scratch.clear();
            scratch.extend_from_slice(key);
            if let Some(deadline) = deadline_ms {
                scratch.extend_from_slice(&deadline.to_le_bytes());
            }
            body(scratch);
            let record = Record(Packed::new(fields, crate::access::fresh(), scratch));
            if scratch.capacity() > SCRATCH_KEEP_BYTES {
                *scratch = Vec::new();
            }
            record
        })
    }

    /// A record from a wire entry (copies the bytes into one allocation), if it is well formed.
    #[cfg(test)]
    pub(crate) fn from_entry(key: &[u8], entry: &Entry) -> Result<Record, InvalidEntry> {
        let stamp = Stamp { version: entry.version, seq: entry.seq };
        Record::from_parts(key, entry.value.as_deref(), stamp, entry.expires_at_ms, &entry.kind)
    }

    /// A record from the parts of a wire entry, if they are well formed.
    pub(crate) fn from_parts(
        key: &[u8],
        value: Option<&[u8]>,
        stamp: Stamp,
        expires_at_ms: Option<u64>,
        kind: &EntryKind,
    ) -> Result<Record, InvalidEntry> {
        if key.len() > MAX_RECORD_KEY_BYTES {
            return Err(InvalidEntry::Key);
        }
        if stamp.seq >= packed::SEQ_LIMIT {
            return Err(InvalidEntry::Seq);
        }
        // An element's key holds only an element, so no other record can stand in its place.
        if crate::collection::is_element_key(key) && !matches!(kind, EntryKind::Element { .. }) {
            return Err(InvalidEntry::Element);
        }
        let body_bytes = match kind {
            EntryKind::Counter(counter) => (1 + counter.contributions.len()).saturating_mul(COUNTER_PART_BYTES),
            EntryKind::Hll { stamps, .. } => {
                (1 + stamps.len()).saturating_mul(STAMP_BYTES).saturating_add(value.map_or(0, <[u8]>::len))
            }
            EntryKind::Element { adds, removed, removals, counts } => adds
                .iter()
                .map(|add| STAMP_BYTES + 4 + add.value.len())
                .fold(16usize, usize::saturating_add)
                .saturating_add(removed.len().saturating_mul(16))
                .saturating_add(removals.len().saturating_mul(STAMP_BYTES))
                .saturating_add(counts.len().saturating_mul(2 * STAMP_BYTES + 16)),
            EntryKind::Collection { stamps, cleared, .. } => {
                (2 + stamps.len()).saturating_mul(STAMP_BYTES).saturating_add(cleared.len().saturating_mul(16))
            }
            _ => value.map_or(0, <[u8]>::len),
        };
        // The deadline's 8 bytes may come too.
        if key.len().saturating_add(body_bytes).saturating_add(8) > MAX_RECORD_BYTES {
            return Err(InvalidEntry::Size);
        }
        match kind {
            EntryKind::Plain if value.is_none() && expires_at_ms.is_some() => Err(InvalidEntry::Tombstone),
            EntryKind::Plain => Ok(Record::plain(key, value, stamp, expires_at_ms)),
            EntryKind::Flush if crate::databases::is_flush_key(key) && value.is_none() => {
                Ok(Record::flush(stamp, (!key.is_empty()).then(|| crate::databases::database_of(key))))
            }
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
            EntryKind::Hll { base, stamps } => {
                let ordered = stamps.windows(2).all(|w| w[0].version.node < w[1].version.node);
                let after_base = stamps.iter().all(|s| s.version >= base.version && s.seq > 0);
                let newest = stamps.iter().copied().max_by_key(|s| s.version);
                let registers = value.filter(|v| crate::hll::is_compact(v));
                match registers {
                    Some(registers) if ordered && after_base && newest == Some(stamp) => {
                        Ok(Record::hll(key, *base, stamps, registers, expires_at_ms))
                    }
                    _ => Err(InvalidEntry::Hll),
                }
            }
            // An eviction removes a write it saw, so one older than itself: an `of` ahead of its
            // own version (which the clock bound checks) would block every write to the key until
            // the clocks reached it.
            EntryKind::Evicted { of } if value.is_none() && expires_at_ms.is_none() && *of < stamp.version => {
                Ok(Record::evicted(key, *of, stamp))
            }
            EntryKind::Evicted { .. } => Err(InvalidEntry::Evicted),
            EntryKind::Element { adds, removed, removals, counts } => {
                let state = crate::collection::element::ElementState::from_wire(adds, removed, removals, counts)
                    .map_err(|_| InvalidEntry::Element)?;
                // A list element's name is a position, which pushes and inserts read back.
                let well_placed = match crate::collection::split_element_key(key) {
                    Some((kvs_proto::CollectionType::List, _, name)) => {
                        crate::collection::position::Position::from_bytes(name).is_ok()
                    }
                    placed => placed.is_some(),
                };
                if !well_placed || value.is_some() || expires_at_ms.is_some() || state.newest() != stamp {
                    return Err(InvalidEntry::Element);
                }
                Ok(Record::element(key, &state))
            }
            EntryKind::Collection { of, base, stamps, cleared, expired_before } => {
                let header = crate::collection::header::Header::from_wire(*of, *base, stamps, cleared, *expired_before)
                    .map_err(|_| InvalidEntry::Collection)?;
                let at_a_key = !crate::collection::is_element_key(key) && !crate::databases::is_flush_key(key);
                if !at_a_key || value.is_some() || header.newest() != stamp {
                    return Err(InvalidEntry::Collection);
                }
                Ok(Record::collection(key, &header, expires_at_ms))
            }
        }
    }

    fn flags(&self) -> u32 {
        self.0.key_len_and_flags() & !KEY_MASK
    }

    fn key_len(&self) -> usize {
        (self.0.key_len_and_flags() & KEY_MASK) as usize
    }

    fn body_start(&self) -> usize {
        self.key_len() + if self.flags() & DEADLINE_BIT != 0 { 8 } else { 0 }
    }

    /// The bytes after the key and deadline.
    fn raw_body(&self) -> &[u8] {
        &self.0.bytes()[self.body_start()..]
    }

    /// The key.
    pub fn key(&self) -> &[u8] {
        &self.0.bytes()[..self.key_len()]
    }

    /// What it holds.
    pub fn body(&self) -> Body<'_> {
        let flags = self.flags();
        let body = &self.0.bytes()[self.body_start()..];
        if flags & ELEMENT_BIT != 0 {
            Body::Element
        } else if flags & COLLECTION_BIT != 0 {
            Body::Collection
        } else if flags & TOMBSTONE_BIT != 0 {
            Body::Tombstone
        } else if flags & COUNTER_BIT != 0 {
            Body::Counter(CounterView(body))
        } else if flags & HLL_BIT != 0 {
            Body::Hll(HllView(body))
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

    /// What a read of the key returns (deadlines not considered): the value, a counter's sum
    /// in decimal, or a HyperLogLog as Redis's string; `None` for a tombstone or a flush.
    pub fn read_bytes(&self) -> Option<Vec<u8>> {
        match self.body() {
            Body::Value(value) => Some(value.to_vec()),
            Body::Counter(counter) => Some(counter.sum().to_string().into_bytes()),
            Body::Hll(hll) => Some(hll.registers().to_redis_string()),
            Body::Tombstone | Body::Flush | Body::Element | Body::Collection => None,
        }
    }

    /// When the key expires (Unix milliseconds), if it does.
    pub fn deadline_ms(&self) -> Option<u64> {
        (self.flags() & DEADLINE_BIT != 0).then(|| le_u64(&self.0.bytes()[self.key_len()..]))
    }

    /// Whether the key has expired at `now_ms`.
    pub fn is_expired_at(&self, now_ms: u64) -> bool {
        self.deadline_ms().is_some_and(|deadline| deadline <= now_ms)
    }

    /// Whether this is a value, counter, HyperLogLog or collection header that has not expired
    /// at `now_ms` (an element is part of its collection, never a key of its own; whether a
    /// header's collection has an element left is the store's to say).
    pub fn is_live_at(&self, now_ms: u64) -> bool {
        self.flags() & (TOMBSTONE_BIT | FLUSH_BIT | ELEMENT_BIT) == 0 && !self.is_expired_at(now_ms)
    }

    /// Whether this record is a delete marker.
    pub(crate) fn is_tombstone(&self) -> bool {
        self.flags() & TOMBSTONE_BIT != 0
    }

    /// Whether this record is a replicated flush.
    pub fn is_flush(&self) -> bool {
        self.flags() & FLUSH_BIT != 0
    }

    /// The version of its newest write (for a counter, its newest contribution).
    pub fn version(&self) -> Version {
        let Fields { wall_ms, logical, origin, .. } = self.0.fields();
        Version { wall_ms, logical, node: origins::id(origin) }
    }

    /// The newest write's stamp.
    pub fn stamp(&self) -> Stamp {
        Stamp { version: self.version(), seq: self.seq() }
    }

    /// The node that made the newest write.
    pub fn origin(&self) -> NodeId {
        origins::id(self.0.fields().origin)
    }

    /// The newest write's position among its origin's writes.
    pub fn seq(&self) -> u64 {
        self.0.fields().seq
    }

    /// Every write whose effect this record carries, for anti-entropy: the one write of a value,
    /// tombstone or flush; each node's latest increment of a counter (its base is another write,
    /// carried by every contribution).
    ///
    /// One branch per step rather than a chain of two iterators: the origin index walks these on
    /// every write, and the chained form cost ~2% of a node's samples under INCR.
    pub(crate) fn stamps(&self) -> Stamps<'_> {
        match self.body() {
            Body::Counter(counter) => Stamps::Parts(counter.0[COUNTER_PART_BYTES..].chunks_exact(COUNTER_PART_BYTES)),
            Body::Hll(hll) => Stamps::Bare(hll.stamp_bytes().chunks_exact(STAMP_BYTES)),
            Body::Element if self.is_single_add() => Stamps::One(Some(self.stamp())),
            Body::Element => {
                let state = self.element_state().unwrap_or_default();
                Stamps::Owned(state.stamps().collect::<Vec<_>>().into_iter())
            }
            Body::Collection => Stamps::Owned(self.header().map(|h| h.stamps).unwrap_or_default().into_iter()),
            _ => Stamps::One(Some(self.stamp())),
        }
    }

    /// Whether a node that has applied each origin's writes up to `applied(origin)` holds every
    /// write this record carries (or a newer one).
    pub fn seen_by(&self, applied: impl Fn(NodeId) -> u64) -> bool {
        self.stamps().all(|stamp| stamp.seq <= applied(stamp.version.node))
    }

    /// The one write a value, tombstone or flush carries (`None` for a counter or HyperLogLog,
    /// which carry one per node: see [`Record::stamps`]).
    pub(crate) fn single_stamp(&self) -> Option<Stamp> {
        let several = COUNTER_BIT | HLL_BIT | ELEMENT_BIT | COLLECTION_BIT;
        (self.flags() & several == 0 || (self.is_tombstone() && !self.is_element())).then(|| self.stamp())
    }

    /// Where this record stands against another of its key: the larger survives a merge.
    ///
    /// A value or tombstone ranks by its version; a counter or HyperLogLog by its base, above
    /// the base write itself, so it beats the write it started from and any older one, while a
    /// write it never saw (a larger version) resets it, concurrent increments included. At equal
    /// version a tombstone beats a value, since that tombstone is the value expired; a
    /// HyperLogLog beats a counter of one base (they started from one write on two nodes: one
    /// must stand, the same on all); an expired counter or HyperLogLog beats both; an eviction
    /// ranks by the write it evicted and above all of these, so it removes exactly that write
    /// and loses to every later one.
    pub(crate) fn rank(&self) -> (Version, u8) {
        match self.body() {
            Body::Value(_) => (self.version(), 0),
            Body::Tombstone if self.is_evicted() => (self.evicted_of(), 5),
            Body::Tombstone if self.is_expired_counter() => (self.version(), 4),
            Body::Tombstone | Body::Flush => (self.version(), 1),
            Body::Counter(counter) => (counter.base().version, 2),
            Body::Hll(hll) => (hll.base().version, 3),
            // Elements meet only elements, and join; a flush removes one older than itself.
            Body::Element => (self.version(), 0),
            Body::Collection => (self.header().map_or(self.version(), |h| h.base.version), 6),
        }
    }

    /// Whether this is the tombstone a counter expired to: stamped with the counter's base and
    /// ranked above every counter of that base, so no copy of the counter revives it.
    pub(crate) fn is_expired_counter(&self) -> bool {
        self.flags() & (TOMBSTONE_BIT | COUNTER_BIT) == TOMBSTONE_BIT | COUNTER_BIT
    }

    /// The tombstone a counter of base `base` expires to.
    pub(crate) fn expired_counter(key: &[u8], base: Stamp) -> Record {
        Record::build(key, base, TOMBSTONE_BIT | COUNTER_BIT, None, |_| {})
    }

    /// What the record becomes once expired: a tombstone at the write it expires by (a value's
    /// own, a counter's base), so every node reaches the same one whatever increments it saw.
    pub fn expired(&self) -> Record {
        match self.body() {
            Body::Counter(counter) => Record::expired_counter(self.key(), counter.base()),
            Body::Hll(hll) => Record::expired_counter(self.key(), hll.base()),
            Body::Collection => match (self.header(), self.deadline_ms()) {
                (Some(mut header), Some(deadline)) => {
                    header.expired_before = header.expired_before.max(deadline);
                    Record::collection(self.key(), &header, None)
                }
                _ => self.clone(),
            },
            Body::Element => self.clone(),
            _ => Record::plain(self.key(), None, self.stamp(), None),
        }
    }

    /// How recently or often the key was used (see [`crate::access`]).
    pub fn access_state(&self) -> u16 {
        self.0.access()
    }

    /// Marks the key used at `now_ms` by a read, unless the reader asked not to (CLIENT
    /// NO-TOUCH).
    pub fn touch(&self, now_ms: u64) {
        if crate::access::reads_touch() {
            self.touch_always(now_ms);
        }
    }

    /// Marks the key used at `now_ms` (TOUCH, or a read). Writes the head only when the state
    /// changes, so a key read many times a second costs one write a second under LRU.
    pub fn touch_always(&self, now_ms: u64) {
        let before = self.0.access();
        let after = crate::access::used_at(before, now_ms);
        if before != after {
            self.0.set_access(after);
        }
    }

    /// Key, value and counter bytes together, to bound batch sizes.
    pub fn payload_len(&self) -> usize {
        self.0.bytes().len()
    }

    /// Whether two handles share one allocation.
    pub(crate) fn same_as(&self, other: &Record) -> bool {
        self.0.same_as(&other.0)
    }

    /// The wire form (copies the bytes).
    pub fn to_keyed_entry(&self) -> KeyedEntry {
        (Bytes::copy_from_slice(self.key()), self.to_entry())
    }

    /// The bytes a wire entry carries as its value: a plain value, or a HyperLogLog's registers.
    fn wire_value(&self) -> Option<&[u8]> {
        match self.body() {
            Body::Value(value) => Some(value),
            Body::Hll(hll) => Some(hll.compact()),
            _ => None,
        }
    }

    fn to_entry(&self) -> Entry {
        let value = self.wire_value().map(Bytes::copy_from_slice);
        let (version, seq, expires_at_ms) = (self.version(), self.seq(), self.deadline_ms());
        Entry { value, version, seq, expires_at_ms, kind: self.entry_kind() }
    }

    fn entry_kind(&self) -> EntryKind {
        match self.body() {
            Body::Counter(counter) => EntryKind::Counter(counter.to_counter()),
            Body::Hll(hll) => EntryKind::Hll { base: hll.base(), stamps: hll.stamps().collect() },
            Body::Flush => EntryKind::Flush,
            Body::Tombstone if self.is_evicted() => EntryKind::Evicted { of: self.evicted_of() },
            Body::Tombstone if self.is_expired_counter() => EntryKind::ExpiredCounter,
            Body::Value(_) | Body::Tombstone => EntryKind::Plain,
            Body::Element => self.element_state().unwrap_or_default().to_kind(),
            Body::Collection => self.header().expect("a header").to_kind(),
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
    fn an_eviction_of_a_write_not_older_than_itself_is_refused() {
        let own = version();
        let entry = |of: Version| Entry {
            value: None,
            version: own,
            seq: 1,
            expires_at_ms: None,
            kind: EntryKind::Evicted { of },
        };
        let older = Version { wall_ms: own.wall_ms - 1, ..own };
        assert!(Record::from_entry(b"k", &entry(older)).is_ok_and(|r| r.is_evicted() && r.eviction_target() == older));
        // A member could otherwise block every write to the key until the clocks reached `of`.
        let ahead = Version { wall_ms: own.wall_ms + 365 * 86_400_000, ..own };
        assert_eq!(Record::from_entry(b"k", &entry(ahead)).unwrap_err(), InvalidEntry::Evicted);
        assert_eq!(Record::from_entry(b"k", &entry(own)).unwrap_err(), InvalidEntry::Evicted);
    }

    #[test]
    fn a_delete_with_a_deadline_is_refused() {
        // Found by `cargo xtask fuzz` (wire_frames): such an entry became a tombstone without
        // the deadline, which no longer encoded as what arrived.
        let entry = Entry { value: None, version: version(), seq: 1, expires_at_ms: Some(0), kind: EntryKind::Plain };
        assert_eq!(Record::from_entry(b"k", &entry).unwrap_err(), InvalidEntry::Tombstone);
        let frame: PeerMessage = PeerMessage::Entries { entries: vec![(bytes::Bytes::from_static(b"k"), entry)] };
        assert!(kvs_proto::encoding::decode::<PeerMessage<Record>>(&encode(&frame).unwrap()).is_err());
    }

    #[test]
    fn a_list_element_must_be_named_by_a_position() {
        use crate::collection::{element::ElementState, element_key, position::Position, CollectionType};
        let stamp = kvs_proto::Stamp { version: version(), seq: 1 };
        let state = ElementState::added(stamp, bytes::Bytes::from_static(b"v"));
        let at = Position::pushed(None, true, kvs_proto::NodeId(1), 1);
        let good = Record::element(&element_key(CollectionType::List, b"l", at.as_bytes()), &state);
        assert!(Record::from_entry(good.key(), &good.to_entry()).is_ok());
        // Pushes read their neighbours' positions back: a name that is none is refused.
        let bad = Record::element(&element_key(CollectionType::List, b"l", b"x"), &state);
        assert_eq!(Record::from_entry(bad.key(), &bad.to_entry()).unwrap_err(), InvalidEntry::Element);
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
