//! `CLUSTER KEYSLOT | COUNTKEYSINSLOT | GETKEYSINSLOT | SLOTS | SHARDS | NODES | INFO | MYID |
//! HELP`, READONLY, READWRITE and ASKING: which hash slot a key is in, what a slot holds, and,
//! once a layout was applied (`kvs-client cluster apply`), who owns which slots, so that Redis
//! Cluster clients route by themselves (see [`kvs_proto::slot`] and docs/partitioning.md).
//!
//! KEYSLOT, COUNTKEYSINSLOT and GETKEYSINSLOT answer on every node: the slot of a key is a fact
//! about the key space, and an operator planning a layout asks it first. The subcommands that
//! describe owners answer as redis-server without cluster mode does until a layout exists.

use super::cluster_topology::{endpoint_of, ranges, redis_id, SlotRange};
use super::{bulk_cost, help, parse_int, wrong_arity, Call};
use crate::core::{Core, Now};
use kvs_proto::layout::Layout;
use kvs_proto::slot::{slot_of, SLOTS};
use kvs_proto::NodeId;
use std::fmt::Write;
use std::net::SocketAddr;

const HELP: &[&str] = &[
    "INFO",
    "    Return information about the cluster.",
    "MYID",
    "    Return the node id.",
    "NODES",
    "    Return cluster configuration seen by node. Output format:",
    "    <id> <ip:port@bus-port> <flags> <master> <pings> <pongs> <epoch> <link> <slot> ...",
    "SHARDS",
    "    Return information about slot range mappings and the nodes associated with them.",
    "SLOTS",
    "    Return information about slots range mappings. Each range is made of:",
    "    start, end, master and replicas IP addresses, ports and ids",
    "COUNTKEYSINSLOT <slot>",
    "    Return the number of keys in <slot>.",
    "GETKEYSINSLOT <slot> <count>",
    "    Return key names stored by current node in a slot.",
    "KEYSLOT <key>",
    "    Return the hash slot for <key>.",
];

/// Redis's answer to a CLUSTER subcommand on a server that is not a cluster's member.
const DISABLED: &str = "ERR This instance has cluster support disabled";

/// `CLUSTER ...`
pub fn cluster(call: &mut Call<'_, '_>) {
    let sub = call.args.get(1).to_ascii_uppercase();
    let argc = call.args.len();
    match sub.as_slice() {
        b"KEYSLOT" if argc == 3 => call.reply.integer(i64::from(slot_of(call.args.get(2)))),
        b"COUNTKEYSINSLOT" if argc == 3 => {
            let Some(slot) = slot_arg(call, 2, "ERR Invalid slot") else { return };
            let count = call.shell.store().count_in_slot(call.client.db, slot, call.now_ms());
            call.reply.integer(count as i64);
        }
        b"GETKEYSINSLOT" if argc == 4 => getkeysinslot(call),
        b"HELP" if argc == 2 => help::reply(call, "CLUSTER", HELP),
        b"MYID" if argc == 2 => match call.shell.core.layout() {
            Some(_) => call.reply.bulk(redis_id(call.shell.core.me().id).as_bytes()),
            None => call.reply.error(DISABLED),
        },
        b"INFO" if argc == 2 => match info_text(call) {
            Some(text) => call.reply.bulk(text.as_bytes()),
            None => call.reply.error(DISABLED),
        },
        b"SLOTS" | b"SHARDS" | b"NODES" if argc == 2 => match topology(call) {
            // A client that reads the routes follows them: it gets redirects, not forwards.
            Some(topology) => {
                call.client.follows_redirects = true;
                cluster_reply(call, &sub, &topology)
            }
            None => call.reply.error(DISABLED),
        },
        b"KEYSLOT" | b"COUNTKEYSINSLOT" | b"GETKEYSINSLOT" | b"SLOTS" | b"SHARDS" | b"NODES" | b"INFO" | b"MYID" => {
            let name = format!("cluster|{}", String::from_utf8_lossy(&sub));
            wrong_arity(call.reply, &name);
        }
        b"HELP" => help::unknown_subcommand(call, "CLUSTER"),
        _ => call.reply.error(DISABLED),
    }
}

