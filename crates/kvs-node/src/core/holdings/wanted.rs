//! Which of our writes each peer holds the slots of: a push to a peer leaves out the others and
//! names them instead (docs/partitioning.md, "Pushes to owners only").
//!
//! A peer holds, under one layout, the slots the layout gives it and those it keeps for their
//! new owners; the kept ones only shrink until it adopts another layout. So the slots its last
//! `Holding` names, under the layout it names, are a superset of what it holds for as long as it
//! holds that layout, and the receiver counts a skipped write only if it still does.

use crate::core::{lock, Core, Outgoing};
use kvs_proto::layout::LayoutVersion;
use kvs_proto::slot_set::SlotSet;
use kvs_proto::NodeId;
use kvs_store::replica::entry_cost;
use kvs_store::store::slots::slot_of_stored;
use kvs_store::Record;
use std::sync::atomic::Ordering;

/// The slots a peer may hold under a layout, as its last word says: a push to it may leave out
/// any write of another slot.
#[derive(Debug)]
pub(crate) struct Wanted {
    /// The layout the peer said it holds.
    pub(crate) layout: LayoutVersion,
    slots: SlotSet,
}

impl Wanted {
    /// Whether a push to the peer must carry `record` (a flush covers every slot).
    pub(crate) fn wants(&self, record: &Record) -> bool {
        record.is_flush() || self.slots.contains(slot_of_stored(record.key()))
    }
}

/// A push frame being filled: the writes the peer wants, and the numbers of those it does not.
pub(crate) struct PushFrame<'a> {
    wanted: Option<&'a Wanted>,
    entries: Vec<Record>,
    skipped: Vec<(u64, u64)>,
    bytes: usize,
}

impl<'a> PushFrame<'a> {
    /// An empty frame for a peer that wants `wanted` (`None`: every write).
    pub(crate) fn new(wanted: Option<&'a Wanted>) -> Self {
        PushFrame { wanted, entries: Vec::new(), skipped: Vec::new(), bytes: 0 }
    }

    /// Adds our next write: its record if the peer wants it, else its number.
    pub(crate) fn add(&mut self, record: Record) {
        if self.wanted.is_none_or(|wanted| wanted.wants(&record)) {
            self.bytes += entry_cost(&record);
            self.entries.push(record);
            return;
        }
        let seq = record.seq();
        match self.skipped.last_mut() {
            Some((_, to)) if *to + 1 == seq => *to = seq,
            _ => {
                self.skipped.push((seq, seq));
                self.bytes += 16;
            }
        }
    }

    /// About how many bytes the frame holds so far.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// The frame so far (`None`: nothing in it), leaving it empty.
    pub(crate) fn take(&mut self) -> Option<Outgoing> {
        self.bytes = 0;
        let entries = std::mem::take(&mut self.entries);
        let skipped = std::mem::take(&mut self.skipped);
        match self.wanted.filter(|_| !skipped.is_empty()) {
            Some(wanted) => Some(Outgoing::EntriesSkipping { layout: wanted.layout, entries, skipped }),
            None => (!entries.is_empty()).then_some(Outgoing::Entries { entries }),
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
        let holdings = lock(&self.holdings);
        let said = holdings.peers.get(&peer).filter(|said| said.version == layout.version)?;
        let slots = SlotSet::from_fn(|slot| owners[usize::from(slot)].contains(&peer)).union(&said.kept);
        (!slots.is_full()).then_some(Wanted { layout: layout.version, slots })
    }
}
