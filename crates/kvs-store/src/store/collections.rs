//! The store's side of collections: keeping each shard's collection index and the count of live
//! collection keys in step with the records, and reading a collection by its key.
//!
//! A collection key is live, and counts as a key, while its header stands and lets at least one
//! element be seen; an emptied collection is no key, as in Redis.

use super::{Shard, Store};
use crate::collection::header::Header;
use crate::collection::index::{ByMember, Collections, ElementRef};
use crate::collection::{members_prefix, split_element_key, CollectionType};
use crate::databases;
use crate::record::Record;
use bytes::Bytes;
use hashbrown::HashTable;
use kvs_proto::NodeId;
use std::ops::Bound;
use std::sync::atomic::Ordering;

const TYPES: [CollectionType; 4] =
    [CollectionType::Hash, CollectionType::Set, CollectionType::SortedSet, CollectionType::List];

/// A collection as a command finds it: its header and how many elements it lets be seen.
#[derive(Clone, Debug)]
pub struct Found {
    /// The header (with the record's deadline beside it).
    pub header: Header,
    /// When the key expires, if it does.
    pub deadline_ms: Option<u64>,
    /// How many elements are seen.
    pub len: usize,
}

impl Store {
    /// The header standing at `collection`, if one does.
    fn header_in(&self, table: &HashTable<Record>, collection: &[u8]) -> Option<Header> {
        let hash = self.hasher.hash_one(collection);
        table.find(hash, |r| r.key() == collection).and_then(Record::header)
    }

    /// Whether the collection key `collection` is live under `header`.
    fn live_under(collections: &Collections, collection: &[u8], header: Option<&Header>) -> bool {
        header.is_some_and(|h| {
            collections.members(&members_prefix(h.of, collection)).is_some_and(|members| members.visible > 0)
        })
    }

    /// Keeps the index and counts in step: `new` (`None`: removed) stands where `old` did.
    pub(crate) fn collection_changed(
        &self,
        table: &HashTable<Record>,
        collections: &mut Collections,
        old: Option<&Record>,
        new: Option<&Record>,
    ) {
        let element = new.or(old).expect("a record changed");
        let (collection, was, is) = if let Some((of, collection, _)) = split_element_key(element.key()) {
            let prefix = crate::collection::prefix_of(element.key()).expect("an element key");
            // Under a header of another type the element is not seen, and the key's liveness is
            // that other collection's, which this element does not change.
            let header = self.header_in(table, collection).filter(|h| h.of == of);
            let seen = |collections: &Collections| collections.members(prefix).map_or(0, |members| members.visible);
            let before = seen(collections);
            let hidden = match new {
                Some(new) => collections.element_stands(prefix, old, new, header.as_ref()),
                None => collections.element_gone(prefix, element, header.as_ref()),
            };
            self.hide(hidden);
            let after = seen(collections);
            self.collection_counts.elements_moved(of, before, after);
            let live = |seen: usize| (header.is_some() && seen > 0).then_some(of);
            (collection, live(before), live(after))
        } else {
            let key = element.key();
            let (was, is) = (old.and_then(Record::header), new.and_then(Record::header));
            let before = Self::live_under(collections, key, was.as_ref()).then(|| was.as_ref().map(|h| h.of)).flatten();
            let same_view = matches!((&was, &is), (Some(a), Some(b))
                if a.base == b.base && a.cleared == b.cleared && a.expired_before == b.expired_before);
            if !same_view {
                for of in TYPES {
                    let (seen_before, seen_after, hidden) =
                        collections.header_changed(&members_prefix(of, key), is.as_ref().filter(|h| h.of == of));
                    self.collection_counts.elements_moved(of, seen_before, seen_after);
                    self.hide(hidden);
                }
            }
            let after = Self::live_under(collections, key, is.as_ref()).then(|| is.as_ref().map(|h| h.of)).flatten();
            (key, before, after)
        };
        self.collection_counts.key_moved(was, is);
        if was.is_some() != is.is_some() {
            let counter = &self.live_by_database[databases::database_of(collection) as usize];
            if is.is_some() {
                self.live.fetch_add(1, Ordering::Relaxed);
                counter.fetch_add(1, Ordering::Relaxed);
            } else {
                self.live.fetch_sub(1, Ordering::Relaxed);
                counter.fetch_sub(1, Ordering::Relaxed);
            }
        }
    }

