//! The active-expiry timer: reclaims keys past their deadline ten times a second, as Redis's
//! default `hz 10` does. Reads never return an expired key whether or not it was reclaimed.

use crate::shell::Shell;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::{interval, MissedTickBehavior};

/// How often expired keys are reclaimed.
const EXPIRY_INTERVAL: Duration = Duration::from_millis(100);

/// Reclaims expired keys every [`EXPIRY_INTERVAL`] unless `DEBUG SET-ACTIVE-EXPIRE 0` paused it.
pub(crate) async fn run(shell: Arc<Shell>) {
    let mut ticks = interval(EXPIRY_INTERVAL);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shell.shutdown_started() => return,
            _ = ticks.tick() => {}
        }
        shell.store().end_idle_export(shell.wall_ms());
        if shell.active_expiry.load(Ordering::Relaxed) {
            let observers = &shell.writes.observers;
            let expired = shell.core.expire(shell.now(), |record| observers.expired(record));
            if expired > 0 {
                tracing::trace!(expired, "reclaimed expired keys");
            }
        }
    }
}
