//! Messages nodes send each other on peer connections.

use crate::model::{Entry, NodeId};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;

/// What a node tells others about one member (possibly itself); merged by newest `(generation, heartbeat, left)`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberInfo {
    /// The member's identity.
    pub id: NodeId,
    /// Where it serves clients and peers.
    pub addr: SocketAddr,
    /// Start time of this incarnation; a restart supersedes everything said about earlier ones.
    pub generation: u64,
    /// Bumped by the member on every gossip tick; a rising heartbeat is what "heard from" means.
    pub heartbeat: u64,
    /// The member announced a clean shutdown.
    pub left: bool,
}

impl MemberInfo {
    /// The freshness order used when two records of one member disagree.
    pub fn freshness(&self) -> (u64, u64, bool) {
        (self.generation, self.heartbeat, self.left)
    }
}

/// One key with its entry, as shipped in batches.
pub type KeyedEntry = (Bytes, Entry);

/// A message on a peer connection; each flows one way, from the connection's dialer to the acceptor.
///
/// Generic over the entry type so a sender can ship its own entry representation, as long as it
/// serializes like [`KeyedEntry`], which is what receivers decode.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PeerMessage<E = KeyedEntry> {
    /// The sender's view of membership, itself included, with its latest heartbeat.
    Gossip {
        /// Every member the sender knows.
        members: Vec<MemberInfo>,
    },
    /// Entries to merge: pushed writes or a repair transfer.
    Entries {
        /// Keys and their entries; the receiver keeps whichever version is larger.
        entries: Vec<E>,
    },
    /// The sender's store digest; a receiver whose digest differs sends back what it holds.
    Digest {
        /// Digest of the sender's whole store.
        digest: u128,
    },
    /// The sender is leaving cleanly.
    Leave {
        /// The sender's final record, with `left` set.
        member: MemberInfo,
    },
}
