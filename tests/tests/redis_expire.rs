//! Redis 7.0's expiry tests (`tests/unit/expire.tcl`) mirrored against one node's Redis port.
//! The waits are the ones Redis's tests use: a key with a deadline is polled until it has gone,
//! within a deadline, never after a fixed sleep that must be long enough.

use kvs_tests::resp::{assert_error, eventually, run};
use kvs_tests::NodeProcess;
use redis::Connection;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn unix_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64
}

/// Waits until `key` reads as absent, failing after `limit`.
fn wait_gone(c: &mut Connection, key: &str, limit: Duration) {
    eventually(limit, &format!("{key} to expire"), || run::<Option<String>>(c, &["GET", key]).is_none());
}

#[test]
fn expire_set_timeouts_and_keys_go() {
    let node = NodeProcess::start_with_redis();
    let c = &mut node.resp();
    let _: () = run(c, &["SET", "x", "foobar"]);
    assert_eq!(run::<i64>(c, &["EXPIRE", "x", "5"]), 1);
    assert!((4..=5).contains(&run::<i64>(c, &["TTL", "x"])));
    assert_eq!(run::<i64>(c, &["EXPIRE", "x", "10"]), 1);
    assert_eq!(run::<i64>(c, &["TTL", "x"]), 10);
    let _: () = run(c, &["PEXPIRE", "x", "200"]);
    assert_eq!(run::<String>(c, &["GET", "x"]), "foobar");
    wait_gone(c, "x", Duration::from_secs(5));
    assert_eq!(run::<i64>(c, &["EXISTS", "x"]), 0);

    let _: () = run(c, &["SET", "x", "foo"]);
    let at = (unix_ms() / 1000 + 15).to_string();
    let _: () = run(c, &["EXPIREAT", "x", &at]);
    assert!((13..=15).contains(&run::<i64>(c, &["TTL", "x"])));
    let _: () = run(c, &["SETEX", "x", "12", "test"]);
    assert!((10..=12).contains(&run::<i64>(c, &["TTL", "x"])));
    assert_eq!(run::<String>(c, &["GET", "x"]), "test");
    let _: () = run(c, &["PSETEX", "y", "100", "foo"]);
    assert_eq!(run::<Option<String>>(c, &["GET", "y"]).as_deref(), Some("foo"));
    wait_gone(c, "y", Duration::from_secs(5));
    assert_error(c, &["SETEX", "z", "-10", "foo"], "invalid expire");
    let _: () = run(c, &["SET", "foo", "bar"]);
    assert_error(c, &["EXPIRE", "foo", ""], "not an integer");
}

#[test]
fn persist_ttl_pttl_and_expiretime() {
    let node = NodeProcess::start_with_redis();
    let c = &mut node.resp();
    let _: () = run(c, &["SET", "x", "foo"]);
    let _: () = run(c, &["EXPIRE", "x", "50"]);
    assert_eq!(run::<i64>(c, &["TTL", "x"]), 50);
    assert_eq!(run::<i64>(c, &["PERSIST", "x"]), 1);
    assert_eq!(run::<i64>(c, &["TTL", "x"]), -1);
    assert_eq!(run::<String>(c, &["GET", "x"]), "foo");
    assert_eq!(run::<i64>(c, &["PERSIST", "foo"]), 0);
    assert_eq!(run::<i64>(c, &["PERSIST", "nokeyatall"]), 0);

    let _: () = run(c, &["SETEX", "x", "10", "somevalue"]);
    let ttl: i64 = run(c, &["TTL", "x"]);
    assert!(ttl > 8 && ttl <= 10);
    let _: () = run(c, &["SETEX", "x", "1", "somevalue"]);
    let pttl: i64 = run(c, &["PTTL", "x"]);
    assert!(pttl > 900 && pttl <= 1000, "{pttl}");
    let _: () = run(c, &["SET", "x", "hello"]);
    assert_eq!((run::<i64>(c, &["TTL", "x"]), run::<i64>(c, &["PTTL", "x"])), (-1, -1));
    let _: () = run(c, &["DEL", "x"]);
    assert_eq!((run::<i64>(c, &["TTL", "x"]), run::<i64>(c, &["PTTL", "x"])), (-2, -2));

    let _: () = run(c, &["SET", "foo", "bar"]);
    assert_eq!(run::<i64>(c, &["EXPIRETIME", "foo"]), -1);
    assert_eq!(run::<i64>(c, &["PEXPIRETIME", "foo"]), -1);
    assert_eq!(run::<i64>(c, &["EXPIRETIME", "nokey"]), -2);
    let at = unix_ms() / 1000 + 100;
    let _: () = run(c, &["EXPIREAT", "foo", &at.to_string()]);
    assert_eq!(run::<i64>(c, &["EXPIRETIME", "foo"]), at as i64);
    assert_eq!(run::<i64>(c, &["PEXPIRETIME", "foo"]), at as i64 * 1000);
}

