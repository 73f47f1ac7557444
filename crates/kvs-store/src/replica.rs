//! [`Replica`]: this node's copy of the data and the rules that keep every copy convergent.
//!
//! Everything that changes the store goes through here, so the store's invariants are kept in
//! one place rather than by each caller: a local write is stamped, numbered, merged and counted
//! by its origin's cursor as one step (our cursor never claims a write the store lacks); a pushed
//! entry moves its origin's cursor only when it is the next number; a remote version too far
//! ahead is refused; anti-entropy answers are built from the store shard by shard. No method
//! reads a clock: the caller passes the wall time, so the same code runs under a simulator.

use crate::anti_entropy::CursorMap;
use crate::clock::{ClockError, HybridClock};
use crate::local::{Decision, Local};
use crate::record::Record;
use crate::store::{MergeOutcome, Store, SHARDS};
use kvs_proto::peer::Cursors;
use kvs_proto::slot_set::SlotSet;
use kvs_proto::{NodeId, Stamp};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

/// This node's data and its write rules.
#[derive(Debug)]
pub struct Replica {
    store: Arc<Store>,
    /// Stamps local writes with versions of this run's origin.
    clock: HybridClock,
    /// Sequence number of the last local write under this run's origin; locked for a [`Turn`].
    last_seq: Mutex<u64>,
    /// Held for reading while remote records are merged, for writing while the slots held
    /// change: a record skipped as not held is then counted in the cursors read with the change.
    holding: RwLock<()>,
}

/// The writes of one origin a push named without their records, as of slots the sender took us
/// not to hold.
#[derive(Clone, Copy, Debug)]
pub struct Skipped<'a> {
    /// Whose writes they are: the pushing member's origin.
    pub origin: NodeId,
    /// `(sequence number, slot)` of each, in ascending order.
    pub writes: &'a [(u64, u16)],
    /// The slots held but still being fetched (see [`Applied::counted_while_fetching`]).
    pub fetching: Option<&'a SlotSet>,
}

/// The right to make local writes, one holder at a time: held across numbering, stamping and
/// merging a write, and by the caller across carrying it out (logging it, pushing it), so our
/// writes enter the store, the log and every peer's stream in sequence order.
#[derive(Debug)]
pub struct Turn<'a>(MutexGuard<'a, u64>);

/// What merging a batch of remote entries did.
#[derive(Debug, Default)]
pub struct Applied {
    /// Entries that were newer than what the store held (to log).
    pub records: Vec<Record>,
    /// Entries refused because their version is too far ahead of our clock, with the first reason.
    pub refused: Option<(usize, ClockError)>,
    /// The last skipped write counted in a slot still being fetched: the fetch must now be
    /// vouched for by members that have it, since our cursor will claim it once the slot is whole.
    pub counted_while_fetching: Option<u64>,
}

/// The answer to an anti-entropy request.
#[derive(Debug)]
pub enum AntiEntropyAnswer<'a> {
    /// The requester is behind a purged delete: it must drop what we have seen (these cursors)
    /// and ask again from scratch.
    Resync(Cursors),
    /// What the requester lacks, in batches, then the cursors it may adopt.
    Delta(DeltaBatches<'a>),
}

/// Records a requester lacks, in batches of bounded size, walked shard by shard (one shard lock
/// at a time, never held between batches).
#[derive(Debug)]
pub struct DeltaBatches<'a> {
    store: &'a Store,
    theirs: CursorMap,
    next_shard: usize,
    pending: std::vec::IntoIter<Record>,
    max_bytes: usize,
    /// A fetch of whole slots (every record in them, whatever the cursors), or `None` for a delta.
    slots: Option<SlotSet>,
    /// Our cursors, read before the walk: every write they cover is in it.
    pub done: Cursors,
}

/// What one record costs in a batch (key, value, version and framing), for bounding frames.
pub fn entry_cost(record: &Record) -> usize {
    record.payload_len() + 32
}

