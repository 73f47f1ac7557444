//! What Redis's own tests cannot check: the string keyspace on a 3-node cluster, with writes
//! racing on different nodes. Each test ends with every node holding the same data.

use kvs_tests::resp::{eventually, run};
use kvs_tests::{start_chain, wait_for_alive_members, wait_for_equal_digests, NodeProcess};
use std::time::Duration;

const CONVERGE: Duration = Duration::from_secs(30);

async fn cluster(extra: &[&str]) -> Vec<NodeProcess> {
    let mut args = vec!["--redis-port", "0"];
    args.extend_from_slice(extra);
    let nodes = start_chain(3, &args);
    wait_for_alive_members(&nodes, 3, CONVERGE).await;
    nodes
}

/// Waits until `key` reads `want` on every node.
fn wait_everywhere(nodes: &[NodeProcess], key: &str, want: Option<&str>) {
    for node in nodes {
        let c = &mut node.resp();
        eventually(CONVERGE, &format!("{key} = {want:?} on {}", node.addr), || {
            run::<Option<String>>(c, &["GET", key]).as_deref() == want
        });
    }
}

#[tokio::test]
async fn concurrent_increments_on_every_node_all_count() {
    let nodes = cluster(&[]).await;
    // Half the key starts as a SET value on one node, so increments build on a replicated base.
    let _: () = run(&mut nodes[0].resp(), &["SET", "based", "100"]);
    wait_everywhere(&nodes, "based", Some("100"));
    std::thread::scope(|scope| {
        for node in &nodes {
            scope.spawn(|| {
                let c = &mut node.resp();
                for _ in 0..1000 {
                    let _: i64 = run(c, &["INCR", "hits"]);
                    let _: i64 = run(c, &["INCRBY", "based", "2"]);
                    let _: i64 = run(c, &["DECR", "down"]);
                }
            });
        }
    });
    wait_everywhere(&nodes, "hits", Some("3000"));
    wait_everywhere(&nodes, "based", Some("6100"));
    wait_everywhere(&nodes, "down", Some("-3000"));
    wait_for_equal_digests(&nodes.iter().collect::<Vec<_>>(), CONVERGE).await;

    // A reset replaces the counter everywhere; the increments after it add to it. (A reset
    // concurrent with increments it never saw beats them: see the core's tests, which can order
    // versions exactly.)
    let _: () = run(&mut nodes[1].resp(), &["SET", "hits", "5"]);
    wait_everywhere(&nodes, "hits", Some("5"));
    for node in &nodes {
        let _: i64 = run(&mut node.resp(), &["INCR", "hits"]);
    }
    wait_everywhere(&nodes, "hits", Some("8"));
}

#[tokio::test]
async fn an_expired_key_is_gone_everywhere_and_a_paused_node_does_not_bring_it_back() {
    let nodes = cluster(&[]).await;
    let (a, c) = (&nodes[0], &nodes[2]);
    let _: () = run(&mut a.resp(), &["SET", "k", "old"]);
    wait_everywhere(&nodes, "k", Some("old"));
    // C is cut off (paused) while A writes the key again with a 200 ms deadline.
    c.signal(libc::SIGSTOP);
    let _: () = run(&mut a.resp(), &["SET", "k", "new", "PX", "200"]);
    wait_everywhere(&nodes[..2], "k", None);
    // C still holds "old"; once it runs again, the newer (expired) write wins there too, and
    // nothing C sends revives either value.
    c.signal(libc::SIGCONT);
    wait_everywhere(&nodes, "k", None);
    wait_for_equal_digests(&nodes.iter().collect::<Vec<_>>(), CONVERGE).await;
    for node in &nodes {
        let conn = &mut node.resp();
        assert_eq!(run::<i64>(conn, &["EXISTS", "k"]), 0);
        assert_eq!(run::<i64>(conn, &["DBSIZE"]), 0);
        assert_eq!(run::<Vec<String>>(conn, &["KEYS", "*"]).len(), 0);
    }
}

