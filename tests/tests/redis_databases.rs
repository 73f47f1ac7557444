//! Numbered databases: SELECT, MOVE, SWAPDB, COPY … DB and FLUSHDB per database, mirroring the
//! database cases of Redis 7.0's `unit/keyspace.tcl` and `unit/other.tcl`; each database
//! replicated, logged and replayed like database 0.

use kvs_tests::resp::{assert_error, eventually, run};
use kvs_tests::{start_chain, wait_for_alive_members, wait_for_equal_digests, wait_for_open_gates, NodeProcess};
use redis::Connection;
use std::time::Duration;

const CONVERGE: Duration = Duration::from_secs(30);

fn node() -> (NodeProcess, Connection) {
    let node = NodeProcess::start(None, &["--redis-port", "0"]);
    let c = node.resp();
    (node, c)
}

fn keys(c: &mut Connection) -> Vec<String> {
    let mut keys: Vec<String> = run(c, &["KEYS", "*"]);
    keys.sort();
    keys
}

#[test]
fn each_database_holds_its_own_keys() {
    let (_node, c) = &mut node();
    let _: () = run(c, &["SET", "k", "zero"]);
    let _: () = run(c, &["SELECT", "9"]);
    assert_eq!(run::<Option<String>>(c, &["GET", "k"]), None);
    let _: () = run(c, &["SET", "k", "nine"]);
    let _: () = run(c, &["MSET", "a", "1", "b", "2"]);
    assert_eq!((run::<i64>(c, &["DBSIZE"]), keys(c)), (3, vec!["a".to_string(), "b".into(), "k".into()]));
    let scanned: (String, Vec<String>) = run(c, &["SCAN", "0", "COUNT", "1000"]);
    assert_eq!(scanned.1.len(), 3);
    let random: String = run(c, &["RANDOMKEY"]);
    assert!(["a", "b", "k"].contains(&random.as_str()));
    let _: () = run(c, &["SELECT", "0"]);
    assert_eq!((run::<String>(c, &["GET", "k"]), run::<i64>(c, &["DBSIZE"])), ("zero".into(), 1));
    // "SELECT an out of range DB"
    assert_error(c, &["SELECT", "16"], "DB index is out of range");
    assert_error(c, &["SELECT", "-1"], "DB index is out of range");
    let _: () = run(c, &["SELECT", "9"]);
    let _: i64 = run(c, &["EXPIRE", "k", "1000"]);
    let _: () = run(c, &["SELECT", "0"]);
    let info: String = run(c, &["INFO", "keyspace"]);
    assert!(info.contains("db0:keys=1,expires=0,") && info.contains("db9:keys=3,expires=1,"), "{info}");
    let config: Vec<String> = run(c, &["CONFIG", "GET", "databases"]);
    assert_eq!(config, ["databases", "16"]);
}

#[test]
fn flushdb_clears_the_selected_database_and_flushall_every_one() {
    let (_node, c) = &mut node();
    for db in ["0", "1", "2"] {
        let _: () = run(c, &["SELECT", db]);
        let _: () = run(c, &["SET", "k", db]);
    }
    let _: () = run(c, &["SELECT", "1"]);
    let _: () = run(c, &["FLUSHDB"]);
    assert_eq!(run::<i64>(c, &["DBSIZE"]), 0);
    for (db, left) in [("0", 1), ("2", 1)] {
        let _: () = run(c, &["SELECT", db]);
        assert_eq!(run::<i64>(c, &["DBSIZE"]), left, "database {db}");
    }
    // A key written after the flush stays, in the flushed database too.
    let _: () = run(c, &["SELECT", "1"]);
    let _: () = run(c, &["SET", "after", "x"]);
    let _: () = run(c, &["FLUSHALL"]);
    for db in ["0", "1", "2"] {
        let _: () = run(c, &["SELECT", db]);
        assert_eq!(run::<i64>(c, &["DBSIZE"]), 0, "database {db}");
    }
}

#[test]
fn move_copy_and_swapdb_carry_keys_between_databases() {
    let (_node, c) = &mut node();
    // "MOVE basic usage"
    let _: () = run(c, &["SET", "mykey", "foobar"]);
    assert_eq!(run::<i64>(c, &["MOVE", "mykey", "10"]), 1);
    assert_eq!((run::<i64>(c, &["EXISTS", "mykey"]), run::<i64>(c, &["DBSIZE"])), (0, 0));
    let _: () = run(c, &["SELECT", "10"]);
    assert_eq!(run::<String>(c, &["GET", "mykey"]), "foobar");
    // "MOVE against key existing in the target DB"
    let _: () = run(c, &["SELECT", "0"]);
    let _: () = run(c, &["SET", "mykey", "hello"]);
    assert_eq!(run::<i64>(c, &["MOVE", "mykey", "10"]), 0);
    assert_eq!(run::<String>(c, &["GET", "mykey"]), "hello");
    // "MOVE against non-integer DB (#1428)", and to the same database
    assert_error(c, &["MOVE", "mykey", "notanumber"], "value is not an integer or out of range");
    assert_error(c, &["MOVE", "mykey", "0"], "source and destination objects are the same");
    assert_eq!(run::<i64>(c, &["MOVE", "nosuchkey", "10"]), 0);
    // COPY … DB, with and without REPLACE.
    assert_eq!(run::<i64>(c, &["COPY", "mykey", "mykey", "DB", "10"]), 0, "exists there");
    assert_eq!(run::<i64>(c, &["COPY", "mykey", "mykey", "DB", "10", "REPLACE"]), 1);
    assert_eq!(run::<i64>(c, &["COPY", "mykey", "other", "DB", "11"]), 1);
    let _: () = run(c, &["SELECT", "10"]);
    assert_eq!(run::<String>(c, &["GET", "mykey"]), "hello");
    // SWAPDB: what was in 10 is in 0 and the other way round, for every connection.
    let _: () = run(c, &["SELECT", "0"]);
    let _: () = run(c, &["SET", "only-in-0", "x"]);
    let _: () = run(c, &["SWAPDB", "0", "10"]);
    assert_eq!(keys(c), vec!["mykey".to_string()]);
    let _: () = run(c, &["SELECT", "10"]);
    assert_eq!(keys(c), vec!["mykey".to_string(), "only-in-0".into()]);
    assert_error(c, &["SWAPDB", "0", "16"], "DB index is out of range");
}

