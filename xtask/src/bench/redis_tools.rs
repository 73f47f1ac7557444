//! What every Redis-side bench uses: a redis-server child, redis-benchmark runs, and the
//! measures taken of a process (CPU time, resident memory) and of a set of runs (the median).

use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A redis-server child process, killed on drop.
pub(super) struct RedisServer {
    pub(super) child: Child,
    pub(super) port: u16,
    /// Its working directory: a primary and its replicas write the RDB files of a full sync
    /// there, which must not land in the checkout.
    _dir: tempfile::TempDir,
}

impl RedisServer {
    /// Where it listens.
    pub(super) fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// Starts a plain one on a free port.
    pub(super) fn start() -> Result<RedisServer, String> {
        Self::start_with(|port| vec!["--port".into(), port.to_string()])
    }

    /// Starts one with the flags `listen` gives for a free port (plain or TLS).
    pub(super) fn start_with(listen: impl FnOnce(u16) -> Vec<String>) -> Result<RedisServer, String> {
        let port = free_port()?;
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let child = Command::new("redis-server")
            .current_dir(dir.path())
            .args(listen(port))
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start redis-server: {e}"))?;
        super::rig::serve(child.id());
        let server = RedisServer { child, port, _dir: dir };
        wait_listening(port)?;
        Ok(server)
    }
}

/// A loopback port free now, for a server to be started on.
pub(super) fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).map_err(|e| e.to_string())
}

/// Waits until a redis-server listens on `port`.
pub(super) fn wait_listening(port: u16) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline {
            return Err("redis-server did not start listening".into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Fails with how to install `program` unless it runs.
pub(super) fn require(program: &str) -> Result<(), String> {
    match Command::new(program).arg("--version").output() {
        Ok(out) if out.status.success() => Ok(()),
        _ => Err(format!("{program} is not installed: apt-get install redis-server redis-tools")),
    }
}

/// Runs redis-benchmark once for one test (`-t name` or a command line) and returns its
/// requests per second: the first figure of its CSV output.
pub(super) fn benchmark_one(
    port: u16,
    test: &[&str],
    requests: usize,
    clients: usize,
    pipeline: usize,
) -> Result<f64, String> {
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

/// How many times more requests a pipelined keyspace run makes.
pub(super) const PIPELINED_SCALE: usize = 5;

/// CPU time (user and system) a process has used, in seconds.
pub(super) fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name, which is in parentheses and may hold spaces: utime and
    // stime are the 12th and 13th.
    let fields: Vec<&str> = stat.rsplit_once(')').map_or("", |(_, rest)| rest).split_whitespace().collect();
    let ticks: u64 = fields.get(11).and_then(|f| f.parse().ok()).unwrap_or(0)
        + fields.get(12).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
    ticks as f64 / rustix::param::clock_ticks_per_second().max(1) as f64
}

/// Runs redis-benchmark once; returns requests per second for SET and GET.
pub(super) fn benchmark(
    port: u16,
    requests: usize,
    clients: usize,
    pipeline: usize,
    data: usize,
) -> Result<(f64, f64), String> {
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

/// The middle of `values` (sorted in place).
pub(super) fn median(values: &mut [f64]) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    values[values.len() / 2]
}

/// Resident memory of a process in bytes.
pub(super) fn rss_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kb = status.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1));
    kb.and_then(|kb| kb.parse::<u64>().ok()).unwrap_or(0) * 1024
}

/// The SET and GET configurations: pipeline depth and value size.
pub(super) const CONFIGS: [(usize, usize); 4] = [(1, 3), (16, 3), (1, 100), (16, 100)];
