//! The steady load an upgrade runs under: native writes and reads through the failover client,
//! and RESP writes to each node's Redis port in turn.

use kvs_client::{ClientOptions, ClusterClient};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What the load saw: every acknowledged write, and the longest stretch without one.
#[derive(Default)]
pub(super) struct Seen {
    pub(super) acknowledged: Vec<(String, String)>,
    pub(super) failed: usize,
    pub(super) reads: usize,
    pub(super) longest_gap: Duration,
}

/// Writes (and reads back) until `stop`: native through the failover client, RESP to the nodes'
/// Redis ports in turn, moving on from one that does not answer.
pub(super) async fn load(seeds: Vec<String>, redis_ports: Vec<u16>, stop: Arc<AtomicBool>, seen: Arc<Mutex<Seen>>) {
    let Ok(client) = ClusterClient::connect(&seeds, ClientOptions::default()).await else {
        seen.lock().unwrap().failed += 1;
        return;
    };
    let mut last_ok = Instant::now();
    let mut resp_at = 0;
    for i in 0u64.. {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        let (key, value) = (format!("native-{i}"), format!("v{i}"));
        let native = client.set(key.clone(), value.clone()).await.is_ok();
        let read = native && client.get(key.clone()).await.is_ok();
        let (resp_key, resp_value) = (format!("resp-{i}"), format!("r{i}"));
        let port = redis_ports[resp_at % redis_ports.len()];
        let resp = tokio::task::spawn_blocking({
            let (resp_key, resp_value) = (resp_key.clone(), resp_value.clone());
            move || {
                let client = redis::Client::open(format!("redis://127.0.0.1:{port}/")).ok()?;
                let mut conn = client.get_connection_with_timeout(Duration::from_secs(1)).ok()?;
                redis::cmd("SET").arg(&resp_key).arg(&resp_value).query::<()>(&mut conn).ok()
            }
        })
        .await
        .ok()
        .flatten()
        .is_some();
        if !resp {
            resp_at += 1;
        }
        {
            let mut seen = seen.lock().unwrap();
            seen.reads += usize::from(read);
            if native {
                seen.acknowledged.push((key, value));
            }
            if resp {
                seen.acknowledged.push((resp_key, resp_value));
            }
            seen.failed += usize::from(!native) + usize::from(!resp);
            if native || resp {
                seen.longest_gap = seen.longest_gap.max(last_ok.elapsed());
                last_ok = Instant::now();
            }
        }
        if !(native && resp) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
