//! The conflict rules of the types added in protocol 9 (docs/how-it-works.md, conflict rules),
//! one test per row: HyperLogLogs, whose registers merge by maximum, and evictions, which remove
//! exactly the write they chose. Each row is made on two cores that have not seen each other's
//! write, then exchanged in both orders' worth (each pushes to the other).

use super::*;
use kvs_store::hll::{position, Registers};

/// PFADD of `elements` on `core` at `now`.
fn pfadd(core: &Core, key: &[u8], elements: &[&str], now: Now) -> Option<Record> {
    let mut add = Registers::default();
    for element in elements {
        let (index, value) = position(element.as_bytes());
        add.raise(index, value);
    }
    let decide = |local: &Local<'_>| match local.hll_add(&add).unwrap() {
        (Some(record), _) => Decision::Write(record, ()),
        (None, _) => Decision::Keep(()),
    };
    local(core, key, now, decide).unwrap().0
}

/// PFCOUNT of `key` on `core`.
fn pfcount(core: &Core, key: &[u8]) -> Option<u64> {
    let record = core.store().get_live(key, 0)?;
    Some(kvs_store::local::registers_of(&record).unwrap().count())
}

/// Evicts what `core` holds at `key` (the write it holds now), as the memory limit would.
fn evict(core: &Core, key: &[u8], now: Now) -> Record {
    let target = core.store().get_live(key, 0).expect("something to evict").eviction_target();
    let decide = |local: &Local<'_>| Decision::Write(local.evict(target).expect("still held"), ());
    local(core, key, now, decide).unwrap().0.unwrap()
}

#[test]
fn concurrent_pfadds_on_two_nodes_all_count() {
    let (a, b) = (core(1), core(2));
    let start = Instant::now();
    let shared = pfadd(&a, b"h", &["x"], at(start, 0)).unwrap();
    push(1, &b, &shared, at(start, 1));
    let on_a = pfadd(&a, b"h", &["a1", "a2", "a3"], at(start, 2)).unwrap();
    let on_b = pfadd(&b, b"h", &["b1", "b2"], at(start, 2)).unwrap();
    exchange(&a, &[on_a], &b, &[on_b], at(start, 3));
    assert_eq!((pfcount(&a, b"h"), pfcount(&b, b"h")), (Some(6), Some(6)));
}

#[test]
fn a_pfadd_replicates_only_the_registers_it_raised() {
    let a = core(1);
    let start = Instant::now();
    let many: Vec<String> = (0..2_000).map(|i| format!("e{i}")).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    pfadd(&a, b"h", &many, at(start, 0)).unwrap();
    let one = pfadd(&a, b"h", &["a new one, surely"], at(start, 1)).unwrap();
    let kvs_store::record::Body::Hll(delta) = one.body() else { panic!("not a HyperLogLog") };
    assert_eq!(delta.compact().len(), 3, "one register, three bytes");
    assert!(pfadd(&a, b"h", &["e1"], at(start, 2)).is_none(), "nothing raised, nothing written");
}

#[test]
fn a_del_that_saw_a_hyperloglog_beats_a_concurrent_pfadd_as_a_reset_beats_increments() {
    let (a, b) = (core(1), core(2));
    let start = Instant::now();
    let first = pfadd(&a, b"h", &["x", "y"], at(start, 0)).unwrap();
    push(1, &b, &first, at(start, 1));
    let del = write(&a, b"h", None, at(start, 2)).unwrap();
    let added = pfadd(&b, b"h", &["z"], at(start, 2)).unwrap();
    exchange(&a, &[del], &b, &[added], at(start, 3));
    assert_eq!((pfcount(&a, b"h"), pfcount(&b, b"h")), (None, None));
}

#[test]
fn a_set_newer_than_a_hyperloglogs_base_replaces_it() {
    let (a, b) = (core(1), core(2));
    let start = Instant::now();
    let hll = pfadd(&a, b"h", &["x"], at(start, 0)).unwrap();
    push(1, &b, &hll, at(start, 1));
    let set = write(&b, b"h", Some(b"plain"), at(start, 2)).unwrap();
    let more = pfadd(&a, b"h", &["y"], at(start, 3)).unwrap();
    exchange(&a, &[more], &b, &[set], at(start, 4));
    assert_eq!((value(&a, b"h"), value(&b, b"h")), (Some(b"plain".to_vec()), Some(b"plain".to_vec())));
}

#[test]
fn a_write_made_while_another_node_evicts_the_key_survives_everywhere() {
    let (a, b) = (core(1), core(2));
    let start = Instant::now();
    let first = write(&a, b"k", Some(b"v1"), at(start, 0)).unwrap();
    push(1, &b, &first, at(start, 1));
    // B evicts v1 while A, having seen v1, writes v2: v2 beats the eviction on both nodes,
    // whichever arrives first; a key only B's eviction touched is gone on both.
    let other = write(&a, b"j", Some(b"untouched"), at(start, 0)).unwrap();
    push(1, &b, &other, at(start, 1));
    let evicted = evict(&b, b"k", at(start, 5));
    let evicted_j = evict(&b, b"j", at(start, 5));
    let second = write(&a, b"k", Some(b"v2"), at(start, 2)).unwrap();
    assert!(second.version() < evicted.version(), "the eviction is the newer write, and still loses");
    exchange(&a, &[second], &b, &[evicted, evicted_j], at(start, 6));
    assert_eq!((value(&a, b"k"), value(&b, b"k")), (Some(b"v2".to_vec()), Some(b"v2".to_vec())));
    assert_eq!((value(&a, b"j"), value(&b, b"j")), (None, None));
}

#[test]
fn two_nodes_evicting_one_write_agree_on_one_tombstone() {
    let (a, b) = (core(1), core(2));
    let start = Instant::now();
    let first = write(&a, b"k", Some(b"v1"), at(start, 0)).unwrap();
    push(1, &b, &first, at(start, 1));
    let (on_a, on_b) = (evict(&a, b"k", at(start, 2)), evict(&b, b"k", at(start, 3)));
    exchange(&a, &[on_a], &b, &[on_b], at(start, 4));
    assert_eq!((value(&a, b"k"), value(&b, b"k")), (None, None));
}

#[test]
fn an_eviction_of_a_counter_removes_it_with_the_increments_it_had_not_seen_as_a_del_does() {
    let (a, b) = (core(1), core(2));
    let start = Instant::now();
    let first = increment(&a, b"n", 5, at(start, 0));
    push(1, &b, &first, at(start, 1));
    let evicted = evict(&b, b"n", at(start, 2));
    let more = increment(&a, b"n", 1, at(start, 2));
    exchange(&a, &[more], &b, &[evicted], at(start, 3));
    assert_eq!((value(&a, b"n"), value(&b, b"n")), (None, None));
}
