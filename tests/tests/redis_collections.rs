//! Hashes and sets on the Redis port, mirroring Redis 7.0's `unit/type/hash.tcl` and
//! `unit/type/set.tcl` where they do not test Redis's own encodings; and what the nodes of a
//! cluster hold once collection writes replicate, a node restarts, or a DEL meets an add.

use kvs_tests::resp::{assert_error, eventually, run};
use kvs_tests::{start_chain, wait_for_alive_members, wait_for_equal_digests, wait_for_open_gates, NodeProcess};
use redis::Connection;
use std::collections::BTreeSet;
use std::time::Duration;

const CONVERGE: Duration = Duration::from_secs(30);
/// Redis's WRONGTYPE error, as the `redis` crate shows it (its code, a colon, the message).
const WRONGTYPE: &str = "WRONGTYPE: Operation against a key holding the wrong kind of value";

fn node() -> (NodeProcess, Connection) {
    let node = NodeProcess::start(None, &["--redis-port", "0"]);
    let c = node.resp();
    (node, c)
}

fn sorted(mut items: Vec<String>) -> Vec<String> {
    items.sort();
    items
}

fn members(c: &mut Connection, key: &str) -> Vec<String> {
    sorted(run(c, &["SMEMBERS", key]))
}

#[test]
fn hash_fields_are_set_read_counted_and_deleted() {
    let (_node, c) = &mut node();
    // "HSET/HLEN - Small hash creation", "HGET against the small hash"
    assert_eq!(run::<i64>(c, &["HSET", "h", "a", "1", "b", "2", "c", "3"]), 3);
    assert_eq!(run::<i64>(c, &["HSET", "h", "a", "10", "d", "4"]), 1, "one field new");
    assert_eq!(run::<i64>(c, &["HLEN", "h"]), 4);
    assert_eq!(run::<String>(c, &["HGET", "h", "a"]), "10");
    assert_eq!(run::<Option<String>>(c, &["HGET", "h", "nope"]), None);
    // "HMGET against non existing key and fields", "HMGET - small hash"
    let got: Vec<Option<String>> = run(c, &["HMGET", "h", "a", "nope", "d"]);
    assert_eq!(got, vec![Some("10".into()), None, Some("4".into())]);
    let got: Vec<Option<String>> = run(c, &["HMGET", "missing", "a"]);
    assert_eq!(got, vec![None]);
    // "HSETNX target key missing - small hash", "HSETNX target key exists - small hash"
    assert_eq!(run::<i64>(c, &["HSETNX", "h", "a", "no"]), 0);
    assert_eq!(run::<i64>(c, &["HSETNX", "h", "e", "5"]), 1);
    // "HEXISTS", "HSTRLEN against the small hash"
    assert_eq!((run::<i64>(c, &["HEXISTS", "h", "e"]), run::<i64>(c, &["HEXISTS", "h", "z"])), (1, 0));
    assert_eq!(run::<i64>(c, &["HSTRLEN", "h", "a"]), 2);
    // "HKEYS - small hash", "HVALS - small hash", "HGETALL - small hash"
    assert_eq!(sorted(run(c, &["HKEYS", "h"])), ["a", "b", "c", "d", "e"]);
    assert_eq!(sorted(run(c, &["HVALS", "h"])), ["10", "2", "3", "4", "5"]);
    let all: std::collections::HashMap<String, String> = run(c, &["HGETALL", "h"]);
    assert_eq!(all.len(), 5);
    // "HDEL and return value", "HDEL - more than a single value", "HDEL - hash becomes empty before deleting all specified fields"
    assert_eq!(run::<i64>(c, &["HDEL", "h", "a", "nope"]), 1);
    assert_eq!(run::<i64>(c, &["HDEL", "h", "b", "c", "d", "e", "a"]), 4);
    assert_eq!(run::<i64>(c, &["EXISTS", "h"]), 0, "an emptied hash is no key");
    assert_eq!(run::<String>(c, &["TYPE", "h"]), "none");
    // "HMSET - small hash", "HRANDFIELD with <count> against non existing key"
    assert_eq!(run::<String>(c, &["HMSET", "m", "x", "1", "y", "2"]), "OK");
    let picked: Vec<String> = run(c, &["HRANDFIELD", "m", "-5"]);
    assert_eq!(picked.len(), 5);
    assert!(picked.iter().all(|f| f == "x" || f == "y"));
    let picked: Vec<String> = run(c, &["HRANDFIELD", "m", "5", "WITHVALUES"]);
    assert_eq!(picked.len(), 4, "distinct fields, each with its value");
    let none: Vec<String> = run(c, &["HRANDFIELD", "nokey", "5"]);
    assert!(none.is_empty());
    // "HSET/HMSET wrong number of arguments"
    assert_error(c, &["HSET", "m", "x"], "wrong number of arguments for 'hset' command");
    assert_error(c, &["HMSET", "m", "x", "1", "y"], "wrong number of arguments for 'hmset' command");
}

