//! The last-writer-wins rule on single entries.
//!
//! An entry replaces the one held for its key when its [`Version`] is larger. Versions are
//! totally ordered and unique per write (the origin breaks ties), so keeping the larger of two is
//! a join on a total order: commutative, associative and idempotent. A map that applies it per key
//! is a state-based CRDT, which is why replicas converge whatever order or how often they receive
//! writes (the tests below check the laws on the rule).

use kvs_proto::Version;

/// Whether an entry at `incoming` replaces one at `held`.
pub fn supersedes(incoming: &Version, held: &Version) -> bool {
    incoming > held
}

#[cfg(test)]
mod tests {
    use super::*;
    use kvs_proto::Entry;

    /// The entry that survives when `a` and `b` meet for one key, by [`supersedes`].
    fn newer(a: Entry, b: Entry) -> Entry {
        if supersedes(&b.version, &a.version) {
            b
        } else {
            a
        }
    }
    use bytes::Bytes;
    use kvs_proto::{NodeId, Version};
    use proptest::prelude::*;

    fn entry() -> impl Strategy<Value = Entry> {
        (0u64..4, 0u32..3, 0u64..3, proptest::option::of(0u8..4)).prop_map(|(w, l, n, v)| Entry {
            value: v.map(|v| Bytes::from(vec![v])),
            version: Version { wall_ms: w, logical: l, node: NodeId(n) },
            seq: 1,
        })
    }

    /// Entries with equal versions must be the same write; the generator can make two that are not.
    fn consistent(entries: &[&Entry]) -> bool {
        entries.iter().all(|a| entries.iter().all(|b| a.version != b.version || a == b))
    }

    proptest! {
        #[test]
        fn commutative(a in entry(), b in entry()) {
            prop_assume!(consistent(&[&a, &b]));
            prop_assert_eq!(newer(a.clone(), b.clone()), newer(b, a));
        }

        #[test]
        fn associative(a in entry(), b in entry(), c in entry()) {
            prop_assume!(consistent(&[&a, &b, &c]));
            let left = newer(newer(a.clone(), b.clone()), c.clone());
            let right = newer(a, newer(b, c));
            prop_assert_eq!(left, right);
        }

        #[test]
        fn idempotent(a in entry()) {
            prop_assert_eq!(newer(a.clone(), a.clone()), a);
        }
    }
}
