//! A node whose clock is wrong: measured by its peers, and refusing writes that could not replicate.

use kvs_client::{ClientError, ErrorCode};
use kvs_tests::{wait_for_alive_members, wait_until, NodeProcess};
use std::time::Duration;

const CONVERGE: Duration = Duration::from_secs(30);

/// Five minutes ahead, beyond the default 60 s `--max-clock-skew-ms`.
const AHEAD_MS: i64 = 300_000;

/// `node`'s status once it reports a problem (its clock, in these tests), waited for.
async fn clock_problem(node: &NodeProcess) -> kvs_client::StatusReport {
    wait_until("the node to report its clock", CONVERGE, || async {
        let status = node.status().await.ok()?;
        (!status.problems.is_empty()).then_some(status)
    })
    .await
}

#[tokio::test]
async fn a_node_with_its_clock_five_minutes_ahead_refuses_writes_and_says_why() {
    let first = NodeProcess::start(None, &[]);
    let second = NodeProcess::start(Some(first.addr), &[]);
    let offset = AHEAD_MS.to_string();
    let skewed = NodeProcess::start(Some(second.addr), &["--fault-clock-offset-ms", &offset]);
    let nodes = [first, second, skewed];
    wait_for_alive_members(&nodes, 3, CONVERGE).await;
    let [first, second, skewed] = &nodes;

    // The skewed node works out that it is the one out of step, and reports itself unhealthy.
    let status = clock_problem(skewed).await;
    assert!((status.clock_skew_ms - AHEAD_MS).abs() < 1_000, "{status:?}");
    assert!(status.problems[0].contains("300 s ahead of its peers"), "{:?}", status.problems);

    // Its writes are refused with the reason, never acknowledged.
    let refused = skewed.client().await.set("k", "from the skewed node").await.unwrap_err();
    match refused {
        ClientError::Server(reply) => {
            assert_eq!(reply.code, ErrorCode::ClockSkew);
            assert!(reply.message.contains("300 s ahead of its peers"), "{}", reply.message);
        }
        other => panic!("expected a refusal, got {other}"),
    }

    // The others see its offset, stay healthy, and keep taking writes, which reach every node.
    for node in [first, second] {
        let status = node.status().await.unwrap();
        assert!(status.problems.is_empty(), "{:?}", status.problems);
        assert!(status.clock_skew_ms.abs() < 1_000, "{}", status.clock_skew_ms);
        let seen = wait_until("the skewed node's offset to be measured", CONVERGE, || async {
            let status = node.status().await.ok()?;
            status.members.iter().find(|m| m.addr == skewed.addr.to_string())?.clock_offset_ms
        })
        .await;
        assert!((seen - AHEAD_MS).abs() < 1_000, "measured {seen} ms");
    }
    first.client().await.set("k", "from a healthy node").await.unwrap();
    for node in &nodes {
        node.wait_for_value("k", Some("from a healthy node"), CONVERGE).await;
    }
}

#[tokio::test]
async fn a_node_with_its_clock_five_minutes_behind_keeps_up_with_its_peers_and_is_drained() {
    let first = NodeProcess::start(None, &[]);
    first.client().await.set("before", "it joined").await.unwrap();
    let second = NodeProcess::start(Some(first.addr), &[]);
    let offset = (-AHEAD_MS).to_string();
    let lagging = NodeProcess::start(
        Some(second.addr),
        &["--fault-clock-offset-ms", &offset, "--redis-port", "0", "--http-port", "0"],
    );
    let nodes = [first, second, lagging];
    wait_for_alive_members(&nodes, 3, CONVERGE).await;
    let [first, _, lagging] = &nodes;
    let status = clock_problem(lagging).await;
    assert!(status.problems[0].contains("300 s behind its peers"), "{:?}", status.problems);

    // It takes its peers' writes, pushed and through anti-entropy, so its reads stay current.
    first.client().await.set("after", "it lagged").await.unwrap();
    lagging.wait_for_value("before", Some("it joined"), CONVERGE).await;
    lagging.wait_for_value("after", Some("it lagged"), CONVERGE).await;
    // Its own writes are refused; a load balancer sees it is not ready; INFO says why.
    let refused = lagging.client().await.set("k", "from the lagging node").await.unwrap_err();
    assert!(matches!(refused, ClientError::Server(reply) if reply.code == ErrorCode::ClockSkew));
    let ready = kvs_tests::http::get(&lagging.http_url("/ready"), None);
    assert_eq!(ready.status, 503, "{}", ready.body);
    assert!(ready.body.contains("300 s behind its peers"), "{}", ready.body);
    let info: String = kvs_tests::resp::run(&mut lagging.resp(), &["INFO", "server"]);
    assert!(info.contains("kvs_clock_status:this node's clock is 300 s behind"), "{info}");
}
