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
    /// An index over `records`, built from sorted runs (far cheaper than inserting one by one).
    pub fn from_records<'a>(records: impl Iterator<Item = &'a Record>) -> Self {
        let mut runs: HashMap<NodeId, Vec<(u64, Record)>> = HashMap::new();
        for record in records {
            runs.entry(record.origin()).or_default().push((record.seq(), record.clone()));
        }
        let by_origin = runs
            .into_iter()
            .map(|(origin, mut run)| {
                run.sort_unstable_by_key(|(seq, _)| *seq);
                (origin, run.into_iter().collect())
            })
            .collect();
        OriginIndex { by_origin }
    }

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
