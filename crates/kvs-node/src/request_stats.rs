//! Requests served, by protocol, command and outcome, and how long their batches took: what the
//! admin port's /metrics reports.
//!
//! Plain atomics bumped where a request is answered, read only when scraped: a labelled metric
//! family looked up per request (a lock and a hash of the labels) would cost more than the
//! fastest commands themselves.

use crate::redis::table;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// A protocol clients speak.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientProtocol {
    /// The native, length-delimited protocol.
    Native,
    /// RESP, on the Redis port.
    Resp,
}

impl ClientProtocol {
    /// The label /metrics uses.
    pub fn name(self) -> &'static str {
        match self {
            ClientProtocol::Native => "native",
            ClientProtocol::Resp => "resp",
        }
    }
}

/// The native protocol's requests, in the order their counters are kept.
pub const NATIVE_COMMANDS: [&str; 12] =
    ["get", "set", "delete", "mget", "mset", "export", "load", "status", "inspect", "shutdown", "versions", "history"];

/// The native requests that read keys, for [`RequestStats::reads`].
const NATIVE_READS: [&str; 4] = ["get", "mget", "export", "inspect"];

/// Upper bounds of the latency buckets, in seconds (the last bucket, +Inf, is implied).
pub const LATENCY_BOUNDS_S: [f64; 14] =
    [0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0];

/// Answers of one command: carried out, or answered with an error, and the time they took.
#[derive(Debug, Default)]
struct Outcomes {
    ok: AtomicU64,
    error: AtomicU64,
    /// Microseconds spent running the command (RESP only: what INFO commandstats reports).
    usec: AtomicU64,
}

/// One row of INFO commandstats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CommandCount {
    /// The command.
    pub name: &'static str,
    /// Times it was answered.
    pub calls: u64,
    /// Of which with an error.
    pub failed: u64,
    /// Microseconds it ran, all calls together.
    pub usec: u64,
}

/// Most distinct error prefixes counted (as Redis, beyond it new ones go uncounted).
const MAX_ERROR_KINDS: usize = 128;

/// A latency histogram with fixed buckets.
#[derive(Debug, Default)]
pub struct Latency {
    buckets: [AtomicU64; LATENCY_BOUNDS_S.len() + 1],
    sum_ns: AtomicU64,
    count: AtomicU64,
}

impl Latency {
    /// Records `requests` requests that each took `took`.
    fn observe(&self, took: Duration, requests: u64) {
        let seconds = took.as_secs_f64();
        let bucket = LATENCY_BOUNDS_S.iter().position(|&bound| seconds <= bound).unwrap_or(LATENCY_BOUNDS_S.len());
        self.buckets[bucket].fetch_add(requests, Ordering::Relaxed);
        self.sum_ns.fetch_add(took.as_nanos() as u64 * requests, Ordering::Relaxed);
        self.count.fetch_add(requests, Ordering::Relaxed);
    }

    fn reset(&self) {
        for counter in self.buckets.iter().chain([&self.sum_ns, &self.count]) {
            counter.store(0, Ordering::Relaxed);
        }
    }

    /// Sum in seconds, count, and the count in each bucket by its upper bound (+Inf last; the
    /// encoder makes them cumulative).
    pub fn snapshot(&self) -> (f64, u64, Vec<(f64, u64)>) {
        let bounds = LATENCY_BOUNDS_S.iter().copied().chain([f64::INFINITY]);
        let buckets = bounds.zip(&self.buckets).map(|(bound, n)| (bound, n.load(Ordering::Relaxed))).collect();
        let sum = self.sum_ns.load(Ordering::Relaxed) as f64 / 1e9;
        (sum, self.count.load(Ordering::Relaxed), buckets)
    }
}

/// Every counter of requests served.
#[derive(Debug)]
pub struct RequestStats {
    /// One per row of the Redis command table, then one for unknown commands.
    resp: Box<[Outcomes]>,
    native: [Outcomes; NATIVE_COMMANDS.len()],
    /// Native, then RESP.
    latency: [Latency; 2],
    /// Error replies on the Redis port by their first word (`ERR`, `WRONGTYPE`, ...), for INFO
    /// errorstats; only errors take the lock.
    errors: std::sync::Mutex<std::collections::BTreeMap<String, u64>>,
    /// Reads of a key that found it, and that did not (INFO's keyspace_hits and _misses).
    lookups: [AtomicU64; 2],
}

