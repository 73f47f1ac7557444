//! An owner that is down (issue 30; docs/partitioning.md, "Owners that are down"): its slots
//! stay served by their other owners, which is what Redis Cluster clients are told once it is
//! dead, and a plain client's commands go to a live owner; when it returns (kill -9, restarted on
//! its data dir) it is handed every write it missed, by its co-owners.

use kvs_proto::layout::Layout;
use kvs_proto::slot::slot_of;
use kvs_tests::layouts::durable_nodes_under_layout;
use kvs_tests::wait::wait_until;
use kvs_tests::NodeProcess;
use std::time::{Duration, Instant};

const CONVERGE: Duration = Duration::from_secs(60);
const KEYS: usize = 600;

/// How many of `keys` `node` owns under `layout`.
fn owned(layout: &Layout, node: &NodeProcess, keys: &[String]) -> u64 {
    let id = layout.members.iter().find(|m| m.addr == node.addr).expect("a member").node;
    let table = layout.table();
    keys.iter().filter(|key| table[usize::from(slot_of(key.as_bytes()))].contains(&id)).count() as u64
}

/// The Redis ports CLUSTER SLOTS on `node` names.
fn ports_named(node: &NodeProcess) -> Option<std::collections::BTreeSet<i64>> {
    let slots: redis::Value = redis::cmd("CLUSTER").arg("SLOTS").query(&mut node.resp()).ok()?;
    let redis::Value::Array(ranges) = slots else { return None };
    let mut ports = std::collections::BTreeSet::new();
    for range in ranges {
        let redis::Value::Array(fields) = range else { return None };
        for owner in &fields[2..] {
            let redis::Value::Array(owner) = owner else { return None };
            let redis::Value::Int(port) = owner[1] else { return None };
            ports.insert(port);
        }
    }
    Some(ports)
}

#[tokio::test]
async fn an_owner_down_leaves_its_slots_served_and_is_handed_what_it_missed_when_it_returns() {
    let (_dirs, mut nodes, held) = durable_nodes_under_layout(3, 2, CONVERGE).await;

    // The third node dies. Once the others hold it dead, Redis Cluster clients are told of the
    // two live ones only: each of its slots by the other owner.
    let gone = nodes[2].redis().port();
    nodes[2].kill();
    let all: std::collections::BTreeSet<i64> = nodes[..2].iter().map(|n| i64::from(n.redis().port())).collect();
    for node in &nodes[..2] {
        wait_until("the dead owner to be left out of CLUSTER SLOTS", CONVERGE, || async {
            (ports_named(node)? == all).then_some(())
        })
        .await;
    }
    let urls: Vec<String> = nodes[..2].iter().map(|n| format!("redis://{}", n.redis())).collect();
    let mut cluster = redis::cluster::ClusterClient::new(urls).unwrap().get_connection().unwrap();
    let mut keys: Vec<String> = (0..KEYS).map(|i| format!("key:{i}")).collect();
    for (i, key) in keys.iter().enumerate() {
        let () = redis::cmd("SET").arg(key).arg(i).query(&mut cluster).unwrap();
    }
    // A plain client of the first node: what it does not own goes to the live co-owner.
    let plain = &mut nodes[0].resp();
    for i in 0..100 {
        let key = format!("plain:{i}");
        let () = redis::cmd("SET").arg(&key).arg(i).query(plain).unwrap();
        keys.push(key);
    }
    assert!(
        owned(&held, &nodes[2], &keys) > keys.len() as u64 / 2,
        "the dead node owns most of what was written while it was down"
    );

    // It returns on its data dir and is handed every write it missed.
    let returned = Instant::now();
    let through = nodes[0].addr;
    nodes[2].restart(Some(through));
    assert_ne!(nodes[2].redis().port(), gone, "a new Redis port, learned by the others");
    let wanted = owned(&held, &nodes[2], &keys);
    wait_until("the returned owner to hold every key it owns", CONVERGE, || async {
        (nodes[2].status().await.ok()?.key_count == wanted).then_some(())
    })
    .await;
    eprintln!("the returned owner held its {wanted} keys {:?} after its restart", returned.elapsed());
    let c = &mut nodes[2].resp();
    let _: redis::Value = redis::cmd("CLUSTER").arg("SLOTS").query(c).unwrap();
    let mut mine = 0;
    for key in &keys {
        let value: Result<String, _> = redis::cmd("GET").arg(key).query(c);
        match value {
            Ok(value) => {
                assert_eq!(value, key.rsplit(':').next().unwrap(), "{key}");
                mine += 1;
            }
            Err(error) => assert!(error.to_string().contains("Moved"), "{key}: {error}"),
        }
    }
    assert_eq!(mine, wanted, "it serves each of its own keys itself");
}
