//! The order of a collection's index: by a fixed 64-bit hash of the element, then its key.
//!
//! HSCAN, SSCAN and ZSCAN hand out a cursor that must be a number, and must return every element
//! present from the first call to the last however the collection changes meanwhile. A position
//! in hash order is such a cursor: the next call resumes at the first element whose hash is at
//! or above it, wherever adds and removes have moved the others, as Redis's own cursors resume in
//! its table's hash order. Name order (what the index kept before) offers no number to resume at.
//!
//! The index stores bare record pointers, so the order is computed from each record's key as the
//! B-tree compares it; a search carries its own position precomputed (see [`Position::probe`]).

use ref_cast::RefCast;
use std::cmp::Ordering;
use std::sync::LazyLock;

/// The hash of element order: fixed seeds, so every node and every run orders alike.
static HASHER: LazyLock<ahash::RandomState> =
    LazyLock::new(|| ahash::RandomState::with_seeds(0x6b76_735f_656c, 0x656d_656e_7473, 0x006f_7264_6572, 0x2a));

/// Where an element key sorts: its element's hash, never 0 (a cursor of 0 starts a scan).
pub(crate) fn position(key: &[u8]) -> u64 {
    HASHER.hash_one(super::element_of(key)) | 1
}

/// First byte of a probe: an element key starts with `FF EE`, never with this.
const PROBE: u8 = 0;

/// An element key, or a probe holding a position and a key, ordered by position then key: what
/// the index's entries borrow as, so a search compares by the same order.
#[derive(Debug, RefCast)]
#[repr(transparent)]
pub(crate) struct Position([u8]);

impl Position {
    /// An element key as it sorts.
    pub(crate) fn of(key: &[u8]) -> &Position {
        Position::ref_cast(key)
    }

    /// The bytes of a probe sorting at `position` with `key`: before every element of that
    /// position when `key` is empty (where a scan resumes), else exactly where `key` sorts with
    /// its position computed once, not at every comparison.
    pub(crate) fn probe(position: u64, key: &[u8]) -> Vec<u8> {
        let mut probe = Vec::with_capacity(9 + key.len());
        probe.push(PROBE);
        probe.extend_from_slice(&position.to_be_bytes());
        probe.extend_from_slice(key);
        probe
    }

    fn parts(&self) -> (u64, &[u8]) {
        match self.0.split_first() {
            Some((&PROBE, rest)) if rest.len() >= 8 => {
                (u64::from_be_bytes(rest[..8].try_into().expect("8 bytes")), &rest[8..])
            }
            _ => (position(&self.0), &self.0),
        }
    }
}

impl PartialEq for Position {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Position {}

impl PartialOrd for Position {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Position {
    fn cmp(&self, other: &Self) -> Ordering {
        self.parts().cmp(&other.parts())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collection::{element_key, CollectionType};

    #[test]
    fn a_probe_sorts_where_its_key_does_and_an_empty_one_before_its_position() {
        let key = element_key(CollectionType::Hash, b"h", b"field");
        let at = position(&key);
        assert!(at & 1 == 1);
        let exact = Position::probe(at, &key);
        assert_eq!(Position::of(&exact), Position::of(&key));
        let start = Position::probe(at, b"");
        assert!(Position::of(&start) < Position::of(&key));
        if let Some(next) = at.checked_add(1) {
            assert!(Position::of(&Position::probe(next, b"")) > Position::of(&key));
        }
    }
}
