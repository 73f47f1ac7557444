//! Several nodes: membership, replication, convergence, leaving and restarting.

use kvs_client::MemberState;
use kvs_tests::{start_chain, wait_for_alive_members, wait_for_equal_digests, wait_until, NodeProcess};
use std::time::Duration;

const CONVERGE: Duration = Duration::from_secs(20);

#[tokio::test]
async fn five_nodes_booted_as_a_chain_form_a_full_mesh_and_replicate_every_write() {
    let nodes = start_chain(5, &[]);
    wait_for_alive_members(&nodes, 5, CONVERGE).await;

    for (i, node) in nodes.iter().enumerate() {
        node.client().await.set(format!("from-{i}"), format!("value-{i}")).await.unwrap();
    }
    for node in &nodes {
        for i in 0..nodes.len() {
            node.wait_for_value(&format!("from-{i}"), Some(&format!("value-{i}")), CONVERGE).await;
        }
    }
    let refs: Vec<&NodeProcess> = nodes.iter().collect();
    wait_for_equal_digests(&refs, CONVERGE).await;
}

/// One worker thread runs the current-thread scheduler and more run the multi-thread one; the
/// default picks by core count, so both are started here by name, whatever this machine has.
#[tokio::test]
async fn nodes_on_one_worker_thread_and_on_several_replicate_to_each_other() {
    let one = NodeProcess::start(None, &["--threads", "1", "--redis-port", "0"]);
    let several = NodeProcess::start(Some(one.addr), &["--threads", "3", "--redis-port", "0"]);
    let nodes = [one, several];
    wait_for_alive_members(&nodes, 2, CONVERGE).await;
    for (i, node) in nodes.iter().enumerate() {
        node.client().await.set(format!("native-{i}"), "n").await.unwrap();
        let mut resp = kvs_tests::resp::connect(node.redis());
        redis::cmd("SET").arg(format!("resp-{i}")).arg("r").query::<()>(&mut resp).unwrap();
    }
    for node in &nodes {
        for i in 0..nodes.len() {
            node.wait_for_value(&format!("native-{i}"), Some("n"), CONVERGE).await;
            node.wait_for_value(&format!("resp-{i}"), Some("r"), CONVERGE).await;
        }
    }
}

#[tokio::test]
async fn concurrent_writes_to_one_key_converge_to_one_value() {
    let nodes = start_chain(3, &[]);
    wait_for_alive_members(&nodes, 3, CONVERGE).await;
    let (a, b) = (&nodes[0], &nodes[1]);
    let writer = |node: &NodeProcess, tag: &'static str| {
        let addr = node.addr.to_string();
        async move {
            let mut client = kvs_client::Client::connect(&addr).await.unwrap();
            for i in 0..200 {
                client.set("contended", format!("{tag}-{i}")).await.unwrap();
            }
        }
    };
    tokio::join!(writer(a, "a"), writer(b, "b"));
    let refs: Vec<&NodeProcess> = nodes.iter().collect();
    wait_for_equal_digests(&refs, CONVERGE).await;
    let mut values = Vec::new();
    for node in &nodes {
        values.push(node.client().await.get("contended").await.unwrap().expect("value present"));
    }
    assert!(values.windows(2).all(|w| w[0] == w[1]), "values differ: {values:?}");
    assert!(values[0].ends_with(b"-199"), "the last write of one writer wins, got {:?}", values[0]);
}

#[tokio::test]
async fn deletes_replicate_as_tombstones() {
    let nodes = start_chain(2, &[]);
    wait_for_alive_members(&nodes, 2, CONVERGE).await;
    nodes[0].client().await.set("k", "v").await.unwrap();
    nodes[1].wait_for_value("k", Some("v"), CONVERGE).await;
    nodes[0].client().await.delete("k").await.unwrap();
    nodes[1].wait_for_value("k", None, CONVERGE).await;
    assert_eq!(nodes[1].status().await.unwrap().tombstone_count, 1);
}