    /// Per collection type, how many keys hold a live collection of it and how many elements
    /// those let be seen.
    pub fn collection_counts(&self) -> [(CollectionType, u64, u64); 4] {
        TYPES.map(|of| {
            let (keys, elements) = self.collection_counts.of(of);
            (of, keys, elements)
        })
    }

    /// Whether the header `record` of `shard` lets an element be seen: a collection that is a
    /// key, not one emptied, deleted or evicted whose records wait to be purged.
    pub(crate) fn header_is_live(shard: &Shard, record: &Record) -> bool {
        record.collection_type().is_some_and(|of| {
            shard.collections.members(&members_prefix(of, record.key())).is_some_and(|members| members.visible > 0)
        })
    }

    /// Whether `record` is an element seen in a live collection of `shard` at `now_ms`.
    pub(crate) fn element_seen_in(&self, shard: &Shard, record: &Record, now_ms: u64) -> bool {
        let Some((of, collection, _)) = split_element_key(record.key()) else { return false };
        let hash = self.hasher.hash_one(collection);
        let Some(held) = shard.table.find(hash, |r| r.key() == collection).filter(|r| !r.is_expired_at(now_ms)) else {
            return false;
        };
        let Some(header) = held.header().filter(|h| h.of == of) else { return false };
        record.element_state().is_some_and(|state| state.is_visible(&header.visibility()))
    }

    /// What a backup holds for `record` (one [`Store::export_page`] gave) at `now_ms`: the value
    /// and deadline of a key, or an element's value and its collection's deadline.
    pub fn backup_value(&self, record: &Record, now_ms: u64) -> Option<(Bytes, Option<u64>)> {
        let Some((of, collection, _)) = split_element_key(record.key()) else {
            return Some((Bytes::from(record.read_bytes()?), record.deadline_ms()));
        };
        let found = self.collection(collection, now_ms).filter(|found| found.header.of == of)?;
        let value = crate::collection::value_of(of, &record.element_state()?, &found.header.visibility())?;
        Some((value, found.deadline_ms))
    }

    /// Element records of `shard` that no write will show again, to purge like tombstones: every
    /// add and increment they hold is covered by their collection's header (a DEL or expiry saw
    /// it), and both they and the header's newest write are older than `horizon_ms`, so every
    /// node has had the grace period to receive the header.
    pub(crate) fn covered_elements(&self, shard: &Shard, horizon_ms: u64) -> Vec<Record> {
        let mut covered = Vec::new();
        for (prefix, members) in shard.collections.iter() {
            let Some((of, collection, _)) = split_element_key(prefix) else { continue };
            let Some(header) = self.header_in(&shard.table, collection).filter(|h| h.of == of) else { continue };
            if header.newest().version.wall_ms >= horizon_ms || members.elements.len() == members.visible {
                continue;
            }
            let visibility = header.visibility();
            for element in &members.elements {
                let record = element.record();
                let old = record.version().wall_ms < horizon_ms;
                if old && record.element_state().is_some_and(|state| !state.is_visible(&visibility)) {
                    covered.push(record.clone());
                }
            }
        }
        covered
    }

    /// Headers of `shard` whose collection has no element record left and whose newest write is
    /// older than `horizon_ms`: an emptied collection, gone once its elements are purged.
    pub(crate) fn empty_headers(&self, shard: &Shard, horizon_ms: u64) -> Vec<Record> {
        shard
            .table
            .iter()
            .filter(|r| r.is_collection() && r.version().wall_ms < horizon_ms)
            .filter(|r| TYPES.iter().all(|&of| shard.collections.members(&members_prefix(of, r.key())).is_none()))
            .cloned()
            .collect()
    }

    /// Whether `record`, standing in `shard`, is a live key at `now_ms`: a live value, counter or
    /// HyperLogLog, or a collection header with an element seen.
    pub(crate) fn is_live_key(shard: &Shard, record: &Record, now_ms: u64) -> bool {
        if !record.is_live_at(now_ms) {
            return false;
        }
        match record.collection_type() {
            Some(of) => {
                shard.collections.members(&members_prefix(of, record.key())).is_some_and(|members| members.visible > 0)
            }
            None => true,
        }
    }

    /// The live collection at `key` (a stored key) at `now_ms`; `None` when the key holds no
    /// collection with an element seen (absent, another type, emptied, expired).
    pub fn collection(&self, key: &[u8], now_ms: u64) -> Option<Found> {
        self.find_collection(key, now_ms, false)
    }

