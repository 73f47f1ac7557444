//! The anti-entropy and tombstone-purge timers: ticks fed to the core, whose
//! [`anti_entropy_rounds`](crate::core::anti_entropy_rounds) decide whom to ask. The exchange
//! itself (request, delta, completion) is carried by the peer tasks; see `peer_task` and
//! `peer_inbound`.

use crate::shell::Shell;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::{interval, MissedTickBehavior};

/// Runs a round every anti-entropy interval, and at once when `PeerLinks::kick_anti_entropy` is
/// called.
pub(crate) async fn run(shell: Arc<Shell>) {
    let mut ticks = interval(shell.config.anti_entropy_interval);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shell.shutdown_started() => return,
            _ = ticks.tick() => {}
            _ = shell.peers.anti_entropy_kicked() => {}
        }
        let effects = shell.core.anti_entropy_round(shell.now(), |peer| shell.peers.connection(peer));
        shell.execute_control(effects);
        // Records of slots handed to their owners: dropped once the owners say they hold them.
        let effects = shell.core.hand_off();
        shell.execute_control(effects);
    }
}

/// Purges tombstones past the grace period, checking a few times per grace period.
pub(crate) async fn purge_tombstones(shell: Arc<Shell>) {
    let grace = shell.config.tombstone_grace.min(shell.config.eviction_grace);
    let mut ticks = interval((grace / 4).clamp(Duration::from_millis(100), Duration::from_secs(60)));
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shell.shutdown_started() => return,
            _ = ticks.tick() => {}
        }
        let purged = shell.core.purge_tombstones(shell.now());
        if purged > 0 {
            tracing::debug!(purged, "purged tombstones past the grace period");
        }
    }
}
