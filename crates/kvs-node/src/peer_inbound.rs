//! Applies what one peer streams to us on the connection it dialed.

use crate::anti_entropy;
use crate::net;
use crate::node::Node;
use crate::peer_task;
use crate::stats::bump;
use kvs_proto::{Connection, NodeId, PeerMessage};
use std::sync::Arc;
use tokio::time::timeout;

/// Reads peer messages until the peer closes, leaves, errs, falls silent, or we shut down.
///
/// The dialer gossips every interval, so a connection silent for the dead-after time is dead:
/// across a partition its close or reset never arrives, and without this deadline its socket and
/// task (and a connection slot) would live forever.
pub async fn serve(node: &Arc<Node>, conn: &mut Connection<net::Stream>, from: NodeId) {
    let silence = node.config.dead_after;
    loop {
        let received = tokio::select! {
            _ = node.shutdown_started() => return,
            received = timeout(silence, conn.recv::<PeerMessage>()) => received,
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
                bump(&node.stats.silent_peer_connections_closed, 1);
                return;
            }
        };
        let bytes = conn.last_received_bytes();
        let stats = &node.stats;
        match message {
            PeerMessage::Gossip { members, clock } => {
                node.clock.received(from, clock, node.cluster.alive_peers());
                peer_task::merge_members(node, members);
            }
            PeerMessage::Entries { entries } => {
                bump(&stats.push_entries_received, entries.len());
                bump(&stats.push_bytes_received, bytes);
                node.apply_remote(entries, true).await;
            }
            PeerMessage::AntiEntropyRequest { cursors, fresh } => {
                bump(&stats.anti_entropy_bytes_received, bytes);
                node.cluster.answer_anti_entropy(from, cursors, fresh);
            }
            PeerMessage::AntiEntropyEntries { entries } => {
                bump(&stats.anti_entropy_bytes_received, bytes);
                bump(&stats.anti_entropy_entries_applied, node.apply_remote(entries, false).await);
                anti_entropy::progressed(node, from);
            }
            PeerMessage::AntiEntropyDone { cursors } => {
                bump(&stats.anti_entropy_bytes_received, bytes);
                anti_entropy::finished(node, from, &cursors);
            }
            PeerMessage::ResyncRequired { cursors } => {
                bump(&stats.anti_entropy_bytes_received, bytes);
                anti_entropy::resync(node, from, &cursors);
            }
            PeerMessage::Leave { member } => {
                tracing::info!(peer = %member.id, "member left");
                peer_task::merge_members(node, [member]);
                return;
            }
        }
    }
}
