//! `cargo xtask bench redis`: redis-benchmark against redis-server, one kvs node and a 3-node kvs
//! cluster, alternating runs over several rounds; medians and kvs/redis ratios; memory per key.

use clap::Args;
use kvs_tests::{start_chain, wait_for_alive_members, wait_until, NodeProcess};
use std::collections::HashMap;
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Redis bench flags.
#[derive(Args, Debug)]
pub struct RedisArgs {
    /// Rounds; each round runs every configuration against every server once, in turn.
    #[arg(long, default_value_t = 3)]
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
}

/// A redis-server child process, killed on drop.
pub(super) struct RedisServer {
    pub(super) child: Child,
    pub(super) port: u16,
}

impl RedisServer {
    fn start() -> Result<RedisServer, String> {
        Self::start_with(|port| vec!["--port".into(), port.to_string()])
    }

    /// Starts one with the flags `listen` gives for a free port (plain or TLS).
    pub(super) fn start_with(listen: impl FnOnce(u16) -> Vec<String>) -> Result<RedisServer, String> {
        let port =
            std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map_err(|e| e.to_string())?.port();
        let child = Command::new("redis-server")
            .args(listen(port))
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start redis-server: {e}"))?;
        let server = RedisServer { child, port };
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline {
                return Err("redis-server did not start listening".into());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(server)
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(super) fn require(program: &str) -> Result<(), String> {
    match Command::new(program).arg("--version").output() {
        Ok(out) if out.status.success() => Ok(()),
        _ => Err(format!("{program} is not installed: apt-get install redis-server redis-tools")),
    }
}

/// One server under test.
struct Target {
    name: &'static str,
    port: u16,
    pid: u32,
}

/// Runs redis-benchmark once for one test (`-t name` or a command line) and returns its
/// requests per second: the first figure of its CSV output.
fn benchmark_one(port: u16, test: &[&str], requests: usize, clients: usize, pipeline: usize) -> Result<f64, String> {
    let out = Command::new("redis-benchmark")
        .args(["-h", "127.0.0.1", "-p", &port.to_string(), "--csv"])
        .args(["-n", &requests.to_string(), "-c", &clients.to_string(), "-P", &pipeline.to_string()])
        .args(test)
        .output()
        .map_err(|e| format!("cannot run redis-benchmark: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .nth(1)
        .and_then(|line| line.split(',').nth(1))
        .and_then(|field| field.trim_matches('"').parse::<f64>().ok())
        .ok_or_else(|| format!("no figure from redis-benchmark {test:?} on port {port}: {text}"))
}

/// The keyspace rows: INCR and SET with an expiry, at -P 1 and -P 16, alternating servers.
fn keyspace_rows(targets: &[Target], args: &RedisArgs) -> Result<(), String> {
    let tests: [(&str, &[&str]); 2] = [("INCR", &["-t", "incr"]), ("SET EX", &["SET", "key", "val", "EX", "100"])];
    let mut figures: HashMap<(usize, usize, usize), Vec<f64>> = HashMap::new();
    for round in 1..=args.rounds {
        for (p, pipeline) in [1, 16].into_iter().enumerate() {
            for (k, (name, test)) in tests.iter().enumerate() {
                for (t, target) in targets.iter().enumerate() {
                    let rps = benchmark_one(target.port, test, args.requests, args.clients, pipeline)?;
                    eprintln!("round {round}: -P {pipeline} {name:<7} {:<13} {rps:>10.0}", target.name);
                    figures.entry((p, k, t)).or_default().push(rps);
                }
            }
        }
    }
    println!(
        "{:<6} {:<7} {:>12} {:>12} {:>7} {:>12} {:>7}",
        "config", "test", "redis", "kvs 1 node", "ratio", "kvs 3 nodes", "ratio"
    );
    for (p, pipeline) in [1, 16].into_iter().enumerate() {
        for (k, (name, _)) in tests.iter().enumerate() {
            let mut m = |t: usize| median(figures.get_mut(&(p, k, t)).expect("measured"));
            let (redis, one, three) = (m(0), m(1), m(2));
            println!(
                "{:<6} {:<7} {:>12.0} {:>12.0} {:>7.2} {:>12.0} {:>7.2}",
                format!("-P {pipeline}"),
                name,
                redis,
                one,
                one / redis,
                three,
                three / redis
            );
        }
    }
    Ok(())
}

/// Runs redis-benchmark once; returns requests per second for SET and GET.
fn benchmark(port: u16, requests: usize, clients: usize, pipeline: usize, data: usize) -> Result<(f64, f64), String> {
    benchmark_with(port, &[], requests, clients, pipeline, data)
}

/// [`benchmark`] with extra redis-benchmark flags (TLS, credentials).
pub(super) fn benchmark_with(
    port: u16,
    extra: &[String],
    requests: usize,
    clients: usize,
    pipeline: usize,
    data: usize,
) -> Result<(f64, f64), String> {
    let out = Command::new("redis-benchmark")
        .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-t", "set,get", "--csv"])
        .args(extra)
        .args(["-n", &requests.to_string(), "-c", &clients.to_string()])
        .args(["-P", &pipeline.to_string(), "-d", &data.to_string()])
        .output()
        .map_err(|e| format!("cannot run redis-benchmark: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let rps = |test: &str| {
        text.lines()
            .find(|line| line.starts_with(&format!("\"{test}\"")))
            .and_then(|line| line.split(',').nth(1))
            .and_then(|field| field.trim_matches('"').parse::<f64>().ok())
            .ok_or_else(|| format!("no {test} figure from redis-benchmark on port {port}: {text}"))
    };
    Ok((rps("SET")?, rps("GET")?))
}

pub(super) fn median(values: &mut [f64]) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    values[values.len() / 2]
}

/// Resident memory of a process in bytes.
fn rss_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kb = status.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1));
    kb.and_then(|kb| kb.parse::<u64>().ok()).unwrap_or(0) * 1024
}

/// Runs the comparison and prints the ratio table and the memory table.
pub async fn run(args: RedisArgs) -> Result<(), String> {
    require("redis-server")?;
    require("redis-benchmark")?;
    if args.security_only {
        return super::secured::run(args.rounds, args.requests, args.clients).await;
    }
    let redis = RedisServer::start()?;
    let single = NodeProcess::start(None, &["--redis-port", "0"]);
    let cluster = start_chain(3, &["--redis-port", "0"]);
    wait_for_alive_members(&cluster, 3, Duration::from_secs(20)).await;
    let targets = [
        Target { name: "redis-server", port: redis.port, pid: redis.child.id() },
        Target { name: "kvs, 1 node", port: single.redis().port(), pid: single.pid() },
        Target { name: "kvs, 3 nodes", port: cluster[0].redis().port(), pid: cluster[0].pid() },
    ];
    if args.keyspace_only {
        keyspace_rows(&targets, &args)?;
        if args.memory_keys > 0 {
            memory(&targets, &cluster, args.memory_keys, Some(100_000)).await?;
        }
        return Ok(());
    }
    let configs = [(1, 3), (16, 3), (1, 100), (16, 100)];
    println!(
        "redis-benchmark -t set,get -n {} -c {}, {} rounds, alternating servers; medians in requests/s",
        args.requests, args.clients, args.rounds
    );
    let mut figures: HashMap<(usize, usize, &str), Vec<f64>> = HashMap::new();
    for round in 1..=args.rounds {
        for (c, &(pipeline, data)) in configs.iter().enumerate() {
            for (t, target) in targets.iter().enumerate() {
                let (set, get) = benchmark(target.port, args.requests, args.clients, pipeline, data)?;
                eprintln!("round {round}: -P {pipeline} -d {data} {:<13} SET {set:>10.0} GET {get:>10.0}", target.name);
                figures.entry((c, t, "SET")).or_default().push(set);
                figures.entry((c, t, "GET")).or_default().push(get);
            }
        }
    }
    println!(
        "{:<12} {:<4} {:>12} {:>12} {:>7} {:>12} {:>7}",
        "config", "test", "redis", "kvs 1 node", "ratio", "kvs 3 nodes", "ratio"
    );
    for (c, &(pipeline, data)) in configs.iter().enumerate() {
        for test in ["SET", "GET"] {
            let mut m = |t: usize| median(figures.get_mut(&(c, t, test)).expect("measured"));
            let (redis, one, three) = (m(0), m(1), m(2));
            println!(
                "{:<12} {:<4} {:>12.0} {:>12.0} {:>7.2} {:>12.0} {:>7.2}",
                format!("-P {pipeline} -d {data}"),
                test,
                redis,
                one,
                one / redis,
                three,
                three / redis
            );
        }
    }
    keyspace_rows(&targets, &args)?;
    if args.memory_keys > 0 {
        memory(&targets, &cluster, args.memory_keys, None).await?;
    }
    super::secured::run(args.rounds, args.requests, args.clients).await
}

/// Loads the same keys into every server (with a TTL of `ttl_s` seconds, if given) and reports
/// resident bytes per key.
async fn memory(targets: &[Target], cluster: &[NodeProcess], n: usize, ttl_s: Option<u64>) -> Result<(), String> {
    let with_ttl = ttl_s.map_or(String::new(), |s| format!(", each with a {s} s TTL"));
    println!("memory: {n} keys of 16 bytes with 100-byte values{with_ttl}, resident set growth per key");
    for target in targets {
        let before = rss_bytes(target.pid);
        let sets = super::load::sets(0..n, &[b'v'; 100]);
        let ttl = ttl_s.map(|s| s.to_string().into_bytes());
        let commands = sets.map(|mut set| {
            if let Some(ttl) = &ttl {
                set.extend([b"EX".to_vec(), ttl.clone()]);
            }
            set
        });
        super::load::pipeline(target.port, commands)?;
        if target.pid == cluster[0].pid() {
            // Measure the cluster once every replica holds every key, so push queues have drained.
            for node in cluster {
                wait_until("replicas to hold every key", Duration::from_secs(120), || async {
                    let status = node.status().await.ok()?;
                    (status.key_count as usize >= n).then_some(())
                })
                .await;
            }
        }
        let after = rss_bytes(target.pid);
        println!("{:<13} {:>8.1} bytes/key", target.name, after.saturating_sub(before) as f64 / n as f64);
    }
    Ok(())
}
