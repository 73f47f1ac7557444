//! Helpers over several nodes.

use crate::process::NodeProcess;
use crate::wait::wait_until;
use kvs_client::MemberState;
use std::time::Duration;

/// Flags for fast failure detection and short peer deadlines, so a pause or a cut is noticed
/// within a second or two (suspect after 0.6 s, dead after 1.5 s).
pub const FAST_FAILURE_DETECTION: [&str; 10] = [
    "--gossip-interval-ms",
    "100",
    "--suspect-after-ms",
    "600",
    "--dead-after-ms",
    "1500",
    "--peer-write-timeout-ms",
    "500",
    "--hello-timeout-ms",
    "500",
];

/// Starts `n` nodes, each booting from the one before it.
pub fn start_chain(n: usize, extra: &[&str]) -> Vec<NodeProcess> {
    let mut nodes: Vec<NodeProcess> = Vec::with_capacity(n);
    for _ in 0..n {
        let bootstrap = nodes.last().map(|p| p.addr);
        nodes.push(NodeProcess::start(bootstrap, extra));
    }
    nodes
}

/// Waits until every node reports `n` members (itself included), all alive.
pub async fn wait_for_alive_members(nodes: &[NodeProcess], n: usize, limit: Duration) {
    for node in nodes {
        wait_until(&format!("{} to see {n} alive members", node.addr), limit, || async {
            let status = node.status().await.ok()?;
            let alive = status.members.iter().filter(|m| m.state == MemberState::Alive).count();
            (alive == n && status.members.len() == n).then_some(())
        })
        .await;
    }
}

/// Waits until every node's cluster version is this build's newest protocol, so every feature
/// gate is open (a new cluster's nodes open them within a heartbeat of meeting all members).
pub async fn wait_for_open_gates(nodes: &[NodeProcess], limit: Duration) {
    for node in nodes {
        wait_until(&format!("{} to open its feature gates", node.addr), limit, || async {
            let versions = node.client().await.versions().await.ok()?;
            (versions.cluster_version == kvs_proto::PROTOCOL_VERSION).then_some(())
        })
        .await;
    }
}

/// Waits until every node reports the same digest, and returns it.
pub async fn wait_for_equal_digests(nodes: &[&NodeProcess], limit: Duration) -> String {
    wait_until("equal digests", limit, || async {
        let mut digests = Vec::new();
        for node in nodes {
            digests.push(node.status().await.ok()?.digest);
        }
        digests.windows(2).all(|w| w[0] == w[1]).then(|| digests[0].clone())
    })
    .await
}
