//! What a node keeps of its own recent past for the cluster page's charts: one sample every
//! few seconds, answered to `ClientRequest::History` (protocol 9).

use serde::{Deserialize, Serialize};

/// A node's counters and gauges at one moment. Counters are totals since the node started, so a
/// reader takes rates from two samples; a sample lost or a restart shows as a gap, not a lie.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistorySample {
    /// When it was taken, by the node's wall clock (Unix milliseconds).
    pub at_ms: u64,
    /// Writes made on this node (its own origin's sequence number).
    pub writes: u64,
    /// Requests answered that read keys (commands with a key that do not write).
    pub reads: u64,
    /// Live keys.
    pub keys: u64,
    /// Bytes of data held, as maxmemory counts them (live records and tombstones).
    pub memory_bytes: u64,
    /// Anti-entropy bytes sent and received.
    pub anti_entropy_bytes: u64,
    /// Replication lag in milliseconds over the step before the sample: the longest time from a
    /// write on another node (its version's wall clock) to its push being applied here.
    pub lag_ms_max: u64,
    /// How far this node had applied each origin's writes: `(origin, sequence number)`, from
    /// which a viewer computes how many writes it was behind.
    pub applied: Vec<(String, u64)>,
}
