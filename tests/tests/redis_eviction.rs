//! maxmemory and its policies, mirroring Redis 7.0's `unit/maxmemory.tcl` (the limit honoured
//! under each policy, volatile policies touching only keys with a deadline, -OOM) and the
//! OBJECT IDLETIME / FREQ cases of `unit/introspection-2.tcl`. The cluster-wide rule (an
//! eviction loses to a write made meanwhile on another node) is in `partitions.rs` and the
//! core's tests.

use kvs_tests::resp::{assert_error, eventually, run};
use kvs_tests::NodeProcess;
use redis::Connection;
use std::time::Duration;

const LIMIT: u64 = 100_000;

fn node(policy: &str) -> (NodeProcess, Connection) {
    let node = NodeProcess::start(None, &["--redis-port", "0", "--maxmemory", "100000", "--maxmemory-policy", policy]);
    let c = node.resp();
    (node, c)
}

/// A field of INFO's `section`.
fn info(c: &mut Connection, section: &str, field: &str) -> u64 {
    let text: String = run(c, &["INFO", section]);
    let line = text.lines().find_map(|l| l.strip_prefix(&format!("{field}:")).map(str::to_owned));
    line.unwrap_or_else(|| panic!("no {field} in {text}")).trim().parse().unwrap()
}

/// Writes `n` keys of 100 bytes (with a deadline if `volatile`); how many were refused.
fn fill(c: &mut Connection, prefix: &str, n: usize, volatile: bool) -> usize {
    let value = "x".repeat(100);
    let mut refused = 0;
    for i in 0..n {
        let key = format!("{prefix}:{i}");
        let mut command = redis::cmd("SET");
        command.arg(&key).arg(&value);
        if volatile {
            command.arg("EX").arg(100_000);
        }
        if let Err(error) = command.query::<()>(c) {
            assert!(error.to_string().contains("command not allowed when used memory"), "{error}");
            refused += 1;
        }
    }
    refused
}

#[test]
fn the_memory_limit_is_honoured_under_every_eviction_policy() {
    for policy in [
        "allkeys-lru",
        "allkeys-lfu",
        "allkeys-random",
        "volatile-lru",
        "volatile-lfu",
        "volatile-random",
        "volatile-ttl",
    ] {
        let (_node, c) = &mut node(policy);
        let volatile = policy.starts_with("volatile");
        assert_eq!(fill(c, "key", 3_000, volatile), 0, "{policy}: nothing refused while keys can be evicted");
        let used = info(c, "memory", "used_memory_dataset");
        // Checked before each write, as Redis does: one write past the limit at most.
        assert!(used <= LIMIT + 400, "{policy}: {used} bytes of data under a limit of {LIMIT}");
        let evicted = info(c, "stats", "evicted_keys");
        let held: u64 = run(c, &["DBSIZE"]);
        assert!(evicted > 1_000 && held + evicted == 3_000, "{policy}: {held} held, {evicted} evicted");
    }
}

#[test]
fn volatile_policies_evict_only_keys_with_a_deadline_and_refuse_when_none_is_left() {
    let (_node, c) = &mut node("volatile-lru");
    assert_eq!(fill(c, "volatile", 200, true), 0);
    // Keys without a deadline fill the rest; once only they are left, writes are refused.
    let refused = fill(c, "kept", 2_000, false);
    assert!(refused > 0, "writes are refused once no key with a deadline is left");
    let kept = (0..2_000).filter(|i| run::<i64>(c, &["EXISTS", &format!("kept:{i}")]) == 1).count();
    assert_eq!(kept + refused, 2_000, "no key without a deadline was evicted");
    assert_eq!(run::<i64>(c, &["EXISTS", "volatile:0"]), 0);
}

