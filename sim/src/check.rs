//! What must hold once faults stop and the cluster has converged.

use crate::client;
use crate::run::History;
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;

/// Every write the workload made, per key.
#[derive(Default)]
pub struct Written {
    /// Values ever sent for a key (`None`: a delete), acknowledged or not: any of them may apply.
    attempted: BTreeMap<String, BTreeSet<Option<String>>>,
    /// Writes the cluster acknowledged, with the node that took each.
    acknowledged: BTreeMap<String, Vec<(Option<String>, usize)>>,
    /// Nodes that crashed at some point and may have lost what they acknowledged: a memory-only
    /// node, or one that does not fsync before replying, can lose a write it acknowledged before
    /// it reached a peer. A node that fsyncs first (`--fsync always`) never can, so it is not here.
    crashed: BTreeSet<usize>,
}

impl Written {
    /// A write to `key` was sent (`None`: delete).
    pub fn attempted(&mut self, key: &str, value: Option<String>) {
        self.attempted.entry(key.to_string()).or_default().insert(value);
    }

    /// A write to `key` was acknowledged by `node`.
    pub fn acknowledged(&mut self, key: &str, value: Option<String>, node: usize) {
        self.acknowledged.entry(key.to_string()).or_default().push((value, node));
    }

    /// `node` crashed; unless it `keeps` what it acknowledged, that may be lost.
    pub fn crashed(&mut self, node: usize, keeps: bool) {
        if !keeps {
            self.crashed.insert(node);
        }
    }
}

/// Every node holds the same value for every key (digests already agree, this reads it back);
/// that value is one that was written to the key; and a key with an acknowledged write, taken by
/// a node that never crashed, is present unless a delete of it was sent too (a write is only ever
/// superseded by another).
pub async fn check(n: usize, written: &Written, history: &History) -> Result<(), String> {
    let nodes: Vec<SocketAddr> = (0..n).map(|i| SocketAddr::new(turmoil::lookup(format!("n{i}")), 7000)).collect();
    for (key, sent) in &written.attempted {
        let mut seen = Vec::new();
        for node in &nodes {
            let value = client::get(*node, key).await.ok_or_else(|| format!("{node} did not answer a get"))?;
            seen.push(value.map(|v| String::from_utf8_lossy(&v).into_owned()));
        }
        if seen.windows(2).any(|w| w[0] != w[1]) {
            return Err(format!("{key} differs between nodes: {seen:?}"));
        }
        let value = &seen[0];
        if !sent.contains(value) && value.is_some() {
            return Err(format!("{key} holds {value:?}, which nobody wrote (sent: {sent:?})"));
        }
        let acked_set = written
            .acknowledged
            .get(key)
            .is_some_and(|w| w.iter().any(|(value, node)| value.is_some() && !written.crashed.contains(node)));
        if value.is_none() && acked_set && !sent.contains(&None) {
            return Err(format!("{key}: an acknowledged write was lost (no delete was ever sent)"));
        }
    }
    history.note(format!("checked {} keys on {n} nodes", written.attempted.len()));
    Ok(())
}
