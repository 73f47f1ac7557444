//! The node's recent past: a sample of its counters every step (`--history-step-ms`, 5 s), ten
//! minutes of them, which the cluster page draws (`ClientRequest::History`, and `/history`).
//!
//! Kept by every node for itself, so a page opened on any member draws the last ten minutes of
//! all of them at once, and a member that restarted simply starts a new line. The samples are
//! taken by [`crate::history_sampler`].

use kvs_proto::HistorySample;
use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

/// How far back the samples reach.
pub(crate) const SPAN: Duration = Duration::from_secs(600);

/// Most samples kept, whatever the step: a short step (tests use one) cannot grow the buffer.
pub(crate) const MAX_SAMPLES: usize = 1_200;

/// The samples of the last [`SPAN`], oldest first.
#[derive(Debug)]
pub(crate) struct History {
    samples: Mutex<VecDeque<HistorySample>>,
    capacity: usize,
}

impl History {
    /// Room for [`SPAN`] of samples taken every `step`.
    pub(crate) fn new(step: Duration) -> Self {
        let capacity = (SPAN.as_millis() / step.as_millis().max(1)) as usize + 1;
        let capacity = capacity.clamp(2, MAX_SAMPLES);
        History { samples: Mutex::new(VecDeque::with_capacity(capacity)), capacity }
    }

    /// Keeps `sample`, forgetting the oldest once full.
    pub(crate) fn record(&self, sample: HistorySample) {
        let mut samples = self.samples.lock().unwrap_or_else(|p| p.into_inner());
        if samples.len() == self.capacity {
            samples.pop_front();
        }
        samples.push_back(sample);
    }

    /// Every sample kept, oldest first.
    pub(crate) fn samples(&self) -> Vec<HistorySample> {
        self.samples.lock().unwrap_or_else(|p| p.into_inner()).iter().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ten_minutes_of_samples_are_kept_and_no_more() {
        let history = History::new(Duration::from_secs(5));
        for at_ms in 0..200 {
            history.record(HistorySample { at_ms, ..Default::default() });
        }
        let samples = history.samples();
        assert_eq!(samples.len(), 121, "600 s of 5 s steps, both ends included");
        assert_eq!((samples[0].at_ms, samples[120].at_ms), (79, 199), "oldest first, the oldest gone");
        assert_eq!(History::new(Duration::from_millis(1)).capacity, MAX_SAMPLES);
    }
}
