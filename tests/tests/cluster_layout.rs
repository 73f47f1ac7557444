//! `kvs-client cluster plan` and `cluster apply` against real nodes: a layout applied on one node
//! becomes every member's, a node joining later learns it, and a durable node keeps it across a
//! restart (issue 30, step 2; docs/partitioning.md).

use kvs_client::{Client, LayoutChange};
use kvs_tests::wait::wait_until;
use kvs_tests::{wait_for_open_gates, NodeProcess};
use serde_json::Value;
use std::time::Duration;

const CONVERGE: Duration = Duration::from_secs(30);

fn json(output: &std::process::Output) -> Value {
    assert!(output.status.success(), "kvs-client failed: {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).expect("one JSON object")
}

/// The epoch and applier of the layout `node` holds (`None`: none).
async fn held(node: &NodeProcess) -> Option<(u64, String)> {
    let mut client = Client::connect(&node.addr.to_string()).await.ok()?;
    let plan = client.cluster_plan(LayoutChange::default()).await.ok()?;
    plan.current.map(|layout| (layout.version.epoch, layout.version.applied_by.to_string()))
}

#[tokio::test]
async fn a_layout_applied_on_one_node_is_every_members_and_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let durable = ["--data-dir", dir.path().to_str().unwrap()];
    let a = NodeProcess::start(None, &durable);
    let b = NodeProcess::start(Some(a.addr), &[]);
    let c = NodeProcess::start(Some(a.addr), &[]);
    let three = [a, b, c];
    wait_for_open_gates(&three, CONVERGE).await;
    let [mut a, b, c] = three;

    // 300 keys to count: each member holds them all now, and two copies of each after.
    let mut writer = a.client().await;
    for i in 0..300 {
        writer.set(format!("key:{i}"), "value").await.unwrap();
    }
    for node in [&a, &b, &c] {
        node.wait_for_value("key:299", Some("value"), CONVERGE).await;
    }

    // The plan: no layout yet, so every member owns every slot and, with two owners a slot,
    // each keeps about two thirds of them; nothing is applied.
    let plan = json(&b.cli(&["cluster", "plan", "--replication-factor", "2", "--json"]));
    assert_eq!(plan["current"], Value::Null);
    assert_eq!(plan["proposed"]["members"].as_array().unwrap().len(), 3);
    let moves = plan["moves"].as_array().unwrap();
    assert_eq!(moves.len(), 3);
    for member in moves {
        assert_eq!(member["before"], 16384);
        let after = member["after"].as_u64().unwrap();
        assert!((10_000..=11_900).contains(&after), "{member}");
        assert_eq!(member["loses"].as_u64().unwrap(), 16384 - after);
        assert_eq!(member["keys_before"], 300);
        assert!(member["bytes_after"].as_u64().unwrap() < member["bytes_before"].as_u64().unwrap());
    }
    let total = |field: &str| moves.iter().map(|m| m[field].as_u64().unwrap()).sum::<u64>();
    assert_eq!(total("after"), 2 * 16384, "two owners for every slot");
    assert_eq!(total("keys_after"), 2 * 300, "two copies of every key");
    assert_eq!(held(&a).await, None, "a plan changes nothing");

    // A weight for an address no member serves at is refused, with why.
    let refused = b.cli(&["cluster", "plan", "--weight", "127.0.0.1:1=2"]);
    assert_eq!(refused.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("no member alive serves at 127.0.0.1:1"));

    let applied = b.cli(&["cluster", "apply", "--replication-factor", "2"]);
    assert!(applied.status.success(), "{}", String::from_utf8_lossy(&applied.stderr));
    assert!(String::from_utf8_lossy(&applied.stdout).contains("applied layout: epoch 1, replication factor 2"));
    let b_id = b.status().await.unwrap().node_id;
    for node in [&a, &b, &c] {
        let wanted = Some((1, b_id.clone()));
        wait_until("every member to adopt the layout", CONVERGE, || async {
            (held(node).await == wanted).then_some(())
        })
        .await;
    }

    // A member joining later learns it from the others.
    let d = NodeProcess::start(Some(c.addr), &[]);
    wait_until("the new member to learn the layout", CONVERGE, || async {
        (held(&d).await == Some((1, b_id.clone()))).then_some(())
    })
    .await;

    // The durable node restarted alone has it from its data dir.
    drop((b, c, d));
    a.restart(None);
    assert_eq!(held(&a).await, Some((1, b_id)));
}
