//! Replicated flushes on the store: FLUSHALL, and FLUSHDB of one database, each the newest of
//! its kind held as a floor that older records of what it covers cannot pass.

use super::{MergeOutcome, Store};
use crate::databases;
use crate::record::Record;
use std::sync::atomic::Ordering;

impl Store {
    /// Whether a flush newer than `record` has been seen.
    pub(super) fn below_floor(&self, record: &Record) -> bool {
        if !self.flushed.load(Ordering::Acquire) {
            return false;
        }
        let floors = self.floors.read().unwrap_or_else(|p| p.into_inner());
        floors
            .iter()
            .any(|flush| record.rank().0 < flush.version() && databases::flush_covers(flush.key(), record.key()))
    }

    /// Merges a replicated flush: if it is the newest of its kind seen, every record it covers
    /// ranked below it goes.
    pub(super) fn merge_flush(&self, flush: Record) -> MergeOutcome {
        let version = flush.version();
        let previous = {
            let mut floors = self.floors.write().unwrap_or_else(|p| p.into_inner());
            let same = floors.iter().position(|held| held.key() == flush.key());
            if same.is_some_and(|at| floors[at].version() >= version) {
                return MergeOutcome::Stale;
            }
            self.flushed.store(true, Ordering::Release);
            match same {
                Some(at) => Some(std::mem::replace(&mut floors[at], flush.clone())),
                None => {
                    floors.push(flush.clone());
                    None
                }
            }
        };
        {
            // Flushes live in shard 0's origin index, so anti-entropy carries them.
            let mut first = self.write(0);
            if let Some(previous) = &previous {
                first.index.remove(previous);
                self.account(previous, -1);
            }
            first.index.insert(&flush);
            self.account(&flush, 1);
        }
        self.remove_where(|r| r.rank().0 < version && databases::flush_covers(flush.key(), r.key()));
        MergeOutcome::Applied
    }

    /// The newest replicated flush that covers `key` (FLUSHALL, or FLUSHDB of its database).
    pub(crate) fn floor_for(&self, key: &[u8]) -> Option<Record> {
        if !self.flushed.load(Ordering::Acquire) {
            return None;
        }
        let floors = self.floors.read().unwrap_or_else(|p| p.into_inner());
        floors.iter().filter(|flush| databases::flush_covers(flush.key(), key)).max_by_key(|f| f.version()).cloned()
    }

    /// Every replicated flush held (the newest of each kind).
    pub(crate) fn floors(&self) -> Vec<Record> {
        if !self.flushed.load(Ordering::Acquire) {
            return Vec::new();
        }
        self.floors.read().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kvs_proto::{NodeId, Stamp, Version};

    fn stamp(wall: u64, node: u64) -> Stamp {
        Stamp { version: Version { wall_ms: wall, logical: 0, node: NodeId(node) }, seq: wall }
    }

    #[test]
    fn a_flush_removes_every_older_record_including_late_arrivals() {
        let store = Store::new();
        store.merge(Record::plain(b"a", Some(b"1"), stamp(10, 1), None));
        store.merge(Record::plain(b"b", Some(b"2"), stamp(30, 2), None));
        assert_eq!(store.merge(Record::flush(stamp(20, 1), None)), MergeOutcome::Applied);
        assert_eq!(store.get_value(b"a", 0), None);
        assert_eq!(store.get_value(b"b", 0).as_deref(), Some(&b"2"[..]), "newer than the flush");
        assert_eq!(store.merge(Record::plain(b"c", Some(b"3"), stamp(15, 2), None)), MergeOutcome::Stale);
        assert_eq!(store.merge(Record::flush(stamp(18, 2), None)), MergeOutcome::Stale, "an older flush");
        assert_eq!(store.live_count(), 1);
        let replayed = Store::new();
        for record in [Record::plain(b"c", Some(b"3"), stamp(15, 2), None), Record::flush(stamp(20, 1), None)] {
            replayed.merge(record);
        }
        replayed.merge(Record::plain(b"b", Some(b"2"), stamp(30, 2), None));
        assert_eq!(replayed.digest(), store.digest(), "order does not matter");
    }

    #[test]
    fn a_flush_of_one_database_removes_only_its_keys_and_counts_by_database() {
        let store = Store::new();
        let in_db = |db, key: &[u8]| crate::databases::stored_key(db, key).into_owned();
        for (db, wall) in [(0, 10), (3, 10), (3, 30), (5, 10)] {
            store.merge(Record::plain(&in_db(db, &[wall as u8]), Some(b"v"), stamp(wall, 1), None));
        }
        assert_eq!((store.live_count_in(0), store.live_count_in(3), store.live_count_in(5)), (1, 2, 1));
        assert_eq!(store.merge(Record::flush(stamp(20, 2), Some(3))), MergeOutcome::Applied);
        assert_eq!((store.live_count_in(0), store.live_count_in(3), store.live_count_in(5)), (1, 1, 1));
        assert!(store.get_live(&in_db(3, &[30]), 0).is_some(), "newer than the flush");
        // A late copy of database 3 stays out; database 0's and 5's come in.
        assert_eq!(store.merge(Record::plain(&in_db(3, b"late"), Some(b"v"), stamp(15, 1), None)), MergeOutcome::Stale);
        assert_eq!(
            store.merge(Record::plain(&in_db(5, b"late"), Some(b"v"), stamp(15, 1), None)),
            MergeOutcome::Applied
        );
        assert_eq!(store.floors().len(), 1);
        assert_eq!(store.merge(Record::flush(stamp(25, 2), None)), MergeOutcome::Applied);
        assert_eq!((store.live_count(), store.floors().len()), (1, 2), "FLUSHALL clears every database");
    }
}
