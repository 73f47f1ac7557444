//! Per-origin index of one shard: for each node that wrote, its surviving writes by sequence number.
//!
//! Only each key's latest record is indexed, under every write it carries ([`Record::stamps`]: one
//! for a value, one per node for a counter), so a superseded write disappears from its origin's
//! index; what remains for origin `o` above a cursor `c` is exactly what a node at `c` may lack.

use crate::map::Map;
use crate::record::Record;
use kvs_proto::NodeId;

/// One origin's records in one shard, sorted by that origin's sequence number: 8 bytes per entry.
///
/// The entries are bare record pointers: a record carries its own sequence numbers, so storing
/// them beside it again (as this index did) cost 8 more bytes a key. What keeps that cheap is
/// that the index rarely needs them: the fences (below) narrow any search to one block of 16
/// entries, where removing a superseded record compares pointers, and only an out-of-order
/// insert reads sequence numbers out of the records.
///
/// A sorted vector rather than a B-tree because an origin's writes arrive almost always in order
/// (an append) and a B-tree's half-full nodes cost twice the memory. Removal leaves a hole that is
/// swept once holes are the majority, so every operation stays cheap amortized.
#[derive(Debug)]
struct OriginLog {
    origin: NodeId,
    entries: Vec<Option<Record>>,
    holes: usize,
    /// The sequence number of every [`FENCE_STRIDE`]-th entry when it was placed: a lower bound on
    /// every live entry of its block, and an upper bound on every one before it, even once the
    /// entry itself is a hole.
    fences: Vec<u64>,
    /// The highest sequence number indexed since the last sweep: a larger one is an append.
    last: Option<u64>,
}

/// Entries per fence: a block of 16 pointers is 2 cache lines; fences cost half a byte an entry
/// (a stride of 64 measured 12% more CPU per applied write).
const FENCE_STRIDE: usize = 16;

/// Holes tolerated before a sweep, whatever the proportion.
const MIN_HOLES_TO_SWEEP: usize = 32;

/// The sequence number `record` carries for `origin` (a counter carries one per contributor).
fn seq_of(record: &Record, origin: NodeId) -> u64 {
    record.stamps().find(|stamp| stamp.version.node == origin).map_or(0, |stamp| stamp.seq)
}

impl OriginLog {
    fn new(origin: NodeId) -> Self {
        OriginLog { origin, entries: Vec::new(), holes: 0, fences: Vec::new(), last: None }
    }

    fn insert(&mut self, seq: u64, record: Record) {
        if self.last.is_none_or(|last| last < seq) {
            if self.entries.len().is_multiple_of(FENCE_STRIDE) {
                self.fences.push(seq);
            }
            self.entries.push(Some(record));
            self.last = Some(seq);
            return;
        }
        let (block, start, end) = self.block(seq);
        // The first live entry at or above `seq`: every live entry before it is below.
        let at = (start..end)
            .find(|&i| self.entries[i].as_ref().is_some_and(|held| seq_of(held, self.origin) >= seq))
            .unwrap_or(end);
        if at < end && self.entries[at].as_ref().is_some_and(|held| seq_of(held, self.origin) == seq) {
            self.entries[at] = Some(record);
            return;
        }
        // A hole just before that entry lies between its live neighbours: the write goes there.
        if at > start && self.entries[at - 1].is_none() {
            self.entries[at - 1] = Some(record);
            self.holes -= 1;
            if block == 0 && seq < self.fences[0] {
                self.fences[0] = seq;
            }
            return;
        }
        self.entries.insert(at, Some(record));
        self.sweep();
    }

    fn remove(&mut self, seq: u64, record: &Record) {
        let held = |entry: &Option<Record>| entry.as_ref().is_some_and(|held| held.same_as(record));
        // A hot key's write replaces the one just indexed: the last entry, found without a search.
        let at = if self.entries.last().is_some_and(held) {
            Some(self.entries.len() - 1)
        } else {
            let (_, start, end) = self.block(seq);
            (start..end).find(|&i| held(&self.entries[i]))
        };
        if let Some(i) = at {
            self.entries[i] = None;
            self.holes += 1;
        }
        if self.holes >= MIN_HOLES_TO_SWEEP && self.holes * 2 > self.entries.len() {
            self.sweep();
        }
    }

