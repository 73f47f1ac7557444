//! Which slots this node holds as layouts change, as core inputs and outputs: the slots it
//! gained and must fetch, the records of slots it lost that it drops once their owners hold
//! them, and what its peers say they hold (docs/partitioning.md, "Replication per slot" and
//! "Moving slots").
//!
//! A node's cursors are true of the slots it holds whole: owned under its layout, and not being
//! fetched. A slot it gains was skipped until then, so it is fetched whole from members that
//! hold it whole (or lost it while whole) with cursors at least ours when we gained it, two of
//! them where the layout gives the slot two other live owners or more, so one member that lies
//! in its answers cannot have us claim a slot we never got; until then we claim nothing of it.
//! A slot it loses is no longer kept from then on, and what it held there stays until every
//! owner of the slot, under the same layout, says it holds the slot whole with cursors past each
//! record: only then is the record dropped (locally: nothing is logged or replicated). A durable
//! node records the slots it has yet to fetch before the layout that made them, so a restart
//! fetches them still; without that record it fetches every slot it holds again.

use super::cursor_coverage::CursorCoverage;
use super::{lock, Core, Effect, Now, Outgoing, Peer};
use kvs_proto::peer::Cursors;
use kvs_proto::slot_set::{SlotSet, SlotTally};
use kvs_proto::{NodeId, PeerMessage};
use kvs_store::map::Map;
use kvs_store::store::slots::slot_of_stored;
use kvs_store::Record;
use peers_word::PeerHolding;
use std::sync::atomic::Ordering;

mod peers_word;
mod serving;
pub(crate) mod skipped_pushes;

/// How many groups of slots lost while whole are remembered (one per layout that took some).
pub(super) const MAX_LOST_GROUPS: usize = 8;

/// This node's slots in motion, and its peers' word on theirs.
#[derive(Debug, Default)]
pub(crate) struct Holdings {
    /// Slots gained and not yet fetched, in groups gained together.
    fetching: Vec<Fetch>,
    /// Slots not owned whose records may still be here.
    leftovers: SlotSet,
    /// Slots not owned that were held whole when lost and still are: still applied and served,
    /// until every owner holds them (a subset of `leftovers`).
    kept: SlotSet,
    /// Slots lost while held whole, each group with our cursors when it was lost: what we can
    /// vouch for to a member fetching them. At most [`MAX_LOST_GROUPS`], the newest.
    lost_whole: Vec<(SlotSet, Cursors)>,
    /// What each peer last said it holds.
    peers: Map<NodeId, PeerHolding>,
    /// Partial answers' claims, and how far they move our cursors.
    pub(super) coverage: CursorCoverage,
    /// The outstanding anti-entropy request, when it is a fetch, and the slots it asked for: an
    /// answer vouches for those only, whatever else it says it holds.
    fetch_request: Option<(u64, SlotSet)>,
    /// The peers whose last request was a fetch: each peer is asked for a fetch and a delta in
    /// turn while slots are fetched, a fetch first, so the slots held whole keep being repaired
    /// meanwhile (per peer: alternating over all rounds, with two peers taken in turn, would ask
    /// one only for deltas and the other only for fetches).
    fetched_last: std::collections::BTreeSet<NodeId>,
}

/// Slots gained together and not yet fetched.
#[derive(Debug)]
struct Fetch {
    slots: SlotSet,
    /// Our cursors when they were gained: a member vouches for a slot only with cursors at least
    /// these, since every write we skipped while not holding it is below them.
    gained_at: Cursors,
    /// Per member, the slots of the group it vouched for (held whole, or lost while whole, with
    /// cursors at least `gained_at`): a slot is fetched once two members vouched for it, or one
    /// where our layout gives it fewer than two other owners.
    vouched: Vec<(NodeId, SlotSet)>,
}

/// What `node` vouched for before, in `vouched`: a later answer adds to it.
fn earlier_word(vouched: &[(NodeId, SlotSet)], node: NodeId) -> SlotSet {
    vouched.iter().find(|(n, _)| *n == node).map_or_else(SlotSet::empty, |(_, slots)| slots.clone())
}

/// Whether `claimed` is at least `wanted` for every origin `wanted` names.
fn dominates(claimed: &Cursors, wanted: &Cursors) -> bool {
    let claimed: Map<NodeId, u64> = claimed.iter().copied().collect();
    wanted.iter().all(|(origin, seq)| claimed.get(origin).is_some_and(|theirs| theirs >= seq))
}