impl Default for RequestStats {
    fn default() -> Self {
        RequestStats {
            resp: (0..=table::COMMANDS.len()).map(|_| Outcomes::default()).collect(),
            native: Default::default(),
            latency: Default::default(),
            errors: Default::default(),
            lookups: Default::default(),
        }
    }
}

/// One counter line: protocol, command, outcome and count.
pub type RequestCount = (ClientProtocol, &'static str, &'static str, u64);

impl RequestStats {
    /// Counts a RESP command answered (`spec`: its table row; `None`, an unknown command) after
    /// running for `took`.
    pub fn resp(&self, spec: Option<&table::CommandSpec>, ok: bool, took: Duration) {
        let row = spec.map_or(table::COMMANDS.len(), table::position);
        bump(&self.resp[row], ok);
        self.resp[row].usec.fetch_add(took.as_micros() as u64, Ordering::Relaxed);
    }

    /// Counts an error reply whose first word is `kind` (`ERR`, `WRONGTYPE`, ...).
    pub fn error_reply(&self, kind: &str) {
        let mut errors = self.errors.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = errors.get_mut(kind) {
            *count += 1;
        } else if errors.len() < MAX_ERROR_KINDS {
            errors.insert(kind.to_string(), 1);
        }
    }

    /// Error replies by kind, for INFO errorstats.
    pub fn error_counts(&self) -> Vec<(String, u64)> {
        let errors = self.errors.lock().unwrap_or_else(|p| p.into_inner());
        errors.iter().map(|(kind, &count)| (kind.clone(), count)).collect()
    }

    /// Every RESP command called at least once, for INFO commandstats.
    pub fn command_counts(&self) -> Vec<CommandCount> {
        let rows = table::COMMANDS.iter().zip(self.resp.iter());
        rows.filter_map(|(spec, o)| {
            let (ok, failed) = (o.ok.load(Ordering::Relaxed), o.error.load(Ordering::Relaxed));
            let usec = o.usec.load(Ordering::Relaxed);
            (ok + failed > 0).then_some(CommandCount { name: spec.name, calls: ok + failed, failed, usec })
        })
        .collect()
    }

    /// CONFIG RESETSTAT: every count back to zero.
    pub fn reset(&self) {
        for outcomes in self.resp.iter().chain(&self.native) {
            for counter in [&outcomes.ok, &outcomes.error, &outcomes.usec] {
                counter.store(0, Ordering::Relaxed);
            }
        }
        for latency in &self.latency {
            latency.reset();
        }
        self.errors.lock().unwrap_or_else(|p| p.into_inner()).clear();
        for counter in &self.lookups {
            counter.store(0, Ordering::Relaxed);
        }
    }

    /// Adds a batch's reads of keys (GET, MGET): those that found their key, and those that
    /// did not. Counted per connection and added per batch, so a pipelined GET costs no atomic.
    pub fn add_lookups(&self, [hits, misses]: [u64; 2]) {
        for (counter, n) in self.lookups.iter().zip([hits, misses]) {
            if n > 0 {
                counter.fetch_add(n, Ordering::Relaxed);
            }
        }
    }

    /// Reads that found their key, and that did not.
    pub fn lookups(&self) -> (u64, u64) {
        (self.lookups[0].load(Ordering::Relaxed), self.lookups[1].load(Ordering::Relaxed))
    }

    /// Requests answered so far that read keys: commands with a key that do not write, on
    /// either port (what the cluster page charts as reads).
    pub fn reads(&self) -> u64 {
        let answered = |o: &Outcomes| o.ok.load(Ordering::Relaxed) + o.error.load(Ordering::Relaxed);
        let resp = table::COMMANDS.iter().zip(self.resp.iter());
        let resp: u64 = resp.filter(|(spec, _)| spec.first_key > 0 && !spec.writes).map(|(_, o)| answered(o)).sum();
        let native = NATIVE_COMMANDS.iter().zip(self.native.iter());
        let native: u64 = native.filter(|(name, _)| NATIVE_READS.contains(name)).map(|(_, o)| answered(o)).sum();
        resp + native
    }

