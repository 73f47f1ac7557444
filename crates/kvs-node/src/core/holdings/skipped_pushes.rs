//! Pushes that leave out the writes of slots the receiver does not hold and name them instead
//! (docs/partitioning.md, "Pushes to holders only"): which writes a peer wants, the frame that
//! carries them, and how a receiver counts what was left out.
//!
//! The sender goes by the peer's last `Holding`: the slots its layout gives it and those it keeps.
//! That word may be stale, so the receiver decides: a skipped write moves its cursor when the
//! write's record would have moved it without being kept (slot not held, or still being
//! fetched), and one of a slot held whole leaves a gap for anti-entropy to fill.

use crate::core::{lock, Core, Effect, Now, Outgoing};
use kvs_proto::slot_set::SlotSet;
use kvs_proto::NodeId;
use kvs_store::replica::{entry_cost, Skipped};
use kvs_store::store::slots::slot_of_stored;
use kvs_store::Record;
use std::sync::atomic::Ordering;

/// The slots a peer may hold, as its last word says: a push to it may leave out any write of
/// another slot.
#[derive(Debug)]
pub(crate) struct Wanted {
    slots: SlotSet,
    /// Slots whose owner is down and for which the peer stands in: their writes are skipped in
    /// the push and sent beside it, for the peer to keep as hints.
    stands_in: SlotSet,
}

impl Wanted {
    /// Whether a push to the peer must carry `record` (a flush covers every slot).
    pub(crate) fn wants(&self, record: &Record) -> bool {
        self.skips(record).is_none()
    }

    /// The slot of `record` if a push to the peer may leave it out.
    fn skips(&self, record: &Record) -> Option<u16> {
        let slot = slot_of_stored(record.key());
        (!record.is_flush() && !self.slots.contains(slot)).then_some(slot)
    }
}

/// A push frame being filled: the writes the peer wants, and the number and slot of each other;
/// beside it, the skipped writes the peer keeps as hints.
pub(crate) struct PushFrame<'a> {
    wanted: Option<&'a Wanted>,
    entries: Vec<Record>,
    skipped: Vec<(u64, u16)>,
    hints: Vec<Record>,
    bytes: usize,
}

impl<'a> PushFrame<'a> {
    /// An empty frame for a peer that wants `wanted` (`None`: every write).
    pub(crate) fn new(wanted: Option<&'a Wanted>) -> Self {
        PushFrame { wanted, entries: Vec::new(), skipped: Vec::new(), hints: Vec::new(), bytes: 0 }
    }

    /// Adds our next write: its record if the peer wants it, else its number and slot.
    pub(crate) fn add(&mut self, record: Record) {
        match self.wanted.and_then(|wanted| wanted.skips(&record)) {
            Some(slot) => {
                self.skipped.push((record.seq(), slot));
                self.bytes += 8;
                if self.wanted.is_some_and(|wanted| wanted.stands_in.contains(slot)) {
                    self.bytes += entry_cost(&record);
                    self.hints.push(record);
                }
            }
            None => {
                self.bytes += entry_cost(&record);
                self.entries.push(record);
            }
        }
    }

    /// About how many bytes the frame holds so far.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// The hints for the peer to keep so far (`None`: none), leaving them out of the frame: sent
    /// after the frame that skipped them.
    pub(crate) fn take_hints(&mut self) -> Option<Outgoing> {
        let entries = std::mem::take(&mut self.hints);
        (!entries.is_empty()).then_some(Outgoing::HintsToKeep { entries })
    }

    /// The frame so far (`None`: nothing in it), leaving it empty but for its hints
    /// ([`PushFrame::take_hints`]).
    pub(crate) fn take(&mut self) -> Option<Outgoing> {
        self.bytes = 0;
        let entries = std::mem::take(&mut self.entries);
        let skipped = std::mem::take(&mut self.skipped);
        match skipped.is_empty() {
            false => Some(Outgoing::EntriesSkipping { entries, skipped }),
            true => (!entries.is_empty()).then_some(Outgoing::Entries { entries }),
        }
    }
}

impl Core {
    /// Changes when what some peer wants pushed may have: read it before [`Core::wanted_by`],
    /// and ask again once it moves.
    pub(crate) fn wanted_changes(&self) -> u64 {
        self.wanted_changes.load(Ordering::Acquire)
    }

    /// Something a peer wants pushed may have changed: a layout adopted, a peer's word.
    pub(in crate::core) fn wanted_changed(&self) {
        self.wanted_changes.fetch_add(1, Ordering::Release);
    }

    /// What `peer` wants pushed; `None`: every write (no layout here, no word from it under
    /// ours, or it holds every slot).
    pub(crate) fn wanted_by(&self, peer: NodeId) -> Option<Wanted> {
        let (layout, owners) = self.layout_owners()?;
        let stands_in = match self.stand_in_table() {
            Some(table) => SlotSet::from_fn(|slot| table[usize::from(slot)] == Some(peer)),
            None => SlotSet::empty(),
        };
        let holdings = lock(&self.holdings);
        let said = holdings.peers.get(&peer).filter(|said| said.version == layout.version)?;
        let slots = SlotSet::from_fn(|slot| owners[usize::from(slot)].contains(&peer)).union(&said.kept);
        (!slots.is_full()).then_some(Wanted { slots, stands_in })
    }

    /// Merges a push from `origin`'s member that named `skipped` writes without their records
    /// (see the module's doc). While slots are fetched the holdings stay locked across the merge:
    /// a skipped write of a slot being fetched counts, and the fetch must then be vouched for by
    /// members whose cursors pass it, since once the slot is whole our cursor claims it.
    pub(in crate::core) fn apply_skipping(
        &self,
        entries: Vec<Record>,
        origin: NodeId,
        skipped: &[(u64, u16)],
        now: Now,
    ) -> Vec<Effect> {
        self.note_lag(&entries, true, now);
        let wall_ms = self.clock.peers_wall_ms(now);
        let mut holdings = self.fetching_any().then(|| lock(&self.holdings));
        let fetching = holdings.as_ref().map(|holdings| holdings.fetching());
        let writes = Skipped { origin, writes: skipped, fetching: fetching.as_ref() };
        let applied = self.replica.apply_skipping(entries, writes, wall_ms);
        if let (Some(holdings), Some(seq)) = (&mut holdings, applied.counted_while_fetching) {
            for fetch in &mut holdings.fetching {
                fetch.vouch_past(origin, seq);
            }
        }
        drop(holdings);
        self.merged(applied, true)
    }
}
