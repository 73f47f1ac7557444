//! Whether this node's clock is the wrong one: its peers' measured offsets, judged against the
//! skew bound. Pure logic; the wall time comes in with every call.

use super::clock_offsets::ClockOffsets;
use super::Now;
use kvs_proto::{ClockSample, NodeId};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

/// Peers' measured offsets and the verdict on our own clock.
#[derive(Debug)]
pub(crate) struct ClockVerdict {
    /// `--max-clock-skew-ms`.
    bound_ms: i64,
    /// Peers' clock offsets, measured from ping round trips. Std mutex: never held across an await.
    offsets: Mutex<ClockOffsets>,
    /// Our clock's offset from our peers', refreshed on every ping received and every
    /// heartbeat; read on every write, hence an atomic.
    skew_ms: AtomicI64,
}

impl ClockVerdict {
    /// A verdict judged against `bound_ms`, counting estimates for `fresh_for`.
    pub(crate) fn new(bound_ms: u64, fresh_for: Duration) -> Self {
        ClockVerdict {
            bound_ms: bound_ms as i64,
            offsets: Mutex::new(ClockOffsets::new(fresh_for)),
            skew_ms: AtomicI64::new(0),
        }
    }

    fn offsets(&self) -> MutexGuard<'_, ClockOffsets> {
        self.offsets.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The clock sample to put in our next ping to `peer`.
    pub(crate) fn sample_for(&self, peer: NodeId, now: Now) -> ClockSample {
        self.offsets().sample_for(peer, now.wall_ms)
    }

    /// Takes the clock sample of a ping from `from`, then re-judges our clock against
    /// the `alive` peers.
    pub(crate) fn received(&self, from: NodeId, sample: ClockSample, now: Now, alive: usize) {
        self.offsets().received(from, sample, now.wall_ms, now.at);
        self.judge(now, alive);
    }

    /// Re-estimates our clock's offset from the `alive` peers', logging when it crosses the bound.
    pub(crate) fn judge(&self, now: Now, alive: usize) {
        let Some(skew) = self.offsets().own_skew(now.at, alive) else { return };
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
    pub(crate) fn forget(&self, peer: NodeId) {
        self.offsets().forget(peer);
    }

    /// Our clock minus our peers', in ms.
    pub(crate) fn skew_ms(&self) -> i64 {
        self.skew_ms.load(Ordering::Relaxed)
    }

    /// `peer`'s clock minus ours, in ms, if measured recently.
    pub(crate) fn offset_of(&self, peer: NodeId, now: Now) -> Option<i64> {
        self.offsets().offset_of(peer, now.at)
    }

    /// The wall time peers' versions are bounded against: ours, or, once we have judged our
    /// clock to be behind the others' past the bound, our estimate of theirs. The bound on
    /// versions "from the future" guards against a node that runs ahead; a node that lags must
    /// still take the majority's writes, or it would serve reads with nothing for as long as its
    /// clock is wrong (its own writes stay refused meanwhile).
    pub(crate) fn peers_wall_ms(&self, now: Now) -> u64 {
        let skew = self.skew_ms();
        match skew < -self.bound_ms {
            true => now.wall_ms.saturating_add(skew.unsigned_abs()),
            false => now.wall_ms,
        }
    }

    /// Why our clock makes us refuse writes, if it does.
    pub(crate) fn problem(&self) -> Option<String> {
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
