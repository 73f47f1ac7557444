//! The list workload's oracle for lists of position identifiers: once the cluster has converged
//! every node holds each list in the same order; every element held was pushed and no value twice
//! (each push is of a value of its own); a value an answered pop returned is gone, and an
//! answered push no pop or DEL can have taken is there, unless a crash can have lost the write;
//! and the elements one node pushed to one end stay in the order it pushed them.

use crate::history::History;
use crate::holders::Holders;
use crate::ran_on::RanOn;
use crate::resp::{self, Reply};
use rand::rngs::StdRng;
use rand::Rng;
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use tokio::time::Instant;

/// One answered push.
struct Pushed {
    list: String,
    value: String,
    sent: Instant,
    /// Where it ran (its node's pushes keep their order).
    ran: RanOn,
    tail: bool,
}

/// Every list operation the workload made.
#[derive(Default)]
pub struct ListOps {
    /// Answered pushes, in the order they were sent.
    pushed: Vec<Pushed>,
    /// Values ever sent in a push, answered or not, per list.
    attempted: BTreeMap<String, BTreeSet<String>>,
    /// Values answered pops returned, with where each ran.
    popped: BTreeMap<String, Vec<RanOn>>,
    /// When each list was last sent a DEL.
    last_delete: BTreeMap<String, Instant>,
    /// Lists an unanswered pop or DEL may still reach: no push to them is required.
    unsettled: BTreeSet<String>,
}

impl ListOps {
    /// A push of `value` to `list` (`tail`: RPUSH) was sent at `sent` to `node`, answered if `acked`.
    pub fn pushed(&mut self, list: &str, value: &str, (sent, ran, tail): (Instant, RanOn, bool), acked: bool) {
        self.attempted.entry(list.to_string()).or_default().insert(value.to_string());
        if acked {
            self.pushed.push(Pushed { list: list.into(), value: value.into(), sent, ran, tail });
        }
    }

    /// A pop from `list`, run as `ran` says, answered `taken` (`None`: no answer; `Some(None)`:
    /// empty).
    pub fn popped(&mut self, list: &str, ran: RanOn, taken: Option<Option<String>>) {
        match taken {
            None => {
                self.unsettled.insert(list.to_string());
            }
            Some(Some(value)) => self.popped.entry(value).or_default().push(ran),
            Some(None) => {}
        }
    }

    /// A DEL of `list` was sent at `sent`, and answered with whether the list was there (`None`:
    /// no answer). A DEL of a key its node holds nothing of is a plain delete, last writer wins
    /// by version (docs/how-it-works.md, the conflict table), so it may beat a push made later
    /// elsewhere by a node whose clock is behind: no push to that list is required from then on.
    pub fn deleted(&mut self, list: &str, sent: Instant, found: Option<bool>) {
        self.last_delete.insert(list.to_string(), sent);
        if found != Some(true) {
            self.unsettled.insert(list.to_string());
        }
    }

    /// Whether an answered push must still be there: no answered pop returned it, no pop or DEL
    /// left unanswered may have reached its list, no DEL was sent after it, and its node cannot
    /// have forgotten it.
    fn must_hold(&self, push: &Pushed, forgetful: &BTreeSet<usize>) -> bool {
        !self.unsettled.contains(&push.list)
            && !self.popped.contains_key(&push.value)
            && !push.ran.may_be_forgotten(forgetful)
            && self.last_delete.get(&push.list).is_none_or(|at| push.sent > *at)
    }

    /// Each list on every node, for a run that did not converge.
    pub async fn note_differences(&self, holders: &Holders, history: &History) {
        for list in self.attempted.keys() {
            let nodes = &holders.of_key(list.as_bytes());
            let mut seen = Vec::new();
            for ip in nodes {
                seen.push(format!("{ip}: {:?}", read(*ip, list).await));
            }
            history.note(format!("{list}: {}", seen.join("; ")));
        }
    }

    /// The checks, once the cluster converged, against every node that must hold each key.
    pub async fn check(&self, holders: &Holders, forgetful: &BTreeSet<usize>, history: &History) -> Result<(), String> {
        let mut held: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for (list, attempted) in &self.attempted {
            let nodes = &holders.of_key(list.as_bytes());
            if nodes.is_empty() {
                if holders.lost_with_owners(list.as_bytes(), forgetful) {
                    continue;
                }
                return Err(format!("{list}: no owner of its slot holds it, and not every one crashed"));
            }
            let mut copies = Vec::new();
            for ip in nodes {
                copies.push(read(*ip, list).await?);
            }
            if copies.windows(2).any(|w| w[0] != w[1]) {
                return Err(format!("{list} differs between nodes: {copies:?}"));
            }
            let values = copies.swap_remove(0);
            let distinct: BTreeSet<&String> = values.iter().collect();
            if distinct.len() != values.len() {
                return Err(format!("{list} holds a value twice: {values:?}"));
            }
            if let Some(stranger) = values.iter().find(|v| !attempted.contains(*v)) {
                return Err(format!("{list} holds {stranger}, which nobody pushed"));
            }
            for (value, by) in &self.popped {
                if values.contains(value) && by.iter().any(|ran| !ran.may_be_forgotten(forgetful)) {
                    return Err(format!("{list} still holds {value}, which an answered pop returned"));
                }
            }
            held.insert(list, values);
        }
        let mut required = 0;
        // A list whose slot's every owner crashed is not in `held` (see `Holders`).
        let kept = |push: &&Pushed| {
            held.contains_key(push.list.as_str()) && !holders.lost_with_owners(push.list.as_bytes(), forgetful)
        };
        for push in self.pushed.iter().filter(kept) {
            if self.must_hold(push, forgetful) {
                required += 1;
                if !held[push.list.as_str()].contains(&push.value) {
                    return Err(format!("{} lost {}: an answered push nothing can have taken", push.list, push.value));
                }
            }
        }
        self.check_push_order(&held, forgetful)?;
        history.note(format!("checked {} lists: {required} pushes had to be there and are", self.attempted.len()));
        Ok(())
    }