impl Fetch {
    /// Our cursor claims `origin`'s write `seq`, skipped by its sender as of a slot we did not
    /// hold: a member vouches for these slots only with a cursor past it.
    fn vouch_past(&mut self, origin: NodeId, seq: u64) {
        match self.gained_at.iter_mut().find(|(o, _)| *o == origin) {
            Some((_, at)) => *at = (*at).max(seq),
            None => self.gained_at.push((origin, seq)),
        }
    }
}

impl Holdings {
    /// Every slot being fetched.
    fn fetching(&self) -> SlotSet {
        self.fetching.iter().fold(SlotSet::empty(), |all, fetch| all.union(&fetch.slots))
    }
}

impl Core {
    /// Holds the slots `owners` (indexed by slot; `None`: no layout) gives this node from now on.
    /// `restarted`: the store holds what the log replayed, and these are the slots the data dir
    /// recorded as yet to fetch (`None`: none recorded, so any slot held may be). Returns the
    /// effect that records the slots to fetch when they changed.
    pub(super) fn hold(&self, owners: Option<&[Vec<NodeId>]>, restarted: Option<Option<SlotSet>>) -> Option<Effect> {
        let me = self.node;
        let owned = match owners {
            None => SlotSet::full(),
            Some(owners) => SlotSet::from_fn(|slot| owners[usize::from(slot)].contains(&me)),
        };
        let fresh_start = restarted.is_some();
        // The holdings' lock is taken before the store's slots change, so a hand-off running
        // meanwhile cannot set them from what it read before.
        let mut holdings = lock(&self.holdings);
        let fetching_before = holdings.fetching();
        let owned_before = self.store().held.snapshot().minus(&holdings.kept);
        // A slot lost while held whole stays held (applied and served) until its owners hold it;
        // after a restart nothing is kept, as the log may lack what was pushed before the crash.
        let lost_whole = owned_before.minus(&owned).minus(&fetching_before);
        holdings.kept = match fresh_start {
            true => SlotSet::empty(),
            false => holdings.kept.union(&lost_whole).minus(&owned),
        };
        let held = owned.union(&holdings.kept);
        let (before, cursors) = self.replica.hold(&held);
        let gained = match restarted {
            Some(Some(recorded)) => recorded.intersection(&owned),
            Some(None) => owned.clone(),
            None => owned.minus(&before),
        };
        let lost = owned_before.minus(&owned);
        holdings.leftovers = holdings.leftovers.union(&before.minus(&owned)).minus(&owned);
        for (slots, _) in &mut holdings.lost_whole {
            *slots = slots.minus(&owned);
        }
        if !lost_whole.is_empty() && !fresh_start {
            holdings.lost_whole.push((lost_whole, cursors.clone()));
        }
        holdings.lost_whole.retain(|(slots, _)| !slots.is_empty());
        let excess = holdings.lost_whole.len().saturating_sub(MAX_LOST_GROUPS);
        holdings.lost_whole.drain(..excess);
        for fetch in &mut holdings.fetching {
            fetch.slots = fetch.slots.minus(&lost);
        }
        holdings.fetching.retain(|fetch| !fetch.slots.is_empty());
        if !gained.is_empty() {
            holdings.fetching.push(Fetch { slots: gained.clone(), gained_at: cursors, vouched: Vec::new() });
            // Each peer is asked for them next.
            holdings.fetched_last.clear();
        }
        if held != before {
            // Claims recorded before covered none of the slots gained, and a node that held every
            // slot recorded none.
            holdings.coverage.clear();
        }
        if !gained.is_empty() || !lost.is_empty() {
            let kept = holdings.kept.len();
            tracing::info!(node = %self.node, owned = owned.len(), gained = gained.len(), lost = lost.len(), kept, "the slots owned changed");
        }
        let fetching = holdings.fetching();
        self.fetching_any.store(!fetching.is_empty(), Ordering::Relaxed);
        drop(holdings);
        self.wanted_changed();
        if !held.minus(&before).is_empty() {
            // An answer under way was asked with the slots held before: records of the slots just
            // gained may have been skipped, so its claims must not cover them.
            lock(&self.rounds).incomplete();
        }
        // Recorded at every adoption, changed or not: a data dir with a layout and no record
        // fetches every slot again after a restart.
        (fetching != fetching_before || !fresh_start).then_some(Effect::FetchingChanged(fetching))
    }

    /// Whether this node holds every slot whole: its cursors are true of the whole key space.
    pub(crate) fn holds_all(&self) -> bool {
        self.store().held.all() && lock(&self.holdings).fetching.is_empty()
    }

    /// The slots this node holds whole (`None`: every one).
    pub(super) fn whole(&self) -> Option<SlotSet> {
        let held = &self.store().held;
        let holdings = lock(&self.holdings);
        if held.all() && holdings.fetching.is_empty() {
            return None;
        }
        Some(held.snapshot().minus(&holdings.fetching()))
    }

