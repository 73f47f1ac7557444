//! `kvs-client export` and `import` against real nodes: a backup carries every live key with its
//! value and expiry into another cluster, and both resume after an interruption.

use kvs_client::backup;
use kvs_tests::binaries::binary;
use kvs_tests::NodeProcess;
use redis::Commands;
use std::path::Path;
use std::process::Command;

/// Keys loaded for the round trip: enough for many export pages and import batches.
const KEYS: usize = 25_000;

fn kvs_client(node: &NodeProcess, args: &[&str]) -> std::process::Output {
    let output = Command::new(binary("kvs-client")).arg(node.addr.to_string()).args(args).output().unwrap();
    assert!(
        output.status.success(),
        "kvs-client {args:?}: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn key(i: usize) -> String {
    format!("key:{i:06}")
}

fn value(i: usize) -> String {
    "v".repeat(i % 200)
}

/// A node holding [`KEYS`] plain keys, a key with an expiry, a counter and a deleted key.
async fn loaded_node() -> NodeProcess {
    let node = NodeProcess::start(None, &["--redis-port", "0"]);
    let mut client = node.client().await;
    for chunk in (0..KEYS).collect::<Vec<_>>().chunks(1_000) {
        let pairs = chunk.iter().map(|&i| (key(i).into(), value(i).into())).collect();
        client.mset(pairs).await.unwrap();
    }
    let mut resp = node.resp();
    let () = resp.set_ex("expiring", "soon", 3_600).unwrap();
    let _: i64 = resp.incr("counter", 41).unwrap();
    let _: i64 = resp.incr("counter", 1).unwrap();
    let () = resp.set("deleted", "x").unwrap();
    let _: i64 = resp.del("deleted").unwrap();
    node
}

#[tokio::test]
async fn a_backup_carries_every_live_key_into_another_cluster() {
    let source = loaded_node().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("backup.kvs");
    let exported = kvs_client(&source, &["export", file.to_str().unwrap()]);
    let line = String::from_utf8_lossy(&exported.stdout);
    assert!(line.starts_with(&format!("exported {} keys", KEYS + 2)), "{line}");

    let target = NodeProcess::start(None, &["--redis-port", "0"]);
    kvs_client(&target, &["import", file.to_str().unwrap()]);
    let status = target.status().await.unwrap();
    assert_eq!(status.key_count as usize, KEYS + 2);
    let mut resp = target.resp();
    let counter: i64 = resp.get("counter").unwrap();
    assert_eq!(counter, 42);
    let _: i64 = resp.incr("counter", 1).unwrap();
    let ttl: i64 = resp.ttl("expiring").unwrap();
    assert!((3_500..=3_600).contains(&ttl), "the expiry came along: {ttl}");
    assert_eq!(target.get("deleted").await.unwrap(), None);
    assert_eq!(target.get(&key(123)).await.unwrap().as_deref(), Some(value(123).as_bytes()));
    assert!(!backup::import_progress_path(&file).exists(), "a finished import leaves no note behind");

    // The target's own backup is the same file, byte for byte (the counter aside, which moved on).
    let _: i64 = resp.decr("counter", 1).unwrap();
    let again = dir.path().join("again.kvs");
    kvs_client(&target, &["export", again.to_str().unwrap()]);
    assert!(std::fs::read(&file).unwrap() == std::fs::read(&again).unwrap(), "backups of both clusters match");
}

/// Bytes of a backup up to its `n`th entry's end.
fn offset_after(path: &Path, n: usize) -> u64 {
    let bytes = std::fs::read(path).unwrap();
    let mut at = backup::MAGIC.len();
    for _ in 0..n {
        let key_len = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        at += 4 + key_len;
        let value_len = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        at += 4 + value_len + 8;
    }
    at as u64
}

#[tokio::test]
async fn an_interrupted_export_resumes_and_an_unfinished_backup_is_not_loaded() {
    let source = loaded_node().await;
    let dir = tempfile::tempdir().unwrap();
    let whole = dir.path().join("whole.kvs");
    kvs_client(&source, &["export", whole.to_str().unwrap()]);

    // An export stopped part way through an entry: its file is cut there, with no end mark.
    let cut = dir.path().join("cut.kvs");
    let bytes = std::fs::read(&whole).unwrap();
    std::fs::write(&cut, &bytes[..offset_after(&whole, 9_000) as usize + 7]).unwrap();

    let refused =
        Command::new(binary("kvs-client")).arg(source.addr.to_string()).arg("import").arg(&cut).output().unwrap();
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("unfinished"), "{refused:?}");

    let resumed = kvs_client(&source, &["export", cut.to_str().unwrap()]);
    let line = String::from_utf8_lossy(&resumed.stdout);
    assert!(line.contains("(9000 of them by an earlier run)"), "{line}");
    assert!(std::fs::read(&cut).unwrap() == bytes, "the resumed file is the whole backup");
}

