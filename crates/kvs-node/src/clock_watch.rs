//! This node's wall clock, and its watch over its peers' clocks: whether ours is the wrong one.

use crate::clock_offsets::ClockOffsets;
use kvs_proto::{ClockSample, NodeId};
use kvs_store::clock::wall_clock_ms;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

/// The node's wall clock and its peers' measured offsets.
#[derive(Debug)]
pub struct ClockWatch {
    /// How far this node's wall clock runs from the system's (`--fault-clock-offset-ms`, tests).
    offset_ms: i64,
    /// `--max-clock-skew-ms`.
    bound_ms: i64,
    /// Peers' clock offsets, measured from gossip round trips. Std mutex: never held across an await.
    offsets: Mutex<ClockOffsets>,
    /// Our clock's offset from our peers', refreshed on every gossip received and every
    /// heartbeat; read on every write, hence an atomic.
    skew_ms: AtomicI64,
}

impl ClockWatch {
    /// A watch for a node whose clock runs `offset_ms` off the system's, judged against
    /// `bound_ms`, counting estimates for `fresh_for`.
    pub fn new(offset_ms: i64, bound_ms: u64, fresh_for: Duration) -> Self {
        ClockWatch {
            offset_ms,
            bound_ms: bound_ms as i64,
            offsets: Mutex::new(ClockOffsets::new(fresh_for)),
            skew_ms: AtomicI64::new(0),
        }
    }

    fn offsets(&self) -> std::sync::MutexGuard<'_, ClockOffsets> {
        self.offsets.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// This node's wall clock, ms since the Unix epoch: the system's (or a simulator's), shifted
    /// in tests. Every wall-time input of the node is read here.
    pub fn wall_ms(&self) -> u64 {
        wall_clock_ms().saturating_add_signed(self.offset_ms)
    }

    /// The clock sample to put in our next gossip to `peer`.
    pub fn sample_for(&self, peer: NodeId) -> ClockSample {
        self.offsets().sample_for(peer, self.wall_ms())
    }

    /// Takes the clock sample of a gossip message from `from`, then re-judges our clock against
    /// the `alive` peers.
    pub fn received(&self, from: NodeId, sample: ClockSample, alive: usize) {
        self.offsets().received(from, sample, self.wall_ms(), Instant::now());
        self.check(alive);
    }

    /// Re-estimates our clock's offset from the `alive` peers', logging when it crosses the bound.
    pub fn check(&self, alive: usize) {
        let Some(skew) = self.offsets().own_skew(Instant::now(), alive) else { return };
        let before = self.skew_ms.swap(skew, Ordering::Relaxed);
        match (before.abs() > self.bound_ms, skew.abs() > self.bound_ms) {
            (false, true) => {
                let why = skew_message(skew, self.bound_ms);
                tracing::error!("{why}; refusing client writes until it is corrected")
            }
            (true, false) => tracing::info!(skew_ms = skew, "this node's clock is back within the skew bound"),
            _ => {}
        }
    }

    /// Forgets a peer that left or was replaced.
    pub fn forget(&self, peer: NodeId) {
        self.offsets().forget(peer);
    }

    /// Our clock minus our peers', in ms.
    pub fn skew_ms(&self) -> i64 {
        self.skew_ms.load(Ordering::Relaxed)
    }

    /// `peer`'s clock minus ours, in ms, if measured recently.
    pub fn offset_of(&self, peer: NodeId) -> Option<i64> {
        self.offsets().offset_of(peer, Instant::now())
    }

    /// Why our clock makes us refuse writes, if it does.
    pub fn problem(&self) -> Option<String> {
        let skew = self.skew_ms();
        (skew.abs() > self.bound_ms).then(|| skew_message(skew, self.bound_ms))
    }
}

/// "this node's clock is 300 s ahead of its peers …", for errors, logs and status.
fn skew_message(skew_ms: i64, bound_ms: i64) -> String {
    let direction = if skew_ms > 0 { "ahead of" } else { "behind" };
    let (secs, bound) = ((skew_ms.abs() + 500) / 1000, bound_ms as f64 / 1000.0);
    format!("this node's clock is {secs} s {direction} its peers (the bound is {bound} s, --max-clock-skew-ms)")
}
