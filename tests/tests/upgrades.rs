//! Rolling upgrades within this release, on real nodes: the cluster version and its feature gates,
//! the log moving to the newest format once its gate opens, peers and clients of the previous protocol,
//! a newer log refused by the name of the release that wrote it, and WAIT behind its gate.
//! (`cargo xtask upgrade-test` runs the previous release's own binaries beside this one.)

use kvs_proto::{ClientRequest, ClientResponse, Connection, ErrorCode, Hello, HelloReply, VersionsReport};
use kvs_tests::impostor::Impostor;
use kvs_tests::resp::run;
use kvs_tests::{start_chain, wait_for_alive_members, wait_until, NodeProcess};
use std::net::SocketAddr;
use std::time::Duration;

const CONVERGE: Duration = Duration::from_secs(30);

/// The node's versions once its cluster version has reached this build's newest protocol.
async fn at_newest_version(node: &NodeProcess) -> VersionsReport {
    wait_until("the cluster version to reach the newest protocol", CONVERGE, || async {
        let versions = node.client().await.versions().await.ok()?;
        (versions.cluster_version == kvs_proto::PROTOCOL_VERSION).then_some(versions)
    })
    .await
}

#[tokio::test]
async fn a_lone_node_opens_every_gate_records_it_and_writes_the_newest_log_format() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().display().to_string();
    let mut node = NodeProcess::start(None, &["--data-dir", &data_dir, "--fsync", "always"]);
    let newest = kvs_store::log::FORMAT_VERSION;
    let versions = wait_until("the log to move to the newest format", CONVERGE, || async {
        let versions = at_newest_version(&node).await;
        (versions.log_format_in_use == Some(newest)).then_some(versions)
    })
    .await;
    assert!(versions.gates.iter().all(|gate| gate.open), "{versions:?}");
    assert_eq!(versions.release, env!("CARGO_PKG_VERSION"));
    let recorded = std::fs::read_to_string(dir.path().join("cluster-version")).unwrap();
    assert_eq!(recorded.trim(), kvs_proto::PROTOCOL_VERSION.to_string());
    let log = std::fs::read(dir.path().join("log")).unwrap();
    assert_eq!(&log[8..12], &newest.to_le_bytes(), "the log's header says the newest format");

    node.client().await.set("kept", "v").await.unwrap();
    node.restart(None);
    // Recorded, so it holds from the first request on: no window where an old peer is let in.
    let versions = node.client().await.versions().await.unwrap();
    assert_eq!(versions.cluster_version, kvs_proto::PROTOCOL_VERSION);
    assert_eq!(node.get("kept").await.unwrap().as_deref(), Some(&b"v"[..]));
}

#[tokio::test]
async fn a_peer_of_the_previous_protocol_is_refused_once_the_cluster_has_moved_past_it() {
    let node = NodeProcess::start(None, &[]);
    at_newest_version(&node).await;
    let old = kvs_proto::OLDEST_PROTOCOL_VERSION;
    let refused = Impostor::connect_at(node.addr, 77, old).await.err().flatten().expect("a refusal");
    assert_eq!(refused.code, ErrorCode::VersionMismatch);
    assert!(refused.message.contains("upgrade this node"), "{refused:?}");
    assert!(Impostor::connect_at(node.addr, 78, kvs_proto::PROTOCOL_VERSION).await.is_ok());
    // A version nobody speaks is refused with the range this node speaks.
    let refused = Impostor::connect_at(node.addr, 79, 99).await.err().flatten().expect("a refusal");
    assert!(refused.message.contains(&format!("({old} to {})", kvs_proto::PROTOCOL_VERSION)), "{refused:?}");
}

/// Says hello as a client of protocol `version` and returns the connection.
async fn client_at(addr: SocketAddr, version: u32) -> Connection<tokio::net::TcpStream> {
    let mut conn = Connection::new(tokio::net::TcpStream::connect(addr).await.unwrap(), 1 << 20);
    conn.send(&Hello::client(version, None)).await.unwrap();
    assert!(matches!(conn.recv::<HelloReply>().await.unwrap(), Some(HelloReply::Welcome { .. })));
    conn
}

#[tokio::test]
async fn a_client_of_the_previous_protocol_is_served_what_that_protocol_has() {
    let node = NodeProcess::start(None, &[]);
    at_newest_version(&node).await;
    // Clients are never refused for their version: only the requests their protocol lacks are.
    let mut old = client_at(node.addr, kvs_proto::OLDEST_PROTOCOL_VERSION).await;
    old.send(&ClientRequest::<bytes::Bytes>::Status { max_keys: 0 }).await.unwrap();
    assert!(matches!(old.recv::<ClientResponse>().await.unwrap(), Some(ClientResponse::Status(_))));
    old.send(&ClientRequest::<bytes::Bytes>::Versions).await.unwrap();
    match old.recv::<ClientResponse>().await.unwrap() {
        Some(ClientResponse::Error(reply)) => assert_eq!(reply.code, ErrorCode::BadRequest, "{reply:?}"),
        other => panic!("a protocol-8 request on a protocol-7 connection was answered {other:?}"),
    }
    assert_eq!(node.client().await.protocol(), kvs_proto::PROTOCOL_VERSION, "the library speaks the newest");
}

