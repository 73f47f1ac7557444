//! Support for end-to-end tests: build the real binaries, run nodes as processes, wait with deadlines.
//!
//! # Layout
//! - [`binaries`]: builds `kvs-node` and `kvs-client` once and finds them in the target directory.
//! - [`process`]: [`NodeProcess`], a running node that is killed when dropped.
//! - [`wait`]: polling with a deadline, never a fixed sleep.
//! - [`cluster`]: helpers over several nodes (chains, member counts, digests).
//! - [`netns`]: hosts in network namespaces with traffic between chosen pairs cut and healed.
//! - [`impostor`]: an outsider that says hello as a peer and sends what it likes.
//! - [`pki`]: certificates made at run time, for TLS.
//! - [`http`]: GETs against a node's admin port, and reading Prometheus samples.

pub mod binaries;
pub mod cluster;
pub mod http;
pub mod impostor;
pub mod layouts;
pub mod netns;
pub mod pki;
pub mod process;
pub mod raw_resp;
pub mod resp;
pub mod wait;

pub use cluster::{
    start_chain, wait_for_alive_members, wait_for_equal_digests, wait_for_open_gates, FAST_FAILURE_DETECTION,
};
pub use process::NodeProcess;
pub use wait::wait_until;
