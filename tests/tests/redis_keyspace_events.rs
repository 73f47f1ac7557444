//! Keyspace notifications: Redis 7.0's cases from `tests/unit/pubsub.tcl` against one node, and
//! what no Redis test checks: a change written on one node fires the events of the node it is
//! replicated to, by that node's own setting, and every node fires `expired` when it reclaims.

use kvs_tests::raw_resp::RawResp;
use kvs_tests::resp::run;
use kvs_tests::{start_chain, wait_for_alive_members, NodeProcess};
use redis::Connection;
use std::time::Duration;

const READ: Duration = Duration::from_secs(10);
const CONVERGE: Duration = Duration::from_secs(30);

/// A connection subscribed to every channel.
fn listener(node: &NodeProcess) -> RawResp {
    let mut listener = RawResp::connect(node.redis(), READ);
    assert_eq!(listener.call(&["PSUBSCRIBE", "*"]).words(), ["psubscribe", "*", "1"]);
    listener
}

/// The next message's channel and payload.
fn next(listener: &mut RawResp) -> (String, String) {
    let words = listener.read().words();
    assert_eq!(words[0], "pmessage", "{words:?}");
    (words[2].clone(), words[3].clone())
}

fn expect(listener: &mut RawResp, wanted: &[(&str, &str)]) {
    for (channel, message) in wanted {
        assert_eq!(next(listener), (channel.to_string(), message.to_string()));
    }
}

fn configure(c: &mut Connection, classes: &str) {
    let _: () = run(c, &["CONFIG", "SET", "notify-keyspace-events", classes]);
}

fn ok(c: &mut Connection, args: &[&str]) {
    let _: redis::Value = run(c, args);
}

#[test]
fn events_of_one_node_as_redis_fires_them() {
    let node = NodeProcess::start(None, &["--redis-port", "0", "--maxmemory-policy", "allkeys-lru"]);
    let c = &mut node.resp();

    // K: keyspace events; E: keyevent events; both.
    configure(c, "KA");
    let mut l = listener(&node);
    ok(c, &["SET", "foo", "bar"]);
    expect(&mut l, &[("__keyspace@0__:foo", "set")]);
    configure(c, "EA");
    ok(c, &["SET", "foo", "bar"]);
    expect(&mut l, &[("__keyevent@0__:set", "foo")]);
    configure(c, "KEA");
    ok(c, &["SET", "foo", "bar"]);
    expect(&mut l, &[("__keyspace@0__:foo", "set"), ("__keyevent@0__:set", "foo")]);

    // Masks: with only hash events on, SET fires nothing and HSET does.
    configure(c, "KEh");
    ok(c, &["SET", "foo", "bar"]);
    ok(c, &["HSET", "myhash", "yes", "1", "no", "0"]);
    ok(c, &["HINCRBY", "myhash", "yes", "10"]);
    expect(
        &mut l,
        &[
            ("__keyspace@0__:myhash", "hset"),
            ("__keyevent@0__:hset", "myhash"),
            ("__keyspace@0__:myhash", "hincrby"),
            ("__keyevent@0__:hincrby", "myhash"),
        ],
    );

    // Generic events.
    configure(c, "KEg");
    ok(c, &["SET", "foo", "bar"]);
    ok(c, &["EXPIRE", "foo", "100"]);
    ok(c, &["DEL", "foo"]);
    expect(
        &mut l,
        &[
            ("__keyspace@0__:foo", "expire"),
            ("__keyevent@0__:expire", "foo"),
            ("__keyspace@0__:foo", "del"),
            ("__keyevent@0__:del", "foo"),
        ],
    );

    // Set and sorted-set events: a removal of a missing member fires nothing.
    configure(c, "Ks");
    ok(c, &["SADD", "myset", "a", "b", "c", "d"]);
    ok(c, &["SREM", "myset", "x"]);
    ok(c, &["SADD", "myset", "x", "y", "z"]);
    ok(c, &["SREM", "myset", "x"]);
    expect(
        &mut l,
        &[("__keyspace@0__:myset", "sadd"), ("__keyspace@0__:myset", "sadd"), ("__keyspace@0__:myset", "srem")],
    );
    configure(c, "Kz");
    ok(c, &["ZADD", "myzset", "1", "a", "2", "b"]);
    ok(c, &["ZREM", "myzset", "x"]);
    ok(c, &["ZADD", "myzset", "3", "x", "4", "y", "5", "z"]);
    ok(c, &["ZREM", "myzset", "x"]);
    ok(c, &["ZINCRBY", "myzset", "1", "a"]);
    expect(
        &mut l,
        &[
            ("__keyspace@0__:myzset", "zadd"),
            ("__keyspace@0__:myzset", "zadd"),
            ("__keyspace@0__:myzset", "zrem"),
            ("__keyspace@0__:myzset", "zincr"),
        ],
    );

    // String commands fire their own names; in database 3 the channels say so.
    configure(c, "K$");
    ok(c, &["INCR", "n"]);
    ok(c, &["APPEND", "s", "x"]);
    ok(c, &["SELECT", "3"]);
    ok(c, &["SET", "other", "db"]);
    ok(c, &["SELECT", "0"]);
    expect(&mut l, &[("__keyspace@0__:n", "incrby"), ("__keyspace@0__:s", "append"), ("__keyspace@3__:other", "set")]);

    // Expired: fired when the node reclaims the key after its deadline.
    configure(c, "Ex");
    ok(c, &["PSETEX", "soon", "100", "1"]);
    expect(&mut l, &[("__keyevent@0__:expired", "soon")]);

    // Evicted: a write past the limit evicts foo.
    configure(c, "Ee");
    ok(c, &["FLUSHALL"]);
    ok(c, &["SET", "foo", "bar"]);
    ok(c, &["CONFIG", "SET", "maxmemory", "1"]);
    let _ = redis::cmd("SET").arg("bar").arg("x").query::<redis::Value>(c);
    expect(&mut l, &[("__keyevent@0__:evicted", "foo")]);
    ok(c, &["CONFIG", "SET", "maxmemory", "0"]);
    // A collection is evicted whole, as a DEL of it, and that is `evicted` too.
    ok(c, &["FLUSHALL"]);
    ok(c, &["SADD", "s", "a", "b"]);
    ok(c, &["CONFIG", "SET", "maxmemory", "1"]);
    let _ = redis::cmd("SET").arg("bar").arg("x").query::<redis::Value>(c);
    expect(&mut l, &[("__keyevent@0__:evicted", "s")]);
    ok(c, &["CONFIG", "SET", "maxmemory", "0"]);

    // The setting reads back as Redis prints it.
    for (set, shown) in [("gKE", "gKE"), ("$lshzxeKE", "$lshzxeKE"), ("KA", "AK"), ("EA", "AE")] {
        configure(c, set);
        let got: Vec<String> = run(c, &["CONFIG", "GET", "notify-keyspace-events"]);
        assert_eq!(got[1], shown);
    }
}

