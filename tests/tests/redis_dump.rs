//! DUMP and RESTORE, mirroring Redis 7.0's `unit/dump.tcl` where kvs has the same thing (the
//! payload is kvs's own: a value and a checksum), and a payload carried from one node to another.

use kvs_tests::resp::{assert_error, run};
use kvs_tests::NodeProcess;
use redis::Connection;

fn dump(c: &mut Connection, key: &str) -> Option<Vec<u8>> {
    redis::cmd("DUMP").arg(key).query(c).unwrap()
}

fn restore(c: &mut Connection, key: &str, ttl: u64, payload: &[u8], options: &[&str]) -> redis::RedisResult<String> {
    redis::cmd("RESTORE").arg(key).arg(ttl).arg(payload).arg(options).query(c)
}

fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64
}

#[test]
fn dump_and_restore_carry_a_value_its_expiry_and_refuse_what_they_cannot_trust() {
    let node = NodeProcess::start(None, &["--redis-port", "0"]);
    let c = &mut node.resp();
    let _: () = run(c, &["SET", "foo", "bar"]);
    let encoded = dump(c, "foo").unwrap();
    let _: i64 = run(c, &["DEL", "foo"]);
    assert_eq!(restore(c, "foo", 0, &encoded, &[]).unwrap(), "OK");
    assert_eq!(run::<String>(c, &["GET", "foo"]), "bar");
    assert_eq!(run::<i64>(c, &["PTTL", "foo"]), -1);

    let _: i64 = run(c, &["DEL", "foo"]);
    restore(c, "foo", 3000, &encoded, &[]).unwrap();
    let ttl: i64 = run(c, &["PTTL", "foo"]);
    assert!((2000..=3000).contains(&ttl), "{ttl}");
    let _: i64 = run(c, &["DEL", "foo"]);
    restore(c, "foo", 2_569_591_501, &encoded, &[]).unwrap();
    assert!(run::<i64>(c, &["PTTL", "foo"]) >= 2_569_591_501 - 3000, "an expire past 32 bits");
    let _: i64 = run(c, &["DEL", "foo"]);
    restore(c, "foo", now_ms() + 3000, &encoded, &["ABSTTL"]).unwrap();
    let ttl: i64 = run(c, &["PTTL", "foo"]);
    assert!((2000..=3100).contains(&ttl), "{ttl}");
    assert_eq!(restore(c, "foo", now_ms() - 3000, &encoded, &["ABSTTL", "REPLACE"]).unwrap(), "OK");
    assert_eq!(run::<i64>(c, &["EXISTS", "foo"]), 0, "restored already expired: gone");

    let _: () = run(c, &["SET", "foo", "bar2"]);
    let busy = restore(c, "foo", 0, &encoded, &[]).unwrap_err();
    assert!(busy.to_string().contains("BUSYKEY"), "{busy}");
    assert_eq!(restore(c, "foo", 0, &encoded, &["REPLACE", "IDLETIME", "1000"]).unwrap(), "OK");
    assert_eq!(run::<String>(c, &["GET", "foo"]), "bar");
    let error = restore(c, "foo", 0, &encoded, &["invalid-option"]).unwrap_err();
    assert!(error.to_string().contains("syntax error"), "{error}");
    let error = restore(c, "foo", 0, &encoded, &["REPLACE", "FREQ", "300"]).unwrap_err();
    assert!(error.to_string().contains("Invalid FREQ value"), "{error}");

    let mut damaged = encoded.clone();
    damaged[0] ^= 0x20;
    let error = restore(c, "other", 0, &damaged, &[]).unwrap_err();
    assert!(error.to_string().contains("DUMP payload version or checksum are wrong"), "{error}");
    assert_error(c, &["RESTORE", "other", "-1", "x"], "Invalid TTL value, must be >= 0");
    assert_eq!(dump(c, "nonexisting_key"), None);
    // A counter dumps as its value and restores as a string INCR can count on.
    let _: i64 = run(c, &["INCRBY", "hits", "41"]);
    let counted = dump(c, "hits").unwrap();
    restore(c, "copy", 0, &counted, &[]).unwrap();
    assert_eq!(run::<i64>(c, &["INCR", "copy"]), 42);
}

#[test]
fn a_payload_dumped_on_one_node_restores_on_another() {
    let a = NodeProcess::start(None, &["--redis-port", "0"]);
    let b = NodeProcess::start(None, &["--redis-port", "0"]);
    let _: () = run(&mut a.resp(), &["SET", "k", "across"]);
    let payload = dump(&mut a.resp(), "k").unwrap();
    restore(&mut b.resp(), "k", 0, &payload, &[]).unwrap();
    assert_eq!(run::<String>(&mut b.resp(), &["GET", "k"]), "across");
}

#[test]
fn hashes_sets_and_sorted_sets_dump_and_restore_with_their_expiry_on_another_node() {
    // "DUMP / RESTORE are able to serialize / unserialize a hash / set / zset" in dump.tcl.
    let a = NodeProcess::start(None, &["--redis-port", "0"]);
    let b = NodeProcess::start(None, &["--redis-port", "0"]);
    let (c, d) = (&mut a.resp(), &mut b.resp());
    let _: i64 = run(c, &["HSET", "h", "f1", "v1", "f2", "v2"]);
    let _: i64 = run(c, &["SADD", "s", "a", "b", "c"]);
    let _: i64 = run(c, &["ZADD", "z", "1.5", "x", "-2", "y"]);
    let _: i64 = run(c, &["PEXPIRE", "h", "100000"]);
    for key in ["h", "s", "z"] {
        let payload = dump(c, key).unwrap();
        restore(d, key, 0, &payload, &[]).unwrap();
    }
    let mut hash: Vec<(String, String)> = run(d, &["HGETALL", "h"]);
    hash.sort();
    assert_eq!(hash, [("f1".into(), "v1".into()), ("f2".into(), "v2".into())]);
    let mut set: Vec<String> = run(d, &["SMEMBERS", "s"]);
    set.sort();
    assert_eq!(set, ["a", "b", "c"]);
    let zset: Vec<(String, f64)> = run(d, &["ZRANGE", "z", "0", "-1", "WITHSCORES"]);
    assert_eq!(zset, [("y".into(), -2.0), ("x".into(), 1.5)]);
    assert_eq!(run::<i64>(d, &["TTL", "h"]), -1, "RESTORE with TTL 0 sets none");
    // A TTL given, REPLACE over another type, BUSYKEY without it.
    let payload = dump(c, "h").unwrap();
    let _: () = run(d, &["SET", "taken", "v"]);
    let busy = restore(d, "taken", 0, &payload, &[]).unwrap_err();
    assert!(busy.to_string().contains("Target key name already exists"), "{busy}");
    restore(d, "taken", 50_000, &payload, &["REPLACE"]).unwrap();
    assert_eq!(run::<String>(d, &["TYPE", "taken"]), "hash");
    let ttl: i64 = run(d, &["PTTL", "taken"]);
    assert!((1..=50_000).contains(&ttl), "{ttl}");
    // A deadline already past: restored and gone at once.
    restore(d, "gone", 1, &payload, &["ABSTTL"]).unwrap();
    assert_eq!(run::<i64>(d, &["EXISTS", "gone"]), 0);
    // A payload cut short is refused.
    assert_error(d, &["RESTORE", "cut", "0", &String::from_utf8_lossy(&payload[..payload.len() / 2])], "DUMP payload");
}