#[test]
fn set_members_are_added_removed_and_combined() {
    let (_node, c) = &mut node();
    // "SADD, SCARD, SISMEMBER, SMISMEMBER, SMEMBERS basics"
    assert_eq!(run::<i64>(c, &["SADD", "s", "a", "b", "c", "a"]), 3);
    assert_eq!(run::<i64>(c, &["SADD", "s", "c", "d"]), 1);
    assert_eq!(run::<i64>(c, &["SCARD", "s"]), 4);
    assert_eq!((run::<i64>(c, &["SISMEMBER", "s", "a"]), run::<i64>(c, &["SISMEMBER", "s", "z"])), (1, 0));
    assert_eq!(run::<Vec<i64>>(c, &["SMISMEMBER", "s", "a", "z", "d"]), [1, 0, 1]);
    assert_eq!(members(c, "s"), ["a", "b", "c", "d"]);
    // "SREM basics - regular set", "SREM with multiple arguments"
    assert_eq!(run::<i64>(c, &["SREM", "s", "a", "z", "b"]), 2);
    assert_eq!(members(c, "s"), ["c", "d"]);
    // "SINTER/SUNION/SDIFF against three sets", and their STORE forms
    let _: i64 = run(c, &["SADD", "t", "c", "e"]);
    let _: i64 = run(c, &["SADD", "u", "c", "d", "f"]);
    assert_eq!(sorted(run(c, &["SINTER", "s", "t", "u"])), ["c"]);
    assert_eq!(sorted(run(c, &["SUNION", "s", "t", "u"])), ["c", "d", "e", "f"]);
    assert_eq!(sorted(run(c, &["SDIFF", "u", "s"])), ["f"]);
    assert_eq!(run::<i64>(c, &["SUNIONSTORE", "dest", "s", "t"]), 3);
    assert_eq!(members(c, "dest"), ["c", "d", "e"]);
    assert_eq!(run::<i64>(c, &["SINTERSTORE", "dest", "s", "t"]), 1);
    assert_eq!(members(c, "dest"), ["c"], "the STORE replaced what was there");
    assert_eq!(run::<i64>(c, &["SDIFFSTORE", "dest", "t", "t"]), 0);
    assert_eq!(run::<i64>(c, &["EXISTS", "dest"]), 0, "an empty result deletes the destination");
    // "SINTERCARD with illegal arguments", "SINTERCARD against three sets"
    assert_eq!(run::<i64>(c, &["SINTERCARD", "2", "s", "u"]), 2);
    assert_eq!(run::<i64>(c, &["SINTERCARD", "2", "s", "u", "LIMIT", "1"]), 1);
    assert_error(c, &["SINTERCARD", "0", "s"], "numkeys should be greater than 0");
    // "SMOVE basics - from regular set to intset", "SMOVE non existing key"
    assert_eq!(run::<i64>(c, &["SMOVE", "s", "t", "d"]), 1);
    assert_eq!((members(c, "s"), members(c, "t")), (vec!["c".into()], vec!["c".into(), "d".into(), "e".into()]));
    assert_eq!(run::<i64>(c, &["SMOVE", "s", "t", "nope"]), 0);
    // "SPOP basics", "SPOP with <count>", "SRANDMEMBER with <count>"
    let popped: String = run(c, &["SPOP", "s"]);
    assert_eq!(popped, "c");
    assert_eq!(run::<i64>(c, &["EXISTS", "s"]), 0);
    let popped: Vec<String> = run(c, &["SPOP", "t", "2"]);
    assert_eq!(popped.len(), 2);
    assert_eq!(run::<i64>(c, &["SCARD", "t"]), 1);
    let picked: Vec<String> = run(c, &["SRANDMEMBER", "u", "-7"]);
    assert_eq!(picked.len(), 7);
    let picked: BTreeSet<String> = run::<Vec<String>>(c, &["SRANDMEMBER", "u", "10"]).into_iter().collect();
    assert_eq!(picked.len(), 3, "all three, once each");
    // "SSCAN with pattern"
    let (cursor, found): (String, Vec<String>) = run(c, &["SSCAN", "u", "0", "MATCH", "[cd]"]);
    assert_eq!((cursor.as_str(), sorted(found)), ("0", vec!["c".to_string(), "d".to_string()]));
}

