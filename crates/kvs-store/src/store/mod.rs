//! The concurrent last-writer-wins map.

pub(crate) mod accounting;
mod collection_counts;
mod collections;
mod flushes;
mod handoff;
pub mod held_slots;
mod lists;
mod sampling;
pub mod slots;

pub use accounting::RECORD_OVERHEAD_BYTES;
pub use collections::Found;
pub use lists::PackedValues;

use crate::collection::index::Collections;
use crate::cursors::CursorTable;
use crate::databases;
use crate::expiry::ExpiryQueue;
use crate::lww;
use crate::map::Map;
use crate::origin_index::OriginIndex;
use crate::record::{Body, Record};
use bytes::Bytes;
use hashbrown::hash_table::Entry as Slot;
use hashbrown::HashTable;
#[cfg(test)]
use kvs_proto::Entry;
use kvs_proto::NodeId;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// Number of shards; a power of two. Enough that two cores rarely meet on a lock, and that one
/// shard of a million-key store (the unit `scan` and anti-entropy walk) is a few thousand keys.
pub const SHARDS: usize = 256;

/// One shard: records keyed by their own key bytes (an 8-byte pointer per slot), the same
/// records indexed by origin and sequence number for anti-entropy, and those with a deadline by
/// deadline.
#[derive(Debug, Default)]
pub(crate) struct Shard {
    pub(crate) table: HashTable<Record>,
    pub(crate) index: OriginIndex,
    pub(crate) expiry: ExpiryQueue,
    pub(crate) collections: Collections,
}

/// Every key's latest record, with a digest and counts kept up to date on each write.
///
/// A fixed array of independently locked hash tables (std `RwLock`, never held across an await).
/// Hand-sharded rather than a concurrent-map crate because `scan` and anti-entropy need a stable,
/// walkable partition of the keys, and because a slot here is one pointer to a [`Record`].
#[derive(Debug)]
pub struct Store {
    shards: Box<[RwLock<Shard>]>,
    /// Hashes keys; fixed per process so a scan cursor stays valid while it runs.
    hasher: ahash::RandomState,
    /// The 128-bit XOR digest in two halves. Updated inside the shard lock of the key written, so
    /// once writes stop it equals the XOR over the map; a reader racing a write may see half of it.
    digest_hi: AtomicU64,
    digest_lo: AtomicU64,
    live: AtomicU64,
    /// Live collection keys and their elements, per type.
    collection_counts: collection_counts::CollectionCounts,
    tombstones: AtomicU64,
    /// Live records of each database (see [`databases`]).
    live_by_database: Box<[AtomicU64]>,
    /// Bytes the live records take ([`record_bytes`] each), what a memory limit is checked against.
    live_bytes: AtomicU64,
    /// Bytes the tombstones take, until purged.
    tombstone_bytes: AtomicU64,
    /// Bytes of element records counted in `live_bytes` that their collection's header hides
    /// (a DEL, expiry or eviction covered them): data no read sees, kept until purged.
    hidden_bytes: AtomicU64,
    /// How far this node has applied each origin's writes; moved only by the store's own write
    /// paths ([`crate::Replica`], replay), never by a caller.
    pub(crate) cursors: CursorTable,
    /// Per origin, the highest sequence number of a tombstone purged here: a node whose cursor is
    /// below it may still hold the deleted value and must resynchronize instead of merging.
    pub(crate) purged: Mutex<Map<NodeId, u64>>,
    /// The newest replicated flush of each kind (FLUSHALL, and FLUSHDB of each database): every
    /// record it covers ranked below its version is gone. Read under the shard lock of the key
    /// merged, and set before a flush walks the shards, so no older record can slip in behind the
    /// walk.
    floors: RwLock<Vec<Record>>,
    /// Whether `floors` was ever set (the common case, never, costs one atomic load per merge).
    flushed: AtomicBool,
    /// The export in progress, whose pages are slices of one sorted walk.
    pub(crate) export_run: Mutex<Option<crate::export_run::ExportRun>>,
    /// The slots whose records this node keeps: every one until a layout partitions the keys.
    pub held: held_slots::HeldSlots,
}

