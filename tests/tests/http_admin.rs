//! The HTTP admin port (`--http-port`): /metrics, /health, /ready, /status and /cluster, and the
//! credentials it asks for, against real nodes.

use kvs_tests::http::{get, sample};
use kvs_tests::{start_chain, wait_for_alive_members, wait_until, NodeProcess};
use redis::Commands;
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

const CONVERGE: Duration = Duration::from_secs(30);

#[tokio::test]
async fn metrics_count_requests_by_protocol_command_and_outcome() {
    let node = NodeProcess::start(None, &["--http-port", "0", "--redis-port", "0"]);
    let mut client = node.client().await;
    client.set("a", "1").await.unwrap();
    client.set("b", "2").await.unwrap();
    assert_eq!(client.get("a").await.unwrap().as_deref(), Some(&b"1"[..]));
    let mut resp = node.resp();
    let _: i64 = resp.incr("counter", 5).unwrap();
    let refused: redis::RedisResult<String> = redis::cmd("NOSUCH").query(&mut resp);
    assert!(refused.is_err());

    // A new cluster's first node opens its gates at its first tick.
    let newest = f64::from(kvs_proto::PROTOCOL_VERSION);
    let metrics = wait_until("the cluster version to rise", Duration::from_secs(30), || async {
        let metrics = get(&node.http_url("/metrics"), None);
        (sample(&metrics.body, "kvs_cluster_version") == Some(newest)).then_some(metrics)
    })
    .await;
    assert_eq!(metrics.status, 200);
    let body = &metrics.body;
    let count = |name: &str| sample(body, name).unwrap_or_else(|| panic!("{name} missing from:\n{body}"));
    assert_eq!(count(r#"kvs_requests_total{protocol="native",command="set",outcome="ok"}"#), 2.0);
    assert_eq!(count(r#"kvs_requests_total{protocol="native",command="get",outcome="ok"}"#), 1.0);
    assert_eq!(count(r#"kvs_requests_total{protocol="resp",command="incrby",outcome="ok"}"#), 1.0);
    assert_eq!(count(r#"kvs_requests_total{protocol="resp",command="unknown",outcome="error"}"#), 1.0);
    assert_eq!(count("kvs_keys"), 3.0);
    assert_eq!(count(r#"kvs_members{state="alive"}"#), 1.0);
    assert_eq!(count("kvs_log_ok"), 1.0);
    assert_eq!(count(r#"kvs_request_duration_seconds_count{protocol="native"}"#), 3.0);
    assert_eq!(count(r#"kvs_request_duration_seconds_bucket{le="+Inf",protocol="native"}"#), 3.0);
    assert!(body.ends_with("# EOF\n"), "an OpenMetrics exposition ends with # EOF");
}

#[tokio::test]
async fn status_health_and_ready_on_a_serving_node() {
    let node = NodeProcess::start(None, &["--http-port", "0"]);
    node.client().await.set("k", "v").await.unwrap();
    let health = get(&node.http_url("/health"), None);
    assert_eq!((health.status, health.body.as_str()), (200, "ok\n"));
    assert_eq!(get(&node.http_url("/ready"), None).status, 200);

    let status = get(&node.http_url("/status"), None);
    assert_eq!(status.status, 200);
    let json: serde_json::Value = serde_json::from_str(&status.body).unwrap();
    let native = node.status().await.unwrap();
    assert_eq!(json["node_id"], native.node_id);
    assert_eq!(json["key_count"], 1);
    assert_eq!(json["keys"], serde_json::json!(["k"]));
    assert_eq!(json["digest"], native.digest);

    let page = get(&node.http_url("/"), None);
    assert_eq!(page.status, 200);
    assert!(page.body.contains("<title>kvs cluster</title>") && page.body.contains("fetch(\"/cluster\""));
    assert!(
        !page.body.contains("http://") && !page.body.contains("https://"),
        "the page fetches nothing from elsewhere"
    );
    assert_eq!(get(&node.http_url("/nowhere"), None).status, 404);
}

#[tokio::test]
async fn ready_waits_for_the_join_while_health_stays_up() {
    // A bootstrap address where nothing listens: the node serves but never joins.
    let nowhere = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let node = NodeProcess::start(Some(nowhere), &["--http-port", "0"]);
    let ready = get(&node.http_url("/ready"), None);
    assert_eq!(ready.status, 503);
    assert!(ready.body.contains(&format!("joining the cluster through {nowhere}")), "{}", ready.body);
    assert_eq!(get(&node.http_url("/health"), None).status, 200);
}

#[tokio::test]
async fn with_users_every_view_but_health_and_ready_needs_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let users = dir.path().join("users");
    std::fs::write(&users, "root admin rootpw\nreader read readerpw\n").unwrap();
    std::fs::set_permissions(&users, std::fs::Permissions::from_mode(0o600)).unwrap();
    let node = NodeProcess::start(None, &["--http-port", "0", "--users-file", users.to_str().unwrap()]);
    for path in ["/", "/metrics", "/status", "/cluster", "/history", "/assets/uplot.min.js"] {
        let refused = get(&node.http_url(path), None);
        assert_eq!(refused.status, 401, "{path} without credentials");
        assert!(
            refused.challenge.as_deref().is_some_and(|c| c.starts_with("Basic ")),
            "{path} asks for Basic credentials"
        );
        assert_eq!(get(&node.http_url(path), Some(("reader", "wrong"))).status, 401, "{path} with a wrong password");
        assert_eq!(get(&node.http_url(path), Some(("reader", "readerpw"))).status, 200, "{path} as a reader");
    }
    assert_eq!(get(&node.http_url("/health"), None).status, 200);
    assert_eq!(get(&node.http_url("/ready"), None).status, 200);
}

#[tokio::test]
async fn cluster_view_asks_every_member() {
    let nodes = start_chain(3, &["--http-port", "0"]);
    wait_for_alive_members(&nodes, 3, CONVERGE).await;
    nodes[0].client().await.set("shared", "x").await.unwrap();
    let url = nodes[2].http_url("/cluster");
    let found: serde_json::Value = wait_until("the cluster view to agree", CONVERGE, || async {
        let json: serde_json::Value = serde_json::from_str(&get(&url, None).body).ok()?;
        (json["verdict"] == "in_sync").then_some(json)
    })
    .await;
    let members = found["nodes"].as_array().unwrap();
    assert_eq!(members.len(), 3);
    for member in members {
        assert_eq!(member["status"]["key_count"], 1, "{member}");
    }
    let metrics = get(&nodes[1].http_url("/metrics"), None).body;
    assert_eq!(sample(&metrics, r#"kvs_members{state="alive"}"#), Some(3.0));
    let origin = nodes[0].status().await.unwrap().node_id;
    let named = format!(r#"kvs_origin_applied_sequence{{origin="{origin}",node="{origin}"}}"#);
    let applied = sample(&metrics, &named);
    assert!(applied.is_some_and(|seq| seq >= 1.0), "node 1 applied node 0's write: {metrics}");
}

#[tokio::test]
async fn the_history_view_has_every_members_samples_asked_as_a_member() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("secret");
    std::fs::write(&secret, "the secret of this cluster\n").unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    let flags = ["--http-port", "0", "--history-step-ms", "100", "--cluster-secret-file", secret.to_str().unwrap()];
    let nodes = start_chain(3, &flags);
    wait_for_alive_members(&nodes, 3, CONVERGE).await;
    let mut client = nodes[0].client().await;
    for i in 0..20 {
        client.set(format!("key-{i}"), "v").await.unwrap();
    }
    let url = nodes[2].http_url("/history");
    // Every member's latest sample holds the 20 keys, and the writer's counts its 20 writes.
    let view: serde_json::Value = wait_until("every member's history to show the writes", CONVERGE, || async {
        let view: serde_json::Value = serde_json::from_str(&get(&url, None).body).ok()?;
        let members = view["members"].as_array()?;
        let latest = |m: &serde_json::Value| m["samples"].as_array()?.last().cloned();
        let done = members.len() == 3 && members.iter().all(|m| latest(m).is_some_and(|s| s["keys"] == 20));
        done.then_some(view)
    })
    .await;
    let members = view["members"].as_array().unwrap();
    assert_eq!(members[0]["addr"], nodes[2].addr.to_string(), "the node asked comes first");
    let writer = members.iter().find(|m| m["addr"] == nodes[0].addr.to_string()).expect("the writer is listed");
    assert!(writer["samples"].as_array().unwrap().last().unwrap()["writes"].as_u64() >= Some(20), "{writer}");
    for member in members {
        assert!(member["error"].is_null(), "{member}");
        let samples = member["samples"].as_array().unwrap();
        assert!(samples.len() >= 2, "{member}");
        assert_eq!(member["behind"].as_array().unwrap().len(), samples.len(), "{member}");
        // Caught up by the last sample: nothing any member had applied before it is missing.
        assert_eq!(member["behind"].as_array().unwrap().last().unwrap(), 0, "{member}");
    }
    // The replicas measured how long the pushes took to arrive.
    let replica = members.iter().find(|m| m["addr"] == nodes[1].addr.to_string()).unwrap();
    let lag = replica["samples"].as_array().unwrap().iter().map(|s| s["lag_ms_max"].as_u64().unwrap());
    assert!(lag.clone().count() > 0 && lag.max() < Some(10_000), "{replica}");
    assert_eq!(view["step_ms"], 100);
}

#[tokio::test]
async fn metrics_report_the_log_and_its_fsyncs() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let node = NodeProcess::start(None, &["--http-port", "0", "--data-dir", data, "--fsync", "always"]);
    node.client().await.set("durable", "yes").await.unwrap();
    let metrics = get(&node.http_url("/metrics"), None).body;
    assert!(sample(&metrics, "kvs_log_bytes").is_some_and(|bytes| bytes > 0.0), "{metrics}");
    assert!(sample(&metrics, "kvs_log_fsyncs_total").is_some_and(|n| n >= 1.0), "{metrics}");
    assert!(sample(&metrics, "kvs_log_fsync_seconds_total").is_some_and(|s| s > 0.0), "{metrics}");
}

#[tokio::test]
async fn every_replication_counter_is_in_status_metrics_and_info() {
    let flags = ["--http-port", "0", "--redis-port", "0"];
    let nodes = start_chain(2, &flags);
    wait_for_alive_members(&nodes, 2, CONVERGE).await;
    // A write made before node 0's link to node 1 streams is left to anti-entropy, never pushed:
    // write until one is (alive in the member list does not mean the link is up yet).
    wait_until("a write to be pushed", CONVERGE, || async {
        nodes[0].client().await.set("k", "v").await.ok()?;
        let pushed = nodes[0].status().await.ok()?.replication.push_entries_sent;
        (pushed >= 1).then_some(())
    })
    .await;
    let status = nodes[0].status().await.unwrap().replication;
    let metrics = get(&nodes[0].http_url("/metrics"), None).body;
    let info: String = redis::cmd("INFO").arg("replication").query(&mut nodes[0].resp()).unwrap();
    let in_info = |name: &str| info.lines().find_map(|line| line.strip_prefix(&format!("kvs_{name}:"))?.parse().ok());
    let rows = status.rows();
    for (name, _, value) in rows {
        let exported = sample(&metrics, &format!("kvs_{name}_total"));
        assert!(exported.is_some_and(|m| m >= value as f64), "{name} missing from /metrics or behind status");
        let reported: Option<u64> = in_info(name);
        assert!(reported.is_some_and(|i| i >= value), "{name} missing from INFO or behind status:\n{info}");
    }
    assert!(in_info("push_entries_sent").is_some_and(|pushed| pushed >= 1), "a counter that moved shows it");
}

#[tokio::test]
async fn with_a_data_dir_each_origin_is_named_by_its_node() {
    let dirs: Vec<tempfile::TempDir> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let flags = |i: usize| {
        vec!["--http-port".to_string(), "0".into(), "--data-dir".into(), dirs[i].path().display().to_string()]
    };
    let first = NodeProcess::start(None, &flags(0).iter().map(String::as_str).collect::<Vec<_>>());
    let second = NodeProcess::start(Some(first.addr), &flags(1).iter().map(String::as_str).collect::<Vec<_>>());
    let nodes = [first, second];
    wait_for_alive_members(&nodes, 2, CONVERGE).await;
    nodes[0].client().await.set("k", "v").await.unwrap();
    let writer = nodes[0].status().await.unwrap().node_id;
    // The writer's origin is this run's, not its node id: the label says whose it is.
    let applied = wait_until("node 1 to name node 0's origin", CONVERGE, || async {
        let metrics = get(&nodes[1].http_url("/metrics"), None).body;
        let line = metrics.lines().find(|l| l.starts_with("kvs_origin_applied_sequence") && l.contains(&writer))?;
        let seq: f64 = line.rsplit(' ').next()?.parse().ok()?;
        (seq >= 1.0).then(|| line.to_string())
    })
    .await;
    assert!(applied.contains(&format!(r#"node="{writer}""#)), "{applied}");
    assert!(!applied.contains(&format!(r#"origin="{writer}""#)), "a durable node's origin is not its id: {applied}");
}

#[tokio::test]
async fn collections_and_their_elements_are_counted_by_type_on_every_node() {
    let nodes = start_chain(2, &["--http-port", "0", "--redis-port", "0"]);
    wait_for_alive_members(&nodes, 2, CONVERGE).await;
    kvs_tests::wait_for_open_gates(&nodes, CONVERGE).await;
    let mut writer = nodes[0].resp();
    let run = |c: &mut redis::Connection, args: &[&str]| -> i64 {
        let mut command = redis::cmd(args[0]);
        command.arg(&args[1..]);
        command.query(c).unwrap_or_else(|e| panic!("{args:?}: {e}"))
    };
    run(&mut writer, &["HSET", "h1", "a", "1", "b", "2"]);
    run(&mut writer, &["HSET", "h2", "a", "1"]);
    run(&mut writer, &["SADD", "s", "x", "y", "z"]);
    run(&mut writer, &["ZADD", "z", "1", "m"]);
    run(&mut writer, &["SREM", "s", "z"]);
    run(&mut writer, &["DEL", "h2"]);
    let _: () = redis::cmd("SET").arg("plain").arg("v").query(&mut writer).unwrap();
    // Both nodes: the writer, and the one that applied the writes replicated.
    for node in &nodes {
        let metrics = wait_until("the collection counts", CONVERGE, || async {
            let body = get(&node.http_url("/metrics"), None).body;
            (sample(&body, r#"kvs_collection_elements{type="zset"}"#) == Some(1.0)
                && sample(&body, r#"kvs_collections{type="hash"}"#) == Some(1.0))
            .then_some(body)
        })
        .await;
        let count = |name: &str| sample(&metrics, name).unwrap_or_else(|| panic!("{name} missing from:\n{metrics}"));
        assert_eq!(count(r#"kvs_collections{type="set"}"#), 1.0);
        assert_eq!(count(r#"kvs_collection_elements{type="hash"}"#), 2.0);
        assert_eq!(count(r#"kvs_collection_elements{type="set"}"#), 2.0);
        assert_eq!(count("kvs_keys"), 4.0, "h1, s, z and plain");
        let info: String = redis::cmd("INFO").arg("keyspace").query(&mut node.resp()).unwrap();
        for line in ["kvs_hash:keys=1,elements=2", "kvs_set:keys=1,elements=2", "kvs_zset:keys=1,elements=1"] {
            assert!(info.contains(line), "{line} missing from:\n{info}");
        }
    }
}
