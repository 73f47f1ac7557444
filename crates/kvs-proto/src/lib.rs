//! Wire types and framing shared by every kvs process.
//!
//! # Layout
//! - [`model`]: the replicated data model on the wire: node ids, HLC versions, entries.
//! - [`features`]: the cluster feature gates and the protocol version that opens each.
//! - [`hello`]: the first frame of every connection (protocol version and role) and its reply.
//! - [`client`]: client requests, responses, error codes and the status report.
//! - [`history`]: a node's recent samples, for the cluster page's charts.
//! - [`peer`]: messages nodes exchange: gossip, pushed entries, anti-entropy sync, leave.
//! - [`replication_counters`]: the table of replication counters every report is generated from.
//! - [`layout`]: which members own which slots, versioned, and the owners every node computes alike.
//! - [`limits`]: the bounds every decoder enforces (frame, key and value sizes).
//! - [`encoding`]: the one place that turns messages into bytes and back (bincode 2).
//! - [`connection`]: typed send/receive over a length-delimited framed stream.
//! - [`error`]: [`ProtoError`], everything that can go wrong on the wire.
//! - [`resp`]: the Redis protocol (RESP2/RESP3): in-place command parsing and reply writing.
//! - [`slot`]: Redis Cluster's hash slots (CRC16 and hash tags), which key lives where.

// The lint block (after fjall's): unsafe code, undocumented public items and leftover
// debugging never build.
#![deny(unsafe_code)]
#![deny(missing_docs, rust_2018_idioms)]
#![deny(clippy::dbg_macro, clippy::todo, clippy::unimplemented, clippy::print_stdout, clippy::print_stderr)]

pub mod client;
pub mod connection;
pub mod encoding;
pub mod error;
pub mod features;
pub mod hello;
pub mod history;
pub mod layout;
pub mod limits;
pub mod model;
pub mod peer;
pub mod replication_counters;
pub mod resp;
pub mod slot;
pub mod slot_set;

pub use client::{
    BackupEntry, Change, ClientRequest, ClientResponse, ClusterPlan, ErrorCode, ErrorReply, GateStatus, LayoutChange,
    MemberState, MemberStatus, ReplicationStatus, StatusReport, VersionsReport,
};
pub use connection::{BufferedFrames, Connection};
pub use error::ProtoError;
pub use features::{Feature, FEATURES};
pub use hello::{
    offered_versions, speaks, step_down, version_mismatch, Credentials, Hello, HelloReply, Nonce, PeerProof, Proof,
    Role, OLDEST_PROTOCOL_VERSION, PROTOCOL_VERSION,
};
pub use history::HistorySample;
pub use limits::Limits;
pub use model::{
    CollectionType, Contribution, Counter, ElementAdd, ElementCount, Entry, EntryKind, NodeId, Stamp, Version,
};
pub use peer::{ClockSample, MemberInfo, PeerMessage, Publication, Pulse, View};
