//! The kvs data model: hybrid-logical-clock versions and the last-writer-wins map.
//!
//! # Layout
//! - [`access`]: how recently or often each key was used, for eviction and OBJECT IDLETIME/FREQ.
//! - `decimal` (internal): decimal integers as Redis reads them.
//! - [`databases`]: Redis's numbered databases as a prefix of the stored key.
//! - [`collection`]: hashes, sets and sorted sets: a header record and one record per element.
//! - [`clock`]: [`HybridClock`], which stamps local writes and advances past remote ones.
//! - `lww` (internal): `lww::supersedes`, the merge rule on single entries, and why it converges.
//! - [`record`]: [`Record`], one key's entry in a single reference-counted allocation.
//! - [`replica`]: [`Replica`], every change to the store: local writes, remote entries, cursors and
//!   the answers to anti-entropy requests, with the invariants that make copies converge.
//! - [`store`]: [`Store`], the sharded LWW map with its incrementally kept digest, counts and scan.
//! - [`glob`]: Redis-style glob patterns for KEYS and SCAN MATCH.
//! - [`hll`]: HyperLogLog registers: hashing, estimating, merging, and their byte forms.
//! - `export` (internal): pages of a backup, the live records after a key in key order.
//! - `export_run` (internal): an export in progress, its sorted records held between pages.
//! - `digest` (internal): the per-entry hash the store digest is built from.
//! - [`map`]: the hash map every table uses (randomly keyed, fixed keys in simulation).
//! - `origin_index` (internal): per shard, surviving records by origin and sequence number.
//! - `cursors` (internal): how far this node has applied each origin's writes (a version vector).
//! - [`log`]: durability: the data dir, the checksummed log, replay, group commit, compaction.
//! - `anti_entropy` (internal): anti-entropy on the store: deltas beyond cursors, tombstone purge, resync.
//!
//! The modules marked internal are the store's own: what kvs-node, the simulator and the fuzz
//! targets use is public, and nothing else.
//!
//! [`Version`], [`Entry`] and [`NodeId`] are wire types defined in `kvs-proto` and re-exported
//! here, because the dependency direction is proto ← store.

// The lint block (after fjall's): unsafe code, undocumented public items and leftover
// debugging never build.
#![deny(unsafe_code)] // one exception, `record::packed`, allowed and documented there
#![deny(missing_docs, rust_2018_idioms)]
#![deny(clippy::dbg_macro, clippy::todo, clippy::unimplemented, clippy::print_stdout, clippy::print_stderr)]

pub mod access;
pub(crate) mod anti_entropy;
pub mod clock;
pub mod collection;
pub(crate) mod cursors;
pub mod databases;
pub(crate) mod decimal;
pub(crate) mod digest;
mod expiry;
pub(crate) mod export;
pub(crate) mod export_run;
pub mod glob;
pub mod hll;
pub mod local;
pub mod log;
pub(crate) mod lww;
pub mod map;
pub(crate) mod origin_index;
pub mod record;
pub mod replica;
pub mod store;

pub use clock::{ClockError, HybridClock};
#[cfg(feature = "fault")]
pub use cursors::plant_cursor_gap_bug;
pub use kvs_proto::{Entry, NodeId, Version};
pub use record::{Record, MAX_RECORD_BYTES};
pub use replica::Replica;
pub use store::Store;
