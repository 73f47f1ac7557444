//! Pub/sub through the core: a publish leaves as "deliver here, send to peers"; a peer's
//! messages are delivered here and sent nowhere, and those over the bounds are refused.

use super::*;
use bytes::Bytes;
use kvs_proto::Publication;
use std::sync::atomic::Ordering::Relaxed;

fn publication(channel: &[u8], message: &[u8]) -> Publication {
    Publication { channel: Bytes::copy_from_slice(channel), message: Bytes::copy_from_slice(message), shard: false }
}

#[test]
fn a_publish_is_delivered_here_and_sent_to_every_peer_once() {
    let a = core(1);
    let sent = publication(b"news", b"hi");
    let effects = a.publish(sent.clone());
    assert!(
        matches!(&effects[..], [Effect::Deliver(here), Effect::FanOut(out)] if here == &vec![sent.clone()] && out == &sent),
        "{effects:?}"
    );
}

#[test]
fn a_peers_messages_are_delivered_here_and_forwarded_nowhere() {
    let (a, b) = (core(1), core(2));
    let now = at(Instant::now(), 0);
    gossip(&a, &b, now);
    let messages = vec![publication(b"c", b"1"), publication(b"c", b"2")];
    let frame = Outgoing::Published { messages: messages.clone() };
    let effects = b.receive(peer(1), over_the_wire(&frame), now);
    assert!(matches!(&effects[..], [Effect::Deliver(got)] if got == &messages), "{effects:?}");
    assert_eq!(b.pubsub_stats.received.load(Relaxed), 2);
}

#[test]
fn a_peers_messages_over_the_bounds_are_refused_one_by_one() {
    let b = core(2);
    let now = at(Instant::now(), 0);
    let long_channel = publication(&vec![b'c'; 64 * 1024 + 1], b"x");
    let huge = publication(b"c", &vec![b'v'; 8 * 1024 * 1024 + 1]);
    let fine = publication(b"c", b"ok");
    let frame = Outgoing::Published { messages: vec![long_channel, huge, fine.clone()] };
    let effects = b.receive(peer(1), over_the_wire(&frame), now);
    assert!(matches!(&effects[..], [Effect::Deliver(got)] if got == &vec![fine.clone()]), "{effects:?}");
    assert_eq!(b.pubsub_stats.dropped.load(Relaxed), 2);
    assert_eq!(b.stats().peer_messages_refused.load(Relaxed), 1);
}
