//! The conflict rules of hashes and sets (docs/how-it-works.md, conflict rules), one test per
//! row, made on two cores that have not seen each other's writes and then exchanged.

use super::*;
use bytes::Bytes;
use kvs_store::collection::{element_key, CollectionType};
use kvs_store::local::ForAdd;

const SET: CollectionType = CollectionType::Set;
const HASH: CollectionType = CollectionType::Hash;

/// Adds `element` (with `value`) to the collection `of` at `key` on `core`, as the Redis port
/// does: a header first when the key holds none of that type, then the element. Returns the
/// records written.
fn add(core: &Core, of: CollectionType, key: &[u8], element: &str, value: impl AsRef<[u8]>, now: Now) -> Vec<Record> {
    let (header, ()) = local(core, key, now, |l| match l.header_for_add(of).unwrap() {
        ForAdd::Made(record, _) => Decision::Write(record, ()),
        ForAdd::Held(_) => Decision::Keep(()),
    })
    .unwrap();
    let value = Bytes::copy_from_slice(value.as_ref());
    let at = element_key(of, key, element.as_bytes());
    let (added, ()) = local(core, &at, now, |l| Decision::Write(l.element_added(value), ())).unwrap();
    header.into_iter().chain(added).collect()
}

/// Removes `element` from the collection `of` at `key` on `core` (SREM, HDEL).
fn remove(core: &Core, of: CollectionType, key: &[u8], element: &str, now: Now) -> Vec<Record> {
    let at = element_key(of, key, element.as_bytes());
    let (removed, ()) = local(core, &at, now, |l| match l.element_removed() {
        Some(record) => Decision::Write(record, ()),
        None => Decision::Keep(()),
    })
    .unwrap();
    removed.into_iter().collect()
}

/// DEL of the collection at `key` on `core`.
fn delete(core: &Core, key: &[u8], now: Now) -> Vec<Record> {
    let found = core.store().collection(key, now.wall_ms).expect("a collection to delete");
    let (record, ()) = local(core, key, now, |l| Decision::Write(l.collection_cleared(&found), ())).unwrap();
    record.into_iter().collect()
}

/// The elements `core` holds at `key`, with values, when the key holds a collection of type `of`.
fn elements(core: &Core, of: CollectionType, key: &[u8]) -> Vec<(String, String)> {
    let Some(found) = core.store().collection(key, WALL_MS).filter(|f| f.header.of == of) else {
        return Vec::new();
    };
    let text = |b: &Bytes| String::from_utf8_lossy(b).into_owned();
    let all = core.store().elements(of, key, &found.header);
    assert_eq!(all.len(), found.len, "the count kept matches the elements seen");
    all.iter().map(|(name, value)| (text(name), text(value))).collect()
}

fn members(core: &Core, key: &[u8]) -> Vec<String> {
    elements(core, SET, key).into_iter().map(|(member, _)| member).collect()
}

/// Two cores that both hold `records` (written on `a`).
fn shared(records: &[Record], b: &Core, now: Now) {
    for record in records {
        push(1, b, record, now);
    }
}

#[test]
fn an_sadd_concurrent_with_an_srem_of_an_add_seen_before_keeps_the_member() {
    let (a, b) = (core(1), core(2));
    let start = Instant::now();
    shared(&add(&a, SET, b"s", "x", "", at(start, 0)), &b, at(start, 1));
    let again = add(&a, SET, b"s", "x", "", at(start, 2));
    let removed = remove(&b, SET, b"s", "x", at(start, 3));
    exchange(&a, &again, &b, &removed, at(start, 4));
    assert_eq!((members(&a, b"s"), members(&b, b"s")), (vec!["x".to_string()], vec!["x".to_string()]));
}

#[test]
fn an_srem_that_saw_every_add_removes_the_member_and_the_key() {
    let (a, b) = (core(1), core(2));
    let start = Instant::now();
    shared(&add(&a, SET, b"s", "x", "", at(start, 0)), &b, at(start, 1));
    let removed = remove(&b, SET, b"s", "x", at(start, 2));
    exchange(&a, &[], &b, &removed, at(start, 3));
    assert_eq!((members(&a, b"s"), members(&b, b"s")), (vec![], vec![]));
    assert_eq!((a.store().live_count(), b.store().live_count()), (0, 0), "an emptied set is no key");
}

#[test]
fn an_hset_concurrent_with_an_hdel_of_the_field_keeps_the_field() {
    let (a, b) = (core(1), core(2));
    let start = Instant::now();
    shared(&add(&a, HASH, b"h", "f", "old", at(start, 0)), &b, at(start, 1));
    let set = add(&a, HASH, b"h", "f", "new", at(start, 2));
    let deleted = remove(&b, HASH, b"h", "f", at(start, 3));
    exchange(&a, &set, &b, &deleted, at(start, 4));
    let want = vec![("f".to_string(), "new".to_string())];
    assert_eq!((elements(&a, HASH, b"h"), elements(&b, HASH, b"h")), (want.clone(), want));
}

