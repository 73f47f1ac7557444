//! `maxmemory`: a limit on the live data a node holds, and what a write past it does: evict keys
//! by a Redis policy, or be refused with -OOM.
//!
//! The limit is on the store's own accounting of live records ([`kvs_store::Store::live_bytes`]:
//! keys, values and a fixed overhead per key), checked before every command that may grow the
//! data, as Redis checks before each `denyoom` command. Tombstones are not counted: an eviction
//! is replicated as a tombstone (below), so counting them would make evicting a small key grow
//! the count; they are reported beside it and purged after `--tombstone-grace`.
//!
//! An eviction is a write like a DEL, through the core, logged and pushed to every peer, so all
//! nodes hold the same data; but it removes exactly the write it chose
//! ([`kvs_store::Record::evicted`]): a write made on another node after that one, concurrent
//! with the eviction, beats it everywhere, so an eviction never loses a write someone just made.
//! A node evicts only once every member can decode an eviction (the cluster feature `eviction`);
//! before that a node over its limit refuses growing writes with -OOM.
//!
//! Candidates are sampled as Redis samples them (`maxmemory-samples` keys, the best of them by
//! the policy evicted), with the access state of [`kvs_store::access`] for LRU and LFU. This file
//! holds the limit and the policies; `eviction` makes room on the node.

use kvs_store::access::{self, Tracking};
use kvs_store::Record;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicU8, Ordering};

/// What a write past the limit does (Redis's `maxmemory-policy`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    /// Refuse it with -OOM.
    NoEviction,
    /// Evict the least recently used of a sample of all keys.
    AllKeysLru,
    /// Evict the least frequently used of a sample of all keys.
    AllKeysLfu,
    /// Evict a random key.
    AllKeysRandom,
    /// Evict the least recently used of a sample of keys with a deadline.
    VolatileLru,
    /// Evict the least frequently used of a sample of keys with a deadline.
    VolatileLfu,
    /// Evict a random key with a deadline.
    VolatileRandom,
    /// Evict the key with the nearest deadline of a sample.
    VolatileTtl,
}

const POLICIES: [(Policy, &str); 8] = [
    (Policy::NoEviction, "noeviction"),
    (Policy::AllKeysLru, "allkeys-lru"),
    (Policy::AllKeysLfu, "allkeys-lfu"),
    (Policy::AllKeysRandom, "allkeys-random"),
    (Policy::VolatileLru, "volatile-lru"),
    (Policy::VolatileLfu, "volatile-lfu"),
    (Policy::VolatileRandom, "volatile-random"),
    (Policy::VolatileTtl, "volatile-ttl"),
];

impl Policy {
    /// The policy named `text` (Redis's names).
    pub fn parse(text: &str) -> Result<Policy, String> {
        POLICIES
            .iter()
            .find(|(_, name)| name.eq_ignore_ascii_case(text))
            .map(|(policy, _)| *policy)
            .ok_or_else(|| format!("'{text}' is not a maxmemory policy (noeviction, allkeys-lru, volatile-ttl, ...)"))
    }

    /// Its Redis name.
    pub fn name(self) -> &'static str {
        POLICIES.iter().find(|(policy, _)| *policy == self).map_or("noeviction", |(_, name)| name)
    }

    pub(crate) fn volatile_only(self) -> bool {
        matches!(self, Policy::VolatileLru | Policy::VolatileLfu | Policy::VolatileRandom | Policy::VolatileTtl)
    }

    /// What the records' access bits must track for it.
    pub fn tracking(self) -> Tracking {
        match self {
            Policy::AllKeysLfu | Policy::VolatileLfu => Tracking::Frequency,
            _ => Tracking::Recency,
        }
    }

    /// How strongly `record` asks to be evicted: the sample's highest goes.
    pub(crate) fn score(self, record: &Record, draw: u64) -> u64 {
        match self {
            Policy::AllKeysLru | Policy::VolatileLru => access::idle_seconds(record.access_state()),
            Policy::AllKeysLfu | Policy::VolatileLfu => 255 - u64::from(access::frequency(record.access_state())),
            Policy::VolatileTtl => u64::MAX - record.deadline_ms().unwrap_or(u64::MAX),
            Policy::AllKeysRandom | Policy::VolatileRandom | Policy::NoEviction => draw,
        }
    }
}

/// A write refused because the node is over its memory limit and could not evict.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutOfMemory;

impl OutOfMemory {
    /// Redis's answer.
    pub const MESSAGE: &'static str = "OOM command not allowed when used memory > 'maxmemory'.";
}

/// Evictions one command may make before it gives up and is refused: the time it may take is
/// bounded, as Redis bounds its eviction loop.
pub(crate) const MAX_EVICTIONS_PER_WRITE: usize = 1_024;

/// The limit, its policy, and what it did.
#[derive(Debug)]
pub struct MemoryLimit {
    max_bytes: AtomicU64,
    policy: AtomicU8,
    samples: AtomicU32,
    pub(crate) evicted: AtomicU64,
    draws: AtomicU64,
}

impl MemoryLimit {
    /// The limit the node starts with (`--maxmemory`, `--maxmemory-policy`, `--maxmemory-samples`).
    pub fn new((max_bytes, policy, samples): (u64, Policy, u32)) -> MemoryLimit {
        let limit = MemoryLimit {
            max_bytes: AtomicU64::new(max_bytes),
            policy: AtomicU8::new(0),
            samples: AtomicU32::new(samples),
            evicted: AtomicU64::new(0),
            draws: AtomicU64::new(0x2545_f491_4f6c_dd1d),
        };
        limit.set_policy(policy);
        limit
    }

    /// The limit in bytes (0: none).
    pub fn max_bytes(&self) -> u64 {
        self.max_bytes.load(Ordering::Relaxed)
    }

    /// Sets the limit (CONFIG SET maxmemory).
    pub fn set_max_bytes(&self, bytes: u64) {
        self.max_bytes.store(bytes, Ordering::Relaxed);
    }

    /// The policy.
    pub fn policy(&self) -> Policy {
        POLICIES[self.policy.load(Ordering::Relaxed) as usize].0
    }

    /// Sets the policy (CONFIG SET maxmemory-policy); the access bits follow its family.
    pub fn set_policy(&self, policy: Policy) {
        let at = POLICIES.iter().position(|(p, _)| *p == policy).unwrap_or(0);
        self.policy.store(at as u8, Ordering::Relaxed);
        access::set_tracking(policy.tracking());
    }

    /// Keys sampled per eviction.
    pub fn samples(&self) -> u32 {
        self.samples.load(Ordering::Relaxed)
    }

    /// Sets the sample size (CONFIG SET maxmemory-samples).
    pub fn set_samples(&self, samples: u32) {
        self.samples.store(samples.clamp(1, 64), Ordering::Relaxed);
    }

    /// Keys this node evicted.
    pub fn evicted(&self) -> u64 {
        self.evicted.load(Ordering::Relaxed)
    }

    /// A random number (xorshift over a shared state: races only repeat a draw).
    pub(crate) fn draw(&self) -> u64 {
        let mut x = self.draws.load(Ordering::Relaxed);
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.draws.store(x, Ordering::Relaxed);
        x
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_policy_has_its_redis_name() {
        for (policy, name) in POLICIES {
            assert_eq!((Policy::parse(name), policy.name()), (Ok(policy), name));
        }
        assert_eq!(Policy::parse("ALLKEYS-LRU"), Ok(Policy::AllKeysLru));
        assert!(Policy::parse("lru").is_err());
    }
}
