//! Takes the node's history samples (see [`crate::history`]) every `--history-step-ms`.

use crate::shell::Shell;
use kvs_proto::HistorySample;
use std::sync::Arc;
use tokio::time::{interval, MissedTickBehavior};

/// Samples the node every `--history-step-ms` until it shuts down.
pub(crate) async fn keep(shell: Arc<Shell>) {
    let mut ticks = interval(shell.config.history_step);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shell.shutdown_started() => return,
            _ = ticks.tick() => {}
        }
        shell.history.record(sample(&shell));
    }
}

/// The node's counters now.
fn sample(shell: &Shell) -> HistorySample {
    let store = shell.store();
    let stats = shell.core.stats().snapshot();
    HistorySample {
        at_ms: shell.wall_ms(),
        writes: shell.core.last_write(),
        reads: shell.requests.reads(),
        keys: store.live_count(),
        memory_bytes: store.live_bytes() + store.tombstone_bytes(),
        anti_entropy_bytes: stats.anti_entropy_bytes_sent + stats.anti_entropy_bytes_received,
        lag_ms_max: shell.core.replication_lag.take(),
        applied: shell.core.cursors().into_iter().map(|(origin, seq)| (origin.to_string(), seq)).collect(),
    }
}
