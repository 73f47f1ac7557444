//! Per-origin index of one shard: for each node that wrote, its surviving writes by sequence number.
//!
//! Only each key's latest record is indexed, so a superseded write disappears from its origin's
//! index; what remains for origin `o` above a cursor `c` is exactly what a node at `c` may lack.

use crate::record::Record;
use kvs_proto::NodeId;
use std::collections::{BTreeMap, HashMap};

/// Records of one shard by origin, then sequence number.
#[derive(Debug, Default)]
pub struct OriginIndex {
    by_origin: HashMap<NodeId, BTreeMap<u64, Record>>,
}

impl OriginIndex {
    /// Indexes a record that became its key's latest.
    pub fn insert(&mut self, record: &Record) {
        self.by_origin.entry(record.origin()).or_default().insert(record.seq(), record.clone());
    }

    /// Forgets a record that was superseded or purged.
    pub fn remove(&mut self, record: &Record) {
        if let Some(log) = self.by_origin.get_mut(&record.origin()) {
            log.remove(&record.seq());
        }
    }

    /// Records of every origin with a sequence number above `cursor(origin)`.
    pub fn above(&self, cursor: impl Fn(NodeId) -> u64) -> impl Iterator<Item = &Record> {
        self.by_origin
            .iter()
            .flat_map(move |(origin, log)| log.range(cursor(*origin).saturating_add(1)..).map(|(_, r)| r))
    }
}
