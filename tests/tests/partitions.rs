//! Real partitions: nodes in their own network namespaces, traffic between chosen pairs cut and
//! healed with a blackhole qdisc (see `kvs_tests::netns`). Needs root; skipped elsewhere unless
//! `KVS_REQUIRE_NETNS` is set, as CI sets it.

use kvs_client::MemberState;
use kvs_tests::netns::Network;
use kvs_tests::{wait_until, NodeProcess, FAST_FAILURE_DETECTION};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

const CONVERGE: Duration = Duration::from_secs(30);

/// Starts one node per host, each booting from the one before.
fn start_nodes(network: &Network, n: usize, extra: &[&str]) -> Vec<NodeProcess> {
    let mut nodes: Vec<NodeProcess> = Vec::new();
    for i in 0..n {
        let bootstrap = nodes.last().map(|node| node.addr);
        let listen = SocketAddr::new(network.ip(i), 0);
        nodes.push(NodeProcess::start_in_netns(network.host(i), listen, bootstrap, extra));
    }
    nodes
}

/// Waits until node `i`, asked from its own host, sees `wanted` for the member at `addr`.
async fn wait_for_state(network: &Network, nodes: &[NodeProcess], i: usize, addr: SocketAddr, wanted: MemberState) {
    let what = format!("node {i} to see {addr} {wanted:?}");
    wait_until(&what, CONVERGE, || async {
        let status = network.status(i, nodes[i].addr)?;
        (status.members.iter().find(|m| m.addr == addr.to_string())?.state == wanted).then_some(())
    })
    .await
}

/// Two nodes in their own hosts with Redis ports, both alive; `None` where namespaces cannot be made.
async fn two_nodes_with_redis() -> Option<(Network, Vec<NodeProcess>)> {
    let network = Network::create(2)?;
    let mut extra = FAST_FAILURE_DETECTION.to_vec();
    extra.extend(["--redis-port", "0"]);
    let nodes = start_nodes(&network, 2, &extra);
    wait_all_alive(&network, &nodes).await;
    Some((network, nodes))
}

async fn wait_all_alive(network: &Network, nodes: &[NodeProcess]) {
    for i in 0..nodes.len() {
        for other in nodes {
            wait_for_state(network, nodes, i, other.addr, MemberState::Alive).await;
        }
    }
}

async fn wait_for_value(network: &Network, nodes: &[NodeProcess], i: usize, key: &str, value: &str, limit: Duration) {
    wait_until(&format!("{key} to reach node {i}"), limit, || async {
        let got = network.client(i, nodes[i].addr, &["get", key])?;
        (got.trim_end() == value).then_some(())
    })
    .await
}

/// Each cut leaves both ends with a socket whose reset was lost in the partition. Without a read
/// deadline on inbound peer connections they lived forever, each holding a connection slot: with
/// `--max-connections 4`, three cut-and-heal cycles left nodes that answered nobody.
#[tokio::test]
async fn half_open_peer_connections_are_closed_so_partitions_cannot_exhaust_connection_slots() {
    let Some(network) = Network::create(3) else { return };
    let mut extra = FAST_FAILURE_DETECTION.to_vec();
    extra.extend(["--max-connections", "4"]);
    let nodes = start_nodes(&network, 3, &extra);
    wait_all_alive(&network, &nodes).await;

    for _cycle in 0..3 {
        network.cut(2, 0);
        network.cut(2, 1);
        for i in 0..2 {
            wait_for_state(&network, &nodes, i, nodes[2].addr, MemberState::Dead).await;
            wait_for_state(&network, &nodes, 2, nodes[i].addr, MemberState::Dead).await;
        }
        // Past the dead-after time again: long enough for every inbound peer socket to go silent.
        let cut_at = Instant::now();
        wait_until("the cut to outlast the silence deadline", CONVERGE, || async {
            (cut_at.elapsed() > Duration::from_millis(1_600)).then_some(())
        })
        .await;
        network.heal(2, 0);
        network.heal(2, 1);
        wait_all_alive(&network, &nodes).await;
    }

    // Every node holds exactly one accepted connection per live peer, none left from the cuts.
    for (i, node) in nodes.iter().enumerate() {
        wait_until(&format!("node {i} to hold only its live peers' connections"), CONVERGE, || async {
            (network.established_to(i, node.addr.port()) == 2).then_some(())
        })
        .await;
        let status = network.status(i, node.addr).expect("status answers after the partitions");
        assert!(status.replication.silent_peer_connections_closed > 0, "{:?}", status.replication);
    }
    network.client(0, nodes[0].addr, &["set", "after", "partitions"]).expect("set");
    for i in 0..3 {
        wait_for_value(&network, &nodes, i, "after", "partitions", CONVERGE).await;
    }
}

