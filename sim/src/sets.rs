//! The set workload's oracle for observed-remove sets: every acknowledged SADD of a member that no
//! SREM or DEL of it can have observed (each was sent before the SADD was) is present on every
//! node once the cluster has converged, unless a crash can have lost it; every node holds the
//! same members; and every member held was added by someone.

use crate::history::History;
use crate::holders::Holders;
use crate::ran_on::RanOn;
use crate::resp::{self, Reply};
use rand::rngs::StdRng;
use rand::Rng;
use std::collections::{BTreeMap, BTreeSet};
use tokio::time::Instant;

/// One acknowledged SADD: when it was sent, and the node that took it.
struct Added {
    sent: Instant,
    ran: RanOn,
}

/// Every set operation the workload made.
#[derive(Default)]
pub struct SetOps {
    /// Acknowledged SADDs, per (set, member).
    added: BTreeMap<(String, String), Vec<Added>>,
    /// Members ever sent in an SADD, acknowledged or not, per set.
    attempted: BTreeMap<String, BTreeSet<String>>,
    /// When the last SREM of each (set, member), or DEL of the set, was sent.
    last_removal: BTreeMap<(String, String), Instant>,
    /// When the last DEL of each set was sent.
    last_delete: BTreeMap<String, Instant>,
    /// Members (or, with an empty member, whole sets) an unanswered SREM or DEL may still reach:
    /// delivered late, it removes whatever add its node holds by then.
    unsettled: BTreeSet<(String, String)>,
}

impl SetOps {
    /// An SADD of `member` to `set` was sent at `sent`, run as `ran` says, and acknowledged if
    /// `acked`.
    pub fn added(&mut self, set: &str, member: &str, sent: Instant, ran: RanOn, acked: bool) {
        self.attempted.entry(set.to_string()).or_default().insert(member.to_string());
        if acked {
            self.added.entry((set.to_string(), member.to_string())).or_default().push(Added { sent, ran });
        }
    }

    /// An SREM of `member` from `set` was sent at `sent`, and answered if `acked`.
    pub fn removed(&mut self, set: &str, member: &str, sent: Instant, acked: bool) {
        self.last_removal.insert((set.to_string(), member.to_string()), sent);
        if !acked {
            self.unsettled.insert((set.to_string(), member.to_string()));
        }
    }

    /// A DEL of `set` was sent at `sent`, and answered with whether the set was there (`None`:
    /// no answer). A DEL of a key its node holds nothing of is a plain delete, last writer wins
    /// by version, so it may beat a set made meanwhile elsewhere with an older clock: no add of
    /// that set is required from then on.
    pub fn deleted(&mut self, set: &str, sent: Instant, found: Option<bool>) {
        self.last_delete.insert(set.to_string(), sent);
        if found != Some(true) {
            self.unsettled.insert((set.to_string(), String::new()));
        }
    }

    /// Whether an acknowledged SADD of `member` to `set` must be present: sent after every SREM of
    /// it and DEL of the set was answered (the workload waits for each answer, so none of them can
    /// have seen it), by a node no crash can have made forget it.
    fn must_hold(&self, set: &str, member: &str, crashed: &BTreeSet<usize>) -> bool {
        let key = (set.to_string(), member.to_string());
        if self.unsettled.contains(&key) || self.unsettled.contains(&(set.to_string(), String::new())) {
            return false;
        }
        let removal = [self.last_removal.get(&key), self.last_delete.get(set)].into_iter().flatten().max();
        self.added.get(&key).is_some_and(|adds| {
            adds.iter().any(|add| !add.ran.may_be_forgotten(crashed) && removal.is_none_or(|at| add.sent > *at))
        })
    }