impl Iterator for DeltaBatches<'_> {
    type Item = Vec<Record>;

    fn next(&mut self) -> Option<Vec<Record>> {
        let (mut batch, mut bytes) = (Vec::new(), 0);
        loop {
            for record in self.pending.by_ref() {
                bytes += entry_cost(&record);
                batch.push(record);
                if bytes >= self.max_bytes {
                    return Some(batch);
                }
            }
            if self.next_shard == SHARDS {
                return (!batch.is_empty()).then_some(batch);
            }
            self.pending = match &self.slots {
                None => self.store.delta_in_shard(self.next_shard, &self.theirs),
                Some(slots) => self.store.slots_in_shard(self.next_shard, slots),
            }
            .into_iter();
            self.next_shard += 1;
        }
    }
}

impl Replica {
    /// A replica over `store` (already holding what the log replayed), writing with `clock`,
    /// whose origin must be new: no write of it may exist anywhere yet.
    pub fn new(store: Arc<Store>, clock: HybridClock) -> Self {
        Replica { store, clock, last_seq: Mutex::new(0), holding: RwLock::new(()) }
    }

    /// The data, for reads.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// The origin this run's local writes are made under.
    pub fn origin(&self) -> NodeId {
        self.clock.origin()
    }

    /// Takes the turn for local writes; the next local write waits until it is dropped.
    pub fn turn(&self) -> Turn<'_> {
        Turn(self.last_seq.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Applies a local write (`None` deletes) at wall time `wall_ms`; returns the record to log
    /// and push. Logged even if a newer remote write already won the key, so our sequence
    /// numbers stay contiguous in the log.
    pub fn write(&self, turn: &mut Turn<'_>, key: &[u8], value: Option<&[u8]>, wall_ms: u64) -> Record {
        let decide = |local: &Local<'_>| Decision::Write(local.value(value, None), ());
        let (record, ()) = self.update(turn, key, wall_ms, decide);
        record.expect("written")
    }

    /// Runs a local command on `key` at wall time `wall_ms` in `turn`: `decide` sees the key's
    /// state and either writes a record built from it or keeps the key. Local commands run one
    /// turn at a time, so a read-modify-write (INCR, APPEND, SET NX) sees every earlier local
    /// write; a remote write landing meanwhile merges with ours by the merge rule, as if it came
    /// just after.
    pub fn update<T>(
        &self,
        turn: &mut Turn<'_>,
        key: &[u8],
        wall_ms: u64,
        decide: impl FnOnce(&Local<'_>) -> Decision<T>,
    ) -> (Option<Record>, T) {
        let last_seq = &mut *turn.0;
        crate::access::tick(wall_ms);
        let stamp = Stamp { version: self.clock.now_at(wall_ms), seq: *last_seq + 1 };
        let local = Local::new(key, &self.store, stamp, wall_ms);
        match decide(&local) {
            Decision::Keep(answer) => (None, answer),
            Decision::Write(record, answer) => {
                *last_seq += 1;
                self.store.merge(record.clone());
                self.store.cursors.applied_in_order(self.origin(), *last_seq);
                (Some(record), answer)
            }
        }
    }

    /// A replicated flush of `database` (`None`: every one) at wall time `wall_ms`, in `turn`:
    /// every record of it older than the flush goes, here and, once it arrives, everywhere.
    pub fn flush(&self, turn: &mut Turn<'_>, wall_ms: u64, database: Option<u8>) -> Record {
        let last_seq = &mut *turn.0;
        *last_seq += 1;
        let record = Record::flush(Stamp { version: self.clock.now_at(wall_ms), seq: *last_seq }, database);
        self.store.merge(record.clone());
        self.store.cursors.applied_in_order(self.origin(), *last_seq);
        record
    }

    /// Merges remote records at wall time `wall_ms`. `pushed`: they come from their origin in its
    /// sequence order, so each moves the origin's cursor if it is the next number; records of an
    /// anti-entropy delta arrive in any order and only the completed round moves cursors.
    pub fn apply(&self, records: Vec<Record>, pushed: bool, wall_ms: u64) -> Applied {
        self.merge_remote(records, pushed, None, wall_ms)
    }

    /// Merges a push that left out `skipped` (see [`Replica::apply`]): a skipped write moves its
    /// origin's cursor, in order, as a pushed write of its slot does when we do not keep its
    /// record: its slot is not held, or still being fetched. One of a slot held whole (a slot we
    /// gained and fetched before the sender heard) does not, and the cursor waits for
    /// anti-entropy.
    pub fn apply_skipping(&self, records: Vec<Record>, skipped: Skipped<'_>, wall_ms: u64) -> Applied {
        self.merge_remote(records, true, Some(skipped), wall_ms)
    }

    fn merge_remote(&self, records: Vec<Record>, pushed: bool, skipped: Option<Skipped<'_>>, wall_ms: u64) -> Applied {
        crate::access::tick(wall_ms);
        let _holding = self.holding.read().unwrap_or_else(|p| p.into_inner());
        let mut writes = skipped.map_or(&[][..], |skipped| skipped.writes).iter().peekable();
        let mut applied = Applied::default();
        for record in records {
            if let Some(skipped) = skipped {
                while let Some(&(seq, slot)) = writes.next_if(|&&(seq, _)| seq < record.seq()) {
                    self.count_skipped(skipped, (seq, slot), &mut applied);
                }
            }
            if let Err(error) = self.clock.observe_at(&record.version(), wall_ms) {
                let refused = applied.refused.get_or_insert((0, error));
                refused.0 += 1;
                continue;
            }
            let (origin, seq) = (record.origin(), record.seq());
            // A record of a slot not held here is not kept, but a push of it still counts: its
            // origin's cursor claims nothing of slots we do not hold.
            if self.store.holds(&record) && self.store.merge(record.clone()) == MergeOutcome::Applied {
                applied.records.push(record);
            }
            if pushed {
                self.store.cursors.applied_in_order(origin, seq);
            }
        }
        if let Some(skipped) = skipped {
            for &write in writes {
                self.count_skipped(skipped, write, &mut applied);
            }
        }
        applied
    }

    /// Counts one skipped write in its origin's cursor if we would not have kept its record.
    fn count_skipped(&self, skipped: Skipped<'_>, (seq, slot): (u64, u16), applied: &mut Applied) {
        let fetching = skipped.fetching.is_some_and(|fetching| fetching.contains(slot));
        // A slot past the last names no slot: the write is not counted, as one of a slot held.
        if slot >= kvs_proto::slot::SLOTS || (self.store.held.contains(slot) && !fetching) {
            return;
        }
        if fetching {
            applied.counted_while_fetching = applied.counted_while_fetching.max(Some(seq));
        }
        self.store.cursors.applied_in_order(skipped.origin, seq);
    }

    /// Keeps the records of `slots` from now on (see [`crate::store::held_slots`]); returns the
    /// slots held before and our cursors with the change: every remote record skipped as not
    /// held is counted in them, and every one merged after is kept if its slot is in `slots`.
    pub fn hold(&self, slots: &SlotSet) -> (SlotSet, Cursors) {
        let _change = self.holding.write().unwrap_or_else(|p| p.into_inner());
        let before = self.store.held.snapshot();
        self.store.held.set(slots);
        (before, self.cursors())
    }

    /// Stops keeping the records of `slots`.
    pub fn release(&self, slots: &SlotSet) {
        let _change = self.holding.write().unwrap_or_else(|p| p.into_inner());
        self.store.held.set(&self.store.held.snapshot().minus(slots));
    }

    /// Moves cursors of other origins forward to `to` (never back, never our own origin's), as
    /// far as answers holding every slot we hold between them claimed.
    pub fn adopt_covered(&self, to: &Cursors) -> Cursors {
        let me = self.origin();
        let adopted: Cursors = to.iter().copied().filter(|&(origin, _)| origin != me).collect();
        self.store.cursors.advance(&adopted);
        adopted
    }

    /// Our cursors, to send with an anti-entropy request.
    pub fn cursors(&self) -> Cursors {
        self.store.cursors.snapshot()
    }

    /// How far `origin`'s writes are applied here (for our own origin: our last write's number).
    pub fn cursor(&self, origin: NodeId) -> u64 {
        self.store.cursors.get(origin)
    }

    /// Adopts the cursors of a complete anti-entropy answer from the member writing under
    /// `peer_origin`: its cursor of its own origin as it claims (nobody knows its writes better),
    /// every other origin's forward only as far as `witnessed` (what enough peers claim), and back
    /// to `set_back` where a cursor taken earlier on one word ran past what two peers claim, the
    /// answering member's own origin included (the simulator found a liar's cursor for a third
    /// member's writes that only that member's own answer could correct, and it was skipped);
    /// our own origin's is never touched. Returns what it moved forward, to log: no more than this
    /// answer covers, whose entries are in the log before it (our whole table could name a pushed
    /// write the log has not taken yet, and a crash would then leave a cursor over a write we
    /// never held).
    pub fn adopt_answer(
        &self,
        peer_origin: NodeId,
        claimed: &Cursors,
        witnessed: &Cursors,
        set_back: &Cursors,
    ) -> Cursors {
        let me = self.origin();
        // A cursor set back is not moved forward by the same answer: asked from past it, the
        // answer brought none of the writes between.
        let kept = |origin: NodeId| origin != me && !set_back.iter().any(|&(back, _)| back == origin);
        let own = claimed.iter().filter(|&&(origin, _)| origin == peer_origin);
        let others = witnessed.iter().filter(|&&(origin, _)| origin != peer_origin);
        let adopted: Cursors = own.chain(others).copied().filter(|&(origin, _)| kept(origin)).collect();
        for &(origin, seq) in set_back.iter().filter(|&&(origin, _)| origin != me) {
            self.store.cursors.set_back(origin, seq);
        }
        self.store.cursors.advance(&adopted);
        adopted
    }

    /// Answers a peer at `theirs`: what it lacks in batches of about `max_bytes`, or a resync
    /// demand if it is behind a purged delete (unless it is `fresh`, holding nothing we have seen).
    pub fn answer_anti_entropy(&self, theirs: Cursors, fresh: bool, max_bytes: usize) -> AntiEntropyAnswer<'_> {
        let theirs: CursorMap = theirs.into_iter().collect();
        // Read before gathering: every write our cursors cover is then in the walk.
        let done = self.cursors();
        if !fresh && self.store.needs_resync(&theirs) {
            return AntiEntropyAnswer::Resync(done);
        }
        AntiEntropyAnswer::Delta(DeltaBatches {
            store: &self.store,
            theirs,
            next_shard: 0,
            pending: Vec::new().into_iter(),
            max_bytes,
            slots: None,
            done,
        })
    }

    /// Answers a fetch of whole `slots` by a node that gained them: every record in them, in
    /// batches of about `max_bytes`, then our cursors.
    pub fn answer_fetch(&self, slots: SlotSet, max_bytes: usize) -> DeltaBatches<'_> {
        DeltaBatches {
            store: &self.store,
            theirs: CursorMap::default(),
            next_shard: 0,
            pending: Vec::new().into_iter(),
            max_bytes,
            slots: Some(slots),
            done: self.cursors(),
        }
    }

