//! WAIT numreplicas timeout: how many peers have applied every write this connection made.
//!
//! It counts the alive peers that acknowledge having applied every write made on this node so far
//! (a superset of the connection's own), waiting until `numreplicas` of them have or the timeout
//! (milliseconds; 0 waits for ever, as in Redis) passes, and answers the count either way: a peer
//! that is down makes WAIT time out with the smaller count. Inside MULTI it answers at once.
//!
//! It is behind the cluster feature gate `wait`: a peer of release 0.1.0 never acknowledges, so
//! until every member speaks protocol 8 a count would call copies missing that are not.
//!
//! WAITAOF numlocal numreplicas timeout is the same for logs: how many peers say their log has
//! those writes on disk (each syncs its log, then answers), and whether this node's has (it
//! syncs first), behind the gate `waitaof`.
//!
//! The wait itself is the session's (`session::run_command`), the one place a command may block.

use super::{parse_int, Call, NOT_AN_INTEGER};
use crate::core::Core;
use kvs_proto::features::{WAIT, WAITAOF};
use kvs_proto::resp::Args;
use std::time::Duration;

/// WAIT's arguments on a node with `core` (how many peers, and how long: `None` for ever), or
/// the error to answer.
pub(super) fn parse(core: &Core, args: &Args<'_>) -> Result<(usize, Option<Duration>), String> {
    if !core.is_open(WAIT) {
        return Err(closed(core.cluster_version()));
    }
    let wanted = parse_int(args.get(1)).ok_or(NOT_AN_INTEGER)?;
    let timeout_ms = parse_int(args.get(2)).ok_or(NOT_AN_INTEGER)?;
    if timeout_ms < 0 {
        return Err("ERR timeout is negative".into());
    }
    let timeout = (timeout_ms > 0).then(|| Duration::from_millis(timeout_ms as u64));
    Ok((wanted.max(0) as usize, timeout))
}

/// The error while the gate is closed.
fn closed(cluster_version: u32) -> String {
    format!("ERR {}", WAIT.closed_message("WAIT", cluster_version))
}

/// WAIT inside MULTI/EXEC: the count now, without waiting (a transaction never blocks).
pub fn wait_in_transaction(call: &mut Call<'_, '_>) {
    match parse(&call.shell.core, &call.args) {
        Ok(_) => {
            let now = call.shell.now();
            let want = call.shell.core.last_write();
            call.reply.integer(call.shell.core.held_by(crate::core::Held::Applied, want, now) as i64)
        }
        Err(message) => call.reply.error(&message),
    }
}

/// WAITAOF's arguments on a node with `core`, `durable` if it has a log: whether this node's log
/// must have the writes, how many peers, and how long; or the error to answer.
pub(super) fn parse_aof(
    core: &Core,
    durable: bool,
    args: &Args<'_>,
) -> Result<(bool, usize, Option<Duration>), String> {
    if !core.is_open(WAITAOF) {
        return Err(format!("ERR {}", WAITAOF.closed_message("WAITAOF", core.cluster_version())));
    }
    let numlocal = parse_int(args.get(1)).ok_or(NOT_AN_INTEGER)?;
    let numreplicas = parse_int(args.get(2)).ok_or(NOT_AN_INTEGER)?;
    let timeout_ms = parse_int(args.get(3)).ok_or(NOT_AN_INTEGER)?;
    if numlocal < 0 || numreplicas < 0 || timeout_ms < 0 {
        return Err("ERR value is out of range, must be positive".into());
    }
    if numlocal > 0 && !durable {
        return Err("ERR WAITAOF cannot be used when numlocal is set but appendonly is disabled.".into());
    }
    let timeout = (timeout_ms > 0).then(|| Duration::from_millis(timeout_ms as u64));
    Ok((numlocal > 0, numreplicas as usize, timeout))
}

/// WAITAOF inside MULTI/EXEC: the counts now, without waiting: this node's log counts when it
/// syncs every write before acknowledging it (`--fsync always`).
pub fn waitaof_in_transaction(call: &mut Call<'_, '_>) {
    let durable = call.shell.writes.log().is_some();
    match parse_aof(&call.shell.core, durable, &call.args) {
        Ok(_) => {
            let local = durable && call.shell.config.fsync == kvs_store::log::FsyncPolicy::Always;
            let now = call.shell.now();
            let replicas = call.shell.core.held_by(crate::core::Held::Synced, call.shell.core.last_write(), now);
            call.reply.array(2);
            call.reply.integer(i64::from(local));
            call.reply.integer(replicas as i64);
        }
        Err(message) => call.reply.error(&message),
    }
}
