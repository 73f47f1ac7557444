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
    /// The first release that speaks that protocol, for error messages.
    pub release: &'static str,
    /// What it switches on, for a person.
    pub what: &'static str,
}

/// WAIT counts peers that acknowledge having applied our writes; a peer of protocol 7 never
/// acknowledges, so before every member can, WAIT would report copies as missing.
pub const WAIT: Feature = Feature {
    name: "wait",
    protocol: 8,
    release: "0.2.0",
    what: "WAIT numreplicas timeout: how many peers have applied this node's writes",
};

/// Log format 4 names the release that wrote it; protocol-7 nodes (release 0.1.0) read only
/// format 3, so a node keeps writing 3 until no member could need its log to go back.
pub const LOG_FORMAT_4: Feature = Feature {
    name: "log-format-4",
    protocol: 8,
    release: "0.2.0",
    what: "the log is written in format 4, which release 0.1.0 cannot read (no downgrade past this point)",
};

/// HyperLogLogs are records of a kind protocol 8 cannot decode: a PFADD made before every member
/// speaks 9 would be a push some peer refuses.
pub const HYPERLOGLOG: Feature = Feature {
    name: "hyperloglog",
    protocol: 9,
    release: "0.3.0",
    what: "PFADD and PFMERGE: HyperLogLogs whose registers merge by maximum on every node",
};

/// An eviction replicates as a tombstone of a kind protocol 8 cannot decode, so under a memory
/// limit a node answers writes with -OOM instead of evicting until every member speaks 9.
pub const EVICTION: Feature = Feature {
    name: "eviction",
    protocol: 9,
    release: "0.3.0",
    what: "maxmemory evicts keys by its policy; before, a node at its limit refuses writes (-OOM)",
};

/// A FLUSHDB of one database is a flush record whose key protocol 8 refuses, and keys of other
/// databases would read as odd keys of database 0 to a 0.2.0 node: SELECT of any database but 0
/// waits until every member speaks 9.
pub const DATABASES: Feature = Feature {
    name: "databases",
    protocol: 9,
    release: "0.3.0",
    what: "SELECT, MOVE, SWAPDB and COPY … DB of databases other than 0 (--databases)",
};

/// Log format 5 holds HyperLogLogs and evictions; release 0.2.0 reads at most format 4.
pub const LOG_FORMAT_5: Feature = Feature {
    name: "log-format-5",
    protocol: 9,
    release: "0.3.0",
    what: "the log is written in format 5, which release 0.2.0 cannot read (no downgrade past this point)",
};

/// Hashes, sets, sorted sets and lists are records of kinds protocol 8 cannot decode.
pub const COLLECTIONS: Feature = Feature {
    name: "collections",
    protocol: 9,
    release: "0.3.0",
    what: "hashes, sets, sorted sets and lists whose elements converge by observed-remove, add-wins rules",
};

/// Log format 6 holds collection elements and headers; release 0.2.0 reads at most format 4.
pub const LOG_FORMAT_6: Feature = Feature {
    name: "log-format-6",
    protocol: 9,
    release: "0.3.0",
    what: "the log is written in format 6, which release 0.2.0 cannot read (no downgrade past this point)",
};

/// WAITAOF counts peers that say their log has our writes on disk; a peer of protocol 8 never
/// says so, so before every member can, WAITAOF would report copies as missing.
pub const WAITAOF: Feature = Feature {
    name: "waitaof",
    protocol: 9,
    release: "0.3.0",
    what: "WAITAOF numlocal numreplicas timeout: how many logs have this node's writes on disk",
};

/// A layout of slot owners is offered and fetched with messages protocol 8 cannot decode, and a
/// member of release 0.2.0 would never learn one: `cluster apply` waits until every member
/// speaks 9.
pub const LAYOUT: Feature = Feature {
    name: "layout",
    protocol: 9,
    release: "0.3.0",
    what: "cluster apply: a versioned layout of hash-slot owners that every member adopts",
};

/// Every gate this release knows, oldest first.
pub const FEATURES: &[Feature] =
    &[WAIT, LOG_FORMAT_4, HYPERLOGLOG, EVICTION, DATABASES, LOG_FORMAT_5, COLLECTIONS, LOG_FORMAT_6, WAITAOF, LAYOUT];

impl Feature {
    /// What a command needing this feature answers while its gate is closed, in a cluster at
    /// `cluster_version`.
    pub fn closed_message(&self, command: &str, cluster_version: u32) -> String {
        format!(
            "{command} needs the cluster feature '{}', which opens once every member speaks protocol {} \
             (kvs {} or later); this cluster is at protocol {cluster_version}",
            self.name, self.protocol, self.release
        )
    }

    /// Whether a cluster at `cluster_version` has this feature open.
    pub fn open_at(&self, cluster_version: u32) -> bool {
        cluster_version >= self.protocol
    }
}
