//! Replication lag as the pushes arrive: from a write's version on its origin to its being
//! applied here, for the cluster page's charts.
//!
//! Measured on the receiving side because only it knows when a write became readable here. The
//! two ends are different clocks: the figure carries their offset, which the node bounds
//! (`--max-clock-skew-ms`) and reports; a negative difference (the origin's clock ahead) counts
//! as no lag.

use std::sync::atomic::{AtomicU64, Ordering};

/// The longest and the total lag of the pushes applied since it was last taken.
#[derive(Debug, Default)]
pub(crate) struct LagMeter {
    max_ms: AtomicU64,
    sum_ms: AtomicU64,
    count: AtomicU64,
}

impl LagMeter {
    /// A push whose oldest write was made at `written_ms` was applied at `applied_ms`.
    pub(crate) fn note(&self, written_ms: u64, applied_ms: u64) {
        let lag = applied_ms.saturating_sub(written_ms);
        self.max_ms.fetch_max(lag, Ordering::Relaxed);
        self.sum_ms.fetch_add(lag, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    /// The longest and the mean lag since the last call (both 0 if no push arrived), starting
    /// the next step.
    pub(crate) fn take(&self) -> (u64, u64) {
        let max = self.max_ms.swap(0, Ordering::Relaxed);
        let sum = self.sum_ms.swap(0, Ordering::Relaxed);
        let count = self.count.swap(0, Ordering::Relaxed);
        (max, sum.checked_div(count).unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_step_reports_its_longest_and_mean_lag_then_starts_over() {
        let meter = LagMeter::default();
        assert_eq!(meter.take(), (0, 0));
        meter.note(1_000, 1_004);
        meter.note(2_000, 2_010);
        // The origin's clock ahead of ours: no lag, not a wrapped one.
        meter.note(3_005, 3_000);
        assert_eq!(meter.take(), (10, 14 / 3));
        assert_eq!(meter.take(), (0, 0));
    }
}
