//! Redis 7.0's transaction tests (`tests/unit/multi.tcl`, string cases) mirrored against one
//! node's Redis port, redis-py's default pipeline shape, and a transaction on a 3-node cluster
//! that no reader on any node sees half of.

use kvs_tests::resp::{assert_error, eventually, run};
use kvs_tests::{start_chain, wait_for_alive_members, NodeProcess};
use redis::{Connection, Value};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

fn ok(c: &mut Connection, args: &[&str]) {
    let _: Value = run(c, args);
}

#[test]
fn multi_exec_discard_and_queueing_errors() {
    let node = NodeProcess::start_with_redis();
    let c = &mut node.resp();
    ok(c, &["DEL", "foo", "bar"]);
    assert_eq!(run::<String>(c, &["MULTI"]), "OK");
    assert_eq!(run::<String>(c, &["SET", "foo", "1"]), "QUEUED");
    assert_eq!(run::<String>(c, &["INCR", "foo"]), "QUEUED");
    assert_eq!(run::<String>(c, &["GET", "foo"]), "QUEUED");
    let replies: Vec<Value> = run(c, &["EXEC"]);
    assert_eq!(replies.len(), 3);
    assert_eq!(redis::from_redis_value::<i64>(&replies[1]).unwrap(), 2);
    assert_eq!(redis::from_redis_value::<String>(&replies[2]).unwrap(), "2");

    ok(c, &["MULTI"]);
    ok(c, &["SET", "bar", "x"]);
    assert_eq!(run::<String>(c, &["DISCARD"]), "OK");
    assert_eq!(run::<Option<String>>(c, &["GET", "bar"]), None);

    ok(c, &["MULTI"]);
    assert_error(c, &["MULTI"], "ERR MULTI calls can not be nested");
    assert_error(c, &["WATCH", "foo"], "ERR WATCH inside MULTI is not allowed");
    ok(c, &["DISCARD"]);
    assert_error(c, &["EXEC"], "ERR EXEC without MULTI");
    assert_error(c, &["DISCARD"], "ERR DISCARD without MULTI");

    // An unknown command or a wrong arity while queueing discards the transaction.
    ok(c, &["MULTI"]);
    ok(c, &["SET", "foo1", "bar1"]);
    assert_error(c, &["NON-EXISTING-COMMAND"], "unknown command");
    ok(c, &["SET", "foo2", "bar2"]);
    assert_error(c, &["EXEC"], "Transaction discarded because of previous errors");
    assert_eq!(run::<i64>(c, &["EXISTS", "foo1", "foo2"]), 0);
    ok(c, &["MULTI"]);
    assert_error(c, &["SET"], "wrong number of arguments");
    assert_error(c, &["EXEC"], "Transaction discarded because of previous errors");
    // After an abort the client is out of MULTI.
    assert_eq!(run::<String>(c, &["SET", "foo", "bar"]), "OK");

    // An error while running does not stop the others (raw bytes: the `redis` crate turns a
    // transaction with an error in it into an error).
    let mut raw = std::net::TcpStream::connect(node.redis()).unwrap();
    let commands: [&[&str]; 5] =
        [&["MULTI"], &["SET", "foo", "bar"], &["INCR", "foo"], &["SET", "foo2", "bar"], &["EXEC"]];
    for command in commands {
        let mut frame = format!("*{}\r\n", command.len());
        for arg in command {
            frame.push_str(&format!("${}\r\n{arg}\r\n", arg.len()));
        }
        std::io::Write::write_all(&mut raw, frame.as_bytes()).unwrap();
    }
    let want =
        "+OK\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n*3\r\n+OK\r\n-ERR value is not an integer or out of range\r\n+OK\r\n";
    let mut got = vec![0; want.len()];
    std::io::Read::read_exact(&mut raw, &mut got).unwrap();
    assert_eq!(String::from_utf8_lossy(&got), want);
    assert_eq!(run::<String>(c, &["GET", "foo2"]), "bar");
}

