//! The slots still to fetch, as the data dir records them (docs/partitioning.md, "Moving
//! slots"). A restart believes the record: a slot not in it is held whole, and the node's cursors
//! claim it. So a slot leaves the record only once the log has synced what its fetch brought;
//! recorded at once, a crash could lose the fetched records and leave the node sure it held the
//! slot, asking nobody for them again (the simulator found it: seed 1186, under `--fsync never`).
//! Slots gained are recorded at once, before the layout that gave them.

use kvs_proto::slot_set::SlotSet;
use std::sync::Mutex;

/// What the record must say, and the slots done fetching whose records are not yet synced.
#[derive(Debug)]
pub(crate) struct FetchingRecord {
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    /// The core's latest word on the slots to fetch.
    fetching: SlotSet,
    /// Slots done fetching since the last sync began: still recorded.
    unsynced: SlotSet,
    /// A sync is under way (another is started when it ends, if needed).
    syncing: bool,
}

impl FetchingRecord {
    /// The record as the data dir holds it at start.
    pub(crate) fn new(recorded: SlotSet) -> Self {
        FetchingRecord { state: Mutex::new(State { fetching: recorded, unsynced: SlotSet::empty(), syncing: false }) }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The core says the slots to fetch are now `fetching`: what to record now, and whether a
    /// sync must begin (then [`FetchingRecord::sync_begins`], sync, [`FetchingRecord::synced`]).
    pub(crate) fn changed(&self, fetching: SlotSet) -> (SlotSet, bool) {
        let mut state = self.state();
        let done = state.fetching.minus(&fetching);
        state.unsynced = state.unsynced.union(&done);
        state.fetching = fetching;
        let start = !state.unsynced.is_empty() && !state.syncing;
        state.syncing |= start;
        (state.fetching.union(&state.unsynced), start)
    }

    /// A sync begins: the slots done fetching whose records it will cover.
    pub(crate) fn sync_begins(&self) -> SlotSet {
        self.state().unsynced.clone()
    }

    /// The sync that covered `covered` ended: what to record now, and whether another must begin.
    pub(crate) fn synced(&self, covered: &SlotSet) -> (SlotSet, bool) {
        let mut state = self.state();
        state.unsynced = state.unsynced.minus(covered);
        state.syncing = !state.unsynced.is_empty();
        (state.fetching.union(&state.unsynced), state.syncing)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slots(list: &[u16]) -> SlotSet {
        let mut set = SlotSet::empty();
        list.iter().for_each(|&slot| set.insert(slot));
        set
    }

    #[test]
    fn a_slot_leaves_the_record_only_after_a_sync_that_began_once_it_was_done() {
        let record = FetchingRecord::new(slots(&[1, 2]));
        assert_eq!(record.changed(slots(&[1, 2, 3])), (slots(&[1, 2, 3]), false), "gained: recorded at once");
        assert_eq!(record.changed(slots(&[2, 3])), (slots(&[1, 2, 3]), true), "1 done: kept until synced");
        let covered = record.sync_begins();
        assert_eq!(record.changed(slots(&[3])), (slots(&[1, 2, 3]), false), "2 done during the sync");
        assert_eq!(record.synced(&covered), (slots(&[2, 3]), true), "1 leaves; 2 waits for the next sync");
        let covered = record.sync_begins();
        assert_eq!(record.synced(&covered), (slots(&[3]), false));
    }
}
