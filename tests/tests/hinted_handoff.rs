//! Hints (issue 30; docs/partitioning.md, "Owners that are down"): while an owner is down, the writes of its
//! slots are kept also by a stand-in, a member that does not own them, and handed to the owner
//! when it returns. So a write taken while one owner is down survives the loss of the owner that
//! took it: three nodes at N = 2, one owner killed, writes taken by its co-owner, which is then
//! killed for good; the first owner returns and gets every write from the stand-in alone.

use kvs_proto::layout::Layout;
use kvs_proto::slot::slot_of;
use kvs_tests::wait::wait_until;
use kvs_tests::{wait_for_open_gates, NodeProcess, FAST_FAILURE_DETECTION};
use std::time::Duration;

const CONVERGE: Duration = Duration::from_secs(60);
const KEYS: usize = 200;

/// The INFO cluster field `name` of `node`.
fn info_field(node: &NodeProcess, name: &str) -> Option<u64> {
    let info: String = redis::cmd("INFO").arg("cluster").query(&mut node.resp()).ok()?;
    let line = info.lines().find_map(|line| line.strip_prefix(&format!("{name}:")))?;
    line.trim().parse().ok()
}

/// The layout `node` holds.
async fn layout(node: &NodeProcess) -> Option<Layout> {
    node.client().await.cluster_plan(kvs_proto::LayoutChange::default()).await.ok()?.current
}

#[tokio::test]
async fn writes_taken_while_an_owner_is_down_reach_it_through_the_stand_in_though_their_taker_is_lost() {
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut nodes: Vec<NodeProcess> = Vec::new();
    for dir in &dirs {
        let mut flags = vec!["--redis-port", "0", "--data-dir", dir.path().to_str().unwrap()];
        flags.extend(FAST_FAILURE_DETECTION);
        nodes.push(NodeProcess::start(nodes.first().map(|n| n.addr), &flags));
    }
    wait_for_open_gates(&nodes, CONVERGE).await;
    let applied = nodes[0].cli(&["cluster", "apply", "--replication-factor", "2"]);
    assert!(applied.status.success(), "{}", String::from_utf8_lossy(&applied.stderr));
    let held = wait_until("every node to settle under the layout", CONVERGE, || async {
        let mut held = None;
        for node in &nodes {
            let settled = info_field(node, "kvs_slots_fetching")? == 0 && info_field(node, "kvs_slots_kept")? == 0;
            held = Some(layout(node).await.filter(|l| settled && l.owners_per_slot() == 2)?);
        }
        held
    })
    .await;
    let id = |node: &NodeProcess| held.members.iter().find(|m| m.addr == node.addr).expect("a member").node;
    let (taker, owner) = (id(&nodes[0]), id(&nodes[1]));
    // Keys of the slots the first two nodes own, whose stand-in is then the third.
    let table = held.table();
    let keys: Vec<String> = (0..)
        .map(|i| format!("hinted:{i}"))
        .filter(|key| {
            let owners = &table[usize::from(slot_of(key.as_bytes()))];
            owners.contains(&taker) && owners.contains(&owner)
        })
        .take(KEYS)
        .collect();

    // The second node dies; once the others hold it down, the third stands in for it.
    nodes[1].kill();
    wait_until("the taker to hold the owner down", CONVERGE, || async {
        (info_field(&nodes[0], "kvs_owners_down")? == 1).then_some(())
    })
    .await;
    wait_until("the third node to stand in", CONVERGE, || async {
        (info_field(&nodes[2], "kvs_standing_in")? == 1).then_some(())
    })
    .await;
    let taking = &mut nodes[0].resp();
    for key in &keys {
        let () = redis::cmd("SET").arg(key).arg(key.to_uppercase()).query(taking).unwrap();
    }
    wait_until("the stand-in to keep every write as a hint", CONVERGE, || async {
        (info_field(&nodes[2], "kvs_hints_held")? == KEYS as u64).then_some(())
    })
    .await;
    assert_eq!(nodes[2].status().await.unwrap().key_count, 0, "a stand-in serves none of it: hints only");

    // The taker is lost for good; the owner returns, and its only source is the stand-in.
    nodes[0].kill();
    let through = nodes[2].addr;
    nodes[1].restart(Some(through));
    wait_until("the owner to hold every write its co-owner took", CONVERGE, || async {
        (nodes[1].status().await.ok()?.key_count == KEYS as u64).then_some(())
    })
    .await;
    let reading = &mut nodes[1].resp();
    for key in &keys {
        let value: String = redis::cmd("GET").arg(key).query(reading).unwrap();
        assert_eq!(value, key.to_uppercase(), "{key}");
    }
    wait_until("the stand-in to drop the hints handed over", CONVERGE, || async {
        let handed = info_field(&nodes[2], "kvs_hints_handed_over")?;
        (info_field(&nodes[2], "kvs_hints_held")? == 0 && handed == KEYS as u64).then_some(())
    })
    .await;
}
