//! A kvs storage node: every node holds every key and replicates every write to all members.
//!
//! # Layout
//! The node is a replication core with no I/O, inside a thin I/O shell, behind two front ends.
//!
//! The core:
//! - [`core`]: every replication rule; takes inputs (a client write, made within a turn; a
//!   peer's message; a tick; each with the time) and returns effects (records to log, our writes
//!   to push, messages to send to whom, peer tasks to start or stop). Membership, anti-entropy
//!   rounds and clock offsets live in it.
//!
//! The shell:
//! - [`shell`]: [`Shell`](shell::Shell), what the node's tasks share: the core, and the handles
//!   its effects are carried out with; every clock read of the node.
//! - [`write_path`]: carries out the core's log and push effects (the log, the push log).
//! - [`peer_links`]: the handles on the peer tasks (stop, commands, connection state).
//! - [`peer_task`]: one task per member that streams our writes, gossip and anti-entropy to it.
//! - [`peer_inbound`]: feeds what one peer streams to us to the core.
//! - [`anti_entropy`]: the anti-entropy and tombstone-purge timers.
//! - [`server`]: bind, accept loop, heartbeat and rediscovery timers, joining, shutdown.
//! - [`connection_budget`]: one budget of accepted connections, within the descriptor limit,
//!   with a reserve for peers.
//! - [`handshake`]: the hello exchange that opens every accepted connection.
//! - [`peer_handshake`]: the dialer's side of a peer hello, and the cluster-secret challenge.
//! - [`credentials`]: the cluster secret, and what each role may do.
//! - [`users`]: the users file and the one login check every front end makes.
//! - [`login_throttle`]: slows down a source address that keeps failing to log in.
//! - [`memory_limit`]: `maxmemory`: the limit and Redis's eviction policies.
//! - `eviction` (internal): making room before a growing write: evicting by the policy, or -OOM.
//! - [`node_clock`]: every clock read of the node (shifted or stepped by fault injection).
//! - [`net`]: the transport seam (listener, stream, connect); the only file that names sockets.
//! - [`tls`]: TLS with rustls on every listener and every dialed connection.
//! - [`open`]: the node's data, memory-only or from a data dir whose log is replayed first.
//!
//! The front ends, which call the shell's one write and the store's reads:
//! - [`client_session`]: the native protocol, request by request.
//! - [`redis`]: the optional Redis-protocol port; its command table is the one registry of commands.
//!
//! And: [`config`] (flags), [`config_file`] (flags from a TOML file), [`faults`] (fault injection, with the `fault` feature), [`flag_values`] (durations and sizes as people write them), [`status`] (the status report), [`stats`] (replication counters), [`request_stats`] (requests by command), [`http`] (the admin port),
//! [`check_data_dir`] (`kvs-node check-data-dir`), [`error`] ([`NodeError`]).

// The lint block (after fjall's): unsafe code, undocumented public items and leftover
// debugging never build.
#![deny(unsafe_code)]
#![deny(missing_docs, rust_2018_idioms)]
#![deny(clippy::dbg_macro, clippy::todo, clippy::unimplemented, clippy::print_stdout, clippy::print_stderr)]

pub(crate) mod anti_entropy;
pub(crate) mod backup_load;
pub(crate) mod batch_clock;
pub mod check_data_dir;
pub(crate) mod client_session;
pub mod config;
pub mod config_file;
pub(crate) mod connection_budget;
pub(crate) mod core;
pub(crate) mod counted_broadcast;
pub mod credentials;
pub mod error;
pub(crate) mod eviction;
pub(crate) mod expiry;
pub mod faults;
pub(crate) mod fetching_record;
pub(crate) mod flag_values;
pub(crate) mod forward_exchange;
pub(crate) mod forwarding;
pub(crate) mod handshake;
pub(crate) mod hint_hand_over;
pub(crate) mod hints;
pub(crate) mod history;
pub(crate) mod history_sampler;
pub(crate) mod http;
pub(crate) mod keyspace_events;
pub(crate) mod layout_plan;
pub(crate) mod list_waiters;
pub(crate) mod login_throttle;
pub mod memory_limit;
pub(crate) mod net;
pub(crate) mod node_clock;
pub(crate) mod observers;
pub(crate) mod open;
pub mod outbox;
pub(crate) mod peer_handshake;
pub(crate) mod peer_inbound;
pub(crate) mod peer_links;
pub(crate) mod peer_pushes;
pub(crate) mod peer_send;
pub(crate) mod peer_task;
pub(crate) mod pubsub;
pub(crate) mod redis;
pub(crate) mod request_stats;
pub(crate) mod running;
pub mod server;
pub(crate) mod shell;
pub(crate) mod stats;
pub(crate) mod status;
pub mod tls;
pub(crate) mod tracking;
pub mod users;
pub(crate) mod watchers;
pub(crate) mod write_path;

pub use config::{NodeArgs, NodeConfig};
pub use error::NodeError;
pub use shell::JoinState;
