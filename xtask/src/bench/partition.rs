//! `cargo xtask bench partition`: three kvs nodes under a layout of N owners a slot against a
//! Redis Cluster of three primaries (N = 1) or three primaries with a replica each (N = 2), on
//! this machine: SET throughput through redis-benchmark in cluster mode, and resident memory per
//! distinct key over every process of each cluster. Rounds alternate between the two.

use super::redis_tools::{cpu_seconds, median, require, rss_bytes, RedisServer};
use clap::Args;
use kvs_tests::{start_chain, wait_for_open_gates, NodeProcess};
use std::process::Command;
use std::time::{Duration, Instant};

/// Partition bench flags.
#[derive(Args, Debug)]
pub struct PartitionArgs {
    /// Owners a slot to measure, in turn (kvs's replication factor; Redis: one primary and
    /// N − 1 replicas a shard).
    #[arg(long, value_delimiter = ',', default_value = "1,2")]
    factors: Vec<usize>,
    /// The load.
    #[command(flatten)]
    load: ClusterLoad,
}

/// How redis-benchmark loads a cluster, in rounds, for the benches that compare two ways of
/// serving or reaching one (this one and `bench forward`).
#[derive(Args, Debug)]
pub struct ClusterLoad {
    /// Rounds per way; medians are reported.
    #[arg(long, default_value_t = 3)]
    pub(super) rounds: usize,
    /// Requests per redis-benchmark run (-n), over as many random keys (-r).
    #[arg(long, default_value_t = 400_000)]
    pub(super) requests: usize,
    /// Parallel connections (-c).
    #[arg(long, default_value_t = 50)]
    pub(super) clients: usize,
    /// Pipeline depth (-P).
    #[arg(long, default_value_t = 16)]
    pub(super) pipeline: usize,
    /// Value size (-d).
    #[arg(long, default_value_t = 100)]
    pub(super) data: usize,
}

impl ClusterLoad {
    /// Its redis-benchmark flags, as a table's heading names them.
    pub(super) fn flags(&self) -> String {
        let (d, p, c, n) = (self.data, self.pipeline, self.clients, self.requests);
        format!("-d {d} -P {p} -c {c} -n {n} -r {n}")
    }
}

/// One round's figures for one system.
#[derive(Clone, Copy, Default)]
struct Round {
    sets_per_s: f64,
    /// Resident bytes added over every process, per distinct key written.
    bytes_per_key: f64,
    /// CPU time of every process, per SET.
    cpu_us_per_set: f64,
}

/// A cluster under test: its processes and where redis-benchmark starts.
trait Cluster {
    fn pids(&self) -> Vec<u32>;
    fn entry_port(&self) -> u16;
    /// Distinct keys the cluster holds (each counted once whatever its copies).
    fn keys(&self) -> Result<u64, String>;
}

/// Runs every factor and prints a row per factor and system.
pub async fn run(PartitionArgs { factors, load: args }: PartitionArgs) -> Result<(), String> {
    require("redis-benchmark")?;
    require("redis-cli")?;
    let mut table = Vec::new();
    for &factor in &factors {
        let (mut kvs, mut redis) = (Vec::new(), Vec::new());
        for round in 1..=args.rounds {
            let ours = kvs_round(factor, &args).await?;
            let theirs = redis_round(factor, &args)?;
            eprintln!(
                "N = {factor}, round {round}: kvs {:.0} SETs/s {:.0} B/key {:.2} µs CPU/SET; Redis Cluster {:.0} SETs/s {:.0} B/key {:.2} µs CPU/SET",
                ours.sets_per_s,
                ours.bytes_per_key,
                ours.cpu_us_per_set,
                theirs.sets_per_s,
                theirs.bytes_per_key,
                theirs.cpu_us_per_set
            );
            kvs.push(ours);
            redis.push(theirs);
        }
        table.push((factor, summary(&kvs), summary(&redis), spread(&kvs, &redis)));
    }
    println!(
        "redis-benchmark --cluster -t set {}, {} rounds alternating, medians ({})",
        args.flags(),
        args.rounds,
        super::rig::describe(super::rig::current())
    );
    println!(
        "{:<4} {:>12} {:>12} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10}",
        "N", "kvs SET/s", "Redis SET/s", "ratio", "kvs B/key", "Redis B/k", "ratio", "kvs µs/SET", "Redis µs"
    );
    for (factor, ours, theirs, (low, high)) in table {
        println!(
            "{:<4} {:>12.0} {:>12.0} {:>10} {:>10.0} {:>10.0} {:>10.2} {:>10.2} {:>10.2}",
            factor,
            ours.sets_per_s,
            theirs.sets_per_s,
            format!("{:.2} ({low:.2}–{high:.2})", ours.sets_per_s / theirs.sets_per_s),
            ours.bytes_per_key,
            theirs.bytes_per_key,
            ours.bytes_per_key / theirs.bytes_per_key,
            ours.cpu_us_per_set,
            theirs.cpu_us_per_set
        );
    }
    Ok(())
}