#[test]
fn select_inside_multi_takes_effect_when_exec_runs_it() {
    let (_node, c) = &mut node();
    let replies: Vec<redis::Value> = redis::pipe()
        .atomic()
        .cmd("SET")
        .arg("k")
        .arg("in 0")
        .cmd("SELECT")
        .arg(4)
        .cmd("SET")
        .arg("k")
        .arg("in 4")
        .query(c)
        .unwrap();
    assert_eq!(replies.len(), 3);
    assert_eq!(run::<String>(c, &["GET", "k"]), "in 4", "the connection stays in database 4");
    let _: () = run(c, &["SELECT", "0"]);
    assert_eq!(run::<String>(c, &["GET", "k"]), "in 0");
    // RESET selects database 0 again.
    let _: () = run(c, &["SELECT", "4"]);
    let _: String = run(c, &["RESET"]);
    assert_eq!(run::<String>(c, &["GET", "k"]), "in 0");
}

#[test]
fn database_0_refuses_keys_that_would_read_as_another_databases() {
    let (_node, c) = &mut node();
    let reserved: &[u8] = b"\xFF\xDBk";
    let error = redis::cmd("SET").arg(reserved).arg("v").query::<()>(c).unwrap_err();
    assert!(error.to_string().contains("reserved"), "{error}");
    // One byte of the prefix is an ordinary key.
    let _: () = redis::cmd("SET").arg(&b"\xFFk"[..]).arg("v").query(c).unwrap();
}

#[test]
fn a_restart_replays_every_database_and_its_flushes() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().display().to_string();
    let mut node = NodeProcess::start(None, &["--redis-port", "0", "--data-dir", &data_dir, "--fsync", "always"]);
    let c = &mut node.resp();
    for db in ["0", "3", "7"] {
        let _: () = run(c, &["SELECT", db]);
        let _: () = run(c, &["MSET", "a", db, "b", db]);
    }
    let _: () = run(c, &["SELECT", "3"]);
    let _: () = run(c, &["FLUSHDB"]);
    let _: () = run(c, &["SET", "after", "the flush"]);
    node.restart(None);
    let c = &mut node.resp();
    for (db, size) in [("0", 2), ("3", 1), ("7", 2)] {
        let _: () = run(c, &["SELECT", db]);
        assert_eq!(run::<i64>(c, &["DBSIZE"]), size, "database {db}");
    }
    let _: () = run(c, &["SELECT", "7"]);
    assert_eq!(run::<String>(c, &["GET", "a"]), "7");
}

#[tokio::test]
async fn every_database_replicates_and_a_flushdb_clears_only_its_own_everywhere() {
    let nodes = start_chain(3, &["--redis-port", "0"]);
    wait_for_alive_members(&nodes, 3, CONVERGE).await;
    wait_for_open_gates(&nodes, CONVERGE).await;
    let a = &mut nodes[0].resp();
    for db in ["0", "5"] {
        let _: () = run(a, &["SELECT", db]);
        let _: () = run(a, &["MSET", "x", db, "y", db]);
    }
    for node in &nodes {
        let c = &mut node.resp();
        let _: () = run(c, &["SELECT", "5"]);
        eventually(CONVERGE, "database 5 on every node", || {
            run::<Option<String>>(c, &["GET", "y"]).as_deref() == Some("5")
        });
    }
    let b = &mut nodes[1].resp();
    let _: () = run(b, &["SELECT", "5"]);
    let _: () = run(b, &["FLUSHDB"]);
    for node in &nodes {
        let c = &mut node.resp();
        let _: () = run(c, &["SELECT", "5"]);
        eventually(CONVERGE, "the FLUSHDB on every node", || run::<i64>(c, &["DBSIZE"]) == 0);
        let _: () = run(c, &["SELECT", "0"]);
        assert_eq!(run::<i64>(c, &["DBSIZE"]), 2, "database 0 is left alone");
    }
    wait_for_equal_digests(&nodes.iter().collect::<Vec<_>>(), CONVERGE).await;
}

#[test]
fn databases_is_a_flag() {
    let node = NodeProcess::start(None, &["--redis-port", "0", "--databases", "4"]);
    let c = &mut node.resp();
    let _: () = run(c, &["SELECT", "3"]);
    assert_error(c, &["SELECT", "4"], "DB index is out of range");
}
