//! Joining a cluster: the node says when it has joined, and gives up when told to.

use kvs_tests::NodeProcess;
use std::net::{SocketAddr, TcpListener};
use std::process::Stdio;
use std::time::{Duration, Instant};

/// An address where nothing listens: a port the kernel handed out and took back.
fn nobody_listening() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("local addr")
}

#[test]
fn a_node_that_joins_says_so_on_stdout() {
    let a = NodeProcess::start(None, &[]);
    let b = NodeProcess::start(Some(a.addr), &[]);
    let line = b.next_stdout_line(Duration::from_secs(20)).expect("a second stdout line");
    assert_eq!(line, format!("joined the cluster through {}: 2 members", a.addr));
    assert_eq!(a.next_stdout_line(Duration::from_millis(300)), None, "a node without a bootstrap joins nothing");
}

#[test]
fn a_node_that_cannot_join_in_time_exits_with_the_reason() {
    let bootstrap = nobody_listening();
    let mut command = NodeProcess::command(([127, 0, 0, 1], 0).into(), Some(bootstrap), &["--join-timeout-ms", "1000"]);
    command.stdout(Stdio::null()).stderr(Stdio::piped());
    let started = Instant::now();
    let mut child = command.spawn().expect("spawn kvs-node");
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if started.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            panic!("the node kept trying past its join timeout");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().expect("piped stderr"), &mut stderr).expect("stderr");
    assert_eq!(status.code(), Some(1), "{stderr}");
    let reason = format!("kvs-node: could not join the cluster through {bootstrap} within");
    assert!(stderr.contains(&reason), "{stderr}");
    assert!(started.elapsed() >= Duration::from_secs(1), "it tried for the whole timeout");
}

#[test]
fn a_node_listening_on_an_unspecified_address_must_say_what_to_advertise() {
    let (code, stderr) = NodeProcess::failed_start(([0, 0, 0, 0], 0).into(), &[]);
    assert_eq!(code, Some(1));
    assert!(stderr.contains("listening on 0.0.0.0 needs --advertise-addr"), "{stderr}");
    let (code, stderr) = NodeProcess::failed_start(([127, 0, 0, 1], 0).into(), &["--advertise-addr", "0.0.0.0:7"]);
    assert_eq!(code, Some(1));
    assert!(stderr.contains("is not an address peers can dial"), "{stderr}");
}

#[tokio::test]
async fn peers_dial_the_advertised_address_not_the_one_listened_on() {
    let a = NodeProcess::start_on(([0, 0, 0, 0], 0).into(), None, &["--advertise-addr", "127.0.0.1:0"]);
    let advertised: SocketAddr = ([127, 0, 0, 1], a.addr.port()).into();
    let b = NodeProcess::start(Some(advertised), &[]);
    let nodes = [a, b];
    kvs_tests::wait_for_alive_members(&nodes, 2, Duration::from_secs(30)).await;
    // Everyone knows a by the address it advertised (0.0.0.0 would only work on this one host).
    assert_eq!(nodes[0].status().await.unwrap().addr, advertised.to_string());
    let seen_by_b = nodes[1].status().await.unwrap();
    assert!(seen_by_b.members.iter().any(|m| m.addr == advertised.to_string()), "{seen_by_b:?}");
    assert!(seen_by_b.members.iter().all(|m| !m.addr.starts_with("0.0.0.0")), "{seen_by_b:?}");
}

#[tokio::test]
async fn a_node_alone_at_a_departed_members_address_joins_its_old_cluster_unless_its_secret_differs() {
    use kvs_tests::{wait_for_alive_members, wait_until, FAST_FAILURE_DETECTION};
    const CONVERGE: Duration = Duration::from_secs(30);
    let first = NodeProcess::start(None, &FAST_FAILURE_DETECTION);
    let second = NodeProcess::start(Some(first.addr), &FAST_FAILURE_DETECTION);
    let mut nodes = [first, second];
    wait_for_alive_members(&nodes, 2, CONVERGE).await;
    nodes[0].client().await.set("old", "data").await.unwrap();
    let departed = nodes[1].addr;
    nodes[1].client().await.shutdown().await.unwrap();
    assert!(nodes[1].wait_exit(CONVERGE).success());

    // Started alone at the departed member's address, a node is found by the old member.
    let mut again = NodeProcess::start_with(departed, None, &FAST_FAILURE_DETECTION, |_| {});
    wait_until("the old member to pull it in, data included", CONVERGE, || async {
        let status = again.status().await.ok()?;
        (status.members.len() == 2 && again.client().await.get("old").await.ok()?.is_some()).then_some(())
    })
    .await;
    again.client().await.shutdown().await.unwrap();
    assert!(again.wait_exit(CONVERGE).success());

    // With a cluster secret of its own, it stays a cluster of its own.
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("secret");
    std::fs::write(&secret, "another cluster's secret\n").unwrap();
    std::fs::set_permissions(&secret, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let mut flags = FAST_FAILURE_DETECTION.to_vec();
    flags.extend(["--cluster-secret-file", secret.to_str().unwrap()]);
    let separate = NodeProcess::start_with(departed, None, &flags, |_| {});
    wait_until("the old member's greeting to be refused", CONVERGE, || async {
        (separate.status().await.ok()?.replication.peer_hellos_refused >= 1).then_some(())
    })
    .await;
    assert_eq!(separate.status().await.unwrap().members.len(), 1);
    assert_eq!(separate.client().await.get("old").await.unwrap(), None);
}
