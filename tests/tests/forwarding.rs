//! A plain Redis client of one node, under a layout that gives each slot one owner (issue 30;
//! docs/partitioning.md, "Forwarding for plain clients"): every command of a slot served
//! elsewhere is run by its owner and answered as if run here, in the client's protocol, while
//! a client that showed it follows redirects gets `-MOVED`, as everyone does with
//! `--redis-redirect always`.

use kvs_proto::layout::Layout;
use kvs_proto::slot::slot_of;
use kvs_tests::raw_resp::{RawResp, Resp};
use kvs_tests::resp::{assert_error, error, run};
use kvs_tests::wait::wait_until;
use kvs_tests::{start_chain, wait_for_open_gates, NodeProcess};
use std::time::Duration;

const CONVERGE: Duration = Duration::from_secs(60);
const KEYS: usize = 300;

/// Applies a layout of one owner a slot and waits until every node holds it and has settled
/// (fetched nothing more, kept nothing); returns it.
async fn one_owner_each(nodes: &[NodeProcess]) -> Layout {
    let applied = nodes[0].cli(&["cluster", "apply", "--replication-factor", "1"]);
    assert!(applied.status.success(), "{}", String::from_utf8_lossy(&applied.stderr));
    let mut held = None;
    for node in nodes {
        held = Some(
            wait_until("the layout to reach every node and settle", CONVERGE, || async {
                let plan = node.client().await.cluster_plan(kvs_proto::LayoutChange::default()).await.ok()?;
                let layout = plan.current.filter(|layout| layout.owners_per_slot() == 1)?;
                let info: String = redis::cmd("INFO").arg("cluster").query(&mut node.resp()).ok()?;
                let settled = ["kvs_slots_fetching:0", "kvs_slots_kept:0"].iter().all(|field| info.contains(field));
                settled.then_some(layout)
            })
            .await,
        );
    }
    held.expect("nodes")
}

/// The node id of `node` in `layout`.
fn id_of(layout: &Layout, node: &NodeProcess) -> kvs_proto::NodeId {
    layout.members.iter().find(|m| m.addr == node.addr).expect("a member").node
}

/// The first of `prefix:0`, `prefix:1`, ... whose slot `owner` does (`true`) or does not own.
fn key_owned(layout: &Layout, prefix: &str, owner: kvs_proto::NodeId, owned: bool) -> String {
    let table = layout.table();
    (0..)
        .map(|i| format!("{prefix}:{i}"))
        .find(|key| table[usize::from(slot_of(key.as_bytes()))].contains(&owner) == owned)
        .expect("some key")
}

#[tokio::test]
async fn a_plain_client_of_one_node_reads_and_writes_every_key_through_their_owners() {
    let nodes = start_chain(3, &["--redis-port", "0"]);
    wait_for_open_gates(&nodes, CONVERGE).await;
    let layout = one_owner_each(&nodes).await;
    let me = id_of(&layout, &nodes[0]);

    // One connection to node 0 writes and reads every key, most of them owned by others, one
    // command at a time and pipelined; each answer is the owner's.
    let c = &mut nodes[0].resp();
    for i in 0..KEYS {
        let () = redis::cmd("SET").arg(format!("key:{i}")).arg(i).query(c).unwrap();
    }
    for i in 0..KEYS {
        assert_eq!(run::<i64>(c, &["GET", &format!("key:{i}")]), i as i64);
    }
    let mut pipe = redis::pipe();
    for i in 0..KEYS {
        pipe.cmd("INCR").arg(format!("key:{i}")).cmd("GET").arg(format!("key:{i}"));
    }
    let answers: Vec<i64> = pipe.query(c).unwrap();
    let wanted: Vec<i64> = (0..KEYS as i64).flat_map(|i| [i + 1, i + 1]).collect();
    assert_eq!(answers, wanted, "pipelined forwards answer in order");

    // Each key lives on its one owner only: node 0 forwarded, it kept nothing of others' slots.
    let table = layout.table();
    for node in &nodes {
        let id = id_of(&layout, node);
        let owned = (0..KEYS).filter(|i| table[usize::from(slot_of(format!("key:{i}").as_bytes()))] == [id]).count();
        wait_until("each node to hold exactly its own keys", CONVERGE, || async {
            (node.status().await.ok()?.key_count == owned as u64).then_some(())
        })
        .await;
    }

    // Errors and typed replies come back as the owner wrote them.
    let elsewhere = key_owned(&layout, "hash", me, false);
    let () = redis::cmd("HSET").arg(&elsewhere).arg("f").arg("v").query(c).unwrap();
    assert!(error(c, &["INCR", &elsewhere]).contains("WRONGTYPE"), "an owner's error");
    // In RESP3 (HELLO 3), a hash comes back as a map.
    let mut raw = RawResp::connect(nodes[0].redis(), CONVERGE);
    let Resp::Map(_) = raw.call(&["HELLO", "3"]) else { panic!("HELLO 3 answers a map") };
    match raw.call(&["HGETALL", &elsewhere]) {
        Resp::Map(fields) => assert_eq!(Resp::Map(fields).words(), ["f", "v"]),
        other => panic!("HGETALL in RESP3 is a map: {other:?}"),
    }

    // A client that asked for the routes, or said it follows redirects, is redirected instead.
    let owner = table[usize::from(slot_of(elsewhere.as_bytes()))][0];
    let owner_port = nodes.iter().find(|n| id_of(&layout, n) == owner).unwrap().redis().port();
    let slot = slot_of(elsewhere.as_bytes());
    let aware = &mut nodes[0].resp();
    let _: redis::Value = run(aware, &["CLUSTER", "SLOTS"]);
    let moved = format!("{slot} 127.0.0.1:{owner_port}");
    assert!(error(aware, &["HGETALL", &elsewhere]).contains(&moved), "CLUSTER SLOTS: redirected");
    let capable = &mut nodes[0].resp();
    assert_eq!(run::<String>(capable, &["CLIENT", "CAPA", "redirect"]), "OK");
    assert!(error(capable, &["GET", &elsewhere]).contains(&moved), "CLIENT CAPA redirect: redirected");

    // A transaction is one node's: a command of a slot served elsewhere fails it, as in Redis
    // Cluster, even for a plain client.
    assert_eq!(run::<String>(c, &["MULTI"]), "OK");
    assert!(error(c, &["SET", &elsewhere, "x"]).contains(&moved));
    assert_error(c, &["EXEC"], "Transaction discarded because of previous errors");
    // And the node counts what it forwarded.
    let info: String = redis::cmd("INFO").arg("cluster").query(c).unwrap();
    let forwarded = info.lines().find_map(|l| l.strip_prefix("kvs_forwarded_commands:")).expect("a count in INFO");
    assert!(forwarded.trim().parse::<u64>().unwrap() >= KEYS as u64, "{forwarded}");
}

