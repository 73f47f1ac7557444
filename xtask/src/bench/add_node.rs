//! `cargo xtask bench add-node`: a fourth node joins a three-node cluster of N owners a slot
//! while clients write to it, against a Redis Cluster of three primaries (N − 1 replicas each)
//! that gains a fourth primary by `redis-cli --cluster add-node` and `rebalance
//! --cluster-use-empty-masters`. For each: how long the move takes (kvs: from `cluster apply` until
//! every node reports no slot fetching, kept or left in INFO's cluster section; Redis: add-node
//! plus rebalance), and the p99 latency and throughput of SETs while it moves against a run just
//! before, with every failed SET counted. The load is [`super::cluster_load`]'s Redis Cluster
//! clients (redis-benchmark 7 exits when slots move to a node it did not start with); the keys
//! are loaded first by redis-benchmark.

use super::cluster_load::{self, Until};
use super::partition::{apply, cluster_server, start_kvs, start_redis_cluster, wait_cluster_ok};
use super::redis_tools::{median, require, RedisServer};
use clap::Args;
use kvs_tests::{wait_for_alive_members, wait_for_open_gates, NodeProcess};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Add-node bench flags.
#[derive(Args, Debug)]
pub struct AddNodeArgs {
    /// Owners a slot (kvs's replication factor; Redis: one primary and N − 1 replicas a shard).
    #[arg(long, default_value_t = 1)]
    factor: usize,
    /// Rounds per system; medians are reported.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Distinct keys written before the node is added, and the key space the load writes over.
    #[arg(long, default_value_t = 200_000)]
    keys: usize,
    /// SETs of the steady run measuring latency; the load during the move lasts as long as
    /// the move.
    #[arg(long, default_value_t = 200_000)]
    requests: usize,
    /// Parallel connections; one request each in flight, so latency is per request.
    #[arg(long, default_value_t = 50)]
    clients: usize,
    /// Value size (-d).
    #[arg(long, default_value_t = 100)]
    data: usize,
    /// Runs kvs's rounds only (to look into its moves; the table then has no peer to compare).
    #[arg(long)]
    kvs_only: bool,
}

/// One round's figures for one system.
#[derive(Clone, Copy, Debug, Default)]
struct Round {
    move_s: f64,
    p99_steady_ms: f64,
    p99_moving_ms: f64,
    sets_steady: f64,
    sets_moving: f64,
    /// SETs that failed, before and during the move.
    failed: u64,
}

/// A cluster being grown: where the load starts, how to add the node, when the move is done.
trait Growing {
    /// The Redis ports of the nodes it starts with.
    fn ports(&self) -> Vec<u16>;
    /// Starts the fourth node and has it join (not yet owning anything).
    async fn start_fourth(&mut self) -> Result<(), String>;
    /// Moves slots to the fourth node; returns once the move is done.
    async fn move_slots(&mut self) -> Result<(), String>;
}

/// Runs both systems' rounds and prints the table.
pub async fn run(args: AddNodeArgs) -> Result<(), String> {
    require("redis-benchmark")?;
    require("redis-cli")?;
    let (mut kvs, mut redis) = (Vec::new(), Vec::new());
    for round in 1..=args.rounds {
        let mut ours = KvsGrowing { nodes: start_kvs(args.factor).await?, factor: args.factor };
        let ours_round = grow(&mut ours, &args).await?;
        drop(ours);
        kvs.push(ours_round);
        if args.kvs_only {
            eprintln!("round {round}: kvs {ours_round:?}");
            continue;
        }
        let mut theirs = RedisGrowing { servers: start_redis_cluster(args.factor)? };
        let theirs_round = grow(&mut theirs, &args).await?;
        drop(theirs);
        eprintln!("round {round}: kvs {ours_round:?}; Redis Cluster {theirs_round:?}");
        redis.push(theirs_round);
    }
    println!(
        "a fourth node added under SETs of {} bytes from {} Redis Cluster clients over {} keys (N = {}, {} rounds alternating, medians; {})",
        args.data,
        args.clients,
        args.keys,
        args.factor,
        args.rounds,
        super::rig::describe(super::rig::current())
    );
    println!(
        "{:<14} {:>10} {:>14} {:>14} {:>10} {:>12} {:>12} {:>8}",
        "system", "move s", "p99 steady ms", "p99 moving ms", "p99 ratio", "SET/s steady", "SET/s moving", "failed"
    );
    for (name, rounds) in [("kvs", &kvs), ("Redis Cluster", &redis)].into_iter().filter(|(_, r)| !r.is_empty()) {
        let pick = |f: fn(&Round) -> f64| median(&mut rounds.iter().map(f).collect::<Vec<_>>());
        let ratios: Vec<f64> = rounds.iter().map(|r| r.p99_moving_ms / r.p99_steady_ms).collect();
        let (low, high) = (ratios.iter().copied().fold(f64::MAX, f64::min), ratios.iter().copied().fold(0.0, f64::max));
        println!(
            "{:<14} {:>10.2} {:>14.2} {:>14.2} {:>10} {:>12.0} {:>12.0} {:>8}",
            name,
            pick(|r| r.move_s),
            pick(|r| r.p99_steady_ms),
            pick(|r| r.p99_moving_ms),
            format!("{:.2} ({low:.2}–{high:.2})", pick(|r| r.p99_moving_ms / r.p99_steady_ms)),
            pick(|r| r.sets_steady),
            pick(|r| r.sets_moving),
            rounds.iter().map(|r| r.failed).sum::<u64>(),
        );
    }
    Ok(())
}

