//! The merge rule: which record stands when two of one key meet.
//!
//! Records rank by [`Record::rank`]: a value or tombstone by its version, a counter by its base
//! (the write it started from). The larger rank stands. Two counters of one base are the same
//! counter seen by different nodes: they join, keeping each node's newest contribution. Ranks are
//! totally ordered and, for one base, joining contributions is a join on each node's own total
//! order; so the rule is commutative, associative and idempotent, a state-based CRDT per key, which
//! is why replicas converge whatever order or how often they receive writes (the tests below check
//! the laws).

use crate::collection::header;
use crate::hll::Registers;
use crate::record::{Body, CounterView, HllView, Record};
use kvs_proto::{Contribution, Counter, Stamp};
use std::cmp::Ordering;

/// What stands when `incoming` meets `held`: `None` when `held` does unchanged.
pub fn merge(held: &Record, incoming: &Record) -> Option<Record> {
    if held.is_element() && incoming.is_element() {
        return join_elements(held, incoming);
    }
    match incoming.rank().cmp(&held.rank()) {
        Ordering::Greater => Some(incoming.clone()),
        Ordering::Less => None,
        Ordering::Equal => match (held.body(), incoming.body()) {
            (Body::Counter(a), Body::Counter(b)) => join_counters(held, a, incoming, b),
            (Body::Hll(a), Body::Hll(b)) => join_hlls(held, a, incoming, b),
            (Body::Collection, Body::Collection) => join_headers(held, incoming),
            // Two nodes evicted one write: the later eviction stands, the same on all.
            _ if held.is_evicted() && incoming.is_evicted() => {
                (incoming.version() > held.version()).then(|| incoming.clone())
            }
            // Equal rank otherwise means the same write.
            _ => None,
        },
    }
}

/// Joins two states of one collection element (see [`crate::collection::element`]).
fn join_elements(held: &Record, incoming: &Record) -> Option<Record> {
    // One origin's one add on both sides (an element rewritten by the node that wrote it, the
    // common write): the newer add is the whole join, and its record already encodes it.
    if held.is_single_add() && incoming.is_single_add() && held.version().node == incoming.version().node {
        return (incoming.seq() > held.seq()).then(|| incoming.clone());
    }
    // A remove of the one add held (a pop, an SREM or HDEL of an element written once): the
    // removal covers all the element held, so it is the whole join, already encoded.
    if held.is_single_add() && incoming.is_tombstone() {
        if let Some(theirs) = incoming.element_state().filter(|theirs| theirs.removes(&held.stamp())) {
            return (theirs.newest() != held.stamp()).then(|| incoming.clone());
        }
    }
    let mut state = held.element_state().unwrap_or_default();
    let theirs = incoming.element_state().unwrap_or_default();
    state.merge(&theirs).then(|| Record::element(held.key(), &state))
}

/// Joins two states of one collection header (one base).
fn join_headers(held: &Record, incoming: &Record) -> Option<Record> {
    let (Some(mine), Some(theirs)) = (held.header(), incoming.header()) else { return None };
    let mut joined = mine.clone();
    let changed = joined.join(&theirs);
    let deadline = header::joined_deadline((&mine, held.deadline_ms()), (&theirs, incoming.deadline_ms()), &joined);
    (changed || deadline != held.deadline_ms()).then(|| Record::collection(held.key(), &joined, deadline))
}

/// The deadline two states of one based record (a counter, a HyperLogLog) join to: one base
/// means one deadline; should two ever differ, both sides keep the earlier.
fn joined_deadline(held: &Record, incoming: &Record) -> Option<u64> {
    match (held.deadline_ms(), incoming.deadline_ms()) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, y) => x.or(y),
    }
}

/// Joins two states of one HyperLogLog (one base): each node's newest stamp, each register's
/// maximum; `None` when the join is what `held` already holds. An incoming local write carries
/// only the registers it raised, so the join, not a replacement, is the rule even when the
/// incoming state is newer on every node.
fn join_hlls(held: &Record, a: HllView<'_>, incoming: &Record, b: HllView<'_>) -> Option<Record> {
    let deadline = joined_deadline(held, incoming);
    let mut stamps: Vec<Stamp> = a.stamps().collect();
    let mut changed = deadline != held.deadline_ms();
    for theirs in b.stamps() {
        match stamps.binary_search_by_key(&theirs.version.node, |s| s.version.node) {
            Ok(at) if stamps[at].version < theirs.version => (stamps[at], changed) = (theirs, true),
            Ok(_) => {}
            Err(at) => {
                stamps.insert(at, theirs);
                changed = true;
            }
        }
    }
    let mut registers = a.registers();
    for (index, value) in Registers::from_compact(b.compact()).unwrap_or_default().set() {
        changed |= registers.raise(index, value);
    }
    changed.then(|| Record::hll(held.key(), a.base(), &stamps, &registers.to_compact(), deadline))
}

