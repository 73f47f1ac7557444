//! The core driven by hand: two or three cores exchange messages through a test harness that
//! stands in for the shell, with no socket, task or clock anywhere.

mod collections;
mod forwards;
mod hints;
mod holdings;
mod layouts;
mod lists;
mod publications;
mod skipped_pushes;
mod types;
mod upgrades;

use super::*;
use crate::config::NodeArgs;
use clap::Parser;
use kvs_proto::encoding::{decode, encode};
use kvs_store::local::{Decision, Local};
use kvs_store::replica::AntiEntropyAnswer;
use kvs_store::HybridClock;
use std::sync::Arc;

const WALL_MS: u64 = 1_800_000_000_000;

fn core(id: u64) -> Core {
    let args = NodeArgs::parse_from(["kvs-node", "127.0.0.1", &format!("{}", 7000 + id)]);
    let mut config = NodeConfig::try_from(args).unwrap();
    // Durable, so the core asks for its writes to be logged (it never opens the dir).
    config.data_dir = Some("unused-data-dir".into());
    let me = MemberInfo { id: NodeId(id), addr: config.listen, generation: 1, heartbeat: 0, left: false };
    Core::new(
        &config,
        me,
        Replica::new(Arc::new(Store::new()), HybridClock::new(NodeId(id), 60_000)),
        (None, None, None),
    )
}

/// The inbound side of node `id`'s connection (the test cores write under their ids).
fn peer(id: u64) -> Peer {
    Peer { id: NodeId(id), origin: NodeId(id) }
}

fn at(start: Instant, ms: u64) -> Now {
    Now { at: start + Duration::from_millis(ms), wall_ms: WALL_MS + ms }
}

/// What a peer receives for a message we send: the same bytes the wire would carry.
fn over_the_wire(message: &Outgoing) -> PeerMessage<Record> {
    decode(&encode(message).unwrap()).unwrap()
}

/// Delivers `from`'s gossip to `to`, asking for no answer; returns `to`'s effects.
fn gossip(from: &Core, to: &Core, now: Now) -> Vec<Effect> {
    let Outgoing::Gossip { view, .. } = from.gossip_for(to.me().id, now) else { unreachable!() };
    to.receive(peer(from.me().id.0), over_the_wire(&Outgoing::Gossip { view, answer: false }), now)
}

/// The id of the anti-entropy request in `effects` (a round's or a resync's).
fn request_in(effects: &[Effect]) -> u64 {
    let sent = effects.iter().find_map(|effect| match effect {
        Effect::Send { message: Outgoing::AntiEntropyRequest { request, .. }, .. } => Some(*request),
        _ => None,
    });
    sent.unwrap_or_else(|| panic!("no request in {effects:?}"))
}