    /// Puts `new` in the place of `old`, which carries the same write `seq`: a counter's other
    /// contributions when one node's increments.
    fn swap(&mut self, seq: u64, old: &Record, new: Record) {
        let (_, start, end) = self.block(seq);
        match (start..end).find(|&i| self.entries[i].as_ref().is_some_and(|held| held.same_as(old))) {
            Some(i) => self.entries[i] = Some(new),
            None => self.insert(seq, new),
        }
    }

    /// The block of entries where `seq` is or would go: its number and its range of entries.
    ///
    /// A binary search over a million entries makes twenty probes, the last dozen cache misses;
    /// that was the largest cost of applying writes to random keys (the superseded write is found
    /// to be removed). The fences, every [`FENCE_STRIDE`]-th sequence number, are small enough to
    /// stay in cache: searching them first leaves one block of entries to search.
    fn block(&self, seq: u64) -> (usize, usize, usize) {
        let block = self.fences.partition_point(|&fence| fence <= seq).saturating_sub(1);
        let start = block * FENCE_STRIDE;
        (block, start, (start + FENCE_STRIDE).min(self.entries.len()))
    }

    /// Drops the holes and places the fences again.
    fn sweep(&mut self) {
        self.entries.retain(Option::is_some);
        self.holes = 0;
        let origin = self.origin;
        let seq = |entry: &Option<Record>| entry.as_ref().map_or(0, |record| seq_of(record, origin));
        self.fences = self.entries.iter().step_by(FENCE_STRIDE).map(seq).collect();
        self.last = self.entries.last().map(seq);
    }