#[test]
fn a_log_of_a_newer_format_is_refused_naming_the_release_that_wrote_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut header = b"KVSLOG\r\n".to_vec();
    let newer = kvs_store::log::FORMAT_VERSION + 1;
    header.extend_from_slice(&newer.to_le_bytes());
    header.extend_from_slice(&3_004_001u32.to_le_bytes());
    std::fs::write(dir.path().join("log"), &header).unwrap();
    let any_port: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let (code, stderr) = NodeProcess::failed_start(any_port, &["--data-dir", &dir.path().display().to_string()]);
    assert_eq!(code, Some(1));
    assert!(stderr.contains(&format!("format version {newer}, written by kvs 3.4.1")), "{stderr}");
    assert_eq!(std::fs::read(dir.path().join("log")).unwrap(), header, "the file was left as it is");
}

#[tokio::test]
async fn wait_counts_the_peers_that_applied_this_nodes_writes() {
    let mut nodes = start_chain(3, &["--redis-port", "0"]);
    wait_for_alive_members(&nodes, 3, CONVERGE).await;
    for node in &nodes {
        at_newest_version(node).await;
    }
    let c = &mut nodes[0].resp();
    let _: () = run(c, &["SET", "k", "v"]);
    let acknowledged: i64 = run(c, &["WAIT", "2", "10000"]);
    assert_eq!(acknowledged, 2);
    for peer in &nodes[1..] {
        // WAIT said so: the write is there already, no waiting.
        assert_eq!(peer.get("k").await.unwrap().as_deref(), Some(&b"v"[..]));
    }
    let at_once: i64 = run(c, &["WAIT", "0", "0"]);
    assert_eq!(at_once, 2, "WAIT 0 answers at once with the count");

    nodes[2].kill();
    let _: () = run(c, &["SET", "k", "after"]);
    let started = std::time::Instant::now();
    let acknowledged: i64 = run(c, &["WAIT", "2", "300"]);
    assert_eq!(acknowledged, 1, "a stopped peer makes WAIT time out with the smaller count");
    assert!(started.elapsed() >= Duration::from_millis(300));

    let _: () = run(c, &["MULTI"]);
    let _: String = run(c, &["WAIT", "2", "0"]);
    let answers: Vec<i64> = run(c, &["EXEC"]);
    assert_eq!(answers, vec![1], "inside a transaction WAIT answers at once");
}

#[tokio::test]
async fn waitaof_counts_the_logs_that_have_this_nodes_writes_on_disk() {
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut nodes: Vec<NodeProcess> = Vec::new();
    for dir in &dirs {
        let bootstrap = nodes.last().map(|n| n.addr);
        let data_dir = dir.path().display().to_string();
        nodes.push(NodeProcess::start(bootstrap, &["--redis-port", "0", "--data-dir", &data_dir]));
    }
    wait_for_alive_members(&nodes, 3, CONVERGE).await;
    for node in &nodes {
        at_newest_version(node).await;
    }
    let c = &mut nodes[0].resp();
    let _: () = run(c, &["SET", "k", "v"]);
    let synced: Vec<i64> = run(c, &["WAITAOF", "1", "2", "10000"]);
    assert_eq!(synced, vec![1, 2], "this node's log and both peers' have the write on disk");

    // A stopped peer's log cannot say so: the smaller count, within the timeout.
    nodes[2].signal(libc::SIGSTOP);
    let _: () = run(c, &["SET", "k", "after"]);
    let started = std::time::Instant::now();
    let synced: Vec<i64> = run(c, &["WAITAOF", "0", "2", "300"]);
    assert_eq!(synced, vec![0, 1]);
    assert!(started.elapsed() >= Duration::from_millis(300));
    nodes[2].signal(libc::SIGCONT);

    // Inside a transaction it answers at once.
    let _: () = run(c, &["MULTI"]);
    let _: String = run(c, &["WAITAOF", "0", "0", "0"]);
    let answers: Vec<Vec<i64>> = run(c, &["EXEC"]);
    assert_eq!(answers.len(), 1);

    // A node without a log cannot count its own, as Redis without appendonly.
    let memory_only = NodeProcess::start(None, &["--redis-port", "0"]);
    let refused = redis::cmd("WAITAOF").arg(1).arg(0).arg(0).query::<redis::Value>(&mut memory_only.resp());
    assert!(refused.unwrap_err().to_string().contains("appendonly is disabled"));
}
