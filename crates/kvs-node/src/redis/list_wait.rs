//! How a connection waits while its list command blocks (BLPOP and kin, see
//! [`super::list_moves::ListBlock`]). The command stays at the front of the connection's input
//! and runs again each time the wait may have ended: a push to one of its lists (here or
//! replicated), its timeout, CLIENT UNBLOCK. Meanwhile the connection is read, so a client that
//! closes is noticed (its registration goes with it), and what it pipelines waits its turn.

use super::ClientState;
use crate::net;
use crate::shell::Shell;
use bytes::{Bytes, BytesMut};
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// What the blocked connection reads and is bounded by while it waits.
pub(super) struct Reading<'a> {
    /// Its socket.
    pub stream: &'a mut net::Stream,
    /// Its input, the blocked command first.
    pub input: &'a mut BytesMut,
    /// How much input may wait.
    pub max_pending: usize,
}

/// Waits until the blocked command should run again, having asked to wait on `keys` for
/// `timeout`; false when the connection is to close (it closed, was killed, sent too much, or
/// the node stops).
pub(super) async fn until_retry(
    shell: &Shell,
    client: &mut ClientState,
    (keys, timeout): (Vec<Bytes>, Option<Duration>),
    reading: Reading<'_>,
    kill: &CancellationToken,
) -> bool {
    let unblock = client.unblock.clone();
    let block = &mut client.list_block;
    let Some((waiting, deadline)) = &block.waiting else {
        // Registered now, then run once more at once: a push may have come since it looked.
        unblock.asked.store(false, Ordering::Relaxed);
        unblock.with_error.store(false, Ordering::Relaxed);
        unblock.blocked.store(true, Ordering::Relaxed);
        let waiting = shell.writes.observers.lists.wait_on(keys);
        block.waiting = Some((waiting, timeout.map(|timeout| Instant::now() + timeout)));
        return true;
    };
    if unblock.asked.swap(false, Ordering::Relaxed) {
        block.ended = Some(unblock.with_error.load(Ordering::Relaxed));
        return true;
    }
    let deadline = *deadline;
    let timed_out = async move {
        match deadline {
            Some(deadline) => tokio::time::sleep_until(deadline).await,
            None => std::future::pending().await,
        }
    };
    let unblocked = unblock.notify.notified();
    let ended = tokio::select! {
        _ = shell.shutdown_started() => return false,
        _ = kill.cancelled() => return false,
        _ = waiting.pushed() => None,
        _ = timed_out => Some(false),
        _ = unblocked => {
            unblock.asked.store(false, Ordering::Relaxed);
            Some(unblock.with_error.load(Ordering::Relaxed))
        }
        read = reading.stream.read_buf(reading.input) => match read {
            Ok(0) | Err(_) => return false,
            Ok(_) if reading.input.len() > reading.max_pending => return false,
            Ok(_) => None,
        },
    };
    block.ended = ended;
    true
}

/// The command ran to its end (it took something, answered null or failed): its wait is over.
pub(super) fn done(client: &mut ClientState) {
    if client.list_block.waiting.is_some() {
        client.list_block = Default::default();
        client.unblock.blocked.store(false, Ordering::Relaxed);
    }
}
