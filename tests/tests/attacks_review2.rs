//! The second security review against real nodes: each test replays one probe from its table
//! (issue 23; the row number is in the test's name) and shows the node now holds. The first
//! review's probes are in `attacks.rs`.

use kvs_tests::binaries::binary;
use kvs_tests::{wait_for_alive_members, wait_for_equal_digests, wait_until, NodeProcess, FAST_FAILURE_DETECTION};
use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const CONVERGE: Duration = Duration::from_secs(30);

#[tokio::test]
async fn row_1_a_member_lying_in_its_anti_entropy_answers_cannot_wipe_or_starve_a_node() {
    // The victim's data dir, so a restart shows what its log kept.
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().display().to_string();
    let mut victim_args = vec!["--data-dir", &data_dir, "--fsync", "always"];
    victim_args.extend(FAST_FAILURE_DETECTION);
    let victim = NodeProcess::start(None, &victim_args);
    let honest = NodeProcess::start(Some(victim.addr), &FAST_FAILURE_DETECTION);
    let mut liar_args = vec!["--fault-lying-anti-entropy-ms", "1h"];
    liar_args.extend(FAST_FAILURE_DETECTION);
    let liar = NodeProcess::start(Some(victim.addr), &liar_args);
    let nodes = [victim, honest, liar];
    wait_for_alive_members(&nodes, 3, CONVERGE).await;
    let [victim, honest, liar] = nodes;
    let (mut on_victim, mut on_honest) = (victim.client().await, honest.client().await);
    for i in 0..300 {
        on_victim.set(format!("v{i}"), "x").await.unwrap();
        on_honest.set(format!("h{i}"), "x").await.unwrap();
    }
    victim.wait_for_value("h299", Some("x"), CONVERGE).await;
    // Asked in turn, the liar has answered twice: a resync demand, then absurd cursors for the
    // fresh request, and again a demand.
    wait_until("the victim to be told to resync twice", CONVERGE, || async {
        (victim.status().await.ok()?.replication.full_resyncs >= 2).then_some(())
    })
    .await;
    assert_eq!(victim.status().await.unwrap().key_count, 600, "nothing dropped");

    // A write the victim misses while frozen reaches it through anti-entropy all the same.
    victim.signal(libc::SIGSTOP);
    wait_until("the honest node to reset its connection to the frozen victim", CONVERGE, || async {
        (honest.status().await.ok()?.replication.peer_connections_reset >= 1).then_some(())
    })
    .await;
    on_honest.set("missed", "while frozen").await.unwrap();
    victim.signal(libc::SIGCONT);
    victim.wait_for_value("missed", Some("while frozen"), CONVERGE).await;
    wait_for_equal_digests(&[&victim, &honest], CONVERGE).await;
    drop(liar);

    let mut victim = victim;
    victim.restart(Some(honest.addr));
    assert_eq!(victim.status().await.unwrap().key_count, 601, "and its log still holds them");
}

#[tokio::test]
async fn row_12_debug_sleep_forever_is_clamped_and_the_connection_lives() {
    let node = NodeProcess::start_with_redis();
    let mut stream = std::net::TcpStream::connect(node.redis()).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let started = Instant::now();
    stream.write_all(b"DEBUG SLEEP inf\r\nPING\r\n").unwrap();
    let mut answer = Vec::new();
    let mut buf = [0u8; 64];
    while !answer.ends_with(b"+PONG\r\n") {
        let n = stream.read(&mut buf).unwrap();
        assert!(n > 0, "closed after {:?}", String::from_utf8_lossy(&answer));
        answer.extend_from_slice(&buf[..n]);
    }
    assert_eq!(answer, b"+OK\r\n+PONG\r\n");
    assert!(started.elapsed() < Duration::from_secs(15), "slept {:?}", started.elapsed());
}

#[tokio::test]
async fn row_12_an_import_refuses_bytes_after_the_end_mark() {
    let node = NodeProcess::start(None, &[]);
    node.client().await.set("k", "v").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("backup");
    let path_text = path.display().to_string();
    let export =
        Command::new(binary("kvs-client")).arg(node.addr.to_string()).args(["export", &path_text]).output().unwrap();
    assert!(export.status.success(), "{}", String::from_utf8_lossy(&export.stderr));
    std::fs::OpenOptions::new().append(true).open(&path).unwrap().write_all(b"junk").unwrap();
    let import =
        Command::new(binary("kvs-client")).arg(node.addr.to_string()).args(["import", &path_text]).output().unwrap();
    let stderr = String::from_utf8_lossy(&import.stderr);
    assert!(!import.status.success() && stderr.contains("bytes follow the end mark"), "{stderr}");
}

#[test]
fn row_12_check_data_dir_refuses_a_fifo_instead_of_blocking() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("log");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    let mut child = Command::new(binary("kvs-node"))
        .arg("check-data-dir")
        .arg(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("check-data-dir blocked on a FIFO");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("is not a regular file"), "{stderr}");
}