#[test]
fn concurrent_hsets_of_one_field_agree_on_the_later_version() {
    let (a, b) = (core(1), core(2));
    let start = Instant::now();
    shared(&add(&a, HASH, b"h", "f", "old", at(start, 0)), &b, at(start, 1));
    let earlier = add(&a, HASH, b"h", "f", "from a", at(start, 2));
    let later = add(&b, HASH, b"h", "f", "from b", at(start, 3));
    exchange(&a, &earlier, &b, &later, at(start, 4));
    let want = vec![("f".to_string(), "from b".to_string())];
    assert_eq!((elements(&a, HASH, b"h"), elements(&b, HASH, b"h")), (want.clone(), want));
}

#[test]
fn a_del_concurrent_with_an_sadd_keeps_only_the_member_it_had_not_seen() {
    let (a, b) = (core(1), core(2));
    let start = Instant::now();
    shared(&add(&a, SET, b"s", "x", "", at(start, 0)), &b, at(start, 1));
    let deleted = delete(&a, b"s", at(start, 2));
    let added = add(&b, SET, b"s", "y", "", at(start, 2));
    exchange(&a, &deleted, &b, &added, at(start, 3));
    assert_eq!((members(&a, b"s"), members(&b, b"s")), (vec!["y".to_string()], vec!["y".to_string()]));
}

#[test]
fn a_late_copy_of_a_removed_add_does_not_bring_the_member_back() {
    let (a, b) = (core(1), core(2));
    let start = Instant::now();
    let first = add(&a, SET, b"s", "x", "", at(start, 0));
    shared(&first, &b, at(start, 1));
    let removed = remove(&a, SET, b"s", "x", at(start, 2));
    // B hears of the remove, then of the add again (a retransmission, an anti-entropy answer).
    exchange(&a, &removed, &b, &[], at(start, 3));
    shared(&first, &b, at(start, 4));
    assert_eq!(members(&b, b"s"), Vec::<String>::new());
    assert_eq!(a.store().digest(), b.store().digest());
}

#[test]
fn a_split_brain_with_sadd_and_srem_on_both_sides_keeps_what_neither_side_removed() {
    let (a, b) = (core(1), core(2));
    let start = Instant::now();
    let mut before = add(&a, SET, b"s", "x", "", at(start, 0));
    before.extend(add(&a, SET, b"s", "y", "", at(start, 0)));
    shared(&before, &b, at(start, 1));
    // Side A removes x and adds z; side B removes y, adds x again and adds w.
    let mut side_a = remove(&a, SET, b"s", "x", at(start, 2));
    side_a.extend(add(&a, SET, b"s", "z", "", at(start, 2)));
    let mut side_b = remove(&b, SET, b"s", "y", at(start, 2));
    side_b.extend(add(&b, SET, b"s", "x", "", at(start, 2)));
    side_b.extend(add(&b, SET, b"s", "w", "", at(start, 2)));
    exchange(&a, &side_a, &b, &side_b, at(start, 3));
    let want: Vec<String> = ["w", "x", "z"].map(String::from).to_vec();
    assert_eq!((members(&a, b"s"), members(&b, b"s")), (want.clone(), want));
}

#[test]
fn a_set_and_a_new_set_of_one_key_on_two_nodes_agree_on_the_newer_write() {
    let (a, b) = (core(1), core(2));
    let start = Instant::now();
    let string = write(&a, b"k", Some(b"plain"), at(start, 1)).unwrap();
    let set = add(&b, SET, b"k", "m", "", at(start, 2));
    exchange(&a, &[string], &b, &set, at(start, 3));
    assert_eq!((members(&a, b"k"), value(&a, b"k")), (vec!["m".to_string()], None));
    // A string written after the set replaces it, on both.
    let later = write(&a, b"k", Some(b"later"), at(start, 4)).unwrap();
    exchange(&a, &[later], &b, &[], at(start, 5));
    assert_eq!((members(&b, b"k"), value(&b, b"k")), (vec![], Some(b"later".to_vec())));
}

#[test]
fn a_collection_made_again_after_a_del_does_not_show_what_the_del_removed() {
    let a = core(1);
    let start = Instant::now();
    add(&a, HASH, b"h", "f", "1", at(start, 0));
    delete(&a, b"h", at(start, 1));
    assert_eq!(elements(&a, HASH, b"h"), vec![]);
    add(&a, SET, b"h", "m", "", at(start, 2));
    assert_eq!(members(&a, b"h"), vec!["m".to_string()]);
    assert_eq!(elements(&a, HASH, b"h"), vec![], "the hash's field stays gone under a set");
    assert_eq!(a.store().live_count(), 1);
}