    /// Notes, for a run that did not converge, each set's members on every node.
    pub async fn note_differences(&self, holders: &Holders, history: &History) {
        for set in self.attempted.keys() {
            let nodes = &holders.of_key(set.as_bytes());
            let mut seen = Vec::new();
            for ip in nodes {
                seen.push(format!("{ip}: {:?}", resp::local(*ip, &["SMEMBERS", set]).await));
            }
            history.note(format!("{set}: {}", seen.join("; ")));
            for ip in nodes {
                let addr = std::net::SocketAddr::new(*ip, 7000);
                let header = crate::client::inspect_bytes(addr, set.as_bytes()).await;
                history.note(format!("{set} header on {ip}: {header:?}"));
                for member in &self.attempted[set] {
                    let key = kvs_store::collection::element_key(
                        kvs_store::collection::CollectionType::Set,
                        set.as_bytes(),
                        member.as_bytes(),
                    );
                    let element = crate::client::inspect_bytes(addr, &key).await;
                    history.note(format!("{set} {member} on {ip}: {element:?}"));
                }
            }
        }
    }

    /// The checks, once the cluster converged, against every node that must hold each key.
    pub async fn check(&self, holders: &Holders, crashed: &BTreeSet<usize>, history: &History) -> Result<(), String> {
        let mut required = 0;
        for (set, attempted) in &self.attempted {
            let nodes = &holders.of_key(set.as_bytes());
            if nodes.is_empty() {
                if holders.lost_with_owners(set.as_bytes(), crashed) {
                    continue;
                }
                return Err(format!("{set}: no owner of its slot holds it, and not every one crashed"));
            }
            let mut held = Vec::new();
            for ip in nodes {
                let members = match resp::local(*ip, &["SMEMBERS", set]).await {
                    Some(Reply::Array(items)) => items
                        .into_iter()
                        .map(|item| match item {
                            Reply::Bulk(Some(bytes)) => Ok(String::from_utf8_lossy(&bytes).into_owned()),
                            other => Err(format!("SMEMBERS {set} on {ip} gave {other:?}")),
                        })
                        .collect::<Result<BTreeSet<String>, String>>()?,
                    other => return Err(format!("SMEMBERS {set} on {ip} answered {other:?}")),
                };
                held.push(members);
            }
            if held.windows(2).any(|w| w[0] != w[1]) {
                return Err(format!("{set} differs between nodes: {held:?}"));
            }
            if let Some(stranger) = held[0].iter().find(|m| !attempted.contains(*m)) {
                return Err(format!("{set} holds {stranger}, which nobody added"));
            }
            let excused = holders.lost_with_owners(set.as_bytes(), crashed);
            for member in attempted.iter().filter(|_| !excused) {
                if self.must_hold(set, member, crashed) {
                    required += 1;
                    if !held[0].contains(member) {
                        return Err(format!("{set} lost {member}: an acknowledged SADD no remove can have seen"));
                    }
                }
            }
        }
        history.note(format!("checked {} sets: {required} members had to be there and are", self.attempted.len()));
        Ok(())
    }
}

/// One SADD, SREM or DEL on a few sets of a few members, on a random node: members added and
/// removed on different nodes at once, as the observed-remove rules are for.
/// `forwardable`: a layout was applied, so the node may run it on an owner.
pub async fn operation(rng: &mut StdRng, (n, forwardable): (usize, bool), sets: &mut SetOps, history: &History) {
    let node = rng.random_range(0..n);
    let set = format!("s{}", rng.random_range(0..3));
    let member = format!("m{}", rng.random_range(0..6));
    let sent = tokio::time::Instant::now();
    let (what, args): (&str, Vec<&str>) = match rng.random_range(0..10) {
        0..=5 => ("sadd", vec!["SADD", &set, &member]),
        6..=8 => ("srem", vec!["SREM", &set, &member]),
        _ => ("del", vec!["DEL", &set]),
    };
    let reply = crate::resp::command(crate::hosts::addr(node).ip(), &args).await;
    let acked = matches!(reply, Some(crate::resp::Reply::Int(_)));
    match what {
        "sadd" => sets.added(&set, &member, sent, RanOn { node, forwardable }, acked),
        "srem" => sets.removed(&set, &member, sent, acked),
        _ => sets.deleted(&set, sent, acked.then(|| reply == Some(crate::resp::Reply::Int(1)))),
    }
    let target = if what == "del" { set.clone() } else { format!("{set} {member}") };
    let outcome = match reply {
        Some(crate::resp::Reply::Int(n)) => format!("ok ({n})"),
        Some(other) => format!("{other:?}"),
        None => "no answer".into(),
    };
    history.note(format!("{what} {target} on {}: {outcome}", crate::hosts::host(node)));
}
