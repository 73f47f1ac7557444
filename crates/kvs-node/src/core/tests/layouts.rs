//! The layout between cores: applied on one, offered, asked for and adopted by the others; the
//! larger version wins everywhere; nothing unasked or unsound is taken.

use super::*;
use kvs_proto::layout::{Layout, LayoutMember, LayoutVersion};

pub(super) fn members(ids: &[u64]) -> Vec<LayoutMember> {
    ids.iter()
        .map(|&id| LayoutMember {
            node: NodeId(id),
            addr: format!("127.0.0.1:{}", 7000 + id).parse().unwrap(),
            weight: 1,
        })
        .collect()
}

/// Delivers every `Send` in `effects` from `from` to the core it names among `cores`; returns
/// what they did, as (receiver, effects).
fn deliver(from: &Core, effects: Vec<Effect>, cores: &[&Core], now: Now) -> Vec<(NodeId, Vec<Effect>)> {
    effects
        .into_iter()
        .filter_map(|effect| match effect {
            Effect::Send { to, message } => {
                let core = cores.iter().find(|core| core.me().id == to)?;
                Some((to, core.receive(peer(from.me().id.0), over_the_wire(&message), now)))
            }
            _ => None,
        })
        .collect()
}

/// Runs offers, asks and answers among `cores` until nothing more is sent.
pub(super) fn settle(cores: &[&Core], mut pending: Vec<(NodeId, Vec<Effect>)>, now: Now) {
    for _ in 0..10 {
        let mut next = Vec::new();
        for (sender, effects) in pending {
            let from = cores.iter().find(|core| core.me().id == sender).expect("a test core");
            next.extend(deliver(from, effects, cores, now));
        }
        if next.iter().all(|(_, effects)| effects.is_empty()) {
            return;
        }
        pending = next;
    }
    panic!("the layout exchange did not settle");
}

/// Every core knows every other as an alive member of the newest protocol, so the gate
/// `layout` is open on each.
pub(super) fn acquainted(cores: &[&Core], now: Now) {
    for a in cores {
        for b in cores {
            if a.me().id != b.me().id {
                gossip(a, b, now);
                a.spoke(&b.me(), kvs_proto::PROTOCOL_VERSION);
            }
        }
    }
    for core in cores {
        core.heartbeat(now);
        assert!(core.is_open(kvs_proto::features::LAYOUT));
    }
}

fn version(core: &Core) -> Option<LayoutVersion> {
    core.layout().map(|layout| layout.version)
}

#[test]
fn an_applied_layout_reaches_every_member_by_offer_and_ask() {
    let (a, b, c) = (core(1), core(2), core(3));
    let now = at(Instant::now(), 0);
    acquainted(&[&a, &b, &c], now);
    let (layout, effects) = a.apply_layout(2, members(&[1, 2, 3]), now).unwrap();
    assert_eq!(layout.version, LayoutVersion { epoch: 1, applied_by: NodeId(1) });
    // Recorded first: the slots to fetch (none here), then the layout, then offered.
    assert!(matches!(&effects[0], Effect::FetchingChanged(slots) if slots.is_empty()), "{effects:?}");
    assert!(matches!(&effects[1], Effect::LayoutAdopted(adopted) if *adopted == layout), "recorded first");
    let offers = effects.iter().filter(|e| matches!(e, Effect::Send { message: Outgoing::LayoutOffer { .. }, .. }));
    assert_eq!(offers.count(), 2, "offered to both peers at once");
    settle(&[&a, &b, &c], vec![(a.me().id, effects)], now);
    for core in [&a, &b, &c] {
        assert_eq!(core.layout(), Some(layout.clone()), "node {}", core.me().id);
    }
    // The next apply, on another node, takes the next epoch.
    let (second, effects) = c.apply_layout(1, members(&[1, 2, 3]), now).unwrap();
    assert_eq!(second.version, LayoutVersion { epoch: 2, applied_by: NodeId(3) });
    settle(&[&a, &b, &c], vec![(c.me().id, effects)], now);
    assert!([&a, &b, &c].iter().all(|core| core.layout() == Some(second.clone())));
}

