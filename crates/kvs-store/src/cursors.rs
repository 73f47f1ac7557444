//! Anti-entropy cursors: for each origin, how far this node has applied that origin's writes.

use crate::map::Map;
use kvs_proto::peer::Cursors;
use kvs_proto::NodeId;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

/// A planted bug, for showing that the simulator's checker catches real ones: when set, a pushed
/// write moves its origin's cursor even over a gap, so the writes in the gap are never fetched.
static CURSOR_SKIPS_GAPS: AtomicBool = AtomicBool::new(false);

/// Plants the cursor bug above in this process (`kvs-node --fault-cursor-skips-gaps`, the
/// simulator's `--plant-bug`); only with the `fault` feature.
#[cfg(feature = "fault")]
pub fn plant_cursor_gap_bug() {
    CURSOR_SKIPS_GAPS.store(true, Ordering::Relaxed);
}

/// `origin → seq`: every write of `origin` numbered `seq` or below is applied or superseded here.
///
/// Cursors only move over what was applied: a push advances one only when it is the very next
/// sequence number, so a dropped push leaves a gap that anti-entropy later fills.
#[derive(Debug, Default)]
pub struct CursorTable {
    /// Std mutex: a few instructions per update, never held across an await.
    cursors: Mutex<Map<NodeId, u64>>,
}

impl CursorTable {
    fn lock(&self) -> std::sync::MutexGuard<'_, Map<NodeId, u64>> {
        self.cursors.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Notes that write `seq` of `origin` was applied; moves the cursor only if it was the next one.
    pub fn applied_in_order(&self, origin: NodeId, seq: u64) {
        self.applied_all_in_order(origin, std::iter::once(seq));
    }

    /// [`CursorTable::applied_in_order`] for many writes of one origin under one lock (replay
    /// passes them sorted, so the cursor runs over every consecutive number present).
    pub fn applied_all_in_order(&self, origin: NodeId, seqs: impl IntoIterator<Item = u64>) {
        let mut cursors = self.lock();
        let cursor = cursors.entry(origin).or_default();
        let skip_gaps = cfg!(feature = "fault") && CURSOR_SKIPS_GAPS.load(Ordering::Relaxed);
        for seq in seqs {
            if seq == *cursor + 1 || (skip_gaps && seq > *cursor) {
                *cursor = seq;
            }
        }
    }

    /// Moves cursors forward to `to` after a complete anti-entropy delta; never moves one back.
    pub fn advance(&self, to: &Cursors) {
        let mut cursors = self.lock();
        for &(origin, seq) in to {
            let cursor = cursors.entry(origin).or_default();
            *cursor = (*cursor).max(seq);
        }
    }

    /// Sets the cursor of `origin` back to `seq` if it is beyond it: for a cursor adopted on one
    /// peer's word that two peers now place lower.
    pub fn set_back(&self, origin: NodeId, seq: u64) {
        if let Some(cursor) = self.lock().get_mut(&origin) {
            *cursor = (*cursor).min(seq);
        }
    }

    /// The cursor of one origin (0: nothing of it applied).
    pub fn get(&self, origin: NodeId) -> u64 {
        self.lock().get(&origin).copied().unwrap_or(0)
    }

    /// Whether `origin` has a cursor here (any write of it was applied, or a peer reported one).
    pub fn knows(&self, origin: NodeId) -> bool {
        self.lock().contains_key(&origin)
    }

    /// Every cursor.
    pub fn snapshot(&self) -> Cursors {
        let mut all: Cursors = self.lock().iter().map(|(o, s)| (*o, *s)).collect();
        all.sort_unstable();
        all
    }

    /// Sets every cursor but `keep`'s to 0, before a full resynchronization.
    pub fn reset_except(&self, keep: NodeId) {
        self.lock().retain(|origin, _| *origin == keep);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gap_stops_the_cursor_until_a_delta_fills_it() {
        let table = CursorTable::default();
        let a = NodeId(1);
        table.applied_in_order(a, 1);
        table.applied_in_order(a, 2);
        table.applied_in_order(a, 4);
        assert_eq!(table.get(a), 2);
        table.advance(&vec![(a, 4)]);
        assert_eq!(table.get(a), 4);
        table.advance(&vec![(a, 3)]);
        assert_eq!(table.get(a), 4, "never moves back");
        table.applied_in_order(a, 5);
        assert_eq!(table.snapshot(), vec![(a, 5)]);
    }
}
