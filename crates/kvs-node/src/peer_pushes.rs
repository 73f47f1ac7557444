//! The push stream to one peer: our writes batched into frames, less those of slots the peer
//! does not hold, which are named instead (docs/partitioning.md, "Pushes to holders only").

use crate::core::{Outgoing, PushFrame, Pushed, Wanted};
use crate::net;
use crate::outbox::Outbox;
use crate::peer_send::send;
use crate::shell::Shell;
use crate::stats::bump;
use kvs_proto::{Connection, PeerMessage, ProtoError};
use kvs_store::Record;
use std::sync::Arc;
use tokio::sync::broadcast::error::TryRecvError;

/// What one peer wants pushed, asked of the core again whenever it may have changed.
pub(crate) struct PeerWants {
    peer: kvs_proto::NodeId,
    /// Whether the connection speaks the protocol that skips writes.
    skips: bool,
    /// The core's change count when `wanted` was read (`None`: never read).
    read_at: Option<u64>,
    wanted: Option<Arc<Wanted>>,
}

impl PeerWants {
    /// Nothing read yet, for `peer` on a connection of protocol `version`.
    pub(crate) fn new(peer: kvs_proto::NodeId, version: u32) -> Self {
        let probe = PeerMessage::<Record>::EntriesSkipping { entries: Vec::new(), skipped: Vec::new() };
        PeerWants { peer, skips: version >= probe.protocol(), read_at: None, wanted: None }
    }

    /// What the peer wants now (`None`: every write); the outbox learns it too, so sessions leave
    /// the writes it does not want to the task.
    pub(crate) fn refresh(&mut self, shell: &Shell, outbox: &Outbox) -> Option<Arc<Wanted>> {
        let changes = shell.core.wanted_changes();
        if self.read_at != Some(changes) {
            self.read_at = Some(changes);
            self.wanted = shell.core.wanted_by(self.peer).filter(|_| self.skips).map(Arc::new);
            outbox.set_wanted(self.wanted.clone());
        }
        self.wanted.clone()
    }
}

/// Sends `first` and whatever else is already queued, up to the batch bound, as one frame; a
/// transaction's writes go in a frame of their own, applied as a unit by the peer.
pub(crate) async fn send_pushes(
    shell: &Shell,
    conn: &mut Connection<net::Stream>,
    pushes: &mut tokio::sync::broadcast::Receiver<Pushed>,
    first: Pushed,
    (outbox, wanted): (&Outbox, Option<&Wanted>),
) -> Result<(), ProtoError> {
    let max_bytes = shell.config.max_batch_bytes;
    let mut batch = PushFrame::new(wanted);
    let mut next = Some(first);
    while let Some(pushed) = next.take() {
        match pushed {
            // A session sent it itself while the link was idle.
            Pushed::One(record) if outbox.written(&record) => {}
            Pushed::One(record) => batch.add(record),
            Pushed::Unit(unit) => {
                send_batch(shell, conn, batch.take()).await?;
                send_batch(shell, conn, batch.take_hints()).await?;
                let count = unit.len();
                let sent = send(shell, conn, &Outgoing::Unit { entries: unit.to_vec() }).await?;
                bump(&shell.core.stats().push_entries_sent, count);
                bump(&shell.core.stats().push_bytes_sent, sent);
            }
        }
        if batch.bytes() >= max_bytes {
            break;
        }
        next = loop {
            match pushes.try_recv() {
                Ok(pushed) => break Some(pushed),
                // A lag is a gap the peer's anti-entropy fills; what follows is still worth pushing.
                Err(TryRecvError::Lagged(_)) => continue,
                Err(TryRecvError::Empty | TryRecvError::Closed) => break None,
            }
        };
    }
    send_batch(shell, conn, batch.take()).await?;
    send_batch(shell, conn, batch.take_hints()).await
}

/// Sends one push frame (nothing when there is none).
async fn send_batch(
    shell: &Shell,
    conn: &mut Connection<net::Stream>,
    frame: Option<Outgoing>,
) -> Result<(), ProtoError> {
    let Some(frame) = frame else { return Ok(()) };
    let count = match &frame {
        PeerMessage::Entries { entries } | PeerMessage::EntriesSkipping { entries, .. } => entries.len(),
        _ => 0,
    };
    let sent = send(shell, conn, &frame).await?;
    bump(&shell.core.stats().push_entries_sent, count);
    bump(&shell.core.stats().push_bytes_sent, sent);
    Ok(())
}
