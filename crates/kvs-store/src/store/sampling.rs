//! What eviction asks of the store: random live records to choose from, and marking a key used.

use super::{Shard, Store, SHARDS};
use crate::record::Record;

impl Store {
    /// Up to `n` live records at `now_ms` drawn at random (with a deadline only, if
    /// `volatile_only`), for an eviction policy to choose from, as Redis samples keys; `draw`
    /// supplies random numbers. It visits shards in a random order (a random start and an odd
    /// stride, which reaches all 256), one record from each that has a fit, so a nearly empty
    /// store still yields what it holds: probing shards at random missed both keys of a store of
    /// two in one try out of seven.
    pub fn sample(&self, n: usize, volatile_only: bool, now_ms: u64, mut draw: impl FnMut() -> u64) -> Vec<Record> {
        let mut found = Vec::with_capacity(n);
        let (start, stride) = (draw() as usize, (draw() as usize) | 1);
        // A collection is drawn by its header (an element is no key), while it is a key.
        let fits_in = |guard: &Shard, r: &Record| {
            r.is_live_at(now_ms)
                && (!volatile_only || r.deadline_ms().is_some())
                && (!r.is_collection() || Store::header_is_live(guard, r))
        };
        for i in 0..SHARDS {
            if found.len() == n {
                break;
            }
            let guard = self.read(start.wrapping_add(i.wrapping_mul(stride)) % SHARDS);
            let len = guard.table.len();
            if len == 0 {
                continue;
            }
            let skip = draw() as usize % len;
            let fits = |r: &&Record| fits_in(&guard, r);
            let pick = guard.table.iter().skip(skip).find(fits).or_else(|| guard.table.iter().take(skip).find(fits));
            found.extend(pick.cloned());
        }
        found
    }

    /// Marks `key` used now if it is held live (TOUCH); whether it was.
    pub fn touch(&self, key: &[u8], now_ms: u64) -> bool {
        crate::access::tick(now_ms);
        let (hash, shard) = self.locate(key);
        let guard = self.read(shard);
        let live = guard.table.find(hash, |r| r.key() == key).filter(|r| r.is_live_at(now_ms));
        live.inspect(|r| r.touch_always(now_ms)).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kvs_proto::{NodeId, Stamp, Version};

    #[test]
    fn a_sample_of_a_nearly_empty_store_finds_what_it_holds() {
        let store = Store::new();
        let version = Version { wall_ms: 1, logical: 0, node: NodeId(1) };
        store.merge(Record::new(b"only", Some(b"v"), version, 1));
        store.merge(Record::plain(b"volatile", Some(b"v"), Stamp { version, seq: 2 }, Some(10)));
        let mut state = 7u64;
        let mut draw = move || {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            state >> 11
        };
        for _ in 0..100 {
            assert_eq!(store.sample(5, false, 0, &mut draw).len(), 2);
            let volatile = store.sample(5, true, 0, &mut draw);
            assert_eq!(volatile.iter().map(|r| r.key()).collect::<Vec<_>>(), [&b"volatile"[..]]);
        }
        assert!(store.sample(5, true, 10, &mut draw).is_empty(), "expired at 10");
    }
}