#[test]
fn two_applies_at_once_end_as_the_same_layout_everywhere() {
    let (a, b, c) = (core(1), core(2), core(3));
    let now = at(Instant::now(), 0);
    acquainted(&[&a, &b, &c], now);
    // Both at epoch 1, neither having heard of the other's.
    let (_, from_a) = a.apply_layout(2, members(&[1, 2, 3]), now).unwrap();
    let (winner, from_c) = c.apply_layout(3, members(&[1, 2, 3]), now).unwrap();
    settle(&[&a, &b, &c], vec![(a.me().id, from_a), (c.me().id, from_c)], now);
    // Gossip rounds carry offers too: a node that adopted the loser hears of the winner.
    for _ in 0..3 {
        for core in [&a, &b, &c] {
            let offers: Vec<Effect> = [&a, &b, &c]
                .iter()
                .filter(|other| other.me().id != core.me().id)
                .filter_map(|other| core.layout_offer().map(|message| Effect::Send { to: other.me().id, message }))
                .collect();
            settle(&[&a, &b, &c], vec![(core.me().id, offers)], now);
        }
    }
    for core in [&a, &b, &c] {
        assert_eq!(version(core), Some(winner.version), "the larger applier wins on node {}", core.me().id);
    }
}

#[test]
fn a_layout_nobody_asked_for_or_an_unsound_one_is_refused() {
    let (a, b) = (core(1), core(2));
    let now = at(Instant::now(), 0);
    acquainted(&[&a, &b], now);
    let forged = Layout {
        version: LayoutVersion { epoch: 9, applied_by: NodeId(1) },
        replication_factor: 1,
        members: members(&[1, 2]),
    };
    let refused = |core: &Core| core.stats().peer_messages_refused.load(std::sync::atomic::Ordering::Relaxed);
    let before = refused(&b);
    let effects = b.receive(peer(1), over_the_wire(&Outgoing::Layout { layout: forged.clone() }), now);
    assert!(effects.is_empty() && version(&b).is_none(), "not asked for");
    assert_eq!(refused(&b), before + 1);

    // Asked for epoch 9, but the answer is unsound (its members out of order).
    let asked = b.receive(peer(1), over_the_wire(&Outgoing::LayoutOffer { version: forged.version }), now);
    assert!(matches!(&asked[..], [Effect::Send { message: Outgoing::LayoutWanted { .. }, .. }]));
    let mut unsound = forged.clone();
    unsound.members.reverse();
    b.receive(peer(1), over_the_wire(&Outgoing::Layout { layout: unsound }), now);
    assert!(version(&b).is_none());

    // Asked for epoch 9, answered with an older one than offered: refused too.
    b.receive(peer(1), over_the_wire(&Outgoing::LayoutOffer { version: forged.version }), now);
    let mut older = forged.clone();
    older.version.epoch = 3;
    b.receive(peer(1), over_the_wire(&Outgoing::Layout { layout: older }), now);
    assert!(version(&b).is_none());

    // An offer no newer than ours is not asked for.
    let (held, _) = b.apply_layout(1, members(&[1, 2]), now).unwrap();
    let older_offer = LayoutVersion { epoch: held.version.epoch, applied_by: NodeId(0) };
    assert!(b.receive(peer(1), over_the_wire(&Outgoing::LayoutOffer { version: older_offer }), now).is_empty());
}

#[test]
fn apply_refuses_an_unsound_layout_and_waits_for_its_gate() {
    let (a, b) = (core(1), core(2));
    let now = at(Instant::now(), 0);
    gossip(&b, &a, now);
    a.spoke(&b.me(), kvs_proto::OLDEST_PROTOCOL_VERSION);
    a.heartbeat(now);
    let closed = a.apply_layout(1, members(&[1, 2]), now).unwrap_err().to_string();
    assert!(closed.contains("needs the cluster feature 'layout'"), "{closed}");
    acquainted(&[&a, &b], now);
    assert!(a.apply_layout(0, members(&[1]), now).is_err(), "a factor of 0");
    assert!(a.apply_layout(1, Vec::new(), now).is_err(), "no member");
    assert!(a.layout().is_none());
}