/// Joins two states of one counter; `None` when the join is what `held` already holds.
fn join_counters(held: &Record, a: CounterView<'_>, incoming: &Record, b: CounterView<'_>) -> Option<Record> {
    let deadline = joined_deadline(held, incoming);
    // The common case, a local increment or a push built on everything held: the incoming state
    // covers the held one, so it stands as it is, without building a third record.
    let covers = a.contributions().all(|x| {
        b.contributions().any(|y| y.stamp.version.node == x.stamp.version.node && y.stamp.version >= x.stamp.version)
    });
    if covers && deadline == incoming.deadline_ms() {
        let same = b.contributions().all(|y| a.contributions().any(|x| x == y)) && deadline == held.deadline_ms();
        return (!same).then(|| incoming.clone());
    }
    let mut parts: Vec<Contribution> = Vec::new();
    let (mut left, mut right) = (a.contributions().peekable(), b.contributions().peekable());
    let mut changed = false;
    loop {
        let next = match (left.peek(), right.peek()) {
            (None, None) => break,
            (Some(_), None) => left.next(),
            (None, Some(_)) => {
                changed = true;
                right.next()
            }
            (Some(x), Some(y)) => match x.stamp.version.node.cmp(&y.stamp.version.node) {
                Ordering::Less => left.next(),
                Ordering::Greater => {
                    changed = true;
                    right.next()
                }
                Ordering::Equal => {
                    let (x, y) = (left.next().expect("peeked"), right.next().expect("peeked"));
                    if y.stamp.version > x.stamp.version {
                        changed = true;
                        Some(y)
                    } else {
                        Some(x)
                    }
                }
            },
        };
        parts.extend(next);
    }
    changed |= deadline != held.deadline_ms();
    let counter = Counter { base: a.base(), base_value: a.base_value(), contributions: parts };
    changed.then(|| Record::counter(held.key(), &counter, deadline))
}