    /// [`Store::collection`] for a command that uses it (HGET, SADD, …): the key is marked used,
    /// as a read of a string marks it, for LRU and LFU eviction (TYPE, EXISTS and the like only
    /// look, and use [`Store::collection`]).
    pub fn collection_used(&self, key: &[u8], now_ms: u64) -> Option<Found> {
        self.find_collection(key, now_ms, true)
    }

    fn find_collection(&self, key: &[u8], now_ms: u64, used: bool) -> Option<Found> {
        let (hash, shard) = self.locate(key);
        let guard = self.read(shard);
        let record = guard.table.find(hash, |r| r.key() == key)?;
        if record.is_expired_at(now_ms) {
            return None;
        }
        let header = record.header()?;
        if used {
            record.touch(now_ms);
        }
        let len = guard.collections.members(&members_prefix(header.of, key)).map_or(0, |m| m.visible);
        (len > 0).then(|| Found { header, deadline_ms: record.deadline_ms(), len })
    }

    /// The value of `element` of the collection `of` at `key`, under `header` (from
    /// [`Store::collection`]); `None` when it is not seen.
    pub fn element_value(&self, of: CollectionType, key: &[u8], element: &[u8], header: &Header) -> Option<Bytes> {
        let record = self.get(&crate::collection::element_key(of, key, element))?;
        crate::collection::value_of(of, &record.element_state()?, &header.visibility())
    }

    /// Every element of the collection `of` at `key` seen under `header`, with its value.
    pub fn elements(&self, of: CollectionType, key: &[u8], header: &Header) -> Vec<(Bytes, Bytes)> {
        self.scan_elements(of, key, header, 0, usize::MAX).0
    }

    /// One step of a scan of the collection `of` at `key` (HSCAN, SSCAN, ZSCAN): from `cursor`
    /// (0: the start), about `count` elements seen under `header` with their values, and the
    /// cursor to go on from (0: done). An element seen from the first step to the last is
    /// returned at least once, whatever is added and removed meanwhile (see
    /// [`crate::collection::order`]). Elements not seen count against the step's work too, ten
    /// per wanted one, as Redis bounds a step over empty buckets; elements sharing a position
    /// (a 64-bit hash collision) are returned in one step, since a cursor cannot part them.
    pub fn scan_elements(
        &self,
        of: CollectionType,
        key: &[u8],
        header: &Header,
        cursor: u64,
        count: usize,
    ) -> (Vec<(Bytes, Bytes)>, u64) {
        let prefix = members_prefix(of, key);
        let (_, shard) = self.locate(key);
        let guard = self.read(shard);
        let Some(members) = guard.collections.members(&prefix) else { return (Vec::new(), 0) };
        let range = members.elements.range((Bound::Included(ElementRef::start_of(cursor)), Bound::Unbounded));
        let visibility = header.visibility();
        let (mut found, mut work) = (Vec::new(), count.max(1).saturating_mul(10));
        let mut last = None;
        for element in range {
            let at = element.position();
            if (found.len() >= count || work == 0) && last != Some(at) {
                return (found, at);
            }
            work = work.saturating_sub(1);
            last = Some(at);
            if !element.is_seen() {
                continue;
            }
            let Some(state) = element.record().element_state() else { continue };
            if let Some(value) = crate::collection::value_of(of, &state, &visibility) {
                found.push((Bytes::copy_from_slice(element.name()), value));
            }
        }
        (found, 0)
    }

    /// Members of the sorted set at `key` (a live one, from [`Store::collection`]) with their
    /// scores, in score order (`rev`: highest first), after skipping `skip`, at most `take`:
    /// read from its score index, so a rank range or a pop costs what it returns.
    pub fn scored(&self, key: &[u8], rev: bool, skip: usize, take: usize) -> Vec<(Bytes, f64)> {
        self.indexed(CollectionType::SortedSet, key, rev, skip, take)
    }

