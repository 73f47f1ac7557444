//! Pages of a backup: the live records after a key, in key order.
//!
//! Key order, not shard order, so a page's last key is a cursor that means the same to any node
//! and across restarts (shards hash with per-process keys): an interrupted export resumes from
//! the last key it saved, against the same node or another.

use crate::export_run::ExportRun;
use crate::record::Record;
use crate::store::{Shard, Store, SHARDS};
use std::collections::BinaryHeap;

/// A record ordered by its key alone, for the heap of a page's smallest keys.
struct ByKey(Record);

impl PartialEq for ByKey {
    fn eq(&self, other: &Self) -> bool {
        self.0.key() == other.0.key()
    }
}

impl Eq for ByKey {}

impl PartialOrd for ByKey {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for ByKey {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.key().cmp(other.0.key())
    }
}

/// A key's first 16 bytes (zeros past its end) as a number: two keys whose prefixes differ
/// sort as them, and two whose prefixes are equal sort by the whole key.
fn sort_prefix(key: &[u8]) -> u128 {
    let mut bytes = [0u8; 16];
    let n = key.len().min(16);
    bytes[..n].copy_from_slice(&key[..n]);
    u128::from_be_bytes(bytes)
}

impl Store {
    /// The first `max_keys` live records (values and counters unexpired at `now_ms`, and
    /// collection elements) whose keys sort after `after` (from the first key without it), in
    /// key order.
    ///
    /// A page without `after` starts a run: one walk of the store, sorted. Pages after a key of
    /// that run are served from it, so an export walks the store once, not once a page.
    pub fn export_page(&self, after: Option<&[u8]>, max_keys: usize, now_ms: u64) -> Vec<Record> {
        let mut held = self.export_run.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let run = match held.take() {
            Some(run) if run.continued_by(after, now_ms) => held.insert(run),
            _ => held.insert(ExportRun {
                start: after.map(<[u8]>::to_vec),
                sorted: self.exportable_sorted(after, now_ms),
                used_ms: now_ms,
            }),
        };
        run.used_ms = now_ms;
        let from = after.map_or(0, |after| run.sorted.partition_point(|record| record.key() <= after));
        let mut taken = 0;
        let page: Vec<Record> = run.sorted[from..]
            .iter()
            .inspect(|_| taken += 1)
            .filter(|record| record.is_element() || record.is_live_at(now_ms))
            .take(max_keys)
            .cloned()
            .collect();
        if from + taken >= run.sorted.len() {
            // The last page: nothing is left to hold the records for.
            *held = None;
        }
        page
    }

    /// Drops an export run idle for [`crate::export_run::EXPORT_RUN_IDLE_MS`] (an export a client abandoned).
    pub fn end_idle_export(&self, now_ms: u64) {
        let mut held = self.export_run.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if held.as_ref().is_some_and(|run| run.idle_at(now_ms)) {
            *held = None;
        }
    }

    /// Every exportable record after `after`, sorted by key.
    fn exportable_sorted(&self, after: Option<&[u8]>, now_ms: u64) -> Vec<Record> {
        let mut records = Vec::new();
        for shard in 0..SHARDS {
            let guard = self.read(shard);
            let exportable = guard.table.iter().filter(|r| self.exportable(&guard, r, after, now_ms));
            records.extend(exportable.map(|r| (sort_prefix(r.key()), r.clone())));
        }
        // Most comparisons end within the keys' first 16 bytes, held beside each record: a
        // sort comparing the records' own keys read two records from memory each time (a third
        // of an export's time, for 1M keys).
        records
            .sort_unstable_by(|(a_prefix, a), (b_prefix, b)| a_prefix.cmp(b_prefix).then_with(|| a.key().cmp(b.key())));
        records.into_iter().map(|(_, record)| record).collect()
    }

    /// Whether `record` belongs in a page after `after`: a live value or counter, or a visible
    /// element (a collection is exported as its elements, each at its element's key, which sorts
    /// after every other key of its database, not as its header).
    fn exportable(&self, shard: &Shard, record: &Record, after: Option<&[u8]>, now_ms: u64) -> bool {
        after.is_none_or(|after| record.key() > after)
            && ((record.is_live_at(now_ms) && !record.is_collection()) || self.element_seen_in(shard, record, now_ms))
    }

