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
}

impl Holders {
    /// For `n` nodes under `layout`, asking each node who it is now.
    pub async fn of(layout: Option<&Layout>, n: usize) -> Self {
        let Some(layout) = layout else { return Holders { owners: None, n } };
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
            true => Holders { owners: None, n },
            false => Holders { owners: Some(owners), n },
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

    /// Whether what was acknowledged of `key` may be gone with its slot's owners: none of them is
    /// still the member the layout names, and each of them crashed without keeping what it held
    /// (`forgetful`), so the slot's every copy went with them.
    pub fn lost_with_owners(&self, key: &[u8], forgetful: &BTreeSet<usize>) -> bool {
        match &self.owners {
            None => false,
            Some(owners) => {
                let (live, at_addr) = &owners[usize::from(slot_of(key))];
                live.is_empty() && at_addr.iter().all(|i| forgetful.contains(i))
            }
        }
    }
}
