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

/// The wall clocks a gossip message carries, from which the receiver estimates the sender's clock
/// offset the way NTP does: `echo` returns the sender's last sample from the receiver, so the
/// receiver has all four timestamps of one round trip.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClockSample {
    /// The sender's wall clock when it sent this message, in ms since the Unix epoch.
    pub sent_ms: u64,
    /// The last sample the sender received from the receiver: `(receiver's sent_ms, sender's
    /// wall clock when it arrived)`.
    pub echo: Option<(u64, u64)>,
}

/// One key with its entry, as shipped in batches.
pub type KeyedEntry = (Bytes, Entry);

/// For each origin node, the highest sequence number up to which every one of its writes has been
/// applied (or superseded) here: a version vector over per-origin write sequences.
pub type Cursors = Vec<(NodeId, u64)>;

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
        /// The sender's wall clock, for the receiver's estimate of the offset between them.
        clock: ClockSample,
    },
    /// The sender's own writes, pushed as they happen, in sequence order.
    Entries {
        /// Keys and their entries; the receiver keeps whichever version is larger.
        entries: Vec<E>,
    },
    /// The sender's own writes of one transaction (MULTI/EXEC), in sequence order, to apply as
    /// one unit: no reader of the receiver sees some of them without the others.
    Unit {
        /// Keys and their entries, merged like pushed entries.
        entries: Vec<E>,
    },
    /// Anti-entropy, step 1: "send me what you hold beyond these cursors". Its size depends on the
    /// number of origins, never on the number of keys.
    AntiEntropyRequest {
        /// Names this request; every frame of the answer carries it, so an answer is only ever
        /// taken for the request it answers (not a stale one from an earlier run of the node).
        request: u64,
        /// The requester's cursors.
        cursors: Cursors,
        /// The requester holds nothing the responder has seen (new, or just cleared for a resync),
        /// so it cannot resurrect a purged delete and needs no resync check.
        fresh: bool,
    },
    /// Anti-entropy, step 2 (zero or more frames): entries the requester lacks.
    AntiEntropyEntries {
        /// The request answered.
        request: u64,
        /// Entries newer than the requester's cursors.
        entries: Vec<E>,
    },
    /// Anti-entropy, step 3: the delta is complete; the requester may advance to these cursors.
    AntiEntropyDone {
        /// The request answered.
        request: u64,
        /// The responder's cursors, read before its entries were gathered.
        cursors: Cursors,
    },
    /// Anti-entropy, instead of steps 2-3: the requester is behind deletes that were already
    /// purged here, so merging would resurrect them; it must drop what we have seen and start over.
    ResyncRequired {
        /// The request answered.
        request: u64,
        /// The responder's cursors: what the requester may drop because it will receive it again.
        cursors: Cursors,
    },
    /// The sender is leaving cleanly.
    Leave {
        /// The sender's final record, with `left` set.
        member: MemberInfo,
    },
}