    /// The first `max_keys` exportable records after `after`, in key order, from one walk that
    /// keeps only that many candidates: for a short listing, which must not hold a whole run.
    pub(crate) fn first_exportable(&self, after: Option<&[u8]>, max_keys: usize, now_ms: u64) -> Vec<Record> {
        // The heap grows as records come, so `max_keys` (a number from the network) sizes nothing.
        let mut smallest: BinaryHeap<ByKey> = BinaryHeap::new();
        for shard in 0..SHARDS {
            let guard = self.read(shard);
            for record in guard.table.iter().filter(|r| self.exportable(&guard, r, after, now_ms)) {
                if smallest.len() < max_keys {
                    smallest.push(ByKey(record.clone()));
                } else if smallest.peek().is_some_and(|largest| record.key() < largest.0.key()) {
                    smallest.pop();
                    smallest.push(ByKey(record.clone()));
                }
            }
        }
        smallest.into_sorted_vec().into_iter().map(|ByKey(record)| record).collect()
    }
}

#[cfg(test)]
mod tests {
    use crate::record::Record;
    use crate::store::Store;
    use kvs_proto::{NodeId, Version};

    #[test]
    fn pages_walk_every_live_key_once_in_order() {
        let store = Store::default();
        let version = |wall_ms| Version { wall_ms, logical: 0, node: NodeId(1) };
        for i in 0..1_000u64 {
            let key = format!("key-{i:04}");
            let value = (i % 10 != 0).then_some(&b"v"[..]);
            store.merge(Record::new(key.as_bytes(), value, version(i + 1), i + 1));
        }
        let expiring =
            Record::plain(b"key-gone", Some(b"v"), Record::new(b"x", None, version(5_000), 5_000).stamp(), Some(10));
        store.merge(expiring);
        let mut seen = Vec::new();
        let mut after: Option<Vec<u8>> = None;
        loop {
            let page = store.export_page(after.as_deref(), 64, 100);
            let Some(last) = page.last() else { break };
            after = Some(last.key().to_vec());
            seen.extend(page.iter().map(|r| String::from_utf8(r.key().to_vec()).unwrap()));
        }
        let want: Vec<String> = (0..1_000).filter(|i| i % 10 != 0).map(|i| format!("key-{i:04}")).collect();
        assert_eq!(seen, want, "tombstones and expired keys are left out, the rest once each in order");
    }

    #[test]
    fn an_export_is_the_store_as_of_its_first_page_and_a_new_one_starts_over() {
        let store = Store::default();
        let version = |wall_ms| Version { wall_ms, logical: 0, node: NodeId(1) };
        for i in 0..10u64 {
            store.merge(Record::new(format!("k{i}").as_bytes(), Some(b"v"), version(i + 1), i + 1));
        }
        let first = store.export_page(None, 4, 100);
        assert_eq!(first.len(), 4);
        store.merge(Record::new(b"k5x", Some(b"v"), version(50), 50));
        let after = first.last().map(|r| r.key().to_vec());
        let rest = store.export_page(after.as_deref(), 100, 100);
        assert_eq!(rest.len(), 6, "a key written mid-export is after the snapshot: {rest:?}");
        assert!(store.export_run.lock().unwrap().is_none(), "the last page drops the run");
        let again: usize = store.export_page(None, 100, 100).len();
        assert_eq!(again, 11, "a new export sees it");
    }

    #[test]
    fn the_sort_prefix_orders_as_the_keys() {
        let keys: [&[u8]; 8] = [b"", b"\0", b"a", b"a\0", b"ab", b"abcdefghijklmnopq", b"abcdefghijklmnopr", b"b"];
        for a in keys {
            for b in keys {
                let (pa, pb) = (super::sort_prefix(a), super::sort_prefix(b));
                assert!(pa == pb || pa.cmp(&pb) == a.cmp(b), "{a:?} {b:?}");
            }
        }
    }

    #[test]
    fn an_abandoned_export_is_dropped_once_idle() {
        let store = Store::default();
        let version = Version { wall_ms: 1, logical: 0, node: NodeId(1) };
        for i in 0..10u64 {
            store.merge(Record::new(format!("k{i}").as_bytes(), Some(b"v"), version, i + 1));
        }
        store.export_page(None, 2, 1_000);
        store.end_idle_export(1_000 + crate::export_run::EXPORT_RUN_IDLE_MS - 1);
        assert!(store.export_run.lock().unwrap().is_some());
        store.end_idle_export(1_000 + crate::export_run::EXPORT_RUN_IDLE_MS);
        assert!(store.export_run.lock().unwrap().is_none());
    }
}