#[test]
fn noeviction_refuses_growing_writes_and_serves_the_rest() {
    let (_node, c) = &mut node("noeviction");
    let refused = fill(c, "key", 2_000, false);
    assert!(refused > 0);
    assert_eq!(info(c, "stats", "evicted_keys"), 0);
    assert_error(c, &["SET", "one", "more"], "command not allowed when used memory > 'maxmemory'.");
    assert_error(c, &["INCR", "counter"], "command not allowed");
    // Reads and deletes go on; a delete makes room.
    assert_eq!(run::<String>(c, &["GET", "key:0"]).len(), 100);
    let _: i64 = run(c, &["DEL", "key:0", "key:1", "key:2"]);
    let _: () = run(c, &["SET", "one", "more"]);
    // Raised at run time, the limit lets writes in again.
    let _: () = run(c, &["CONFIG", "SET", "maxmemory", "10mb"]);
    assert_eq!(fill(c, "more", 100, false), 0);
    let config: Vec<String> = run(c, &["CONFIG", "GET", "maxmemory*"]);
    assert!(config.windows(2).any(|w| w == ["maxmemory", "10485760"]), "{config:?}");
    assert!(config.windows(2).any(|w| w == ["maxmemory-policy", "noeviction"]), "{config:?}");
}

#[test]
fn a_policy_set_at_run_time_starts_evicting() {
    let node = NodeProcess::start(None, &["--redis-port", "0"]);
    let c = &mut node.resp();
    assert_eq!(fill(c, "key", 1_000, false), 0);
    let _: () = run(c, &["CONFIG", "SET", "maxmemory", "50kb", "maxmemory-policy", "allkeys-random"]);
    let _: () = run(c, &["SET", "trigger", "x"]);
    assert!(info(c, "memory", "used_memory_dataset") <= 51_200 + 400);
    assert!(info(c, "stats", "evicted_keys") > 0);
    assert_error(c, &["CONFIG", "SET", "maxmemory-policy", "lru"], "must be one of the following");
}

#[test]
fn object_idletime_counts_from_the_last_use_and_touch_resets_it() {
    let node = NodeProcess::start(None, &["--redis-port", "0"]);
    let c = &mut node.resp();
    let _: () = run(c, &["SET", "foo", "bar"]);
    // "TTL, TYPE and EXISTS do not alter the last access time of a key"
    eventually(Duration::from_secs(10), "foo to be idle 2 s", || {
        let _: i64 = run(c, &["TTL", "foo"]);
        let _: String = run(c, &["TYPE", "foo"]);
        let _: i64 = run(c, &["EXISTS", "foo"]);
        run::<i64>(c, &["OBJECT", "IDLETIME", "foo"]) >= 2
    });
    // "Operations in no-touch mode do not alter the last access time of a key"
    let _: () = run(c, &["CLIENT", "NO-TOUCH", "ON"]);
    let _: String = run(c, &["GET", "foo"]);
    assert!(run::<i64>(c, &["OBJECT", "IDLETIME", "foo"]) >= 2);
    // "TOUCH alters the last access time of a key", in no-touch mode too, as a read does.
    assert_eq!(run::<i64>(c, &["TOUCH", "foo", "missing"]), 1);
    assert!(run::<i64>(c, &["OBJECT", "IDLETIME", "foo"]) < 2);
    let _: () = run(c, &["CLIENT", "NO-TOUCH", "OFF"]);
    assert_error(c, &["OBJECT", "FREQ", "foo"], "An LFU maxmemory policy is not selected");
}

#[test]
fn object_freq_grows_with_use_under_an_lfu_policy() {
    let (_node, c) = &mut node("allkeys-lfu");
    let _: () = run(c, &["SET", "hot", "1"]);
    let _: () = run(c, &["SET", "cold", "1"]);
    // A new key starts at 5, as in Redis, so it is not evicted before it had a chance (4 if a
    // minute turned since the SET: the counter decays a step a minute).
    let fresh: i64 = run(c, &["OBJECT", "FREQ", "cold"]);
    assert!((4..=5).contains(&fresh), "{fresh}");
    for _ in 0..2_000 {
        let _: String = run(c, &["GET", "hot"]);
    }
    let (hot, cold): (i64, i64) = (run(c, &["OBJECT", "FREQ", "hot"]), run(c, &["OBJECT", "FREQ", "cold"]));
    assert!(hot > cold + 4, "hot {hot}, cold {cold}");
    assert_error(c, &["OBJECT", "IDLETIME", "hot"], "An LFU maxmemory policy is selected");
}

