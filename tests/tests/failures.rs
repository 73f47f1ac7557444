//! Failure detection, anti-entropy after a pause, tombstone purge and the resync it requires.

use kvs_client::MemberState;
use kvs_tests::{
    start_chain, wait_for_alive_members, wait_for_equal_digests, wait_until, NodeProcess, FAST_FAILURE_DETECTION,
};
use std::time::{Duration, Instant};

const CONVERGE: Duration = Duration::from_secs(30);

async fn state_of(observer: &NodeProcess, addr: &str) -> Option<MemberState> {
    let status = observer.status().await.ok()?;
    status.members.iter().find(|m| m.addr == addr).map(|m| m.state)
}

async fn wait_for_state(observers: &[NodeProcess], addr: &str, wanted: MemberState) -> Duration {
    let started = Instant::now();
    for observer in observers {
        wait_until(&format!("{addr} to be {wanted:?} on {}", observer.addr), CONVERGE, || async {
            (state_of(observer, addr).await? == wanted).then_some(())
        })
        .await;
    }
    started.elapsed()
}

/// Writes `count` values of `size` bytes on `node`.
async fn write_many(node: &NodeProcess, prefix: &str, count: usize, size: usize) {
    let mut client = node.client().await;
    for i in 0..count {
        client.set(format!("{prefix}{i}"), vec![b'x'; size]).await.unwrap();
    }
}

/// Waits until `others` declare the frozen node at `addr` dead, and then one gossip round more,
/// so their connections to it are reset: writes made from now on can reach it only through
/// anti-entropy, whatever the kernel's socket buffers could have held.
async fn freeze_out(others: &[NodeProcess], addr: &str) {
    wait_for_state(others, addr, MemberState::Dead).await;
    for node in others {
        wait_until("the dead node's connection to be reset", CONVERGE, || async {
            (node.status().await.ok()?.replication.peer_connections_reset >= 1).then_some(())
        })
        .await;
    }
}

#[tokio::test]
async fn a_frozen_node_is_suspected_then_dead_then_alive_again() {
    let mut nodes = start_chain(3, &FAST_FAILURE_DETECTION);
    wait_for_alive_members(&nodes, 3, CONVERGE).await;
    let frozen = nodes.pop().unwrap();
    let addr = frozen.addr.to_string();
    frozen.signal(libc::SIGSTOP);
    // Suspect first (after 600 ms of silence), then dead (after 1500 ms): the states come in order.
    let suspect_after = wait_for_state(&nodes, &addr, MemberState::Suspect).await;
    let dead_after = wait_for_state(&nodes, &addr, MemberState::Dead).await;
    // The last heartbeat heard may predate the freeze by a gossip interval or two, no more.
    assert!(suspect_after >= Duration::from_millis(200), "suspected too early: {suspect_after:?}");
    assert!(suspect_after + dead_after >= Duration::from_millis(900), "dead too early");
    frozen.signal(libc::SIGCONT);
    wait_for_state(&nodes, &addr, MemberState::Alive).await;
    nodes.push(frozen);
    wait_for_alive_members(&nodes, 3, CONVERGE).await;
}

#[tokio::test]
async fn a_frozen_node_catches_up_through_anti_entropy() {
    let nodes = start_chain(3, &FAST_FAILURE_DETECTION);
    wait_for_alive_members(&nodes, 3, CONVERGE).await;
    nodes[0].client().await.set("before", "1").await.unwrap();
    let refs: Vec<&NodeProcess> = nodes.iter().collect();
    wait_for_equal_digests(&refs, CONVERGE).await;

    let frozen = nodes[2].addr.to_string();
    nodes[2].signal(libc::SIGSTOP);
    freeze_out(&nodes[..2], &frozen).await;
    write_many(&nodes[0], "a", 3000, 100).await;
    write_many(&nodes[1], "b", 500, 100).await;
    nodes[1].client().await.delete("before").await.unwrap();
    nodes[2].signal(libc::SIGCONT);

    wait_for_equal_digests(&refs, CONVERGE).await;
    let status = nodes[2].status().await.unwrap();
    assert_eq!((status.key_count, status.tombstone_count), (3500, 1));
    assert!(
        status.replication.anti_entropy_entries_applied > 0,
        "what the paused node missed came through anti-entropy: {:?}",
        status.replication
    );
    assert_eq!(status.replication.full_resyncs, 0);
}

