//! `cargo xtask bench redis`: redis-benchmark against redis-server, one kvs node and a 3-node kvs
//! cluster, alternating runs over several rounds; medians and kvs/redis ratios; memory per key.

use super::redis_tools::CONFIGS;
use super::redis_tools::{benchmark, median, require, rss_bytes, RedisServer};
use super::replication::{RedisReplicaSet, Replicated};
use super::rows::{command_rows, Target};
use clap::Args;
use kvs_tests::{start_chain, wait_for_alive_members, wait_until, NodeProcess};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

/// Redis bench flags.
#[derive(Args, Debug)]
pub struct RedisArgs {
    /// Rounds; each round runs every configuration against every server once, in turn.
    #[arg(long, default_value_t = 5)]
    rounds: usize,
    /// Requests per redis-benchmark run (-n).
    #[arg(long, default_value_t = 200_000)]
    requests: usize,
    /// Parallel connections (-c).
    #[arg(long, default_value_t = 50)]
    clients: usize,
    /// Keys loaded for the memory comparison (16-byte keys, 100-byte values); 0 skips it.
    #[arg(long, default_value_t = 1_000_000)]
    memory_keys: usize,
    /// Only the security rows: TLS (redis-server --tls-port against kvs with TLS, same
    /// certificates) and a kvs node with a users file, clients logged in.
    #[arg(long)]
    security_only: bool,
    /// Only the keyspace rows: INCR and SET with an expiry (`SET key val EX 100`), and memory
    /// per key with a TTL.
    #[arg(long)]
    keyspace_only: bool,
    /// Only the string rows, each with server CPU per request: SET and GET of 16-byte values on
    /// 100,000 random keys, INCR, SET EX, MSET and MGET of 10 keys.
    #[arg(long)]
    strings_only: bool,
    /// Only the memory rows: resident bytes per key on redis-server, a single kvs node, and
    /// every node of the 3-node cluster, without and then with a TTL (fresh servers for each).
    #[arg(long)]
    memory_only: bool,
    /// Only the replicated rows: the 3-node cluster against a Redis primary with two replicas,
    /// throughput and replication lag.
    #[arg(long)]
    replication_only: bool,
    /// Only the replication lag of the 3-node cluster against a Redis primary with two replicas.
    #[arg(long)]
    lag_only: bool,
    /// Replication-lag samples per round.
    #[arg(long, default_value_t = 1_000)]
    lag_samples: usize,
    /// Only the collection rows: HSET, SADD, ZADD, SPOP, ZPOPMIN and HGET, SISMEMBER, ZSCORE,
    /// ZRANGE reads, and memory per element of small and large hashes.
    #[arg(long)]
    collections_only: bool,
    /// Elements of the one large hash in the collection memory rows.
    #[arg(long, default_value_t = 1_000_000)]
    large_hash_fields: usize,
    /// Only the list rows: LPUSH, RPUSH, LPOP, RPOP and LRANGE, LINDEX, LLEN reads, and memory
    /// per element of small and large lists.
    #[arg(long)]
    lists_only: bool,
    /// Elements of the one large list in the list memory rows.
    #[arg(long, default_value_t = 1_000_000)]
    large_list_elements: usize,
}

/// The string rows: SET and GET as issue 29 states them, then the keyspace rows.
const STRINGS: &[(&str, &[&str])] = &[
    ("SET", &["-t", "set", "-r", "100000", "-d", "16"]),
    ("GET", &["-t", "get", "-r", "100000", "-d", "16"]),
    ("INCR", &["-t", "incr", "-r", "100000"]),
    ("SET EX", &["-r", "100000", "SET", "key:__rand_int__", "val", "EX", "100"]),
    ("MSET", &["-t", "mset", "-r", "100000", "-d", "16"]),
    (
        "MGET",
        &[
            "-r",
            "100000",
            "MGET",
            "key:__rand_int__",
            "key:__rand_int__",
            "key:__rand_int__",
            "key:__rand_int__",
            "key:__rand_int__",
            "key:__rand_int__",
            "key:__rand_int__",
            "key:__rand_int__",
            "key:__rand_int__",
            "key:__rand_int__",
        ],
    ),
];

/// The keyspace rows: INCR and SET with an expiry.
fn keyspace_rows(targets: &[Target], args: &RedisArgs) -> Result<(), String> {
    let tests: &[(&str, &[&str])] = &[("INCR", &["-t", "incr"]), ("SET EX", &["SET", "key", "val", "EX", "100"])];
    command_rows(targets, (args.rounds, args.requests, args.clients), tests)
}

