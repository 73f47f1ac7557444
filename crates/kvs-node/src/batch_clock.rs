//! The time the requests of one batch (what one read of a client's socket brought) run at.

use crate::shell::Shell;

/// The time requests of one batch run at, read once for the batch.
///
/// Pipelined requests arriving together take microseconds, so one clock read serves them all,
/// as Redis freezes time for the commands of a transaction; a command that takes long (DEBUG
/// SLEEP) makes the next read the clock again. Both client protocols use it: a read of the
/// clock per request was 4% of a pipelined GET's CPU.
#[derive(Debug, Default)]
pub struct BatchClock(std::cell::Cell<Option<u64>>);

impl BatchClock {
    /// The batch's time (Unix milliseconds), read from the node's clock on first use.
    pub(crate) fn now_ms(&self, shell: &Shell) -> u64 {
        match self.0.get() {
            Some(ms) => ms,
            None => {
                let ms = shell.wall_ms();
                self.0.set(Some(ms));
                ms
            }
        }
    }

    /// Time passed: the next request reads the clock again.
    pub fn advance(&self) {
        self.0.set(None);
    }
}
