//! The layout workload: an operator applies layouts of slot owners on random nodes while faults
//! go on; once the cluster has converged every node must hold the same layout, one that was
//! applied, and no older than any a durable node acknowledged (it recorded that one before
//! answering, so neither a crash nor a restart can lose it).

use crate::client;
use crate::history::History;
use crate::hosts::{addr, host};
use kvs_proto::layout::{Layout, LayoutVersion};
use kvs_proto::{ClientRequest, ClientResponse, LayoutChange};
use rand::rngs::StdRng;
use rand::Rng;
use std::time::Duration;

/// The most applies one run makes: enough for concurrent ones to meet.
const MAX_APPLIES: usize = 4;

/// Every layout applied, with whether its node keeps what it acknowledged.
#[derive(Default)]
pub struct LayoutOps {
    applied: Vec<(LayoutVersion, bool)>,
    /// The layouts themselves, for which nodes held each slot while they were in force.
    layouts: Vec<Layout>,
}

impl LayoutOps {
    /// Whether another apply may be made.
    pub fn more(&self) -> bool {
        self.applied.len() < MAX_APPLIES
    }

    /// Every layout applied (some may never have been in force anywhere).
    pub fn layouts(&self) -> &[Layout] {
        &self.layouts
    }
}

/// Applies a layout of a random replication factor on a random node.
pub async fn apply(rng: &mut StdRng, n: usize, durable: &[bool], ops: &mut LayoutOps, history: &History) {
    let node = rng.random_range(0..n);
    let factor = rng.random_range(1..=n as u32);
    let change = LayoutChange { replication_factor: Some(factor), weights: Vec::new() };
    match client::request(addr(node), ClientRequest::ClusterApply { change }).await {
        Some(ClientResponse::ClusterPlan(plan)) => {
            let version = plan.proposed.version;
            history.note(format!(
                "layout applied on {}: epoch {} by {}, factor {factor}, {} members",
                host(node),
                version.epoch,
                version.applied_by,
                plan.proposed.members.len()
            ));
            ops.applied.push((version, durable[node]));
            ops.layouts.push(plan.proposed);
        }
        Some(ClientResponse::Error(error)) => {
            history.note(format!("layout on {}: refused: {}", host(node), error.message))
        }
        _ => history.note(format!("layout on {}: no answer", host(node))),
    }
}

/// The layout every node holds agrees, is one that was applied, and is no older than any a
/// durable node acknowledged; waits `within` for offers still in flight. Returns that layout.
pub async fn check(n: usize, ops: &LayoutOps, history: &History, within: Duration) -> Result<Option<Layout>, String> {
    let floor = ops.applied.iter().filter(|(_, kept)| *kept).map(|(version, _)| *version).max();
    let deadline = tokio::time::Instant::now() + within;
    let mut last = String::new();
    while tokio::time::Instant::now() < deadline {
        let mut held = Vec::new();
        let mut layouts = Vec::new();
        for i in 0..n {
            held.push(match client::request(addr(i), ClientRequest::Layout).await {
                Some(ClientResponse::Layout(layout)) => {
                    let version = layout.as_ref().map(|layout| layout.version);
                    layouts.push(layout);
                    Some(version)
                }
                _ => None,
            });
        }
        last = held.iter().enumerate().map(|(i, v)| format!("{}: {v:?}", host(i))).collect::<Vec<_>>().join("; ");
        let agreed = held.windows(2).all(|pair| pair[0] == pair[1]) && held[0].is_some();
        if agreed {
            let version = held[0].flatten();
            if version.is_some_and(|v| !ops.applied.iter().any(|(applied, _)| *applied == v)) {
                return Err(format!("every node holds a layout nobody applied: {last}"));
            }
            if floor.is_some_and(|floor| version.is_none_or(|v| v < floor)) {
                return Err(format!("a layout a durable node acknowledged ({floor:?}) was lost: {last}"));
            }
            history.note(format!("every node holds layout {version:?}"));
            return Ok(layouts.swap_remove(0).map(|layout| *layout));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Err(format!("the nodes' layouts did not agree within {within:?}: {last}"))
}
