//! The layout as Redis Cluster clients see it: runs of slots with the same owners, each owner at
//! the address it serves Redis clients on (CLUSTER SLOTS, SHARDS and NODES).
//!
//! Redis Cluster has one primary per slot and replicas that refuse writes; in kvs every owner of
//! a slot takes writes. A slot's first owner by rendezvous score is what clients are told is its
//! primary (where clients that write to primaries only send writes) and the others its replicas
//! (where READONLY clients may read). A member whose Redis port is not known (it has none, or
//! has not said yet) is left out; a slot with no owner left is left out, as Redis Cluster leaves
//! out a slot no node serves.

use kvs_proto::layout::Layout;
use kvs_proto::NodeId;
use std::net::SocketAddr;

/// One owner as clients reach it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// The member.
    pub node: NodeId,
    /// Its Redis listener.
    pub addr: SocketAddr,
}

impl Endpoint {
    /// The 40-character id Redis Cluster clients expect: the node id in hex, zero-padded.
    pub fn redis_id(&self) -> String {
        redis_id(self.node)
    }
}

/// A node id as Redis Cluster writes one (40 hex characters).
pub fn redis_id(node: NodeId) -> String {
    format!("{:016x}{:024x}", node.0, 0)
}

/// A run of slots `start..=end` with the same owners, best first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlotRange {
    /// The first slot.
    pub start: u16,
    /// The last slot.
    pub end: u16,
    /// Its owners that clients can reach, best first.
    pub owners: Vec<Endpoint>,
}

/// The runs of slots of `owners` (indexed by slot) with their owners reachable through
/// `endpoint` (a member's Redis address, if known).
pub fn ranges(owners: &[Vec<NodeId>], endpoint: impl Fn(NodeId) -> Option<SocketAddr>) -> Vec<SlotRange> {
    let mut ranges: Vec<SlotRange> = Vec::new();
    for (slot, nodes) in owners.iter().enumerate() {
        let slot = slot as u16;
        let reachable: Vec<Endpoint> =
            nodes.iter().filter_map(|&node| Some(Endpoint { node, addr: endpoint(node)? })).collect();
        if reachable.is_empty() {
            continue;
        }
        match ranges.last_mut() {
            Some(last) if last.end + 1 == slot && last.owners == reachable => last.end = slot,
            _ => ranges.push(SlotRange { start: slot, end: slot, owners: reachable }),
        }
    }
    ranges
}

/// Where `member` serves Redis clients: its layout address's host with the port it said, or
/// ours for ourselves.
pub fn endpoint_of(
    layout: &Layout,
    member: NodeId,
    me: (NodeId, Option<SocketAddr>),
    port_of: impl Fn(NodeId) -> Option<u16>,
) -> Option<SocketAddr> {
    if member == me.0 {
        return me.1;
    }
    let host = layout.members.iter().find(|m| m.node == member)?.addr.ip();
    Some(SocketAddr::new(host, port_of(member)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_neighbours_make_one_run_and_unreachable_owners_are_left_out() {
        let (a, b, c) = (NodeId(1), NodeId(2), NodeId(3));
        let owners = vec![vec![a, b], vec![a, b], vec![b, c], vec![c, a], vec![c, a]];
        let addr = |node: NodeId| (node != c).then(|| SocketAddr::from(([127, 0, 0, 1], 7000 + node.0 as u16)));
        let runs = ranges(&owners, addr);
        let spans: Vec<(u16, u16, Vec<u64>)> =
            runs.iter().map(|r| (r.start, r.end, r.owners.iter().map(|e| e.node.0).collect())).collect();
        assert_eq!(spans, [(0, 1, vec![1, 2]), (2, 2, vec![2]), (3, 4, vec![1])]);
        assert_eq!(runs[0].owners[0].redis_id(), "0000000000000001000000000000000000000000");
        assert_eq!(ranges(&[vec![c]], addr), []);
    }
}
