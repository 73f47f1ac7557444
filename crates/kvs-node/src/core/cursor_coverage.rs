//! How far our cursors may move once the key space is partitioned: pure logic.
//!
//! A cursor says "every write of this origin up to here is applied here". Under a layout that
//! partitions the key space, a member holds some slots only, and a member's cursor is true of the
//! slots it holds whole (owns, and is not fetching); its anti-entropy answer carries the records
//! above our cursors in those slots. So no single member's answer can move our cursor for a slot
//! it does not hold, and moving our cursor to `s` for an origin takes answers whose members
//! together hold every slot we hold, each claiming at least `s`: the largest such `s` is what
//! [`CursorCoverage::covered`] returns. Each answer delivered the records above our cursors of its
//! slots, so once the slots are covered we hold every write up to `s` of every slot we hold.
//!
//! This asks one member's word per slot, where a whole cluster asks two per origin (see
//! [`super::cursor_claims`]): a slot's co-owners are the only members that hold it besides us, so
//! there may be no second one to ask.
//!
//! A claim stays good while we drop nothing it covered and hold no slot we did not hold when it
//! came: [`CursorCoverage::clear`] is called when a resync drops records and when a layout gives
//! us slots.

use kvs_proto::peer::Cursors;
use kvs_proto::slot_set::SlotSet;
use kvs_proto::NodeId;
use kvs_store::map::Map;

/// The last complete answer of each peer: what it claimed, and of which slots.
#[derive(Debug, Default)]
pub(crate) struct CursorCoverage {
    by_peer: Map<NodeId, (Map<NodeId, u64>, SlotSet)>,
}

impl CursorCoverage {
    /// Notes that `peer`'s complete answer claimed `cursors`, true of the slots `whole`.
    pub(crate) fn record(&mut self, peer: NodeId, cursors: &Cursors, whole: SlotSet) {
        self.by_peer.insert(peer, (cursors.iter().copied().collect(), whole));
    }

    /// For each origin any peer claimed, the furthest our cursor may move now that we hold
    /// `held`: the largest number such that the peers claiming at least it hold all of `held`
    /// whole between them. Origins with no such number are left out.
    pub(crate) fn covered(&self, held: &SlotSet) -> Cursors {
        let mut origins: Vec<NodeId> = self.by_peer.values().flat_map(|(claims, _)| claims.keys().copied()).collect();
        origins.sort_unstable();
        origins.dedup();
        let mut covered = Cursors::new();
        for origin in origins {
            let mut claims: Vec<(u64, &SlotSet)> = self
                .by_peer
                .values()
                .filter_map(|(claims, whole)| Some((*claims.get(&origin)?, whole)))
                .filter(|&(seq, _)| seq > 0)
                .collect();
            // Highest claim first: the union grows as the bar lowers, and the first bar at which
            // it covers `held` is the answer.
            claims.sort_unstable_by_key(|&(seq, _)| std::cmp::Reverse(seq));
            let mut union = SlotSet::empty();
            for (seq, whole) in claims {
                union = union.union(whole);
                if held.is_subset(&union) {
                    covered.push((origin, seq));
                    break;
                }
            }
        }
        covered
    }

    /// Forgets every claim: they may cover records we no longer hold, or miss slots we now do.
    pub(crate) fn clear(&mut self) {
        self.by_peer.clear();
    }

    /// `peer` is gone from the cluster: its claims no longer count.
    pub(crate) fn forget(&mut self, peer: NodeId) {
        self.by_peer.remove(&peer);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slots(runs: &[(u16, u16)]) -> SlotSet {
        SlotSet::from_runs(runs)
    }

    #[test]
    fn a_cursor_moves_only_as_far_as_the_slots_held_are_covered() {
        let (o, p, q) = (NodeId(9), NodeId(1), NodeId(2));
        let held = slots(&[(0, 99)]);
        let mut coverage = CursorCoverage::default();
        coverage.record(p, &vec![(o, 50)], slots(&[(0, 59)]));
        assert!(coverage.covered(&held).is_empty(), "slots 60..99 are nobody's word yet");
        coverage.record(q, &vec![(o, 30)], slots(&[(40, 120)]));
        assert_eq!(coverage.covered(&held), [(o, 30)], "together they cover it at the lower claim");
        coverage.record(q, &vec![(o, 70)], slots(&[(40, 120)]));
        assert_eq!(coverage.covered(&held), [(o, 50)]);
        coverage.record(p, &vec![(o, 90)], SlotSet::full());
        assert_eq!(coverage.covered(&held), [(o, 90)], "a member holding everything covers alone");
        coverage.forget(p);
        assert!(coverage.covered(&held).is_empty());
        coverage.clear();
        coverage.record(q, &vec![(o, 70)], slots(&[(40, 120)]));
        assert_eq!(coverage.covered(&slots(&[(50, 60)])), [(o, 70)]);
    }
}
