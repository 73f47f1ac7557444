//! Async client for kvs nodes.
//!
//! # Layout
//! - [`client`]: [`Client`], one connection to one node; every call goes through [`Client::request`].
//! - [`error`]: [`ClientError`], typed failures; nothing here exits the process.
//! - [`check`]: whether every member agrees on the data and on who the members are.
//! - [`cluster`]: [`ClusterClient`], which knows the members, pools connections and fails over.
//! - [`address`]: a node's address as a person writes it (`host:port`, `localhost`).
//! - [`backup`]: exporting every live key to a file and importing one, both resumable.
//! - [`watch`]: [`Watch`], the changes a node applies to keys of a prefix, as they happen.
//!
//! The `kvs-client` binary (src/bin/kvs-client.rs) is a thin command line over this API.

// The lint block (after fjall's): unsafe code, undocumented public items and leftover
// debugging never build.
#![deny(unsafe_code)]
#![deny(missing_docs, rust_2018_idioms)]
#![deny(clippy::dbg_macro, clippy::todo, clippy::unimplemented, clippy::print_stdout, clippy::print_stderr)]

pub mod address;
pub mod backup;
pub mod check;
pub mod client;
pub mod cluster;
pub mod error;
pub mod tls;
pub mod watch;

pub use client::{Client, ClientOptions};
pub use cluster::ClusterClient;
pub use error::ClientError;
pub use kvs_proto::layout::{Layout, LayoutMember, LayoutVersion, MemberMoves};
pub use kvs_proto::{
    BackupEntry, Change, ClientRequest, ClientResponse, ClusterPlan, Credentials, Entry, ErrorCode, ErrorReply,
    LayoutChange, MemberState, MemberStatus, ReplicationStatus, StatusReport, Version,
};
pub use tls::ClientTls;
pub use watch::Watch;
