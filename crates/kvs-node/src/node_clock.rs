//! The node's clocks, as the shell reads them: a monotonic instant and the wall clock, the
//! latter shifted or stepped when fault injection asks (`--fault-clock-offset-ms`,
//! `--fault-clock-step`). Every clock read of a node goes through here.

use crate::core::Now;
use crate::faults::Faults;
use kvs_store::clock::wall_clock_ms;
use tokio::time::Instant;

/// The node's clocks, started with the node.
#[derive(Debug)]
pub(crate) struct NodeClock {
    /// How far the wall clock runs from the system's, in ms.
    offset_ms: i64,
    /// When the wall clock steps, and by how much.
    step: Option<(Instant, i64)>,
}

impl NodeClock {
    /// The clocks of a node starting now, under `faults`.
    pub(crate) fn new(faults: &Faults) -> Self {
        let step = faults.clock_step.map(|step| (Instant::now() + step.after, step.delta_ms));
        NodeClock { offset_ms: faults.clock_offset_ms, step }
    }

    /// Now, for the core: both clocks (a simulator's in simulation).
    pub(crate) fn now(&self) -> Now {
        let at = Instant::now();
        let step = match self.step {
            Some((when, delta_ms)) if at >= when => delta_ms,
            _ => 0,
        };
        Now { at, wall_ms: wall_clock_ms().saturating_add_signed(self.offset_ms + step) }
    }

    /// The wall clock alone (one clock read, not two): what a client's command needs.
    pub(crate) fn wall_ms(&self) -> u64 {
        match self.step {
            Some(_) => self.now().wall_ms,
            None => wall_clock_ms().saturating_add_signed(self.offset_ms),
        }
    }
}
