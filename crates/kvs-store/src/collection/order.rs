//! The order of a collection's index: by a fixed 64-bit hash of the element, then its key.
//!
//! HSCAN, SSCAN and ZSCAN hand out a cursor that must be a number, and must return every element
//! present from the first call to the last however the collection changes meanwhile. A position
//! in hash order is such a cursor: the next call resumes at the first element whose hash is at
//! or above it, wherever adds and removes have moved the others, as Redis's own cursors resume in
//! its table's hash order. Name order (what the index kept before) offers no number to resume at.
//!
//! Each index entry keeps its position beside its record pointer (16 bytes, not 8): the B-tree
//! then compares positions without reaching into the records, where comparing names, or hashing
//! them at every comparison, cost a cache miss a step (pipelined SADD 2.6 µs a write with names,
//! 2.9 hashing, see docs/performance.md).

use crate::record::Record;
use std::cmp::Ordering;
use std::sync::LazyLock;

/// The hash of element order: fixed seeds, so every node and every run orders alike.
static HASHER: LazyLock<ahash::RandomState> =
    LazyLock::new(|| ahash::RandomState::with_seeds(0x6b76_735f_656c, 0x656d_656e_7473, 0x006f_7264_6572, 0x2a));

/// Where an element key sorts: its element's hash, never 0 (a cursor of 0 starts a scan); a
/// list element's, its place in the list.
///
/// A list has no scan (Redis has no LSCAN) and no random pick, so nothing needs its elements in
/// hash order; in list order a push lands at one end of the index, on nodes a run of pushes keeps
/// in cache, where a hash put every push at a random place of a B-tree of every element, a cache
/// miss a level (29% of a pipelined LPUSH onto a long list). The low bit goes, as every
/// position's does; elements it parts are ordered by their keys, which sort as their places.
pub(crate) fn position(key: &[u8]) -> u64 {
    let element = super::element_of(key);
    match key.get(super::ELEMENT_PREFIX.len()) == Some(&super::type_byte(super::CollectionType::List)) {
        true => list_order(element) | 1,
        false => HASHER.hash_one(element) | 1,
    }
}

/// The order of a list element (its name, a position): the position's major number, as the
/// first 8 bytes of the name hold it (unsigned, big-endian), so entries of one major order by
/// the rest of their keys, which sort as their positions do.
pub(crate) fn list_order(element: &[u8]) -> u64 {
    let mut major = [0u8; 8];
    let head = &element[..element.len().min(8)];
    major[..head.len()].copy_from_slice(head);
    u64::from_be_bytes(major)
}

/// An element record in its collection's index, ordered by position, then key; or, with no
/// record, the place a scan resumes (before every element of its position).
///
/// A position is odd, so its low bit is free: it says whether the element is seen under its
/// collection's header, which lets SPOP, SRANDMEMBER and scans skip removed elements (kept
/// until purged) without reaching into their records. Ordering ignores it.
#[derive(Clone, Debug)]
pub(crate) struct ElementRef {
    tagged: u64,
    record: Option<Record>,
}

impl ElementRef {
    /// The entry of an element's record, seen or not under its header.
    pub(crate) fn new(record: Record, seen: bool) -> ElementRef {
        ElementRef { tagged: position(record.key()) & !1 | u64::from(seen), record: Some(record) }
    }

    /// The same entry, seen or not.
    pub(crate) fn seen_as(self, seen: bool) -> ElementRef {
        ElementRef { tagged: self.tagged & !1 | u64::from(seen), record: self.record }
    }

    /// Where a scan from `cursor` starts.
    pub(crate) fn start_of(cursor: u64) -> ElementRef {
        ElementRef { tagged: cursor, record: None }
    }

    /// Its position: the cursor that resumes a scan at it.
    pub(crate) fn position(&self) -> u64 {
        self.tagged | 1
    }

    /// Whether the element is seen under its collection's header.
    pub(crate) fn is_seen(&self) -> bool {
        self.tagged & 1 == 1
    }

    /// The element's record (an entry of the index always has one).
    pub(crate) fn record(&self) -> &Record {
        self.record.as_ref().expect("an index entry holds its record")
    }

    /// The element (field or member).
    pub(crate) fn name(&self) -> &[u8] {
        super::element_of(self.record().key())
    }

    fn key(&self) -> &[u8] {
        self.record.as_ref().map_or(&[], Record::key)
    }
}

impl PartialEq for ElementRef {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for ElementRef {}

impl PartialOrd for ElementRef {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for ElementRef {
    fn cmp(&self, other: &Self) -> Ordering {
        // A scan's start at cursor 0 sorts as 1, before every element.
        self.position().cmp(&other.position()).then_with(|| self.key().cmp(other.key()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collection::{element_key, CollectionType};
    use kvs_proto::{NodeId, Stamp, Version};

    #[test]
    fn entries_sort_by_position_and_a_scan_start_before_its_position() {
        let stamp = Stamp { version: Version { wall_ms: 1, logical: 0, node: NodeId(1) }, seq: 1 };
        let record =
            |name: &[u8]| Record::plain(&element_key(CollectionType::Hash, b"h", name), Some(b""), stamp, None);
        let (a, b) = (ElementRef::new(record(b"a"), true), ElementRef::new(record(b"b"), false));
        assert!(a.position() & 1 == 1 && b.position() & 1 == 1);
        assert!(a.is_seen() && !b.is_seen());
        assert_eq!(ElementRef::new(record(b"b"), true).cmp(&b), Ordering::Equal, "seen or not, one place");
        assert_eq!(a.cmp(&b), a.position().cmp(&b.position()));
        assert!(ElementRef::start_of(a.position()) < a);
        assert!(ElementRef::start_of(0) < a.clone().min(b));
        if let Some(next) = a.position().checked_add(1) {
            assert!(ElementRef::start_of(next) > a);
        }
    }

    #[test]
    fn list_elements_sort_in_list_order() {
        let stamp = Stamp { version: Version { wall_ms: 1, logical: 0, node: NodeId(1) }, seq: 1 };
        let record = |place: u64, rest: &[u8]| {
            let mut name = place.to_be_bytes().to_vec();
            name.extend_from_slice(rest);
            ElementRef::new(
                Record::plain(&element_key(CollectionType::List, b"l", &name), Some(b""), stamp, None),
                true,
            )
        };
        // Places 2 and 3 differ only in the bit positions give up: their keys part them.
        let mut entries = [record(3, b""), record(1 << 40, b""), record(2, b"z"), record(2, b"a"), record(1, b"")];
        entries.sort();
        let names: Vec<Vec<u8>> = entries.iter().map(|e| e.name().to_vec()).collect();
        let mut by_key = names.clone();
        by_key.sort();
        assert_eq!(names, by_key, "the index orders a list's elements as their keys, so as the list");
    }
}