/// Loads `cluster`, measures a steady run, then adds a node under the same load until the move
/// is done.
async fn grow(cluster: &mut impl Growing, args: &AddNodeArgs) -> Result<Round, String> {
    let ports = cluster.ports();
    finish(benchmark(ports[0], args).spawn().map_err(|e| e.to_string())?)?;
    let (clients, keys, data) = (args.clients, args.keys as u64, args.data);
    let per_client = (args.requests / clients) as u64;
    let steady = cluster_load::run(&ports, clients, keys, data, Until::Each(per_client))?;
    cluster.start_fourth().await?;
    let moving = Arc::new(AtomicBool::new(true));
    let load = {
        let (ports, until) = (ports.clone(), Until::Cleared(moving.clone()));
        std::thread::spawn(move || cluster_load::run(&ports, clients, keys, data, until))
    };
    let started = Instant::now();
    let moved = cluster.move_slots().await;
    let move_s = started.elapsed().as_secs_f64();
    moving.store(false, Ordering::Relaxed);
    let during = load.join().map_err(|_| "the load panicked".to_string())??;
    moved?;
    Ok(Round {
        move_s,
        p99_steady_ms: steady.p99_ms,
        p99_moving_ms: during.p99_ms,
        sets_steady: steady.sets_per_s,
        sets_moving: during.sets_per_s,
        failed: steady.errors + during.errors,
    })
}

/// redis-benchmark in cluster mode writing every key of the key space once or more (pipelined),
/// against `port`.
fn benchmark(port: u16, args: &AddNodeArgs) -> Command {
    let mut command = Command::new("redis-benchmark");
    command
        .args(["--cluster", "-h", "127.0.0.1", "-p", &port.to_string(), "-q", "-t", "set"])
        .args(["-n", &args.keys.to_string(), "-r", &args.keys.to_string(), "-c", &args.clients.to_string()])
        .args(["-P", "16", "-d", &args.data.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// Waits for a redis-benchmark run; an error if it failed.
fn finish(run: Child) -> Result<(), String> {
    let out = run.wait_with_output().map_err(|e| e.to_string())?;
    match out.status.success() {
        true => Ok(()),
        false => Err(format!(
            "redis-benchmark failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )),
    }
}

/// Three kvs nodes growing to four.
struct KvsGrowing {
    nodes: Vec<NodeProcess>,
    factor: usize,
}

impl Growing for KvsGrowing {
    fn ports(&self) -> Vec<u16> {
        self.nodes.iter().map(|node| node.redis().port()).collect()
    }

    async fn start_fourth(&mut self) -> Result<(), String> {
        self.nodes.push(NodeProcess::start(Some(self.nodes[0].addr), &["--redis-port", "0"]));
        super::rig::serve(self.nodes[3].pid());
        wait_for_alive_members(&self.nodes, 4, Duration::from_secs(30)).await;
        wait_for_open_gates(&self.nodes, Duration::from_secs(30)).await;
        Ok(())
    }

    async fn move_slots(&mut self) -> Result<(), String> {
        apply(&self.nodes[0], self.factor)?;
        let deadline = Instant::now() + Duration::from_secs(300);
        while !self.nodes.iter().all(|node| settled(node.redis().port())) {
            if Instant::now() > deadline {
                return Err("the move did not finish in 300 s".into());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(())
    }
}

/// How many nodes CLUSTER NODES lists on the server at `port`.
fn cluster_nodes(port: u16) -> usize {
    let nodes = Command::new("redis-cli").args(["-p", &port.to_string(), "CLUSTER", "NODES"]).output();
    nodes.map_or(0, |out| String::from_utf8_lossy(&out.stdout).lines().count())
}

/// Whether the kvs node serving Redis on `port` holds a layout of four members and has no slot
/// in motion.
fn settled(port: u16) -> bool {
    let info = Command::new("redis-cli").args(["-p", &port.to_string(), "INFO", "cluster"]).output();
    let Ok(info) = info else { return false };
    let text = String::from_utf8_lossy(&info.stdout);
    let field = |name: &str| text.lines().find_map(|line| line.strip_prefix(name)?.trim().parse::<u64>().ok());
    cluster_nodes(port) == 4
        && ["kvs_slots_fetching:", "kvs_slots_kept:", "kvs_slots_left:"].iter().all(|f| field(f) == Some(0))
}

/// Three Redis Cluster primaries (and their replicas) growing by one primary.
struct RedisGrowing {
    servers: Vec<RedisServer>,
}

impl Growing for RedisGrowing {
    fn ports(&self) -> Vec<u16> {
        self.servers.iter().map(|server| server.port).collect()
    }

    async fn start_fourth(&mut self) -> Result<(), String> {
        self.servers.push(cluster_server()?);
        Ok(())
    }

    async fn move_slots(&mut self) -> Result<(), String> {
        let existing = format!("127.0.0.1:{}", self.servers[0].port);
        let new = format!("127.0.0.1:{}", self.servers.last().expect("the fourth").port);
        cli(&["--cluster", "add-node", &new, &existing])?;
        // Rebalance moves slots to the new primary only once every node has heard of it.
        let deadline = Instant::now() + Duration::from_secs(60);
        while !self.servers.iter().all(|server| cluster_nodes(server.port) == self.servers.len()) {
            if Instant::now() > deadline {
                return Err("the new primary was not known to every node in 60 s".into());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        for server in &self.servers {
            wait_cluster_ok(server.port)?;
        }
        cli(&["--cluster", "rebalance", &existing, "--cluster-use-empty-masters"])
    }
}

/// Runs `redis-cli args`, an error if it fails.
fn cli(args: &[&str]) -> Result<(), String> {
    let out = Command::new("redis-cli").args(args).output().map_err(|e| format!("cannot run redis-cli: {e}"))?;
    match out.status.success() {
        true => Ok(()),
        false => Err(format!("redis-cli {}: {}", args.join(" "), String::from_utf8_lossy(&out.stdout))),
    }
}