    /// Of the elements one node pushed to one end of a list and that are still there, each
    /// later push stands further out than the ones before: the node saw its own earlier push.
    fn check_push_order(&self, held: &BTreeMap<&str, Vec<String>>, forgetful: &BTreeSet<usize>) -> Result<(), String> {
        let mut last: BTreeMap<(&str, usize, bool), usize> = BTreeMap::new();
        // A push made before a DEL of its list may come back (see `docs/how-it-works.md`: a list
        // made again by a node that saw neither the elements nor the DEL), out of place.
        let after_deletes = |p: &&Pushed| self.last_delete.get(&p.list).is_none_or(|at| p.sent > *at);
        for push in self.pushed.iter().filter(|p| !p.ran.may_be_forgotten(forgetful)).filter(after_deletes) {
            let Some(list) = held.get(push.list.as_str()) else { continue };
            let Some(at) = list.iter().position(|v| *v == push.value) else { continue };
            let key = (push.list.as_str(), push.ran.node, push.tail);
            if let Some(&before) = last.get(&key) {
                let outward = if push.tail { at > before } else { at < before };
                if !outward {
                    let list = &held[push.list.as_str()];
                    return Err(format!(
                        "{} on node {}: {} stands inside an earlier push: {list:?}",
                        push.list, push.ran.node, push.value
                    ));
                }
            }
            last.insert(key, at);
        }
        Ok(())
    }
}

/// The list at `list` on the node at `ip`.
async fn read(ip: IpAddr, list: &str) -> Result<Vec<String>, String> {
    match resp::local(ip, &["LRANGE", list, "0", "-1"]).await {
        Some(Reply::Array(items)) => items
            .into_iter()
            .map(|item| match item {
                Reply::Bulk(Some(bytes)) => Ok(String::from_utf8_lossy(&bytes).into_owned()),
                other => Err(format!("LRANGE {list} on {ip} gave {other:?}")),
            })
            .collect(),
        other => Err(format!("LRANGE {list} on {ip} answered {other:?}")),
    }
}

/// One push (of a value of its own, `op`), pop or DEL on a few lists, on a random node: pushes
/// and pops at both ends made on different nodes at once, as the list rules are for.
/// `forwardable`: a layout was applied, so the node may run it on an owner.
pub async fn operation(
    rng: &mut StdRng,
    (n, op, forwardable): (usize, u64, bool),
    lists: &mut ListOps,
    history: &History,
) {
    let node = rng.random_range(0..n);
    let ran = RanOn { node, forwardable };
    let list = format!("l{}", rng.random_range(0..2));
    let value = format!("e{op}");
    let sent = tokio::time::Instant::now();
    let (what, args): (&str, Vec<&str>) = match rng.random_range(0..20) {
        0..=5 => ("rpush", vec!["RPUSH", &list, &value]),
        6..=10 => ("lpush", vec!["LPUSH", &list, &value]),
        11..=14 => ("lpop", vec!["LPOP", &list]),
        15..=18 => ("rpop", vec!["RPOP", &list]),
        _ => ("del", vec!["DEL", &list]),
    };
    let reply = crate::resp::command(crate::hosts::addr(node).ip(), &args).await;
    match what {
        "rpush" | "lpush" => {
            let acked = matches!(reply, Some(Reply::Int(_)));
            lists.pushed(&list, &value, (sent, ran, what == "rpush"), acked);
        }
        "lpop" | "rpop" => {
            let taken = match &reply {
                Some(Reply::Bulk(Some(bytes))) => Some(Some(String::from_utf8_lossy(bytes).into_owned())),
                Some(Reply::Bulk(None)) => Some(None),
                _ => None,
            };
            lists.popped(&list, ran, taken);
        }
        _ => {
            let found = match reply {
                Some(Reply::Int(count)) => Some(count > 0),
                _ => None,
            };
            lists.deleted(&list, sent, found)
        }
    }
    let target = if what.ends_with("push") { format!("{list} {value}") } else { list.clone() };
    history.note(format!("{what} {target} on {}: {reply:?}", crate::hosts::host(node)));
}
