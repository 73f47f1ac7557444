//! The replicated data model as it travels between nodes.

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Identity of a node; also the last tie-breaker between versions.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct NodeId(pub u64);

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// A hybrid-logical-clock timestamp; ordered by wall time, then logical counter, then node.
///
/// Field order matters: the derived `Ord` is lexicographic in declaration order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Version {
    /// Milliseconds since the Unix epoch, never behind any version this node has seen.
    pub wall_ms: u64,
    /// Orders events that share `wall_ms`.
    pub logical: u32,
    /// The node that made the write; breaks ties so no two writes compare equal.
    pub node: NodeId,
}

/// A write's identity: its version and its position among its origin's writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Stamp {
    /// The write's version.
    pub version: Version,
    /// Position among the writes of `version.node`, from 1 up (0: no write, see [`Stamp::NONE`]).
    pub seq: u64,
}

impl Stamp {
    /// Stands for "no write": the base of a counter started on a key that never existed.
    pub const NONE: Stamp = Stamp { version: Version { wall_ms: 0, logical: 0, node: NodeId(0) }, seq: 0 };
}

/// One node's part of a counter: the net sum of its increments since the counter's base, and
/// the increment that last changed it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contribution {
    /// The increment that set `total` (its node is the contributing node).
    pub stamp: Stamp,
    /// Net sum of that node's increments since the base.
    pub total: i64,
}

/// A counter that adds up increments made on every node (a PN-counter over a reset point).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counter {
    /// The write the counter started from (a SET of an integer, a delete, a flush, or
    /// [`Stamp::NONE`]); a later reset of the key beats every increment made on top of it.
    pub base: Stamp,
    /// The value at the base.
    pub base_value: i64,
    /// At most one per node, sorted by node.
    pub contributions: Vec<Contribution>,
}

/// The family of a collection key (protocol 9, gate `collections`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum CollectionType {
    /// A hash: fields with values.
    Hash,
    /// A set: members.
    Set,
    /// A sorted set: members with scores.
    SortedSet,
    /// A list: values at position identifiers that sort in list order.
    List,
}

impl CollectionType {
    /// Its name as Redis's TYPE answers it.
    pub fn name(self) -> &'static str {
        match self {
            CollectionType::Hash => "hash",
            CollectionType::Set => "set",
            CollectionType::SortedSet => "zset",
            CollectionType::List => "list",
        }
    }
}

/// One element's surviving add: the write that made it and the value it gave (a hash field's
/// value, a sorted-set member's score; empty for a set member).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ElementAdd {
    /// The add's write, its unique tag.
    pub stamp: Stamp,
    /// The value it set.
    pub value: Bytes,
}

/// One node's increments of an element's number (HINCRBY, HINCRBYFLOAT, ZINCRBY) on top of the
/// add that set the number (its base): the newest increment's write, and the sums of that node's
/// increments since the base. Concurrent increments of every node all count; an add newer than
/// the base resets them, as a SET resets a counter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ElementCount {
    /// The node's newest increment (its node is the contributing node).
    pub stamp: Stamp,
    /// The add the increments build on ([`Stamp::NONE`]: an element with no add, which is 0).
    pub base: Stamp,
    /// The sum of its integer increments.
    pub int: i64,
    /// The sum of its floating-point increments (the bits of an `f64`, so the type stays `Eq`).
    pub float_bits: u64,
}

/// What an entry is, beside its value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum EntryKind {
    /// A value, or a tombstone when the value is `None`.
    Plain,
    /// A counter; the entry's value is `None` and its version and seq are its newest stamp's.
    Counter(Counter),
    /// A replicated FLUSHALL: every entry older than its version is gone (key empty, no value).
    Flush,
    /// What a counter becomes once expired: a tombstone stamped with the counter's base, ranked
    /// above every counter of that base (no value).
    ExpiredCounter,
    /// A HyperLogLog (protocol 9): the entry's value holds registers (see `kvs-store`'s `hll`),
    /// its version and seq are its newest stamp's. Registers merge by maximum, so concurrent
    /// PFADDs on every node all count; a push carries only the registers its write raised.
    Hll {
        /// The write it started from; a later write it never saw replaces it, as for a counter.
        base: Stamp,
        /// Each node's newest PFADD or PFMERGE into it, sorted by node.
        stamps: Vec<Stamp>,
    },
    /// An eviction (protocol 9): a tombstone with its own version and seq that removes exactly the
    /// write it evicted (`of`: that value's version, or a counter's or HyperLogLog's base), so
    /// any write made after it, here or on a node that had not seen the eviction, beats it.
    Evicted {
        /// The version of the write the eviction removed.
        of: Version,
    },
    /// One element of a collection (protocol 9): observed-remove with add-wins. The entry's key
    /// is the element's (see `kvs-store`'s `collection`), its version and seq its newest stamp's,
    /// its value `None`.
    Element {
        /// Surviving adds, the newest per origin, sorted by origin.
        adds: Vec<ElementAdd>,
        /// Per origin (sorted), the highest sequence number of an add removed.
        removed: Vec<(NodeId, u64)>,
        /// Per origin (sorted), the newest remove: what anti-entropy finds the removal by.
        removals: Vec<Stamp>,
        /// Per origin (sorted), its increments of the element's number.
        counts: Vec<ElementCount>,
    },
    /// A collection's header at its key (protocol 9): its type, and what whole-key deletes and
    /// expiry removed. Its elements are records of their own.
    Collection {
        /// Hash, set or sorted set.
        of: CollectionType,
        /// The write that created it: a header made later on a key beats it, as a newer write would.
        base: Stamp,
        /// Each node's newest write to the header (its creation, DEL, EXPIRE…), sorted by node.
        stamps: Vec<Stamp>,
        /// Per origin (sorted): adds up to this sequence number were seen by a DEL and are gone.
        cleared: Vec<(NodeId, u64)>,
        /// Adds made before this wall time (ms) expired with the key (0: never expired).
        expired_before: u64,
    },
}

/// A value (or a tombstone, a counter, a flush) with the version that wrote it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// `None` marks a delete (a tombstone), kept so the delete replicates like a write.
    pub value: Option<Bytes>,
    /// Decides which of two entries for one key survives: the larger wins.
    pub version: Version,
    /// Position of this write among all writes of its origin (`version.node`), from 1 up; what
    /// anti-entropy cursors count.
    pub seq: u64,
    /// When the key expires (Unix milliseconds), part of the write like the value.
    pub expires_at_ms: Option<u64>,
    /// Plain, counter or flush.
    pub kind: EntryKind,
}

impl Entry {
    /// A plain value (`None`: a tombstone) without expiry.
    pub fn plain(value: Option<Bytes>, version: Version, seq: u64) -> Entry {
        Entry { value, version, seq, expires_at_ms: None, kind: EntryKind::Plain }
    }

    /// Whether this entry is a delete marker.
    pub fn is_tombstone(&self) -> bool {
        self.value.is_none()
            && matches!(self.kind, EntryKind::Plain | EntryKind::ExpiredCounter | EntryKind::Evicted { .. })
    }
}
