//! Applies what one peer streams to us on the connection it dialed.

use crate::net;
use crate::node::Node;
use kvs_proto::{Connection, NodeId, PeerMessage};
use std::sync::Arc;

/// Consecutive digest mismatches before we send our state. One mismatch is usually writes still
/// in flight; a second one a repair interval later is worth the (today whole-store) transfer.
const MISMATCHES_BEFORE_TRANSFER: u32 = 2;

/// Reads peer messages until the peer closes, leaves, errs, or we shut down.
pub async fn serve(node: &Arc<Node>, conn: &mut Connection<net::Stream>, from: NodeId) {
    let mut mismatches = 0;
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
        match message {
            PeerMessage::Gossip { members } => node.merge_members(members),
            PeerMessage::Entries { entries } => {
                node.apply_remote(entries);
            }
            PeerMessage::Digest { digest } => {
                if digest == node.store.digest() {
                    mismatches = 0;
                } else {
                    mismatches += 1;
                    if mismatches >= MISMATCHES_BEFORE_TRANSFER {
                        mismatches = 0;
                        node.request_state_transfer(from);
                    }
                }
            }
            PeerMessage::Leave { member } => {
                tracing::info!(peer = %member.id, "member left");
                node.merge_members([member]);
                return;
            }
        }
    }
}
