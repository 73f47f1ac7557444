//! A collection's header: the record at the collection's key that says what type it is and what
//! whole-key deletes and expiry removed.
//!
//! A header is made by the first add to a key that holds no collection (a new key, or one of
//! another type, or one whose collection is empty): its base is that write, and it ranks by its
//! base as a counter does, so a header made later beats an older one and any older write to the
//! key, and a string written after it replaces it. States of one header (one base) join: each
//! node's newest write to it, the higher of each origin's cleared sequence number, the later
//! expiry, and the deadline of the newest write.
//!
//! A DEL (or UNLINK, or a type change) of a collection writes to its header the highest sequence
//! number of each origin among the adds its node holds in the collection: every add it saw is
//! gone, and an add made meanwhile on a node it had not heard from survives (add wins). Expiry
//! removes the adds made before the deadline, which every node computes alike from the header.

use super::vector::{covers, raise};
use kvs_proto::{CollectionType, EntryKind, NodeId, Stamp};

/// A collection's header (see the module); its deadline is the record's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    /// Hash, set or sorted set.
    pub of: CollectionType,
    /// The write that created it.
    pub base: Stamp,
    /// Each node's newest write to it, sorted by node.
    pub stamps: Vec<Stamp>,
    /// Per origin (sorted): adds up to this sequence number are gone.
    pub cleared: Vec<(NodeId, u64)>,
    /// Adds made before this wall time (ms) are gone (0: none).
    pub expired_before: u64,
}

/// What of a collection's adds its header lets be seen.
#[derive(Clone, Copy, Debug)]
pub struct Visibility<'a> {
    cleared: &'a [(NodeId, u64)],
    expired_before: u64,
}

impl Visibility<'_> {
    /// Whether the add `stamp` survives the header's deletes and expiry.
    pub fn sees(&self, stamp: &Stamp) -> bool {
        stamp.version.wall_ms >= self.expired_before && !covers(self.cleared, stamp)
    }
}

/// Why a wire header cannot be a header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MalformedHeader;

impl Header {
    /// A new header of type `of` made by the write `stamp`, clearing the adds `cleared` (those
    /// left in the key by an earlier collection).
    pub fn new(of: CollectionType, stamp: Stamp, cleared: Vec<(NodeId, u64)>) -> Header {
        Header { of, base: stamp, stamps: vec![stamp], cleared, expired_before: 0 }
    }

    /// What it lets be seen.
    pub fn visibility(&self) -> Visibility<'_> {
        Visibility { cleared: &self.cleared, expired_before: self.expired_before }
    }

    /// Its newest write, which stamps its record.
    pub fn newest(&self) -> Stamp {
        self.stamps.iter().copied().max_by_key(|s| s.version).unwrap_or(self.base)
    }

    /// The header with a write `stamp` of this node recorded (its newest write to it).
    pub fn written(&self, stamp: Stamp) -> Header {
        let mut header = self.clone();
        record_stamp(&mut header.stamps, stamp);
        header
    }

    /// The header after a DEL by `stamp` on a node whose collection holds adds up to `seen` per
    /// origin.
    pub fn cleared_by(&self, stamp: Stamp, seen: &[(NodeId, u64)]) -> Header {
        let mut header = self.written(stamp);
        for &(node, seq) in seen {
            raise(&mut header.cleared, node, seq);
        }
        header
    }

    /// Joins another state of the same header (same base) in; whether anything changed.
    pub fn join(&mut self, other: &Header) -> bool {
        let before = self.clone();
        for stamp in &other.stamps {
            record_stamp(&mut self.stamps, *stamp);
        }
        for &(node, seq) in &other.cleared {
            raise(&mut self.cleared, node, seq);
        }
        self.expired_before = self.expired_before.max(other.expired_before);
        *self != before
    }

    /// The wire form.
    pub fn to_kind(&self) -> EntryKind {
        EntryKind::Collection {
            of: self.of,
            base: self.base,
            stamps: self.stamps.clone(),
            cleared: self.cleared.clone(),
            expired_before: self.expired_before,
        }
    }

    /// A header from its wire form, if well formed: stamps and cleared sorted by origin, one
    /// per origin, every stamp a real write no older than the base, the base among them or older.
    pub fn from_wire(
        of: CollectionType,
        base: Stamp,
        stamps: &[Stamp],
        cleared: &[(NodeId, u64)],
        expired_before: u64,
    ) -> Result<Header, MalformedHeader> {
        let sorted = stamps.windows(2).all(|w| w[0].version.node < w[1].version.node)
            && cleared.windows(2).all(|w| w[0].0 < w[1].0);
        let after_base = stamps.iter().all(|s| s.seq > 0 && s.version >= base.version);
        if !sorted || !after_base || stamps.is_empty() || base.seq == 0 {
            return Err(MalformedHeader);
        }
        Ok(Header { of, base, stamps: stamps.to_vec(), cleared: cleared.to_vec(), expired_before })
    }
}

/// Keeps each node's newest stamp in a list sorted by node.
fn record_stamp(stamps: &mut Vec<Stamp>, stamp: Stamp) {
    match stamps.binary_search_by_key(&stamp.version.node, |s| s.version.node) {
        Ok(at) if stamps[at].seq < stamp.seq => stamps[at] = stamp,
        Ok(_) => {}
        Err(at) => stamps.insert(at, stamp),
    }
}

/// The deadline two states of one header join to: the newest write's; one that the expiry
/// already passed is gone.
pub(crate) fn joined_deadline(
    (a, a_deadline): (&Header, Option<u64>),
    (b, b_deadline): (&Header, Option<u64>),
    joined: &Header,
) -> Option<u64> {
    let deadline = match a.newest().version.cmp(&b.newest().version) {
        std::cmp::Ordering::Less => b_deadline,
        std::cmp::Ordering::Greater => a_deadline,
        std::cmp::Ordering::Equal => match (a_deadline, b_deadline) {
            (Some(x), Some(y)) => Some(x.min(y)),
            (x, y) => x.or(y),
        },
    };
    deadline.filter(|&d| d > joined.expired_before)
}
