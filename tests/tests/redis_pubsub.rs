//! Pub/sub: Redis 7.0's `tests/unit/pubsub.tcl` and `pubsubshard.tcl` cases against one node,
//! and what no Redis test checks: a message published on one node reaches the subscribers of
//! every other node, in publish order, and a subscriber that stops reading is let go.

use kvs_tests::raw_resp::{RawResp, Resp};
use kvs_tests::resp::{eventually, run};
use kvs_tests::{start_chain, wait_for_alive_members, NodeProcess};
use std::time::Duration;

const READ: Duration = Duration::from_secs(10);
const CONVERGE: Duration = Duration::from_secs(30);

fn words(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// Reads `n` values and returns them as words.
fn next_words(c: &mut RawResp, n: usize) -> Vec<Vec<String>> {
    (0..n).map(|_| c.read().words()).collect()
}

#[test]
fn subscribe_publish_and_unsubscribe_as_redis_does() {
    let node = NodeProcess::start_with_redis();
    let publisher = &mut node.resp();
    let sub = &mut RawResp::connect(node.redis(), READ);

    // SUBSCRIBE counts channels and patterns together; a channel named twice counts once.
    sub.send(&["SUBSCRIBE", "chan1", "chan2", "chan1"]);
    assert_eq!(
        next_words(sub, 3),
        vec![
            words(&["subscribe", "chan1", "1"]),
            words(&["subscribe", "chan2", "2"]),
            words(&["subscribe", "chan1", "2"])
        ]
    );
    assert_eq!(run::<i64>(publisher, &["PUBLISH", "chan1", "hello"]), 1);
    assert_eq!(run::<i64>(publisher, &["PUBLISH", "chan2", "world"]), 1);
    assert_eq!(next_words(sub, 2), vec![words(&["message", "chan1", "hello"]), words(&["message", "chan2", "world"])]);
    let admin = &mut RawResp::connect(node.redis(), READ);
    assert_eq!(admin.call(&["PUBSUB", "NUMSUB", "chan1", "chan3"]).words(), words(&["chan1", "1", "chan3", "0"]));
    assert_eq!(admin.call(&["PUBSUB", "NUMSUB"]).words(), Vec::<String>::new());
    let mut channels: Vec<String> = run(publisher, &["PUBSUB", "CHANNELS"]);
    channels.sort();
    assert_eq!(channels, words(&["chan1", "chan2"]));
    assert_eq!(run::<Vec<String>>(publisher, &["PUBSUB", "CHANNELS", "*2"]), words(&["chan2"]));

    // In RESP2 a subscriber may only (un)subscribe, PING, QUIT or RESET; PING answers an array.
    let refused = sub.call(&["GET", "k"]);
    assert_eq!(
        refused,
        Resp::Error(
            "ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context"
                .into()
        )
    );
    assert_eq!(sub.call(&["PING"]).words(), words(&["pong", ""]));
    assert_eq!(sub.call(&["PING", "x"]).words(), words(&["pong", "x"]));

    // Unsubscribing one channel; then all of them; then with none left.
    assert_eq!(sub.call(&["UNSUBSCRIBE", "chan1"]).words(), words(&["unsubscribe", "chan1", "1"]));
    assert_eq!(run::<i64>(publisher, &["PUBLISH", "chan1", "nobody"]), 0);
    assert_eq!(sub.call(&["UNSUBSCRIBE"]).words(), words(&["unsubscribe", "chan2", "0"]));
    assert_eq!(sub.call(&["UNSUBSCRIBE"]).words(), words(&["unsubscribe", "(nil)", "0"]));
    // With nothing subscribed it is an ordinary connection again.
    assert_eq!(sub.call(&["PING"]), Resp::Simple("PONG".into()));

    // Patterns: a channel matched by a subscription and a pattern is delivered (and counted) twice.
    sub.send(&["PSUBSCRIBE", "news.*", "ne?s.art"]);
    assert_eq!(
        next_words(sub, 2),
        vec![words(&["psubscribe", "news.*", "1"]), words(&["psubscribe", "ne?s.art", "2"])]
    );
    assert_eq!(sub.call(&["SUBSCRIBE", "news.art"]).words(), words(&["subscribe", "news.art", "3"]));
    assert_eq!(run::<i64>(publisher, &["PUBLISH", "news.art", "x"]), 3);
    let mut got = next_words(sub, 3);
    got.sort();
    assert_eq!(
        got,
        vec![
            words(&["message", "news.art", "x"]),
            words(&["pmessage", "ne?s.art", "news.art", "x"]),
            words(&["pmessage", "news.*", "news.art", "x"]),
        ]
    );
    assert_eq!(run::<i64>(publisher, &["PUBSUB", "NUMPAT"]), 2);
    assert_eq!(sub.call(&["PUNSUBSCRIBE", "news.*"]).words(), words(&["punsubscribe", "news.*", "2"]));
    assert_eq!(run::<i64>(publisher, &["PUBLISH", "news.sport", "y"]), 0);

    // Shard channels are their own namespace, counted apart; patterns never match them.
    assert_eq!(sub.call(&["SSUBSCRIBE", "news.art"]).words(), words(&["ssubscribe", "news.art", "1"]));
    assert_eq!(run::<i64>(publisher, &["SPUBLISH", "news.art", "s"]), 1);
    assert_eq!(sub.read().words(), words(&["smessage", "news.art", "s"]));
    assert_eq!(run::<Vec<String>>(publisher, &["PUBSUB", "SHARDCHANNELS"]), words(&["news.art"]));
    assert_eq!(admin.call(&["PUBSUB", "SHARDNUMSUB", "news.art"]).words(), words(&["news.art", "1"]));
    assert_eq!(admin.call(&["PUBSUB", "NUMSUB", "news.art"]).words(), words(&["news.art", "1"]));

    // CLIENT LIST shows the subscriber's counts and flag.
    let list: String = run(publisher, &["CLIENT", "LIST", "TYPE", "pubsub"]);
    assert!(list.contains("flags=P") && list.contains("sub=1 psub=1 ssub=1"), "{list}");

    // RESET leaves every subscription.
    assert_eq!(sub.call(&["RESET"]), Resp::Simple("RESET".into()));
    assert_eq!(run::<i64>(publisher, &["PUBLISH", "news.art", "z"]), 0);
    assert_eq!(run::<i64>(publisher, &["SPUBLISH", "news.art", "z"]), 0);
    assert_eq!(run::<i64>(publisher, &["PUBSUB", "NUMPAT"]), 0);

    // A closed subscriber's subscriptions go with it.
    let mut gone = RawResp::connect(node.redis(), READ);
    assert_eq!(gone.call(&["SUBSCRIBE", "bye"]).words(), words(&["subscribe", "bye", "1"]));
    drop(gone);
    eventually(READ, "the closed subscriber to leave", || run::<i64>(publisher, &["PUBLISH", "bye", "?"]) == 0);
}

#[test]
fn a_resp3_subscriber_gets_pushes_and_runs_any_command() {
    let node = NodeProcess::start_with_redis();
    let publisher = &mut node.resp();
    let sub = &mut RawResp::connect(node.redis(), READ);
    assert!(matches!(sub.call(&["HELLO", "3"]), Resp::Map(_)));
    assert_eq!(
        sub.call(&["SUBSCRIBE", "c"]),
        Resp::Push(vec![Resp::Bulk(Some("subscribe".into())), Resp::Bulk(Some("c".into())), Resp::Integer(1)])
    );
    assert_eq!(sub.call(&["SET", "k", "v"]), Resp::Simple("OK".into()));
    assert_eq!(sub.call(&["GET", "k"]).text(), "v");
    assert_eq!(sub.call(&["PING"]), Resp::Simple("PONG".into()));
    assert_eq!(run::<i64>(publisher, &["PUBLISH", "c", "hi"]), 1);
    let pushed = sub.read();
    assert!(matches!(pushed, Resp::Push(_)), "{pushed:?}");
    assert_eq!(pushed.words(), words(&["message", "c", "hi"]));
}

#[test]
fn pub_sub_ignores_the_selected_database() {
    let node = NodeProcess::start_with_redis();
    let publisher = &mut node.resp();
    let sub = &mut RawResp::connect(node.redis(), READ);
    assert_eq!(sub.call(&["SUBSCRIBE", "c"]).words(), words(&["subscribe", "c", "1"]));
    let _: String = run(publisher, &["SELECT", "3"]);
    assert_eq!(run::<i64>(publisher, &["PUBLISH", "c", "from db 3"]), 1);
    assert_eq!(sub.read().words(), words(&["message", "c", "from db 3"]));
}

#[test]
fn a_subscriber_that_stops_reading_is_disconnected_not_buffered_for() {
    let node = NodeProcess::start_with_redis();
    let publisher = &mut node.resp();
    let sub = &mut RawResp::connect(node.redis(), READ);
    assert_eq!(sub.call(&["SUBSCRIBE", "firehose"]).words(), words(&["subscribe", "firehose", "1"]));
    // The subscriber reads nothing more. Messages pile up in its socket buffers, then in its
    // 32 MiB mailbox, and then it is dropped; the publisher is never slowed down.
    let message = "m".repeat(1 << 20);
    let admin = &mut RawResp::connect(node.redis(), READ);
    let mut published = 0;
    while admin.call(&["PUBSUB", "NUMSUB", "firehose"]).words() != words(&["firehose", "0"]) {
        let _: i64 = run(publisher, &["PUBLISH", "firehose", &message]);
        published += 1;
        assert!(published < 2048, "the subscriber was still buffered for after {published} MiB");
    }
    eventually(READ, "the subscriber to be gone", || {
        run::<String>(publisher, &["CLIENT", "LIST", "TYPE", "pubsub"]).is_empty()
    });
    assert_eq!(run::<String>(publisher, &["PING"]), "PONG");
}

#[tokio::test]
async fn a_message_published_on_any_node_reaches_every_nodes_subscribers_in_order() {
    let nodes = start_chain(3, &["--redis-port", "0"]);
    wait_for_alive_members(&nodes, 3, CONVERGE).await;
    let (a, b, c) = (&nodes[0], &nodes[1], &nodes[2]);
    let on_b = &mut RawResp::connect(b.redis(), READ);
    let on_c = &mut RawResp::connect(c.redis(), READ);
    on_b.send(&["SUBSCRIBE", "orders"]);
    on_b.read();
    on_c.send(&["PSUBSCRIBE", "ord*"]);
    on_c.read();
    on_c.send(&["SSUBSCRIBE", "orders"]);
    on_c.read();

    // Links come up on their own schedule and pub/sub is at most once: probe until both hear A.
    let publisher = &mut a.resp();
    let (mut b_ready, mut c_ready) = (false, false);
    let deadline = std::time::Instant::now() + CONVERGE;
    while !(b_ready && c_ready) {
        assert!(std::time::Instant::now() < deadline, "A's messages never reached B and C");
        assert_eq!(run::<i64>(publisher, &["PUBLISH", "orders", "probe"]), 0, "A has no subscriber of its own");
        b_ready |= quick_read(on_b).is_some();
        c_ready |= quick_read(on_c).is_some();
    }
    drain(on_b);
    drain(on_c);

    // A thousand messages from one publisher arrive on both nodes, all of them, in order.
    let mut pipe = redis::pipe();
    for n in 0..1000 {
        pipe.cmd("PUBLISH").arg("orders").arg(n.to_string()).ignore();
        pipe.cmd("SPUBLISH").arg("orders").arg(format!("s{n}")).ignore();
    }
    let _: () = pipe.query(publisher).unwrap();
    for n in 0..1000 {
        assert_eq!(on_b.read().words(), words(&["message", "orders", &n.to_string()]));
    }
    // C hears the pattern and the shard channel, interleaved as they were published.
    for n in 0..1000 {
        assert_eq!(on_c.read().words(), words(&["pmessage", "ord*", "orders", &n.to_string()]));
        assert_eq!(on_c.read().words(), words(&["smessage", "orders", &format!("s{n}")]));
    }

    // And the other way round: C publishes, B's subscriber hears it, A's PUBSUB sees only A.
    let from_c = &mut c.resp();
    eventually(CONVERGE, "C's message to reach B", || {
        let _: i64 = run(from_c, &["PUBLISH", "orders", "from c"]);
        quick_read(on_b).is_some_and(|m| m.words() == words(&["message", "orders", "from c"]))
    });
    assert_eq!(run::<i64>(publisher, &["PUBSUB", "NUMPAT"]), 0);
    let stats: String = run(&mut b.resp(), &["INFO", "stats"]);
    assert!(stats.contains("pubsub_channels:1"), "{stats}");
}

/// A value if one arrives soon.
fn quick_read(c: &mut RawResp) -> Option<Resp> {
    c.set_timeout(Duration::from_millis(50));
    let value = c.try_read();
    c.set_timeout(READ);
    value
}

/// Reads until nothing more arrives soon.
fn drain(c: &mut RawResp) {
    while quick_read(c).is_some() {}
}
