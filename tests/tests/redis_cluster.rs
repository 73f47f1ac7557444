//! Redis Cluster clients against a kvs cluster with a layout: CLUSTER SLOTS, SHARDS, NODES,
//! INFO and MYID describe the layout's owners at their Redis ports, redis-rs's cluster client
//! and `redis-cli -c` route by them, and multi-key commands across slots are refused once the
//! key space is partitioned (issue 30; docs/partitioning.md).

use kvs_tests::resp::{assert_error, error, eventually, run};
use kvs_tests::{start_chain, wait_for_open_gates, NodeProcess};
use redis::Value;
use std::collections::BTreeSet;
use std::process::Command;
use std::time::Duration;

const CONVERGE: Duration = Duration::from_secs(30);

/// CLUSTER SLOTS as (start, end, owners' Redis ports).
fn slots(c: &mut redis::Connection) -> Vec<(i64, i64, Vec<i64>)> {
    let Value::Array(ranges) = run::<Value>(c, &["CLUSTER", "SLOTS"]) else { panic!("CLUSTER SLOTS is an array") };
    ranges
        .into_iter()
        .map(|range| {
            let Value::Array(fields) = range else { panic!("a range is an array") };
            let int = |v: &Value| match v {
                Value::Int(n) => *n,
                other => panic!("not an integer: {other:?}"),
            };
            let ports = fields[2..]
                .iter()
                .map(|owner| match owner {
                    Value::Array(owner) => int(&owner[1]),
                    other => panic!("not an owner: {other:?}"),
                })
                .collect();
            (int(&fields[0]), int(&fields[1]), ports)
        })
        .collect()
}

/// Runs `script` (commands, one per line) through `redis-cli` on `node`, following redirects
/// if `follow`.
fn redis_cli_script(node: &NodeProcess, follow: bool, script: &str) -> String {
    use std::io::Write;
    let port = node.redis().port().to_string();
    let mut args = vec!["-p", &port];
    if follow {
        args.push("-c");
    }
    let mut child = Command::new("redis-cli")
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("run redis-cli");
    child.stdin.take().unwrap().write_all(script.as_bytes()).unwrap();
    let output = child.wait_with_output().expect("redis-cli ends");
    String::from_utf8_lossy(&output.stdout).trim_end().to_string()
}

fn redis_cli(node: &NodeProcess, args: &[&str]) -> String {
    let port = node.redis().port().to_string();
    let output = Command::new("redis-cli").args(["-c", "-p", &port]).args(args).output().expect("run redis-cli");
    String::from_utf8_lossy(&output.stdout).trim_end().to_string()
}

