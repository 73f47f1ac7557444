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
//! As a whole cluster asks two members' word per origin (see [`super::cursor_claims`]), each
//! slot with another owner besides us must be covered by two members' claims, so one member that
//! lies about its cursors cannot make us stop fetching what the honest ones hold; a slot we own
//! alone has nobody else to ask, so one word covers it. A member's claim of its own origin is
//! true of every slot (it holds every write it made until the slots' owners hold it, and a lie
//! there only hides its own writes), and a second word for the slots it holds whole itself. So
//! with two owners a slot a cursor moves by the other owner's word with the origin's own (and
//! by pushes); one of a member that is gone for good stays where it is, and what lies above it is
//! sent again by each answer, which costs bandwidth, never a write.
//!
//! A claim stays good while we drop nothing it covered and hold no slot we did not hold when it
//! came: [`CursorCoverage::clear`] is called when a resync drops records and when a layout
//! changes the slots we hold. A node that holds every slot whole records nothing.

use kvs_proto::peer::Cursors;
use kvs_proto::slot_set::{SlotSet, SlotTally};
use kvs_proto::NodeId;
use kvs_store::map::Map;

/// A peer's last complete answer: what it claimed, of which slots, and its origin when its claim
/// of that origin is true of every slot.
type Claim = (Map<NodeId, u64>, SlotSet, Option<NodeId>);

/// The last complete answer of each peer.
#[derive(Debug, Default)]
pub(crate) struct CursorCoverage {
    by_peer: Map<NodeId, Claim>,
}

impl CursorCoverage {
    /// Notes that `peer`, writing under `origin`, completed an answer claiming `cursors`, true
    /// of the slots `whole`. An answer to a delta request (`delta`) carries every record above
    /// our cursors it holds, so its claim of its own origin is true of every slot: a member holds
    /// every write it made in a slot it does not hold until the slot's owners hold it (see
    /// `holdings`). An answer to a fetch carries the slots asked only.
    pub(crate) fn record(&mut self, (peer, origin): (NodeId, NodeId), cursors: &Cursors, whole: SlotSet, delta: bool) {
        self.by_peer.insert(peer, (cursors.iter().copied().collect(), whole, delta.then_some(origin)));
    }

    /// For each origin any peer claimed, the furthest our cursor may move now that we hold
    /// `held`: the largest number such that the peers claiming at least it hold all of `held`
    /// whole between them, the slots of `twice` each held by two of them. Origins with no such
    /// number are left out, and nothing moves while we hold no slot (a cursor then says nothing,
    /// and one taken on any word would hold back the fetch of the slots we gain next).
    pub(crate) fn covered(&self, held: &SlotSet, twice: &SlotSet) -> Cursors {
        if held.is_empty() {
            return Cursors::new();
        }
        let (once_needed, twice_needed) = (held.minus(twice), held.intersection(twice));
        let mut origins: Vec<NodeId> =
            self.by_peer.values().flat_map(|(claims, _, _)| claims.keys().copied()).collect();
        origins.sort_unstable();
        origins.dedup();
        let full = SlotSet::full();
        let mut covered = Cursors::new();
        for origin in origins {
            // The origin's word on its own writes covers every slot, and the slots it holds whole
            // a second time: where it is a slot's only other owner, nobody else can speak for it.
            let mut claims: Vec<(u64, &SlotSet, Option<&SlotSet>)> = self
                .by_peer
                .values()
                .filter_map(|(claims, whole, own)| {
                    let seq = *claims.get(&origin)?;
                    Some(if *own == Some(origin) { (seq, &full, Some(whole)) } else { (seq, whole, None) })
                })
                .filter(|&(seq, _, _)| seq > 0)
                .collect();
            // Highest claim first: the union grows as the bar lowers, and the first bar at which
            // it covers `held` is the answer.
            claims.sort_unstable_by_key(|&(seq, _, _)| std::cmp::Reverse(seq));
            let mut tally = SlotTally::default();
            for (seq, whole, also) in claims {
                tally.add(whole);
                if let Some(also) = also {
                    tally.add(also);
                }
                if once_needed.is_subset(&tally.once) && twice_needed.is_subset(&tally.twice) {
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
        let (o, p, q) = (NodeId(9), (NodeId(1), NodeId(11)), (NodeId(2), NodeId(12)));
        let held = slots(&[(0, 99)]);
        let mut coverage = CursorCoverage::default();
        coverage.record(p, &vec![(o, 50)], slots(&[(0, 59)]), true);
        assert!(coverage.covered(&held, &SlotSet::empty()).is_empty(), "slots 60..99 are nobody's word yet");
        coverage.record(q, &vec![(o, 30)], slots(&[(40, 120)]), true);
        assert_eq!(coverage.covered(&held, &SlotSet::empty()), [(o, 30)], "together they cover it at the lower claim");
        coverage.record(q, &vec![(o, 70)], slots(&[(40, 120)]), true);
        assert_eq!(coverage.covered(&held, &SlotSet::empty()), [(o, 50)]);
        coverage.record(p, &vec![(o, 90)], SlotSet::full(), true);
        assert_eq!(coverage.covered(&held, &SlotSet::empty()), [(o, 90)], "a member holding everything covers alone");
        coverage.forget(p.0);
        assert!(coverage.covered(&held, &SlotSet::empty()).is_empty());
        coverage.clear();
        coverage.record(q, &vec![(o, 70)], slots(&[(40, 120)]), true);
        assert_eq!(coverage.covered(&slots(&[(50, 60)]), &SlotSet::empty()), [(o, 70)]);
        coverage.record(q, &vec![(q.1, 5)], slots(&[(0, 0)]), false);
        assert!(coverage.covered(&held, &SlotSet::empty()).is_empty(), "a fetch carried slot 0 only");
        coverage.record(q, &vec![(q.1, 5)], slots(&[(0, 0)]), true);
        assert_eq!(
            coverage.covered(&held, &SlotSet::empty()),
            [(q.1, 5)],
            "a member's word on its own writes covers every slot"
        );
        assert!(coverage.covered(&SlotSet::empty(), &SlotSet::empty()).is_empty(), "no slot held, no cursor moved");
    }

    #[test]
    fn a_slot_with_two_other_owners_needs_two_words() {
        let (o, p, q) = (NodeId(9), (NodeId(1), NodeId(11)), (NodeId(2), NodeId(12)));
        let held = slots(&[(0, 9)]);
        let mut coverage = CursorCoverage::default();
        coverage.record(p, &vec![(o, 1_000)], SlotSet::full(), true);
        assert!(coverage.covered(&held, &held).is_empty(), "one word, however sweeping");
        assert_eq!(coverage.covered(&held, &SlotSet::empty()), [(o, 1_000)]);
        coverage.record(q, &vec![(o, 40)], slots(&[(0, 9)]), true);
        assert_eq!(coverage.covered(&held, &held), [(o, 40)], "as far as the second word goes");
        // A member's word on its own writes is a second word for the slots it holds whole: a
        // slot whose only other owner is that member has no other word to wait for.
        coverage.record(p, &vec![(p.1, 70), (o, 1_000)], slots(&[(0, 4)]), true);
        assert!(!coverage.covered(&held, &held).iter().any(|&(origin, _)| origin == p.1), "slots 5..9: one word");
        coverage.record(p, &vec![(p.1, 70), (o, 1_000)], slots(&[(0, 9)]), true);
        assert_eq!(coverage.covered(&held, &held), [(o, 40), (p.1, 70)]);
    }
}
