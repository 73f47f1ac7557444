//! Per shard, the keys that expire, soonest first, so that reclaiming what is due costs in
//! proportion to what is due, not to the keys held.
//!
//! Redis samples keys with a deadline at random and reclaims those it finds expired, so an
//! expired key may hold memory for a while; a heap per shard finds exactly the due ones. Entries
//! are not removed when their record is replaced (the heap cannot find them): a popped entry
//! counts only if its record is still the one held, and the heap is rebuilt (by the store, on
//! the write that tips it) once stale entries outnumber live ones, so it stays within twice the
//! keys that have a deadline, plus a few.

use crate::record::Record;
use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

/// A record with a deadline, ordered by it. The deadline is read from the record rather than
/// kept beside it: 8 bytes an entry instead of 16, for a pointer chase per comparison.
#[derive(Debug)]
struct Due(Record);

impl Due {
    fn deadline(&self) -> u64 {
        self.0.deadline_ms().unwrap_or(u64::MAX)
    }
}

impl PartialEq for Due {
    fn eq(&self, other: &Self) -> bool {
        self.deadline() == other.deadline()
    }
}
impl Eq for Due {}
impl PartialOrd for Due {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Due {
    fn cmp(&self, other: &Self) -> Ordering {
        self.deadline().cmp(&other.deadline())
    }
}

/// Stale entries tolerated before a rebuild, whatever the proportion.
const MIN_STALE_TO_REBUILD: usize = 64;

/// One shard's records with a deadline, soonest first.
#[derive(Debug, Default)]
pub(crate) struct ExpiryQueue {
    heap: BinaryHeap<Reverse<Due>>,
    /// Records held in the shard's table that have a deadline.
    tracked: usize,
    /// Of them, those of each database other than 0 (see [`crate::databases`]).
    in_other_databases: std::collections::BTreeMap<u8, usize>,
}

impl ExpiryQueue {
    /// Notes a record that became its key's latest.
    pub(crate) fn insert(&mut self, record: &Record) {
        if record.deadline_ms().is_some() {
            self.heap.push(Reverse(Due(record.clone())));
            self.tracked += 1;
            match crate::databases::database_of(record.key()) {
                0 => {}
                db => *self.in_other_databases.entry(db).or_default() += 1,
            }
        }
    }

    /// Notes a record that stopped being its key's latest; its heap entry goes stale.
    pub(crate) fn remove(&mut self, record: &Record) {
        if record.deadline_ms().is_some() {
            self.tracked -= 1;
            match crate::databases::database_of(record.key()) {
                0 => {}
                db => {
                    if let Some(count) = self.in_other_databases.get_mut(&db) {
                        *count -= 1;
                        if *count == 0 {
                            self.in_other_databases.remove(&db);
                        }
                    }
                }
            }
        }
    }

    /// Records held in the table that have a deadline.
    pub(crate) fn tracked(&self) -> usize {
        self.tracked
    }

    /// Of them, those of database `db`.
    pub(crate) fn tracked_in(&self, db: u8) -> usize {
        match db {
            0 => self.tracked - self.in_other_databases.values().sum::<usize>(),
            db => self.in_other_databases.get(&db).copied().unwrap_or(0),
        }
    }

    /// Pops the entries due at `now_ms`; `held` says whether a record is still its key's latest.
    pub(crate) fn pop_due(&mut self, now_ms: u64, held: impl Fn(&Record) -> bool) -> Vec<Record> {
        let mut due = Vec::new();
        while self.heap.peek().is_some_and(|Reverse(due)| due.deadline() <= now_ms) {
            let Reverse(Due(record)) = self.heap.pop().expect("peeked");
            if held(&record) {
                due.push(record);
            }
        }
        due
    }

    /// Whether stale entries are numerous enough to rebuild.
    pub(crate) fn needs_rebuild(&self) -> bool {
        let stale = self.heap.len() - self.tracked.min(self.heap.len());
        stale >= MIN_STALE_TO_REBUILD && stale > self.tracked
    }

    /// Rebuilds from the records held.
    pub(crate) fn rebuild<'a>(&mut self, held: impl Iterator<Item = &'a Record>) {
        self.heap = held.filter(|r| r.deadline_ms().is_some()).map(|r| Reverse(Due(r.clone()))).collect();
        self.tracked = self.heap.len();
        self.in_other_databases.clear();
        for Reverse(Due(record)) in self.heap.iter() {
            match crate::databases::database_of(record.key()) {
                0 => {}
                db => *self.in_other_databases.entry(db).or_default() += 1,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::store::Store;
    use crate::Record;
    use kvs_proto::{NodeId, Stamp, Version};

    #[test]
    fn rewriting_one_deadline_again_and_again_keeps_the_heap_small() {
        let store = Store::new();
        for i in 1..=10_000u64 {
            let stamp = Stamp { version: Version { wall_ms: i, logical: 0, node: NodeId(1) }, seq: i };
            store.merge(Record::plain(b"hot", Some(b"v"), stamp, Some(1_000_000 + i)));
        }
        let (_, shard) = store.hash_and_shard(b"hot");
        let heap = store.read(shard).expiry.heap.len();
        assert!(heap <= 2 * super::MIN_STALE_TO_REBUILD, "{heap} entries for one key");
        assert_eq!(store.volatile_count(), 1);
        assert_eq!(store.expire_due(2_000_000), 1);
    }
}
