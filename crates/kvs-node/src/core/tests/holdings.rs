//! Slots held under a layout that partitions the key space, between cores: each keeps the
//! records of its own slots, drops what a lost slot left once the slot's owners say they hold
//! it, and fetches a slot it gains whole before its cursors claim it.

use super::layouts::{acquainted, members, settle};
use super::*;
use kvs_proto::slot::slot_of;
use kvs_proto::slot_set::SlotSet;

/// One anti-entropy round of `asker` with `answerer`, carried as the shell would: the request
/// (a delta or, every other round while slots are being fetched, a fetch), the answer's batches,
/// and its end; returns what the end did.
pub(super) fn round(asker: &Core, answerer: &Core, now: Now) -> Vec<Effect> {
    let to = answerer.me().id;
    let effects = asker.anti_entropy_round(now, |peer| (peer == to).then_some(1));
    let [Effect::Send { message, .. }] = &effects[..] else { panic!("{} asking {to}: {effects:?}", asker.me().id) };
    let asked = answerer.receive(peer(asker.me().id.0), over_the_wire(message), now);
    let [Effect::AnswerAntiEntropy { request, cursors, fresh, slots, .. }] = &asked[..] else { panic!("{asked:?}") };
    let request = *request;
    let (answer, whole) = answerer.anti_entropy_answer(cursors.clone(), *fresh, slots.clone());
    let AntiEntropyAnswer::Delta(mut batches) = answer else { panic!("no resync expected") };
    let from = peer(to.0);
    for entries in batches.by_ref() {
        asker.receive(from, over_the_wire(&Outgoing::AntiEntropyEntries { request, entries }), now);
    }
    let done = match whole {
        None => Outgoing::AntiEntropyDone { request, cursors: batches.done },
        Some(whole) => {
            let left = answerer.left_whole().iter().map(|(slots, at)| (slots.to_words(), at.clone())).collect();
            Outgoing::SlotFetchDone { request, cursors: batches.done, whole: whole.to_words(), left }
        }
    };
    asker.receive(from, over_the_wire(&done), now)
}

/// Every core tells every other what it holds, as their heartbeats do.
pub(super) fn tell_holdings(cores: &[&Core], now: Now) {
    for a in cores {
        let message = a.holding_message().expect("a layout is held");
        for b in cores.iter().filter(|b| b.me().id != a.me().id) {
            b.receive(peer(a.me().id.0), over_the_wire(&message), now);
        }
    }
}

/// The owners of `key`'s slot under `core`'s layout.
pub(super) fn owners(core: &Core, key: &[u8]) -> Vec<NodeId> {
    core.layout_owners().expect("a layout").1[usize::from(slot_of(key))].clone()
}

fn holders(cores: &[&Core], key: &[u8]) -> Vec<NodeId> {
    let mut holders: Vec<NodeId> = cores.iter().filter(|c| value(c, key).is_some()).map(|c| c.me().id).collect();
    holders.sort();
    holders
}

/// Applies a layout of factor `n` on `cores[0]` and lets it reach the others.
fn apply(cores: &[&Core], n: u32, now: Now) {
    let (_, effects) = cores[0].apply_layout(n, members(&[1, 2, 3]), now).unwrap();
    settle(cores, vec![(cores[0].me().id, effects)], now);
}

/// `count` keys written on `a` and pushed to the others.
fn written(cores: &[&Core], count: usize, now: Now) -> Vec<Vec<u8>> {
    let keys: Vec<Vec<u8>> = (0..count).map(|i| format!("key:{i}").into_bytes()).collect();
    for key in &keys {
        let record = write(cores[0], key, Some(b"v"), now).unwrap();
        for other in &cores[1..] {
            push(cores[0].me().id.0, other, &record, now);
        }
    }
    keys
}

/// 60 keys written on `cores[0]` and pushed to the others, then a layout of one owner a slot,
/// whose owners say they hold their slots, so each node keeps only its own.
pub(super) fn one_copy_each(cores: &[&Core], now: Now) -> Vec<Vec<u8>> {
    acquainted(cores, now);
    let keys = written(cores, 60, now);
    apply(cores, 1, now);
    tell_holdings(cores, now);
    for core in cores {
        core.hand_off();
    }
    keys
}

#[test]
fn a_partitioned_layout_leaves_each_key_on_its_owners_once_they_hold_it() {
    let (a, b, c) = (core(1), core(2), core(3));
    let cores = [&a, &b, &c];
    let now = at(Instant::now(), 0);
    acquainted(&cores, now);
    let keys = written(&cores, 60, now);
    apply(&cores, 2, now);
    // Each still holds, applies and serves every slot, a third of them no longer its own.
    assert!(cores.iter().all(|core| core.holds_all()));
    // Nothing goes before the owners have said they hold it.
    for core in cores {
        assert!(core.hand_off().is_empty());
    }
    assert!(keys.iter().all(|key| holders(&cores, key).len() == 3));
    tell_holdings(&cores, now);
    for core in cores {
        assert!(matches!(&core.hand_off()[..], [Effect::CompactLog]), "a durable core compacts after dropping");
        assert!(!core.holds_all(), "node {} holds its own slots only", core.me().id);
    }
    for key in &keys {
        let mut owners = owners(&a, key);
        owners.sort();
        assert_eq!(holders(&cores, key), owners, "{}", String::from_utf8_lossy(key));
    }

    // A write of a key whose slot the writer does not hold is pushed; its owners keep it, the
    // third node does not, and the writer drops it once the owners say they hold it.
    let key = keys.iter().find(|key| !owners(&a, key).contains(&NodeId(1))).unwrap();
    let record = write(&a, key, Some(b"new"), now).unwrap();
    for other in [&b, &c] {
        push(1, other, &record, now);
    }
    assert!(cores.iter().all(|core| value(core, key) == Some(b"new".to_vec())), "owners, and the writer for now");
    tell_holdings(&cores, now);
    a.hand_off();
    let mut expected = owners(&a, key);
    expected.sort();
    assert_eq!(holders(&cores, key), expected);
    assert_eq!(value(&a, key), None, "dropped by the writer once handed over");
}

