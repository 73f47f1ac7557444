//! Helpers for clusters under a layout that partitions the keys.

use crate::cluster::{wait_for_open_gates, FAST_FAILURE_DETECTION};
use crate::process::NodeProcess;
use crate::wait::wait_until;
use kvs_proto::layout::Layout;
use std::time::Duration;

/// The layout `node` holds.
pub async fn held_layout(node: &NodeProcess) -> Option<Layout> {
    node.client().await.cluster_plan(kvs_proto::LayoutChange::default()).await.ok()?.current
}

/// The number INFO's cluster section of `node` gives `field`.
pub fn cluster_info_field(node: &NodeProcess, field: &str) -> Option<u64> {
    let info: String = redis::cmd("INFO").arg("cluster").query(&mut node.resp()).ok()?;
    let value = info.lines().find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))?;
    value.trim().parse().ok()
}

/// `n` durable nodes with Redis ports and fast failure detection, under a layout of
/// `factor` owners a slot, once every node holds it with no slot in motion; with their data
/// dirs, which must outlive them.
pub async fn durable_nodes_under_layout(
    n: usize,
    factor: u32,
    limit: Duration,
) -> (Vec<tempfile::TempDir>, Vec<NodeProcess>, Layout) {
    let dirs: Vec<tempfile::TempDir> = (0..n).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut nodes: Vec<NodeProcess> = Vec::new();
    for dir in &dirs {
        let mut flags = vec!["--redis-port", "0", "--data-dir", dir.path().to_str().unwrap()];
        flags.extend(FAST_FAILURE_DETECTION);
        nodes.push(NodeProcess::start(nodes.first().map(|n| n.addr), &flags));
    }
    wait_for_open_gates(&nodes, limit).await;
    let applied = nodes[0].cli(&["cluster", "apply", "--replication-factor", &factor.to_string()]);
    assert!(applied.status.success(), "{}", String::from_utf8_lossy(&applied.stderr));
    let held = wait_until("every node to settle under the layout", limit, || async {
        let mut held = None;
        for node in &nodes {
            let settled =
                ["kvs_slots_fetching", "kvs_slots_kept"].iter().all(|f| cluster_info_field(node, f) == Some(0));
            held = Some(held_layout(node).await.filter(|l| settled && l.owners_per_slot() == factor as usize)?);
        }
        held
    })
    .await;
    (dirs, nodes, held)
}