#[tokio::test]
async fn a_node_that_shuts_down_is_seen_as_left() {
    let mut nodes = start_chain(3, &[]);
    wait_for_alive_members(&nodes, 3, CONVERGE).await;
    let leaving = nodes.pop().unwrap();
    let leaving_addr = leaving.addr.to_string();
    leaving.client().await.shutdown().await.unwrap();
    let mut leaving = leaving;
    assert!(leaving.wait_exit(Duration::from_secs(10)).success());
    for node in &nodes {
        wait_until("the leaver to be seen as left", CONVERGE, || async {
            let status = node.status().await.ok()?;
            let member = status.members.iter().find(|m| m.addr == leaving_addr)?;
            (member.state == MemberState::Left).then_some(())
        })
        .await;
    }
}

#[tokio::test]
async fn a_restarted_node_gets_every_key_back() {
    let mut nodes = start_chain(3, &[]);
    wait_for_alive_members(&nodes, 3, CONVERGE).await;
    let mut client = nodes[0].client().await;
    for i in 0..500 {
        client.set(format!("key-{i}"), format!("value-{i}")).await.unwrap();
    }
    let bootstrap = nodes[0].addr;
    nodes[2].restart(Some(bootstrap));
    let refs: Vec<&NodeProcess> = nodes.iter().collect();
    wait_for_equal_digests(&refs, CONVERGE).await;
    let status = nodes[2].status().await.unwrap();
    assert_eq!(status.key_count, 500);
    assert_eq!(nodes[2].client().await.get("key-499").await.unwrap().as_deref(), Some(&b"value-499"[..]));
    // The old incarnation is replaced, not left dangling as a dead member.
    wait_for_alive_members(&nodes, 3, CONVERGE).await;
}

#[tokio::test]
async fn a_restarted_node_without_bootstrap_is_found_by_its_peers() {
    let mut nodes = start_chain(2, &[]);
    wait_for_alive_members(&nodes, 2, CONVERGE).await;
    nodes[0].client().await.set("k", "v").await.unwrap();
    nodes[1].restart(None);
    let refs: Vec<&NodeProcess> = nodes.iter().collect();
    wait_for_equal_digests(&refs, CONVERGE).await;
    wait_for_alive_members(&nodes, 2, CONVERGE).await;
    assert_eq!(nodes[1].client().await.get("k").await.unwrap().as_deref(), Some(&b"v"[..]));
}

#[tokio::test]
async fn a_peer_that_falls_off_the_push_queue_is_repaired() {
    let nodes = start_chain(2, &["--push-queue", "2"]);
    wait_for_alive_members(&nodes, 2, CONVERGE).await;
    let addr = nodes[0].addr.to_string();
    let writers = (0..8).map(|w| {
        let addr = addr.clone();
        tokio::spawn(async move {
            let mut client = kvs_client::Client::connect(&addr).await.unwrap();
            for i in 0..250 {
                client.set(format!("w{w}-{i}"), "v").await.unwrap();
            }
        })
    });
    for writer in writers.collect::<Vec<_>>() {
        writer.await.unwrap();
    }
    let refs: Vec<&NodeProcess> = nodes.iter().collect();
    wait_for_equal_digests(&refs, CONVERGE).await;
    assert_eq!(nodes[1].status().await.unwrap().key_count, 2000);
}

#[tokio::test]
async fn a_frozen_node_catches_up_after_it_resumes() {
    let nodes = start_chain(3, &[]);
    wait_for_alive_members(&nodes, 3, CONVERGE).await;
    nodes[2].signal(libc::SIGSTOP);
    let mut client = nodes[0].client().await;
    for i in 0..300 {
        client.set(format!("while-frozen-{i}"), "v").await.unwrap();
    }
    nodes[1].client().await.delete("while-frozen-0").await.unwrap();
    nodes[2].signal(libc::SIGCONT);
    let refs: Vec<&NodeProcess> = nodes.iter().collect();
    wait_for_equal_digests(&refs, CONVERGE).await;
    let status = nodes[2].status().await.unwrap();
    assert_eq!((status.key_count, status.tombstone_count), (299, 1));
}
