//! Replication lag as the pushes arrive: from a write's version on its origin to its being
//! applied here, for the cluster page's charts.
//!
//! Measured on the receiving side because only it knows when a write became readable here. The
//! two ends are different clocks: the figure carries their offset, which the node bounds
//! (`--max-clock-skew-ms`) and reports; a negative difference (the origin's clock ahead) counts
//! as no lag.

use std::sync::atomic::{AtomicU64, Ordering};

/// The longest lag of the pushes applied since it was last taken (what the chart draws; one
/// atomic per push applied).
#[derive(Debug, Default)]
pub(crate) struct LagMeter {
    max_ms: AtomicU64,
}

impl LagMeter {
    /// A push whose oldest write was made at `written_ms` was applied at `applied_ms`.
    pub(crate) fn note(&self, written_ms: u64, applied_ms: u64) {
        self.max_ms.fetch_max(applied_ms.saturating_sub(written_ms), Ordering::Relaxed);
    }

    /// The longest lag since the last call (0 if no push arrived), starting the next step.
    pub(crate) fn take(&self) -> u64 {
        self.max_ms.swap(0, Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_step_reports_its_longest_lag_then_starts_over() {
        let meter = LagMeter::default();
        assert_eq!(meter.take(), 0);
        meter.note(1_000, 1_004);
        meter.note(2_000, 2_010);
        // The origin's clock ahead of ours: no lag, not a wrapped one.
        meter.note(3_005, 3_000);
        assert_eq!(meter.take(), 10);
        assert_eq!(meter.take(), 0);
    }
}
