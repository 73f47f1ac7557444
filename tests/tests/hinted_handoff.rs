//! Hints (issue 30; docs/partitioning.md, "Owners that are down"): while an owner is down, the writes of its
//! slots are kept also by a stand-in, a member that does not own them, and handed to the owner
//! when it returns. So a write taken while one owner is down survives the loss of the owner that
//! took it: three nodes at N = 2, one owner killed, writes taken by its co-owner, which is then
//! killed for good; the first owner returns and gets every write from the stand-in alone.

use kvs_proto::slot::slot_of;
use kvs_tests::layouts::{cluster_info_field, durable_nodes_under_layout};
use kvs_tests::wait::wait_until;
use kvs_tests::NodeProcess;
use std::time::Duration;

const CONVERGE: Duration = Duration::from_secs(60);
const KEYS: usize = 200;

#[tokio::test]
async fn writes_taken_while_an_owner_is_down_reach_it_through_the_stand_in_though_their_taker_is_lost() {
    let (_dirs, mut nodes, held) = durable_nodes_under_layout(3, 2, CONVERGE).await;
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
        (cluster_info_field(&nodes[0], "kvs_owners_down")? == 1).then_some(())
    })
    .await;
    wait_until("the third node to stand in", CONVERGE, || async {
        (cluster_info_field(&nodes[2], "kvs_standing_in")? == 1).then_some(())
    })
    .await;
    let taking = &mut nodes[0].resp();
    for key in &keys {
        let () = redis::cmd("SET").arg(key).arg(key.to_uppercase()).query(taking).unwrap();
    }
    wait_until("the stand-in to keep every write as a hint", CONVERGE, || async {
        (cluster_info_field(&nodes[2], "kvs_hints_held")? == KEYS as u64).then_some(())
    })
    .await;
    assert_eq!(nodes[2].status().await.unwrap().key_count, 0, "a stand-in serves none of it: hints only");

    // The taker is lost for good; the owner returns, and its only source is the stand-in.
    nodes[0].kill();
    let through = nodes[2].addr;
    let returned = std::time::Instant::now();
    nodes[1].restart(Some(through));
    wait_until("the owner to hold every write its co-owner took", CONVERGE, || async {
        (nodes[1].status().await.ok()?.key_count == KEYS as u64).then_some(())
    })
    .await;
    eprintln!("the returned owner held the {KEYS} hinted writes {:?} after its restart", returned.elapsed());
    let reading = &mut nodes[1].resp();
    for key in &keys {
        let value: String = redis::cmd("GET").arg(key).query(reading).unwrap();
        assert_eq!(value, key.to_uppercase(), "{key}");
    }
    wait_until("the stand-in to drop the hints handed over", CONVERGE, || async {
        let handed = cluster_info_field(&nodes[2], "kvs_hints_handed_over")?;
        (cluster_info_field(&nodes[2], "kvs_hints_held")? == 0 && handed == KEYS as u64).then_some(())
    })
    .await;
}
