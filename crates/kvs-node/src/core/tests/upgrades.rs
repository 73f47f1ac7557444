//! The core's side of rolling upgrades, without sockets: the cluster version that opens feature
//! gates, and WAIT's acknowledgements with who may give them.

use super::*;

/// `a` and `b` know each other as alive members, greeted at protocol `version` both ways.
fn introduced(a: &Core, b: &Core, version: u32, now: Now) {
    gossip(a, b, now);
    gossip(b, a, now);
    for (core, other) in [(a, b), (b, a)] {
        core.greeted(peer(other.me().id.0));
        core.spoke(&other.me(), version);
    }
}

#[test]
fn the_gates_open_once_every_live_member_speaks_the_new_protocol() {
    let (a, b) = (core(1), core(2));
    let now = at(Instant::now(), 0);
    introduced(&a, &b, kvs_proto::OLDEST_PROTOCOL_VERSION, now);
    a.heartbeat(now);
    assert_eq!(a.cluster_version(), kvs_proto::OLDEST_PROTOCOL_VERSION, "b was heard at 7 only");
    assert!(!a.is_open(kvs_proto::features::WAIT));
    assert!(a.admits_protocol(kvs_proto::OLDEST_PROTOCOL_VERSION));
    a.spoke(&b.me(), kvs_proto::PROTOCOL_VERSION);
    let risen = a.heartbeat(now).into_iter().find_map(|effect| match effect {
        Effect::ClusterVersionRose(version) => Some(version),
        _ => None,
    });
    assert_eq!(risen, Some(kvs_proto::PROTOCOL_VERSION), "the shell is told to record it");
    assert!(a.is_open(kvs_proto::features::WAIT));
    assert!(!a.admits_protocol(kvs_proto::OLDEST_PROTOCOL_VERSION));
}

#[test]
fn a_wait_is_answered_once_the_peer_has_applied_the_writes_it_covers() {
    let (a, b) = (core(1), core(2));
    let now = at(Instant::now(), 0);
    introduced(&a, &b, kvs_proto::PROTOCOL_VERSION, now);
    let first = write(&a, b"k1", Some(b"v"), now).unwrap();
    let second = write(&a, b"k2", Some(b"v"), now).unwrap();
    let (want, asks) = a.ask_held(Held::Applied, now);
    assert_eq!(want, 2);
    let [Effect::Send { to: NodeId(2), message: ask }] = &asks[..] else { panic!("{asks:?}") };
    assert_eq!(a.held_by(Held::Applied, want, now), 0);
    // The ask overtook the second push: b answers once that push is applied, not before.
    push(1, &b, &first, now);
    let early = b.receive(peer(1), over_the_wire(ask), now);
    assert!(early.is_empty(), "{early:?}");
    let effects = b.receive(peer(1), over_the_wire(&Outgoing::Entries { entries: vec![second] }), now);
    let answer = effects.iter().find_map(|effect| match effect {
        Effect::Send { to: NodeId(1), message: answer @ Outgoing::Applied { upto: 2 } } => Some(answer),
        _ => None,
    });
    let answer = answer.unwrap_or_else(|| panic!("no acknowledgement in {effects:?}"));
    let effects = a.receive(peer(2), over_the_wire(answer), now);
    assert!(matches!(&effects[..], [Effect::Acknowledged]), "{effects:?}");
    assert_eq!(a.held_by(Held::Applied, want, now), 1);
}

#[test]
fn an_acknowledgement_of_writes_never_made_is_refused() {
    let (a, b) = (core(1), core(2));
    let now = at(Instant::now(), 0);
    introduced(&a, &b, kvs_proto::PROTOCOL_VERSION, now);
    write(&a, b"k", Some(b"v"), now).unwrap();
    let lie = Outgoing::Applied { upto: 1_000 };
    assert!(a.receive(peer(2), over_the_wire(&lie), now).is_empty());
    assert_eq!(a.held_by(Held::Applied, 1, now), 0, "b's word for writes a never made counts for nothing");
    assert_eq!(a.stats().snapshot().peer_messages_refused, 1);
}

#[test]
fn a_waitaof_ask_is_answered_after_a_sync_and_a_claim_beyond_our_writes_is_refused() {
    let (a, b) = (core(1), core(2));
    let now = at(Instant::now(), 0);
    introduced(&a, &b, kvs_proto::PROTOCOL_VERSION, now);
    let record = write(&a, b"k", Some(b"v"), now).unwrap();
    // B is asked before it has A's write: nothing yet; once applied, a sync, then the answer.
    let ask = Outgoing::SyncedAsk { want: record.seq() };
    assert!(b.receive(peer(1), over_the_wire(&ask), now).is_empty());
    let effects = b.receive(peer(1), over_the_wire(&Outgoing::Entries { entries: vec![record.clone()] }), now);
    assert!(
        effects.iter().any(|e| matches!(e, Effect::SyncThenSend { to: NodeId(1), message: PeerMessage::Synced { upto } } if *upto == record.seq())),
        "{effects:?}"
    );
    // A says B has them on disk: counted; a claim past A's last write is refused.
    let synced = a.receive(peer(2), over_the_wire(&Outgoing::Synced { upto: record.seq() }), now);
    assert!(matches!(&synced[..], [Effect::Acknowledged]), "{synced:?}");
    assert_eq!(a.held_by(Held::Synced, record.seq(), now), 1);
    assert_eq!(a.held_by(Held::Applied, record.seq(), now), 0, "applied and on disk are told apart");
    assert!(a.receive(peer(2), over_the_wire(&Outgoing::Synced { upto: record.seq() + 5 }), now).is_empty());
}
