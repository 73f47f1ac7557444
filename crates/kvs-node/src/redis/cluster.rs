//! `CLUSTER KEYSLOT | COUNTKEYSINSLOT | GETKEYSINSLOT | HELP`: which hash slot a key is in and
//! what a slot holds (see [`kvs_proto::slot`]).
//!
//! These answer on every node, partitioned or not: the slot of a key is a fact about the key
//! space, and an operator planning a layout asks it first. The subcommands that describe a
//! partitioned cluster's owners (SLOTS, SHARDS, NODES, INFO) answer as redis-server without
//! cluster mode does until kvs partitions its key space (docs/partitioning.md).

use super::{bulk_cost, help, parse_int, wrong_arity, Call};
use kvs_proto::slot::{slot_of, SLOTS};

const HELP: &[&str] = &[
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
        b"KEYSLOT" | b"COUNTKEYSINSLOT" | b"GETKEYSINSLOT" => {
            let name = format!("cluster|{}", String::from_utf8_lossy(&sub));
            wrong_arity(call.reply, &name);
        }
        b"HELP" => help::unknown_subcommand(call, "CLUSTER"),
        _ => call.reply.error(DISABLED),
    }
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
