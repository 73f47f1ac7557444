//! Durable nodes: acknowledged writes survive kill -9, damaged logs, refusals, restarts.

use kvs_client::{Client, ClientError, ErrorCode};
use kvs_tests::{wait_for_alive_members, wait_for_equal_digests, NodeProcess};
use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const CONVERGE: Duration = Duration::from_secs(30);

fn any_port() -> SocketAddr {
    ([127, 0, 0, 1], 0).into()
}

fn durable(dir: &tempfile::TempDir, fsync: &str) -> Vec<String> {
    vec!["--data-dir".into(), dir.path().display().to_string(), "--fsync".into(), fsync.into()]
}

fn as_strs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

#[tokio::test]
async fn every_acknowledged_write_survives_kill_9_with_fsync_always() {
    let dir = tempfile::tempdir().unwrap();
    let args = durable(&dir, "always");
    let mut node = NodeProcess::start(None, &as_strs(&args));
    let acked = Arc::new(Mutex::new(Vec::new()));
    let addr = node.addr.to_string();
    let writers: Vec<_> = (0..8)
        .map(|w| {
            let (addr, acked) = (addr.clone(), acked.clone());
            tokio::spawn(async move {
                let Ok(mut client) = Client::connect(&addr).await else { return };
                for i in 0.. {
                    let key = format!("w{w}-{i}");
                    match client.set(key.clone(), format!("value-{i}")).await {
                        Ok(_) => acked.lock().unwrap().push((key, format!("value-{i}"))),
                        Err(_) => return,
                    }
                }
            })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(20);
    while acked.lock().unwrap().len() < 2000 {
        assert!(Instant::now() < deadline, "writes too slow");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    node.kill(); // SIGKILL in the middle of the stream
    for writer in writers {
        writer.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();

    let node = NodeProcess::start_on(node.addr, None, &as_strs(&args));
    let mut client = node.client().await;
    for (key, value) in &acked {
        assert_eq!(client.get(key.clone()).await.unwrap().as_deref(), Some(value.as_bytes()), "{key} was acknowledged");
    }
    assert!(node.status().await.unwrap().key_count as usize >= acked.len());
}

#[tokio::test]
async fn a_torn_or_corrupt_log_tail_is_dropped_and_the_rest_served() {
    let dir = tempfile::tempdir().unwrap();
    let args = durable(&dir, "always");
    let mut node = NodeProcess::start(None, &as_strs(&args));
    let mut client = node.client().await;
    for i in 0..100 {
        client.set(format!("k{i}"), format!("v{i}")).await.unwrap();
    }
    client.shutdown().await.unwrap();
    assert!(node.wait_exit(CONVERGE).success());
    let log = dir.path().join("log");
    let intact = std::fs::read(&log).unwrap();

    // A torn last write: half a frame header and body.
    let mut torn = intact.clone();
    torn.extend_from_slice(&[40, 0, 0, 0, 1, 2, 3, 4, 5, 6]);
    std::fs::write(&log, &torn).unwrap();
    let mut node = NodeProcess::start_on(node.addr, None, &as_strs(&args));
    let status = node.status().await.unwrap();
    assert_eq!(status.key_count, 100);
    node.client().await.set("after-torn", "ok").await.unwrap();
    node.client().await.shutdown().await.unwrap();
    assert!(node.wait_exit(CONVERGE).success());
    assert!(std::fs::read(&log).unwrap().len() > intact.len(), "appends continue after the dropped tail");

    // A corrupt byte inside the last record: that record is dropped, the rest kept.
    let mut corrupt = std::fs::read(&log).unwrap();
    let last = corrupt.len() - 3;
    corrupt[last] ^= 0xff;
    std::fs::write(&log, &corrupt).unwrap();
    let node = NodeProcess::start_on(node.addr, None, &as_strs(&args));
    let mut client = node.client().await;
    assert_eq!(node.status().await.unwrap().key_count, 100);
    assert_eq!(client.get("after-torn").await.unwrap(), None);
    assert_eq!(client.get("k99").await.unwrap().as_deref(), Some(&b"v99"[..]));
}

#[tokio::test]
async fn two_nodes_cannot_share_a_data_dir_and_an_unusable_one_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let args = durable(&dir, "everysec");
    let _first = NodeProcess::start(None, &as_strs(&args));
    let (code, stderr) = NodeProcess::failed_start(any_port(), &as_strs(&args));
    assert_eq!(code, Some(1));
    assert!(stderr.contains("in use by another kvs-node"), "{stderr}");

    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, b"x").unwrap();
    let path = file.join("data").display().to_string();
    let (code, stderr) = NodeProcess::failed_start(any_port(), &["--data-dir", &path]);
    assert_eq!(code, Some(1));
    assert!(stderr.contains("cannot create it"), "{stderr}");
}

#[tokio::test]
async fn a_full_disk_refuses_writes_instead_of_acknowledging_them() {
    let dir = tempfile::tempdir().unwrap();
    let args = durable(&dir, "always");
    // A 64 KiB file-size limit stands in for a full disk: writes past it fail with EFBIG. The
    // node's stderr is a file already past the limit, as its log would be on a full disk: its
    // log lines are lost, and it must keep serving all the same.
    let elsewhere = tempfile::tempdir().unwrap();
    let stderr_path = elsewhere.path().join("stderr.log");
    std::fs::write(&stderr_path, vec![b'#'; 128 * 1024]).unwrap();
    let stderr = std::fs::OpenOptions::new().append(true).open(&stderr_path).unwrap();
    let node = NodeProcess::start_with(any_port(), None, &as_strs(&args), |command| {
        command.stderr(stderr);
        // SAFETY: only calls setrlimit, which is async-signal-safe, between fork and exec.
        unsafe {
            command.pre_exec(|| {
                let limit = libc::rlimit { rlim_cur: 64 * 1024, rlim_max: 64 * 1024 };
                if libc::setrlimit(libc::RLIMIT_FSIZE, &limit) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    });
    let mut client = node.client().await;
    let mut acknowledged = 0;
    let refused = loop {
        match client.set(format!("k{acknowledged}"), vec![b'v'; 1000]).await {
            Ok(_) => acknowledged += 1,
            Err(ClientError::Server(reply)) => break reply,
            Err(other) => panic!("unexpected error {other}"),
        }
        assert!(acknowledged < 200, "64 KiB cannot hold 200 KB of acknowledged writes");
    };
    assert_eq!(refused.code, ErrorCode::LogFailed);
    // The file-size limit fails the log for good; a disk out of space (a reason that may clear)
    // would instead answer "not durable" with the write applied, and this test would not hold.
    assert!(refused.message.contains("File too large"), "the limit, not the machine's disk: {}", refused.message);
    let again = client.set("later", "v").await.unwrap_err();
    assert!(matches!(again, ClientError::Server(ref r) if r.code == ErrorCode::LogFailed), "{again}");
    assert_eq!(client.get("k0").await.unwrap().as_deref(), Some(&[b'v'; 1000][..]), "reads still served");
    assert_eq!(client.get("later").await.unwrap(), None);
}

#[tokio::test]
async fn a_restarted_durable_node_serves_its_keys_and_fetches_only_what_it_missed() {
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut nodes: Vec<NodeProcess> = Vec::new();
    for dir in &dirs {
        let bootstrap = nodes.last().map(|n| n.addr);
        nodes.push(NodeProcess::start(bootstrap, &as_strs(&durable(dir, "everysec"))));
    }
    wait_for_alive_members(&nodes, 3, CONVERGE).await;
    let mut client = nodes[0].client().await;
    for i in 0..2000 {
        client.set(format!("key-{i}"), vec![b'v'; 100]).await.unwrap();
    }
    let refs: Vec<&NodeProcess> = nodes.iter().collect();
    wait_for_equal_digests(&refs, CONVERGE).await;
    let id_before = nodes[2].status().await.unwrap().node_id;

    nodes[2].client().await.shutdown().await.unwrap();
    assert!(nodes[2].wait_exit(CONVERGE).success());
    for i in 0..50 {
        client.set(format!("missed-{i}"), "m").await.unwrap();
    }
    let bootstrap = nodes[0].addr;
    nodes[2].restart(Some(bootstrap));
    let status = nodes[2].status().await.unwrap();
    assert_eq!(status.node_id, id_before, "the node id persists");
    assert!(status.key_count >= 2000, "serves its own keys at once");
    let refs: Vec<&NodeProcess> = nodes.iter().collect();
    wait_for_equal_digests(&refs, CONVERGE).await;
    let sync = nodes[2].status().await.unwrap().replication;
    assert!(sync.anti_entropy_entries_applied + sync.push_entries_received >= 50);
    // 2,000 keys of 100 bytes would be over 200 KB; what it missed is 50 small entries.
    assert!(sync.anti_entropy_bytes_received < 20_000, "caught up more than it missed: {sync:?}");
    wait_for_alive_members(&nodes, 3, CONVERGE).await;
}

/// A write pushed to a peer but lost by its origin in a crash before the log reached the disk; the
/// origin restarts and writes again. Its next run writes under a fresh origin, so the new write
/// cannot take the lost one's sequence number, and anti-entropy brings the lost write back to it
/// from the peer: the two nodes converge on both writes. (Had the restart reused the numbering,
/// the peer's cursor would already cover the new write's number and the origin would lack the
/// lost write forever.)
#[tokio::test]
async fn a_write_lost_in_a_crash_before_fsync_never_shares_a_sequence_number_with_a_later_one() {
    let dir = tempfile::tempdir().unwrap();
    let durable_args = durable(&dir, "always");
    let mut crashing_args = durable_args.clone();
    crashing_args.push("--fault-hold-log".into());
    let peer = NodeProcess::start(None, &[]);
    let mut nodes = vec![NodeProcess::start(Some(peer.addr), &as_strs(&crashing_args)), peer];
    wait_for_alive_members(&nodes, 2, CONVERGE).await;
    let (peer, mut origin) = (nodes.pop().unwrap(), nodes.pop().unwrap());

    // Never acknowledged (the log holds it), but pushed: the peer gets it, the origin's disk not.
    let addr = origin.addr.to_string();
    let in_flight = tokio::spawn(async move { Client::connect(&addr).await?.set("lost-locally", "1").await });
    peer.wait_for_value("lost-locally", Some("1"), CONVERGE).await;
    origin.kill();
    assert!(in_flight.await.unwrap().is_err(), "a write whose log record never reached the disk was acknowledged");

    let origin = NodeProcess::start_on(origin.addr, Some(peer.addr), &as_strs(&durable_args));
    origin.client().await.set("after-restart", "2").await.unwrap();
    wait_for_equal_digests(&[&origin, &peer], CONVERGE).await;
    for node in [&origin, &peer] {
        assert_eq!(node.get("lost-locally").await.unwrap().as_deref(), Some(&b"1"[..]));
        assert_eq!(node.get("after-restart").await.unwrap().as_deref(), Some(&b"2"[..]));
    }
}