    /// Drops what a peer at `cursors` has seen and that a delete it purged could have
    /// superseded, before resynchronizing from it, and resets every cursor but our own origin's;
    /// returns how many records were dropped.
    ///
    /// Only records written before `older_than_ms` go: a purged delete is older than the peer's
    /// grace period, and so is everything it deleted, so a newer record can never be one. That is
    /// also the most a member that lies about needing a resync can make us drop, and what it drops
    /// comes back from the others, since the cursors that covered it are reset. Our own writes are
    /// never dropped, whatever the peer claims to have seen of them: they may exist nowhere else.
    ///
    /// `slots`: only records of these slots go (those the peer holds whole, when it holds some
    /// only: it sends back nothing of the others).
    pub fn drop_seen_by(&self, cursors: &Cursors, older_than_ms: u64, slots: Option<&SlotSet>) -> usize {
        let mut theirs: CursorMap = cursors.iter().copied().collect();
        theirs.remove(&self.origin());
        let dropped = self.store.retain_unseen(&theirs, older_than_ms, slots);
        self.store.cursors.reset_except(self.origin());
        dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kvs_proto::Version;

    fn replica(origin: u64) -> Replica {
        Replica::new(Arc::new(Store::new()), HybridClock::new(NodeId(origin), 1_000))
    }

    #[test]
    fn local_writes_are_numbered_and_counted_in_order() {
        let a = replica(1);
        let first = a.write(&mut a.turn(), b"k", Some(b"1"), 100);
        let second = a.write(&mut a.turn(), b"k", None, 100);
        assert_eq!((first.seq(), second.seq()), (1, 2));
        assert!(second.version() > first.version());
        assert_eq!(a.cursors(), vec![(NodeId(1), 2)]);
    }

    #[test]
    fn pushes_move_cursors_only_in_order_and_far_future_entries_are_refused() {
        let (a, b) = (replica(1), replica(2));
        let writes: Vec<_> =
            (0..3).map(|i| a.write(&mut a.turn(), format!("k{i}").as_bytes(), Some(b"v"), 100)).collect();
        let applied = b.apply(vec![writes[0].clone(), writes[2].clone()], true, 100);
        assert_eq!(applied.records.len(), 2);
        assert_eq!(b.store().cursors.get(NodeId(1)), 1, "a gap stops the cursor");
        let future = Record::new(b"f", Some(b"v"), Version { wall_ms: 5_000, logical: 0, node: NodeId(3) }, 1);
        let applied = b.apply(vec![future], true, 100);
        assert!(applied.records.is_empty());
        assert!(matches!(applied.refused, Some((1, ClockError::TooFarAhead { .. }))));
    }

    #[test]
    fn a_delta_in_small_batches_carries_exactly_what_the_peer_lacks() {
        let (a, b) = (replica(1), replica(2));
        for i in 0..500 {
            a.write(&mut a.turn(), format!("k{i}").as_bytes(), Some(&[7; 100]), 100);
        }
        let AntiEntropyAnswer::Delta(mut batches) = a.answer_anti_entropy(b.cursors(), false, 1_000) else {
            panic!("no resync expected");
        };
        let mut shipped = 0;
        for batch in batches.by_ref() {
            assert!(batch.iter().map(entry_cost).sum::<usize>() < 1_000 + 200, "batch over its bound");
            shipped += batch.len();
            b.apply(batch.to_vec(), false, 100);
        }
        b.adopt_answer(NodeId(1), &batches.done, &batches.done, &Vec::new());
        assert_eq!(shipped, 500);
        assert_eq!(a.store().digest(), b.store().digest());
        let AntiEntropyAnswer::Delta(mut again) = a.answer_anti_entropy(b.cursors(), false, 1_000) else { panic!() };
        assert!(again.next().is_none(), "in sync: nothing to ship");
    }

    #[test]
    fn a_cursor_taken_on_one_word_is_set_back_by_its_own_origins_answer_too() {
        // Our cursor of origin 2 was taken on a liar's word alone; origin 2's own member answers
        // that it wrote up to 17, and the claims put us back to 5, where we stood before.
        let (me, owner) = (replica(1), NodeId(2));
        me.store().cursors.advance(&vec![(owner, 1_000_000)]);
        let adopted = me.adopt_answer(owner, &vec![(owner, 17)], &vec![(owner, 17)], &vec![(owner, 5)]);
        assert_eq!(me.cursor(owner), 5, "set back, not left past what its own member wrote");
        assert!(adopted.is_empty(), "nor moved forward by the answer that was asked from past it");
    }
}