/// The answer of SLOTS, SHARDS or NODES (`sub`) from `topology`.
fn cluster_reply(call: &mut Call<'_, '_>, sub: &[u8], topology: &Topology) {
    match sub {
        b"SLOTS" => reply_slots(call, topology),
        b"SHARDS" => reply_shards(call, topology),
        _ => {
            let text = nodes_text(topology);
            call.reply.bulk(text.as_bytes())
        }
    }
}

/// Where a command of a slot this node does not serve belongs (see [`redirect`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Redirect {
    /// To the slot's owners.
    Moved {
        /// The slot of its keys.
        slot: u16,
    },
    /// For this command only, to a member that holds the slot whole: this node still fetches it.
    Ask {
        /// The slot of its keys.
        slot: u16,
        /// The member.
        holder: NodeId,
        /// What a Redis Cluster client is answered (without the leading `-`).
        text: String,
    },
}

impl Redirect {
    /// The slot of the command's keys.
    pub fn slot(&self) -> u16 {
        match self {
            Redirect::Moved { slot } | Redirect::Ask { slot, .. } => *slot,
        }
    }

    /// What a Redis Cluster client is answered (without the leading `-`): `MOVED slot
    /// host:port` naming the slot's first owner a client can reach, Redis Cluster's
    /// CLUSTERDOWN when none can be reached, or the `ASK`.
    /// `me` is this node with its Redis address, `now` when the client is told.
    pub fn text(&self, core: &Core, me: (NodeId, Option<SocketAddr>), now: Now) -> String {
        let slot = match self {
            Redirect::Ask { text, .. } => return text.clone(),
            Redirect::Moved { slot } => *slot,
        };
        let ports = core.reachable_redis_ports(now);
        let port_of = |node| ports.get(&node).copied();
        let to = core.layout_owners().and_then(|(layout, owners)| {
            owners.get(usize::from(slot))?.iter().find_map(|&node| endpoint_of(&layout, node, me, port_of))
        });
        match to {
            Some(to) => format!("MOVED {slot} {to}"),
            None => "CLUSTERDOWN Hash slot not served".to_string(),
        }
    }
}

/// Where a command whose keys (at `keys`) lie in a slot this node does not hold belongs: its
/// owners (`-MOVED`); or, for one of a slot this node is still fetching, a member that holds it
/// whole, for this command only (`-ASK`, as Redis Cluster sends a client to a slot's importing
/// node while it migrates), unless the client sent ASKING just before; `None` to serve it here.
pub(super) fn redirect(call: &Call<'_, '_>, keys: super::database_keys::KeySpec, asking: bool) -> Option<Redirect> {
    let slot = super::database_keys::key_slots(keys, &call.args).next()?;
    if !call.shell.store().held.contains(slot) {
        return call.shell.core.owners().is_some().then_some(Redirect::Moved { slot });
    }
    // Every command of a held slot passes here: the layout is read only while fetching.
    if asking || !call.shell.core.fetching_any() {
        return None;
    }
    let holder = call.shell.core.holder_while_fetching(slot, call.shell.now())?;
    let me = (call.shell.id, call.shell.redis_addr);
    let port_of = |node| call.shell.core.redis_port_of(node);
    let to = endpoint_of(&call.shell.core.layout()?, holder, me, port_of)?;
    Some(Redirect::Ask { slot, holder, text: format!("ASK {slot} {to}") })
}

fn getkeysinslot(call: &mut Call<'_, '_>) {
    let Some(count) = integer_arg(call, 3) else { return };
    let Some(slot) = slot_arg(call, 2, "ERR Invalid slot or number of keys") else { return };
    let Ok(count) = usize::try_from(count) else {
        call.reply.error("ERR Invalid slot or number of keys");
        return;
    };
    let keys = call.shell.store().keys_in_slot(call.client.db, slot, count, call.now_ms());
    if call.reply_too_large(keys.iter().map(|key| bulk_cost(key.len())).sum()) {
        return;
    }
    call.reply.array(keys.len());
    for key in &keys {
        call.reply.bulk(key);
    }
}