    /// The first member seen of the set at `key` at or after `position` in its index's hash
    /// order, wrapping around (see [`crate::collection::order`]): what SPOP takes at a random
    /// position, in a search rather than a walk. Members are spread evenly over the hash order,
    /// so any is about as likely as another (the chance of each is its distance from the one
    /// before), which is what SPOP promises; SRANDMEMBER, whose distribution Redis's tests
    /// measure, picks by rank instead.
    pub fn set_member_after(&self, key: &[u8], position: u64) -> Option<Bytes> {
        let prefix = members_prefix(CollectionType::Set, key);
        let (_, shard) = self.locate(key);
        let guard = self.read(shard);
        let members = guard.collections.members(&prefix)?;
        let from = ElementRef::start_of(position);
        let after = members.elements.range((Bound::Included(&from), Bound::Unbounded));
        let before = members.elements.range((Bound::Unbounded, Bound::Excluded(&from)));
        let found = after.chain(before).find(|e| e.is_seen())?;
        Some(Bytes::copy_from_slice(found.name()))
    }

    /// Members of the set at `key` at the ranks `picks` (among its members seen, in member
    /// order): what SPOP and SRANDMEMBER take, walking the set's index, reading no element's
    /// body that holds one add.
    pub fn set_members_at(&self, key: &[u8], picks: &[usize]) -> Vec<Bytes> {
        let prefix = members_prefix(CollectionType::Set, key);
        let (_, shard) = self.locate(key);
        let guard = self.read(shard);
        let Some(members) = guard.collections.members(&prefix) else { return Vec::new() };
        let mut sorted: Vec<usize> = picks.to_vec();
        sorted.sort_unstable();
        let mut found = Vec::with_capacity(picks.len());
        let mut wanted = sorted.iter().peekable();
        let seen = members.elements.iter().filter(|e| e.is_seen());
        for (rank, element) in seen.enumerate() {
            while wanted.peek() == Some(&&rank) {
                found.push(Bytes::copy_from_slice(element.name()));
                wanted.next();
            }
            if wanted.peek().is_none() {
                break;
            }
        }
        found
    }

    fn indexed(&self, of: CollectionType, key: &[u8], rev: bool, skip: usize, take: usize) -> Vec<(Bytes, f64)> {
        let prefix = members_prefix(of, key);
        let (_, shard) = self.locate(key);
        let guard = self.read(shard);
        let Some(members) = guard.collections.members(&prefix) else { return Vec::new() };
        let entry = |(order, element): &(u64, ByMember)| {
            (Bytes::copy_from_slice(element.name()), crate::collection::index::score_of_order(*order))
        };
        match rev {
            false => members.ordered.iter().skip(skip).take(take).map(entry).collect(),
            true => members.ordered.iter().rev().skip(skip).take(take).map(entry).collect(),
        }
    }

    /// Per origin, the newest add or increment held in `key`'s collections (of every type) that
    /// `held` (what stands at the key) has made dead: what a new header made over it clears. Under
    /// a header, the adds it does not let be seen, and every add it clears whether held here or
    /// not (a DEL's, which must not come back with elements that arrive after the new header);
    /// under any other record, the adds older than it; with nothing at the key, none. An add that
    /// arrived before its header (replication brings them in any order) is neither, and survives
    /// the new header. Dead adds of one origin are a prefix of its sequence numbers, so a
    /// per-origin bound clears exactly them.
    pub fn collection_dead(&self, key: &[u8], held: Option<&Record>) -> Vec<(NodeId, u64)> {
        let Some(held) = held else { return Vec::new() };
        let header = held.header();
        let newer_than = held.rank().0;
        let dead = |stamp: &kvs_proto::Stamp| match &header {
            Some(header) => !header.visibility().sees(stamp),
            None => stamp.version < newer_than,
        };
        let (_, shard) = self.locate(key);
        let guard = self.read(shard);
        let mut cleared = header.as_ref().map(|h| h.cleared.clone()).unwrap_or_default();
        for of in TYPES {
            let Some(members) = guard.collections.members(&members_prefix(of, key)) else { continue };
            for element in &members.elements {
                let Some(state) = element.record().element_state() else { continue };
                for stamp in state.adds_stamps().filter(|stamp| dead(stamp)) {
                    crate::collection::element::raise(&mut cleared, stamp.version.node, stamp.seq);
                }
            }
        }
        cleared
    }

    /// How many element records of `key`'s collections (of every type) stood or went here: a
    /// change of any element changes it (WATCH compares it).
    pub fn collection_changes(&self, key: &[u8]) -> u64 {
        let (_, shard) = self.locate(key);
        let guard = self.read(shard);
        let counts = TYPES.iter().filter_map(|&of| guard.collections.members(&members_prefix(of, key)));
        counts.fold(0, |sum, members| sum.wrapping_add(members.changes))
    }

