//! The conflict rules of lists (docs/how-it-works.md, conflict rules), one test per row, made on
//! two cores that have not seen each other's writes and then exchanged: the same records the
//! Redis port writes (a position past an end for a push, between neighbours for an insert, an
//! observed remove for a pop, an overwrite for LSET).

use super::*;
use bytes::Bytes;
use kvs_store::collection::position::Position;
use kvs_store::collection::{element_key, CollectionType};
use kvs_store::local::ForAdd;

const LIST: CollectionType = CollectionType::List;

/// Writes `value` at `at` of the list at `key` on `core`: a header first when the key holds no
/// list, then the element.
fn put(core: &Core, key: &[u8], at: &[u8], value: &str, now: Now) -> Vec<Record> {
    let (header, ()) = local(core, key, now, |l| match l.header_for_add(LIST).unwrap() {
        ForAdd::Made(record, _) => Decision::Write(record, ()),
        ForAdd::Held(_) => Decision::Keep(()),
    })
    .unwrap();
    let value = Bytes::copy_from_slice(value.as_bytes());
    let (added, ()) =
        local(core, &element_key(LIST, key, at), now, |l| Decision::Write(l.element_added(value), ())).unwrap();
    header.into_iter().chain(added).collect()
}

/// The list at `key` on `core`: each element's position and value, in order.
fn held(core: &Core, key: &[u8]) -> Vec<(Bytes, String)> {
    let Some(found) = core.store().collection(key, WALL_MS).filter(|f| f.header.of == LIST) else {
        return Vec::new();
    };
    let all = core.store().list_elements(key, &found.header, false, 0, usize::MAX);
    assert_eq!(all.len(), found.len, "the count kept matches the elements seen");
    all.into_iter().map(|(at, value)| (at, String::from_utf8_lossy(&value).into_owned())).collect()
}

fn values(core: &Core, key: &[u8]) -> Vec<String> {
    held(core, key).into_iter().map(|(_, value)| value).collect()
}

/// RPUSH (`tail`) or LPUSH of `value` on `core`.
fn push_to(core: &Core, key: &[u8], value: &str, tail: bool, now: Now) -> Vec<Record> {
    let list = held(core, key);
    let end = if tail { list.last() } else { list.first() };
    let end = end.map(|(at, _)| Position::from_bytes(at).unwrap());
    let at = Position::pushed(end.as_ref(), tail, core.origin(), core.next_seq());
    put(core, key, at.as_bytes(), value, now)
}

/// LINSERT of `value` after the element at `index` on `core`.
fn insert_after(core: &Core, key: &[u8], index: usize, value: &str, now: Now) -> Vec<Record> {
    let list = held(core, key);
    let position = |i: usize| list.get(i).map(|(at, _)| Position::from_bytes(at).unwrap());
    let at = Position::between(position(index).as_ref(), position(index + 1).as_ref(), core.origin(), core.next_seq());
    put(core, key, at.as_bytes(), value, now)
}

/// LSET of the element at `index` on `core`.
fn set_at(core: &Core, key: &[u8], index: usize, value: &str, now: Now) -> Vec<Record> {
    let at = held(core, key)[index].0.clone();
    put(core, key, &at, value, now)
}

/// LPOP (`tail`: RPOP) on `core`: the value taken and the records written.
fn pop(core: &Core, key: &[u8], tail: bool, now: Now) -> (String, Vec<Record>) {
    let list = held(core, key);
    let (at, value) = if tail { list.last() } else { list.first() }.expect("an element to pop").clone();
    let (removed, ()) =
        local(core, &element_key(LIST, key, &at), now, |l| Decision::Write(l.element_removed().expect("held"), ()))
            .unwrap();
    (value, removed.into_iter().collect())
}

/// Both cores hold what `a` wrote.
fn shared(records: &[Record], b: &Core, now: Now) {
    for record in records {
        push(1, b, record, now);
    }
}

fn both(a: &Core, b: &Core, key: &[u8]) -> (Vec<String>, Vec<String>) {
    (values(a, key), values(b, key))
}

fn strings(values: &[&str]) -> Vec<String> {
    values.iter().map(|v| v.to_string()).collect()
}

#[test]
fn concurrent_rpushes_keep_both_elements_in_one_order() {
    let (a, b) = (core(1), core(2));
    let start = Instant::now();
    shared(&push_to(&a, b"l", "first", true, at(start, 0)), &b, at(start, 1));
    let from_a = push_to(&a, b"l", "from a", true, at(start, 2));
    let from_b = push_to(&b, b"l", "from b", true, at(start, 2));
    exchange(&a, &from_a, &b, &from_b, at(start, 3));
    let (on_a, on_b) = both(&a, &b, b"l");
    assert_eq!(on_a, on_b, "one order everywhere");
    assert_eq!(on_a[0], "first");
    assert_eq!(on_a[1..].iter().filter(|v| v.starts_with("from")).count(), 2, "{on_a:?}");
}

#[test]
fn concurrent_lpushes_keep_both_elements_in_one_order() {
    let (a, b) = (core(1), core(2));
    let start = Instant::now();
    shared(&push_to(&a, b"l", "last", true, at(start, 0)), &b, at(start, 1));
    let from_a = push_to(&a, b"l", "from a", false, at(start, 2));
    let from_b = push_to(&b, b"l", "from b", false, at(start, 2));
    exchange(&a, &from_a, &b, &from_b, at(start, 3));
    let (on_a, on_b) = both(&a, &b, b"l");
    assert_eq!(on_a, on_b, "one order everywhere");
    assert_eq!((on_a.len(), on_a[2].as_str()), (3, "last"), "{on_a:?}");
}

