//! redis-server with its append-only file, the peer of `bench durability`: write throughput under
//! `appendfsync always`, and the time from starting it on an AOF holding the bench's keys until a
//! GET answers, as the bench measures a kvs node's restart.

use super::load::{key, pipeline, sets};
use super::redis_tools::{benchmark_one, free_port, wait_listening};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A redis-server child with `appendonly yes` on `dir`, killed on drop.
struct AofServer {
    child: Child,
    port: u16,
}

impl AofServer {
    /// Starts one on `dir` with `appendfsync` set to `fsync`.
    fn start(dir: &Path, fsync: &str) -> Result<AofServer, String> {
        let port = free_port()?;
        let child = Command::new("redis-server")
            .current_dir(dir)
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", ""])
            .args(["--appendonly", "yes", "--appendfsync", fsync])
            // No rewrite of its own, so the file "as written" is the writes' commands.
            .args(["--auto-aof-rewrite-percentage", "0"])
            .stdout(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start redis-server: {e}"))?;
        super::rig::serve(child.id());
        Ok(AofServer { child, port })
    }

    /// Waits until a GET of `key` answers with a value (a loading server answers `-LOADING`).
    fn until_serving(&self, key: &[u8], deadline: Instant) -> Result<(), String> {
        let url = format!("redis://127.0.0.1:{}/", self.port);
        loop {
            let found = redis::Client::open(url.as_str())
                .and_then(|client| client.get_connection())
                .and_then(|mut conn| redis::cmd("GET").arg(key).query::<Option<Vec<u8>>>(&mut conn));
            if matches!(found, Ok(Some(_))) {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "redis-server did not serve {:?} in time: {found:?}",
                    String::from_utf8_lossy(key)
                ));
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// A field of `INFO persistence`.
    fn persistence(&self, field: &str) -> u64 {
        let url = format!("redis://127.0.0.1:{}/", self.port);
        let info: String = redis::Client::open(url.as_str())
            .and_then(|client| client.get_connection())
            .and_then(|mut conn| redis::cmd("INFO").arg("persistence").query(&mut conn))
            .unwrap_or_default();
        info.lines().find_map(|l| l.strip_prefix(&format!("{field}:"))).and_then(|v| v.trim().parse().ok()).unwrap_or(0)
    }

    /// `SHUTDOWN` (which flushes the AOF) and waits for the process to end.
    fn shut_down(mut self) -> Result<(), String> {
        let _ = pipeline(self.port, std::iter::once(vec![b"SHUTDOWN".to_vec()]));
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.child.try_wait().map_err(|e| e.to_string())?.is_none() {
            if Instant::now() > deadline {
                return Err("redis-server did not shut down".into());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(())
    }
}

impl Drop for AofServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Restart times of redis-server holding `keys` of the bench's keys in its AOF: as the writes
/// left it (commands), and after `BGREWRITEAOF` (an RDB preamble). Seconds from start to serving.
pub(super) fn restart_times(keys: usize) -> Result<[f64; 2], String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let server = AofServer::start(dir.path(), "everysec")?;
    wait_listening(server.port)?;
    pipeline(server.port, sets(0..keys, &[b'v'; 100]))?;
    server.shut_down()?;
    let probe = key(7);
    let timed = |dir: &Path| -> Result<(f64, AofServer), String> {
        let started = Instant::now();
        let server = AofServer::start(dir, "everysec")?;
        server.until_serving(&probe, started + Duration::from_secs(300))?;
        Ok((started.elapsed().as_secs_f64(), server))
    };
    let (as_written, server) = timed(dir.path())?;
    pipeline(server.port, std::iter::once(vec![b"BGREWRITEAOF".to_vec()]))?;
    let deadline = Instant::now() + Duration::from_secs(120);
    while server.persistence("aof_rewrite_in_progress") == 1 || server.persistence("aof_rewrite_scheduled") == 1 {
        if Instant::now() > deadline {
            return Err("redis-server's BGREWRITEAOF did not finish".into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    server.shut_down()?;
    let (rewritten, _server) = timed(dir.path())?;
    Ok([as_written, rewritten])
}

/// SET throughput of redis-server under `appendfsync always` with `clients` connections.
pub(super) fn redis_always(requests: usize, clients: usize) -> Result<f64, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let server = AofServer::start(dir.path(), "always")?;
    wait_listening(server.port)?;
    set_throughput(server.port, requests, clients)
}

/// redis-benchmark SETs of 100-byte values on 100,000 keys from `clients` connections: the one
/// load both systems' durable writes are measured with.
pub(super) fn set_throughput(port: u16, requests: usize, clients: usize) -> Result<f64, String> {
    benchmark_one(port, &["-t", "set", "-d", "100", "-r", "100000"], requests, clients, 1)
}