/// A client's command on `core` at `now`, carried out as the shell would: a write's effects must
/// be "log the record, then push it"; returns the record.
fn local<T>(
    core: &Core,
    key: &[u8],
    now: Now,
    decide: impl FnOnce(&Local<'_>) -> Decision<T>,
) -> Result<(Option<Record>, T), WriteRefused> {
    let mut turn = core.turn();
    let (version, answer) = core.update(&mut turn, key, now.wall_ms, None, decide)?;
    let effects: Vec<Effect> = turn.effects().collect();
    let record = match &effects[..] {
        [Effect::Push(Pushed::One(pushed))] if !core.durable => Some(pushed.clone()),
        [] => None,
        [Effect::LogWrite(logged), Effect::Push(Pushed::One(pushed))] if number(logged) == number(pushed) => {
            Some(pushed.clone())
        }
        other => panic!("a local write logs, then pushes: {other:?}"),
    };
    assert_eq!(version, record.as_ref().map(Record::version), "the version returned is the record's");
    Ok((record, answer))
}

/// A client's write (`None` deletes) on `core` at `now`.
fn write(core: &Core, key: &[u8], value: Option<&[u8]>, now: Now) -> Result<Record, WriteRefused> {
    let (record, ()) = local(core, key, now, |l| Decision::Write(l.value(value, None), ()))?;
    Ok(record.expect("a write was decided"))
}

/// A record's origin and sequence number: which write it is.
fn number(record: &Record) -> (NodeId, u64) {
    (record.origin(), record.seq())
}

fn value(core: &Core, key: &[u8]) -> Option<Vec<u8>> {
    core.store().get_value(key, 0).map(|v| v.to_vec())
}

#[test]
fn gossip_starts_replication_and_a_leave_stops_it() {
    let (a, b) = (core(1), core(2));
    let now = at(Instant::now(), 0);
    let effects = gossip(&a, &b, now);
    assert!(matches!(&effects[..], [Effect::StartPeer(info)] if info.id == NodeId(1)), "{effects:?}");
    assert!(gossip(&a, &b, now).is_empty(), "old news starts nothing");
    let leave = Outgoing::Leave { member: a.leave() };
    let effects = b.receive(peer(1), over_the_wire(&leave), now);
    assert!(matches!(&effects[..], [Effect::StopPeer(NodeId(1))]), "{effects:?}");
}

/// The gossip message in `effects`, and whom it goes to.
fn gossip_in(effects: Vec<Effect>) -> (NodeId, Outgoing) {
    let sent = effects.into_iter().find_map(|effect| match effect {
        Effect::Send { to, message: message @ Outgoing::Gossip { .. } } => Some((to, message)),
        _ => None,
    });
    sent.expect("a gossip message")
}

#[test]
fn each_heartbeat_gossips_with_a_peer_whose_answer_brings_what_we_lacked() {
    let (a, b, c) = (core(1), core(2), core(3));
    let now = at(Instant::now(), 0);
    gossip(&a, &b, now);
    gossip(&c, &b, now);
    a.merge_members([b.me()], NodeId(2), now);
    let (to, opening) = gossip_in(a.heartbeat(now));
    assert_eq!(to, NodeId(2), "a's only peer");
    let (to, answer) = gossip_in(b.receive(peer(1), over_the_wire(&opening), now));
    assert!(matches!(answer, Outgoing::Gossip { answer: false, .. }), "an answer is not answered");
    assert_eq!(to, NodeId(1));
    let effects = a.receive(peer(2), over_the_wire(&answer), now);
    assert!(matches!(&effects[..], [Effect::StartPeer(info)] if info.id == NodeId(3)), "{effects:?}");
}

#[test]
fn a_pushed_write_is_applied_and_logged_once() {
    let (a, b) = (core(1), core(2));
    let now = at(Instant::now(), 0);
    let record = write(&a, b"k", Some(b"v"), now).unwrap();
    let push = Outgoing::Entries { entries: vec![record] };
    let effects = b.receive(peer(1), over_the_wire(&push), now);
    assert!(matches!(&effects[..], [Effect::Log(records)] if records.len() == 1), "{effects:?}");
    assert_eq!(value(&b, b"k").as_deref(), Some(&b"v"[..]));
    assert!(b.receive(peer(1), over_the_wire(&push), now).is_empty(), "a duplicate changes nothing");
    assert_eq!(b.store().digest(), a.store().digest());
}

#[test]
fn anti_entropy_fetches_what_pushes_missed_from_a_connected_peer_only() {
    let (a, b) = (core(1), core(2));
    let start = Instant::now();
    gossip(&a, &b, at(start, 0));
    for i in 0..50 {
        write(&a, format!("k{i}").as_bytes(), Some(b"v"), at(start, 1)).unwrap();
    }
    assert!(b.anti_entropy_round(at(start, 2), |_| None).is_empty(), "nobody connected, nobody asked");
    let effects = b.anti_entropy_round(at(start, 2), |_| Some(1));
    let [Effect::Send { to: NodeId(1), message }] = &effects[..] else { panic!("{effects:?}") };
    assert!(b.anti_entropy_round(at(start, 3), |_| Some(1)).is_empty(), "one request at a time");

    let effects = a.receive(peer(2), over_the_wire(message), at(start, 3));
    let [Effect::AnswerAntiEntropy { to: NodeId(2), request, cursors, fresh, .. }] = &effects[..] else {
        panic!("{effects:?}")
    };
    let request = *request;
    let AntiEntropyAnswer::Delta(mut batches) = a.anti_entropy_answer(cursors.clone(), *fresh, None).0 else {
        panic!("no resync expected")
    };
    for entries in batches.by_ref() {
        b.receive(peer(1), over_the_wire(&Outgoing::AntiEntropyEntries { request, entries }), at(start, 4));
    }
    let done = Outgoing::AntiEntropyDone { request, cursors: batches.done };
    let effects = b.receive(peer(1), over_the_wire(&done), at(start, 4));
    assert!(matches!(&effects[..], [Effect::LogCursors(_)]), "{effects:?}");
    assert_eq!(b.store().digest(), a.store().digest());
    assert_eq!(b.stats().anti_entropy_entries_applied.load(std::sync::atomic::Ordering::Relaxed), 50);
    assert!(!b.anti_entropy_round(at(start, 5), |_| Some(1)).is_empty(), "the round is over: ask again");
}

#[test]
fn an_undelivered_request_is_retried_at_the_next_round_not_after_a_stall() {
    let (a, b) = (core(1), core(2));
    let start = Instant::now();
    gossip(&a, &b, at(start, 0));
    assert_eq!(b.anti_entropy_round(at(start, 1), |_| Some(1)).len(), 1);
    b.request_undelivered(NodeId(1));
    assert_eq!(b.anti_entropy_round(at(start, 2), |_| Some(1)).len(), 1);
}

#[test]
fn a_node_whose_clock_its_peers_find_far_ahead_refuses_writes() {
    let (a, b, c) = (core(1), core(2), core(3));
    let start = Instant::now();
    // Two ping round trips each way give both sides an estimate; `a` runs 120 s ahead of the others.
    let ahead = |now: Now| Now { wall_ms: now.wall_ms + 120_000, ..now };
    for ms in [0, 10, 20] {
        let now = at(start, ms);
        for other in [&b, &c] {
            other.receive(peer(1), over_the_wire(&a.ping_for(other.me().id, ahead(now))), now);
            a.receive(peer(other.me().id.0), over_the_wire(&other.ping_for(NodeId(1), now)), ahead(now));
        }
    }
    assert!(matches!(write(&a, b"k", Some(b"v"), ahead(at(start, 30))), Err(WriteRefused::ClockSkew(_))));
    assert!(write(&b, b"k", Some(b"v"), at(start, 30)).is_ok());
}

#[test]
fn a_node_whose_clock_lags_its_peers_refuses_writes_but_takes_theirs() {
    let (a, b, c) = (core(1), core(2), core(3));
    let start = Instant::now();
    // `a` runs 120 s behind the others, past the 60 s bound.
    let behind = |now: Now| Now { wall_ms: now.wall_ms - 120_000, ..now };
    for ms in [0, 10, 20] {
        let now = at(start, ms);
        for other in [&b, &c] {
            other.receive(peer(1), over_the_wire(&a.ping_for(other.me().id, behind(now))), now);
            a.receive(peer(other.me().id.0), over_the_wire(&other.ping_for(NodeId(1), now)), behind(now));
        }
        // b and c measure each other too: for them, a is the odd one out.
        b.receive(peer(3), over_the_wire(&c.ping_for(NodeId(2), now)), now);
        c.receive(peer(2), over_the_wire(&b.ping_for(NodeId(3), now)), now);
    }
    assert!(matches!(write(&a, b"mine", Some(b"v"), behind(at(start, 30))), Err(WriteRefused::ClockSkew(_))));
    let theirs = write(&b, b"k", Some(b"v"), at(start, 30)).unwrap();
    push(2, &a, &theirs, behind(at(start, 30)));
    assert_eq!(value(&a, b"k").as_deref(), Some(&b"v"[..]), "a write 120 s ahead of a's clock, taken");
    // A node that is not behind still refuses a version that far ahead.
    let ahead = a.replica.write(&mut a.replica.turn(), b"far", Some(b"v"), WALL_MS + 200_000);
    push(1, &c, &ahead, at(start, 30));
    assert_eq!(value(&c, b"far"), None);
}

#[test]
fn an_anti_entropy_answer_nobody_asked_for_is_refused() {
    let (a, b) = (core(1), core(2));
    let start = Instant::now();
    gossip(&a, &b, at(start, 0));
    let mine = write(&b, b"mine", Some(b"v"), at(start, 1)).unwrap();
    // An outsider's resync demand claiming to have seen all of b's writes, and absurd cursors.
    let absurd = vec![(NodeId(2), 1_000_000_000_000_000), (NodeId(1), 1_000_000_000_000_000)];
    for message in [
        Outgoing::ResyncRequired { request: 0, cursors: absurd.clone() },
        Outgoing::AntiEntropyDone { request: 0, cursors: absurd.clone() },
        Outgoing::AntiEntropyEntries { request: 0, entries: vec![mine.clone()] },
    ] {
        assert!(b.receive(peer(1), over_the_wire(&message), at(start, 2)).is_empty());
    }
    assert_eq!(b.stats().peer_messages_refused.load(std::sync::atomic::Ordering::Relaxed), 3);
    assert_eq!(value(&b, b"mine").as_deref(), Some(&b"v"[..]));
    assert_eq!(b.replica.cursors(), vec![(NodeId(2), 1)]);
}

#[test]
fn a_resync_from_the_peer_asked_keeps_our_own_writes() {
    let (a, b) = (core(1), core(2));
    let start = Instant::now();
    gossip(&a, &b, at(start, 0));
    write(&b, b"mine", Some(b"v"), at(start, 1)).unwrap();
    let request = request_in(&b.anti_entropy_round(at(start, 2), |_| Some(1)));
    let claim = Outgoing::ResyncRequired { request, cursors: vec![(NodeId(2), 1_000)] };
    let effects = b.receive(peer(1), over_the_wire(&claim), at(start, 3));
    assert!(matches!(&effects[..], [Effect::CompactLog, Effect::Send { to: NodeId(1), .. }]), "{effects:?}");
    assert_eq!(value(&b, b"mine").as_deref(), Some(&b"v"[..]), "our own write survives the resync");
}

#[test]
fn pushed_entries_must_be_the_senders_own_and_within_the_bounds() {
    let (a, b, c) = (core(1), core(2), core(3));
    let now = at(Instant::now(), 0);
    let forged = write(&c, b"k", Some(b"from c"), now).unwrap();
    let huge = write(&a, b"big", Some(&vec![b'v'; 8 * 1024 * 1024 + 1]), now).unwrap();
    let own = write(&a, b"ok", Some(b"v"), now).unwrap();
    let push = Outgoing::Entries { entries: vec![forged, huge, own] };
    let effects = b.receive(peer(1), over_the_wire(&push), now);
    assert!(matches!(&effects[..], [Effect::Log(records)] if records.len() == 1), "{effects:?}");
    assert_eq!(value(&b, b"ok").as_deref(), Some(&b"v"[..]));
    assert_eq!((value(&b, b"k"), value(&b, b"big")), (None, None));
    assert_eq!(b.stats().peer_messages_refused.load(std::sync::atomic::Ordering::Relaxed), 2);
}

#[test]
fn the_cursors_of_an_answer_with_refused_entries_are_not_adopted() {
    let (a, b) = (core(1), core(2));
    let start = Instant::now();
    gossip(&a, &b, at(start, 0));
    // a's clock runs two minutes ahead of b's, past b's skew bound: b refuses a's write for now.
    let ahead = Now { wall_ms: WALL_MS + 120_000, ..at(start, 1) };
    let far = write(&a, b"k", Some(b"v"), ahead).unwrap();
    let request = request_in(&b.anti_entropy_round(at(start, 2), |_| Some(1)));
    b.receive(peer(1), over_the_wire(&Outgoing::AntiEntropyEntries { request, entries: vec![far] }), at(start, 3));
    let done = Outgoing::AntiEntropyDone { request, cursors: a.replica.cursors() };
    assert!(b.receive(peer(1), over_the_wire(&done), at(start, 3)).is_empty(), "nothing to log");
    assert_eq!(b.replica.cursors(), Vec::new(), "a's write is still to be fetched");
    assert_eq!(value(&b, b"k"), None);
}

#[test]
fn an_answer_to_another_request_of_the_same_peer_is_refused() {
    // Found by the simulator (seed 6093): a node restarted under the same id asked a peer, and the
    // peer's answer to the request of the node's previous run, computed from that run's cursors,
    // arrived first and was taken; its cursors then covered writes its entries had left out.
    let (a, b) = (core(1), core(2));
    let start = Instant::now();
    gossip(&a, &b, at(start, 0));
    write(&a, b"k", Some(b"v"), at(start, 1)).unwrap();
    let request = request_in(&b.anti_entropy_round(at(start, 2), |_| Some(1)));
    let stale = Outgoing::AntiEntropyDone { request: request.wrapping_add(1), cursors: a.replica.cursors() };
    assert!(b.receive(peer(1), over_the_wire(&stale), at(start, 3)).is_empty());
    assert_eq!(b.replica.cursors(), Vec::new(), "nothing adopted from an answer to another request");
    let AntiEntropyAnswer::Delta(mut batches) = a.anti_entropy_answer(b.replica.cursors(), false, None).0 else {
        panic!()
    };
    for entries in batches.by_ref() {
        b.receive(peer(1), over_the_wire(&Outgoing::AntiEntropyEntries { request, entries }), at(start, 3));
    }
    let done = Outgoing::AntiEntropyDone { request, cursors: batches.done };
    assert!(matches!(&b.receive(peer(1), over_the_wire(&done), at(start, 3))[..], [Effect::LogCursors(_)]));
    assert_eq!(value(&b, b"k").as_deref(), Some(&b"v"[..]));
}

/// An increment of `delta` on `core`'s counter at `key`, made at `now`.
fn increment(core: &Core, key: &[u8], delta: i64, now: Now) -> Record {
    let decide = |local: &Local<'_>| Decision::Write(local.increment(delta).unwrap().0, ());
    local(core, key, now, decide).unwrap().0.unwrap()
}

/// Both cores push `from_a` and `from_b` to each other; they must then agree, digests and key
/// counts both.
fn exchange(a: &Core, from_a: &[Record], b: &Core, from_b: &[Record], now: Now) {
    for record in from_a {
        push(1, b, record, now);
    }
    for record in from_b {
        push(2, a, record, now);
    }
    assert_eq!(a.store().digest(), b.store().digest(), "the cores disagree");
    assert_eq!(a.store().live_count(), b.store().live_count(), "the cores count keys differently");
}

/// Pushes `record` (written by `from`) to `to`.
fn push(from: u64, to: &Core, record: &Record, now: Now) {
    to.receive(peer(from), over_the_wire(&Outgoing::Entries { entries: vec![record.clone()] }), now);
}

#[test]
fn increments_on_two_cores_add_up_and_a_reset_neither_saw_beats_the_increments_it_missed() {
    let (a, b) = (core(1), core(2));
    let start = Instant::now();
    let (from_a, from_b) = (increment(&a, b"n", 5, at(start, 0)), increment(&b, b"n", 7, at(start, 0)));
    push(1, &b, &from_a, at(start, 1));
    push(2, &a, &from_b, at(start, 1));
    assert_eq!((value(&a, b"n"), value(&b, b"n")), (Some(b"12".to_vec()), Some(b"12".to_vec())));
    assert_eq!(a.store().digest(), b.store().digest());

    // A increments at +10 ms; B, not having seen it, sets the key at +5 ms. Last-writer-wins on
    // the newest version would keep A's counter (112); the reset beats the increments it never
    // saw, on both nodes, whatever the order they meet in.
    let more = increment(&a, b"n", 100, at(start, 10));
    let reset = local(&b, b"n", at(start, 5), |l| Decision::Write(l.value(Some(b"1"), None), ())).unwrap().0.unwrap();
    assert!(reset.version() < more.version());
    push(1, &b, &more, at(start, 11));
    push(2, &a, &reset, at(start, 11));
    assert_eq!((value(&a, b"n"), value(&b, b"n")), (Some(b"1".to_vec()), Some(b"1".to_vec())));
    assert_eq!(a.store().digest(), b.store().digest());
}

#[test]
fn a_pushed_counter_with_more_contributions_than_members_is_refused() {
    let b = core(2);
    let start = Instant::now();
    let part = |node: u64, wall: u64| kvs_proto::Contribution {
        stamp: kvs_proto::Stamp {
            version: kvs_proto::Version { wall_ms: WALL_MS + wall, logical: 0, node: NodeId(node) },
            seq: 1,
        },
        total: 1,
    };
    let counter = |n: usize| {
        let mut contributions: Vec<_> = (0..n as u64).map(|i| part(100 + i, 5)).collect();
        contributions.insert(0, part(1, 10));
        Record::counter(b"n", &kvs_proto::Counter { base: kvs_proto::Stamp::NONE, base_value: 0, contributions }, None)
    };
    push(1, &b, &counter(b.max_members), at(start, 20));
    assert_eq!(value(&b, b"n"), None, "one contribution too many");
    push(1, &b, &counter(3), at(start, 20));
    assert_eq!(value(&b, b"n"), Some(b"4".to_vec()));
}

/// Answers `asker`'s outstanding request as `answerer` honestly would: its delta, then its cursors.
fn answer_honestly(answerer: &Core, asker: &Core, request_effects: &[Effect], now: Now) -> Vec<Effect> {
    let request = request_in(request_effects);
    let AntiEntropyAnswer::Delta(mut batches) = answerer.anti_entropy_answer(asker.replica.cursors(), false, None).0
    else {
        panic!("no resync expected")
    };
    let from = peer(answerer.me().id.0);
    for entries in batches.by_ref() {
        asker.receive(from, over_the_wire(&Outgoing::AntiEntropyEntries { request, entries }), now);
    }
    asker.receive(from, over_the_wire(&Outgoing::AntiEntropyDone { request, cursors: batches.done }), now)
}

#[test]
fn a_member_lying_in_its_answers_cannot_make_a_node_drop_writes_or_stop_asking_for_them() {
    // The attack of issue 23's first row: asked for anti-entropy, a member demands a resync and
    // then claims absurd cursors for everyone else's writes.
    let (honest, victim, liar) = (core(1), core(2), core(3));
    let start = Instant::now();
    gossip(&honest, &victim, at(start, 0));
    gossip(&liar, &victim, at(start, 0));
    for i in 0..300 {
        let record = write(&honest, format!("k{i}").as_bytes(), Some(b"v"), at(start, 1)).unwrap();
        push(1, &victim, &record, at(start, 1));
    }
    let absurd = vec![(NodeId(1), 1_000_000_000_000_000), (NodeId(3), 1)];
    let only_the_liar = |id: NodeId| (id == NodeId(3)).then_some(1);
    let asked = victim.anti_entropy_round(at(start, 2), only_the_liar);
    let lie = Outgoing::ResyncRequired { request: request_in(&asked), cursors: absurd.clone() };
    let asked_again = victim.receive(peer(3), over_the_wire(&lie), at(start, 3));
    assert_eq!(victim.store().live_count(), 300, "nothing written within the grace period is dropped");
    let lie = Outgoing::AntiEntropyDone { request: request_in(&asked_again), cursors: absurd };
    victim.receive(peer(3), over_the_wire(&lie), at(start, 4));
    assert!(victim.replica.cursors().iter().all(|&(origin, seq)| origin != NodeId(1) || seq <= 300), "unwitnessed");

    // Writes the victim never got pushed are still fetched from the honest member.
    for i in 300..350 {
        write(&honest, format!("k{i}").as_bytes(), Some(b"v"), at(start, 5)).unwrap();
    }
    let only_the_honest = |id: NodeId| (id == NodeId(1)).then_some(1);
    let asked = victim.anti_entropy_round(at(start, 6), only_the_honest);
    answer_honestly(&honest, &victim, &asked, at(start, 6));
    assert_eq!(victim.store().live_count(), 350);
    assert_eq!(victim.store().digest(), honest.store().digest());
}

#[test]
fn a_resync_demand_drops_what_a_purged_delete_could_have_superseded() {
    // Records older than the grace period that the demanding peer has seen go (a purged delete
    // may have superseded them, and the peer sends back what still stands); newer ones stay.
    let (a, b) = (core(1), core(2));
    let start = Instant::now();
    gossip(&a, &b, at(start, 0));
    // Two days pass on the wall clock (the monotonic one, which liveness follows, barely moves).
    let two_days_on = Now { wall_ms: WALL_MS + 2 * 86_400_000, ..at(start, 1) };
    let old = write(&a, b"old", Some(b"v"), at(start, 0)).unwrap();
    let recent = write(&a, b"recent", Some(b"v"), two_days_on).unwrap();
    push(1, &b, &old, two_days_on);
    push(1, &b, &recent, two_days_on);
    let asked = b.anti_entropy_round(two_days_on, |_| Some(1));
    let demand = Outgoing::ResyncRequired { request: request_in(&asked), cursors: a.replica.cursors() };
    b.receive(peer(1), over_the_wire(&demand), two_days_on);
    assert_eq!((value(&b, b"old"), value(&b, b"recent").as_deref()), (None, Some(&b"v"[..])));
}

#[test]
fn a_local_write_logs_then_pushes_in_sequence_order_and_a_transaction_pushes_one_unit() {
    let a = core(1);
    let now = at(Instant::now(), 0);
    let mut turn = a.turn();
    for key in [&b"x"[..], b"y"] {
        a.update(&mut turn, key, now.wall_ms, None, |l| Decision::Write(l.value(Some(b"v"), None), ())).unwrap();
    }
    let (none, kept) = a.update(&mut turn, b"x", now.wall_ms, None, |l| Decision::Keep(l.live().is_some())).unwrap();
    assert_eq!(none, None, "no write, no version");
    assert!(kept, "a command that writes nothing sees the writes before it, and has no effect");
    a.flush(&mut turn, now.wall_ms, None, None).unwrap();
    let order: Vec<(&str, u64)> = turn
        .effects()
        .map(|effect| match effect {
            Effect::LogWrite(record) => ("log", record.seq()),
            Effect::Push(Pushed::One(record)) => ("push", record.seq()),
            other => panic!("a local write has no {other:?}"),
        })
        .collect();
    assert_eq!(order, [("log", 1), ("push", 1), ("log", 2), ("push", 2), ("log", 3), ("push", 3)]);

    // Inside a transaction each write is logged as it is made; the push is one unit at the end.
    let mut unit = Vec::new();
    for key in [&b"x"[..], b"y"] {
        a.update(&mut turn, key, now.wall_ms, Some(&mut unit), |l| Decision::Write(l.value(None, None), ())).unwrap();
    }
    let logged: Vec<u64> = turn
        .effects()
        .map(|effect| match effect {
            Effect::LogWrite(record) => record.seq(),
            other => panic!("nothing but logging inside a transaction: {other:?}"),
        })
        .collect();
    assert_eq!(logged, [4, 5]);
    a.push_unit(&mut turn, unit);
    let pushed: Vec<Effect> = turn.effects().collect();
    assert!(
        matches!(&pushed[..], [Effect::Push(Pushed::Unit(records))] if records.iter().map(Record::seq).eq([4, 5])),
        "{pushed:?}"
    );
}

#[test]
fn a_memory_only_node_pushes_its_writes_and_logs_none() {
    let args = NodeArgs::parse_from(["kvs-node", "127.0.0.1", "7009"]);
    let config = NodeConfig::try_from(args).unwrap();
    let me = MemberInfo { id: NodeId(9), addr: config.listen, generation: 1, heartbeat: 0, left: false };
    let a = Core::new(
        &config,
        me,
        Replica::new(Arc::new(Store::new()), HybridClock::new(NodeId(9), 60_000)),
        (None, None, None),
    );
    let mut turn = a.turn();
    a.update(&mut turn, b"k", WALL_MS, None, |l| Decision::Write(l.value(Some(b"v"), None), ())).unwrap();
    let effects: Vec<Effect> = turn.effects().collect();
    assert!(matches!(&effects[..], [Effect::Push(Pushed::One(record))] if record.seq() == 1), "{effects:?}");
}
