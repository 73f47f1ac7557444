//! A SET load through Redis Cluster clients (redis-rs's, which follows MOVED and ASK and learns
//! nodes that join): redis-benchmark 7's cluster mode knows only the primaries it started with and
//! exits when slots move to a node it has not seen, so it cannot load a cluster that grows.
//!
//! One thread a connection, one request in flight each, on this process's core (the load core):
//! every SET's latency goes into one histogram, and every error is counted, never retried.

use hdrhistogram::Histogram;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// What a load did.
#[derive(Clone, Copy, Debug)]
pub(super) struct Loaded {
    pub(super) sets_per_s: f64,
    pub(super) p99_ms: f64,
    pub(super) errors: u64,
}

/// How long a load runs.
pub(super) enum Until {
    /// This many SETs a connection.
    Each(u64),
    /// Until the flag is cleared (and at least one SET a connection).
    Cleared(Arc<AtomicBool>),
}

/// Runs `clients` connections to the cluster at `ports` writing SETs of `data` bytes to random
/// keys among `keys` (`key:<n>`, as redis-benchmark's `-r` names them) until `until`.
pub(super) fn run(ports: &[u16], clients: usize, keys: u64, data: usize, until: Until) -> Result<Loaded, String> {
    let urls: Vec<String> = ports.iter().map(|port| format!("redis://127.0.0.1:{port}")).collect();
    let client = redis::cluster::ClusterClient::new(urls).map_err(|e| e.to_string())?;
    let until = Arc::new(until);
    let started = Instant::now();
    let threads: Vec<_> = (0..clients)
        .map(|i| {
            let (client, until) = (client.clone(), until.clone());
            std::thread::spawn(move || connection(&client, i as u64, keys, data, &until))
        })
        .collect();
    let mut latencies = Histogram::<u64>::new(3).map_err(|e| e.to_string())?;
    let mut errors = 0;
    for thread in threads {
        let (theirs, failed) = thread.join().map_err(|_| "a load thread panicked".to_string())??;
        latencies.add(theirs).map_err(|e| e.to_string())?;
        errors += failed;
    }
    let elapsed = started.elapsed().as_secs_f64();
    Ok(Loaded {
        sets_per_s: latencies.len() as f64 / elapsed,
        p99_ms: latencies.value_at_quantile(0.99) as f64 / 1000.0,
        errors,
    })
}

/// One connection's SETs: their latencies in µs, and how many failed.
fn connection(
    client: &redis::cluster::ClusterClient,
    seed: u64,
    keys: u64,
    data: usize,
    until: &Until,
) -> Result<(Histogram<u64>, u64), String> {
    let mut connection = client.get_connection().map_err(|e| e.to_string())?;
    let mut latencies = Histogram::<u64>::new(3).map_err(|e| e.to_string())?;
    let (value, mut failed, mut state) = (vec![b'x'; data], 0, seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let mut done = 0u64;
    while match until {
        Until::Each(n) => done < *n,
        Until::Cleared(flag) => done == 0 || flag.load(Ordering::Relaxed),
    } {
        // xorshift64: a key per request without a shared generator.
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let key = format!("key:{:012}", state % keys);
        let sent = Instant::now();
        match redis::cmd("SET").arg(&key).arg(&value[..]).query::<()>(&mut connection) {
            Ok(()) => latencies.record(sent.elapsed().as_micros() as u64).map_err(|e| e.to_string())?,
            Err(_) => failed += 1,
        }
        done += 1;
    }
    Ok((latencies, failed))
}
