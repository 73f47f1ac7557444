//! Forwarding a Redis command to a slot's owner and answering one (see [`crate::forwarding`]).

use crate::core::Outgoing;
use crate::forwarding::{NotForwarded, TRY_AGAIN};
use crate::shell::Shell;
use crate::stats::bump;
use bytes::Bytes;
use kvs_proto::peer::ForwardedCommand;
use kvs_proto::NodeId;
use tokio::sync::oneshot;

/// Ends a forward however its session stops waiting (answered, timed out, or dropped with its
/// connection): a late answer is then refused.
struct Pending<'a> {
    shell: &'a Shell,
    id: u64,
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        self.shell.forwarding.waiting().remove(&self.id);
        self.shell.core.forward_ended(self.id);
    }
}

impl Shell {
    /// Runs `command` on the member `to` (an owner of its slot) and returns its reply.
    pub(crate) async fn forward(&self, to: NodeId, command: ForwardedCommand) -> Result<Bytes, NotForwarded> {
        let outcome = self.forward_once(to, command).await;
        let stats = &self.forwarding.stats;
        bump(if outcome.is_ok() { &stats.answered } else { &stats.failed }, 1);
        outcome
    }

    async fn forward_once(&self, to: NodeId, command: ForwardedCommand) -> Result<Bytes, NotForwarded> {
        let link = self.peers.forwards_to(to).ok_or(NotForwarded::Unreachable)?;
        let (id, message) = self.core.forward(to, command).ok_or(NotForwarded::Unreachable)?;
        let (answer, answered) = oneshot::channel();
        self.forwarding.waiting().insert(id, answer);
        let _pending = Pending { shell: self, id };
        let exchange = async {
            link.send(message).await.map_err(|_| NotForwarded::Unreachable)?;
            answered.await.map_err(|_| NotForwarded::Unreachable)
        };
        tokio::time::timeout(self.config.peer_write_timeout, exchange).await.unwrap_or(Err(NotForwarded::TimedOut))
    }

    /// Sends `from` the reply to the command it forwarded as `id`.
    pub(crate) async fn answer_forward(&self, from: NodeId, id: u64, reply: Bytes) {
        let Some(link) = self.peers.forwards_to(from) else {
            tracing::debug!(peer = %from, id, "cannot answer a forward: no link to its member");
            return;
        };
        let message = Outgoing::Forwarded { id, reply };
        if tokio::time::timeout(self.config.peer_write_timeout, link.send(message)).await.is_err() {
            tracing::debug!(peer = %from, id, "cannot answer a forward in time");
        }
    }

    /// Answers a forward at once, without running it (the queue of forwarded commands is full).
    pub(crate) fn refuse_forward(&self, from: NodeId, id: u64) {
        let reply = Bytes::from(format!("-{TRY_AGAIN}\r\n"));
        if let Some(link) = self.peers.forwards_to(from) {
            let _ = link.try_send(Outgoing::Forwarded { id, reply });
        }
    }
}
