//! The store by hash slot: shards are groups of whole slots, so one slot's keys are found by
//! walking one shard (CLUSTER COUNTKEYSINSLOT and GETKEYSINSLOT today; a slot's moves and its
//! anti-entropy once the key space is partitioned, see docs/partitioning.md).

use super::{Store, SHARDS};
use crate::{collection, databases};
use bytes::Bytes;
use kvs_proto::slot::{slot_of, SLOTS};

// Each shard holds the same number of whole slots.
const _: () = assert!((SLOTS as usize).is_multiple_of(SHARDS));

/// The slot a stored key belongs to: its key's as its database's clients know it (a collection
/// element's: its collection's), so a hash and its fields, and every database's copy of a key
/// name, share one.
pub fn slot_of_stored(stored: &[u8]) -> u16 {
    let key = match collection::split_element_key(stored) {
        Some((_, collection, _)) => collection,
        None => stored,
    };
    slot_of(databases::user_key(key))
}

/// The shard that holds `slot`'s keys.
pub(crate) fn shard_of_slot(slot: u16) -> usize {
    slot as usize % SHARDS
}

impl Store {
    /// How many live keys of database `db` are in `slot` at `now_ms` (CLUSTER COUNTKEYSINSLOT).
    pub fn count_in_slot(&self, db: u8, slot: u16, now_ms: u64) -> usize {
        let guard = self.read(shard_of_slot(slot));
        guard.table.iter().filter(|r| in_slot(r.key(), db, slot) && Self::is_live_key(&guard, r, now_ms)).count()
    }

    /// Up to `count` live keys of database `db` in `slot` at `now_ms`, as its clients know them
    /// (CLUSTER GETKEYSINSLOT); which ones, when there are more, is unspecified.
    pub fn keys_in_slot(&self, db: u8, slot: u16, count: usize, now_ms: u64) -> Vec<Bytes> {
        let guard = self.read(shard_of_slot(slot));
        guard
            .table
            .iter()
            .filter(|r| in_slot(r.key(), db, slot) && Self::is_live_key(&guard, r, now_ms))
            .take(count)
            .map(|r| Bytes::copy_from_slice(databases::user_key(r.key())))
            .collect()
    }
}

/// What one slot holds, as a layout change would move it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SlotUsage {
    /// Live keys (a collection is one key, whatever its elements), every database's.
    pub keys: u64,
    /// The bytes its records count for (see [`Store::live_bytes`]): elements and tombstones too,
    /// since an owner holds them all.
    pub bytes: u64,
}

impl Store {
    /// What every slot holds at `now_ms`, indexed by slot: one walk of the store, a shard's read
    /// lock at a time.
    pub fn slot_usage(&self, now_ms: u64) -> Vec<SlotUsage> {
        let mut usage = vec![SlotUsage::default(); usize::from(SLOTS)];
        for shard in 0..SHARDS {
            let guard = self.read(shard);
            for record in guard.table.iter() {
                let slot = &mut usage[usize::from(slot_of_stored(record.key()))];
                slot.bytes += super::accounting::record_bytes(record);
                slot.keys += u64::from(Self::is_live_key(&guard, record, now_ms));
            }
        }
        usage
    }
}

/// Whether the stored key `stored` is a key of database `db` in `slot` (an element is not a key).
fn in_slot(stored: &[u8], db: u8, slot: u16) -> bool {
    !collection::is_element_key(stored) && databases::database_of(stored) == db && slot_of_stored(stored) == slot
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collection::CollectionType;
    use crate::record::Record;
    use kvs_proto::{NodeId, Stamp, Version};

    #[test]
    fn a_slot_counts_its_live_keys_of_one_database() {
        let store = Store::new();
        let stamp = |seq| Stamp { version: Version { wall_ms: 1, logical: 0, node: NodeId(1) }, seq };
        store.merge(Record::plain(b"{t}a", Some(b"v"), stamp(1), None));
        store.merge(Record::plain(b"{t}b", Some(b"v"), stamp(2), None));
        store.merge(Record::plain(b"{t}expired", Some(b"v"), stamp(3), Some(5)));
        store.merge(Record::plain(b"{t}deleted", None, stamp(4), None));
        store.merge(Record::plain(&databases::stored_key(2, b"{t}c"), Some(b"v"), stamp(5), None));
        store.merge(Record::plain(b"{u}a", Some(b"v"), stamp(6), None));
        let slot = slot_of(b"t");
        assert_eq!(store.count_in_slot(0, slot, 10), 2);
        let mut keys = store.keys_in_slot(0, slot, 10, 10);
        keys.sort();
        assert_eq!(keys, [&b"{t}a"[..], b"{t}b"]);
        assert_eq!(store.keys_in_slot(0, slot, 1, 10).len(), 1);
        assert_eq!(store.keys_in_slot(2, slot, 10, 10), [&b"{t}c"[..]], "named as database 2 knows it");
        assert_eq!(store.count_in_slot(0, slot_of(b"u"), 10), 1);
        let usage = store.slot_usage(10);
        assert_eq!(usage[usize::from(slot)].keys, 3, "two of database 0 and one of database 2");
        assert_eq!(usage.iter().map(|u| u.keys).sum::<u64>(), 4);
        assert_eq!(usage.iter().map(|u| u.bytes).sum::<u64>(), store.live_bytes() + store.tombstone_bytes());
    }

    #[test]
    fn a_key_its_elements_and_its_other_databases_share_a_slot() {
        let slot = slot_of(b"user:{42}");
        assert_eq!(slot_of_stored(b"user:{42}"), slot);
        assert_eq!(slot_of_stored(&databases::stored_key(3, b"user:{42}")), slot);
        let element = collection::element_key(CollectionType::Hash, b"user:{42}", b"field");
        assert_eq!(slot_of_stored(&element), slot);
        assert_eq!(slot_of_stored(b"x{42}"), slot_of(b"42"));
    }
}