/// A and B cannot reach each other, C reaches both, so gossip through C keeps A and B alive to
/// each other. Anti-entropy must not keep asking the unreachable peer (it passes over one whose
/// answer stalled), and once the cut heals, A's stalled connection to B must already be gone
/// (TCP_USER_TIMEOUT), so direct replication resumes at once rather than at TCP's next backed-off
/// retransmission, many seconds later.
#[tokio::test]
async fn a_non_transitive_partition_stalls_neither_anti_entropy_nor_direct_replication() {
    let Some(network) = Network::create(3) else { return };
    let mut extra = FAST_FAILURE_DETECTION.to_vec();
    extra.extend(["--anti-entropy-interval-ms", "200"]);
    let mut nodes = start_nodes(&network, 3, &extra);
    wait_all_alive(&network, &nodes).await;

    let sync = |i: usize| network.status(i, nodes[i].addr).expect("status").replication;
    let (stalls_before, resets_before) = (sync(1).anti_entropy_stalls, sync(0).peer_connections_reset);
    network.cut(0, 1);
    network.client(0, nodes[0].addr, &["set", "during", "cut"]).expect("set");
    // Through C, by anti-entropy.
    wait_for_value(&network, &nodes, 1, "during", "cut", CONVERGE).await;
    let cut_for = Duration::from_secs(15);
    let cut_at = Instant::now();
    wait_until("the cut to last", CONVERGE, || async { (cut_at.elapsed() > cut_for).then_some(()) }).await;
    // Still alive to each other through C's gossip, and B stopped asking A after a stall or two
    // (asking in turn, it would stall on every other round: over 30 times in 12 s).
    wait_for_state(&network, &nodes, 1, nodes[0].addr, MemberState::Alive).await;
    let stalled = sync(1).anti_entropy_stalls - stalls_before;
    assert!(stalled <= 2, "anti-entropy kept asking the unreachable peer: {stalled} stalls");
    // A gave up the connection it dialed to B during the cut, though B is alive: its
    // unacknowledged gossip timed out (its connection to C stayed up).
    assert!(sync(0).peer_connections_reset > resets_before, "the stalled connection outlived the cut");

    network.heal(0, 1);
    // With C gone, only the direct connection can carry A's next write to B.
    let c = nodes.pop().unwrap();
    drop(c);
    let healed_at = Instant::now();
    network.client(0, nodes[0].addr, &["set", "after", "heal"]).expect("set");
    wait_for_value(&network, &nodes, 1, "after", "heal", Duration::from_secs(10)).await;
    eprintln!("a write after the heal reached the far side in {:?}", healed_at.elapsed());
}

