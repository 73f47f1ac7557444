//! Hybrid logical clock: wall-clock milliseconds plus a logical counter.
//!
//! A local event takes `max(last, now)` and bumps the counter on ties, and receiving a remote
//! version moves `last` past it. So this node's versions never go backwards and a write that
//! causally follows another (seen here) always carries a larger version, whatever wall clocks say.

use kvs_proto::{NodeId, Version};
use std::sync::{Mutex, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};
use thiserror::Error;

/// Why a remote version was refused.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ClockError {
    /// The version is further ahead of our wall clock than the allowed skew; accepting it would
    /// drag every future version of this node (and the cluster) ahead with it.
    #[error("remote version {remote_ms} ms is {ahead_ms} ms ahead of local wall clock (max skew {max_skew_ms} ms)")]
    TooFarAhead {
        /// The remote wall time.
        remote_ms: u64,
        /// How far ahead of us it is.
        ahead_ms: u64,
        /// The configured bound.
        max_skew_ms: u64,
    },
}

/// Issues versions for one origin: one run of one node (see [`HybridClock::origin`]).
#[derive(Debug)]
pub struct HybridClock {
    origin: NodeId,
    max_skew_ms: u64,
    /// `(wall_ms, logical)` of the last version issued or observed. A std mutex: held for a few
    /// instructions and never across an await.
    last: Mutex<(u64, u32)>,
}

/// Where [`wall_clock_ms`] reads the time; the system clock unless a simulator set its own.
static WALL_CLOCK_SOURCE: OnceLock<fn() -> u64> = OnceLock::new();

/// For simulators: read wall time (ms since the Unix epoch) from `source` from now on, for the
/// whole process. Only the first call takes effect.
pub fn set_wall_clock_source(source: fn() -> u64) {
    let _ = WALL_CLOCK_SOURCE.set(source);
}

fn system_clock_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// Milliseconds since the Unix epoch by the system clock (or the simulator's).
pub fn wall_clock_ms() -> u64 {
    WALL_CLOCK_SOURCE.get().map_or_else(system_clock_ms, |source| source())
}

impl HybridClock {
    /// A clock for `origin` refusing remote versions more than `max_skew_ms` ahead.
    pub fn new(origin: NodeId, max_skew_ms: u64) -> Self {
        HybridClock { origin, max_skew_ms, last: Mutex::new((0, 0)) }
    }

    /// A clock resuming after `last`, e.g. the last version persisted before a restart.
    pub fn resume(origin: NodeId, max_skew_ms: u64, last: Version) -> Self {
        HybridClock { origin, max_skew_ms, last: Mutex::new((last.wall_ms, last.logical)) }
    }

    /// The origin this clock stamps versions for: the `node` of every version it issues, and the
    /// name under which anti-entropy counts these writes' sequence numbers.
    pub fn origin(&self) -> NodeId {
        self.origin
    }

    /// A fresh version for a local write at wall time `wall_ms`, strictly larger than any issued
    /// or observed before (the caller reads the wall clock, so this runs under a simulator too).
    pub(crate) fn now_at(&self, wall_ms: u64) -> Version {
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        *last = if wall_ms > last.0 {
            (wall_ms, 0)
        } else if last.1 == u32::MAX {
            (last.0 + 1, 0)
        } else {
            (last.0, last.1 + 1)
        };
        Version { wall_ms: last.0, logical: last.1, node: self.origin }
    }

    /// Advances the clock past a version received from another node, our wall clock reading
    /// `wall_ms`; refuses one too far ahead of it.
    pub(crate) fn observe_at(&self, remote: &Version, wall_ms: u64) -> Result<(), ClockError> {
        let ahead_ms = remote.wall_ms.saturating_sub(wall_ms);
        if ahead_ms > self.max_skew_ms {
            return Err(ClockError::TooFarAhead { remote_ms: remote.wall_ms, ahead_ms, max_skew_ms: self.max_skew_ms });
        }
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        let seen = (remote.wall_ms, remote.logical);
        if seen > *last {
            *last = seen;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_runs_backwards_when_the_wall_clock_does() {
        let clock = HybridClock::new(NodeId(1), 1000);
        let a = clock.now_at(100);
        let b = clock.now_at(50);
        let c = clock.now_at(50);
        assert!(a < b && b < c);
        assert_eq!(b.wall_ms, 100);
    }

    #[test]
    fn a_write_after_observing_a_remote_one_is_larger() {
        let clock = HybridClock::new(NodeId(1), 200);
        let remote = Version { wall_ms: 500, logical: 7, node: NodeId(2) };
        clock.observe_at(&remote, 100).unwrap_err();
        clock.observe_at(&remote, 400).unwrap();
        let local = clock.now_at(400);
        assert!(local > remote);
    }

    #[test]
    fn refuses_versions_beyond_the_skew_bound() {
        let clock = HybridClock::new(NodeId(1), 10);
        let remote = Version { wall_ms: 1_000, logical: 0, node: NodeId(2) };
        assert!(matches!(clock.observe_at(&remote, 100), Err(ClockError::TooFarAhead { .. })));
        assert!(clock.now_at(100).wall_ms < 1_000);
    }

    #[test]
    fn logical_overflow_moves_to_the_next_millisecond() {
        let clock = HybridClock::resume(NodeId(1), 10, Version { wall_ms: 5, logical: u32::MAX, node: NodeId(1) });
        assert_eq!(clock.now_at(5), Version { wall_ms: 6, logical: 0, node: NodeId(1) });
    }
}
