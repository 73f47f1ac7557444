//! Which nodes must hold a key once the cluster has converged: every node without a layout, or
//! with one in which every node owns every slot; else the key's slot's owners under the layout
//! every node agreed on. A node the layout leaves out holds nothing, and so does a memory-only
//! node restarted since: it came back as a new member, which no layout names yet.

use crate::client;
use crate::hosts::addr;
use kvs_proto::layout::Layout;
use kvs_proto::slot::slot_of;
use std::collections::BTreeSet;
use std::net::IpAddr;

/// The nodes each key's slot is held by.
pub struct Holders {
    /// Per slot, the indices of its owners that are still the members the layout names, and of
    /// every node at an owner's address; `None`: every node holds every slot.
    owners: Option<Vec<(Vec<usize>, Vec<usize>)>>,
    n: usize,
    /// Per layout applied during the run, each slot's owners by index: a slot whose owners under
    /// one of them all crashed without keeping what they held may have lost its writes with them,
    /// as a Redis Cluster shard whose every node fails does.
    earlier: Vec<Vec<Vec<usize>>>,
}

impl Holders {
    /// For `n` nodes under `layout`, asking each node who it is now, after the layouts
    /// `applied` during the run.
    pub async fn of(layout: Option<&Layout>, n: usize, applied: &[Layout]) -> Self {
        let earlier = applied.iter().map(|layout| by_index(layout, n)).collect();
        let Some(layout) = layout else { return Holders { owners: None, n, earlier } };
        let mut ids = Vec::new();
        for i in 0..n {
            ids.push(client::status(addr(i)).await.map(|status| status.node_id));
        }
        let at = |node: kvs_proto::NodeId| {
            let member = layout.members.iter().find(|m| m.node == node)?;
            (0..n).find(|&i| addr(i) == member.addr)
        };
        let same = |i: &usize, node: kvs_proto::NodeId| ids[*i].as_deref() == Some(node.to_string().as_str());
        let owners: Vec<(Vec<usize>, Vec<usize>)> = layout
            .table()
            .iter()
            .map(|nodes| {
                let at_addr: Vec<(usize, kvs_proto::NodeId)> =
                    nodes.iter().filter_map(|&node| Some((at(node)?, node))).collect();
                let live = at_addr.iter().filter(|(i, node)| same(i, *node)).map(|(i, _)| *i).collect();
                (live, at_addr.into_iter().map(|(i, _)| i).collect())
            })
            .collect();
        match owners.iter().all(|(live, _)| live.len() == n) {
            true => Holders { owners: None, n, earlier },
            false => Holders { owners: Some(owners), n, earlier },
        }
    }

    /// Whether some slot is held by fewer than every node.
    pub fn partitioned(&self) -> bool {
        self.owners.is_some()
    }

    /// The addresses of the nodes that must hold `key`.
    pub fn of_key(&self, key: &[u8]) -> Vec<IpAddr> {
        let nodes: Vec<usize> = match &self.owners {
            None => (0..self.n).collect(),
            Some(owners) => owners[usize::from(slot_of(key))].0.clone(),
        };
        nodes.into_iter().map(|i| addr(i).ip()).collect()
    }

    /// Whether what was acknowledged of `key` may be gone with its slot's owners: under the
    /// final layout none of them is still the member it names and each crashed without keeping
    /// what it held (`forgetful`), or under a layout applied during the run every owner did.
    pub fn lost_with_owners(&self, key: &[u8], forgetful: &BTreeSet<usize>) -> bool {
        let slot = usize::from(slot_of(key));
        let all_forgot = |owners: &[usize]| owners.iter().all(|i| forgetful.contains(i));
        let now = self.owners.as_ref().is_some_and(|owners| owners[slot].0.is_empty() && all_forgot(&owners[slot].1));
        now || self.earlier.iter().any(|table| all_forgot(&table[slot]))
    }
}

/// Each slot's owners under `layout`, by node index (a member at no node's address is left out).
fn by_index(layout: &Layout, n: usize) -> Vec<Vec<usize>> {
    let at = |node: kvs_proto::NodeId| {
        let member = layout.members.iter().find(|m| m.node == node)?;
        (0..n).find(|&i| addr(i) == member.addr)
    };
    layout.table().iter().map(|nodes| nodes.iter().filter_map(|&node| at(node)).collect()).collect()
}