/// The conflict rule of an eviction, across a real partition: node B (a memory limit of one
/// byte, so a write on it evicts every other key) evicts `k` while node A, cut off from it,
/// writes `k` again. Healed, A's write beats B's eviction on both nodes (it removes only the
/// write it chose), while a key only the eviction touched is gone from both.
#[tokio::test]
async fn a_write_made_across_a_partition_while_a_node_evicts_the_key_survives_everywhere() {
    let Some(network) = Network::create(2) else { return };
    let extra = FAST_FAILURE_DETECTION.to_vec();
    let a = NodeProcess::start_in_netns(network.host(0), SocketAddr::new(network.ip(0), 0), None, &extra);
    let mut limited = extra.clone();
    limited.extend(["--maxmemory", "1", "--maxmemory-policy", "allkeys-random"]);
    let b = NodeProcess::start_in_netns(network.host(1), SocketAddr::new(network.ip(1), 0), Some(a.addr), &limited);
    let nodes = vec![a, b];
    wait_all_alive(&network, &nodes).await;
    for (i, node) in nodes.iter().enumerate() {
        wait_until(&format!("node {i} to open the eviction gate"), CONVERGE, || async {
            let text = network.client(i, node.addr, &["status", "--json"])?;
            let status: serde_json::Value = serde_json::from_str(&text).ok()?;
            (status["versions"]["cluster_version"] == kvs_proto::PROTOCOL_VERSION).then_some(())
        })
        .await;
    }
    network.client(0, nodes[0].addr, &["set", "k", "v1"]).expect("set k on A");
    network.client(0, nodes[0].addr, &["set", "j", "only evicted"]).expect("set j on A");
    wait_for_value(&network, &nodes, 1, "k", "v1", CONVERGE).await;
    wait_for_value(&network, &nodes, 1, "j", "only evicted", CONVERGE).await;

    network.cut(0, 1);
    network.client(0, nodes[0].addr, &["set", "k", "v2"]).expect("set k on A");
    network.client(1, nodes[1].addr, &["set", "filler", "x"]).expect("a write on B, which evicts");
    assert_eq!(network.client(1, nodes[1].addr, &["get", "k"]), None, "B evicted k");
    assert_eq!(network.client(1, nodes[1].addr, &["get", "j"]), None, "B evicted j");
    network.heal(0, 1);

    wait_for_value(&network, &nodes, 1, "k", "v2", CONVERGE).await;
    wait_until("the eviction of j to reach A", CONVERGE, || async {
        network.client(0, nodes[0].addr, &["get", "j"]).is_none().then_some(())
    })
    .await;
    assert_eq!(network.client(0, nodes[0].addr, &["get", "k"]).as_deref().map(str::trim_end), Some("v2"));
    wait_until("equal digests", CONVERGE, || async {
        let digests: Vec<String> = (0..2).filter_map(|i| Some(network.status(i, nodes[i].addr)?.digest)).collect();
        (digests.len() == 2 && digests[0] == digests[1]).then_some(())
    })
    .await;
}

/// The HyperLogLog rows across a real partition: PFADDs made on both sides all count once healed;
/// a DEL that saw the HyperLogLog beats PFADDs made meanwhile on the other side.
#[tokio::test]
async fn concurrent_pfadds_and_a_del_across_a_partition_converge_by_the_rules() {
    let Some((network, nodes)) = two_nodes_with_redis().await else { return };
    let cli = |i: usize, args: &[&str]| network.redis_cli(i, nodes[i].redis(), args);
    wait_until("both nodes to take PFADD", CONVERGE, || async {
        (cli(0, &["PFADD", "both", "seed"])? == "1" || cli(0, &["EXISTS", "both"])? == "1").then_some(())?;
        (cli(1, &["PFADD", "gone", "seed"])?.len() == 1).then_some(())
    })
    .await;
    wait_until("the seeds to reach both nodes", CONVERGE, || async {
        (cli(1, &["EXISTS", "both"])? == "1" && cli(0, &["EXISTS", "gone"])? == "1").then_some(())
    })
    .await;

    network.cut(0, 1);
    assert_eq!(cli(0, &["PFADD", "both", "a1", "a2", "a3"]).as_deref(), Some("1"));
    assert_eq!(cli(1, &["PFADD", "both", "b1", "b2"]).as_deref(), Some("1"));
    assert_eq!(cli(0, &["DEL", "gone"]).as_deref(), Some("1"));
    assert_eq!(cli(1, &["PFADD", "gone", "b1", "b2"]).as_deref(), Some("1"));
    network.heal(0, 1);

    wait_until("every PFADD to count on both nodes", CONVERGE, || async {
        (cli(0, &["PFCOUNT", "both"])? == "6" && cli(1, &["PFCOUNT", "both"])? == "6").then_some(())
    })
    .await;
    wait_until("the DEL to win on both nodes", CONVERGE, || async {
        (cli(0, &["EXISTS", "gone"])? == "0" && cli(1, &["EXISTS", "gone"])? == "0").then_some(())
    })
    .await;
    assert_eq!(cli(0, &["GET", "both"]), cli(1, &["GET", "both"]), "one sketch, byte for byte");
}