/// The medians of `rounds`.
fn summary(rounds: &[Round]) -> Round {
    let pick = |f: fn(&Round) -> f64| median(&mut rounds.iter().map(f).collect::<Vec<_>>());
    Round {
        sets_per_s: pick(|r| r.sets_per_s),
        bytes_per_key: pick(|r| r.bytes_per_key),
        cpu_us_per_set: pick(|r| r.cpu_us_per_set),
    }
}

/// The lowest and highest throughput ratio of rounds run side by side.
fn spread(ours: &[Round], theirs: &[Round]) -> (f64, f64) {
    let ratios: Vec<f64> = ours.iter().zip(theirs).map(|(a, b)| a.sets_per_s / b.sets_per_s).collect();
    (ratios.iter().copied().fold(f64::MAX, f64::min), ratios.iter().copied().fold(0.0, f64::max))
}

/// Loads `cluster` once and measures it.
fn load(cluster: &dyn Cluster, args: &ClusterLoad) -> Result<Round, String> {
    let pids = cluster.pids();
    let rss = |pids: &[u32]| pids.iter().map(|&pid| rss_bytes(pid)).sum::<u64>();
    let cpu = |pids: &[u32]| pids.iter().map(|&pid| cpu_seconds(pid)).sum::<f64>();
    let (rss_before, cpu_before) = (rss(&pids), cpu(&pids));
    let out = Command::new("redis-benchmark")
        .args(["--cluster", "-h", "127.0.0.1", "-p", &cluster.entry_port().to_string(), "--csv", "-t", "set"])
        .args(["-n", &args.requests.to_string(), "-r", &args.requests.to_string()])
        .args(["-c", &args.clients.to_string(), "-P", &args.pipeline.to_string(), "-d", &args.data.to_string()])
        .output()
        .map_err(|e| format!("cannot run redis-benchmark: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let sets_per_s = text
        .lines()
        .find(|line| line.starts_with("\"SET\""))
        .and_then(|line| line.split(',').nth(1))
        .and_then(|field| field.trim_matches('"').parse::<f64>().ok())
        .ok_or_else(|| format!("no SET figure from redis-benchmark --cluster: {text}"))?;
    let keys = cluster.keys()?.max(1);
    Ok(Round {
        sets_per_s,
        bytes_per_key: rss(&pids).saturating_sub(rss_before) as f64 / keys as f64,
        cpu_us_per_set: (cpu(&pids) - cpu_before) * 1e6 / args.requests as f64,
    })
}

/// The keys `port`'s server holds (DBSIZE).
pub(super) fn dbsize(port: u16) -> Result<u64, String> {
    let out = Command::new("redis-cli")
        .args(["-p", &port.to_string(), "DBSIZE"])
        .output()
        .map_err(|e| format!("cannot run redis-cli: {e}"))?;
    String::from_utf8_lossy(&out.stdout).trim().parse().map_err(|e| format!("DBSIZE on {port}: {e}"))
}

/// Polls `redis-cli -p port CLUSTER INFO` until it says the cluster is ok.
pub(super) fn wait_cluster_ok(port: u16) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let out = Command::new("redis-cli").args(["-p", &port.to_string(), "CLUSTER", "INFO"]).output();
        if out.is_ok_and(|out| String::from_utf8_lossy(&out.stdout).contains("cluster_state:ok")) {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("the cluster at {port} never said cluster_state:ok"));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Three kvs nodes under a layout of `factor` owners a slot.
struct KvsCluster {
    nodes: Vec<NodeProcess>,
    factor: usize,
}

impl Cluster for KvsCluster {
    fn pids(&self) -> Vec<u32> {
        self.nodes.iter().map(NodeProcess::pid).collect()
    }

    fn entry_port(&self) -> u16 {
        self.nodes[0].redis().port()
    }

    fn keys(&self) -> Result<u64, String> {
        let copies: u64 = self.nodes.iter().map(|n| dbsize(n.redis().port())).sum::<Result<u64, String>>()?;
        Ok(copies / self.factor as u64)
    }
}

async fn kvs_round(factor: usize, args: &ClusterLoad) -> Result<Round, String> {
    let nodes = start_kvs(factor).await?;
    load(&KvsCluster { nodes, factor }, args)
}

/// Three kvs nodes on the server core, under a layout of `factor` owners a slot.
pub(super) async fn start_kvs(factor: usize) -> Result<Vec<NodeProcess>, String> {
    let nodes = start_chain(3, &["--redis-port", "0"]);
    wait_for_open_gates(&nodes, Duration::from_secs(30)).await;
    nodes.iter().for_each(|node| super::rig::serve(node.pid()));
    apply(&nodes[0], factor)?;
    for node in &nodes {
        wait_cluster_ok(node.redis().port())?;
    }
    Ok(nodes)
}

/// `kvs-client cluster apply --replication-factor <factor>` on `node`.
pub(super) fn apply(node: &NodeProcess, factor: usize) -> Result<(), String> {
    let applied = node.cli(&["cluster", "apply", "--replication-factor", &factor.to_string()]);
    match applied.status.success() {
        true => Ok(()),
        false => Err(format!("cluster apply: {}", String::from_utf8_lossy(&applied.stderr))),
    }
}

/// Three Redis Cluster primaries, each with `factor − 1` replicas.
struct RedisCluster {
    servers: Vec<RedisServer>,
    factor: usize,
}

impl Cluster for RedisCluster {
    fn pids(&self) -> Vec<u32> {
        self.servers.iter().map(|s| s.child.id()).collect()
    }

    fn entry_port(&self) -> u16 {
        self.servers[0].port
    }

    fn keys(&self) -> Result<u64, String> {
        let copies: u64 = self.servers.iter().map(|s| dbsize(s.port)).sum::<Result<u64, String>>()?;
        Ok(copies / self.factor as u64)
    }
}

fn redis_round(factor: usize, args: &ClusterLoad) -> Result<Round, String> {
    let servers = start_redis_cluster(factor)?;
    load(&RedisCluster { servers, factor }, args)
}

/// A redis-server in cluster mode, not yet in any cluster.
pub(super) fn cluster_server() -> Result<RedisServer, String> {
    loop {
        let server = RedisServer::start_with(|port| {
            vec!["--port".into(), port.to_string(), "--cluster-enabled".into(), "yes".into()]
        })?;
        // The cluster bus listens 10,000 above the port: a port past 55,535 has none.
        if server.port <= 55_000 {
            return Ok(server);
        }
    }
}

/// Three Redis Cluster primaries with `factor − 1` replicas each, created by `redis-cli
/// --cluster create`.
pub(super) fn start_redis_cluster(factor: usize) -> Result<Vec<RedisServer>, String> {
    let servers = (0..3 * factor).map(|_| cluster_server()).collect::<Result<Vec<_>, String>>()?;
    let addrs: Vec<String> = servers.iter().map(|s| format!("127.0.0.1:{}", s.port)).collect();
    let created = Command::new("redis-cli")
        .args(["--cluster", "create"])
        .args(&addrs)
        .args(["--cluster-replicas", &(factor - 1).to_string(), "--cluster-yes"])
        .output()
        .map_err(|e| format!("cannot run redis-cli --cluster create: {e}"))?;
    if !created.status.success() {
        return Err(format!("redis-cli --cluster create: {}", String::from_utf8_lossy(&created.stdout)));
    }
    for server in &servers {
        wait_cluster_ok(server.port)?;
    }
    Ok(servers)
}