    /// Counts a native request answered (`name` from [`NATIVE_COMMANDS`]).
    pub fn native(&self, name: &str, ok: bool) {
        if let Some(i) = NATIVE_COMMANDS.iter().position(|&n| n == name) {
            bump(&self.native[i], ok);
        }
    }

    /// Records a batch of `requests` requests answered together, `took` from the read that
    /// brought them to the write of their replies.
    pub fn batch(&self, protocol: ClientProtocol, took: Duration, requests: u64) {
        if requests > 0 {
            self.latency[protocol as usize].observe(took, requests);
        }
    }

    /// The latency histogram of one protocol.
    pub fn latency(&self, protocol: ClientProtocol) -> &Latency {
        &self.latency[protocol as usize]
    }

    /// Every non-zero counter.
    pub fn counts(&self) -> Vec<RequestCount> {
        let resp_names = table::COMMANDS.iter().map(|spec| spec.name).chain(["unknown"]);
        let resp = resp_names.zip(self.resp.iter()).map(|(name, o)| (ClientProtocol::Resp, name, o));
        let native = NATIVE_COMMANDS.iter().zip(&self.native).map(|(&name, o)| (ClientProtocol::Native, name, o));
        let mut counts = Vec::new();
        for (protocol, name, outcomes) in resp.chain(native) {
            for (outcome, n) in [("ok", &outcomes.ok), ("error", &outcomes.error)] {
                let n = n.load(Ordering::Relaxed);
                if n > 0 {
                    counts.push((protocol, name, outcome, n));
                }
            }
        }
        counts
    }
}

fn bump(outcomes: &Outcomes, ok: bool) {
    let counter = if ok { &outcomes.ok } else { &outcomes.error };
    counter.fetch_add(1, Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_request_lands_in_the_first_bucket_that_holds_it() {
        let stats = RequestStats::default();
        stats.batch(ClientProtocol::Native, Duration::from_micros(30), 3);
        stats.batch(ClientProtocol::Native, Duration::from_millis(2), 1);
        stats.batch(ClientProtocol::Native, Duration::from_secs(5), 1);
        let (sum, count, buckets) = stats.latency(ClientProtocol::Native).snapshot();
        assert_eq!(count, 5);
        assert!((sum - (0.000_09 + 0.002 + 5.0)).abs() < 1e-9);
        assert_eq!(buckets[0], (0.000_05, 3));
        assert_eq!(buckets.iter().find(|(b, _)| *b == 0.002_5).unwrap().1, 1);
        assert_eq!(*buckets.last().unwrap(), (f64::INFINITY, 1));
        assert_eq!(buckets.iter().map(|(_, n)| n).sum::<u64>(), count);
        assert_eq!(stats.latency(ClientProtocol::Resp).snapshot().1, 0);
    }

    #[test]
    fn counts_by_command_and_outcome() {
        let stats = RequestStats::default();
        stats.native("set", true);
        stats.native("set", true);
        stats.native("get", false);
        stats.resp(table::find(b"incr"), true, Duration::from_micros(7));
        stats.resp(table::find(b"incr"), false, Duration::from_micros(3));
        stats.resp(None, false, Duration::ZERO);
        let counts = stats.counts();
        assert!(counts.contains(&(ClientProtocol::Native, "set", "ok", 2)));
        assert!(counts.contains(&(ClientProtocol::Native, "get", "error", 1)));
        assert!(counts.contains(&(ClientProtocol::Resp, "incr", "ok", 1)));
        assert!(counts.contains(&(ClientProtocol::Resp, "unknown", "error", 1)));
        assert_eq!(counts.len(), 5);
        let incr = crate::request_stats::CommandCount { name: "incr", calls: 2, failed: 1, usec: 10 };
        assert_eq!(stats.command_counts(), vec![incr]);
        stats.reset();
        assert!(stats.counts().is_empty() && stats.command_counts().is_empty());
    }

    #[test]
    fn error_replies_count_by_kind_up_to_a_bound() {
        let stats = RequestStats::default();
        stats.error_reply("ERR");
        stats.error_reply("ERR");
        stats.error_reply("WRONGTYPE");
        assert_eq!(stats.error_counts(), vec![("ERR".to_string(), 2), ("WRONGTYPE".to_string(), 1)]);
        for i in 0..1000 {
            stats.error_reply(&format!("KIND{i}"));
        }
        assert_eq!(stats.error_counts().len(), MAX_ERROR_KINDS);
    }
}
