//! A kvs storage node: every node holds every key and replicates every write to all members.
//!
//! # Layout
//! - [`check_data_dir`]: `kvs-node check-data-dir DIR [--repair]`, the offline data dir check.
//! - [`clock_offsets`]: peers' clock offsets from gossip round trips, and whether ours is wrong.
//! - [`config`]: command-line flags and the [`NodeConfig`] they become.
//! - [`net`]: the transport seam (listener, stream, connect); the only file that names sockets.
//! - [`membership`]: pure member table: merge rules, liveness states, heartbeats.
//! - [`node`]: [`Node`], the node's parts shared by its tasks, and operations spanning them.
//! - [`data`]: the write path: replica, log, push log.
//! - [`cluster`]: the member table, the peer task handles, anti-entropy's choice of peer.
//! - [`clock_watch`]: the node's wall clock, and whether it is off from its peers'.
//! - [`server`]: bind, accept loop, heartbeat ticker, bootstrap join and the shutdown sequence.
//! - [`handshake`]: the hello exchange that opens every accepted connection.
//! - [`client_session`]: serves one client connection, request by request.
//! - [`peer_inbound`]: applies what one peer streams to us.
//! - [`peer_links`]: the node's handles on its peer tasks (stop, commands, connection state).
//! - [`peer_task`]: one task per member that streams our writes, gossip and anti-entropy to it;
//!   starts and stops those tasks as membership changes.
//! - [`anti_entropy`]: the anti-entropy task and the handlers of its answers; tombstone purge.
//! - `anti_entropy_rounds`: whom anti-entropy asks and when a request is given up (pure logic).
//! - [`stats`]: replication traffic counters.
//! - [`storage`]: memory-only or durable storage, opened (and replayed) before serving.
//! - [`status`]: builds the status report.
//! - [`redis`]: the optional Redis-protocol port and its commands.
//! - [`error`]: [`NodeError`], why a node cannot start or serve.

pub(crate) mod anti_entropy;
pub(crate) mod anti_entropy_rounds;
pub mod check_data_dir;
pub(crate) mod client_session;
pub(crate) mod clock_offsets;
pub(crate) mod clock_watch;
pub(crate) mod cluster;
pub mod config;
pub(crate) mod data;
pub mod error;
pub(crate) mod handshake;
pub(crate) mod membership;
pub(crate) mod net;
pub(crate) mod node;
pub(crate) mod peer_inbound;
pub(crate) mod peer_links;
pub(crate) mod peer_task;
pub(crate) mod redis;
pub mod server;
pub(crate) mod stats;
pub(crate) mod status;
pub(crate) mod storage;

pub use config::{NodeArgs, NodeConfig};
pub use error::NodeError;
pub use node::Node;
