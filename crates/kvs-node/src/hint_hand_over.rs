//! The task that hands each owner that is back the hints this node kept for it as a stand-in
//! ([`crate::hints`]), and syncs the hint files.

use crate::core::Outgoing;
use crate::peer_links::PeerCommand;
use crate::shell::Shell;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::{interval, Instant, MissedTickBehavior};

/// How often hints are offered to owners that are back, and their files synced.
const HAND_OVER_EVERY: Duration = Duration::from_millis(500);

/// Hands each owner that is back the hints kept for it, a batch at a time, each answered before
/// the next; syncs the hint files.
pub(crate) async fn run(shell: Arc<Shell>) {
    let mut ticks = interval(HAND_OVER_EVERY);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shell.shutdown_started() => return,
            _ = ticks.tick() => {}
        }
        let hints = &shell.hints;
        hints.sync();
        let now = Instant::now();
        let layout = shell.core.layout();
        for owner in hints.owners() {
            if layout.as_ref().is_some_and(|layout| !layout.members.iter().any(|member| member.node == owner)) {
                hints.forget(owner);
                continue;
            }
            if !shell.core.member_alive(owner, shell.now().at) {
                continue;
            }
            if let Some((id, entries)) = hints.next_batch(owner, shell.config.max_batch_bytes, now) {
                tracing::debug!(%owner, id, hints = entries.len(), "handing over hints");
                if !shell.peers.command(owner, PeerCommand::Send(Outgoing::Hints { id, entries })) {
                    hints.withdraw(owner, id);
                }
            }
        }
    }
}