#[tokio::test]
async fn with_redis_redirect_always_every_connection_is_redirected() {
    let nodes = start_chain(2, &["--redis-port", "0", "--redis-redirect", "always"]);
    wait_for_open_gates(&nodes, CONVERGE).await;
    let layout = one_owner_each(&nodes).await;
    let elsewhere = key_owned(&layout, "key", id_of(&layout, &nodes[0]), false);
    let port = nodes[1].redis().port();
    let slot = slot_of(elsewhere.as_bytes());
    let moved = error(&mut nodes[0].resp(), &["GET", &elsewhere]);
    assert!(moved.contains(&format!("{slot} 127.0.0.1:{port}")), "{moved}");
}

/// A file only its owner may read, as nodes want their secret and users files.
fn private_file(dir: &std::path::Path, name: &str, text: &str) -> String {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path.display().to_string()
}

#[tokio::test]
async fn the_owner_checks_the_forwarding_clients_user_again() {
    let dir = tempfile::tempdir().unwrap();
    let secret = private_file(dir.path(), "secret", "the secret of this cluster\n");
    // The first node knows a user the second does not: it cannot lend it rights there.
    let users_a = private_file(dir.path(), "users-a", "root admin rootpw\nguest write guestpw\n");
    let users_b = private_file(dir.path(), "users-b", "root admin rootpw\n");
    let flags = |users: &str| {
        ["--cluster-secret-file", &secret, "--users-file", users, "--redis-port", "0"].map(str::to_string)
    };
    let a = NodeProcess::start(None, &flags(&users_a).each_ref().map(String::as_str));
    let b = NodeProcess::start(Some(a.addr), &flags(&users_b).each_ref().map(String::as_str));
    let apply = || {
        std::process::Command::new(kvs_tests::binaries::binary("kvs-client"))
            .args([a.addr.ip().to_string(), a.addr.port().to_string()])
            .args(["--user", "root", "cluster", "apply", "--replication-factor", "1"])
            .env("KVS_PASSWORD", "rootpw")
            .output()
            .expect("run kvs-client")
    };
    let as_user = |node: &NodeProcess, user: &str| {
        let url = format!("redis://{user}:{user}pw@{}", node.redis());
        redis::Client::open(url).unwrap().get_connection().unwrap()
    };
    // Applied once both are members (its plan then names both), and settled on both.
    wait_until("a layout of both members", CONVERGE, || async {
        let applied = apply();
        (applied.status.success() && String::from_utf8_lossy(&applied.stdout).contains(&b.addr.to_string()))
            .then_some(())
    })
    .await;
    for node in [&a, &b] {
        wait_until("the layout to settle", CONVERGE, || async {
            let info: String = redis::cmd("INFO").arg("cluster").query(&mut as_user(node, "root")).ok()?;
            let members: String = redis::cmd("CLUSTER").arg("NODES").query(&mut as_user(node, "root")).ok()?;
            let settled = ["kvs_slots_fetching:0", "kvs_slots_kept:0"].iter().all(|field| info.contains(field));
            (settled && members.lines().count() == 2).then_some(())
        })
        .await;
    }
    let slots: redis::Value = run(&mut as_user(&a, "root"), &["CLUSTER", "SLOTS"]);
    let b_port = i64::from(b.redis().port());
    let on_b = (0..)
        .map(|i| format!("key:{i}"))
        .find(|key| {
            let slot = i64::from(slot_of(key.as_bytes()));
            let redis::Value::Array(ranges) = &slots else { return false };
            ranges.iter().any(|range| match range {
                redis::Value::Array(f) => match (&f[0], &f[1], &f[2]) {
                    (redis::Value::Int(start), redis::Value::Int(end), redis::Value::Array(owner)) => {
                        (*start..=*end).contains(&slot) && owner[1] == redis::Value::Int(b_port)
                    }
                    _ => false,
                },
                _ => false,
            })
        })
        .unwrap();

    let root = &mut as_user(&a, "root");
    let () = redis::cmd("SET").arg(&on_b).arg("v").query(root).unwrap();
    assert_eq!(run::<String>(root, &["GET", &on_b]), "v", "a user both know is served through the owner");
    let guest = &mut as_user(&a, "guest");
    let refused = error(guest, &["SET", &on_b, "the guest's"]);
    assert!(refused.contains("guest is not known to the slot's owner"), "{refused}");
    assert_eq!(run::<String>(&mut as_user(&b, "root"), &["GET", &on_b]), "v", "nothing the guest did reached it");
}
