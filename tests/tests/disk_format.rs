//! The log's disk format: checked-in fixtures of every format replay, damage mid-log stops start-up
//! and leaves the file alone, and `kvs-node check-data-dir` reports and (only when asked) repairs.

use kvs_tests::binaries::binary;
use kvs_tests::NodeProcess;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const EXIT: Duration = Duration::from_secs(30);

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures").join(name)
}

/// A copy of a fixture data dir in a fresh temporary directory.
fn copy_of(name: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for file in ["log", "node-id"] {
        std::fs::copy(fixture(name).join(file), dir.path().join(file)).unwrap();
    }
    dir
}

fn data_dir_args(dir: &Path) -> Vec<String> {
    vec!["--data-dir".into(), dir.display().to_string()]
}

/// Arguments that start a node on a copy of a fixture with its clock a second past the fixture's
/// newest write, as `check-data-dir` reports it: the fixture's deadlines and tombstone ages then
/// mean on every day what they meant the day it was made, and no TTL or grace period runs out on
/// the calendar.
fn fixture_args(dir: &Path) -> Vec<String> {
    let (code, report) = check_data_dir(dir, &[]);
    assert_eq!(code, Some(0), "{report}");
    let newest: i64 = report
        .lines()
        .find_map(|line| line.strip_prefix("newest write:")?.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no newest write in {report}"));
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    let mut args = data_dir_args(dir);
    args.extend(["--fault-clock-offset-ms".into(), (newest + 1_000 - now).to_string()]);
    args
}

/// Whether `check-data-dir`'s report shows a log in a current format: 3, or 4 once the lone
/// node's cluster opened the `log-format-4` gate.
fn rewritten(report: &str) -> bool {
    report.contains("log format:        version 3") || report.contains("log format:        version 4")
}

fn as_strs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

/// `kvs-node check-data-dir DIR [extra]`: exit code and stdout.
fn check_data_dir(dir: &Path, extra: &[&str]) -> (Option<i32>, String) {
    let output = Command::new(binary("kvs-node")).arg("check-data-dir").arg(dir).args(extra).output().unwrap();
    (output.status.code(), String::from_utf8_lossy(&output.stdout).into_owned())
}

/// What the fixtures hold (see `tests/fixtures/README.md`).
async fn assert_serves_the_fixture(node: &NodeProcess, node_id: &str, digest: &str) {
    let status = node.status().await.unwrap();
    assert_eq!((status.node_id.as_str(), status.key_count, status.tombstone_count), (node_id, 6, 2));
    assert_eq!(status.digest, digest);
    let mut client = node.client().await;
    assert_eq!(client.get("key-2").await.unwrap().as_deref(), Some(&b"value-2-overwritten"[..]));
    assert_eq!(client.get("remote-3").await.unwrap().as_deref(), Some(&b"from node two 3"[..]));
    assert_eq!(client.get("key-3").await.unwrap(), None);
    assert_eq!(client.get("key-4").await.unwrap(), None);
}

#[tokio::test]
async fn the_current_format_fixture_replays_counters_deadlines_and_a_flush() {
    let dir = copy_of("data-dir-v3");
    let (code, report) = check_data_dir(dir.path(), &[]);
    assert_eq!(code, Some(0), "{report}");
    assert!(report.contains("version 3"), "{report}");
    let node = NodeProcess::start(None, &as_strs(&fixture_args(dir.path())));
    kvs_tests::wait_until("the expired key to be reclaimed", Duration::from_secs(10), || async {
        let status = node.status().await.ok()?;
        (status.tombstone_count == 3).then_some(())
    })
    .await;
    let status = node.status().await.unwrap();
    assert_eq!((status.node_id.as_str(), status.key_count), ("4fc3c3fc5750384d", 8));
    assert_eq!(status.digest, "8aca4e6662dd56a79673ed95237c160b");
    let mut client = node.client().await;
    assert_eq!(client.get("counter").await.unwrap().as_deref(), Some(&b"12"[..]));
    assert_eq!(client.get("ttl-key").await.unwrap().as_deref(), Some(&b"v"[..]));
    assert_eq!(client.get("gone").await.unwrap(), None);
    assert_eq!(client.get("old-key").await.unwrap(), None, "the flush stands");
    assert_eq!(client.get("key-2").await.unwrap().as_deref(), Some(&b"value-2-overwritten"[..]));
}

#[tokio::test]
async fn the_format_5_fixture_replays_hyperloglogs_an_eviction_and_a_flush_of_one_database() {
    let dir = copy_of("data-dir-v5");
    let (code, report) = check_data_dir(dir.path(), &[]);
    assert_eq!(code, Some(0), "{report}");
    assert!(report.contains("version 5") && report.contains("10 live, 3 tombstones"), "{report}");
    let mut args = fixture_args(dir.path());
    args.extend(["--redis-port".into(), "0".into()]);
    let node = NodeProcess::start(None, &as_strs(&args));
    kvs_tests::wait_for_open_gates(std::slice::from_ref(&node), Duration::from_secs(30)).await;
    let status = node.status().await.unwrap();
    assert_eq!((status.node_id.as_str(), status.key_count, status.tombstone_count), ("54d8ffd058809048", 10, 3));
    assert_eq!(status.digest, "f6068959c1e666a876753dd66016aadb");
    let mut c = node.resp();
    let run = |c: &mut redis::Connection, args: &[&str]| kvs_tests::resp::run::<Option<String>>(c, args);
    assert_eq!(run(&mut c, &["PFCOUNT", "hll"]).as_deref(), Some("5"));
    assert_eq!(run(&mut c, &["GET", "counter"]).as_deref(), Some("12"));
    assert_eq!(run(&mut c, &["GET", "evict-me"]), None, "the eviction stands");
    assert_eq!(run(&mut c, &["GET", "key-2"]).as_deref(), Some("value-2-overwritten"));
    let _: () = kvs_tests::resp::run(&mut c, &["SELECT", "1"]);
    assert_eq!(run(&mut c, &["GET", "in-db-1"]), None, "the FLUSHDB stands");
    let _: () = kvs_tests::resp::run(&mut c, &["SELECT", "2"]);
    assert_eq!(run(&mut c, &["GET", "in-db-2"]).as_deref(), Some("kept"));
}

#[tokio::test]
async fn a_version_2_log_replays_and_is_compacted_into_the_current_format() {
    let dir = copy_of("data-dir-v2");
    let (code, report) = check_data_dir(dir.path(), &[]);
    assert_eq!(code, Some(0), "{report}");
    assert!(report.contains("6 live, 2 tombstones") && report.contains("version 2"), "{report}");
    let mut node = NodeProcess::start(None, &as_strs(&fixture_args(dir.path())));
    assert_serves_the_fixture(&node, "3e72d3c58b6e759e", "1633bf32f7cfafe460c8d2815fa545de").await;
    node.client().await.shutdown().await.unwrap();
    assert!(node.wait_exit(EXIT).success());
    let (code, report) = check_data_dir(dir.path(), &[]);
    assert_eq!(code, Some(0), "{report}");
    assert!(rewritten(&report), "upgraded before serving: {report}");
}

#[tokio::test]
async fn a_version_1_log_replays_and_is_compacted_into_the_current_format() {
    let dir = copy_of("data-dir-v1");
    let (code, report) = check_data_dir(dir.path(), &[]);
    assert_eq!(code, Some(0), "{report}");
    assert!(report.contains("6 live, 2 tombstones") && report.contains("version 1"), "{report}");
    let args = fixture_args(dir.path());
    let mut node = NodeProcess::start(None, &as_strs(&args));
    assert_serves_the_fixture(&node, "e986bd1e628d4986", "4205446ee19ab9860d390491bb8241b1").await;
    node.client().await.shutdown().await.unwrap();
    assert!(node.wait_exit(EXIT).success());
    let (code, report) = check_data_dir(dir.path(), &[]);
    assert_eq!(code, Some(0), "{report}");
    assert!(rewritten(&report), "upgraded before serving: {report}");
}

#[tokio::test]
async fn a_version_0_log_replays_and_is_compacted_into_the_current_format() {
    let dir = copy_of("data-dir-v0");
    let args = fixture_args(dir.path());
    let mut node = NodeProcess::start(None, &as_strs(&args));
    assert_serves_the_fixture(&node, "4af81745536d4842", "ceb49ade06ace1bf4f67de96ebf83b32").await;
    node.client().await.shutdown().await.unwrap();
    assert!(node.wait_exit(EXIT).success());
    assert!(std::fs::read(dir.path().join("log")).unwrap().starts_with(b"KVSLOG"), "upgraded before serving");
    let (code, report) = check_data_dir(dir.path(), &[]);
    assert_eq!(code, Some(0), "{report}");
    let node = NodeProcess::start(None, &as_strs(&args));
    assert_serves_the_fixture(&node, "4af81745536d4842", "ceb49ade06ace1bf4f67de96ebf83b32").await;
}

#[tokio::test]
async fn a_byte_flipped_mid_log_stops_start_up_until_an_operator_repairs_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut args = data_dir_args(dir.path());
    args.extend(["--fsync".into(), "always".into()]);
    let mut node = NodeProcess::start(None, &as_strs(&args));
    let mut client = node.client().await;
    for i in 0..300 {
        client.set(format!("k{i:03}"), format!("v{i}")).await.unwrap();
    }
    client.shutdown().await.unwrap();
    assert!(node.wait_exit(EXIT).success());
    let log = dir.path().join("log");
    let mut damaged = std::fs::read(&log).unwrap();
    let third = damaged.len() / 3;
    damaged[third] ^= 0x01;
    std::fs::write(&log, &damaged).unwrap();

    let (code, stderr) = NodeProcess::failed_start(node.addr, &as_strs(&args));
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("is damaged at byte") && stderr.contains("check-data-dir"), "{stderr}");
    assert_eq!(std::fs::read(&log).unwrap(), damaged, "start-up left the file as it was");

    let (code, report) = check_data_dir(dir.path(), &[]);
    assert_eq!(code, Some(1), "{report}");
    assert!(report.contains("says the log was on disk up to byte") && report.contains("start-up refuses"), "{report}");
    assert_eq!(std::fs::read(&log).unwrap(), damaged, "the check changed nothing");

    let (code, report) = check_data_dir(dir.path(), &["--repair"]);
    assert_eq!(code, Some(0), "{report}");
    assert!(report.contains("verdict:           sound"), "{report}");
    let cut_at = std::fs::metadata(&log).unwrap().len() as usize;
    assert!(cut_at <= third, "cut at the damage, {cut_at} > {third}");
    let saved = dir.path().join(format!("log.cut-at-{cut_at}"));
    assert_eq!(std::fs::read(saved).unwrap(), damaged[cut_at..], "the cut bytes are kept");

    // The records before the damage are served; the ones after it are gone from this node.
    let node = NodeProcess::start_on(node.addr, None, &as_strs(&args));
    let kept = node.status().await.unwrap().key_count;
    assert!(kept > 0 && kept < 300, "{kept} keys");
    let mut client = node.client().await;
    for i in 0..kept {
        assert_eq!(client.get(format!("k{i:03}")).await.unwrap(), Some(format!("v{i}").into()));
    }
}
