//! What must hold once faults stop and the cluster has converged.

use crate::client;
use crate::history::History;
use crate::holders::Holders;
use crate::hosts::PORT;
use kvs_proto::{Entry, Version};
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;

/// One acknowledged write: its value (`None`: a delete), the version the node answered with, and
/// the node that took it.
struct Acknowledged {
    value: Option<String>,
    version: Version,
    node: usize,
}

/// Every write the workload made, per key.
#[derive(Default)]
pub struct Written {
    /// Values ever sent for a key (`None`: a delete), acknowledged or not: any of them may apply.
    attempted: BTreeMap<String, BTreeSet<Option<String>>>,
    /// Writes the cluster acknowledged.
    acknowledged: BTreeMap<String, Vec<Acknowledged>>,
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

    /// A write to `key` was acknowledged by `node`, made with `version`.
    pub fn acknowledged(&mut self, key: &str, value: Option<String>, version: Version, node: usize) {
        self.acknowledged.entry(key.to_string()).or_default().push(Acknowledged { value, version, node });
    }

    /// `node` crashed; unless it `keeps` what it acknowledged, that may be lost.
    pub fn crashed(&mut self, node: usize, keeps: bool) {
        if !keeps {
            self.crashed.insert(node);
        }
    }

    /// The acknowledged write to `key` with the largest version that no crash can have lost.
    fn must_survive(&self, key: &str) -> Option<&Acknowledged> {
        let writes = self.acknowledged.get(key)?;
        writes.iter().filter(|w| !self.crashed.contains(&w.node)).max_by_key(|w| w.version)
    }
}

/// Notes, for a run that did not converge, every key whose entry differs between nodes, with each
/// node's entry (value, version, sequence number): where to start reading the history.
pub async fn note_differences(holders: &Holders, written: &Written, history: &History) {
    for key in written.attempted.keys() {
        let nodes: Vec<SocketAddr> = holders.of_key(key.as_bytes()).into_iter().map(|ip| (ip, PORT).into()).collect();
        let mut seen = Vec::new();
        for node in &nodes {
            seen.push(client::inspect(*node, key).await);
        }
        if seen.windows(2).any(|w| w[0] != w[1]) {
            let entries: Vec<String> = seen
                .iter()
                .enumerate()
                .map(|(i, entry)| match entry {
                    Some(Some(e)) => format!(
                        "{}: {:?} at {}.{}@{} seq {}",
                        nodes[i].ip(),
                        e.value,
                        e.version.wall_ms,
                        e.version.logical,
                        e.version.node,
                        e.seq
                    ),
                    Some(None) => format!("{}: nothing", nodes[i].ip()),
                    None => format!("{}: no answer", nodes[i].ip()),
                })
                .collect();
            history.note(format!("{key} differs: {}", entries.join("; ")));
        }
    }
}

/// Every node that must hold a key (all, or its slot's owners) holds the same entry for it;
/// its value is one that was written to the key; and it is the acknowledged write with the largest
/// version among those no crash can have lost, or a write with a larger version still. So no
/// acknowledged write is lost unless superseded, and no deleted key comes back.
pub async fn check(holders: &Holders, written: &Written, history: &History) -> Result<(), String> {
    let text = |entry: &Option<Entry>| {
        entry.as_ref().and_then(|e| e.value.as_ref()).map(|v| String::from_utf8_lossy(v).into_owned())
    };
    let mut superseded = 0;
    for (key, sent) in &written.attempted {
        let nodes: Vec<SocketAddr> = holders.of_key(key.as_bytes()).into_iter().map(|ip| (ip, PORT).into()).collect();
        if nodes.is_empty() {
            if holders.lost_with_owners(key.as_bytes(), &written.crashed) {
                continue;
            }
            return Err(format!("{key}: no owner of its slot holds it, and not every one crashed"));
        }
        let mut seen = Vec::new();
        for node in &nodes {
            seen.push(client::inspect(*node, key).await.ok_or_else(|| format!("{node} did not answer an inspect"))?);
        }
        if seen.windows(2).any(|w| w[0] != w[1]) {
            return Err(format!("{key} differs between nodes: {seen:?}"));
        }
        let entry = &seen[0];
        let value = text(entry);
        if value.is_some() && !sent.contains(&value) {
            return Err(format!("{key} holds {value:?}, which nobody wrote (sent: {sent:?})"));
        }
        if holders.lost_with_owners(key.as_bytes(), &written.crashed) {
            // Its every copy may have gone with the owners of a layout of the run.
            continue;
        }
        let Some(survivor) = written.must_survive(key) else { continue };
        let what = |w: &Acknowledged| format!("{:?} at {:?} on n{}", w.value, w.version, w.node);
        match entry {
            // Purged tombstones leave nothing; only a delete may end that way.
            None if survivor.value.is_none() => {}
            None => return Err(format!("{key}: the acknowledged write {} is gone", what(survivor))),
            Some(entry) if entry.version < survivor.version => {
                let held = format!("{:?} at {:?}", value, entry.version);
                return Err(format!("{key}: holds {held}, older than the acknowledged write {}", what(survivor)));
            }
            Some(entry) if entry.version == survivor.version && value != survivor.value => {
                return Err(format!("{key}: holds {value:?} under the version of {}", what(survivor)));
            }
            Some(entry) => superseded += usize::from(entry.version > survivor.version),
        }
    }
    history.note(format!(
        "checked {} keys on the nodes that hold them ({superseded} hold a write newer than any acknowledged one that must survive)",
        written.attempted.len()
    ));
    Ok(())
}
