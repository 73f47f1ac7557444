//! `cargo xtask bench durability`: write throughput per fsync mode against memory-only, with 1 and
//! 50 clients; restart time of a node holding 1,000,000 keys; disk bytes per key after a compaction.

use super::load::{pipeline, sets};
use clap::Args;
use kvs_tests::NodeProcess;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Durability bench flags.
#[derive(Args, Debug)]
pub struct DurabilityArgs {
    /// Writes per throughput measurement with one client.
    #[arg(long, default_value_t = 5_000)]
    ops_one: usize,
    /// Writes per throughput measurement with 50 clients.
    #[arg(long, default_value_t = 50_000)]
    ops_many: usize,
    /// Keys held for the restart and disk measurements.
    #[arg(long, default_value_t = 1_000_000)]
    keys: usize,
}

fn dir_arg(dir: &tempfile::TempDir) -> String {
    dir.path().display().to_string()
}

/// One field of `INFO persistence` on a node's Redis port.
fn persistence_field(node: &NodeProcess, field: &str) -> Result<u64, String> {
    let out = std::process::Command::new("redis-cli")
        .args(["-p", &node.redis().port().to_string(), "info", "persistence"])
        .output()
        .map_err(|e| format!("redis-cli (apt-get install redis-tools): {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|line| line.strip_prefix(&format!("{field}:")))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| format!("no {field} in INFO persistence: {text}"))
}

/// Runs every measurement and prints the tables.
pub async fn run(args: DurabilityArgs) -> Result<(), String> {
    println!("write throughput on one node, native protocol, 100-byte values (writes/s)");
    println!("{:<14} {:>12} {:>12}", "mode", "1 client", "50 clients");
    for mode in ["memory-only", "never", "everysec", "always"] {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let mut extra = Vec::new();
        if mode != "memory-only" {
            extra = vec!["--data-dir".to_string(), dir_arg(&dir), "--fsync".to_string(), mode.to_string()];
        }
        let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
        let node = NodeProcess::start(None, &extra);
        let addr = node.addr.to_string();
        let one = parallel(&addr, args.ops_one, 1, vec![b'x'; 100], true).await?;
        let many = parallel(&addr, args.ops_many, 50, vec![b'x'; 100], true).await?;
        println!("{mode:<14} {one:>12.0} {many:>12.0}");
    }
    always_against_redis(&args)?;

    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let extra = ["--redis-port", "0", "--data-dir", &dir_arg(&dir), "--fsync", "everysec"];
    let mut node = NodeProcess::start(None, &extra);
    pipeline(node.redis().port(), sets(0..args.keys, &[b'v'; 100]))?;
    // A compaction the load itself triggered must finish first, or it would be mistaken for ours.
    let deadline = Instant::now() + Duration::from_secs(120);
    while persistence_field(&node, "aof_rewrite_in_progress")? == 1 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let rewrites = persistence_field(&node, "aof_rewrites")?;
    pipeline(node.redis().port(), std::iter::once(vec![b"BGREWRITEAOF".to_vec()]))?;
    let deadline = Instant::now() + Duration::from_secs(120);
    while persistence_field(&node, "aof_rewrites")? <= rewrites {
        if Instant::now() > deadline {
            return Err("the log compaction did not finish".into());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let size = std::fs::metadata(dir.path().join("log")).map_err(|e| e.to_string())?.len();
    println!(
        "disk after a compaction: {size} bytes for {} keys of 16 bytes with 100-byte values = {:.1} bytes/key",
        args.keys,
        size as f64 / args.keys as f64
    );
    node.client().await.shutdown().await.map_err(|e| e.to_string())?;
    node.wait_exit(Duration::from_secs(60));

    let redis = super::redis_aof::restart_times(args.keys)?;
    println!(
        "redis-server restart to serving: {:.3} s from its AOF as written, {:.3} s after BGREWRITEAOF",
        redis[0], redis[1]
    );
    for how in ["clean shutdown", "kill -9"] {
        let addr: SocketAddr = node.addr;
        let started = Instant::now();
        let restarted = NodeProcess::start_on(addr, None, &extra);
        // The address is printed only after the log is replayed; a read proves it serves.
        let value = restarted.get("key:000000000007").await.map_err(|e| e.to_string())?;
        let elapsed = started.elapsed();
        if value.is_none() {
            return Err("a replayed key is missing".into());
        }
        let keys = restarted.status().await.map_err(|e| e.to_string())?.key_count;
        let seconds = elapsed.as_secs_f64();
        println!(
            "restart to serving after {how}: {seconds:.3} s ({keys} keys), {:.2}× redis-server's AOF as written, {:.2}× after its rewrite",
            seconds / redis[0],
            seconds / redis[1]
        );
        node = restarted;
        if how == "clean shutdown" {
            node.kill();
        }
    }
    Ok(())
}

/// `--fsync always` against redis-server's `appendfsync always`, both on their RESP port under
/// the same redis-benchmark load with 50 clients: group commit against one fsync per event loop.
fn always_against_redis(args: &DurabilityArgs) -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let node = NodeProcess::start(None, &["--redis-port", "0", "--data-dir", &dir_arg(&dir), "--fsync", "always"]);
    super::rig::serve(node.pid());
    let kvs = super::redis_aof::set_throughput(node.redis().port(), args.ops_many, 50)?;
    drop(node);
    let redis = super::redis_aof::redis_always(args.ops_many, 50)?;
    println!(
        "fsync on every write, redis-benchmark SET -c 50 -d 100: kvs --fsync always {kvs:.0}/s, redis-server appendfsync always {redis:.0}/s, {:.2}×",
        kvs / redis
    );
    Ok(())
}

/// `connections` clients in parallel, each sequential; returns total requests per second.
async fn parallel(addr: &str, ops: usize, connections: usize, value: Vec<u8>, write: bool) -> Result<f64, String> {
    let per_client = ops / connections.max(1);
    let mut clients = Vec::new();
    for _ in 0..connections {
        clients.push(kvs_client::Client::connect(addr).await.map_err(|e| format!("connect {addr}: {e}"))?);
    }
    let start = std::time::Instant::now();
    let mut tasks = Vec::new();
    for (c, mut client) in clients.into_iter().enumerate() {
        let value = value.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..per_client {
                let key = format!("bench:{:012}", c * per_client + i);
                if write {
                    client.set(key, value.clone()).await?;
                } else {
                    client.get(key).await?;
                }
            }
            Ok::<(), kvs_client::ClientError>(())
        }));
    }
    for task in tasks {
        task.await.map_err(|e| e.to_string())?.map_err(|e| e.to_string())?;
    }
    Ok((per_client * connections) as f64 / start.elapsed().as_secs_f64())
}
