//! Hints between cores (docs/partitioning.md, "Owners that are down"): while an owner is down,
//! its slots' writes are sent to their stand-in beside the push that skips them, which keeps
//! them for it, merging and serving none of them; handed over, they are merged, moving no
//! cursor, and answered once logged; one older than the grace period is given up.

use super::holdings::{owners, tell_holdings};
use super::layouts::{acquainted, members, settle};
use super::*;
use crate::core::PushFrame;

/// The first key `k` whose slot `owned` own.
fn key_owned_by(core: &Core, owned: &[u64]) -> Vec<u8> {
    let mut wanted: Vec<NodeId> = owned.iter().map(|&id| NodeId(id)).collect();
    wanted.sort();
    (0..)
        .map(|i| format!("hint:{i}").into_bytes())
        .find(|key| {
            let mut owners = owners(core, key);
            owners.sort();
            owners == wanted
        })
        .unwrap()
}

/// Three cores under a layout of two owners a slot, whose third core has fallen silent past
/// --dead-after-ms while the other two kept hearing each other; returns them and that moment.
fn second_down(start: Instant) -> (Core, Core, Core, Now) {
    let now = at(start, 0);
    let (a, b, c) = (core(1), core(3), core(2));
    acquainted(&[&a, &b, &c], now);
    let (_, effects) = a.apply_layout(2, members(&[1, 2, 3]), now).unwrap();
    settle(&[&a, &b, &c], vec![(a.me().id, effects)], now);
    tell_holdings(&[&a, &b, &c], now);
    for core in [&a, &b, &c] {
        core.hand_off();
    }
    // What each keeps now, for what each wants pushed.
    tell_holdings(&[&a, &b, &c], now);
    let later = at(start, 10_000);
    gossip(&a, &c, later);
    gossip(&c, &a, later);
    a.heartbeat(later);
    c.heartbeat(later);
    (a, b, c, later)
}

#[test]
fn a_write_of_a_slot_whose_owner_is_down_is_sent_to_its_stand_in_beside_the_push_and_kept_as_a_hint() {
    let (a, b, c, now) = second_down(Instant::now());
    // b (node 3) is down; a (1) and c (2) are up.
    // Each stands in for the slots b shares with the other.
    assert_eq!((a.owners_down(), c.owners_down()), ((1, true), (1, true)));
    let hinted = key_owned_by(&a, &[1, 3]);
    let plain = key_owned_by(&a, &[1, 2]);
    let records: Vec<Record> = [&hinted, &plain].iter().map(|key| write(&a, key, Some(b"v"), now).unwrap()).collect();
    // The push to c skips the write of the slot it does not own, and carries it beside, to keep.
    let wanted = a.wanted_by(c.me().id).expect("c holds some slots only");
    let mut frame = PushFrame::new(Some(&wanted));
    records.iter().for_each(|record| frame.add(record.clone()));
    let (push, beside) = (frame.take().unwrap(), frame.take_hints().unwrap());
    let PeerMessage::EntriesSkipping { entries, skipped } = &push else { panic!("{push:?}") };
    assert_eq!((entries.len(), skipped.len()), (1, 1), "c's own write carried, the other named");
    let PeerMessage::HintsToKeep { entries: to_keep } = &beside else { panic!("{beside:?}") };
    assert_eq!(to_keep.iter().map(|r| r.key().to_vec()).collect::<Vec<_>>(), std::slice::from_ref(&hinted));

    let pushed = c.receive(peer(1), over_the_wire(&push), now);
    assert!(!pushed.iter().any(|effect| matches!(effect, Effect::KeepHints { .. })), "a push keeps no hint");
    let effects = c.receive(peer(1), over_the_wire(&beside), now);
    let hints: Vec<(NodeId, Vec<Vec<u8>>)> = effects
        .iter()
        .filter_map(|effect| match effect {
            Effect::KeepHints { owner, records } => Some((*owner, records.iter().map(|r| r.key().to_vec()).collect())),
            _ => None,
        })
        .collect();
    assert_eq!(hints, [(NodeId(3), vec![hinted.clone()])], "one hint, for the owner down");
    assert_eq!(value(&c, &hinted), None, "a stand-in serves none of it");
    assert_eq!(value(&c, &plain), Some(b"v".to_vec()), "its own slot's write is applied as ever");
    drop(b);
}

#[test]
fn hints_handed_over_are_merged_moving_no_cursor_and_answered_once_logged() {
    let start = Instant::now();
    let (a, b, c, now) = second_down(start);
    let key = key_owned_by(&a, &[1, 3]);
    let record = write(&a, &key, Some(b"v"), now).unwrap();
    let cursor_before = b.cursors();
    let hints = Outgoing::Hints { id: 7, entries: vec![record.clone()] };
    let effects = b.receive(peer(2), over_the_wire(&hints), now);
    assert_eq!(value(&b, &key), Some(b"v".to_vec()));
    assert_eq!(b.cursors(), cursor_before, "a hint moves no cursor: anti-entropy still asks the origin");
    assert!(matches!(&effects[0], Effect::Log(logged) if logged.len() == 1));
    let answer = effects.iter().find_map(|effect| match effect {
        Effect::SendOnceLogged { to, message: Outgoing::HintsTaken { id } } => Some((*to, *id)),
        _ => None,
    });
    assert_eq!(answer, Some((NodeId(2), 7)));

    // A hint written before the grace period (--eviction-grace-ms, 10 minutes) is given up: a
    // delete of its key may have been purged since.
    let old_key = key_owned_by(&a, &[2, 3]);
    let old = write(&a, &old_key, Some(b"old"), now).unwrap();
    let much_later = at(start, 10_000 + 11 * 60_000);
    let effects = b.receive(peer(2), over_the_wire(&Outgoing::Hints { id: 8, entries: vec![old] }), much_later);
    assert_eq!(value(&b, &old_key), None);
    assert!(matches!(&effects[..], [Effect::SendOnceLogged { .. }]), "answered, so the stand-in drops it: {effects:?}");
    drop(c);
}
