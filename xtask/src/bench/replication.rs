//! The fair baseline for a replicated kvs cluster: a Redis primary with two replicas, and
//! replication lag measured by one tool for both (SET on the primary or node A over RESP, then GET
//! polled on the two others until both return the value).

use super::redis_tools::RedisServer;
use hdrhistogram::Histogram;
use kvs_tests::resp;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// A redis-server primary and two replicas (`--replicaof`), killed on drop.
pub(super) struct RedisReplicaSet {
    /// The primary, which takes the writes.
    pub(super) primary: RedisServer,
    /// The two replicas.
    pub(super) replicas: [RedisServer; 2],
}

impl RedisReplicaSet {
    /// Starts the three and waits until both replicas are in sync with the primary.
    pub(super) fn start() -> Result<RedisReplicaSet, String> {
        let primary = RedisServer::start()?;
        let replica = || {
            RedisServer::start_with(|port| {
                let of = ["--replicaof".into(), "127.0.0.1".into(), primary.port.to_string()];
                ["--port".into(), port.to_string()].into_iter().chain(of).collect()
            })
        };
        let replicas = [replica()?, replica()?];
        let set = RedisReplicaSet { primary, replicas };
        let deadline = Instant::now() + Duration::from_secs(20);
        while !set.in_sync() {
            if Instant::now() > deadline {
                return Err("redis replicas did not reach the primary".into());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(set)
    }

    fn in_sync(&self) -> bool {
        let info = |server: &RedisServer| -> String {
            redis::cmd("INFO").arg("replication").query(&mut resp::connect(server.addr())).unwrap_or_default()
        };
        info(&self.primary).contains("connected_slaves:2")
            && self.replicas.iter().all(|r| info(r).contains("master_link_status:up"))
    }
}

/// One lag run's figures, in microseconds per sample.
pub(super) struct Lag {
    /// From sending the SET until every reader returns the value: the replication lag.
    pub(super) replicated: Histogram<u64>,
    /// From sending the SET until its reply: the part of the lag that is the write itself.
    pub(super) acknowledged: Histogram<u64>,
    /// From sending the SET until the first reader returns the value.
    pub(super) first_reader: Histogram<u64>,
    /// GETs that found nothing yet, over all samples and readers: each is a round trip the lag
    /// waited for a replica to apply the write.
    pub(super) empty_reads: u64,
}

/// Replication lag: for each sample, the time from sending a SET of a new key to `writer` until
/// every one of `readers` returns its value, every request over RESP on one connection per server,
/// polled as fast as answers come back; with the SET's own round trip and the first reader's time.
pub(super) fn lag(writer: SocketAddr, readers: &[SocketAddr], samples: usize) -> Result<Lag, String> {
    let mut write = resp::connect(writer);
    let mut reads: Vec<_> = readers.iter().copied().map(resp::connect).collect();
    let histogram = || Histogram::<u64>::new(3).expect("histogram");
    let mut lag = Lag { replicated: histogram(), acknowledged: histogram(), first_reader: histogram(), empty_reads: 0 };
    let poll_deadline = Duration::from_secs(10);
    let value = [b'v'; 100];
    // A per-run prefix, so keys from an earlier round are never already there.
    let run = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let micros = |start: Instant| start.elapsed().as_micros() as u64;
    for i in 0..samples {
        let key = format!("lag:{run:x}:{i:08}");
        let start = Instant::now();
        redis::cmd("SET").arg(&key).arg(&value[..]).query::<()>(&mut write).map_err(|e| e.to_string())?;
        lag.acknowledged.record(micros(start)).map_err(|e| e.to_string())?;
        for (n, read) in reads.iter_mut().enumerate() {
            while redis::cmd("GET").arg(&key).query::<Option<Vec<u8>>>(read).map_err(|e| e.to_string())?.is_none() {
                lag.empty_reads += 1;
                if start.elapsed() > poll_deadline {
                    return Err(format!("{key} did not replicate within {poll_deadline:?}"));
                }
            }
            if n == 0 {
                lag.first_reader.record(micros(start)).map_err(|e| e.to_string())?;
            }
        }
        lag.replicated.record(micros(start)).map_err(|e| e.to_string())?;
    }
    Ok(lag)
}

/// A replicated system for [`cost_rows`]: where writes go, and the writer's and replicas' pids.
pub(super) struct Replicated {
    /// Its name in the table.
    pub(super) name: &'static str,
    /// The RESP port of the primary or node A.
    pub(super) port: u16,
    /// The writer, then the two replicas.
    pub(super) pids: [u32; 3],
}

/// What a replicated write costs: redis-benchmark SETs in every configuration against each system
/// in turn (each round starting at the other), with the CPU time every process of it spent per
/// SET; medians. The sum over the writer and both replicas is the price of a replicated write,
/// and steadier than throughput on a shared machine.
pub(super) fn cost_rows(
    systems: [&Replicated; 2],
    rounds: usize,
    requests: usize,
    clients: usize,
) -> Result<(), String> {
    let rows = super::redis_tools::CONFIGS.map(|(pipeline, data)| {
        (format!("-P {pipeline} -d {data}"), vec!["-t".into(), "set".into(), "-d".into(), data.to_string()], pipeline)
    });
    let title = format!("CPU per replicated SET (redis-benchmark -t set -c {clients}");
    measured_rows(systems, &title, &rows, (rounds, requests, clients))
}

/// What a replicated collection write costs (HSET, SADD, ZADD of redis-benchmark over 10,000
/// members), as [`cost_rows`] measures a SET's.
pub(super) fn collection_cost_rows(
    systems: [&Replicated; 2],
    rounds: usize,
    requests: usize,
    clients: usize,
) -> Result<(), String> {
    let rows: Vec<(String, Vec<String>, usize)> = [1, 16]
        .into_iter()
        .flat_map(|pipeline| {
            ["hset", "sadd", "zadd"].map(|test| {
                let args = vec!["-r".into(), "10000".into(), "-t".into(), test.into()];
                (format!("-P {pipeline} {}", test.to_uppercase()), args, pipeline)
            })
        })
        .collect();
    let title = format!("CPU per replicated collection write (redis-benchmark -r 10000 -c {clients}");
    measured_rows(systems, &title, &rows, (rounds, requests, clients))
}

/// The table of [`cost_rows`]: a row per (label, redis-benchmark arguments, pipeline).
fn measured_rows(
    systems: [&Replicated; 2],
    title: &str,
    rows: &[(String, Vec<String>, usize)],
    (rounds, requests, clients): (usize, usize, usize),
) -> Result<(), String> {
    println!("{title}, writer + both replicas), {rounds} rounds, medians in µs");
    cost_header(systems);
    for (label, args, pipeline) in rows {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        cost_row(systems, label, &args, (rounds, requests, clients, *pipeline))?;
    }
    Ok(())
}

fn cost_header(systems: [&Replicated; 2]) {
    println!(
        "{:<12} {:>22} {:>22} {:>7}",
        "config",
        format!("{}: writer+replicas", systems[0].name),
        format!("{}: writer+replicas", systems[1].name),
        "ratio"
    );
}

/// One row: `args` run against each system in turn, every round starting at the other.
fn cost_row(
    systems: [&Replicated; 2],
    label: &str,
    args: &[&str],
    (rounds, requests, clients, pipeline): (usize, usize, usize, usize),
) -> Result<(), String> {
    // Per system: the writer's, the replicas' (together) and the total, per round.
    let mut figures: [[Vec<f64>; 3]; 2] = Default::default();
    let requests = requests * if pipeline > 1 { super::redis_tools::PIPELINED_SCALE } else { 1 };
    for round in 0..rounds {
        for s in (0..systems.len()).map(|i| (i + round) % systems.len()) {
            let system = systems[s];
            let before = system.pids.map(super::redis_tools::cpu_seconds);
            super::redis_tools::benchmark_one(system.port, args, requests, clients, pipeline)?;
            let per_write =
                |p: usize| (super::redis_tools::cpu_seconds(system.pids[p]) - before[p]) * 1e6 / requests as f64;
            let (writer, replicas) = (per_write(0), per_write(1) + per_write(2));
            eprintln!("round {round}: {label} {:<18} writer {writer:.2} replicas {replicas:.2} µs/write", system.name);
            for (slot, value) in [writer, replicas, writer + replicas].into_iter().enumerate() {
                figures[s][slot].push(value);
            }
        }
    }
    let [redis, kvs] = figures.map(|mut f| f.each_mut().map(|values| super::redis_tools::median(values)));
    let cell = |f: [f64; 3]| format!("{:.2} + {:.2} = {:.2}", f[0], f[1], f[2]);
    println!("{:<12} {:>22} {:>22} {:>7.2}", label, cell(redis), cell(kvs), kvs[2] / redis[2]);
    Ok(())
}