#[test]
fn collection_scans_go_step_by_step_and_return_every_element_present_throughout() {
    // Redis's "{SSCAN,HSCAN,ZSCAN} with encoding hashtable" and "SCAN guarantees check under
    // write load", on each collection type: a step reads about COUNT elements, and while
    // elements come and go between steps, every one present from the first step to the last
    // is returned.
    let (_node, c) = &mut node();
    let fill = |c: &mut Connection, command: &[&str], each: &dyn Fn(usize) -> Vec<String>| {
        for chunk in (0..1000).collect::<Vec<_>>().chunks(100) {
            let mut args: Vec<String> = command.iter().map(|a| a.to_string()).collect();
            args.extend(chunk.iter().flat_map(|&i| each(i)));
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let _: i64 = run(c, &args);
        }
    };
    fill(c, &["SADD", "s"], &|i| vec![format!("m{i}")]);
    fill(c, &["HSET", "h"], &|i| vec![format!("m{i}"), i.to_string()]);
    fill(c, &["ZADD", "z"], &|i| vec![i.to_string(), format!("m{i}")]);
    for (key, scan, remove, add, pairs) in [
        ("s", "SSCAN", "SREM", vec!["SADD", "s"], false),
        ("h", "HSCAN", "HDEL", vec!["HSET", "h"], true),
        ("z", "ZSCAN", "ZREM", vec!["ZADD", "z", "1"], true),
    ] {
        let (mut cursor, mut seen, mut steps) = ("0".to_string(), BTreeSet::new(), 0);
        loop {
            let (next, found): (String, Vec<String>) = run(c, &[scan, key, &cursor, "COUNT", "10"]);
            let names: Vec<&String> = if pairs { found.iter().step_by(2).collect() } else { found.iter().collect() };
            assert!(names.len() <= 20, "{scan} read {} at once", names.len());
            if pairs && key == "h" {
                for pair in found.chunks(2).filter(|pair| pair[0].starts_with('m')) {
                    assert_eq!(format!("m{}", pair[1]), pair[0], "a field with its value");
                }
            }
            seen.extend(names.into_iter().cloned());
            // Churn between steps: members 500 and up come and go, new ones arrive.
            let gone = format!("m{}", 500 + steps);
            let _: i64 = run(c, &[remove, key, &gone]);
            let mut args = add.clone();
            let fresh = format!("new{steps}");
            args.push(&fresh);
            if key == "h" {
                args.push("x");
            }
            let _: i64 = run(c, &args);
            steps += 1;
            cursor = next;
            if cursor == "0" {
                break;
            }
            assert!(steps < 1000, "{scan} never finished");
        }
        assert!(steps >= 50, "{scan} took {steps} steps of COUNT 10 over 1000 elements");
        let kept = (0..1000).map(|i| format!("m{i}")).filter(|m| m[1..].parse::<usize>().unwrap() < 500);
        for member in kept {
            assert!(seen.contains(&member), "{scan} missed {member}, present throughout");
        }
    }
    assert_error(c, &["SSCAN", "s", "nope"], "invalid cursor");
}

