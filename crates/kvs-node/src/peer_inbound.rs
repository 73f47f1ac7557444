//! Applies what one peer streams to us on the connection it dialed.

use crate::anti_entropy;
use crate::net;
use crate::node::Node;
use crate::stats::bump;
use kvs_proto::{Connection, NodeId, PeerMessage};
use std::sync::Arc;

/// Reads peer messages until the peer closes, leaves, errs, or we shut down.
pub async fn serve(node: &Arc<Node>, conn: &mut Connection<net::Stream>, from: NodeId) {
    loop {
        let received = tokio::select! {
            _ = node.shutdown_started() => return,
            received = conn.recv::<PeerMessage>() => received,
        };
        let message = match received {
            Ok(Some(message)) => message,
            Ok(None) => return,
            Err(error) => {
                tracing::warn!(peer = %from, %error, "dropping peer connection");
                return;
            }
        };
        let bytes = conn.last_received_bytes();
        let stats = &node.stats;
        match message {
            PeerMessage::Gossip { members, clock } => {
                node.clock_sample_received(from, clock);
                node.merge_members(members);
            }
            PeerMessage::Entries { entries } => {
                bump(&stats.push_entries_received, entries.len());
                bump(&stats.push_bytes_received, bytes);
                node.apply_pushed(entries);
            }
            PeerMessage::SyncRequest { cursors, fresh } => {
                bump(&stats.anti_entropy_bytes_received, bytes);
                node.respond_to_sync(from, cursors, fresh);
            }
            PeerMessage::SyncEntries { entries } => {
                bump(&stats.anti_entropy_bytes_received, bytes);
                bump(&stats.entries_repaired, node.apply_synced(entries));
                anti_entropy::progressed(node, from);
            }
            PeerMessage::SyncDone { cursors } => {
                bump(&stats.anti_entropy_bytes_received, bytes);
                anti_entropy::finished(node, from, &cursors);
            }
            PeerMessage::ResyncRequired { cursors } => {
                bump(&stats.anti_entropy_bytes_received, bytes);
                anti_entropy::resync(node, from, &cursors);
            }
            PeerMessage::Leave { member } => {
                tracing::info!(peer = %member.id, "member left");
                node.merge_members([member]);
                return;
            }
        }
    }
}
