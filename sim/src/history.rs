//! The story of a run: what happened when, in simulated time, printed when a run fails.

use std::sync::{Arc, Mutex};

/// The story of a run, printed when it fails.
#[derive(Clone, Default)]
pub struct History(Arc<Mutex<Vec<String>>>);

impl History {
    /// Notes an event at the current simulated time.
    pub fn note(&self, event: impl Into<String>) {
        let at = turmoil::sim_elapsed().unwrap_or_default();
        self.0.lock().expect("history").push(format!("{:>9.3}s  {}", at.as_secs_f64(), event.into()));
    }

    /// Every event so far.
    pub fn lines(&self) -> Vec<String> {
        self.0.lock().expect("history").clone()
    }
}
