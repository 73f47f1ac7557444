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