    fn above(&self, cursor: u64) -> impl Iterator<Item = &Record> {
        let (_, start, _) = self.block(cursor);
        let origin = self.origin;
        self.entries[start..].iter().flatten().filter(move |record| seq_of(record, origin) > cursor)
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
                let log = by_origin.entry(stamp.version.node).or_insert_with(|| OriginLog::new(stamp.version.node));
                log.entries.push(Some(record.clone()));
            }
        }
        for log in by_origin.values_mut() {
            let origin = log.origin;
            log.entries.sort_by_cached_key(|record| record.as_ref().map(|r| seq_of(r, origin)));
            log.sweep();
        }
        OriginIndex { by_origin }
    }

    /// Indexes a record that became its key's latest.
    pub fn insert(&mut self, record: &Record) {
        for stamp in record.stamps() {
            self.log(stamp.version.node).insert(stamp.seq, record.clone());
        }
    }

    /// Forgets a record that was purged (the very handle indexed, or a clone of it).
    pub fn remove(&mut self, record: &Record) {
        for stamp in record.stamps() {
            if let Some(log) = self.by_origin.get_mut(&stamp.version.node) {
                log.remove(stamp.seq, record);
            }
        }
    }

    /// Indexes `new`, which superseded `old` (the very handle indexed, or a clone of it). A write
    /// both carry (a counter's contribution from another node) keeps its place.
    pub fn replace(&mut self, old: &Record, new: &Record) {
        // The common case, a value over a value: one write out, one in, without walking stamps.
        if let (Some(before), Some(after)) = (old.single_stamp(), new.single_stamp()) {
            if before == after {
                if let Some(log) = self.by_origin.get_mut(&before.version.node) {
                    log.swap(before.seq, old, new.clone());
                }
            } else {
                if let Some(log) = self.by_origin.get_mut(&before.version.node) {
                    log.remove(before.seq, old);
                }
                self.log(after.version.node).insert(after.seq, new.clone());
            }
            return;
        }
        for stamp in old.stamps() {
            let Some(log) = self.by_origin.get_mut(&stamp.version.node) else { continue };
            if new.stamps().any(|kept| kept == stamp) {
                log.swap(stamp.seq, old, new.clone());
            } else {
                log.remove(stamp.seq, old);
            }
        }
        for stamp in new.stamps() {
            if !old.stamps().any(|had| had == stamp) {
                self.log(stamp.version.node).insert(stamp.seq, new.clone());
            }
        }
    }

    fn log(&mut self, origin: NodeId) -> &mut OriginLog {
        self.by_origin.entry(origin).or_insert_with(|| OriginLog::new(origin))
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
    use kvs_proto::{Contribution, Counter, Stamp, Version};
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    fn stamp(node: u64, seq: u64) -> Stamp {
        Stamp { version: Version { wall_ms: seq, logical: 0, node: NodeId(node) }, seq }
    }

    fn record(seq: u64) -> Record {
        Record::new(b"k", Some(b"v"), stamp(1, seq).version, seq)
    }

    /// A counter with each node's latest contribution, `(node, seq)` in node order.
    fn counter(parts: &[(u64, u64)]) -> Record {
        let contributions =
            parts.iter().map(|&(node, seq)| Contribution { stamp: stamp(node, seq), total: 1 }).collect();
        Record::counter(b"c", &Counter { base: Stamp::NONE, base_value: 0, contributions }, None)
    }

    fn seqs_above(index: &OriginIndex, origin: u64, cursor: u64) -> Vec<u64> {
        let mut seqs: Vec<u64> = index
            .above(|o| if o == NodeId(origin) { cursor } else { u64::MAX })
            .iter()
            .map(|r| seq_of(r, NodeId(origin)))
            .collect();
        seqs.sort_unstable();
        seqs
    }

    proptest! {
        /// Inserts in any order (appends, hole fills, shifts), removals of the very records
        /// indexed, and sweeps: the index answers like a sorted map.
        #[test]
        fn behaves_like_a_sorted_map(ops in proptest::collection::vec((any::<bool>(), 1u64..400), 0..800), cursor in 0u64..400) {
            let mut index = OriginIndex::default();
            let mut model: BTreeMap<u64, Record> = BTreeMap::new();
            for (insert, seq) in ops {
                if insert {
                    if let Some(old) = model.insert(seq, record(seq)) {
                        index.remove(&old);
                    }
                    index.insert(&model[&seq]);
                } else if let Some(old) = model.remove(&seq) {
                    index.remove(&old);
                }
            }
            let want: Vec<u64> = model.range(cursor + 1..).map(|(s, _)| *s).collect();
            prop_assert_eq!(seqs_above(&index, 1, cursor), want);
            let rebuilt = OriginIndex::from_records(model.values());
            prop_assert_eq!(seqs_above(&rebuilt, 1, cursor), seqs_above(&index, 1, cursor));
        }

        /// Counters indexed under both contributors, replaced as either node increments: each
        /// origin's answer holds exactly the latest counter's write.
        #[test]
        fn replaced_counters_stay_under_every_contributor(steps in proptest::collection::vec(any::<bool>(), 1..300), keys in 1usize..40) {
            let mut index = OriginIndex::default();
            let mut next_seq = [0u64; 2];
            let mut parts: Vec<BTreeMap<u64, u64>> = vec![BTreeMap::new(); keys];
            let mut held: Vec<Option<Record>> = vec![None; keys];
            for (i, node_one) in steps.into_iter().enumerate() {
                let node = if node_one { 1 } else { 2 };
                next_seq[node as usize - 1] += 1;
                parts[i % keys].insert(node, next_seq[node as usize - 1]);
                let next = counter(&parts[i % keys].iter().map(|(&n, &s)| (n, s)).collect::<Vec<_>>());
                match &held[i % keys] {
                    Some(old) => index.replace(old, &next),
                    None => index.insert(&next),
                }
                held[i % keys] = Some(next);
            }
            for origin in [1, 2] {
                let mut want: Vec<u64> = parts.iter().filter_map(|p| p.get(&origin).copied()).collect();
                want.sort_unstable();
                prop_assert_eq!(seqs_above(&index, origin, 0), want);
            }
        }
    }
}
