//! `cargo xtask bench native`: native-protocol throughput and replication lag on a 3-node loopback cluster.

use clap::Args;
use hdrhistogram::Histogram;
use kvs_client::Client;
use kvs_tests::{start_chain, wait_for_alive_members};
use std::time::{Duration, Instant};

/// Native bench flags.
#[derive(Args, Debug)]
pub struct NativeArgs {
    /// Requests per throughput measurement.
    #[arg(long, default_value_t = 50_000)]
    ops: usize,
    /// Connections for the parallel measurements.
    #[arg(long, default_value_t = 50)]
    connections: usize,
    /// Replication-lag samples.
    #[arg(long, default_value_t = 2_000)]
    lag_samples: usize,
    /// Value size in bytes.
    #[arg(long, default_value_t = 100)]
    value_bytes: usize,
}

fn key(i: usize) -> String {
    format!("bench:{i:012}")
}

/// Runs every measurement and prints one table.
pub async fn run(args: NativeArgs) -> Result<(), String> {
    let nodes = start_chain(3, &[]);
    wait_for_alive_members(&nodes, 3, Duration::from_secs(20)).await;
    let addrs: Vec<String> = nodes.iter().map(|n| n.addr.to_string()).collect();
    let value = vec![b'x'; args.value_bytes];
    println!("kvs native bench: 3 nodes on loopback, {} ops, {}-byte values", args.ops, args.value_bytes);
    println!("{:<34} {:>12}", "measurement", "ops/s");

    let seq_set = parallel(&addrs[0], args.ops, 1, value.clone(), true).await?;
    println!("{:<34} {:>12.0}", "SET, 1 connection, sequential", seq_set);
    let seq_get = parallel(&addrs[0], args.ops, 1, value.clone(), false).await?;
    println!("{:<34} {:>12.0}", "GET, 1 connection, sequential", seq_get);

    let par_set = parallel(&addrs[0], args.ops, args.connections, value.clone(), true).await?;
    println!("{:<34} {:>12.0}", format!("SET, {} connections", args.connections), par_set);
    let par_get = parallel(&addrs[0], args.ops, args.connections, value.clone(), false).await?;
    println!("{:<34} {:>12.0}", format!("GET, {} connections", args.connections), par_get);

    let lag = replication_lag(&addrs, args.lag_samples, &value).await?;
    println!(
        "replication lag (SET on A until readable on B and C, {} samples): p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
        lag.len(),
        lag.value_at_quantile(0.50) as f64 / 1000.0,
        lag.value_at_quantile(0.99) as f64 / 1000.0,
        lag.max() as f64 / 1000.0
    );
    Ok(())
}

async fn connect(addr: &str) -> Result<Client, String> {
    Client::connect(addr).await.map_err(|e| format!("connect {addr}: {e}"))
}

/// `connections` clients in parallel, each sequential; returns total requests per second.
pub async fn parallel(addr: &str, ops: usize, connections: usize, value: Vec<u8>, write: bool) -> Result<f64, String> {
    let per_client = ops / connections.max(1);
    let mut clients = Vec::new();
    for _ in 0..connections {
        clients.push(connect(addr).await?);
    }
    let start = Instant::now();
    let mut tasks = Vec::new();
    for (c, mut client) in clients.into_iter().enumerate() {
        let value = value.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..per_client {
                let k = key(c * per_client + i);
                if write {
                    client.set(k, value.clone()).await?;
                } else {
                    client.get(k).await?;
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

/// Time from sending a SET to A until both B and C return the value, in microseconds.
async fn replication_lag(addrs: &[String], samples: usize, value: &[u8]) -> Result<Histogram<u64>, String> {
    let mut a = connect(&addrs[0]).await?;
    let mut readers = [connect(&addrs[1]).await?, connect(&addrs[2]).await?];
    let mut histogram = Histogram::<u64>::new(3).expect("histogram");
    let poll_deadline = Duration::from_secs(10);
    for i in 0..samples {
        let k = format!("lag:{i:08}");
        let start = Instant::now();
        a.set(k.clone(), value.to_vec()).await.map_err(|e| e.to_string())?;
        for reader in readers.iter_mut() {
            while reader.get(k.clone()).await.map_err(|e| e.to_string())?.is_none() {
                if start.elapsed() > poll_deadline {
                    return Err(format!("{k} did not replicate within {poll_deadline:?}"));
                }
            }
        }
        histogram.record(start.elapsed().as_micros() as u64).map_err(|e| e.to_string())?;
    }
    Ok(histogram)
}
