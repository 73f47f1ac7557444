//! One element of a collection (a hash field, a set member, a sorted-set member) as a
//! conflict-free replicated state: observed-remove with add-wins, and values last-writer-wins.
//!
//! The first brick of the collection types (issue 27), kept apart from their wiring: the rule
//! on its own, proven by the laws and the conflict rows below.
//!
//! An element holds its surviving adds (the newest of each origin, with its stamp and value) and
//! what removes have observed (per origin, the highest sequence number of an add removed). Two
//! states merge by keeping each origin's newest add and the higher of each origin's removals;
//! an add a removal covers (same origin, sequence number at or below) is gone. So a remove
//! (HDEL, SREM, ZREM) takes away exactly the adds its node had seen, and an add made meanwhile on
//! another node survives it, whatever the two writes' versions: add wins. The element is present
//! while an add survives, and its value is the newest surviving add's.
//!
//! Keeping only each origin's newest add is exact: an origin's adds are ordered by sequence
//! number, and a removal that saw a later one covers the earlier ones too.

use bytes::Bytes;
use kvs_proto::{NodeId, Stamp};

/// One element's replicated state (see the module).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ElementState {
    /// Surviving adds, the newest per origin, sorted by origin.
    adds: Vec<(Stamp, Bytes)>,
    /// Per origin (sorted), the highest sequence number of an add removed.
    removed: Vec<(NodeId, u64)>,
}

impl ElementState {
    /// The delta of an add (HSET, SADD, ZADD) made by the write `stamp`.
    pub fn added(stamp: Stamp, value: Bytes) -> ElementState {
        ElementState { adds: vec![(stamp, value)], removed: Vec::new() }
    }

    /// The delta of a remove (HDEL, SREM, ZREM) made on a node holding `self`: it removes the adds
    /// that node has seen, and no other.
    pub fn removal(&self) -> ElementState {
        let mut removal = ElementState { adds: Vec::new(), removed: self.removed.clone() };
        for (stamp, _) in &self.adds {
            raise(&mut removal.removed, stamp.version.node, stamp.seq);
        }
        removal
    }

    /// Whether an add survives.
    pub fn is_present(&self) -> bool {
        !self.adds.is_empty()
    }

    /// The value of the newest surviving add.
    pub fn value(&self) -> Option<&Bytes> {
        self.adds.iter().max_by_key(|(stamp, _)| stamp.version).map(|(_, value)| value)
    }

    /// Every write whose effect this state carries (its adds'), for anti-entropy.
    pub fn stamps(&self) -> impl Iterator<Item = Stamp> + '_ {
        self.adds.iter().map(|(stamp, _)| *stamp)
    }

    /// Merges `other` in; whether anything changed.
    pub fn merge(&mut self, other: &ElementState) -> bool {
        let before = self.clone();
        for &(node, seq) in &other.removed {
            raise(&mut self.removed, node, seq);
        }
        for (stamp, value) in &other.adds {
            let node = stamp.version.node;
            match self.adds.binary_search_by_key(&node, |(held, _)| held.version.node) {
                Ok(at) if self.adds[at].0.seq < stamp.seq => self.adds[at] = (*stamp, value.clone()),
                Ok(_) => {}
                Err(at) => self.adds.insert(at, (*stamp, value.clone())),
            }
        }
        let removed = &self.removed;
        self.adds.retain(|(stamp, _)| !covers(removed, stamp));
        *self != before
    }
}

/// Raises `node`'s entry of a sorted per-origin vector to at least `seq`.
fn raise(vector: &mut Vec<(NodeId, u64)>, node: NodeId, seq: u64) {
    match vector.binary_search_by_key(&node, |(held, _)| *held) {
        Ok(at) => vector[at].1 = vector[at].1.max(seq),
        Err(at) => vector.insert(at, (node, seq)),
    }
}