/// An increment of `element`'s number by `int` and `float` on `core` (HINCRBY, ZINCRBY), as the
/// Redis port makes it: a header first if needed.
fn increment(core: &Core, of: CollectionType, key: &[u8], element: &str, by: (i64, f64), now: Now) -> Vec<Record> {
    let (header, found) = local(core, key, now, |l| match l.header_for_add(of).unwrap() {
        ForAdd::Made(record, header) => Decision::Write(record, header),
        ForAdd::Held(header) => Decision::Keep(header),
    })
    .unwrap();
    let at = element_key(of, key, element.as_bytes());
    let (added, ()) =
        local(core, &at, now, |l| Decision::Write(l.element_incremented(&found, by.0, by.1).unwrap(), ())).unwrap();
    header.into_iter().chain(added).collect()
}

fn hincrby(core: &Core, key: &[u8], field: &str, delta: i64, now: Now) -> Vec<Record> {
    increment(core, HASH, key, field, (delta, 0.0), now)
}

#[test]
fn concurrent_hincrbys_on_two_nodes_all_count_and_a_newer_hset_resets_them() {
    let (a, b) = (core(1), core(2));
    let start = Instant::now();
    shared(&hincrby(&a, b"h", "n", 1, at(start, 0)), &b, at(start, 1));
    let on_a = hincrby(&a, b"h", "n", 10, at(start, 2));
    let on_b = hincrby(&b, b"h", "n", 100, at(start, 2));
    exchange(&a, &on_a, &b, &on_b, at(start, 3));
    let want = vec![("n".to_string(), "111".to_string())];
    assert_eq!((elements(&a, HASH, b"h"), elements(&b, HASH, b"h")), (want.clone(), want));
    // An HSET on B that saw every increment, concurrent with one more on A: the HSET is the
    // base A's increment did not build on, so it stands alone.
    let reset = add(&b, HASH, b"h", "n", "5", at(start, 5));
    let more = hincrby(&a, b"h", "n", 1_000, at(start, 4));
    exchange(&a, &more, &b, &reset, at(start, 6));
    let want = vec![("n".to_string(), "5".to_string())];
    assert_eq!((elements(&a, HASH, b"h"), elements(&b, HASH, b"h")), (want.clone(), want));
}

const ZSET: CollectionType = CollectionType::SortedSet;

fn zincrby(core: &Core, key: &[u8], member: &str, delta: f64, now: Now) -> Vec<Record> {
    increment(core, ZSET, key, member, (0, delta), now)
}

/// The members of the sorted set at `key` on `core`, with scores, in member order.
fn scores(core: &Core, key: &[u8]) -> Vec<(String, f64)> {
    let Some(found) = core.store().collection(key, WALL_MS).filter(|f| f.header.of == ZSET) else {
        return Vec::new();
    };
    let all = core.store().elements(ZSET, key, &found.header);
    let all: Vec<(String, f64)> = all
        .iter()
        .map(|(m, s)| (String::from_utf8_lossy(m).into_owned(), kvs_store::collection::score_of(s)))
        .collect();
    // The score index holds the same members, in score order.
    let mut by_score = all.clone();
    by_score.sort_by(|a, b| a.1.total_cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
    let indexed = core.store().scored(key, false, 0, usize::MAX);
    let indexed: Vec<(String, f64)> =
        indexed.iter().map(|(m, s)| (String::from_utf8_lossy(m).into_owned(), *s)).collect();
    assert_eq!(indexed, by_score, "the score index agrees with the elements");
    all
}

#[test]
fn concurrent_zincrbys_on_two_nodes_sum() {
    let (a, b) = (core(1), core(2));
    let start = Instant::now();
    let first = add(&a, ZSET, b"z", "m", "", at(start, 0));
    shared(&first, &b, at(start, 1));
    let (on_a, on_b) = (zincrby(&a, b"z", "m", 1.0, at(start, 2)), zincrby(&b, b"z", "m", 1.0, at(start, 2)));
    exchange(&a, &on_a, &b, &on_b, at(start, 3));
    assert_eq!((scores(&a, b"z"), scores(&b, b"z")), (vec![("m".into(), 2.0)], vec![("m".into(), 2.0)]));
}

#[test]
fn concurrent_zadds_of_one_member_agree_on_the_later_versions_score() {
    let (a, b) = (core(1), core(2));
    let start = Instant::now();
    let (five, seven) = (kvs_store::collection::score_bytes(5.0), kvs_store::collection::score_bytes(7.0));
    let on_a = add(&a, ZSET, b"z", "m", five, at(start, 2));
    let on_b = add(&b, ZSET, b"z", "m", seven, at(start, 3));
    exchange(&a, &on_a, &b, &on_b, at(start, 4));
    assert_eq!((scores(&a, b"z"), scores(&b, b"z")), (vec![("m".into(), 7.0)], vec![("m".into(), 7.0)]));
}
