//! A slot's records handed from one holder to another: fetched whole by a node that gained the
//! slot, and dropped by a node that lost it once every owner holds them (docs/partitioning.md,
//! "Moving slots").

use super::slots::{shard_of_slot, slot_of_stored};
use super::{Store, SHARDS};
use crate::record::Record;
use kvs_proto::slot_set::SlotSet;
use std::cell::RefCell;

impl Store {
    /// Every record of `shard` in `slots`, flushes included, whatever its origin: what a node
    /// that gained those slots fetches.
    pub fn slots_in_shard(&self, shard: usize, slots: &SlotSet) -> Vec<Record> {
        if !shard_has(shard, slots) {
            return Vec::new();
        }
        let guard = self.read(shard);
        guard
            .index
            .above(|_| 0)
            .into_iter()
            .filter(|r| r.is_flush() || slots.contains(slot_of_stored(r.key())))
            .collect()
    }

    /// Drops the records in `slots` that `covered` says every owner holds (never a flush, which
    /// every node keeps); returns how many went and the slots that still have records. Not a
    /// delete: nothing is logged or replicated, the owners keep theirs.
    pub fn drop_handed_over(&self, slots: &SlotSet, covered: impl Fn(&Record) -> bool) -> (usize, SlotSet) {
        let left = RefCell::new(SlotSet::empty());
        let shards = (0..SHARDS).filter(|&shard| shard_has(shard, slots));
        let dropped = self.remove_picked_in(shards, |shard| {
            let mut picked = Vec::new();
            for record in shard.table.iter().filter(|r| !r.is_flush()) {
                let slot = slot_of_stored(record.key());
                if !slots.contains(slot) {
                    continue;
                }
                if covered(record) {
                    picked.push(record.clone());
                } else {
                    left.borrow_mut().insert(slot);
                }
            }
            picked
        });
        (dropped.len(), left.into_inner())
    }
}

/// Whether `shard` holds any slot of `slots` (its slots are `shard`, `shard + SHARDS`, ...).
pub(crate) fn shard_has(shard: usize, slots: &SlotSet) -> bool {
    debug_assert_eq!(shard_of_slot(shard as u16), shard);
    (shard..kvs_proto::slot::SLOTS as usize).step_by(SHARDS).any(|slot| slots.contains(slot as u16))
}