/// The record that stands after `a` and `b` meet, whichever arrived first (the merge laws'
/// tests state them with it).
#[cfg(test)]
pub fn merged(a: &Record, b: &Record) -> Record {
    merge(a, b).unwrap_or_else(|| a.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collection::header::Header;
    use crate::collection::CollectionType;
    use kvs_proto::{NodeId, Stamp, Version};
    use proptest::prelude::*;

    fn stamp(wall: u64, node: u64) -> Stamp {
        Stamp { version: Version { wall_ms: wall, logical: 0, node: NodeId(node) }, seq: wall + 1 }
    }

    /// Records of one key as a cluster makes them: values, tombstones, and counters over a few
    /// bases with contributions of three nodes. Versions are unique per (wall, node).
    fn record() -> impl Strategy<Value = Record> {
        let plain = (0u64..6, 0u64..3, proptest::option::of(0u8..3))
            .prop_map(|(w, n, v)| Record::plain(b"k", v.as_ref().map(std::slice::from_ref), stamp(w, n), None));
        let counter = (0u64..3, proptest::collection::btree_map(0u64..3, 0u64..4, 1..3)).prop_map(|(base, parts)| {
            let contributions = parts
                .into_iter()
                .map(|(node, age)| Contribution { stamp: stamp(base + 1 + age, node), total: (age * 10 + node) as i64 })
                .collect();
            Record::counter(b"k", &Counter { base: stamp(base, 0), base_value: 5, contributions }, None)
        });
        let hll = (
            0u64..3,
            proptest::collection::btree_map(0u64..3, 0u64..4, 1..3),
            proptest::collection::vec(0usize..40, 0..4),
        )
            .prop_map(|(base, parts, raised)| {
                let stamps: Vec<Stamp> = parts.into_iter().map(|(node, age)| stamp(base + 1 + age, node)).collect();
                let mut registers = Registers::default();
                for index in raised {
                    registers.raise(index * 97, (index % 5) as u8 + 1);
                }
                Record::hll(b"k", stamp(base, 0), &stamps, &registers.to_compact(), None)
            });
        // Evictions are made by nodes 5 and 6, so their stamps are no other write's.
        let evicted = (0u64..6, 0u64..3, 5u64..7, 0u64..3).prop_map(|(of_wall, of_node, node, later)| {
            Record::evicted(b"k", stamp(of_wall, of_node).version, stamp(of_wall + 10 + later, node))
        });
        // Collection headers: created by node 7, written by nodes 8 and 9; one write sets one
        // deadline (here a function of its stamp), and a header may be in its expired form.
        let header = (
            0u64..3,
            proptest::collection::btree_map(8u64..10, 0u64..3, 1..3),
            proptest::collection::btree_map(1u64..4, 0u64..4, 0..3),
            any::<bool>(),
        )
            .prop_map(|(base, parts, cleared, expired)| {
                let stamps: Vec<Stamp> =
                    parts.into_iter().map(|(node, age)| stamp(100 + base * 10 + age, node)).collect();
                let cleared = cleared.into_iter().map(|(node, seq)| (NodeId(node), seq)).collect();
                let mut header = Header::new(CollectionType::Set, stamp(base, 7), cleared);
                header.stamps = stamps;
                let newest = header.newest();
                let deadline = newest.version.wall_ms.is_multiple_of(2).then_some(newest.version.wall_ms + 50);
                match (expired, deadline) {
                    (true, Some(deadline)) => {
                        header.expired_before = deadline;
                        Record::collection(b"k", &header, None)
                    }
                    _ => Record::collection(b"k", &header, deadline),
                }
            });
        prop_oneof![plain, counter, hll, evicted, header]
    }

    /// Element records of one key: one node's adds (one add per node and sequence number, its
    /// value a function of them), sometimes rewritten over another's, or removed.
    fn element() -> impl Strategy<Value = Record> {
        use crate::collection::element::ElementState;
        let key = crate::collection::element_key(CollectionType::Set, b"s", b"m");
        (1u64..4, 1u64..6, 0u8..3).prop_map(move |(node, seq, shape)| {
            let add = |node: u64, seq: u64| {
                let stamp =
                    Stamp { version: Version { wall_ms: seq * 10 + node, logical: 0, node: NodeId(node) }, seq };
                (stamp, bytes::Bytes::from(format!("{node}.{seq}")))
            };
            let (stamp, value) = add(node, seq);
            let state = match shape {
                0 => ElementState::added(stamp, value),
                // A rewrite over another node's older add it had seen.
                1 => {
                    let (other, other_value) = add(node % 3 + 1, seq.saturating_sub(1).max(1));
                    ElementState::added(other, other_value).replaced(stamp, value)
                }
                _ => ElementState::added(stamp, value).removal(Stamp { seq: seq + 10, ..stamp }),
            };
            Record::element(&key, &state)
        })
    }

    /// Records of one write must agree; the generator can make two that do not (a value and a
    /// tombstone at one stamp, or one node's contribution with two totals at one stamp).
    fn consistent(records: &[&Record]) -> bool {
        let mut writes = std::collections::HashMap::new();
        records.iter().all(|r| {
            let contributions: Vec<_> = match r.body() {
                Body::Counter(c) => c.contributions().map(|c| (c.stamp, Some(c.total), true)).collect(),
                // A stamp in a HyperLogLog may carry any registers: they join by maximum; one in
                // a header any clears.
                Body::Hll(_) | Body::Collection => vec![],
                _ => vec![(r.stamp(), r.value().map(|v| v[0] as i64), false)],
            };
            contributions
                .into_iter()
                .all(|(stamp, what, counter)| *writes.entry(stamp).or_insert((what, counter)) == (what, counter))
        })
    }

    fn same(a: &Record, b: &Record) -> bool {
        a.key() == b.key()
            && a.body() == b.body()
            && a.stamp() == b.stamp()
            && a.deadline_ms() == b.deadline_ms()
            && a.header() == b.header()
    }

    proptest! {
        #[test]
        fn commutative(a in record(), b in record()) {
            prop_assume!(consistent(&[&a, &b]));
            prop_assert!(same(&merged(&a, &b), &merged(&b, &a)));
        }

        #[test]
        fn associative(a in record(), b in record(), c in record()) {
            prop_assume!(consistent(&[&a, &b, &c]));
            let left = merged(&merged(&a, &b), &c);
            let right = merged(&a, &merged(&b, &c));
            prop_assert!(same(&left, &right));
        }

        #[test]
        fn idempotent(a in record()) {
            prop_assert!(merge(&a, &a).is_none());
        }

        #[test]
        fn element_records_join_as_their_states_do(a in element(), b in element(), c in element()) {
            let state = |r: &Record| r.element_state().expect("an element");
            let mut joined = state(&a);
            joined.merge(&state(&b));
            let record = merged(&a, &b);
            prop_assert_eq!(state(&record), joined.clone());
            prop_assert_eq!(record.stamp(), joined.newest());
            prop_assert_eq!(state(&merged(&b, &a)), joined);
            prop_assert_eq!(state(&merged(&merged(&a, &b), &c)), state(&merged(&a, &merged(&b, &c))));
        }
    }

    #[test]
    fn counters_of_one_base_add_up_and_a_reset_they_never_saw_beats_them() {
        let base = stamp(1, 0);
        let counter = |node, wall, total| {
            let contributions = vec![Contribution { stamp: stamp(wall, node), total }];
            Record::counter(b"k", &Counter { base, base_value: 10, contributions }, None)
        };
        let sum = |r: &Record| match r.body() {
            Body::Counter(c) => c.sum(),
            _ => panic!("not a counter"),
        };
        let both = merged(&counter(1, 5, 3), &counter(2, 6, 4));
        assert_eq!(sum(&both), 17);
        // A SET at version 4 is newer than the base (1) though older than the increments: it wins.
        let reset = Record::plain(b"k", Some(b"x"), stamp(4, 2), None);
        assert!(same(&merged(&both, &reset), &reset));
        // The SET the counter started from (version 1) does not.
        let started_from = Record::plain(b"k", Some(b"10"), base, None);
        assert!(same(&merged(&both, &started_from), &both));
    }
}