#[tokio::test]
async fn flushall_clears_what_it_saw_everywhere_and_keeps_what_came_after() {
    let nodes = cluster(&[]).await;
    let (a, b, c) = (&nodes[0], &nodes[1], &nodes[2]);
    for i in 0..50 {
        let _: () = run(&mut a.resp(), &["SET", &format!("old{i}"), "x"]);
    }
    let _: i64 = run(&mut a.resp(), &["INCR", "counter"]);
    wait_everywhere(&nodes, "old49", Some("x"));
    wait_everywhere(&nodes, "counter", Some("1"));
    // B writes while paused C still holds everything: C must not bring the old keys back.
    c.signal(libc::SIGSTOP);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            let conn = &mut b.resp();
            for i in 0..200 {
                let _: () = run(conn, &["SET", &format!("racing{i}"), "y"]);
            }
        });
        scope.spawn(|| {
            let _: () = run(&mut a.resp(), &["FLUSHALL"]);
        });
    });
    let _: () = run(&mut b.resp(), &["SET", "after", "z"]);
    c.signal(libc::SIGCONT);
    wait_everywhere(&nodes, "after", Some("z"));
    wait_for_equal_digests(&nodes.iter().collect::<Vec<_>>(), CONVERGE).await;
    let mut views = Vec::new();
    for node in &nodes {
        let conn = &mut node.resp();
        let mut keys: Vec<String> = run(conn, &["KEYS", "*"]);
        keys.sort();
        assert!(keys.iter().all(|k| k.starts_with("racing") || k == "after"), "old keys survived: {keys:?}");
        views.push(keys);
    }
    assert!(views.windows(2).all(|w| w[0] == w[1]), "nodes disagree: {views:?}");
}

#[tokio::test]
async fn a_rename_racing_a_set_of_its_source_ends_the_same_everywhere() {
    let nodes = cluster(&[]).await;
    let (a, b) = (&nodes[0], &nodes[1]);
    for round in 0..20 {
        let (src, dst) = (format!("src{round}"), format!("dst{round}"));
        let _: () = run(&mut a.resp(), &["SET", &src, "first"]);
        wait_everywhere(&nodes, &src, Some("first"));
        std::thread::scope(|scope| {
            scope.spawn(|| {
                let _: redis::Value = run(&mut a.resp(), &["RENAME", &src, &dst]);
            });
            scope.spawn(|| {
                let _: () = run(&mut b.resp(), &["SET", &src, "second"]);
            });
        });
    }
    wait_for_equal_digests(&nodes.iter().collect::<Vec<_>>(), CONVERGE).await;
    for round in 0..20 {
        let keys = [format!("src{round}"), format!("dst{round}")];
        let views: Vec<Vec<Option<String>>> =
            nodes.iter().map(|n| run(&mut n.resp(), &["MGET", &keys[0], &keys[1]])).collect();
        assert!(views.windows(2).all(|w| w[0] == w[1]), "round {round}: nodes disagree: {views:?}");
        // The source existed whatever the order, so the rename moved one of its values.
        assert!(matches!(views[0][1].as_deref(), Some("first" | "second")), "round {round}: {views:?}");
    }
}

#[tokio::test]
async fn expiry_survives_a_durable_restart_and_what_expired_meanwhile_stays_gone() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data").display().to_string();
    let mut nodes = cluster(&[]).await;
    let durable =
        NodeProcess::start(Some(nodes[0].addr), &["--redis-port", "0", "--data-dir", &data, "--fsync", "always"]);
    nodes.push(durable);
    wait_for_alive_members(&nodes, 4, CONVERGE).await;
    let d = &mut nodes[3].resp();
    let _: () = run(d, &["SET", "short", "v", "PX", "1500"]);
    let _: () = run(d, &["SET", "long", "v", "EX", "1000"]);
    let deadline: i64 = run(d, &["PEXPIRETIME", "long"]);
    wait_everywhere(&nodes, "long", Some("v"));
    nodes[3].kill();
    wait_everywhere(&nodes[..3], "short", None);
    let first = nodes[0].addr;
    nodes[3].restart(Some(first));
    wait_for_alive_members(&nodes, 4, CONVERGE).await;
    let d = &mut nodes[3].resp();
    assert_eq!(run::<Option<String>>(d, &["GET", "short"]), None);
    assert_eq!(run::<i64>(d, &["PEXPIRETIME", "long"]), deadline);
    wait_for_equal_digests(&nodes.iter().collect::<Vec<_>>(), CONVERGE).await;
    wait_everywhere(&nodes, "short", None);
}
