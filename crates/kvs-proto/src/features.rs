//! Cluster feature gates: what a release may only do once every member runs it.
//!
//! A connection speaks the protocol both of its ends speak, so a new message never reaches a node
//! that cannot decode it. A feature whose effects outlive one connection (a request answered from
//! what every peer did, a log an older release could not read) waits for more: the cluster's
//! version, the newest protocol every member speaks. It opens the feature's gate when it
//! reaches the feature's protocol and never goes back (CockroachDB's cluster version, in small).

/// One feature gate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Feature {
    /// Its name, as `status`, the cluster page and error messages show it.
    pub name: &'static str,
    /// The cluster version that opens it.
    pub protocol: u32,
    /// What it switches on, for a person.
    pub what: &'static str,
}

/// WAIT counts peers that acknowledge having applied our writes; a peer of protocol 7 never
/// acknowledges, so before every member can, WAIT would report copies as missing.
pub const WAIT: Feature = Feature {
    name: "wait",
    protocol: 8,
    what: "WAIT numreplicas timeout: how many peers have applied this node's writes",
};

/// Log format 4 names the release that wrote it; protocol-7 nodes (release 0.1.0) read only
/// format 3, so a node keeps writing 3 until no member could need its log to go back.
pub const LOG_FORMAT_4: Feature = Feature {
    name: "log-format-4",
    protocol: 8,
    what: "the log is written in format 4, which release 0.1.0 cannot read (no downgrade past this point)",
};

/// Every gate this release knows, oldest first.
pub const FEATURES: &[Feature] = &[WAIT, LOG_FORMAT_4];

impl Feature {
    /// Whether a cluster at `cluster_version` has this feature open.
    pub fn open_at(&self, cluster_version: u32) -> bool {
        cluster_version >= self.protocol
    }
}
