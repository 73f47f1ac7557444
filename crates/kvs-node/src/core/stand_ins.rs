//! Stand-ins for owners that are down (docs/partitioning.md, "Owners that are down"). While a
//! member the layout names is held dead (or gone), every write of a slot it owns reaches also
//! that slot's stand-in, the best-ranked live member that does not own it: beside the push that
//! skips it (`HintsToKeep`, which merges nothing), or in the push itself when the sender does not
//! skip it (it has no word yet of what the stand-in holds). The stand-in keeps the write as a
//! hint for the owner and hands it over when the owner is back. A write taken while an owner is
//! down so still has as many copies as the layout asks for, though the one that took it were
//! lost before the owner returns.
//!
//! Sender and stand-in each judge by their own view: a sender sends the slot's writes to the
//! member it holds the stand-in, which keeps only what its own view makes it stand in for. A
//! disagreement costs a hint, never a write: the write's origin and the slot's live owners hold
//! it anyway, and hints move no cursor where they are handed over.

use crate::core::{lock, Core, Effect, Now, Outgoing};
use kvs_proto::layout::LayoutVersion;
use kvs_proto::{MemberState, NodeId};
use kvs_store::store::slots::slot_of_stored;
use kvs_store::Record;
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tokio::time::Instant;

/// Who stands in for whom, judged under one layout from one view of who is down.
#[derive(Debug, Default)]
pub(crate) struct StandIns {
    /// The layout judged under.
    version: Option<LayoutVersion>,
    /// Its members held down (dead or gone), sorted.
    down: Vec<NodeId>,
    /// Each slot's stand-in (`None`: none of its owners is down), and the slot's owners; `None`
    /// when nobody is down.
    table: Option<Arc<StandInTable>>,
}

/// Each slot's stand-in and owners, indexed by slot.
#[derive(Debug)]
struct StandInTable {
    stand_ins: Vec<Option<NodeId>>,
    owners: Arc<Vec<Vec<NodeId>>>,
}

impl Core {
    /// Judges again which owners are down and who stands in for them, when the layout or a
    /// member's state changed since last time (called on every heartbeat; cheap otherwise).
    pub(in crate::core) fn refresh_stand_ins(&self, now: Instant) {
        let held = self.layout_owners();
        let version = held.as_ref().map(|(layout, _)| layout.version);
        let down: Vec<NodeId> = match &held {
            None => Vec::new(),
            Some((layout, _)) => {
                let members = lock(&self.members);
                layout
                    .members
                    .iter()
                    .map(|member| member.node)
                    .filter(|&node| matches!(members.state_of(node, now), Some(MemberState::Dead | MemberState::Left)))
                    .collect()
            }
        };
        let mut stand_ins = lock(&self.stand_ins);
        if stand_ins.version == version && stand_ins.down == down {
            return;
        }
        let table = held
            .filter(|_| !down.is_empty())
            .map(|(layout, owners)| Arc::new(StandInTable { stand_ins: layout.stand_ins(&down), owners }));
        let standing_in = table.as_ref().is_some_and(|table| table.stand_ins.contains(&Some(self.node)));
        if !down.is_empty() {
            tracing::info!(?down, standing_in, "owners down: stand-ins keep their slots' writes as hints");
        }
        self.standing_in.store(standing_in, Ordering::Relaxed);
        *stand_ins = StandIns { version, down, table };
        drop(stand_ins);
        self.wanted_changed();
    }

    /// Each slot's stand-in, if any owner is down (for [`Core::wanted_by`]).
    pub(in crate::core) fn stand_in_table(&self) -> Option<Vec<Option<NodeId>>> {
        lock(&self.stand_ins).table.as_ref().map(|table| table.stand_ins.clone())
    }

    /// The hints among a member's writes pushed to us, or sent beside a push that skipped them:
    /// each of a slot we do not hold and stand in for, once for every owner of it that is down
    /// (a flush is none: the owner has it from its origin, which keeps every write it made).
    pub(in crate::core) fn hints_among(&self, records: &[Record]) -> Vec<Effect> {
        if !self.standing_in.load(Ordering::Relaxed) {
            return Vec::new();
        }
        let stand_ins = lock(&self.stand_ins);
        let Some(table) = stand_ins.table.clone() else { return Vec::new() };
        let held = &self.store().held;
        let mut hints: BTreeMap<NodeId, Vec<Record>> = BTreeMap::new();
        for record in records.iter().filter(|record| !record.is_flush()) {
            let slot = usize::from(slot_of_stored(record.key()));
            if held.contains(slot as u16) || table.stand_ins.get(slot) != Some(&Some(self.node)) {
                continue;
            }
            for owner in table.owners[slot].iter().filter(|owner| stand_ins.down.contains(owner)) {
                hints.entry(*owner).or_default().push(record.clone());
            }
        }
        hints.into_iter().map(|(owner, records)| Effect::KeepHints { owner, records }).collect()
    }

    /// Hints a stand-in hands over: merged like anti-entropy entries, moving no cursor, and
    /// answered once logged. A hint written before our grace period is given up: a delete of its
    /// key may have been purged here since, and the hint would bring the key back.
    pub(in crate::core) fn hints_received(&self, from: NodeId, id: u64, entries: Vec<Record>, now: Now) -> Vec<Effect> {
        let grace = self.tombstone_grace.min(self.eviction_grace);
        let horizon = (now.wall_ms + self.max_clock_skew_ms).saturating_sub(grace.as_millis() as u64);
        let mut entries = self.admit(entries, None);
        let before = entries.len();
        entries.retain(|record| record.version().wall_ms >= horizon);
        if entries.len() < before {
            tracing::info!(peer = %from, given_up = before - entries.len(), "hints older than the grace period given up");
        }
        let applied = self.replica.apply(entries, false, self.clock.peers_wall_ms(now));
        // Not an anti-entropy answer: what is refused leaves no round incomplete.
        let mut effects = self.merged(applied, true);
        effects.push(Effect::SendOnceLogged { to: from, message: Outgoing::HintsTaken { id } });
        effects
    }

    /// How many members of the layout are held down, and whether this node stands in for some
    /// slot of theirs (INFO's cluster section).
    pub(crate) fn owners_down(&self) -> (usize, bool) {
        (lock(&self.stand_ins).down.len(), self.standing_in.load(Ordering::Relaxed))
    }

    /// Whether `node` is a member we hear from: where hints for it may be handed over.
    pub(crate) fn member_alive(&self, node: NodeId, now: Instant) -> bool {
        lock(&self.members).state_of(node, now) == Some(MemberState::Alive)
    }
}
