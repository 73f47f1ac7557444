//! The kvs-client command line contract: output and exit codes.

use kvs_tests::binaries::binary;
use kvs_tests::NodeProcess;
use std::process::{Command, Output};

fn cli(node: &NodeProcess, args: &[&str]) -> std::process::Output {
    node.cli(args)
}

#[tokio::test]
async fn get_set_delete_status_and_exit_codes() {
    let node = NodeProcess::start(None, &[]);

    let set = cli(&node, &["set", "mykey", "myvalue"]);
    assert_eq!((set.status.code(), &set.stdout[..]), (Some(0), &b"OK\n"[..]));

    let get = cli(&node, &["get", "mykey"]);
    assert_eq!((get.status.code(), &get.stdout[..]), (Some(0), &b"myvalue\n"[..]));

    let missing = cli(&node, &["get", "nokey"]);
    assert_eq!(missing.status.code(), Some(1));
    assert_eq!(String::from_utf8_lossy(&missing.stderr).trim(), "not found");

    let usage = cli(&node, &["frobnicate"]);
    assert_eq!(usage.status.code(), Some(2));
    let said = String::from_utf8_lossy(&usage.stderr);
    assert!(said.contains("kvs-client commands: status, shutdown, get, set, delete, check, inspect"), "{said}");

    let json = cli(&node, &["status", "--json"]);
    assert_eq!(json.status.code(), Some(0));
    let report: serde_json::Value = serde_json::from_slice(&json.stdout).expect("status --json is JSON");
    assert_eq!(report["key_count"], 1);
    assert_eq!(report["addr"], node.addr.to_string());
    assert!(report["digest"].as_str().is_some_and(|d| d.len() == 32));
    let members = report["members"].as_array().expect("members array");
    assert_eq!(members.len(), 1);
    assert_eq!(members[0]["state"], "alive");
    assert!(members[0]["last_heard_ms"].is_u64());
    assert!(report["node_id"].is_string());

    let text = cli(&node, &["status"]);
    assert!(String::from_utf8_lossy(&text.stdout).contains("mykey"));

    let delete = cli(&node, &["delete", "mykey"]);
    assert_eq!(delete.status.code(), Some(0));
    assert_eq!(cli(&node, &["get", "mykey"]).status.code(), Some(1));
}

#[tokio::test]
async fn an_unreachable_node_exits_three_with_one_line() {
    // Bind then drop a listener: nothing listens on that port afterwards.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let out = Command::new(binary("kvs-client"))
        .args(["127.0.0.1", &port.to_string(), "get", "k"])
        .output()
        .expect("run kvs-client");
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(String::from_utf8_lossy(&out.stderr).trim().lines().count(), 1);
}

fn cli_raw(args: &[&str], stdin: Option<&[u8]>) -> Output {
    use std::io::Write;
    let mut command = Command::new(binary("kvs-client"));
    command.args(args).stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
    command.stdin(if stdin.is_some() { std::process::Stdio::piped() } else { std::process::Stdio::null() });
    let mut child = command.spawn().expect("run kvs-client");
    if let Some(input) = stdin {
        child.stdin.take().expect("piped stdin").write_all(input).expect("write stdin");
    }
    child.wait_with_output().expect("kvs-client output")
}

#[tokio::test]
async fn the_node_may_be_named_by_host_name_or_host_colon_port_and_a_value_read_from_stdin() {
    let node = NodeProcess::start(None, &[]);
    let port = node.addr.port().to_string();
    let joined = node.addr.to_string();
    let set = cli_raw(&["localhost", &port, "set", "k", "by name"], None);
    assert_eq!((set.status.code(), &set.stdout[..]), (Some(0), &b"OK\n"[..]), "{set:?}");
    let get = cli_raw(&[&joined, "get", "k"], None);
    assert_eq!((get.status.code(), &get.stdout[..]), (Some(0), &b"by name\n"[..]), "{get:?}");
    // A value far past what one argument may hold (128 KiB on Linux), from stdin.
    let big = vec![b'v'; 1 << 20];
    let set = cli_raw(&["--timeout", "20", &joined, "set", "big", "-"], Some(&big));
    assert_eq!(set.status.code(), Some(0), "{set:?}");
    let got = node.get("big").await.unwrap().unwrap();
    assert_eq!(got.len(), big.len());
}