/// Whether a removal vector covers the add `stamp`.
fn covers(removed: &[(NodeId, u64)], stamp: &Stamp) -> bool {
    removed.binary_search_by_key(&stamp.version.node, |(node, _)| *node).is_ok_and(|at| removed[at].1 >= stamp.seq)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kvs_proto::Version;
    use proptest::prelude::*;

    /// Node `node`'s `seq`th write, at wall time `wall`.
    fn stamp(node: u64, seq: u64, wall: u64) -> Stamp {
        Stamp { version: Version { wall_ms: wall, logical: 0, node: NodeId(node) }, seq }
    }

    fn merged(a: &ElementState, b: &ElementState) -> ElementState {
        let mut out = a.clone();
        out.merge(b);
        out
    }

    #[test]
    fn an_add_the_remover_had_not_seen_survives_whatever_its_version() {
        // B saw an old add (node 3) and removes; A adds concurrently, with an OLDER version.
        let old = ElementState::added(stamp(3, 1, 50), Bytes::from("old"));
        let removal = old.removal();
        let concurrent = ElementState::added(stamp(1, 7, 10), Bytes::from("a"));
        for state in [merged(&merged(&old, &removal), &concurrent), merged(&concurrent, &merged(&removal, &old))] {
            assert!(state.is_present());
            assert_eq!(state.value(), Some(&Bytes::from("a")));
        }
        // A remove that saw both takes both.
        let both = merged(&old, &concurrent);
        assert!(!merged(&both, &both.removal()).is_present());
    }

    #[test]
    fn the_newest_surviving_add_gives_the_value_and_an_origin_keeps_only_its_newest() {
        let a = ElementState::added(stamp(1, 1, 10), Bytes::from("a1"));
        let b = ElementState::added(stamp(2, 1, 20), Bytes::from("b"));
        let a2 = ElementState::added(stamp(1, 2, 30), Bytes::from("a2"));
        let all = merged(&merged(&a, &b), &a2);
        assert_eq!(all.value(), Some(&Bytes::from("a2")));
        assert_eq!(all.stamps().count(), 2, "one add per origin");
        // Removing what was seen before a2 leaves a2 (origin 1's later add).
        let early = merged(&a, &b).removal();
        assert_eq!(merged(&all, &early).value(), Some(&Bytes::from("a2")));
    }

    #[test]
    fn a_split_brain_with_removes_and_adds_on_both_sides_keeps_the_adds_neither_side_removed() {
        let before = ElementState::added(stamp(3, 1, 10), Bytes::from("x"));
        // Side 1 removes x and adds it again; side 2 removes it; neither sees the other.
        let side1 =
            merged(&merged(&before, &before.removal()), &ElementState::added(stamp(1, 4, 20), Bytes::from("x again")));
        let side2 = merged(&before, &before.removal());
        assert!(!side2.is_present());
        let healed = merged(&side1, &side2);
        assert_eq!((healed.is_present(), healed.value()), (true, Some(&Bytes::from("x again"))));
        assert_eq!(healed, merged(&side2, &side1));
    }

    fn state() -> impl Strategy<Value = ElementState> {
        // Adds are unique per (origin, seq): the value is a function of them.
        let add = (1u64..4, 1u64..5).prop_map(|(node, seq)| {
            ElementState::added(stamp(node, seq, seq * 10 + node), Bytes::from(format!("{node}.{seq}")))
        });
        let removal = proptest::collection::vec((1u64..4, 0u64..5), 0..3).prop_map(|pairs| {
            let mut state = ElementState::default();
            for (node, seq) in pairs {
                raise(&mut state.removed, NodeId(node), seq);
            }
            state
        });
        proptest::collection::vec(prop_oneof![add, removal], 1..4)
            .prop_map(|parts| parts.iter().fold(ElementState::default(), |acc, part| merged(&acc, part)))
    }

    proptest! {
        #[test]
        fn merging_is_commutative(a in state(), b in state()) {
            prop_assert_eq!(merged(&a, &b), merged(&b, &a));
        }

        #[test]
        fn merging_is_associative(a in state(), b in state(), c in state()) {
            prop_assert_eq!(merged(&merged(&a, &b), &c), merged(&a, &merged(&b, &c)));
        }

        #[test]
        fn merging_is_idempotent(a in state()) {
            let mut again = a.clone();
            prop_assert!(!again.merge(&a));
            prop_assert_eq!(again, a);
        }
    }
}