    /// The request for the next anti-entropy round to `peer`: a fetch of the slots being fetched
    /// every other round while there are some, else `regular`.
    pub(super) fn fetch_or(&self, peer: NodeId, request: u64, regular: Outgoing) -> Outgoing {
        let mut holdings = lock(&self.holdings);
        let fetching = holdings.fetching();
        holdings.fetch_request = None;
        if fetching.is_empty() || holdings.fetched_last.remove(&peer) {
            return regular;
        }
        holdings.fetched_last.insert(peer);
        let slots = fetching.runs();
        holdings.fetch_request = Some((request, fetching));
        PeerMessage::SlotFetch { request, slots }
    }

    /// Our cursors having moved, by an answer from `from` claiming `cursors` true of the slots
    /// `whole`, as far as the claims recorded now cover the slots we hold; and, if it answered our
    /// fetch (`request`), the slots it completes. Returns the effects: the cursors to log, and
    /// the slots still to fetch when they changed.
    ///
    /// A node that holds every slot whole takes no cursor from such answers: its own are moved
    /// by answers of members that hold every slot too, two words per origin.
    pub(super) fn partial_answer(
        &self,
        from: Peer,
        request: u64,
        (cursors, whole): (&Cursors, SlotSet),
        left: &[(SlotSet, Cursors)],
        now: Now,
    ) -> Vec<Effect> {
        // What it holds whole counts only where our layout makes it an owner, or where it says
        // it lost the slot while whole and keeps all of it: a member claiming more vouches for
        // slots it has no business holding. A slot it keeps is one whose new sole owner has no
        // other word for it. (Read before the holdings' lock, which the layout's is always taken
        // before.)
        let kept = left.iter().fold(SlotSet::empty(), |all, (slots, _)| all.union(slots));
        let whole = whole.intersection(&self.owned_by(from.id).union(&kept));
        let twice = self.slots_with_two_other_live_owners(now);
        let shared = self.slots_with_another_owner();
        let mut holdings = lock(&self.holdings);
        let held = self.store().held.snapshot();
        // A fetch's answer carried the records of the slots asked only: its claims cover those.
        let asked = holdings.fetch_request.take().filter(|(asked, _)| *asked == request).map(|(_, slots)| slots);
        let covered = asked.as_ref().map_or_else(|| whole.clone(), |asked| whole.intersection(asked));
        holdings.coverage.record((from.id, from.origin), cursors, covered, asked.is_none());
        let adopted = match held.is_full() && holdings.fetching.is_empty() {
            true => Cursors::new(),
            false => self.replica.adopt_covered(&holdings.coverage.covered(&held, &shared)),
        };
        if let Some(asked) = asked {
            let before = holdings.fetching().len();
            for fetch in &mut holdings.fetching {
                let mut vouched = SlotSet::empty();
                if dominates(cursors, &fetch.gained_at) {
                    vouched = vouched.union(&whole);
                }
                // A member that lost slots while whole vouches for them as of when it lost them.
                for (lost, _) in left.iter().filter(|(_, lost_at)| dominates(lost_at, &fetch.gained_at)) {
                    vouched = vouched.union(lost);
                }
                let vouched = vouched.intersection(&asked).union(&earlier_word(&fetch.vouched, from.id));
                fetch.vouched.retain(|(node, _)| *node != from.id);
                fetch.vouched.push((from.id, vouched.intersection(&fetch.slots)));
                let mut tally = SlotTally::default();
                for (_, slots) in &fetch.vouched {
                    tally.add(slots);
                }
                let done = tally.once.minus(&twice).union(&tally.twice);
                fetch.slots = fetch.slots.minus(&done);
            }
            holdings.fetching.retain(|fetch| !fetch.slots.is_empty());
            let left = holdings.fetching();
            self.fetching_any.store(!left.is_empty(), Ordering::Relaxed);
            if left.len() < before {
                tracing::info!(node = %self.node, peer = %from.id, fetched = before - left.len(), left = left.len(), "fetched slots");
                return vec![Effect::LogCursors(adopted), Effect::FetchingChanged(left)];
            }
        }
        vec![Effect::LogCursors(adopted)]
    }

    /// The slots we lost while holding them whole and still keep records of, with our cursors
    /// when we lost them (and now, for those we still hold): what an answer to a fetch vouches
    /// for besides what we own.
    pub(crate) fn left_whole(&self) -> Vec<(SlotSet, Cursors)> {
        let holdings = lock(&self.holdings);
        let left = |(slots, at): &(SlotSet, Cursors)| (slots.intersection(&holdings.leftovers), at.clone());
        let kept = (!holdings.kept.is_empty()).then(|| (holdings.kept.clone(), self.replica.cursors()));
        holdings.lost_whole.iter().map(left).chain(kept).filter(|(slots, _)| !slots.is_empty()).collect()
    }

