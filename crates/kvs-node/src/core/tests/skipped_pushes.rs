//! Pushes that leave out the writes of slots the receiver does not hold: its cursor for the
//! writer moves over them as over pushed writes it skips itself, in order, and only under the
//! layout they were skipped under.

use super::holdings::{one_copy_each, owners, tell_holdings};
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

fn cursor(core: &Core, origin: NodeId) -> u64 {
    core.cursors().iter().find(|(o, _)| *o == origin).map_or(0, |(_, seq)| *seq)
}

#[test]
fn a_push_carries_the_writes_of_the_receivers_slots_and_names_the_others() {
    let (a, b, c) = (core(1), core(2), core(3));
    let cores = [&a, &b, &c];
    let now = at(Instant::now(), 0);
    one_copy_each(&cores, now);
    // Each has released the slots it kept, and says so.
    tell_holdings(&cores, now);
    let records = written_on(&a, 40, now);
    let frame = frame_for(&a, &b, &records);
    let PeerMessage::EntriesSkipping { entries, skipped, .. } = &frame else { panic!("{frame:?}") };
    let theirs: Vec<&Record> = records.iter().filter(|r| owners(&a, r.key()) == [NodeId(2)]).collect();
    assert!(!theirs.is_empty() && theirs.len() < records.len());
    assert_eq!(entries.len(), theirs.len(), "the writes of its own slots, and no other");
    let named: u64 = skipped.iter().map(|(from, to)| to - from + 1).sum();
    assert_eq!(named as usize, records.len() - theirs.len(), "the others by number");

    b.receive(peer(1), over_the_wire(&frame), now);
    assert_eq!(cursor(&b, a.origin()), records.last().unwrap().seq(), "its cursor passed every write");
    for record in &records {
        let kept = value(&b, record.key()).is_some();
        assert_eq!(kept, owners(&a, record.key()) == [NodeId(2)], "{}", String::from_utf8_lossy(record.key()));
    }
}

#[test]
fn skipped_writes_count_only_in_order() {
    let (a, b, c) = (core(1), core(2), core(3));
    let cores = [&a, &b, &c];
    let now = at(Instant::now(), 0);
    one_copy_each(&cores, now);
    // Each has released the slots it kept, and says so.
    tell_holdings(&cores, now);
    let start = cursor(&b, a.origin());
    // A push lost on the way: what follows names writes beyond a gap, which stays for
    // anti-entropy to fill.
    let records = written_on(&a, 40, now);
    b.receive(peer(1), over_the_wire(&frame_for(&a, &b, &records[1..])), now);
    assert_eq!(cursor(&b, a.origin()), start);
}

#[test]
fn skipped_writes_count_only_under_the_layout_they_were_skipped_under() {
    let (a, b, c) = (core(1), core(2), core(3));
    let cores = [&a, &b, &c];
    let now = at(Instant::now(), 0);
    one_copy_each(&cores, now);
    // Each has released the slots it kept, and says so.
    tell_holdings(&cores, now);
    let start = cursor(&b, a.origin());
    let records = written_on(&a, 40, now);
    let frame = frame_for(&a, &b, &records);

    // The receiver adopts a layout that gives it more slots before the frame arrives: the
    // writes skipped for it may be of those, so only the writes the frame carries move its
    // cursor, as far as they run unbroken.
    let (_, effects) = a.apply_layout(2, members(&[1, 2, 3]), now).unwrap();
    settle(&cores, vec![(a.me().id, effects)], now);
    b.receive(peer(1), over_the_wire(&frame), now);
    let unbroken =
        records.iter().take_while(|r| owners(&c, r.key()).contains(&NodeId(2)) && frame_carries(&frame, r)).count();
    assert_eq!(cursor(&b, a.origin()), start + unbroken as u64);
    assert!(cursor(&b, a.origin()) < records.last().unwrap().seq());

    // Once it says what it holds under the new layout, the writer thins its pushes by that.
    tell_holdings(&cores, now);
    let PeerMessage::EntriesSkipping { layout, entries, .. } = frame_for(&a, &b, &records) else { panic!() };
    assert_eq!(Some(layout), a.layout().map(|layout| layout.version));
    assert!(entries.len() > records.len() / 2, "two thirds of the slots are its own now");
}

/// Whether `frame` carries `record` itself.
fn frame_carries(frame: &Outgoing, record: &Record) -> bool {
    let PeerMessage::EntriesSkipping { entries, .. } = frame else { return true };
    entries.iter().any(|e| e.seq() == record.seq())
}
