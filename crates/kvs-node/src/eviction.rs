//! Making room under `maxmemory` before a command that may grow the data: evicting by the policy
//! through the node's write path (a string, counter or HyperLogLog by an eviction tombstone, a
//! hash, set or sorted set by a DEL of what this node holds of it), or refusing (see
//! `memory_limit` for the rules).

use crate::memory_limit::{OutOfMemory, Policy, MAX_EVICTIONS_PER_WRITE};
use crate::shell::Shell;
use kvs_proto::features::EVICTION;
use kvs_store::local::{Decision, Holds};
use kvs_store::log::Room;
use std::sync::atomic::Ordering;

impl Shell {
    /// Makes room for a command that may grow the data: nothing to do under the limit; past
    /// it, evicts keys by the policy until the data fits, or refuses.
    pub(crate) fn make_room(&self) -> Result<(), OutOfMemory> {
        let limit = &self.memory_limit;
        let max = limit.max_bytes();
        let store = self.store();
        if max == 0 || store.live_bytes() <= max {
            return Ok(());
        }
        let policy = limit.policy();
        if policy == Policy::NoEviction || !self.core.is_open(EVICTION) {
            return Err(OutOfMemory);
        }
        for _ in 0..MAX_EVICTIONS_PER_WRITE {
            if store.live_bytes() <= max {
                return Ok(());
            }
            let now_ms = self.wall_ms();
            let sample = store.sample(limit.samples() as usize, policy.volatile_only(), now_ms, || limit.draw());
            let Some(victim) = sample.into_iter().max_by_key(|r| policy.score(r, limit.draw())) else {
                break;
            };
            let target = victim.eviction_target();
            let is_collection = victim.is_collection();
            let decide = |local: &kvs_store::local::Local<'_>| {
                // A collection goes as a DEL of it goes: what this node holds of it is
                // removed, an add made meanwhile elsewhere survives (as a write made after an
                // evicted value beats its eviction).
                let evicted = match is_collection {
                    true => match local.holds() {
                        Holds::Collection(found) => Some(local.collection_cleared(&found)),
                        _ => None,
                    },
                    false => local.evict(target),
                };
                match evicted {
                    Some(record) => Decision::Write(record, true),
                    None => Decision::Keep(false),
                }
            };
            // Its keyspace event is `evicted` here, however it is written (a collection's, as a DEL).
            let evicted = crate::running::during(crate::keyspace_events::events::EVICTING, 0, || {
                self.update(victim.key(), now_ms, &mut Room::default(), None, decide)
            });
            match evicted {
                Ok((_, true)) => {
                    limit.evicted.fetch_add(1, Ordering::Relaxed);
                }
                Ok((_, false)) => {}
                Err(_) => break,
            }
        }
        if store.live_bytes() <= max {
            return Ok(());
        }
        Err(OutOfMemory)
    }
}