/// The argument at `at` as a slot number, or `invalid` answered.
fn slot_arg(call: &mut Call<'_, '_>, at: usize, invalid: &str) -> Option<u16> {
    let value = integer_arg(call, at)?;
    match u16::try_from(value).ok().filter(|&slot| slot < SLOTS) {
        Some(slot) => Some(slot),
        None => {
            call.reply.error(invalid);
            None
        }
    }
}

/// The argument at `at` as an integer, or Redis's error for one that is not.
fn integer_arg(call: &mut Call<'_, '_>, at: usize) -> Option<i64> {
    let value = parse_int(call.args.get(at));
    if value.is_none() {
        call.reply.error(super::NOT_AN_INTEGER);
    }
    value
}

/// `READONLY`, `READWRITE` and `ASKING`: a Redis Cluster client's connection modes. Every owner
/// of a slot serves its reads and writes, and an old owner serves a slot until its new owners
/// hold it, so READONLY and READWRITE change nothing; ASKING has the next command served here
/// even from a slot this node is still fetching. Each is accepted once a layout exists.
pub fn connection_mode(call: &mut Call<'_, '_>) {
    match call.shell.core.layout() {
        Some(_) => {
            call.client.asking = call.args.get(0).eq_ignore_ascii_case(b"asking");
            // Only a client of Redis Cluster sends these: it gets redirects, not forwards.
            call.client.follows_redirects = true;
            call.reply.simple("OK")
        }
        None => call.reply.error(DISABLED),
    }
}

/// What the cluster commands describe: the layout, every slot's owners, and this node.
struct Topology {
    layout: Layout,
    ranges: Vec<SlotRange>,
    me: NodeId,
}

fn topology(call: &Call<'_, '_>) -> Option<Topology> {
    let (layout, owners) = call.shell.core.layout_owners()?;
    let me = (call.shell.id, call.shell.redis_addr);
    let ports = call.shell.core.reachable_redis_ports(call.shell.now());
    let ranges = ranges(&owners, |node| endpoint_of(&layout, node, me, |n| ports.get(&n).copied()));
    Some(Topology { layout, ranges, me: me.0 })
}

fn reply_slots(call: &mut Call<'_, '_>, topology: &Topology) {
    let size: usize = topology.ranges.iter().map(|range| 32 + range.owners.len() * 96).sum();
    if call.reply_too_large(size) {
        return;
    }
    call.reply.array(topology.ranges.len());
    for range in &topology.ranges {
        call.reply.array(2 + range.owners.len());
        call.reply.integer(i64::from(range.start));
        call.reply.integer(i64::from(range.end));
        for owner in &range.owners {
            call.reply.array(3);
            call.reply.bulk(owner.addr.ip().to_string().as_bytes());
            call.reply.integer(i64::from(owner.addr.port()));
            call.reply.bulk(owner.redis_id().as_bytes());
        }
    }
}

/// Redis 7's CLUSTER SHARDS: one shard per distinct list of owners, with its slot runs.
fn reply_shards(call: &mut Call<'_, '_>, topology: &Topology) {
    let mut shards: Vec<(&SlotRange, Vec<(u16, u16)>)> = Vec::new();
    for range in &topology.ranges {
        match shards.iter_mut().find(|(first, _)| first.owners == range.owners) {
            Some((_, runs)) => runs.push((range.start, range.end)),
            None => shards.push((range, vec![(range.start, range.end)])),
        }
    }
    let size: usize = shards.iter().map(|(range, runs)| runs.len() * 24 + range.owners.len() * 256).sum();
    if call.reply_too_large(size) {
        return;
    }
    call.reply.array(shards.len());
    for (range, runs) in &shards {
        call.reply.map(2);
        call.reply.bulk(b"slots");
        call.reply.array(runs.len() * 2);
        for &(start, end) in runs {
            call.reply.integer(i64::from(start));
            call.reply.integer(i64::from(end));
        }
        call.reply.bulk(b"nodes");
        call.reply.array(range.owners.len());
        for (i, owner) in range.owners.iter().enumerate() {
            let ip = owner.addr.ip().to_string();
            call.reply.map(7);
            call.reply.bulk(b"id");
            call.reply.bulk(owner.redis_id().as_bytes());
            call.reply.bulk(b"port");
            call.reply.integer(i64::from(owner.addr.port()));
            call.reply.bulk(b"ip");
            call.reply.bulk(ip.as_bytes());
            call.reply.bulk(b"endpoint");
            call.reply.bulk(ip.as_bytes());
            call.reply.bulk(b"role");
            call.reply.bulk(if i == 0 { b"master" } else { b"replica" });
            call.reply.bulk(b"replication-offset");
            call.reply.integer(0);
            call.reply.bulk(b"health");
            call.reply.bulk(b"online");
        }
    }
}