#[test]
fn expire_options_nx_xx_gt_lt() {
    let node = NodeProcess::start_with_redis();
    let c = &mut node.resp();
    let _: () = run(c, &["SET", "foo", "bar"]);
    assert_eq!(run::<i64>(c, &["EXPIRE", "foo", "200", "XX"]), 0);
    assert_eq!(run::<i64>(c, &["EXPIRE", "foo", "200", "NX"]), 1);
    assert_eq!(run::<i64>(c, &["EXPIRE", "foo", "100", "NX"]), 0);
    assert_eq!(run::<i64>(c, &["EXPIRE", "foo", "100", "XX"]), 1);
    assert_eq!(run::<i64>(c, &["EXPIRE", "foo", "200", "GT"]), 1);
    assert_eq!(run::<i64>(c, &["EXPIRE", "foo", "100", "GT"]), 0);
    assert_eq!(run::<i64>(c, &["EXPIRE", "foo", "300", "LT"]), 0);
    assert_eq!(run::<i64>(c, &["EXPIRE", "foo", "100", "LT"]), 1);
    assert_eq!(run::<i64>(c, &["TTL", "foo"]), 100);
    let _: () = run(c, &["PERSIST", "foo"]);
    assert_eq!(run::<i64>(c, &["EXPIRE", "foo", "100", "GT"]), 0, "no deadline is infinite for GT");
    assert_eq!(run::<i64>(c, &["EXPIRE", "foo", "100", "LT"]), 1, "and beaten by any deadline for LT");
    assert_error(
        c,
        &["EXPIRE", "foo", "200", "NX", "XX"],
        "NX and XX, GT or LT options at the same time are not compatible",
    );
    assert_error(c, &["EXPIRE", "foo", "200", "GT", "LT"], "GT and LT options at the same time are not compatible");
    assert_error(c, &["EXPIRE", "foo", "200", "AB"], "Unsupported option AB");
    assert_error(c, &["EXPIRE", "foo", "9223372036854775807"], "invalid expire time in 'expire' command");
    assert_error(c, &["PEXPIRE", "foo", "9223372036854775807"], "invalid expire time in 'pexpire' command");
    // A deadline in the past deletes the key.
    assert_eq!(run::<i64>(c, &["EXPIRE", "foo", "-1"]), 1);
    assert_eq!(run::<i64>(c, &["EXISTS", "foo"]), 0);
}