#[test]
fn an_evictions_tombstone_is_purged_after_the_eviction_grace_and_a_deletes_is_not() {
    let node = NodeProcess::start(
        None,
        &[
            "--redis-port",
            "0",
            "--maxmemory",
            "100000",
            "--maxmemory-policy",
            "allkeys-random",
            "--eviction-grace-ms",
            "1s",
            "--tombstone-grace-ms",
            "1h",
        ],
    );
    let c = &mut node.resp();
    let _: () = run(c, &["SET", "deleted", "x"]);
    let _: i64 = run(c, &["DEL", "deleted"]);
    assert_eq!(fill(c, "key", 3_000, false), 0);
    assert!(info(c, "stats", "evicted_keys") > 1_000);
    // The evictions' tombstones go after a second; the DEL's stays for its hour.
    eventually(Duration::from_secs(30), "the evictions' tombstones to be purged", || {
        let keyspace: String = run(c, &["INFO", "keyspace"]);
        keyspace.contains(",tombstones=1\r\n")
    });
    assert!(info(c, "memory", "kvs_tombstone_bytes") < 200);
}

#[test]
fn hashes_sets_and_sorted_sets_are_evicted_whole_under_the_limit() {
    for policy in ["allkeys-lru", "allkeys-random", "volatile-ttl"] {
        let (_node, c) = &mut node(policy);
        let value = "x".repeat(40);
        let volatile = policy.starts_with("volatile");
        let mut refused = 0;
        for i in 0..600 {
            let key = format!("c:{i}");
            let command: Vec<String> = match i % 3 {
                0 => vec!["HSET".into(), key.clone(), "a".into(), value.clone(), "b".into(), value.clone()],
                1 => vec!["SADD".into(), key.clone(), format!("{value}a"), format!("{value}b")],
                _ => vec!["ZADD".into(), key.clone(), "1".into(), format!("{value}a"), "2".into(), format!("{value}b")],
            };
            let mut cmd = redis::cmd(&command[0]);
            cmd.arg(&command[1..]);
            if let Err(error) = cmd.query::<i64>(c) {
                assert!(error.to_string().contains("command not allowed when used memory"), "{error}");
                refused += 1;
            }
            if volatile {
                let _: i64 = run(c, &["EXPIRE", &key, &(100_000 + i).to_string()]);
            }
        }
        assert_eq!(refused, 0, "{policy}: nothing refused while collections can be evicted");
        let used = info(c, "memory", "used_memory_dataset");
        assert!(used <= LIMIT + 1_000, "{policy}: {used} bytes of data under a limit of {LIMIT}");
        let evicted = info(c, "stats", "evicted_keys");
        let held: u64 = run(c, &["DBSIZE"]);
        assert!(evicted > 100 && held + evicted == 600, "{policy}: {held} held, {evicted} evicted");
        // An evicted collection is gone whole; one kept is whole.
        for i in 0..600 {
            let key = format!("c:{i}");
            let kind: String = run(c, &["TYPE", &key]);
            let len: i64 = match kind.as_str() {
                "hash" => run(c, &["HLEN", &key]),
                "set" => run(c, &["SCARD", &key]),
                "zset" => run(c, &["ZCARD", &key]),
                _ => 2,
            };
            assert_eq!(len, 2, "{policy}: {key} is a {kind} of {len}");
        }
    }
}

#[test]
fn a_collection_command_marks_its_key_used_and_type_and_exists_do_not() {
    let node = NodeProcess::start(None, &["--redis-port", "0"]);
    let c = &mut node.resp();
    let _: i64 = run(c, &["HSET", "h", "f", "v"]);
    eventually(Duration::from_secs(30), "h to be idle 1 s", || {
        let _: String = run(c, &["TYPE", "h"]);
        let _: i64 = run(c, &["EXISTS", "h"]);
        run::<i64>(c, &["OBJECT", "IDLETIME", "h"]) >= 1
    });
    let _: String = run(c, &["HGET", "h", "f"]);
    assert_eq!(run::<i64>(c, &["OBJECT", "IDLETIME", "h"]), 0);
}
