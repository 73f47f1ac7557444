//! The cluster client: learns the members from a seed, pools connections, and fails over.

use kvs_client::{ClientOptions, ClusterClient};
use kvs_tests::{start_chain, wait_for_alive_members};
use std::sync::Arc;
use std::time::Duration;

const CONVERGE: Duration = Duration::from_secs(30);

#[tokio::test]
async fn it_learns_the_members_from_one_seed_and_fails_over_when_its_node_dies() {
    let mut nodes = start_chain(3, &kvs_tests::FAST_FAILURE_DETECTION);
    wait_for_alive_members(&nodes, 3, CONVERGE).await;
    let options = ClientOptions { timeout: Duration::from_secs(2), ..ClientOptions::default() };
    let seeds = vec!["127.0.0.1:1".to_string(), nodes[1].addr.to_string()];
    let cluster = ClusterClient::connect(&seeds, options).await.expect("the second seed answers");
    let mut members = cluster.members();
    members.sort();
    let mut expected: Vec<String> = nodes.iter().map(|n| n.addr.to_string()).collect();
    expected.sort();
    assert_eq!(members, expected, "learned every member from the seed");

    cluster.set("k", "before").await.unwrap();
    let serving = cluster.members()[0].clone();
    let victim = nodes.iter().position(|n| n.addr.to_string() == serving).unwrap();
    nodes[victim].kill();
    cluster.set("k", "after").await.expect("retried on another member");
    assert_ne!(cluster.members()[0], serving, "now served by a live member");
    assert_eq!(cluster.get("k").await.unwrap().as_deref(), Some(&b"after"[..]));
}

#[tokio::test]
async fn concurrent_callers_share_a_pool_of_connections() {
    let nodes = start_chain(2, &[]);
    wait_for_alive_members(&nodes, 2, CONVERGE).await;
    let cluster =
        Arc::new(ClusterClient::connect(&[nodes[0].addr.to_string()], ClientOptions::default()).await.unwrap());
    let mut tasks = Vec::new();
    for task in 0..16 {
        let cluster = cluster.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..50 {
                let key = format!("t{task}:{i}");
                cluster.set(key.clone(), "v").await.unwrap();
                assert_eq!(cluster.get(key).await.unwrap().as_deref(), Some(&b"v"[..]));
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(nodes[0].status().await.unwrap().key_count, 800);
}