#[test]
fn a_key_holds_one_type_and_commands_of_another_answer_wrongtype() {
    let (_node, c) = &mut node();
    let _: () = run(c, &["SET", "str", "v"]);
    let _: i64 = run(c, &["SADD", "set", "m"]);
    let _: i64 = run(c, &["HSET", "hash", "f", "v"]);
    for (key, want) in [("str", "string"), ("set", "set"), ("hash", "hash"), ("nokey", "none")] {
        assert_eq!(run::<String>(c, &["TYPE", key]), want);
    }
    for args in [
        &["SADD", "str", "x"][..],
        &["HSET", "set", "f", "v"],
        &["HGET", "set", "f"],
        &["SMEMBERS", "hash"],
        &["GET", "set"],
        &["INCR", "hash"],
        &["SINTER", "set", "hash"],
    ] {
        assert_error(c, args, WRONGTYPE);
    }
    // SET replaces any type, as in Redis.
    let _: () = run(c, &["SET", "set", "now a string"]);
    assert_eq!(run::<String>(c, &["TYPE", "set"]), "string");
    assert_eq!(run::<i64>(c, &["DBSIZE"]), 3);
    let hashes: (String, Vec<String>) = run(c, &["SCAN", "0", "TYPE", "hash", "COUNT", "1000"]);
    assert_eq!(hashes.1, ["hash"]);
    let mut keys: Vec<String> = run(c, &["KEYS", "*"]);
    keys.sort();
    assert_eq!(keys, ["hash", "set", "str"]);
}

#[test]
fn collections_are_renamed_copied_and_moved_with_their_deadline() {
    let (_node, c) = &mut node();
    let _: i64 = run(c, &["HSET", "h", "a", "1", "b", "2"]);
    let _: i64 = run(c, &["EXPIRE", "h", "100"]);
    // "RENAME with volatile key, should move the TTL as well"
    let _: () = run(c, &["RENAME", "h", "h2"]);
    assert_eq!(run::<i64>(c, &["EXISTS", "h"]), 0);
    assert_eq!(sorted(run(c, &["HKEYS", "h2"])), ["a", "b"]);
    assert!(run::<i64>(c, &["TTL", "h2"]) > 90);
    // "COPY basic usage for hash", "COPY for string does not replace an existing key without REPLACE option"
    let _: i64 = run(c, &["SADD", "s", "x"]);
    assert_eq!(run::<i64>(c, &["COPY", "h2", "s"]), 0);
    assert_eq!(run::<i64>(c, &["COPY", "h2", "s", "REPLACE"]), 1);
    assert_eq!(run::<String>(c, &["TYPE", "s"]), "hash");
    assert_eq!(sorted(run(c, &["HKEYS", "s"])), ["a", "b"]);
    assert_eq!(sorted(run(c, &["HKEYS", "h2"])), ["a", "b"], "the source stays");
    // "MOVE against a key holding a hash"
    assert_eq!(run::<i64>(c, &["MOVE", "s", "1"]), 1);
    assert_eq!(run::<i64>(c, &["EXISTS", "s"]), 0);
    let _: () = run(c, &["SELECT", "1"]);
    assert_eq!(sorted(run(c, &["HKEYS", "s"])), ["a", "b"]);
    // Commands of the other databases see their collections, numkeys commands included.
    let _: i64 = run(c, &["ZADD", "z", "1", "m"]);
    assert_eq!(run::<Vec<String>>(c, &["ZUNION", "1", "z"]), ["m"]);
    let _: () = run(c, &["SELECT", "0"]);
    assert_eq!(run::<Vec<String>>(c, &["ZUNION", "1", "z"]), Vec::<String>::new());
    // A string command on a collection answers WRONGTYPE and changes nothing.
    assert_error(c, &["APPEND", "h2", "x"], WRONGTYPE);
    assert_error(c, &["STRLEN", "h2"], WRONGTYPE);
    assert_eq!(run::<String>(c, &["TYPE", "h2"]), "hash");
}

#[test]
fn collections_expire_and_are_deleted_as_keys_are() {
    let (_node, c) = &mut node();
    let _: i64 = run(c, &["SADD", "s", "a", "b"]);
    assert_eq!(run::<i64>(c, &["EXPIRE", "s", "100"]), 1);
    let ttl: i64 = run(c, &["TTL", "s"]);
    assert!((99..=100).contains(&ttl), "{ttl}");
    assert_eq!(run::<i64>(c, &["PERSIST", "s"]), 1);
    assert_eq!(run::<i64>(c, &["TTL", "s"]), -1);
    // "SADD against an expired key creates a new set"
    assert_eq!(run::<i64>(c, &["PEXPIRE", "s", "50"]), 1);
    eventually(Duration::from_secs(10), "the set to expire", || run::<i64>(c, &["EXISTS", "s"]) == 0);
    assert_eq!(run::<i64>(c, &["SADD", "s", "c"]), 1);
    assert_eq!(members(c, "s"), ["c"]);
    assert_eq!(run::<i64>(c, &["TTL", "s"]), -1, "the new set has no deadline");
    // DEL, then an add: only the new member, and no deadline.
    let _: i64 = run(c, &["HSET", "h", "f", "v"]);
    let _: i64 = run(c, &["EXPIRE", "h", "100"]);
    assert_eq!(run::<i64>(c, &["DEL", "h"]), 1);
    assert_eq!(run::<i64>(c, &["HSET", "h", "g", "w"]), 1);
    assert_eq!(sorted(run(c, &["HKEYS", "h"])), ["g"]);
    assert_eq!(run::<i64>(c, &["TTL", "h"]), -1);
    // An EXPIRE in the past deletes the collection.
    assert_eq!(run::<i64>(c, &["EXPIRE", "h", "-1"]), 1);
    assert_eq!(run::<i64>(c, &["EXISTS", "h"]), 0);
}

