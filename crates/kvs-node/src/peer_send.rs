//! Writing one message to a peer connection within the peer write timeout.

use crate::core::Outgoing;
use crate::net;
use crate::shell::Shell;
use kvs_proto::{Connection, ProtoError};
use tokio::time::timeout;

/// A peer write that outlasted the timeout, as the connection's error.
pub(crate) fn timed_out(_: tokio::time::error::Elapsed) -> ProtoError {
    ProtoError::Io(std::io::Error::new(std::io::ErrorKind::TimedOut, "peer did not answer in time"))
}

/// Sends one message within the peer write timeout; returns the frame's size.
pub(crate) async fn send(
    shell: &Shell,
    conn: &mut Connection<net::Stream>,
    message: &Outgoing,
) -> Result<usize, ProtoError> {
    timeout(shell.config.peer_write_timeout, write(shell, conn, message, true)).await.map_err(timed_out)?
}

/// Queues one message (written when the buffer fills or on the next flush) within the peer
/// write timeout; returns the frame's size.
pub(crate) async fn feed(
    shell: &Shell,
    conn: &mut Connection<net::Stream>,
    message: &Outgoing,
) -> Result<usize, ProtoError> {
    timeout(shell.config.peer_write_timeout, write(shell, conn, message, false)).await.map_err(timed_out)?
}

/// Queues `message` and flushes if asked. Under `--fault-duplicate-messages` (the simulator)
/// every message goes out twice: receivers must not care.
async fn write(
    shell: &Shell,
    conn: &mut Connection<net::Stream>,
    message: &Outgoing,
    flush: bool,
) -> Result<usize, ProtoError> {
    let mut sent = conn.feed(message).await?;
    if shell.config.faults.duplicate_messages {
        sent = conn.feed(message).await?;
    }
    if flush {
        conn.flush().await?;
    }
    Ok(sent)
}
