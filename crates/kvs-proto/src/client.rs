//! Requests a client sends and what the node answers.

use crate::model::{Entry, Version};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use std::fmt;

/// One client request; the node answers each with exactly one [`ClientResponse`].
///
/// Generic over its byte strings so a node can decode a request borrowing them from the frame
/// (`ClientRequest<&[u8]>`) while clients build owned ones; both encode alike.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClientRequest<B = Bytes> {
    /// Read a key's current value.
    Get {
        /// The key to read.
        key: B,
    },
    /// Write a value; it replicates to every node.
    Set {
        /// The key to write.
        key: B,
        /// The value to store.
        value: B,
    },
    /// Delete a key by writing a tombstone that replicates like a write.
    Delete {
        /// The key to delete.
        key: B,
    },
    /// Describe the node, its members and (up to `max_keys` of) its keys.
    Status {
        /// Upper bound on keys listed, so a large store does not flood the answer.
        max_keys: u32,
    },
    /// Ask the node to leave the cluster cleanly and exit.
    Shutdown,
    /// Read a key's entry as this node holds it: value or tombstone, version and sequence number.
    Inspect {
        /// The key to read.
        key: B,
    },
    /// Read several keys at once, as Redis's MGET: one request, one answer.
    MGet {
        /// The keys to read, in the order their values are returned.
        keys: Vec<B>,
    },
    /// Write several keys at once, as Redis's MSET: every key and value is checked against the
    /// bounds before any is written, then each is written and replicated like a `Set`.
    MSet {
        /// Keys and their values, written in this order.
        pairs: Vec<(B, B)>,
    },
    /// A page of a backup: the live keys after `after` in byte order (from the first without
    /// it), with their values and deadlines, at most `max_keys` of them and as many as fit the
    /// node's reply bound; an empty page means the end. The last key of a page is the next
    /// page's `after`, so an interrupted export resumes from the last key it saved.
    Export {
        /// The last key already exported.
        after: Option<B>,
        /// Upper bound on keys in the page.
        max_keys: u32,
    },
    /// Load keys from a backup: each is written and replicated like a `Set`, with its deadline.
    /// Every entry is checked against the bounds before any is written.
    Load {
        /// The entries, written in this order.
        entries: Vec<BackupEntry<B>>,
    },
    /// Protocol 8: the node's release, the protocols it speaks, the cluster's version and its
    /// feature gates (answered with [`ClientResponse::Versions`]).
    Versions,
    /// Protocol 9: how many peers have applied every write made on this node so far (so every
    /// write of this connection), once `replicas` of them have or `timeout_ms` passed (0: no
    /// limit), as Redis's WAIT; answered with [`ClientResponse::Replicas`].
    Wait {
        /// How many peers to wait for.
        replicas: u32,
        /// How long to wait at most, in milliseconds (0: for ever).
        timeout_ms: u64,
    },
    /// Protocol 9: every change this node applies to a key beginning with `prefix`, from now on,
    /// wherever it was written: answered with [`ClientResponse::Ok`], then a
    /// [`ClientResponse::Changed`] per change until the client closes the connection.
    Watch {
        /// The keys' prefix (empty: every key).
        prefix: B,
    },
    /// Protocol 9: the node's samples of the last ten minutes, oldest first (answered with
    /// [`ClientResponse::History`]), for the cluster page's charts.
    History,
    /// Protocol 9: the layout `ClusterApply` with this change would make and what it would move
    /// (answered with [`ClientResponse::ClusterPlan`]); nothing changes.
    ClusterPlan {
        /// The change.
        change: LayoutChange,
    },
    /// Protocol 9, admin: makes that layout the cluster's (answered with
    /// [`ClientResponse::ClusterPlan`], the layout applied and what it moves).
    ClusterApply {
        /// The change.
        change: LayoutChange,
    },
    /// Protocol 9: the layout the node holds (answered with [`ClientResponse::Layout`]), for
    /// clients that send each key to its owners.
    Layout,
}

/// A change of layout as an operator asks for it: the members are those alive now.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayoutChange {
    /// Owners per slot (`None`: the current layout's, or every member when there is none).
    pub replication_factor: Option<u32>,
    /// Weights of members by the address they serve at (any other member keeps its weight in
    /// the current layout, or 1).
    pub weights: Vec<(std::net::SocketAddr, u32)>,
}