#[test]
fn concurrent_pops_of_one_element_both_return_it_and_it_goes_once() {
    let (a, b) = (core(1), core(2));
    let start = Instant::now();
    let mut made = push_to(&a, b"q", "job 1", true, at(start, 0));
    made.extend(push_to(&a, b"q", "job 2", true, at(start, 0)));
    shared(&made, &b, at(start, 1));
    let (taken_a, from_a) = pop(&a, b"q", false, at(start, 2));
    let (taken_b, from_b) = pop(&b, b"q", false, at(start, 2));
    assert_eq!((taken_a.as_str(), taken_b.as_str()), ("job 1", "job 1"), "at-least-once");
    exchange(&a, &from_a, &b, &from_b, at(start, 3));
    assert_eq!(both(&a, &b, b"q"), (strings(&["job 2"]), strings(&["job 2"])));
}

#[test]
fn a_pop_concurrent_with_a_push_removes_only_what_it_saw() {
    let (a, b) = (core(1), core(2));
    let start = Instant::now();
    shared(&push_to(&a, b"q", "old", true, at(start, 0)), &b, at(start, 1));
    let (_, popped) = pop(&a, b"q", true, at(start, 2));
    let pushed = push_to(&b, b"q", "new", true, at(start, 2));
    exchange(&a, &popped, &b, &pushed, at(start, 3));
    assert_eq!(both(&a, &b, b"q"), (strings(&["new"]), strings(&["new"])));
}

#[test]
fn concurrent_lsets_of_one_element_agree_on_the_later_version() {
    let (a, b) = (core(1), core(2));
    let start = Instant::now();
    shared(&push_to(&a, b"l", "old", true, at(start, 0)), &b, at(start, 1));
    let earlier = set_at(&a, b"l", 0, "from a", at(start, 2));
    let later = set_at(&b, b"l", 0, "from b", at(start, 3));
    exchange(&a, &earlier, &b, &later, at(start, 4));
    assert_eq!(both(&a, &b, b"l"), (strings(&["from b"]), strings(&["from b"])));
}

#[test]
fn an_lset_concurrent_with_a_pop_of_the_element_keeps_it_with_the_new_value() {
    let (a, b) = (core(1), core(2));
    let start = Instant::now();
    shared(&push_to(&a, b"l", "old", true, at(start, 0)), &b, at(start, 1));
    let set = set_at(&a, b"l", 0, "new", at(start, 2));
    let (taken, popped) = pop(&b, b"l", false, at(start, 3));
    assert_eq!(taken, "old");
    exchange(&a, &set, &b, &popped, at(start, 4));
    assert_eq!(both(&a, &b, b"l"), (strings(&["new"]), strings(&["new"])), "add wins");
}

#[test]
fn concurrent_inserts_at_one_place_keep_both_between_the_neighbours() {
    let (a, b) = (core(1), core(2));
    let start = Instant::now();
    let mut made = push_to(&a, b"l", "x", true, at(start, 0));
    made.extend(push_to(&a, b"l", "z", true, at(start, 0)));
    shared(&made, &b, at(start, 1));
    let from_a = insert_after(&a, b"l", 0, "from a", at(start, 2));
    let from_b = insert_after(&b, b"l", 0, "from b", at(start, 2));
    exchange(&a, &from_a, &b, &from_b, at(start, 3));
    let (on_a, on_b) = both(&a, &b, b"l");
    assert_eq!(on_a, on_b, "one order everywhere");
    assert_eq!((on_a.len(), on_a[0].as_str(), on_a[3].as_str()), (4, "x", "z"), "{on_a:?}");
}

#[test]
fn a_del_concurrent_with_a_push_keeps_only_the_push_it_had_not_seen() {
    let (a, b) = (core(1), core(2));
    let start = Instant::now();
    shared(&push_to(&a, b"l", "seen", true, at(start, 0)), &b, at(start, 1));
    let found = a.store().collection(b"l", WALL_MS).unwrap();
    let (deleted, ()) = local(&a, b"l", at(start, 2), |l| Decision::Write(l.collection_cleared(&found), ())).unwrap();
    let pushed = push_to(&b, b"l", "unseen", true, at(start, 2));
    exchange(&a, &deleted.into_iter().collect::<Vec<_>>(), &b, &pushed, at(start, 3));
    assert_eq!(both(&a, &b, b"l"), (strings(&["unseen"]), strings(&["unseen"])));
}

#[test]
fn a_list_made_again_over_a_deleted_one_keeps_the_deleted_elements_gone() {
    let (a, b) = (core(1), core(2));
    let start = Instant::now();
    let made = push_to(&a, b"l", "deleted", true, at(start, 0));
    let found = a.store().collection(b"l", WALL_MS).unwrap();
    let (deleted, ()) = local(&a, b"l", at(start, 1), |l| Decision::Write(l.collection_cleared(&found), ())).unwrap();
    // B hears of the DEL before the element it removed, and pushes to the list meanwhile.
    shared(&[made[0].clone(), deleted.unwrap()], &b, at(start, 2));
    let pushed = push_to(&b, b"l", "new", true, at(start, 3));
    exchange(&a, &made[1..], &b, &pushed, at(start, 4));
    assert_eq!(both(&a, &b, b"l"), (strings(&["new"]), strings(&["new"])));
}

#[test]
fn many_pushes_from_both_ends_read_back_in_push_order() {
    let a = core(1);
    let start = Instant::now();
    for i in 0..50 {
        push_to(&a, b"l", &format!("r{i}"), true, at(start, i));
        push_to(&a, b"l", &format!("l{i}"), false, at(start, i));
    }
    let want: Vec<String> = (0..50).rev().map(|i| format!("l{i}")).chain((0..50).map(|i| format!("r{i}"))).collect();
    assert_eq!(values(&a, b"l"), want);
}