#[test]
fn a_node_that_gains_slots_fetches_them_whole_before_its_cursors_claim_them() {
    let (a, b, c) = (core(1), core(2), core(3));
    let cores = [&a, &b, &c];
    let now = at(Instant::now(), 0);
    let keys = one_copy_each(&cores, now);
    assert!(keys.iter().all(|key| holders(&cores, key).len() == 1), "one owner each");

    // Every node gains slots at N = 2 and holds them whole only once it has fetched them.
    apply(&cores, 2, now);
    let gained = |core: &Core| core.whole().map_or(0, |whole| 16384 - whole.len());
    assert!(cores.iter().all(|core| gained(core) > 16384 / 3), "each gained a third of the slots");
    for (i, asker) in cores.iter().enumerate() {
        // Fetch and delta rounds alternate: each other node is asked for both.
        for step in [1, 1, 2, 2] {
            round(asker, cores[(i + step) % 3], now);
        }
    }
    for core in cores {
        assert_eq!(core.whole(), Some(core.store().held.snapshot()), "node {} fetched all it gained", core.me().id);
    }
    for key in &keys {
        let mut owners = owners(&a, key);
        owners.sort();
        assert_eq!(holders(&cores, key), owners, "{}", String::from_utf8_lossy(key));
    }
}

#[test]
fn a_slot_that_moves_to_a_new_sole_owner_is_vouched_for_by_the_one_that_lost_it() {
    let (a, b, c) = (core(1), core(2), core(3));
    let cores = [&a, &b, &c];
    let now = at(Instant::now(), 0);
    let keys = one_copy_each(&cores, now);
    // Node 3 weighs three times as much: it gains slots nobody else will own.
    let mut heavier = members(&[1, 2, 3]);
    heavier[2].weight = 3;
    let (_, effects) = a.apply_layout(1, heavier, now).unwrap();
    settle(&cores, vec![(a.me().id, effects)], now);
    assert!(c.whole().is_some_and(|whole| whole.len() < c.store().held.snapshot().len()), "node 3 fetches");
    // Meanwhile a command on a slot it fetches goes to the old owner, which still holds the slot
    // and applies its writes.
    tell_holdings(&cores, now);
    let moving = keys.iter().find(|key| owners(&a, key) == [NodeId(3)] && value(&a, key).is_some()).unwrap();
    assert_eq!(c.holder_while_fetching(slot_of(moving), now), Some(NodeId(1)));
    let record = write(&c, moving, Some(b"during"), now).unwrap();
    push(3, &a, &record, now);
    assert_eq!(value(&a, moving), Some(b"during".to_vec()), "the old owner applies the slot's writes");
    assert!(a.hand_off().is_empty(), "nothing is dropped while the new owner fetches");
    for step in [1, 1, 2, 2] {
        round(&c, cores[(2 + step) % 3], now);
    }
    assert_eq!(c.whole(), Some(c.store().held.snapshot()), "the old owners vouched for what they lost");
    assert_eq!(c.holder_while_fetching(slot_of(moving), now), None, "served where it is owned");
    tell_holdings(&cores, now);
    for core in cores {
        core.hand_off();
    }
    for key in &keys {
        assert_eq!(holders(&cores, key), owners(&a, key), "{}", String::from_utf8_lossy(key));
    }
    // Once handed over, the old owner skips the slot's writes.
    let record = write(&c, moving, Some(b"after"), now).unwrap();
    push(3, &a, &record, now);
    assert_eq!(value(&a, moving), None);
}

#[test]
fn a_node_that_joins_a_partitioned_cluster_holds_nothing_until_it_fetched_what_it_is_given() {
    let (a, b, c, d) = (core(1), core(2), core(3), core(4));
    let now = at(Instant::now(), 0);
    let keys = one_copy_each(&[&a, &b, &c], now);
    // The fourth learns the layout of the other three: whatever its empty cursors say, it holds
    // nothing, so it keeps nothing either.
    let cores = [&a, &b, &c, &d];
    acquainted(&cores, now);
    let offer = a.layout_offer().expect("a layout");
    settle(&cores, vec![(d.me().id, d.receive(peer(1), over_the_wire(&offer), now))], now);
    assert!(d.layout().is_some_and(|layout| layout.members.len() == 3));
    assert!(d.store().held.snapshot().is_empty());

    // A layout that names it: it fetches every slot it owns, and holds them whole only then.
    let (_, effects) = a.apply_layout(1, members(&[1, 2, 3, 4]), now).unwrap();
    settle(&cores, vec![(a.me().id, effects)], now);
    assert_eq!(d.whole(), Some(SlotSet::empty()), "every slot it owns is still to fetch");
    tell_holdings(&cores, now);
    let moving = keys.iter().find(|key| owners(&d, key) == [NodeId(4)]).unwrap();
    assert!(d.holder_while_fetching(slot_of(moving), now).is_some(), "its clients are sent to a holder meanwhile");
    for step in [1, 1, 2, 2, 3, 3] {
        round(&d, cores[(3 + step) % 4], now);
    }
    assert_eq!(d.whole(), Some(d.store().held.snapshot()), "fetched");
    tell_holdings(&cores, now);
    for core in cores {
        core.hand_off();
    }
    for key in &keys {
        assert_eq!(holders(&cores, key), owners(&a, key), "{}", String::from_utf8_lossy(key));
    }
}