/// A layout and what adopting it moves (`kvs-client cluster plan` and `apply`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterPlan {
    /// The layout the cluster holds now (`None`: none was applied; every member owns every slot).
    pub current: Option<crate::layout::Layout>,
    /// The layout proposed (for a plan: with the version an apply on this node would give it)
    /// or applied.
    pub proposed: crate::layout::Layout,
    /// Per member of either, the slots it owns before and after, gains and loses.
    pub moves: Vec<crate::layout::MemberMoves>,
}

impl<B> ClientRequest<B> {
    /// The protocol version that introduced this request: a client never sends it to a node
    /// that speaks an older one, and a node refuses it on a connection of an older one.
    pub fn protocol(&self) -> u32 {
        match self {
            ClientRequest::Versions => 8,
            ClientRequest::Wait { .. }
            | ClientRequest::Watch { .. }
            | ClientRequest::History
            | ClientRequest::ClusterPlan { .. }
            | ClientRequest::ClusterApply { .. }
            | ClientRequest::Layout => 9,
            _ => 7,
        }
    }
}

/// One live key of a backup: its value (a counter's, in decimal) and when it expires.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupEntry<B = Bytes> {
    /// The key.
    pub key: B,
    /// Its value.
    pub value: B,
    /// When it expires, in Unix milliseconds, if it does.
    pub expires_at_ms: Option<u64>,
}

/// The node's answer to one [`ClientRequest`]; generic over its values' byte strings, so a node
/// can encode a value straight from its store (`ClientResponse<&[u8]>`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClientResponse<B = Bytes> {
    /// The write or command succeeded.
    Ok,
    /// The answer to `Get`: `None` when the key is absent or deleted.
    Value(Option<B>),
    /// The answer to `Status`.
    Status(Box<StatusReport>),
    /// The request failed; the connection stays usable unless the code says otherwise.
    Error(ErrorReply),
    /// The answer to `Set` and `Delete`: the version the write was made with. A later read sees
    /// this write or one with a larger version, on every node once it has replicated.
    Written(Version),
    /// The answer to `Inspect`: `None` when the node holds nothing for the key (a tombstone is
    /// an entry).
    Entry(Option<Entry>),
    /// The answer to `MGet`: each key's value in request order, `None` when absent.
    Values(Vec<Option<B>>),
    /// The answer to `Export`: the page's entries in key order (none: the export is complete).
    Exported(Vec<BackupEntry<B>>),
    /// Protocol 8: the answer to `Versions`.
    Versions(Box<VersionsReport>),
    /// Protocol 9: the answer to `Wait`: how many peers have applied the writes.
    Replicas(u32),
    /// Protocol 9: one change a `Watch` asked for.
    Changed(Change<B>),
    /// Protocol 9: the answer to `History`, oldest sample first.
    History(Vec<crate::history::HistorySample>),
    /// Protocol 9: the answer to `ClusterPlan` and `ClusterApply`.
    ClusterPlan(Box<ClusterPlan>),
    /// Protocol 9: the answer to `Layout` (`None`: none was applied; every member owns every slot).
    Layout(Option<Box<crate::layout::Layout>>),
}

/// One change a node applied, as `Watch` streams it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change<B = Bytes> {
    /// The key (a collection's own key for a change of one of its elements).
    pub key: B,
    /// What happened, named as Redis's keyspace events name it: `set`, `del`, `expired`,
    /// `evicted`, `incrby`, `hset`, `srem`, `zadd`, `expire`, `flushall`, ….
    pub event: String,
    /// The field or member changed, for a collection's element.
    pub element: Option<B>,
    /// The new value: a string's, a counter's in decimal, a hash field's, a score; `None` for a
    /// delete and for a set's member.
    pub value: Option<B>,
    /// The write's version; its node is the write's origin.
    pub version: Version,
}

/// What a node runs and what its cluster has switched on (`kvs-client status`, the cluster page).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionsReport {
    /// The node's release (`0.N.0`).
    pub release: String,
    /// The oldest and newest wire protocol it speaks.
    pub protocols: (u32, u32),
    /// The log format it writes while the cluster's version is its newest protocol.
    pub log_format: u32,
    /// The log format its log is in now.
    pub log_format_in_use: Option<u32>,
    /// The cluster's version: the newest protocol every live member speaks, as this node last
    /// found it; it never goes back, and a peer that speaks only older ones is refused.
    pub cluster_version: u32,
    /// Every feature gate this release knows.
    pub gates: Vec<GateStatus>,
    /// What each member's connections have shown it to speak (`None`: not yet known).
    pub members: Vec<(String, Option<u32>)>,
}

/// One cluster feature gate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GateStatus {
    /// The feature's name.
    pub name: String,
    /// The cluster version that opens it.
    pub protocol: u32,
    /// Whether it is open.
    pub open: bool,
    /// What it switches on.
    pub what: String,
}

