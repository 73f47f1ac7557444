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
//! The wait itself is the session's (`session::run_command`), the one place a command may block.

use super::{parse_int, Call, NOT_AN_INTEGER};
use crate::core::Core;
use kvs_proto::features::WAIT;
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
            call.reply.integer(call.shell.core.applied_by(want, now) as i64)
        }
        Err(message) => call.reply.error(&message),
    }
}