    /// The slots our layout gives two owners or more besides us that are alive now: a gained
    /// slot is fetched on two members' word where two can give it, and on one where the others
    /// are down (a memory-only owner that restarted is a new member, and its old self never
    /// answers again).
    fn slots_with_two_other_live_owners(&self, now: Now) -> SlotSet {
        let alive: std::collections::BTreeSet<NodeId> = lock(&self.members).alive_peers(now.at).into_iter().collect();
        self.slots_whose_owners(SlotSet::empty, |owners| owners.iter().filter(|node| alive.contains(node)).count() >= 2)
    }

    /// The slots our layout gives an owner besides us (every one without a layout): a slot we
    /// own alone has nobody but each origin to speak for that origin's writes in it, so one word
    /// covers it; any other takes two.
    fn slots_with_another_owner(&self) -> SlotSet {
        self.slots_whose_owners(SlotSet::full, |owners| owners.iter().any(|node| *node != self.node))
    }

    /// The slots our layout gives `node` (every one without a layout).
    fn owned_by(&self, node: NodeId) -> SlotSet {
        self.slots_whose_owners(SlotSet::full, |owners| owners.contains(&node))
    }

    /// The slots whose owners under our layout pass `test`; `without` a layout, that set.
    fn slots_whose_owners(&self, without: fn() -> SlotSet, test: impl Fn(&[NodeId]) -> bool) -> SlotSet {
        let Some((_, owners)) = self.layout_owners() else { return without() };
        SlotSet::from_fn(|slot| test(&owners[usize::from(slot)]))
    }

    /// Drops the records of slots we no longer hold that every owner of their slot holds, as its
    /// last word says; returns the effects (a durable node compacts its log, which still holds
    /// them, so a restart does not bring them back).
    pub(crate) fn hand_off(&self) -> Vec<Effect> {
        if lock(&self.holdings).leftovers.is_empty() {
            return Vec::new();
        }
        let Some((layout, owners)) = self.layout_owners() else { return Vec::new() };
        // Held throughout, so a layout adopted meanwhile changes the slots held after us, from
        // what we leave.
        let mut holdings = lock(&self.holdings);
        let said = |node: &NodeId, slot: u16| {
            holdings.peers.get(node).filter(|p| p.version == layout.version && !p.fetching.contains(slot))
        };
        let ready = SlotSet::from_fn(|slot| {
            holdings.leftovers.contains(slot)
                && owners[usize::from(slot)].iter().all(|node| *node != self.node && said(node, slot).is_some())
        });
        if ready.is_empty() {
            return Vec::new();
        }
        let cursors: Map<NodeId, Map<NodeId, u64>> =
            holdings.peers.iter().map(|(node, holding)| (*node, holding.cursors.clone())).collect();
        let covered = |record: &Record| {
            owners[usize::from(slot_of_stored(record.key()))].iter().all(|node| {
                let theirs = &cursors[node];
                record.seen_by(|origin| theirs.get(&origin).copied().unwrap_or(0))
            })
        };
        let release = ready.intersection(&holdings.kept);
        if !release.is_empty() {
            // From here on their pushes are skipped: their owners hold them, and each write's
            // origin keeps what it wrote until they do.
            holdings.kept = holdings.kept.minus(&release);
            self.replica.release(&release);
        }
        let (dropped, left) = self.store().drop_handed_over(&ready, covered);
        holdings.leftovers = holdings.leftovers.minus(&ready.minus(&left));
        // What is left of these slots is no longer all we had: we vouch for them no more.
        for (slots, _) in &mut holdings.lost_whole {
            *slots = slots.minus(&ready);
        }
        holdings.lost_whole.retain(|(slots, _)| !slots.is_empty());
        if dropped == 0 {
            return Vec::new();
        }
        tracing::info!(node = %self.node, dropped, slots = ready.len(), "dropped records their slots' owners hold");
        match self.durable {
            true => vec![Effect::CompactLog],
            false => Vec::new(),
        }
    }

    /// Our own write `record` went to a slot we do not hold (a client of an older layout's
    /// view): it stays until the slot's owners hold it, like what a lost slot left.
    pub(super) fn wrote_outside(&self, record: &Record) {
        if !self.store().holds(record) {
            lock(&self.holdings).leftovers.insert(slot_of_stored(record.key()));
        }
    }
}
