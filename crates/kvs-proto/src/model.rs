//! The replicated data model as it travels between nodes.

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Identity of a node; also the last tie-breaker between versions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct NodeId(pub u64);

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// A hybrid-logical-clock timestamp; ordered by wall time, then logical counter, then node.
///
/// Field order matters: the derived `Ord` is lexicographic in declaration order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Version {
    /// Milliseconds since the Unix epoch, never behind any version this node has seen.
    pub wall_ms: u64,
    /// Orders events that share `wall_ms`.
    pub logical: u32,
    /// The node that made the write; breaks ties so no two writes compare equal.
    pub node: NodeId,
}

/// A value (or a tombstone) with the version that wrote it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// `None` marks a delete (a tombstone), kept so the delete replicates like a write.
    pub value: Option<Bytes>,
    /// Decides which of two entries for one key survives: the larger wins.
    pub version: Version,
    /// Position of this write among all writes of its origin (`version.node`), from 1 up; what
    /// anti-entropy cursors count.
    pub seq: u64,
}

impl Entry {
    /// Whether this entry is a delete marker.
    pub fn is_tombstone(&self) -> bool {
        self.value.is_none()
    }
}