#[tokio::test]
async fn tombstones_are_purged_everywhere_after_the_grace_period() {
    let nodes = start_chain(3, &["--tombstone-grace-ms", "500"]);
    wait_for_alive_members(&nodes, 3, CONVERGE).await;
    let mut client = nodes[0].client().await;
    client.set("doomed", "v").await.unwrap();
    client.set("kept", "v").await.unwrap();
    client.delete("doomed").await.unwrap();
    for node in &nodes {
        wait_until("the tombstone to be purged", CONVERGE, || async {
            let status = node.status().await.ok()?;
            (status.tombstone_count == 0 && status.replication.tombstones_purged == 1 && status.key_count == 1)
                .then_some(())
        })
        .await;
        assert_eq!(node.get("doomed").await.unwrap(), None);
    }
    let refs: Vec<&NodeProcess> = nodes.iter().collect();
    wait_for_equal_digests(&refs, CONVERGE).await;
}

#[tokio::test]
async fn a_node_away_longer_than_the_grace_period_resyncs_instead_of_resurrecting_deletes() {
    let mut extra = FAST_FAILURE_DETECTION.to_vec();
    extra.extend(["--tombstone-grace-ms", "1000"]);
    let nodes = start_chain(3, &extra);
    wait_for_alive_members(&nodes, 3, CONVERGE).await;
    nodes[0].client().await.set("deleted-while-away", "old").await.unwrap();
    nodes[0].client().await.set("stays", "v").await.unwrap();
    let refs: Vec<&NodeProcess> = nodes.iter().collect();
    wait_for_equal_digests(&refs, CONVERGE).await;

    let frozen = nodes[2].addr.to_string();
    nodes[2].signal(libc::SIGSTOP);
    freeze_out(&nodes[..2], &frozen).await;
    write_many(&nodes[0], "fill", 3000, 100).await;
    nodes[0].client().await.delete("deleted-while-away").await.unwrap();
    for node in &nodes[..2] {
        wait_until("the delete to be purged on the nodes that stayed", CONVERGE, || async {
            (node.status().await.ok()?.replication.tombstones_purged >= 1).then_some(())
        })
        .await;
    }
    nodes[2].signal(libc::SIGCONT);

    wait_for_equal_digests(&refs, CONVERGE).await;
    assert_eq!(nodes[2].get("deleted-while-away").await.unwrap(), None, "the delete was resurrected");
    assert_eq!(nodes[2].get("stays").await.unwrap().as_deref(), Some(&b"v"[..]));
    let status = nodes[2].status().await.unwrap();
    assert!(status.replication.full_resyncs >= 1, "{:?}", status.replication);
    assert_eq!(status.key_count, 3001);
}

#[tokio::test]
async fn nodes_in_sync_exchange_small_constant_size_rounds() {
    for keys in [10usize, 3000] {
        let nodes = start_chain(2, &["--anti-entropy-interval-ms", "100"]);
        wait_for_alive_members(&nodes, 2, CONVERGE).await;
        write_many(&nodes[0], "k", keys, 100).await;
        let refs: Vec<&NodeProcess> = nodes.iter().collect();
        wait_for_equal_digests(&refs, CONVERGE).await;
        // Let pushes and the first rounds settle, then count a window of idle rounds.
        let totals = || async {
            let (mut bytes, mut rounds) = (0, 0);
            for node in &nodes {
                let sync = node.status().await.unwrap().replication;
                bytes += sync.anti_entropy_bytes_sent;
                rounds += sync.anti_entropy_rounds;
            }
            (bytes, rounds)
        };
        let start = totals().await;
        wait_until("ten idle rounds", CONVERGE, || async { (totals().await.1 >= start.1 + 10).then_some(()) }).await;
        let end = totals().await;
        let per_round = (end.0 - start.0) as f64 / (end.1 - start.1) as f64;
        assert!(per_round < 120.0, "{keys} keys: {per_round} bytes per idle round");
    }
}
