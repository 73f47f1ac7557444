//! Anti-entropy on the store: what a peer lacks, tombstone purge, and the resync that purge needs.
//!
//! Design: per-origin sequence numbers with version-vector cursors (scuttlebutt, as chitchat
//! does), chosen over a Merkle tree because one round trip moves exactly the entries the other side
//! lacks: a Merkle tree over a million keys with a hundred thousand scattered changes must either
//! descend many levels (round trips) or ship whole leaves of unchanged keys. The price is 8 bytes of
//! sequence number per record and a per-origin index (8.5 bytes a key in sorted vectors).

use crate::map::Map;
use crate::record::Record;
use crate::store::{Shard, Store, SHARDS};
use kvs_proto::slot_set::SlotSet;
use kvs_proto::NodeId;

/// A peer's cursors, for lookups while walking the store.
pub type CursorMap = Map<NodeId, u64>;

impl Store {
    /// Records of `shard` that a node at `cursors` may lack: each origin's above its cursor.
    pub fn delta_in_shard(&self, shard: usize, cursors: &CursorMap) -> Vec<Record> {
        let guard = self.read(shard);
        guard.index.above(|origin| cursors.get(&origin).copied().unwrap_or(0))
    }

    /// Whether a node at `cursors` is behind a tombstone purged here, so that a delta (which can no
    /// longer carry that delete) would leave it holding the deleted value.
    pub fn needs_resync(&self, cursors: &CursorMap) -> bool {
        let purged = self.purged.lock().unwrap_or_else(|p| p.into_inner());
        purged.iter().any(|(origin, seq)| cursors.get(origin).copied().unwrap_or(0) < *seq)
    }

    /// Removes the records `doomed` picks from every shard (index, digest and counts included);
    /// returns what was removed.
    pub(crate) fn remove_where(&self, doomed: impl Fn(&Record) -> bool) -> Vec<Record> {
        self.remove_picked(|shard| shard.table.iter().filter(|r| doomed(r)).cloned().collect())
    }

    /// Removes from every shard the records `pick` chooses, looking at the whole shard (its
    /// collection index too); returns what was removed.
    pub(crate) fn remove_picked(&self, pick: impl Fn(&Shard) -> Vec<Record>) -> Vec<Record> {
        self.remove_picked_in(0..SHARDS, pick)
    }

    /// [`Store::remove_picked`] in `shards` only.
    pub(crate) fn remove_picked_in(
        &self,
        shards: impl Iterator<Item = usize>,
        pick: impl Fn(&Shard) -> Vec<Record>,
    ) -> Vec<Record> {
        let mut removed = Vec::new();
        for shard in shards {
            let mut guard = self.write(shard);
            let picked = pick(&guard);
            if picked.is_empty() {
                continue;
            }
            let Shard { table, index, expiry, collections } = &mut *guard;
            for record in &picked {
                let (hash, _) = self.hash_and_shard(record.key());
                if let Ok(entry) = table.find_entry(hash, |r| r.same_as(record)) {
                    entry.remove();
                }
                index.remove(record);
                expiry.remove(record);
                self.account(record, -1);
                if record.is_element() || record.is_collection() {
                    self.collection_changed(table, collections, Some(record), None);
                }
            }
            removed.extend(picked);
        }
        removed
    }

    /// Purges tombstones written before `horizon_ms` (wall clock), and evictions' tombstones
    /// written before `eviction_horizon_ms`; returns how many.
    pub fn purge_tombstones(&self, horizon_ms: u64, eviction_horizon_ms: u64) -> usize {
        let horizon = |r: &Record| if r.is_evicted() { horizon_ms.max(eviction_horizon_ms) } else { horizon_ms };
        let mut removed = self.remove_where(|r| r.is_tombstone() && r.version().wall_ms < horizon(r));
        // Then elements a DEL or expiry covered, and headers left without elements.
        removed.extend(self.remove_picked(|shard| self.covered_elements(shard, horizon_ms)));
        removed.extend(self.remove_picked(|shard| self.empty_headers(shard, horizon_ms)));
        let mut purged = self.purged.lock().unwrap_or_else(|p| p.into_inner());
        for stamp in removed.iter().flat_map(Record::stamps) {
            let highest = purged.entry(stamp.version.node).or_default();
            *highest = (*highest).max(stamp.seq);
        }
        removed.len()
    }

    /// Drops every record written before `older_than_ms` that a node at `cursors` has already
    /// seen, before resynchronizing from it: it will send back whatever of those still stands, and
    /// nothing it deleted. Records it has not seen (newer than its cursors) are kept, since they
    /// may exist nowhere else yet.
    pub fn retain_unseen(&self, cursors: &CursorMap, older_than_ms: u64, slots: Option<&SlotSet>) -> usize {
        let seen = |stamp: kvs_proto::Stamp| stamp.seq <= cursors.get(&stamp.version.node).copied().unwrap_or(0);
        let in_slots =
            |r: &Record| slots.is_none_or(|slots| slots.contains(crate::store::slots::slot_of_stored(r.key())));
        self.remove_where(|r| r.version().wall_ms < older_than_ms && r.stamps().all(seen) && in_slots(r)).len()
    }

    /// Number of records held, tombstones included.
    pub fn len(&self) -> u64 {
        self.live_count() + self.tombstone_count()
    }

    /// Whether the store holds no record at all.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MergeOutcome;
    use kvs_proto::Version;
    use proptest::prelude::*;

