//! Where each member serves Redis clients: what CLUSTER SLOTS, SHARDS and NODES name for a
//! slot's owners, since a member's peer address is not where a Redis client talks to it.
//!
//! Each member says so itself, first thing on every connection it dials (a protocol-9
//! `Serves`); a member says nothing of others, so none can point clients at a third.

use super::{lock, Core, Now};
use kvs_proto::MemberState;
use kvs_proto::NodeId;
use std::collections::HashMap;

/// Per member heard from, the port its Redis listener is on (on its peer address's host).
#[derive(Debug, Default)]
pub(crate) struct ClientPorts {
    redis: HashMap<NodeId, u16>,
}

impl ClientPorts {
    /// Forgets a member gone for good.
    pub(crate) fn forget(&mut self, peer: NodeId) {
        self.redis.remove(&peer);
    }
}

impl Core {
    /// `from` serves Redis clients on `redis_port` (`None`: it has no Redis port). One entry per
    /// member at most, each forgotten with the member.
    pub(super) fn serves_received(&self, from: NodeId, redis_port: Option<u16>) -> Vec<super::Effect> {
        // Members first, never inside the ports' lock: `forget` takes them in that order.
        let known = lock(&self.members).knows(from);
        let mut ports = lock(&self.client_ports);
        match redis_port {
            Some(port) if known => {
                ports.redis.insert(from, port);
            }
            _ => {
                ports.redis.remove(&from);
            }
        }
        Vec::new()
    }

    /// The Redis port `member` said it serves on, if it did.
    pub(crate) fn redis_port_of(&self, member: NodeId) -> Option<u16> {
        lock(&self.client_ports).redis.get(&member).copied()
    }

    /// The Redis ports of the members a client can reach now: not those dead or gone, whose
    /// slots their other owners serve (what Redis Cluster clients are told, as Redis Cluster
    /// stops naming a failed node once another serves its slots).
    pub(crate) fn reachable_redis_ports(&self, now: Now) -> HashMap<NodeId, u16> {
        let gone: Vec<NodeId> = lock(&self.members)
            .others(now.at)
            .into_iter()
            .filter(|(_, state, _)| matches!(state, MemberState::Dead | MemberState::Left))
            .map(|(info, _, _)| info.id)
            .collect();
        let ports = lock(&self.client_ports);
        ports.redis.iter().filter(|(node, _)| !gone.contains(node)).map(|(&node, &port)| (node, port)).collect()
    }
}
