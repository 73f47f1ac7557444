//! Per-origin index of one shard: for each node that wrote, its surviving writes by sequence number.
//!
//! Only each key's latest record is indexed, under every write it carries ([`Record::stamps`]: one
//! for a value, one per node for a counter), so a superseded write disappears from its origin's
//! index; what remains for origin `o` above a cursor `c` is exactly what a node at `c` may lack.

use crate::map::Map;
use crate::record::Record;
use kvs_proto::NodeId;

/// One origin's records in one shard, sorted by sequence number: 16 bytes per entry.
///
/// A sorted vector rather than a B-tree because an origin's writes arrive almost always in order
/// (an append) and a B-tree's half-full nodes cost twice the memory. Removal leaves a hole that is
/// swept once holes are the majority, so every operation stays cheap amortized.
#[derive(Debug, Default)]
struct OriginLog {
    entries: Vec<(u64, Option<Record>)>,
    holes: usize,
    /// The sequence number of every [`FENCE_STRIDE`]-th entry (see [`OriginLog::find`]).
    fences: Vec<u64>,
}

/// Entries per fence: a block of 16 entries is 4 cache lines; fences cost half a byte an entry
/// (a stride of 64 measured 12% more CPU per applied write).
const FENCE_STRIDE: usize = 16;

/// Holes tolerated before a sweep, whatever the proportion.
const MIN_HOLES_TO_SWEEP: usize = 32;

impl OriginLog {
    fn insert(&mut self, seq: u64, record: Record) {
        if self.entries.last().is_none_or(|(last, _)| *last < seq) {
            if self.entries.len().is_multiple_of(FENCE_STRIDE) {
                self.fences.push(seq);
            }
            self.entries.push((seq, Some(record)));
            return;
        }
        match self.find(seq) {
            Ok(i) => {
                if self.entries[i].1.replace(record).is_none() {
                    self.holes -= 1;
                }
            }
            Err(i) => {
                self.entries.insert(i, (seq, Some(record)));
                self.refence();
            }
        }
    }

    fn remove(&mut self, seq: u64) {
        // A hot key's write replaces the one just indexed: the last entry, found without a search.
        let at = match self.entries.last() {
            Some((last, _)) if *last == seq => Ok(self.entries.len() - 1),
            _ => self.find(seq),
        };
        if let Ok(i) = at {
            if self.entries[i].1.take().is_some() {
                self.holes += 1;
            }
        }
        if self.holes >= MIN_HOLES_TO_SWEEP && self.holes * 2 > self.entries.len() {
            self.entries.retain(|(_, r)| r.is_some());
            self.holes = 0;
            self.refence();
        }
    }

    /// Where `seq` is (`Ok`) or would go (`Err`), as a binary search answers.
    ///
    /// A binary search over a million entries makes twenty probes, the last dozen cache misses;
    /// that was the largest cost of applying writes to random keys (the superseded write is found
    /// to be removed). The fences, every [`FENCE_STRIDE`]-th sequence number, are small enough to
    /// stay in cache: searching them first leaves one block of entries to search.
    fn find(&self, seq: u64) -> Result<usize, usize> {
        let block = self.fences.partition_point(|&fence| fence <= seq);
        let Some(start) = block.checked_sub(1).map(|b| b * FENCE_STRIDE) else {
            return Err(0);
        };
        let end = (start + FENCE_STRIDE).min(self.entries.len());
        let within = self.entries[start..end].binary_search_by_key(&seq, |(s, _)| *s);
        within.map(|i| i + start).map_err(|i| i + start)
    }

    /// Recomputes the fences after entries moved.
    fn refence(&mut self) {
        self.fences = self.entries.iter().step_by(FENCE_STRIDE).map(|(seq, _)| *seq).collect();
    }

    fn above(&self, cursor: u64) -> impl Iterator<Item = &Record> {
        let start = self.entries.partition_point(|(s, _)| *s <= cursor);
        self.entries[start..].iter().filter_map(|(_, r)| r.as_ref())
    }
}

/// Records of one shard by origin, then sequence number.
#[derive(Debug, Default)]
pub struct OriginIndex {
    by_origin: Map<NodeId, OriginLog>,
}

impl OriginIndex {
    /// An index over `records`, built by sorting (far cheaper than inserting one by one).
    pub fn from_records<'a>(records: impl Iterator<Item = &'a Record>) -> Self {
        let mut by_origin: Map<NodeId, OriginLog> = Map::default();
        for record in records {
            for stamp in record.stamps() {
                by_origin.entry(stamp.version.node).or_default().entries.push((stamp.seq, Some(record.clone())));
            }
        }
        for log in by_origin.values_mut() {
            log.entries.sort_unstable_by_key(|(seq, _)| *seq);
            log.refence();
        }
        OriginIndex { by_origin }
    }

    /// Indexes a record that became its key's latest.
    pub fn insert(&mut self, record: &Record) {
        for stamp in record.stamps() {
            self.by_origin.entry(stamp.version.node).or_default().insert(stamp.seq, record.clone());
        }
    }

    /// Forgets a record that was superseded or purged.
    pub fn remove(&mut self, record: &Record) {
        for stamp in record.stamps() {
            if let Some(log) = self.by_origin.get_mut(&stamp.version.node) {
                log.remove(stamp.seq);
            }
        }
    }

    /// Records of every origin with a sequence number above `cursor(origin)`, each once (a
    /// counter is indexed under several origins).
    pub fn above(&self, cursor: impl Fn(NodeId) -> u64) -> Vec<Record> {
        let mut found: Vec<Record> = Vec::new();
        let mut several = false;
        for (origin, log) in &self.by_origin {
            for record in log.above(cursor(*origin)) {
                several |= record.stamps().nth(1).is_some();
                found.push(record.clone());
            }
        }
        if several {
            found.sort_unstable_by(|a, b| a.key().cmp(b.key()));
            found.dedup_by(|a, b| a.same_as(b));
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kvs_proto::Version;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    fn record(seq: u64) -> Record {
        Record::new(b"k", Some(b"v"), Version { wall_ms: seq, logical: 0, node: NodeId(1) }, seq)
    }

    proptest! {
        #[test]
        fn finds_what_a_binary_search_finds(mut seqs in proptest::collection::vec(0u64..5_000, 0..2_000), probe in 0u64..5_100) {
            seqs.sort_unstable();
            seqs.dedup();
            let mut log = OriginLog { entries: seqs.iter().map(|&s| (s, None)).collect(), ..OriginLog::default() };
            log.refence();
            prop_assert_eq!(log.find(probe), seqs.binary_search(&probe));
            for (i, &seq) in seqs.iter().enumerate().step_by(97) {
                prop_assert_eq!(log.find(seq), Ok(i));
            }
        }

        #[test]
        fn behaves_like_a_sorted_map(ops in proptest::collection::vec((any::<bool>(), 1u64..200), 0..600), cursor in 0u64..200) {
            let mut index = OriginIndex::default();
            let mut model = BTreeMap::new();
            for (insert, seq) in ops {
                if insert {
                    index.insert(&record(seq));
                    model.insert(seq, ());
                } else {
                    index.remove(&record(seq));
                    model.remove(&seq);
                }
            }
            let got: Vec<u64> = index.above(|_| cursor).iter().map(Record::seq).collect();
            let want: Vec<u64> = model.range(cursor + 1..).map(|(s, _)| *s).collect();
            prop_assert_eq!(got, want);
        }
    }
}