    /// One anti-entropy exchange in memory: `to` asks `from` for what it lacks. Returns the
    /// entries shipped.
    fn sync(from: &Store, to: &Store) -> usize {
        let cursors: CursorMap = to.cursors.snapshot().into_iter().collect();
        let done = from.cursors.snapshot();
        let mut shipped = 0;
        for shard in 0..SHARDS {
            for record in from.delta_in_shard(shard, &cursors) {
                to.merge(record);
                shipped += 1;
            }
        }
        to.cursors.advance(&done);
        shipped
    }

    /// Applies a write the way a node does when it arrives in order from its origin.
    fn apply(store: &Store, record: &Record) {
        store.merge(record.clone());
        store.cursors.applied_in_order(record.origin(), record.seq());
    }

    /// Writes of three origins, each numbered 1.. in order; versions unique and increasing.
    fn writes() -> impl Strategy<Value = Vec<Record>> {
        proptest::collection::vec((0u64..3, 0u8..12, proptest::option::of(any::<u8>())), 1..80).prop_map(|ws| {
            let mut next_seq = [0u64; 3];
            ws.into_iter()
                .enumerate()
                .map(|(i, (origin, key, value))| {
                    next_seq[origin as usize] += 1;
                    let version = Version { wall_ms: 1000 + i as u64, logical: 0, node: NodeId(origin) };
                    Record::new(&[key], value.as_ref().map(std::slice::from_ref), version, next_seq[origin as usize])
                })
                .collect()
        })
    }

    fn contents(store: &Store) -> Vec<(Vec<u8>, Version)> {
        let mut all: Vec<_> = store.snapshot().iter().map(|r| (r.key().to_vec(), r.version())).collect();
        all.sort();
        all
    }

    proptest! {
        #[test]
        fn a_sync_ships_exactly_the_surviving_entries_the_other_side_lacks(
            ws in writes(),
            cuts in proptest::array::uniform3(0u64..40),
        ) {
            let a = Store::new();
            let b = Store::new();
            for w in &ws {
                apply(&a, w);
                if w.seq() <= cuts[w.origin().0 as usize] {
                    apply(&b, w);
                }
            }
            // What b lacks: records still standing in a beyond b's cursor for their origin.
            let lacking = a.snapshot().iter().filter(|r| r.seq() > b.cursors.get(r.origin())).count();
            prop_assert_eq!(sync(&a, &b), lacking);
            prop_assert_eq!(contents(&a), contents(&b));
            prop_assert_eq!(a.digest(), b.digest());
            // Once in sync, a round ships nothing.
            prop_assert_eq!(sync(&a, &b), 0);
            prop_assert_eq!(sync(&b, &a), 0);
        }

        #[test]
        fn two_way_sync_reconciles_stores_that_each_missed_different_writes(
            ws in writes(),
            missed_by_a in proptest::collection::vec(any::<bool>(), 80),
            missed_by_b in proptest::collection::vec(any::<bool>(), 80),
        ) {
            // Pushes lost at random: each store misses some writes, leaving gaps in its cursors.
            let a = Store::new();
            let b = Store::new();
            for (i, w) in ws.iter().enumerate() {
                if !missed_by_a[i] || missed_by_b[i] { apply(&a, w); }
                if !missed_by_b[i] { apply(&b, w); }
            }
            sync(&a, &b);
            sync(&b, &a);
            prop_assert_eq!(contents(&a), contents(&b));
            prop_assert_eq!(a.digest(), b.digest());
        }
    }

    #[test]
    fn a_node_behind_a_purged_delete_must_resync_and_then_matches() {
        let v = |wall, seq| (Version { wall_ms: wall, logical: 0, node: NodeId(1) }, seq);
        let (set, s1) = v(10, 1);
        let (del, s2) = v(20, 2);
        let a = Store::new();
        let b = Store::new();
        apply(&a, &Record::new(b"k", Some(b"v"), set, s1));
        apply(&b, &Record::new(b"k", Some(b"v"), set, s1));
        apply(&a, &Record::new(b"k", None, del, s2));
        assert_eq!(a.purge_tombstones(100, 0), 1);
        // An eviction's tombstone goes at its own, shorter horizon; a delete's waits for its own.
        let (evicted, deleted) = (v(30, 3), v(31, 4));
        apply(&a, &Record::new(b"e", Some(b"v"), set, 5));
        apply(&a, &Record::evicted(b"e", set, kvs_proto::Stamp { version: evicted.0, seq: evicted.1 }));
        apply(&a, &Record::new(b"d", None, deleted.0, deleted.1));
        assert_eq!(a.purge_tombstones(0, 100), 1, "the eviction's");
        assert_eq!(a.tombstone_count(), 1, "the delete's stays");
        assert_eq!(a.purge_tombstones(100, 100), 1);
        assert_eq!(a.tombstone_count(), 0);

        // A plain delta cannot carry the purged delete: b would keep the value.
        let b_cursors: CursorMap = b.cursors.snapshot().into_iter().collect();
        assert!(a.needs_resync(&b_cursors));

        // Resync: b drops what a has seen, then takes everything.
        let a_cursors: CursorMap = a.cursors.snapshot().into_iter().collect();
        assert_eq!(b.retain_unseen(&a_cursors, u64::MAX, None), 1);
        b.cursors.reset_except(NodeId(99));
        sync(&a, &b);
        assert!(b.get(b"k").is_none());
        assert_eq!(a.digest(), b.digest());
        assert_eq!(
            b.merge(Record::new(b"k", Some(b"v"), set, s1)),
            MergeOutcome::Applied,
            "only a stale copy could bring it back"
        );
    }
}