    /// Per origin, the newest add any element of `key`'s collections (of every type) held: what
    /// a DEL clears.
    pub fn collection_seen(&self, key: &[u8]) -> Vec<(NodeId, u64)> {
        let (_, shard) = self.locate(key);
        let guard = self.read(shard);
        let mut seen = Vec::new();
        for of in TYPES {
            if let Some(members) = guard.collections.members(&members_prefix(of, key)) {
                for &(node, seq) in &members.seen {
                    crate::collection::element::raise(&mut seen, node, seq);
                }
            }
        }
        seen
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collection::element::ElementState;
    use crate::collection::element_key;
    use kvs_proto::{Stamp, Version};

    fn stamp(wall: u64, node: u64, seq: u64) -> Stamp {
        Stamp { version: Version { wall_ms: wall, logical: 0, node: NodeId(node) }, seq }
    }

    fn member(store: &Store, name: &str, at: Stamp) {
        let state = ElementState::added(at, Bytes::new());
        store.merge(Record::element(&element_key(CollectionType::Set, b"s", name.as_bytes()), &state));
    }

    /// Live sets and the members they let be seen, as /metrics reports them.
    fn sets(store: &Store) -> (u64, u64) {
        let [_, (of, keys, elements), _, _] = store.collection_counts();
        assert_eq!(of, CollectionType::Set);
        (keys, elements)
    }

    #[test]
    fn a_collection_counts_as_one_key_while_an_element_is_seen_and_its_deleted_elements_are_purged() {
        let store = Store::new();
        let header = Header::new(CollectionType::Set, stamp(10, 1, 1), Vec::new());
        store.merge(Record::collection(b"s", &header, None));
        assert_eq!(store.live_count(), 0, "a header alone is no key");
        member(&store, "a", stamp(11, 1, 2));
        member(&store, "b", stamp(12, 1, 3));
        assert_eq!((store.live_count(), store.collection(b"s", 0).map(|f| f.len)), (1, Some(2)));
        assert_eq!(sets(&store), (1, 2));
        // A DEL that saw both, then an add from another node it had not seen. What it hid no
        // longer counts against maxmemory, though the records stay until purged.
        let (live, dead) = (store.live_bytes(), store.tombstone_bytes());
        let cleared = header.cleared_by(stamp(20, 1, 4), &store.collection_seen(b"s"));
        let cleared_header = Record::collection(b"s", &cleared, None);
        store.merge(cleared_header.clone());
        assert_eq!((store.live_count(), store.collection(b"s", 0).map(|f| f.len)), (0, None));
        assert_eq!(sets(&store), (0, 0));
        let bytes = super::super::accounting::record_bytes;
        assert_eq!(store.live_bytes(), bytes(&cleared_header));
        let elements = live - bytes(&Record::collection(b"s", &header, None));
        assert_eq!(store.tombstone_bytes(), dead + elements);
        member(&store, "c", stamp(21, 2, 1));
        assert_eq!(store.collection(b"s", 0).map(|f| f.len), Some(1));
        assert_eq!(sets(&store), (1, 1));
        // Past the grace period, the covered elements go and the seen one stays, with its header.
        assert_eq!(store.purge_tombstones(100, 100), 2);
        let found = store.collection(b"s", 0).expect("still a set");
        let names: Vec<Bytes> =
            store.elements(CollectionType::Set, b"s", &found.header).into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, [Bytes::from_static(b"c")]);
        assert_eq!(store.live_count(), 1);
        // Once that one is removed too, the purge takes the element's tombstone and the header.
        let removal = store.get(&element_key(CollectionType::Set, b"s", b"c")).unwrap().element_state().unwrap();
        store.merge(Record::element(&element_key(CollectionType::Set, b"s", b"c"), &removal.removal(stamp(30, 1, 5))));
        assert_eq!((store.live_count(), sets(&store)), (0, (0, 0)));
        assert_eq!(store.purge_tombstones(100, 100), 2);
        assert!(store.snapshot().is_empty(), "{:?}", store.snapshot());
        assert_eq!(
            (store.tombstone_count(), store.live_bytes(), store.tombstone_bytes(), store.digest()),
            (0, 0, 0, 0)
        );
    }
}
