//! `kvs-client watch` and `set --wait`, and the library calls under them: a watcher on one node
//! sees the changes written on another; a write waits until it is on N other nodes, and says so
//! when a stopped peer keeps it from being.

use futures::StreamExt;
use kvs_tests::binaries::binary;
use kvs_tests::{start_chain, wait_for_alive_members, wait_for_open_gates, NodeProcess};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

const CONVERGE: Duration = Duration::from_secs(30);

fn cli(node: &NodeProcess, args: &[&str]) -> std::process::Output {
    node.cli(args)
}

async fn two_nodes() -> Vec<NodeProcess> {
    let nodes = start_chain(2, &["--redis-port", "0"]);
    wait_for_alive_members(&nodes, 2, CONVERGE).await;
    wait_for_open_gates(&nodes, CONVERGE).await;
    nodes
}

#[tokio::test]
async fn a_watch_on_one_node_prints_what_another_node_wrote() {
    let nodes = two_nodes().await;
    let (a, b) = (&nodes[0], &nodes[1]);
    let mut watcher = Command::new(binary("kvs-client"))
        .args([&b.addr.ip().to_string(), &b.addr.port().to_string(), "watch", "user:", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("run kvs-client watch");
    let lines = watcher.stdout.take().expect("piped stdout");
    let (sender, received) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(lines).lines().map_while(Result::ok) {
            if sender.send(line).is_err() {
                return;
            }
        }
    });
    // The watch is registered once the client has its answer; until then writes may pass it by,
    // so write a marker until it shows.
    let client = &mut a.client().await;
    let deadline = std::time::Instant::now() + CONVERGE;
    loop {
        client.set("user:marker", "m").await.unwrap();
        if received.recv_timeout(Duration::from_millis(200)).is_ok() {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the watch never printed a change");
    }
    while received.recv_timeout(Duration::from_millis(200)).is_ok() {}
    client.set("other", "not shown").await.unwrap();
    let version = client.set("user:1", "alice").await.unwrap();
    client.delete("user:1").await.unwrap();
    let mut redis = redis::Client::open(format!("redis://{}/", a.redis())).unwrap().get_connection().unwrap();
    let _: i64 = redis::cmd("HSET").arg("user:2").arg("name").arg("bob").query(&mut redis).unwrap();
    let next = || -> serde_json::Value {
        serde_json::from_str(&received.recv_timeout(CONVERGE).expect("a change line")).expect("JSON")
    };
    let set = next();
    assert_eq!(
        (set["event"].as_str(), set["key"].as_str(), set["value"].as_str()),
        (Some("set"), Some("user:1"), Some("alice"))
    );
    assert_eq!(set["version"]["wall_ms"].as_u64(), Some(version.wall_ms));
    assert_eq!(set["version"]["origin"].as_str(), Some(version.node.to_string().as_str()), "the origin is A's");
    let deleted = next();
    assert_eq!((deleted["event"].as_str(), deleted["value"].as_str()), (Some("del"), None));
    let field = next();
    assert_eq!(
        (field["event"].as_str(), field["key"].as_str(), field["element"].as_str(), field["value"].as_str()),
        (Some("hset"), Some("user:2"), Some("name"), Some("bob"))
    );
    watcher.kill().unwrap();
    watcher.wait().unwrap();
}

#[tokio::test]
async fn the_library_watch_is_a_stream() {
    let nodes = two_nodes().await;
    let (a, b) = (&nodes[0], &nodes[1]);
    let watch = kvs_client::Watch::start(b.client().await, "k").await.unwrap();
    let mut stream = Box::pin(watch.into_stream());
    let writer = &mut a.client().await;
    // The watch answered before the writes: every one of them is seen, in order.
    for n in 0..100 {
        writer.set(format!("k{n}"), n.to_string()).await.unwrap();
    }
    for n in 0..100 {
        let change = tokio::time::timeout(CONVERGE, stream.next()).await.unwrap().unwrap().unwrap();
        assert_eq!(
            (change.key.as_ref(), change.value.as_deref()),
            (format!("k{n}").as_bytes(), Some(n.to_string().as_bytes()))
        );
    }
}

#[tokio::test]
async fn set_wait_counts_the_nodes_that_applied_the_write_and_times_out_with_fewer() {
    let mut nodes = start_chain(3, &[]);
    wait_for_alive_members(&nodes, 3, CONVERGE).await;
    wait_for_open_gates(&nodes, CONVERGE).await;
    let out = cli(&nodes[0], &["set", "k", "v", "--wait", "2"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "OK, applied by 2 other nodes");
    // With one peer stopped the write is on one other node only: it says so within its timeout.
    nodes[2].signal(libc::SIGSTOP);
    let started = std::time::Instant::now();
    let out = cli(&nodes[0], &["set", "k", "w", "--wait", "2", "--wait-timeout-ms", "500"]);
    assert_eq!(out.status.code(), Some(5), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "OK, applied by 1 other node");
    assert!(started.elapsed() < Duration::from_secs(10), "it waited {:?}", started.elapsed());
    nodes[2].signal(libc::SIGCONT);
    let count = nodes[0].client().await.wait(2, CONVERGE).await.unwrap();
    assert_eq!(count, 2, "once the peer runs again it catches up and acknowledges");
    nodes[2].kill();
}
