//! What eviction asks of the store: random live records to choose from, and marking a key used.

use super::{Store, SHARDS};
use crate::record::Record;

impl Store {
    /// Up to `n` live records at `now_ms` drawn at random (with a deadline only, if
    /// `volatile_only`), for an eviction policy to choose from, as Redis samples keys; `draw`
    /// supplies random numbers. Each draw walks part of one shard under its read lock.
    pub fn sample(&self, n: usize, volatile_only: bool, now_ms: u64, mut draw: impl FnMut() -> u64) -> Vec<Record> {
        let mut found = Vec::with_capacity(n);
        // Empty shards, or shards without a fit, are passed over; a bounded number of tries keeps
        // a nearly empty store from spinning.
        for _ in 0..n.saturating_mul(8).max(SHARDS) {
            if found.len() == n {
                break;
            }
            let guard = self.read(draw() as usize % SHARDS);
            let len = guard.table.len();
            if len == 0 {
                continue;
            }
            let start = draw() as usize % len;
            let fits = |r: &&Record| r.is_live_at(now_ms) && (!volatile_only || r.deadline_ms().is_some());
            let pick = guard.table.iter().skip(start).find(fits).or_else(|| guard.table.iter().take(start).find(fits));
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