/// The rows of hashes, sets and sorted sets across a real partition: each pair of writes is made
/// on the two sides of a cut, then the cut heals and both nodes must hold what the conflict table
/// says.
#[tokio::test]
async fn collection_rows_across_a_partition_converge_by_the_rules() {
    let Some((network, nodes)) = two_nodes_with_redis().await else { return };
    let cli = |i: usize, args: &[&str]| network.redis_cli(i, nodes[i].redis(), args);
    wait_until("node 0 to take collection writes", CONVERGE, || async {
        (cli(0, &["SADD", "probe", "p"])?.len() == 1).then_some(())
    })
    .await;
    let seed: &[&[&str]] = &[
        &["SADD", "kept", "x"],
        &["HSET", "h", "f", "old", "g", "old"],
        &["HSET", "n", "count", "1"],
        &["SADD", "deleted", "seen"],
        &["SADD", "split", "x", "y"],
    ];
    for args in seed {
        cli(0, args).expect("seed");
    }
    wait_until("the seeds to reach node 1", CONVERGE, || async {
        (cli(1, &["SCARD", "split"])? == "2" && cli(1, &["HGET", "n", "count"])? == "1").then_some(())
    })
    .await;

    network.cut(0, 1);
    let side_0: &[&[&str]] = &[
        &["SADD", "kept", "x"],
        &["HSET", "h", "f", "from 0"],
        &["HSET", "h", "g", "older"],
        &["HINCRBY", "n", "count", "10"],
        &["ZADD", "z", "5", "m"],
        &["DEL", "deleted"],
        &["SREM", "split", "x"],
        &["SADD", "split", "z"],
        &["SET", "typed", "a string"],
    ];
    for args in side_0 {
        cli(0, args).expect("a write on side 0");
    }
    // Later writes on side 1 (its clock reads on): later versions where the rows compare them.
    std::thread::sleep(std::time::Duration::from_millis(5));
    let side_1: &[&[&str]] = &[
        &["SREM", "kept", "x"],
        &["HDEL", "h", "f"],
        &["HSET", "h", "g", "newer"],
        &["HINCRBY", "n", "count", "100"],
        &["ZADD", "z", "7", "m"],
        &["SADD", "deleted", "unseen"],
        &["SREM", "split", "y"],
        &["SADD", "split", "x", "w"],
        &["SADD", "typed", "member"],
    ];
    for args in side_1 {
        cli(1, args).expect("a write on side 1");
    }
    network.heal(0, 1);

    let both = |args: &'static [&'static str], want: &'static str| {
        let cli = &cli;
        async move {
            let what = format!("{args:?} to read {want:?} on both nodes");
            wait_until(&what, CONVERGE, || async {
                (cli(0, args)?.trim() == want && cli(1, args)?.trim() == want).then_some(())
            })
            .await
        }
    };
    both(&["SISMEMBER", "kept", "x"], "1").await;
    both(&["HGET", "h", "f"], "from 0").await;
    both(&["HGET", "h", "g"], "newer").await;
    both(&["HGET", "n", "count"], "111").await;
    both(&["ZSCORE", "z", "m"], "7").await;
    both(&["SMEMBERS", "deleted"], "unseen").await;
    both(&["SCARD", "split"], "3").await;
    for member in ["w", "x", "z"] {
        let args: &'static [&'static str] = match member {
            "w" => &["SISMEMBER", "split", "w"],
            "x" => &["SISMEMBER", "split", "x"],
            _ => &["SISMEMBER", "split", "z"],
        };
        both(args, "1").await;
    }
    both(&["TYPE", "typed"], "set").await;
}
