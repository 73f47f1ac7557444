//! Data held by slot owners only, against real nodes (issue 30; docs/partitioning.md,
//! "Replication per slot" and "Moving slots"): three nodes with two copies of each key hold two
//! thirds of the keys each, so the same memory per node holds half again as much as full
//! replication; every key stays readable through a Redis Cluster client; a layout that gives
//! every node every slot again has each fetch what it lacked; and a write is pushed to its slot's
//! owners only, the others told its number.

use kvs_proto::layout::Layout;
use kvs_proto::slot::slot_of;
use kvs_tests::layouts::held_layout;
use kvs_tests::wait::wait_until;
use kvs_tests::{start_chain, wait_for_open_gates, NodeProcess};
use std::time::Duration;

const CONVERGE: Duration = Duration::from_secs(60);
const KEYS: usize = 600;

/// The live keys `node` holds.
async fn count(node: &NodeProcess) -> Option<u64> {
    node.status().await.ok().map(|status| status.key_count)
}

/// How many of the test's keys each node owns under `layout`, in the order of `nodes`.
fn owned(layout: &Layout, nodes: &[NodeProcess]) -> Vec<u64> {
    let table = layout.table();
    nodes
        .iter()
        .map(|node| {
            let id = layout.members.iter().find(|m| m.addr == node.addr).expect("a member").node;
            (0..KEYS).filter(|i| table[usize::from(slot_of(format!("key:{i}").as_bytes()))].contains(&id)).count()
                as u64
        })
        .collect()
}

/// Waits until each node holds exactly the keys it owns under the layout they all hold, which
/// must have `factor` owners a slot; returns the counts.
async fn settle(nodes: &[NodeProcess], factor: usize, what: &str) -> Vec<u64> {
    wait_until(what, CONVERGE, || async {
        let held = held_layout(&nodes[0]).await?;
        if held.owners_per_slot() != factor {
            return None;
        }
        let wanted = owned(&held, nodes);
        let mut counts = Vec::new();
        for node in nodes {
            counts.push(count(node).await?);
        }
        (counts == wanted).then_some(counts)
    })
    .await
}

#[tokio::test]
async fn two_copies_of_each_key_on_three_nodes_hold_two_thirds_each_and_every_key_stays_readable() {
    let nodes = start_chain(3, &["--redis-port", "0"]);
    wait_for_open_gates(&nodes, CONVERGE).await;
    let c = &mut nodes[0].resp();
    for i in 0..KEYS {
        let () = redis::cmd("SET").arg(format!("key:{i}")).arg(i).query(c).unwrap();
    }
    for node in &nodes {
        wait_until("every node to hold every key", CONVERGE, || async {
            (count(node).await == Some(KEYS as u64)).then_some(())
        })
        .await;
    }

    let applied = nodes[1].cli(&["cluster", "apply", "--replication-factor", "2"]);
    assert!(applied.status.success(), "{}", String::from_utf8_lossy(&applied.stderr));
    let counts = settle(&nodes, 2, "each node to keep only the keys of its slots").await;
    assert_eq!(counts.iter().sum::<u64>(), 2 * KEYS as u64, "two copies of every key: {counts:?}");
    for held in &counts {
        assert!((KEYS as u64 * 55 / 100..=KEYS as u64 * 78 / 100).contains(held), "about two thirds: {counts:?}");
    }

    // Every key is read back through a Redis Cluster client, which goes to the owners.
    let urls: Vec<String> = nodes.iter().map(|n| format!("redis://{}", n.redis())).collect();
    let mut cluster = redis::cluster::ClusterClient::new(urls.clone()).unwrap().get_connection().unwrap();
    for i in 0..KEYS {
        let value: i64 = redis::cmd("GET").arg(format!("key:{i}")).query(&mut cluster).unwrap();
        assert_eq!(value, i as i64);
    }

    // Every node owns every slot again: each fetches the slots it gained.
    let applied = nodes[2].cli(&["cluster", "apply", "--replication-factor", "3"]);
    assert!(applied.status.success(), "{}", String::from_utf8_lossy(&applied.stderr));
    let counts = settle(&nodes, 3, "each node to fetch the slots it gained").await;
    assert_eq!(counts, [KEYS as u64; 3]);
    // Each serves every key itself once its fetch is done; until then a slot it fetches is sent
    // (ASK) to a member that holds it whole.
    wait_until("node 3 to serve every key itself", CONVERGE, || async {
        let plain = &mut nodes[2].resp();
        let mut read = |i: usize| redis::cmd("GET").arg(format!("key:{i}")).query::<i64>(plain);
        match (0..KEYS).try_for_each(|i| read(i).map(|value| assert_eq!(value, i as i64))) {
            Ok(()) => Some(()),
            Err(e) if e.kind() == redis::ErrorKind::Ask => None,
            Err(e) => panic!("{e}"),
        }
    })
    .await;
}