/// How a merge changed the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MergeOutcome {
    /// The entry was newer and is now stored.
    Applied,
    /// The store already held this entry or a newer one.
    Stale,
}

impl Default for Store {
    fn default() -> Self {
        Store {
            shards: (0..SHARDS).map(|_| RwLock::new(Shard::default())).collect(),
            hasher: crate::map::key_hasher(),
            digest_hi: AtomicU64::new(0),
            digest_lo: AtomicU64::new(0),
            live: AtomicU64::new(0),
            collection_counts: Default::default(),
            tombstones: AtomicU64::new(0),
            live_by_database: (0..databases::MAX_DATABASES).map(|_| AtomicU64::new(0)).collect(),
            live_bytes: AtomicU64::new(0),
            tombstone_bytes: AtomicU64::new(0),
            hidden_bytes: AtomicU64::new(0),
            cursors: CursorTable::default(),
            purged: Mutex::new(Map::default()),
            floors: RwLock::new(Vec::new()),
            flushed: AtomicBool::new(false),
            export_run: Mutex::new(None),
            held: Default::default(),
        }
    }
}

impl Store {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether any write of `origin` is known here (applied, or covered by a peer's cursors).
    pub fn knows_origin(&self, origin: NodeId) -> bool {
        self.cursors.knows(origin)
    }

    /// The key's hash and shard. The shard is the key's hash slot's ([`slots::slot_of_stored`]):
    /// an element goes with its collection's key, beside the header and the rest of its
    /// collection, and one slot's keys are all in one shard.
    fn locate(&self, key: &[u8]) -> (u64, usize) {
        (self.hasher.hash_one(key), slots::shard_of_slot(slots::slot_of_stored(key)))
    }

    pub(crate) fn read(&self, shard: usize) -> RwLockReadGuard<'_, Shard> {
        self.shards[shard].read().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn write(&self, shard: usize) -> RwLockWriteGuard<'_, Shard> {
        self.shards[shard].write().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Merges `record` into what is held for its key by the merge rule ([`lww::merge`]); the one
    /// write path. Returns what now stands when it changed.
    pub fn merge(&self, record: Record) -> MergeOutcome {
        if record.is_flush() {
            return self.merge_flush(record);
        }
        let (hash, shard) = self.locate(record.key());
        let mut guard = self.write(shard);
        self.upsert(&mut guard, hash, record, true)
    }

    /// Merges `record` into `shard` (whose lock the caller holds), updating digest, counts, the
    /// expiry queue and (when `indexed`) the origin index.
    fn upsert(&self, shard: &mut Shard, hash: u64, record: Record, indexed: bool) -> MergeOutcome {
        if self.below_floor(&record) {
            return MergeOutcome::Stale;
        }
        let Shard { table, index, expiry, collections } = shard;
        let rehash = |r: &Record| self.hasher.hash_one(r.key());
        let (old, stands) = match table.entry(hash, |held| held.key() == record.key(), rehash) {
            Slot::Occupied(mut slot) => {
                let Some(stands) = lww::merge(slot.get(), &record) else {
                    return MergeOutcome::Stale;
                };
                self.account_replaced(slot.get(), &stands);
                expiry.remove(slot.get());
                if indexed {
                    index.replace(slot.get(), &stands);
                }
                let old = std::mem::replace(slot.get_mut(), stands.clone());
                (Some(old), stands)
            }
            Slot::Vacant(slot) => {
                self.account(&record, 1);
                if indexed {
                    index.insert(&record);
                }
                slot.insert(record.clone());
                (None, record)
            }
        };
        if stands.is_element() || stands.is_collection() || old.as_ref().is_some_and(Record::is_collection) {
            self.collection_changed(table, collections, old.as_ref(), Some(&stands));
        }
        expiry.insert(&stands);
        if expiry.needs_rebuild() {
            // Rewriting one key's deadline over and over leaves stale entries behind; dropping
            // them here, not only on the expiry tick, keeps the heap bounded even with the tick
            // paused, at an amortized constant cost per write.
            expiry.rebuild(table.iter());
        }
        MergeOutcome::Applied
    }

    /// A key's hash and shard, for callers that sort records by shard before loading them.
    pub(crate) fn hash_and_shard(&self, key: &[u8]) -> (u64, usize) {
        self.locate(key)
    }

    /// Loads replayed records (with their hashes from [`Store::hash_and_shard`]) into one shard under
    /// a single lock, then builds that shard's origin index in bulk.
    pub(crate) fn load_shard(&self, shard: usize, buckets: Vec<Vec<(u64, Record)>>) {
        let mut guard = self.write(shard);
        guard.table.reserve(buckets.iter().map(Vec::len).sum(), |r| self.hasher.hash_one(r.key()));
        for (hash, record) in buckets.into_iter().flatten() {
            self.upsert(&mut guard, hash, record, false);
        }
        let mut index = OriginIndex::from_records(guard.table.iter());
        if shard == 0 {
            for flush in self.floors() {
                index.insert(&flush);
            }
        }
        guard.index = index;
    }

    /// Merges one wire entry (copying it into a record); a malformed one is refused as stale.
    #[cfg(test)]
    pub(crate) fn merge_entry(&self, key: &[u8], entry: &Entry) -> MergeOutcome {
        match Record::from_entry(key, entry) {
            Ok(record) => self.merge(record),
            Err(_) => MergeOutcome::Stale,
        }
    }

    /// Merges many wire entries; returns how many were applied.
    #[cfg(test)]
    pub(crate) fn merge_all(&self, entries: impl IntoIterator<Item = (Bytes, Entry)>) -> usize {
        entries.into_iter().filter(|(key, entry)| self.merge_entry(key, entry) == MergeOutcome::Applied).count()
    }

    /// The record held for `key`, tombstone and expired ones included.
    pub fn get(&self, key: &[u8]) -> Option<Record> {
        let (hash, shard) = self.locate(key);
        self.read(shard).table.find(hash, |r| r.key() == key).cloned()
    }

    /// The record held for `key` if it is live (a value or counter, not expired) at `now_ms`.
    pub fn get_live(&self, key: &[u8], now_ms: u64) -> Option<Record> {
        self.get(key).filter(|r| r.is_live_at(now_ms))
    }

    /// A copy of the live value of `key` at `now_ms` (a counter as its decimal value), `None`
    /// when absent, deleted or expired.
    pub fn get_value(&self, key: &[u8], now_ms: u64) -> Option<Bytes> {
        self.with_value(key, now_ms, |value| value.map(Bytes::copy_from_slice))
    }

    /// Runs `f` on the live value of `key` at `now_ms` (a counter as its decimal value, a
    /// HyperLogLog as Redis's string) under the
    /// shard's read lock, without copying it.
    pub fn with_value<R>(&self, key: &[u8], now_ms: u64, f: impl FnOnce(Option<&[u8]>) -> R) -> R {
        let (hash, shard) = self.locate(key);
        let guard = self.read(shard);
        let record = guard.table.find(hash, |r| r.key() == key);
        let expired = record.is_some_and(|r| r.is_expired_at(now_ms));
        if let Some(record) = record.filter(|_| !expired) {
            record.touch(now_ms);
        }
        let answer = match record.filter(|_| !expired).map(Record::body) {
            Some(Body::Value(value)) => f(Some(value)),
            Some(Body::Counter(counter)) => f(Some(itoa::Buffer::new().format(counter.sum()).as_bytes())),
            Some(Body::Hll(hll)) => f(Some(&hll.registers().to_redis_string())),
            _ => f(None),
        };
        drop(guard);
        if expired {
            // Reclaimed lazily on access, as Redis does, besides the expiry timer's sweep.
            self.expire_key(key, hash, shard, now_ms);
        }
        answer
    }

    /// Turns `key`'s record into its expired form if it has expired at `now_ms`.
    fn expire_key(&self, key: &[u8], hash: u64, shard: usize, now_ms: u64) {
        let mut guard = self.write(shard);
        let held = guard.table.find(hash, |r| r.key() == key).filter(|r| r.is_expired_at(now_ms)).cloned();
        if let Some(held) = held {
            self.upsert(&mut guard, hash, held.expired(), true);
        }
    }

    /// Digest of the whole content: equal content gives equal digests. O(1).
    pub fn digest(&self) -> u128 {
        let hi = self.digest_hi.load(Ordering::Acquire) as u128;
        let lo = self.digest_lo.load(Ordering::Acquire) as u128;
        (hi << 64) | lo
    }

    /// Keys with a value or counter, expired ones not yet reclaimed included (see
    /// [`Store::expire_due`]).
    pub fn live_count(&self) -> u64 {
        self.live.load(Ordering::Relaxed)
    }

    /// Keys whose latest entry is a delete marker.
    pub fn tombstone_count(&self) -> u64 {
        self.tombstones.load(Ordering::Relaxed)
    }

    /// Every record of one shard (reference-counted clones, no payload copied).
    pub(crate) fn shard_records(&self, shard: usize) -> Vec<Record> {
        self.read(shard).table.iter().cloned().collect()
    }

    /// Every record (for tests and small stores; anti-entropy walks [`Store::shard_records`] instead).
    pub fn snapshot(&self) -> Vec<Record> {
        (0..SHARDS).flat_map(|shard| self.shard_records(shard)).collect()
    }

    /// Up to `limit` live keys in sorted order (the smallest), and whether more exist: the first
    /// page of an export ([`Store::export_page`]) one key longer than asked, keys copied.
    ///
    /// With nothing to list (`status` with no keys, which `check`, `/metrics` and the cluster
    /// page ask every second) it stops at the first live key instead of walking the store.
    pub fn live_keys(&self, limit: usize, now_ms: u64) -> (Vec<Bytes>, bool) {
        if limit == 0 {
            let any = (0..SHARDS).any(|shard| {
                let guard = self.read(shard);
                guard.table.iter().any(|r| Self::is_live_key(&guard, r, now_ms))
            });
            return (Vec::new(), any);
        }
        let page = self.first_exportable(None, limit.saturating_add(1), now_ms);
        let more = page.len() > limit;
        (page.iter().take(limit).map(|r| Bytes::copy_from_slice(r.key())).collect(), more)
    }

    /// One step of a cursor walk over live keys accepted by `filter`: whole shards from `cursor`
    /// on until at least `count` keys are found. Returns the next cursor (0 when done).
    ///
    /// A key present for the whole walk is returned exactly once, because a key never changes
    /// shard; `count` is a hint, as in Redis's SCAN.
    pub fn scan(
        &self,
        cursor: u64,
        count: usize,
        now_ms: u64,
        mut filter: impl FnMut(&[u8]) -> bool,
    ) -> (u64, Vec<Bytes>) {
        let mut shard = cursor as usize;
        let mut keys = Vec::new();
        while shard < SHARDS && keys.len() < count.max(1) {
            // The filter (a glob, say) runs after the lock is let go: a write to this shard never
            // waits for a match, only for reference-counted clones.
            let guard = self.read(shard);
            let live: Vec<Record> =
                guard.table.iter().filter(|r| Self::is_live_key(&guard, r, now_ms)).cloned().collect();
            drop(guard);
            keys.extend(live.iter().filter(|r| filter(r.key())).map(|r| Bytes::copy_from_slice(r.key())));
            shard += 1;
        }
        let next = if shard >= SHARDS { 0 } else { shard as u64 };
        (next, keys)
    }

    /// Whether `cursor` is one `scan` can continue from.
    pub fn is_valid_cursor(cursor: u64) -> bool {
        cursor < SHARDS as u64
    }

    /// Turns every record whose deadline is at or before `now_ms` into the tombstone it expires
    /// to ([`Record::expired`]), freeing its value; returns how many. The tombstone blocks older
    /// copies still travelling, and is purged like any other.
    pub fn expire_due(&self, now_ms: u64) -> usize {
        self.expire_due_each(now_ms, |_| {})
    }

    /// [`Store::expire_due`], calling `reclaimed` with each record reclaimed (as it was before).
    pub fn expire_due_each(&self, now_ms: u64, mut reclaimed: impl FnMut(&Record)) -> usize {
        let mut expired = 0;
        for shard in 0..SHARDS {
            let mut guard = self.write(shard);
            let hasher = &self.hasher;
            let Shard { table, expiry, .. } = &mut *guard;
            let due = expiry.pop_due(now_ms, |record| {
                table
                    .find(hasher.hash_one(record.key()), |r| r.key() == record.key())
                    .is_some_and(|r| r.same_as(record))
            });
            for record in due {
                let hash = self.hasher.hash_one(record.key());
                if self.upsert(&mut guard, hash, record.expired(), true) == MergeOutcome::Applied {
                    expired += 1;
                    reclaimed(&record);
                }
            }
        }
        expired
    }

    /// Keys held with a deadline (expired ones not yet reclaimed included).
    pub fn volatile_count(&self) -> u64 {
        (0..SHARDS).map(|shard| self.read(shard).expiry.tracked() as u64).sum()
    }

    /// Live records of database `db` with a deadline (INFO keyspace's `expires`).
    pub fn volatile_count_in(&self, db: u8) -> u64 {
        (0..SHARDS).map(|shard| self.read(shard).expiry.tracked_in(db) as u64).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kvs_proto::{NodeId, Version};
    use proptest::prelude::*;

    fn write(key: u8, wall: u64, node: u64, value: Option<u8>) -> (Bytes, Entry) {
        let version = Version { wall_ms: wall, logical: 0, node: NodeId(node) };
        let entry = Entry::plain(value.map(|v| Bytes::from(vec![v])), version, wall + 1);
        (Bytes::from(vec![key]), entry)
    }

    /// Writes as a real cluster makes them: each (wall, node) pair is issued once, so versions are unique.
    fn writes() -> impl Strategy<Value = Vec<(Bytes, Entry)>> {
        proptest::collection::btree_map((0u64..20, 0u64..3), (0u8..5, proptest::option::of(0u8..4)), 0..40)
            .prop_map(|m| m.into_iter().map(|((wall, node), (key, value))| write(key, wall, node, value)).collect())
    }

    fn sorted(store: &Store) -> Vec<(Bytes, Entry)> {
        let mut all: Vec<_> = store.snapshot().iter().map(Record::to_keyed_entry).collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }

    #[test]
    fn newer_wins_and_delete_is_a_tombstone() {
        let store = Store::new();
        let (k, e) = write(1, 10, 1, Some(1));
        assert_eq!(store.merge_entry(&k, &e), MergeOutcome::Applied);
        let (k, e) = write(1, 5, 2, Some(2));
        assert_eq!(store.merge_entry(&k, &e), MergeOutcome::Stale);
        let (k, e) = write(1, 11, 2, None);
        assert_eq!(store.merge_entry(&k, &e), MergeOutcome::Applied);
        assert_eq!(store.get_value(&[1], 0), None);
        assert_eq!((store.live_count(), store.tombstone_count()), (0, 1));
    }

    #[test]
    fn a_full_scan_returns_every_live_key_once() {
        let store = Store::new();
        for i in 0..2000u32 {
            store.merge_entry(i.to_string().as_bytes(), &write(0, 1, 1, Some(1)).1);
        }
        store.merge_entry(b"0", &write(0, 2, 1, None).1);
        let (mut cursor, mut seen) = (0, Vec::new());
        loop {
            let (next, keys) = store.scan(cursor, 10, 0, |k| k != b"7");
            seen.extend(keys);
            if next == 0 {
                break;
            }
            cursor = next;
        }
        seen.sort();
        let before = seen.len();
        seen.dedup();
        assert_eq!((before, seen.len()), (1998, 1998));
    }

    #[test]
    fn live_keys_are_the_smallest_in_order() {
        let store = Store::new();
        for i in (0..50u8).rev() {
            store.merge_entry(&[i], &write(i, 1, 1, Some(1)).1);
        }
        store.merge_entry(&[0], &write(0, 2, 1, None).1);
        assert_eq!(
            store.live_keys(3, 0),
            (vec![Bytes::from(vec![1]), Bytes::from(vec![2]), Bytes::from(vec![3])], true)
        );
        assert_eq!(store.live_keys(49, 0).0.len(), 49);
        assert!(!store.live_keys(49, 0).1);
        assert_eq!(store.live_keys(0, 0), (Vec::new(), true));
    }

    fn stamp(wall: u64, node: u64) -> kvs_proto::Stamp {
        kvs_proto::Stamp { version: Version { wall_ms: wall, logical: 0, node: NodeId(node) }, seq: wall }
    }

    #[test]
    fn expired_keys_are_hidden_then_reclaimed_into_tombstones_of_the_same_write() {
        let store = Store::new();
        store.merge(Record::plain(b"soon", Some(b"v"), stamp(10, 1), Some(1_000)));
        store.merge(Record::plain(b"later", Some(b"v"), stamp(11, 1), Some(5_000)));
        store.merge(Record::plain(b"never", Some(b"v"), stamp(12, 1), None));
        let digest = store.digest();
        assert_eq!(store.get_value(b"soon", 999).as_deref(), Some(&b"v"[..]));
        assert_eq!(store.volatile_count(), 2);
        assert_eq!(store.expire_due(1_000), 1);
        assert_eq!(store.get_value(b"soon", 1_000), None);
        assert_eq!((store.live_count(), store.tombstone_count(), store.volatile_count()), (2, 1, 1));
        assert_eq!(store.digest(), digest, "a value's expiry does not change the digest");
        // An older copy arriving later cannot bring it back.
        assert_eq!(store.merge(Record::plain(b"soon", Some(b"old"), stamp(5, 2), None)), MergeOutcome::Stale);
        // Lazily, on a read, when the timer has not run.
        assert!(!store.with_value(b"later", 6_000, |v| v.is_some()));
        assert_eq!(store.tombstone_count(), 2);
        assert_eq!(store.expire_due(u64::MAX), 0);
    }

    #[test]
    fn empty_store_has_zero_digest() {
        assert_eq!(Store::new().digest(), 0);
    }

    proptest! {
        #[test]
        fn replicas_fed_the_same_writes_in_any_order_with_duplicates_end_equal(
            (ws, shuffled) in writes().prop_flat_map(|w| (Just(w.clone()), Just(w).prop_shuffle())),
            dup_every in 1usize..4,
        ) {
            let a = Store::new();
            a.merge_all(ws.clone());
            let b = Store::new();
            for (i, w) in shuffled.iter().enumerate() {
                b.merge_entry(&w.0, &w.1);
                if i % dup_every == 0 {
                    b.merge_entry(&w.0, &w.1);
                }
            }
            prop_assert_eq!(a.digest(), b.digest());
            prop_assert_eq!(sorted(&a), sorted(&b));
            prop_assert_eq!((a.live_count(), a.tombstone_count()), (b.live_count(), b.tombstone_count()));
        }

        #[test]
        fn merging_states_is_commutative_associative_and_idempotent(
            (ws, masks) in writes().prop_flat_map(|w| {
                let n = w.len();
                (Just(w), proptest::collection::vec((any::<bool>(), any::<bool>(), any::<bool>()), n))
            }),
        ) {
            // Three overlapping replicas' states drawn from one cluster's writes.
            let pick = |i: usize| -> Vec<(Bytes, Entry)> {
                ws.iter().zip(&masks).filter(|(_, m)| [m.0, m.1, m.2][i]).map(|(w, _)| w.clone()).collect()
            };
            let (x, y, z) = (pick(0), pick(1), pick(2));
            let merged = |parts: &[&Vec<(Bytes, Entry)>]| {
                let s = Store::new();
                for p in parts { s.merge_all((*p).clone()); }
                s
            };
            let xyz = merged(&[&x, &y, &z]);
            prop_assert_eq!(sorted(&xyz), sorted(&merged(&[&z, &y, &x])));
            prop_assert_eq!(sorted(&xyz), sorted(&merged(&[&y, &x, &z, &x, &y])));
            prop_assert_eq!(xyz.digest(), merged(&[&z, &x, &y]).digest());
        }

        #[test]
        fn digest_depends_only_on_content(ws in writes()) {
            let incremental = Store::new();
            incremental.merge_all(ws);
            let rebuilt = Store::new();
            for record in incremental.snapshot() {
                rebuilt.merge(record);
            }
            prop_assert_eq!(incremental.digest(), rebuilt.digest());
        }
    }
}