#[test]
fn watch_aborts_exec_when_a_watched_key_changes() {
    let node = NodeProcess::start_with_redis();
    let c = &mut node.resp();
    let other = &mut node.resp();
    let exec = |c: &mut Connection| -> Option<Vec<Value>> { run(c, &["EXEC"]) };

    ok(c, &["SET", "x", "30"]);
    ok(c, &["WATCH", "x"]);
    ok(c, &["MULTI"]);
    ok(c, &["PING"]);
    assert!(exec(c).is_some(), "not modified: runs");

    ok(c, &["WATCH", "x"]);
    ok(other, &["SET", "x", "40"]);
    ok(c, &["MULTI"]);
    ok(c, &["PING"]);
    assert_eq!(exec(c), None, "modified by another client: aborted");
    // After EXEC, successful or not, nothing is watched.
    ok(c, &["MULTI"]);
    ok(c, &["PING"]);
    assert!(exec(c).is_some());

    ok(c, &["WATCH", "x", "y", "z"]);
    ok(other, &["SET", "y", "1"]);
    ok(c, &["MULTI"]);
    ok(c, &["PING"]);
    assert_eq!(exec(c), None, "one of three watched keys modified");

    ok(c, &["WATCH", "x"]);
    ok(other, &["SET", "x", "50"]);
    assert_eq!(run::<String>(c, &["UNWATCH"]), "OK");
    ok(c, &["MULTI"]);
    ok(c, &["PING"]);
    assert!(exec(c).is_some(), "unwatched");
    assert_eq!(run::<String>(c, &["UNWATCH"]), "OK");

    ok(c, &["WATCH", "x"]);
    ok(other, &["SET", "x", "60"]);
    ok(c, &["MULTI"]);
    ok(c, &["DISCARD"]);
    ok(c, &["MULTI"]);
    ok(c, &["PING"]);
    assert!(exec(c).is_some(), "DISCARD unwatches");

    // FLUSHALL touches watched keys that existed, not ones that did not.
    ok(c, &["SET", "x", "30"]);
    ok(c, &["WATCH", "x"]);
    ok(other, &["FLUSHALL"]);
    ok(c, &["MULTI"]);
    ok(c, &["PING"]);
    assert_eq!(exec(c), None);
    ok(c, &["WATCH", "nothing"]);
    ok(other, &["SET", "x", "1"]);
    ok(other, &["FLUSHDB"]);
    ok(c, &["MULTI"]);
    ok(c, &["PING"]);
    assert!(exec(c).is_some());

    // A watched key that expires before EXEC counts as changed; one already expired does not.
    ok(c, &["SET", "key", "1", "PX", "100"]);
    ok(c, &["WATCH", "key"]);
    eventually(Duration::from_secs(5), "key to expire", || run::<i64>(c, &["PTTL", "key"]) == -2);
    ok(c, &["MULTI"]);
    ok(c, &["INCR", "key"]);
    assert_eq!(exec(c), None);
    ok(c, &["WATCH", "key"]);
    ok(c, &["MULTI"]);
    ok(c, &["PING"]);
    assert!(exec(c).is_some(), "stale at WATCH time");
}

#[test]
fn watch_sees_a_change_to_any_element_of_a_collection() {
    // "WATCH inside MULTI"-style cases on a list and a hash: an RPUSH or HSET by another client
    // writes an element, not the key's header, and still aborts the EXEC.
    let node = NodeProcess::start_with_redis();
    let c = &mut node.resp();
    let other = &mut node.resp();
    let exec = |c: &mut Connection| -> Option<Vec<Value>> { run(c, &["EXEC"]) };
    ok(c, &["RPUSH", "queue", "a"]);
    ok(c, &["HSET", "h", "f", "1"]);
    for (key, change) in
        [("queue", &["RPUSH", "queue", "b"][..]), ("queue", &["LPOP", "queue"]), ("h", &["HSET", "h", "f", "2"])]
    {
        ok(c, &["WATCH", key]);
        ok(c, &["MULTI"]);
        ok(c, &["PING"]);
        assert!(exec(c).is_some(), "{key} not modified: runs");
        ok(c, &["WATCH", key]);
        ok(other, change);
        ok(c, &["MULTI"]);
        ok(c, &["PING"]);
        assert_eq!(exec(c), None, "{change:?} aborts a transaction watching {key}");
    }
}

#[test]
fn a_redis_crate_atomic_pipeline_is_a_multi_exec() {
    let node = NodeProcess::start_with_redis();
    let c = &mut node.resp();
    let (a, b): (i64, i64) = redis::pipe().atomic().incr("counter", 1).incr("counter", 1).query(c).unwrap();
    assert_eq!((a, b), (1, 2));
}

#[tokio::test]
async fn no_reader_on_any_node_sees_half_a_transaction() {
    let nodes = start_chain(3, &["--redis-port", "0"]);
    wait_for_alive_members(&nodes, 3, Duration::from_secs(30)).await;
    let done = AtomicBool::new(false);
    std::thread::scope(|scope| {
        for reader in &nodes {
            let done = &done;
            scope.spawn(move || {
                let c = &mut reader.resp();
                while !done.load(Ordering::Relaxed) {
                    let pair: Vec<Option<String>> = run(c, &["MGET", "left", "right"]);
                    assert_eq!(pair[0], pair[1], "half a transaction seen on {}", reader.addr);
                }
            });
        }
        let c = &mut nodes[0].resp();
        for i in 0..500 {
            let value = i.to_string();
            let _: () = redis::pipe().atomic().set("left", &value).set("right", &value).query(c).unwrap();
        }
        done.store(true, Ordering::Relaxed);
    });
    for node in &nodes {
        let c = &mut node.resp();
        eventually(Duration::from_secs(30), "the last transaction everywhere", || {
            run::<Vec<Option<String>>>(c, &["MGET", "left", "right"]) == [Some("499".into()), Some("499".into())]
        });
    }
}