/// Runs the comparison and prints the ratio table and the memory table.
pub async fn run(args: RedisArgs) -> Result<(), String> {
    require("redis-server")?;
    require("redis-benchmark")?;
    if args.security_only {
        return super::secured::run(args.rounds, args.requests, args.clients).await;
    }
    if args.lists_only {
        return lists_rows(&args).await;
    }
    let servers = Servers::start().await?;
    let targets = servers.targets();
    let [redis_target, single_target, cluster_target] = targets.clone();
    let Servers { cluster, .. } = &servers;
    if args.memory_only {
        memory(&targets, cluster, args.memory_keys, None).await?;
        drop(servers);
        // Fresh servers, so the keys loaded above do not count.
        let servers = Servers::start().await?;
        return memory(&servers.targets(), &servers.cluster, args.memory_keys, Some(100_000)).await;
    }
    if args.collections_only {
        let load = (args.rounds, args.requests, args.clients);
        super::collections::run(&targets, load, args.large_hash_fields).await?;
        let replicated = RedisReplicaSet::start()?;
        let (redis, kvs) = replicated_pair(&replicated, cluster);
        return super::replication::collection_cost_rows([&redis, &kvs], args.rounds, args.requests, args.clients);
    }
    if args.strings_only {
        return command_rows(&targets, (args.rounds, args.requests, args.clients), STRINGS);
    }
    if args.keyspace_only {
        keyspace_rows(&targets, &args)?;
        if args.memory_keys > 0 {
            memory(&targets, cluster, args.memory_keys, Some(100_000)).await?;
        }
        return Ok(());
    }
    let replicated = RedisReplicaSet::start()?;
    let primary = replicated.primary.child.id();
    let replicas = replicated.replicas.iter().map(|r| r.child.id()).collect();
    let primary_target =
        Target { name: "redis + 2 rep", port: replicated.primary.port, pid: primary, others: replicas };
    let compared = [redis_target, single_target, primary_target, cluster_target];
    if !args.lag_only {
        let rows = if args.replication_only {
            throughput_rows(&compared[2..], &args)?
        } else {
            throughput_rows(&compared, &args)?
        };
        print_throughput(&compared, rows, args.replication_only);
        let (redis, kvs) = replicated_pair(&replicated, cluster);
        super::replication::cost_rows([&redis, &kvs], args.rounds, args.requests, args.clients)?;
    }
    let kvs_readers = [cluster[1].redis(), cluster[2].redis()];
    let redis_readers = [replicated.replicas[0].addr(), replicated.replicas[1].addr()];
    lag_rows(
        args.rounds,
        args.lag_samples,
        (cluster[0].redis(), kvs_readers),
        (replicated.primary.addr(), redis_readers),
    )?;
    if args.replication_only || args.lag_only {
        return Ok(());
    }
    keyspace_rows(&targets, &args)?;
    if args.memory_keys > 0 {
        memory(&targets, cluster, args.memory_keys, None).await?;
    }
    super::secured::run(args.rounds, args.requests, args.clients).await
}

/// The list rows, each round on fresh servers: a pop leaves its element's tombstone for the grace
/// period (24 h), so a later round would measure pushes and pops beside millions of them (the
/// cost of a queue within one grace period, which the memory rows show; not a command's).
async fn lists_rows(args: &RedisArgs) -> Result<(), String> {
    let mut rows = super::rows::Rows::default();
    println!("list writes (redis-benchmark's own tests; each round on fresh servers, pops taking the pushes)");
    for round in 1..=args.rounds {
        let servers = Servers::start().await?;
        rows.measure(&servers.targets(), round, (args.requests, args.clients), super::lists::WRITES)?;
    }
    rows.print(super::lists::WRITES);
    let servers = Servers::start().await?;
    super::lists::reads_and_memory(
        &servers.targets(),
        (args.rounds, args.requests, args.clients),
        args.large_list_elements,
    )
}