#[test]
fn a_transaction_covers_collection_commands() {
    let (_node, c) = &mut node();
    let replies: (i64, i64, Vec<String>) = redis::pipe()
        .atomic()
        .cmd("SADD")
        .arg("s")
        .arg("a")
        .arg("b")
        .cmd("HSET")
        .arg("h")
        .arg("f")
        .arg("v")
        .cmd("SMEMBERS")
        .arg("s")
        .query(c)
        .unwrap();
    assert_eq!((replies.0, replies.1, sorted(replies.2)), (2, 1, vec!["a".to_string(), "b".to_string()]));
}

/// Writes on every node reach every node, and a node down while a member is removed keeps it
/// removed once it is back: its log holds the add, the others' the remove.
#[tokio::test]
async fn collection_writes_replicate_and_a_remove_made_while_a_node_was_down_stands_when_it_returns() {
    let dirs: Vec<tempfile::TempDir> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let paths: Vec<String> = dirs.iter().map(|d| d.path().display().to_string()).collect();
    let mut a = NodeProcess::start(None, &["--redis-port", "0", "--data-dir", &paths[0]]);
    let mut b = NodeProcess::start(Some(a.addr), &["--redis-port", "0", "--data-dir", &paths[1]]);
    let nodes = [a, b];
    wait_for_alive_members(&nodes, 2, CONVERGE).await;
    wait_for_open_gates(&nodes, CONVERGE).await;
    [a, b] = nodes;
    let (ca, cb) = (&mut a.resp(), &mut b.resp());
    let _: i64 = run(ca, &["SADD", "s", "x", "y"]);
    let _: i64 = run(cb, &["HSET", "h", "f", "from b"]);
    eventually(CONVERGE, "the set to reach b", || members(cb, "s") == ["x", "y"]);
    eventually(CONVERGE, "the hash to reach a", || run::<Option<String>>(ca, &["HGET", "h", "f"]).is_some());
    b.kill();
    assert_eq!(run::<i64>(ca, &["SREM", "s", "x"]), 1);
    b.restart(Some(a.addr));
    let cb = &mut b.resp();
    eventually(CONVERGE, "the remove to reach b", || members(cb, "s") == ["y"]);
    wait_for_equal_digests(&[&a, &b], CONVERGE).await;
    assert_eq!(members(ca, "s"), ["y"]);
}

/// Three nodes: members added on each, one removed on another; all end with the same set.
#[tokio::test]
async fn three_nodes_converge_on_one_set() {
    let nodes = start_chain(3, &["--redis-port", "0"]);
    wait_for_alive_members(&nodes, 3, CONVERGE).await;
    wait_for_open_gates(&nodes, CONVERGE).await;
    let mut conns: Vec<Connection> = nodes.iter().map(NodeProcess::resp).collect();
    for (i, c) in conns.iter_mut().enumerate() {
        let _: i64 = run(c, &["SADD", "s", &format!("from-{i}"), "shared"]);
    }
    eventually(CONVERGE, "every add to reach node 2", || members(&mut conns[2], "s").len() == 4);
    let _: i64 = run(&mut conns[2], &["SREM", "s", "shared"]);
    let refs: Vec<&NodeProcess> = nodes.iter().collect();
    wait_for_equal_digests(&refs, CONVERGE).await;
    for c in &mut conns {
        assert_eq!(members(c, "s"), ["from-0", "from-1", "from-2"]);
    }
}
