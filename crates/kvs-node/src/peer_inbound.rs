//! Applies what one peer streams to us on the connection it dialed.

use crate::core::Peer;
use crate::net;
use crate::shell::Shell;
use crate::stats::bump;
use kvs_proto::{Connection, PeerMessage};
use kvs_store::Record;
use std::sync::Arc;
use tokio::time::timeout;

/// Reads peer messages until the peer closes, leaves, errs, falls silent, or we shut down.
///
/// The dialer pings a few times per dead-after period, so a connection silent that long is dead:
/// across a partition its close or reset never arrives, and without this deadline its socket and
/// task (and a connection slot) would live forever.
///
/// The peer said hello at protocol `version`: a message of a newer one is refused with the
/// connection (its sender knows better than to send it).
pub async fn serve(shell: &Arc<Shell>, conn: &mut Connection<net::Stream>, peer: Peer, version: u32) {
    let from = peer.id;
    let silence = shell.config.dead_after;
    loop {
        let received = tokio::select! {
            _ = shell.shutdown_started() => return,
            received = timeout(silence, conn.recv::<PeerMessage<Record>>()) => received,
        };
        let message = match received {
            Ok(Ok(Some(message))) => message,
            Ok(Ok(None)) => return,
            Ok(Err(error)) => {
                tracing::warn!(peer = %from, %error, "dropping peer connection");
                return;
            }
            Err(_) => {
                tracing::info!(peer = %from, ?silence, "closing a silent peer connection");
                net::abort(conn.get_ref());
                bump(&shell.core.stats().silent_peer_connections_closed, 1);
                return;
            }
        };
        if message.protocol() > version {
            tracing::warn!(peer = %from, version, "dropping a peer connection that sent a protocol-{} message", message.protocol());
            bump(&shell.core.stats().peer_messages_refused, 1);
            return;
        }
        let bytes = conn.last_received_bytes();
        let stats = shell.core.stats();
        let leaving = matches!(message, PeerMessage::Leave { .. });
        let entries = match &message {
            PeerMessage::Gossip { .. } | PeerMessage::Ping { .. } => {
                bump(&stats.gossip_bytes_received, bytes);
                0
            }
            PeerMessage::Leave { .. } => 0,
            PeerMessage::AppliedAsk { .. }
            | PeerMessage::Applied { .. }
            | PeerMessage::SyncedAsk { .. }
            | PeerMessage::Synced { .. }
            | PeerMessage::LayoutOffer { .. }
            | PeerMessage::LayoutWanted { .. }
            | PeerMessage::Layout { .. }
            | PeerMessage::Holding { .. }
            | PeerMessage::Serves { .. } => {
                bump(&stats.gossip_bytes_received, bytes);
                0
            }
            PeerMessage::Entries { entries }
            | PeerMessage::Unit { entries }
            | PeerMessage::EntriesSkipping { entries, .. } => {
                bump(&stats.push_bytes_received, bytes);
                entries.len()
            }
            PeerMessage::AntiEntropyEntries { entries, .. } | PeerMessage::Hints { entries, .. } => {
                bump(&stats.anti_entropy_bytes_received, bytes);
                entries.len()
            }
            PeerMessage::Published { .. } => 0,
            // Kept as hints, not logged.
            PeerMessage::HintsToKeep { .. } => {
                bump(&stats.push_bytes_received, bytes);
                0
            }
            PeerMessage::Forward { .. } | PeerMessage::Forwarded { .. } => 0,
            // Listed one by one: a new kind of message must choose its counter here.
            PeerMessage::AntiEntropyRequest { .. }
            | PeerMessage::SlotFetch { .. }
            | PeerMessage::SlotFetchDone { .. }
            | PeerMessage::AntiEntropyDone { .. }
            | PeerMessage::HintsTaken { .. }
            | PeerMessage::ResyncRequired { .. } => {
                bump(&stats.anti_entropy_bytes_received, bytes);
                0
            }
        };
        // Room in the log for the entries first: a slow disk slows the peer down, not a thread.
        // Without room (the log failed) entries still merge; they are not logged.
        let mut room = shell.writes.reserve(entries).await.unwrap_or_default();
        let effects = shell.core.receive(peer, message, shell.now());
        let effects = shell.queue_forwarded(effects).await;
        shell.execute(effects, &mut room);
        if leaving {
            return;
        }
    }
}