/// Machine-readable reason for an error reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ErrorCode {
    /// The frame could not be decoded as a request; the connection closes.
    MalformedFrame,
    /// The frame exceeded the node's bound; the connection closes.
    FrameTooLarge,
    /// The key exceeded the node's bound.
    KeyTooLarge,
    /// The value exceeded the node's bound.
    ValueTooLarge,
    /// The peer speaks another protocol version.
    VersionMismatch,
    /// The request is not valid in this context (e.g. a peer message on a client connection).
    BadRequest,
    /// The node is shutting down and takes no more work.
    ShuttingDown,
    /// The connection was idle past the node's deadline.
    Timeout,
    /// The node cannot make the write durable (its log failed); the write was not acknowledged.
    LogFailed,
    /// The node's clock is further from its peers' than the skew bound, so they would refuse its
    /// writes; the write was not acknowledged.
    ClockSkew,
    /// Every connection a client may take is in use (the rest are kept for peers).
    TooManyConnections,
    /// The node has users and the hello carried no credentials.
    NoAuth,
    /// The user and password do not match a user of the node.
    WrongPass,
    /// The user's role does not allow the request.
    NoPerm,
    /// A peer failed the cluster-secret handshake.
    PeerAuthFailed,
    /// The answer would exceed the node's reply bound (`--max-reply-bytes`, and the frame bound).
    ReplyTooLarge,
    /// The node is over its memory limit and could not evict (protocol 9; sent to a connection
    /// of protocol 8 as [`ErrorCode::BadRequest`]).
    OutOfMemory,
    /// A `Watch` fell further behind the node's changes than it buffers; the changes in between
    /// were missed and the stream ends (protocol 9).
    FellBehind,
    /// The key's slot is not held by this node under the cluster's layout; the message is
    /// `MOVED <slot> <address>`, naming the slot's first owner (protocol 9; sent to a connection
    /// of protocol 8 as [`ErrorCode::BadRequest`]).
    Moved,
}

/// An error code with a human explanation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorReply {
    /// What kind of failure this is.
    pub code: ErrorCode,
    /// One line for people.
    pub message: String,
}

impl ErrorReply {
    /// Builds an error reply.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ErrorReply { code, message: message.into() }
    }
}

impl fmt::Display for ErrorReply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}: {}", self.code, self.message)
    }
}

/// Liveness of a member as this node sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MemberState {
    /// Heard from recently.
    Alive,
    /// Silent past the suspect timeout.
    Suspect,
    /// Silent past the dead timeout; still retried with backoff.
    Dead,
    /// Announced a clean shutdown.
    Left,
}

impl fmt::Display for MemberState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            MemberState::Alive => "alive",
            MemberState::Suspect => "suspect",
            MemberState::Dead => "dead",
            MemberState::Left => "left",
        };
        f.write_str(s)
    }
}

/// One member line of a status report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberStatus {
    /// The member's node id in hex.
    pub node_id: String,
    /// The address it serves on.
    pub addr: String,
    /// Its liveness as seen by the reporting node.
    pub state: MemberState,
    /// Milliseconds since the reporting node last heard a new heartbeat of it (0 for itself).
    pub last_heard_ms: u64,
    /// Its wall clock minus the reporting node's, in ms, as last measured (0 for itself; none
    /// until a ping round trip has been timed).
    pub clock_offset_ms: Option<i64>,
}

/// What `status` reports about a node.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusReport {
    /// The node's id in hex.
    pub node_id: String,
    /// The address it serves on.
    pub addr: String,
    /// Live (non-deleted) keys.
    pub key_count: u64,
    /// Delete markers still held.
    pub tombstone_count: u64,
    /// Digest of the whole store in hex; equal content gives equal digests.
    pub digest: String,
    /// Every member including the node itself.
    pub members: Vec<MemberStatus>,
    /// This node's wall clock minus its peers' (their upper median), in ms.
    pub clock_skew_ms: i64,
    /// Why this node is unhealthy, one line each; empty when it is healthy.
    pub problems: Vec<String>,
    /// Up to the requested number of live keys, sorted (lossy UTF-8).
    pub keys: Vec<String>,
    /// Whether more live keys exist than `keys` lists.
    pub keys_truncated: bool,
    /// Replication traffic since the node started.
    pub replication: ReplicationStatus,
    /// How far this node has applied each origin's writes: `(origin, sequence number)`, the
    /// cursors anti-entropy asks beyond.
    pub cursors: Vec<(String, u64)>,
}

pub use crate::replication_counters::ReplicationStatus;