#[test]
fn keys_expire_actively_and_lazily() {
    let node = NodeProcess::start_with_redis();
    let c = &mut node.resp();
    // Active: every key reclaimed without being touched.
    let _: () = run(c, &["FLUSHDB"]);
    for key in ["key1", "key2", "key3"] {
        let _: () = run(c, &["PSETEX", key, "300", "a"]);
    }
    assert_eq!(run::<i64>(c, &["DBSIZE"]), 3);
    eventually(Duration::from_secs(5), "DBSIZE 0", || run::<i64>(c, &["DBSIZE"]) == 0);

    // Lazy: with active expiry paused, expired keys count until touched, as in Redis.
    let _: () = run(c, &["DEBUG", "SET-ACTIVE-EXPIRE", "0"]);
    for key in ["key1", "key2", "key3"] {
        let _: () = run(c, &["PSETEX", key, "100", "a"]);
    }
    assert_eq!(run::<i64>(c, &["DBSIZE"]), 3);
    // PTTL reports an expired key as gone without reclaiming it.
    eventually(Duration::from_secs(5), "the keys to expire", || run::<i64>(c, &["PTTL", "key3"]) == -2);
    assert_eq!(run::<i64>(c, &["DBSIZE"]), 3, "expired, not yet reclaimed");
    let _: () = run(c, &["MGET", "key1", "key2", "key3"]);
    assert_eq!(run::<i64>(c, &["DBSIZE"]), 0);

    // EXPIRE should not resurrect keys (Redis issue #1026).
    let _: () = run(c, &["SET", "foo", "bar"]);
    let _: () = run(c, &["PEXPIRE", "foo", "100"]);
    eventually(Duration::from_secs(5), "foo to expire", || run::<i64>(c, &["PTTL", "foo"]) == -2);
    assert_eq!(run::<i64>(c, &["EXPIRE", "foo", "10"]), 0);
    let _: () = run(c, &["DEBUG", "SET-ACTIVE-EXPIRE", "1"]);
    assert_eq!(run::<i64>(c, &["EXISTS", "foo"]), 0);

    // 5 keys in, 5 keys out.
    let _: () = run(c, &["FLUSHDB"]);
    let _: () = run(c, &["SET", "a", "c"]);
    let _: () = run(c, &["EXPIRE", "a", "5"]);
    for key in ["t", "e", "s", "foo"] {
        let _: () = run(c, &["SET", key, "c"]);
    }
    let mut keys: Vec<String> = run(c, &["KEYS", "*"]);
    keys.sort();
    assert_eq!(keys, ["a", "e", "foo", "s", "t"]);
}

#[test]
fn set_removes_the_deadline_and_keepttl_keeps_it() {
    let node = NodeProcess::start_with_redis();
    let c = &mut node.resp();
    let _: () = run(c, &["SET", "foo", "bar", "EX", "100"]);
    let _: () = run(c, &["SET", "foo", "bar"]);
    assert_eq!(run::<i64>(c, &["TTL", "foo"]), -1);
    let _: () = run(c, &["SET", "foo", "bar", "EX", "100"]);
    let _: () = run(c, &["SET", "foo", "bar", "KEEPTTL"]);
    let ttl: i64 = run(c, &["TTL", "foo"]);
    assert!(ttl <= 100 && ttl > 90, "{ttl}");
}

#[test]
fn deadlines_are_absolute_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let args = ["--redis-port", "0", "--data-dir", data.to_str().unwrap(), "--fsync", "always"];
    let mut node = NodeProcess::start(None, &args);
    let c = &mut node.resp();
    let _: () = run(c, &["SET", "foo1", "bar", "EX", "100"]);
    let _: () = run(c, &["SET", "foo2", "bar", "PX", "100000"]);
    let _: () = run(c, &["SET", "foo3", "bar"]);
    let _: () = run(c, &["EXPIRE", "foo3", "100"]);
    let _: () = run(c, &["SETEX", "foo5", "100", "bar"]);
    let _: () = run(c, &["PSETEX", "gone", "200", "bar"]);
    let _: () = run(c, &["SET", "counter", "5", "EX", "100"]);
    assert_eq!(run::<i64>(c, &["INCR", "counter"]), 6);
    let deadline: i64 = run(c, &["PEXPIRETIME", "foo1"]);
    node.restart(None);
    let c = &mut node.resp();
    assert_eq!(run::<i64>(c, &["PEXPIRETIME", "foo1"]), deadline);
    for key in ["foo1", "foo2", "foo3", "foo5", "counter"] {
        let ttl: i64 = run(c, &["TTL", key]);
        assert!((90..=100).contains(&ttl), "{key}: ttl {ttl}");
    }
    assert_eq!(run::<String>(c, &["GET", "counter"]), "6");
    eventually(Duration::from_secs(5), "gone to expire", || run::<i64>(c, &["EXISTS", "gone"]) == 0);
}