#[tokio::test]
async fn redis_cluster_clients_route_by_the_layout() {
    let nodes = start_chain(3, &["--redis-port", "0"]);
    wait_for_open_gates(&nodes, CONVERGE).await;
    let c = &mut nodes[0].resp();
    // Without a layout a node answers as redis-server outside cluster mode.
    assert_error(c, &["CLUSTER", "SLOTS"], "cluster support disabled");
    assert_error(c, &["READONLY"], "cluster support disabled");
    assert!(run::<String>(c, &["INFO", "cluster"]).contains("cluster_enabled:0"));

    let applied = nodes[1].cli(&["cluster", "apply", "--replication-factor", "2"]);
    assert!(applied.status.success(), "{}", String::from_utf8_lossy(&applied.stderr));
    let ports: BTreeSet<i64> = nodes.iter().map(|n| i64::from(n.redis().port())).collect();
    // Every node describes every slot with its two owners, at their Redis ports, alike.
    let mut described = Vec::new();
    for node in &nodes {
        let c = &mut node.resp();
        eventually(CONVERGE, "the layout's owners at their Redis ports", || {
            let ranges = slots(c);
            let covered: i64 = ranges.iter().map(|(start, end, _)| end - start + 1).sum();
            covered == 16384 && ranges.iter().all(|(_, _, owners)| owners.len() == 2)
        });
        let ranges = slots(c);
        assert!(ranges.iter().flat_map(|(_, _, owners)| owners).all(|port| ports.contains(port)));
        described.push(ranges);
    }
    assert!(described.windows(2).all(|pair| pair[0] == pair[1]), "every node describes the same owners");
    let info: String = run(c, &["CLUSTER", "INFO"]);
    assert!(info.contains("cluster_state:ok") && info.contains("cluster_slots_assigned:16384"), "{info}");
    assert!(info.contains("cluster_known_nodes:3") && info.contains("cluster_current_epoch:1"), "{info}");
    assert!(info.contains("cluster_size:3"), "every member is some slots' first owner: {info}");
    assert!(run::<String>(c, &["INFO", "cluster"]).contains("cluster_enabled:1"));
    let nodes_text: String = run(c, &["CLUSTER", "NODES"]);
    assert_eq!(nodes_text.lines().count(), 3, "{nodes_text}");
    assert_eq!(nodes_text.lines().filter(|line| line.contains("myself,master")).count(), 1);
    let myid: String = run(c, &["CLUSTER", "MYID"]);
    let status_id = nodes[0].status().await.unwrap().node_id;
    assert!(myid.len() == 40 && myid.starts_with(&status_id), "{myid} for node {status_id}");
    let shards: Vec<Value> = run(c, &["CLUSTER", "SHARDS"]);
    assert!(!shards.is_empty());
    assert_eq!(run::<String>(c, &["READONLY"]), "OK");
    assert_eq!(run::<String>(c, &["READWRITE"]), "OK");

    // A Redis Cluster client routes every key by CLUSTER SLOTS.
    let urls: Vec<String> = nodes.iter().map(|n| format!("redis://{}", n.redis())).collect();
    let client = redis::cluster::ClusterClient::new(urls).unwrap();
    let mut cluster = client.get_connection().unwrap();
    for i in 0..200 {
        let () = redis::cmd("SET").arg(format!("key:{i}")).arg(i).query(&mut cluster).unwrap();
    }
    for i in 0..200 {
        let value: i64 = redis::cmd("GET").arg(format!("key:{i}")).query(&mut cluster).unwrap();
        assert_eq!(value, i);
    }
    // redis-cli -c, on any node.
    assert_eq!(redis_cli(&nodes[2], &["SET", "greeting", "hello"]), "OK");
    eventually(CONVERGE, "redis-cli -c to read it on another node", || {
        redis_cli(&nodes[0], &["GET", "greeting"]) == "hello"
    });

    // Once the move is done (each node said so in INFO), a slot a node does not hold is
    // redirected to its first owner, one of its own is served.
    for node in &nodes {
        eventually(CONVERGE, "every node to hold its own slots only", || {
            let info = redis_cli(node, &["INFO", "cluster"]);
            ["kvs_slots_fetching:0", "kvs_slots_kept:0"].iter().all(|field| info.contains(field))
        });
    }
    let mine = i64::from(nodes[0].redis().port());
    let owners_of = |slot: i64| described[0].iter().find(|(start, end, _)| (*start..=*end).contains(&slot)).unwrap();
    let slot_of = |c: &mut redis::Connection, key: &str| run::<i64>(c, &["CLUSTER", "KEYSLOT", key]);
    let keys: Vec<String> = (0..200).map(|i| format!("key:{i}")).collect();
    let elsewhere = keys.iter().find(|key| !owners_of(slot_of(c, key)).2.contains(&mine)).unwrap();
    let here = keys.iter().find(|key| owners_of(slot_of(c, key)).2.contains(&mine)).unwrap();
    let slot = slot_of(c, elsewhere);
    let first = owners_of(slot).2[0];
    let moved = error(c, &["GET", elsewhere]);
    assert!(moved.contains(&format!("{slot} 127.0.0.1:{first}")), "{moved}");
    assert!(run::<Option<String>>(c, &["GET", here]).is_some());
    // redis-cli shows the redirect as sent, and follows it with -c.
    let script = format!("READONLY\nGET {elsewhere}\n");
    let said = redis_cli_script(&nodes[0], false, &script);
    assert!(said.contains(&format!("MOVED {slot} 127.0.0.1:{first}")), "{said}");
    let value = keys.iter().position(|key| key == elsewhere).unwrap().to_string();
    assert!(redis_cli_script(&nodes[0], true, &script).ends_with(&value), "redis-cli -c follows the redirect");
    // A command redirected while queued fails the transaction, as in Redis Cluster.
    assert_eq!(run::<String>(c, &["MULTI"]), "OK");
    let queued = error(c, &["SET", elsewhere, "x"]);
    assert!(queued.contains(&format!("{slot} 127.0.0.1:{first}")), "{queued}");
    assert_error(c, &["EXEC"], "Transaction discarded because of previous errors");

    // Partitioned: keys of one command must share a slot, and only database 0 exists; the tags
    // used are of slots node 0 holds, as a plain connection is redirected like any other.
    // (redis-rs reads the CROSSSLOT code as its own error kind, CrossSlot.)
    let c = &mut nodes[0].resp();
    let held = |c: &mut redis::Connection, key: &str| owners_of(slot_of(c, key)).2.contains(&mine);
    let tags: Vec<String> = (0..100).map(|i| format!("{{t{i}}}")).filter(|tag| held(c, tag)).take(2).collect();
    let (t1, t2) = (tags[0].as_str(), tags[1].as_str());
    assert_error(c, &["MSET", "a", "1", "b", "2"], "Keys in request don't hash to the same slot");
    let port = nodes[0].redis().port().to_string();
    let raw =
        Command::new("redis-cli").args(["-p", &port, "MSET", "a", "1", "b", "2"]).output().expect("run redis-cli");
    let said = String::from_utf8_lossy(&raw.stdout).into_owned();
    assert!(said.starts_with("CROSSSLOT Keys in request"), "{said}");
    let (a, b) = (format!("{t1}a"), format!("{t1}b"));
    let () = run(c, &["MSET", &a, "1", &b, "2"]);
    assert_eq!(run::<Vec<String>>(c, &["MGET", &a, &b]), ["1", "2"]);
    assert_error(c, &["SELECT", "1"], "SELECT is not allowed in cluster mode");
    // A transaction's keys too, across its commands: EXEC discards it.
    let (x, y, other) = (format!("{t1}x"), format!("{t1}y"), format!("{t2}y"));
    for (keys, refused) in [([&x, &other], true), ([&x, &y], false)] {
        assert_eq!(run::<String>(c, &["MULTI"]), "OK");
        for key in keys {
            assert_eq!(run::<String>(c, &["SET", key, "1"]), "QUEUED");
        }
        if refused {
            assert_error(c, &["EXEC"], "Keys in request don't hash to the same slot");
            assert_eq!(run::<Option<String>>(c, &["GET", &x]), None, "nothing of it ran");
        } else {
            assert_eq!(run::<Vec<String>>(c, &["EXEC"]), ["OK", "OK"]);
        }
    }
}