#[tokio::test]
async fn a_change_fires_the_events_of_every_node_it_reaches() {
    let nodes = start_chain(2, &["--redis-port", "0"]);
    wait_for_alive_members(&nodes, 2, CONVERGE).await;
    let (a, b) = (&nodes[0], &nodes[1]);
    // Each node by its own setting: A fires none, B keyspace events of every class.
    configure(&mut b.resp(), "KA");
    let mut on_b = listener(b);
    let writer = &mut a.resp();
    ok(writer, &["SET", "k", "v"]);
    ok(writer, &["HSET", "h", "f1", "1", "f2", "2"]);
    ok(writer, &["SADD", "s", "m"]);
    ok(writer, &["SREM", "s", "m"]);
    ok(writer, &["INCR", "n"]);
    ok(writer, &["DEL", "k"]);
    ok(writer, &["PSETEX", "gone", "200", "x"]);
    // What B applies, B fires, named by what each record holds (a HSET of two fields is one
    // event when its records arrive together; a deadline on a value fires `expire` too).
    let mut got = Vec::new();
    while got.len() < 9 {
        got.push(next(&mut on_b));
        got.dedup();
    }
    let expected: Vec<(String, String)> = [
        ("__keyspace@0__:k", "set"),
        ("__keyspace@0__:h", "hset"),
        ("__keyspace@0__:s", "sadd"),
        ("__keyspace@0__:s", "srem"),
        ("__keyspace@0__:n", "incrby"),
        ("__keyspace@0__:k", "del"),
        ("__keyspace@0__:gone", "set"),
        ("__keyspace@0__:gone", "expire"),
        ("__keyspace@0__:gone", "expired"),
    ]
    .iter()
    .map(|(c, m)| (c.to_string(), m.to_string()))
    .collect();
    assert_eq!(got, expected);
}
