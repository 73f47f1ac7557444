//! Which hash slots this node holds: one bit per slot, read without a lock by every merge of a
//! peer's record (a record of a slot not held is not kept) and by every keyed command of a
//! client (a slot not held is redirected). Every slot is held until a layout partitions the key
//! space (docs/partitioning.md, "Replication per slot").

use kvs_proto::slot::SLOTS;
use kvs_proto::slot_set::SlotSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

const WORDS: usize = SLOTS as usize / 64;

/// One bit per slot, set where this node holds the slot's records.
#[derive(Debug)]
pub struct HeldSlots {
    bits: [AtomicU64; WORDS],
    /// Every bit is set: the common case, one load to check.
    all: AtomicBool,
}

impl Default for HeldSlots {
    fn default() -> Self {
        HeldSlots { bits: std::array::from_fn(|_| AtomicU64::new(u64::MAX)), all: AtomicBool::new(true) }
    }
}

impl HeldSlots {
    /// Holds `slots` from now on. A reader racing this sees some slots of the old set and some of
    /// the new for a moment, as a message racing a layout's adoption may arrive on either side
    /// of it; what the caller does around the change makes either side safe.
    pub fn set(&self, slots: &SlotSet) {
        if !slots.is_full() {
            self.all.store(false, Ordering::SeqCst);
        }
        for (word, bits) in self.bits.iter().enumerate() {
            bits.store(slots.word(word), Ordering::SeqCst);
        }
        if slots.is_full() {
            self.all.store(true, Ordering::SeqCst);
        }
    }

    /// Whether every slot is held.
    pub fn all(&self) -> bool {
        self.all.load(Ordering::Relaxed)
    }

    /// Whether `slot` is held.
    pub fn contains(&self, slot: u16) -> bool {
        let slot = usize::from(slot) % (WORDS * 64);
        self.all() || self.bits[slot / 64].load(Ordering::Relaxed) & (1 << (slot % 64)) != 0
    }

    /// The slots held now.
    pub fn snapshot(&self) -> SlotSet {
        SlotSet::from_fn(|slot| self.contains(slot))
    }
}

impl super::Store {
    /// Whether `record` is one this node keeps: its slot is held, or it is a flush, which covers
    /// every slot.
    pub fn holds(&self, record: &crate::Record) -> bool {
        self.held.all() || record.is_flush() || self.held.contains(super::slots::slot_of_stored(record.key()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slot_is_held_where_the_set_says() {
        let held = HeldSlots::default();
        assert!(held.all() && (0..SLOTS).all(|slot| held.contains(slot)));
        let thirds = SlotSet::from_fn(|slot| slot % 3 == 0);
        held.set(&thirds);
        assert!(!held.all());
        assert!((0..SLOTS).all(|slot| held.contains(slot) == (slot % 3 == 0)));
        assert_eq!(held.snapshot(), thirds);
        held.set(&SlotSet::full());
        assert!(held.all() && held.contains(16383));
    }
}