/// What `node` has pushed to its peers: entries, and frames' bytes.
async fn pushed(node: &NodeProcess) -> Option<(u64, u64)> {
    let replication = node.status().await.ok()?.replication;
    Some((replication.push_entries_sent, replication.push_bytes_sent))
}

#[tokio::test]
async fn with_one_copy_a_write_is_pushed_to_nobody_and_still_counted_everywhere() {
    let nodes = start_chain(3, &["--redis-port", "0"]);
    wait_for_open_gates(&nodes, CONVERGE).await;
    let applied = nodes[0].cli(&["cluster", "apply", "--replication-factor", "1"]);
    assert!(applied.status.success(), "{}", String::from_utf8_lossy(&applied.stderr));
    for node in &nodes {
        wait_until("the layout to reach every node", CONVERGE, || async {
            (held_layout(node).await?.owners_per_slot() == 1).then_some(())
        })
        .await;
    }

    // A Redis Cluster client writes each key on its slot's one owner. Once every node has
    // heard what the others hold, a round of writes pushes no record at all, only the numbers
    // of the writes a peer does not hold (without them, 2 records a write).
    let urls: Vec<String> = nodes.iter().map(|n| format!("redis://{}", n.redis())).collect();
    let mut cluster = redis::cluster::ClusterClient::new(urls).unwrap().get_connection().unwrap();
    let deadline = std::time::Instant::now() + CONVERGE;
    let mut written = 0;
    let bytes = loop {
        let mut before = Vec::new();
        for node in &nodes {
            before.push(pushed(node).await.unwrap());
        }
        for i in written..written + 100 {
            let () = redis::cmd("SET").arg(format!("key:{i}")).arg(i).query(&mut cluster).unwrap();
        }
        written += 100;
        let (mut entries, mut bytes) = (0, 0);
        for (node, (entries_before, bytes_before)) in nodes.iter().zip(before) {
            let (e, b) = pushed(node).await.unwrap();
            (entries, bytes) = (entries + e - entries_before, bytes + b - bytes_before);
        }
        if entries == 0 {
            break bytes;
        }
        assert!(std::time::Instant::now() < deadline, "rounds of writes kept pushing records ({entries} in the last)");
    };
    assert!(bytes > 0, "the peers were told the writes' numbers");

    // Those numbers move the peers' cursors: a WAIT for both peers after a write is answered
    // by both, though neither holds the key.
    let layout = held_layout(&nodes[0]).await.unwrap();
    let me = layout.members.iter().find(|m| m.addr == nodes[0].addr).unwrap().node;
    let table = layout.table();
    let own = (0..).map(|i| format!("own:{i}")).find(|k| table[usize::from(slot_of(k.as_bytes()))] == [me]).unwrap();
    let c = &mut nodes[0].resp();
    let () = redis::cmd("SET").arg(&own).arg("v").query(c).unwrap();
    let acknowledged: i64 = redis::cmd("WAIT").arg(2).arg(60_000).query(c).unwrap();
    assert_eq!(acknowledged, 2);

    // And every key ends on its one owner (copies kept while the layout changed are dropped once
    // the owners hold them), readable there.
    wait_until("one copy of every key", CONVERGE, || async {
        let mut holding = 0;
        for node in &nodes {
            holding += count(node).await?;
        }
        (holding == written as u64 + 1).then_some(())
    })
    .await;
    for i in 0..written {
        let value: i64 = redis::cmd("GET").arg(format!("key:{i}")).query(&mut cluster).unwrap();
        assert_eq!(value, i as i64);
    }
}