#[tokio::test]
async fn pointed_at_the_redis_port_the_client_says_so_at_once() {
    let node = NodeProcess::start_with_redis();
    let redis = node.redis();
    let started = std::time::Instant::now();
    let out = cli_raw(&[&redis.ip().to_string(), &redis.port().to_string(), "get", "k"], None);
    assert_eq!(out.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("Redis-protocol port"), "{stderr}");
    assert!(started.elapsed() < std::time::Duration::from_secs(4), "not a timeout: {:?}", started.elapsed());
}

#[tokio::test]
async fn check_says_in_sync_only_when_every_member_agrees() {
    let mut nodes = kvs_tests::start_chain(3, &kvs_tests::FAST_FAILURE_DETECTION);
    kvs_tests::wait_for_alive_members(&nodes, 3, std::time::Duration::from_secs(30)).await;
    nodes[0].client().await.set("k", "v").await.unwrap();
    let all: Vec<&NodeProcess> = nodes.iter().collect();
    kvs_tests::wait_for_equal_digests(&all, std::time::Duration::from_secs(30)).await;

    let check = cli(&nodes[1], &["check"]);
    let text = String::from_utf8_lossy(&check.stdout);
    assert_eq!(check.status.code(), Some(0), "{text}");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    assert_eq!(lines[3], "in sync");
    assert!(lines[..3].iter().all(|line| line.contains("keys         1") && line.contains("alive 3")), "{text}");
    let json = cli(&nodes[1], &["check", "--json"]);
    let report: serde_json::Value = serde_json::from_slice(&json.stdout).expect("check --json is JSON");
    assert_eq!(report["verdict"], "in_sync");
    assert_eq!(report["nodes"].as_array().map(Vec::len), Some(3));

    nodes[2].kill();
    let check = cli(&nodes[0], &["check"]);
    let text = String::from_utf8_lossy(&check.stdout);
    assert_eq!(check.status.code(), Some(1), "{text}");
    assert!(text.contains("unreachable"), "{text}");
    assert_eq!(text.lines().last(), Some("members disagree"));
}

#[tokio::test]
async fn nodes_lists_more_nodes_to_try_when_the_first_does_not_answer() {
    let node = NodeProcess::start(None, &[]);
    let nobody = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().to_string();
    let nodes = format!("{nobody},{}", node.addr);
    let set = cli_raw(&["--nodes", &nodes, "set", "k", "v"], None);
    assert_eq!((set.status.code(), &set.stdout[..]), (Some(0), &b"OK\n"[..]), "{set:?}");
    assert!(String::from_utf8_lossy(&set.stderr).contains("trying the next node"));
    let get = cli_raw(&[&nobody, "--nodes", &node.addr.to_string(), "get", "k"], None);
    assert_eq!((get.status.code(), &get.stdout[..]), (Some(0), &b"v\n"[..]), "{get:?}");
}

#[tokio::test]
async fn a_redis_client_on_the_native_port_is_told_where_redis_is_served() {
    let node = NodeProcess::start_with_redis();
    let output = Command::new("redis-cli")
        .args(["-h", &node.addr.ip().to_string(), "-p", &node.addr.port().to_string(), "ping"])
        .output()
        .expect("run redis-cli");
    let said = String::from_utf8_lossy(&output.stdout);
    let redis_port = node.redis().port();
    assert!(said.contains(&format!("native port; the Redis protocol is served on port {redis_port}")), "{said}");
    // kvs's own client on the same port is unaffected.
    node.client().await.set("k", "v").await.unwrap();
}

#[test]
fn version_names_the_wire_protocols_and_the_log_format() {
    let output = Command::new(binary("kvs-node")).arg("--version").output().unwrap();
    let line = String::from_utf8_lossy(&output.stdout);
    let protocols = format!("wire protocols {} to {}", kvs_proto::OLDEST_PROTOCOL_VERSION, kvs_proto::PROTOCOL_VERSION);
    assert!(line.starts_with("kvs-node ") && line.contains(&protocols) && line.contains("log format "), "{line}");
}
