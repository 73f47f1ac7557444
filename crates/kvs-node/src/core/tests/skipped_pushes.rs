//! Pushes that leave out the writes of slots the receiver does not hold: its cursor for the
//! writer moves over them as over pushed writes it skips itself, in order, and only under the
//! layout they were skipped under.

use super::holdings::{one_copy_each, owners, round, tell_holdings};
use super::layouts::{members, settle};
use super::*;
use crate::core::PushFrame;

/// `count` keys written on `a`, not pushed.
fn written_on(a: &Core, count: usize, now: Now) -> Vec<Record> {
    (0..count).map(|i| write(a, format!("skip:{i}").as_bytes(), Some(b"v"), now).unwrap()).collect()
}

/// The frame `from`'s peer task would push `to` for `records`.
fn frame_for(from: &Core, to: &Core, records: &[Record]) -> Outgoing {
    let wanted = from.wanted_by(to.me().id).expect("the peer holds some slots only");
    let mut frame = PushFrame::new(Some(&wanted));
    for record in records {
        frame.add(record.clone());
    }
    frame.take().expect("a frame")
}

/// Three cores with one copy of each key, that have released the slots they kept and said so.
fn one_copy_each_said(now: Now) -> (Core, Core, Core) {
    let (a, b, c) = (core(1), core(2), core(3));
    one_copy_each(&[&a, &b, &c], now);
    tell_holdings(&[&a, &b, &c], now);
    (a, b, c)
}

fn cursor(core: &Core, origin: NodeId) -> u64 {
    core.cursors().iter().find(|(o, _)| *o == origin).map_or(0, |(_, seq)| *seq)
}

#[test]
fn a_push_carries_the_writes_of_the_receivers_slots_and_names_the_others() {
    let now = at(Instant::now(), 0);
    let (a, b, _c) = one_copy_each_said(now);
    let records = written_on(&a, 40, now);
    let frame = frame_for(&a, &b, &records);
    let PeerMessage::EntriesSkipping { entries, skipped, .. } = &frame else { panic!("{frame:?}") };
    let theirs: Vec<&Record> = records.iter().filter(|r| owners(&a, r.key()) == [NodeId(2)]).collect();
    assert!(!theirs.is_empty() && theirs.len() < records.len());
    assert_eq!(entries.len(), theirs.len(), "the writes of its own slots, and no other");
    assert_eq!(skipped.len(), records.len() - theirs.len(), "the others by number and slot");
    let named = |r: &Record| skipped.contains(&(r.seq(), kvs_proto::slot::slot_of(r.key())));
    assert!(records.iter().filter(|r| owners(&a, r.key()) != [NodeId(2)]).all(named));

    b.receive(peer(1), over_the_wire(&frame), now);
    assert_eq!(cursor(&b, a.origin()), records.last().unwrap().seq(), "its cursor passed every write");
    for record in &records {
        let kept = value(&b, record.key()).is_some();
        assert_eq!(kept, owners(&a, record.key()) == [NodeId(2)], "{}", String::from_utf8_lossy(record.key()));
    }
}

#[test]
fn skipped_writes_count_only_in_order() {
    let now = at(Instant::now(), 0);
    let (a, b, _c) = one_copy_each_said(now);
    let start = cursor(&b, a.origin());
    // A push lost on the way: what follows names writes beyond a gap, which stays for
    // anti-entropy to fill.
    let records = written_on(&a, 40, now);
    b.receive(peer(1), over_the_wire(&frame_for(&a, &b, &records[1..])), now);
    assert_eq!(cursor(&b, a.origin()), start);
}

#[test]
fn a_skipped_write_of_a_slot_held_whole_leaves_a_gap() {
    let now = at(Instant::now(), 0);
    let (a, b, c) = one_copy_each_said(now);
    let start = cursor(&b, a.origin());
    // A sender whose word on b is wrong (here: c's slots taken for b's) skips b's own writes.
    let records = written_on(&a, 40, now);
    let wrong = a.wanted_by(c.me().id).unwrap();
    let mut frame = PushFrame::new(Some(&wrong));
    records.iter().for_each(|record| frame.add(record.clone()));
    b.receive(peer(1), over_the_wire(&frame.take().unwrap()), now);
    let first_of_b = records.iter().position(|r| owners(&a, r.key()) == [NodeId(2)]).unwrap();
    assert_eq!(cursor(&b, a.origin()), start + first_of_b as u64, "the cursor stops before the first write of b's");
}

#[test]
fn a_skipped_write_of_a_slot_being_fetched_counts_once_the_fetch_is_vouched_for_past_it() {
    let now = at(Instant::now(), 0);
    let (a, b, c) = one_copy_each_said(now);
    let cores = [&a, &b, &c];
    let records = written_on(&a, 60, now);
    let frame = frame_for(&a, &b, &records);

    // b gains slots before the frame, skipped for it as not its own, arrives.
    let (_, effects) = a.apply_layout(2, members(&[1, 2, 3]), now).unwrap();
    settle(&cores, vec![(a.me().id, effects)], now);
    b.receive(peer(1), over_the_wire(&frame), now);
    assert_eq!(cursor(&b, a.origin()), records.last().unwrap().seq(), "every write counted");

    // A write b skipped in a slot it gained from c, which only c can vouch for: c has not heard
    // of it, so b's fetch of that slot waits; once c has it, the fetch brings it.
    let gained = records
        .iter()
        .find(|r| {
            let mut now_owners = owners(&b, r.key());
            now_owners.sort();
            now_owners == [NodeId(2), NodeId(3)] && value(&b, r.key()).is_none()
        })
        .expect("a write of a slot b gained from c");
    for _ in 0..2 {
        round(&b, &c, now);
    }
    assert_eq!(value(&b, gained.key()), None, "not fetched on the word of a member that lacks it");
    for record in &records {
        push(1, &c, record, now);
    }
    tell_holdings(&cores, now);
    for _ in 0..2 {
        round(&b, &c, now);
    }
    assert_eq!(value(&b, gained.key()), Some(b"v".to_vec()), "fetched from a member past it");
}

#[test]
fn a_skipped_write_that_names_no_slot_is_not_counted() {
    let now = at(Instant::now(), 0);
    let (a, b, _c) = one_copy_each_said(now);
    let start = cursor(&b, a.origin());
    let record = written_on(&a, 1, now).remove(0);
    let frame = Outgoing::EntriesSkipping { entries: Vec::new(), skipped: vec![(record.seq(), 20_000)] };
    b.receive(peer(1), over_the_wire(&frame), now);
    assert_eq!(cursor(&b, a.origin()), start);
}