/// Medians in requests/s by (configuration, target, test).
type Medians = HashMap<(usize, usize, &'static str), f64>;

/// redis-benchmark SET and GET in every configuration against every target, alternating targets
/// (each round starting with a different one), over the rounds; returns the medians.
fn throughput_rows(targets: &[Target], args: &RedisArgs) -> Result<Medians, String> {
    println!(
        "redis-benchmark -t set,get -n {} -c {}, {} rounds, alternating servers; medians in requests/s",
        args.requests, args.clients, args.rounds
    );
    let mut figures: HashMap<(usize, usize, &str), Vec<f64>> = HashMap::new();
    for round in 1..=args.rounds {
        for (c, &(pipeline, data)) in CONFIGS.iter().enumerate() {
            for t in (0..targets.len()).map(|i| (i + round) % targets.len()) {
                let target = &targets[t];
                let (set, get) = benchmark(target.port, args.requests, args.clients, pipeline, data)?;
                eprintln!("round {round}: -P {pipeline} -d {data} {:<13} SET {set:>10.0} GET {get:>10.0}", target.name);
                figures.entry((c, t, "SET")).or_default().push(set);
                figures.entry((c, t, "GET")).or_default().push(get);
            }
        }
    }
    Ok(figures.into_iter().map(|(k, mut v)| (k, median(&mut v))).collect())
}

/// Prints the throughput table: one node against redis-server, and the 3-node cluster against a
/// Redis primary with two replicas (only those two when `replicated_only`).
fn print_throughput(targets: &[Target; 4], medians: Medians, replicated_only: bool) {
    let offset = if replicated_only { 2 } else { 0 };
    let m = |c: usize, t: usize, test: &str| medians.get(&(c, t - offset, test)).copied().unwrap_or(f64::NAN);
    let single = |cells: String| if replicated_only { String::new() } else { cells };
    println!(
        "{:<12} {:<4} {}{:>14} {:>12} {:>7}",
        "config",
        "test",
        single(format!("{:>12} {:>12} {:>7} ", targets[0].name, targets[1].name, "ratio")),
        targets[2].name,
        targets[3].name,
        "ratio"
    );
    for (c, &(pipeline, data)) in CONFIGS.iter().enumerate() {
        for test in ["SET", "GET"] {
            let (replicated, three) = (m(c, 2, test), m(c, 3, test));
            let (redis, one) = if replicated_only { (0.0, 0.0) } else { (m(c, 0, test), m(c, 1, test)) };
            println!(
                "{:<12} {:<4} {}{:>14.0} {:>12.0} {:>7.2}",
                format!("-P {pipeline} -d {data}"),
                test,
                single(format!("{redis:>12.0} {one:>12.0} {:>7.2} ", one / redis)),
                replicated,
                three,
                three / replicated
            );
        }
    }
}

/// Replication lag of the kvs cluster (SET on A, read on B and C) and of the Redis primary and
/// replicas, by the same tool, alternating, per round; then the medians of the rounds, with where
/// the time went (the SET's reply, the first reader).
fn lag_rows(
    rounds: usize,
    samples: usize,
    kvs: (SocketAddr, [SocketAddr; 2]),
    redis: (SocketAddr, [SocketAddr; 2]),
) -> Result<(), String> {
    println!("replication lag: SET on the primary / node A until GET on both others returns it, {samples} samples a round, µs (and GETs that found nothing yet, per 100 samples)");
    let systems = [("redis + 2 replicas", redis), ("kvs, 3 nodes", kvs)];
    let mut figures: HashMap<(usize, &str), Vec<f64>> = HashMap::new();
    for round in 1..=rounds {
        for s in (0..systems.len()).map(|i| (i + round) % systems.len()) {
            let (name, (writer, readers)) = systems[s];
            let lag = super::replication::lag(writer, &readers, samples)?;
            let rows = [
                ("p50", lag.replicated.value_at_quantile(0.50)),
                ("p99", lag.replicated.value_at_quantile(0.99)),
                ("SET reply p50", lag.acknowledged.value_at_quantile(0.50)),
                ("first reader p50", lag.first_reader.value_at_quantile(0.50)),
                ("empty GETs /100", lag.empty_reads * 100 / samples.max(1) as u64),
            ];
            eprintln!("round {round}: lag {name:<18} {}", rows.map(|(row, us)| format!("{row} {us}")).join(", "));
            for (row, us) in rows {
                figures.entry((s, row)).or_default().push(us as f64);
            }
        }
    }
    println!("{:<18} {:>18} {:>12} {:>7}", "lag", systems[0].0, systems[1].0, "ratio");
    for row in ["p50", "p99", "SET reply p50", "first reader p50", "empty GETs /100"] {
        let redis = median(figures.get_mut(&(0, row)).expect("measured"));
        let kvs = median(figures.get_mut(&(1, row)).expect("measured"));
        println!("{row:<18} {redis:>18.0} {kvs:>12.0} {:>7.2}", kvs / redis);
    }
    Ok(())
}

/// A Redis primary with two replicas and the 3-node cluster, as the replicated-cost rows take
/// them: the writer first.
fn replicated_pair(replicated: &RedisReplicaSet, cluster: &[NodeProcess]) -> (Replicated, Replicated) {
    let redis = Replicated {
        name: "redis + 2 replicas",
        port: replicated.primary.port,
        pids: [replicated.primary.child.id(), replicated.replicas[0].child.id(), replicated.replicas[1].child.id()],
    };
    let kvs = Replicated {
        name: "kvs, 3 nodes",
        port: cluster[0].redis().port(),
        pids: [cluster[0].pid(), cluster[1].pid(), cluster[2].pid()],
    };
    (redis, kvs)
}

/// redis-server, a single kvs node and a 3-node kvs cluster, each with a RESP port.
struct Servers {
    redis: RedisServer,
    single: NodeProcess,
    cluster: Vec<NodeProcess>,
}

impl Servers {
    async fn start() -> Result<Servers, String> {
        let redis = RedisServer::start()?;
        let single = NodeProcess::start(None, &["--redis-port", "0"]);
        let cluster = start_chain(3, &["--redis-port", "0"]);
        wait_for_alive_members(&cluster, 3, Duration::from_secs(20)).await;
        for node in std::iter::once(&single).chain(&cluster) {
            super::rig::serve(node.pid());
        }
        Ok(Servers { redis, single, cluster })
    }

    /// redis-server, the single node and the cluster's first node, in that order.
    fn targets(&self) -> [Target; 3] {
        let Servers { redis, single, cluster } = self;
        let others = cluster[1..].iter().map(NodeProcess::pid).collect();
        [
            Target::single("redis-server", redis.port, redis.child.id()),
            Target::single("kvs, 1 node", single.redis().port(), single.pid()),
            Target { name: "kvs, 3 nodes", port: cluster[0].redis().port(), pid: cluster[0].pid(), others },
        ]
    }
}

/// Loads the same keys into every server (with a TTL of `ttl_s` seconds, if given) and reports
/// resident bytes per key.
async fn memory(targets: &[Target], cluster: &[NodeProcess], n: usize, ttl_s: Option<u64>) -> Result<(), String> {
    let with_ttl = ttl_s.map_or(String::new(), |s| format!(", each with a {s} s TTL"));
    println!("memory: {n} keys of 16 bytes with 100-byte values{with_ttl}, resident set growth per key");
    for target in targets {
        let before = rss_bytes(target.pid);
        // The cluster's replicas start empty too; they are measured once each holds every key.
        let replicas_before: Vec<u64> = cluster[1..].iter().map(|node| rss_bytes(node.pid())).collect();
        let sets = super::load::sets(0..n, &[b'v'; 100]);
        let ttl = ttl_s.map(|s| s.to_string().into_bytes());
        let commands = sets.map(|mut set| {
            if let Some(ttl) = &ttl {
                set.extend([b"EX".to_vec(), ttl.clone()]);
            }
            set
        });
        super::load::pipeline(target.port, commands)?;
        if target.pid != cluster[0].pid() {
            let after = rss_bytes(target.pid);
            println!("{:<13} {:>8.1} bytes/key", target.name, after.saturating_sub(before) as f64 / n as f64);
            continue;
        }
        // Every node is measured once each holds every key, so push queues have drained.
        for node in cluster {
            wait_until("replicas to hold every key", Duration::from_secs(120), || async {
                let status = node.status().await.ok()?;
                (status.key_count as usize >= n).then_some(())
            })
            .await;
        }
        let per_key = |before: u64, pid: u32| rss_bytes(pid).saturating_sub(before) as f64 / n as f64;
        println!("{:<13} {:>8.1} bytes/key (the node written to)", target.name, per_key(before, target.pid));
        for (i, (node, before)) in cluster[1..].iter().zip(replicas_before).enumerate() {
            println!("{:<13} {:>8.1} bytes/key (replica {})", target.name, per_key(before, node.pid()), i + 1);
        }
    }
    Ok(())
}
