//! Pages of a backup: the live records after a key, in key order.
//!
//! Key order, not shard order, so a page's last key is a cursor that means the same to any node
//! and across restarts (shards hash with per-process keys): an interrupted export resumes from
//! the last key it saved, against the same node or another.

use crate::record::Record;
use crate::store::{Store, SHARDS};
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

impl Store {
    /// The first `max_keys` live records (values and counters unexpired at `now_ms`) whose keys
    /// sort after `after` (from the first key without it), in key order.
    ///
    /// One walk of every shard per page, keeping only `max_keys` candidates, so a page costs a
    /// pass over the store and memory for the page alone.
    pub fn export_page(&self, after: Option<&[u8]>, max_keys: usize, now_ms: u64) -> Vec<Record> {
        // The heap grows as records come, so `max_keys` (a number from the network) sizes nothing.
        let mut smallest: BinaryHeap<ByKey> = BinaryHeap::new();
        for shard in 0..SHARDS {
            let guard = self.read(shard);
            // A collection is exported as its elements (each at its element's key, which sorts
            // after every other key of its database), not as its header.
            let wanted = guard.table.iter().filter(|r| {
                after.is_none_or(|after| r.key() > after)
                    && ((r.is_live_at(now_ms) && !r.is_collection()) || self.element_seen_in(&guard, r, now_ms))
            });
            for record in wanted {
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
}