#[tokio::test]
async fn an_interrupted_import_resumes_where_it_stopped() {
    let source = loaded_node().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("backup.kvs");
    kvs_client(&source, &["export", file.to_str().unwrap()]);

    // As an import leaves it after loading the first 10,000 entries (the first three are the
    // counter, `expiring` and key:000000..., in key order).
    let loaded = 10_000;
    let note = backup::import_progress_path(&file);
    std::fs::write(&note, format!("{} {loaded}\n", offset_after(&file, loaded))).unwrap();
    let target = NodeProcess::start(None, &[]);
    let imported = kvs_client(&target, &["import", file.to_str().unwrap()]);
    let line = String::from_utf8_lossy(&imported.stdout);
    assert!(line.contains(&format!("({loaded} of them by an earlier run)")), "{line}");
    // Only what was left was loaded here: the entries before the note's offset were not sent again.
    assert_eq!(target.status().await.unwrap().key_count as usize, KEYS + 2 - loaded);
    assert_eq!(target.get(&key(KEYS - 1)).await.unwrap().as_deref(), Some(value(KEYS - 1).as_bytes()));
    assert!(!note.exists());
}

/// Hashes, sets and sorted sets are backed up as one entry per element and come back whole, with
/// their deadline, in the database they were in.
#[tokio::test]
async fn a_backup_carries_collections_with_their_elements_and_deadline() {
    let source = NodeProcess::start(None, &["--redis-port", "0"]);
    kvs_tests::wait_for_open_gates(std::slice::from_ref(&source), std::time::Duration::from_secs(30)).await;
    let mut resp = source.resp();
    let run = |c: &mut redis::Connection, args: &[&str]| kvs_tests::resp::run::<redis::Value>(c, args);
    run(&mut resp, &["HSET", "h", "f", "1", "g", "two"]);
    run(&mut resp, &["HINCRBY", "h", "f", "41"]);
    run(&mut resp, &["SADD", "s", "a", "b"]);
    run(&mut resp, &["EXPIRE", "s", "3600"]);
    run(&mut resp, &["ZADD", "z", "1.5", "m", "-2", "n"]);
    run(&mut resp, &["SADD", "emptied", "x"]);
    run(&mut resp, &["SREM", "emptied", "x"]);
    run(&mut resp, &["SELECT", "3"]);
    run(&mut resp, &["SADD", "in-3", "q"]);
    run(&mut resp, &["SET", "plain", "v"]);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("backup.kvs");
    let exported = kvs_client(&source, &["export", file.to_str().unwrap()]);
    let line = String::from_utf8_lossy(&exported.stdout);
    assert!(line.starts_with("exported 8 keys"), "one entry per element and per key: {line}");

    let target = NodeProcess::start(None, &["--redis-port", "0"]);
    kvs_tests::wait_for_open_gates(std::slice::from_ref(&target), std::time::Duration::from_secs(30)).await;
    kvs_client(&target, &["import", file.to_str().unwrap()]);
    let mut c = target.resp();
    let all: std::collections::HashMap<String, String> = kvs_tests::resp::run(&mut c, &["HGETALL", "h"]);
    assert_eq!(all, [("f".to_string(), "42".to_string()), ("g".to_string(), "two".to_string())].into());
    let mut members: Vec<String> = kvs_tests::resp::run(&mut c, &["SMEMBERS", "s"]);
    members.sort();
    assert_eq!(members, ["a", "b"]);
    let ttl: i64 = kvs_tests::resp::run(&mut c, &["TTL", "s"]);
    assert!((3_500..=3_600).contains(&ttl), "{ttl}");
    let z: Vec<String> = kvs_tests::resp::run(&mut c, &["ZRANGE", "z", "0", "-1", "WITHSCORES"]);
    assert_eq!(z, ["n", "-2", "m", "1.5"]);
    assert_eq!(kvs_tests::resp::run::<i64>(&mut c, &["EXISTS", "emptied"]), 0);
    let _: () = kvs_tests::resp::run(&mut c, &["SELECT", "3"]);
    assert_eq!(kvs_tests::resp::run::<Vec<String>>(&mut c, &["SMEMBERS", "in-3"]), ["q"]);
    assert_eq!(kvs_tests::resp::run::<String>(&mut c, &["GET", "plain"]), "v");
}