/// A run of slots, first and last.
type Run = (u16, u16);

/// CLUSTER NODES: a line per member clients can reach, each a primary of the slots it is the
/// first owner of (Redis Cluster's format has a node be a primary or a replica of one other,
/// where a kvs member is both, for different slots).
fn nodes_text(topology: &Topology) -> String {
    let mut first_of: Vec<(NodeId, std::net::SocketAddr, Vec<Run>)> = Vec::new();
    for range in &topology.ranges {
        for (i, owner) in range.owners.iter().enumerate() {
            let at = match first_of.iter().position(|(node, _, _)| *node == owner.node) {
                Some(at) => at,
                None => {
                    first_of.push((owner.node, owner.addr, Vec::new()));
                    first_of.len() - 1
                }
            };
            let runs = &mut first_of[at].2;
            match runs.last_mut() {
                // Neighbouring runs that differ only in their other owners read as one here.
                Some(last) if i == 0 && last.1 + 1 == range.start => last.1 = range.end,
                _ if i == 0 => runs.push((range.start, range.end)),
                _ => {}
            }
        }
    }
    let epoch = topology.layout.version.epoch;
    let mut text = String::new();
    for (node, addr, runs) in &first_of {
        let bus = topology.layout.members.iter().find(|m| m.node == *node).map_or(0, |m| m.addr.port());
        let flags = if *node == topology.me { "myself,master" } else { "master" };
        let _ = write!(text, "{} {addr}@{bus} {flags} - 0 0 {epoch} connected", redis_id(*node));
        for &(start, end) in runs {
            let _ = if start == end { write!(text, " {start}") } else { write!(text, " {start}-{end}") };
        }
        text.push('\n');
    }
    text
}

/// CLUSTER INFO, from the owners table alone: counting slots needs no runs of them.
fn info_text(call: &Call<'_, '_>) -> Option<String> {
    let (layout, owners) = call.shell.core.layout_owners()?;
    let me = (call.shell.id, call.shell.redis_addr);
    let ports = call.shell.core.reachable_redis_ports(call.shell.now());
    let reachable = |node: &&NodeId| endpoint_of(&layout, **node, me, |n| ports.get(&n).copied()).is_some();
    let firsts = owners.iter().filter_map(|nodes| nodes.iter().find(reachable));
    let (mut assigned, mut primaries) = (0usize, std::collections::BTreeSet::new());
    for first in firsts {
        assigned += 1;
        primaries.insert(*first);
    }
    let state = if assigned == usize::from(SLOTS) { "ok" } else { "fail" };
    let epoch = layout.version.epoch;
    Some(format!(
        "cluster_enabled:1\r\ncluster_state:{state}\r\ncluster_slots_assigned:{assigned}\r\n\
         cluster_slots_ok:{assigned}\r\ncluster_slots_pfail:0\r\ncluster_slots_fail:{}\r\n\
         cluster_known_nodes:{}\r\ncluster_size:{}\r\ncluster_current_epoch:{epoch}\r\n\
         cluster_my_epoch:{epoch}\r\n",
        usize::from(SLOTS) - assigned,
        layout.members.len(),
        primaries.len(),
    ))
}
