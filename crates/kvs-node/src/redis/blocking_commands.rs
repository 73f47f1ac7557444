//! The commands that block their connection until something else happens: SAVE (the disk),
//! WAIT and WAITAOF (peers). They run in the session rather than in a handler, since they await.

use super::clients::RedisClients;
use super::{wait, ClientState};
use crate::core::Held;
use crate::credentials::Access;
use crate::shell::Shell;
use std::sync::Arc;
use std::time::Duration;

/// What a command that blocks its connection answered.
pub(super) enum Blocked {
    /// SAVE: done.
    Done,
    /// WAIT: how many peers.
    Count(usize),
    /// WAITAOF: whether this node's log, and how many peers' logs, have the writes on disk.
    Logs(bool, usize),
}

/// The commands that block their connection (SAVE waits for the disk, WAIT for peers), run here
/// rather than in a handler; `None` for any other command, or one queued in MULTI, sent with
/// the wrong arity or by a connection that may not run it (the handler path answers those).
pub(super) async fn blocking(
    shell: &Arc<Shell>,
    clients: &RedisClients,
    client: &ClientState,
    args: &kvs_proto::resp::Args<'_>,
    queueing: bool,
) -> Option<Result<Blocked, String>> {
    let name = args.get(0);
    let admin = client.user.as_ref().is_some_and(|(_, access)| *access == Access::Admin);
    if queueing {
        None
    } else if name.eq_ignore_ascii_case(b"SAVE") && args.len() == 1 && admin {
        Some(save(shell, clients).await.map(|()| Blocked::Done))
    } else if name.eq_ignore_ascii_case(b"WAIT") && args.len() == 3 && client.user.is_some() {
        Some(wait(shell, client, args).await.map(Blocked::Count))
    } else if name.eq_ignore_ascii_case(b"WAITAOF") && args.len() == 4 && client.user.is_some() {
        Some(waitaof(shell, client, args).await.map(|(local, replicas)| Blocked::Logs(local, replicas)))
    } else {
        None
    }
}

/// SAVE: the log compacted from memory (kvs's log is its snapshot), synced, before the reply.
async fn save(shell: &Shell, clients: &RedisClients) -> Result<(), String> {
    let Some(log) = shell.writes.log() else {
        return Err("ERR this node has no data dir; there is nothing to save to".into());
    };
    log.compacted().await.map_err(|e| format!("ERR {e}"))?;
    clients.saved();
    Ok(())
}

/// WAIT: blocks this connection until enough peers acknowledge its writes, the timeout passes,
/// or CLIENT UNBLOCK ends it (as a timeout, or with ERROR as an error).
async fn wait(shell: &Arc<Shell>, client: &ClientState, args: &kvs_proto::resp::Args<'_>) -> Result<usize, String> {
    let (wanted, timeout) = wait::parse(&shell.core, args)?;
    wait_blocked(shell, client, Held::Applied, wanted, timeout).await
}

/// WAITAOF: syncs this node's log (when asked to count it), then waits, as WAIT does, for
/// peers to say their logs have this node's writes on disk.
async fn waitaof(
    shell: &Arc<Shell>,
    client: &ClientState,
    args: &kvs_proto::resp::Args<'_>,
) -> Result<(bool, usize), String> {
    let (local, wanted, timeout) = wait::parse_aof(&shell.core, shell.writes.log().is_some(), args)?;
    let synced = match (local, shell.writes.log()) {
        (true, Some(log)) => {
            log.sync().await.map_err(|error| format!("ERR {error}"))?;
            true
        }
        _ => false,
    };
    let replicas = wait_blocked(shell, client, Held::Synced, wanted, timeout).await?;
    Ok((synced, replicas))
}

/// Blocks the connection until `wanted` peers hold its node's writes as `held` says, the timeout
/// passes, or CLIENT UNBLOCK ends the wait (as a timeout, or with ERROR as an error).
async fn wait_blocked(
    shell: &Arc<Shell>,
    client: &ClientState,
    held: Held,
    wanted: usize,
    timeout: Option<Duration>,
) -> Result<usize, String> {
    let unblock = &client.unblock;
    let unblocked = unblock.notify.notified();
    tokio::pin!(unblocked);
    // Registered before the connection shows as blocked, so an UNBLOCK from then on wakes it.
    unblocked.as_mut().enable();
    unblock.with_error.store(false, std::sync::atomic::Ordering::Relaxed);
    unblock.blocked.store(true, std::sync::atomic::Ordering::Relaxed);
    let (count, interrupted) = shell.wait_for_peers(held, wanted, timeout, unblocked).await;
    unblock.blocked.store(false, std::sync::atomic::Ordering::Relaxed);
    match interrupted && unblock.with_error.load(std::sync::atomic::Ordering::Relaxed) {
        true => Err("UNBLOCKED client unblocked via CLIENT UNBLOCK".into()),
        false => Ok(count),
    }
}
