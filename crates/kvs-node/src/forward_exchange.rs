//! Forwarding a Redis command to a slot's owner and answering one (see [`crate::forwarding`]).

use crate::core::Outgoing;
use crate::forwarding::{NotForwarded, TRY_AGAIN};
use crate::shell::Shell;
use crate::stats::bump;
use bytes::Bytes;
use kvs_proto::peer::ForwardedCommand;
use kvs_proto::NodeId;
use tokio::sync::oneshot;
use tokio::time::Instant;

/// A forward sent, awaiting its answer; dropped (answered, timed out, or with its connection),
/// it ends: a late answer is then refused.
pub(crate) struct Asked<'a> {
    shell: &'a Shell,
    id: u64,
    answered: oneshot::Receiver<Bytes>,
    deadline: Instant,
}

impl Drop for Asked<'_> {
    fn drop(&mut self) {
        self.shell.forwarding.waiting().remove(&self.id);
        self.shell.core.forward_ended(self.id);
    }
}

impl Asked<'_> {
    /// The owner's reply, once it comes, or why none will.
    pub(crate) async fn answer(mut self) -> Result<Bytes, NotForwarded> {
        let answer = match tokio::time::timeout_at(self.deadline, &mut self.answered).await {
            Ok(Ok(reply)) => Ok(reply),
            Ok(Err(_)) => Err(NotForwarded::Unreachable),
            Err(_) => Err(NotForwarded::TimedOut),
        };
        let stats = &self.shell.forwarding.stats;
        bump(if answer.is_ok() { &stats.answered } else { &stats.failed }, 1);
        answer
    }
}

impl Shell {
    /// Sends `command` to the member `to` (an owner of its slot) to run; its reply is awaited
    /// with [`Asked::answer`], within the peer write timeout from now.
    pub(crate) async fn ask_forward(&self, to: NodeId, command: ForwardedCommand) -> Result<Asked<'_>, NotForwarded> {
        let deadline = Instant::now() + self.config.peer_write_timeout;
        let failed = || bump(&self.forwarding.stats.failed, 1);
        let Some(link) = self.peers.forwards_to(to) else {
            failed();
            return Err(NotForwarded::Unreachable);
        };
        let Some((id, message)) = self.core.forward(to, command) else {
            failed();
            return Err(NotForwarded::Unreachable);
        };
        let (answer, answered) = oneshot::channel();
        self.forwarding.waiting().insert(id, answer);
        let asked = Asked { shell: self, id, answered, deadline };
        match tokio::time::timeout_at(deadline, link.send(message)).await {
            Ok(Ok(())) => Ok(asked),
            _ => {
                failed();
                Err(NotForwarded::Unreachable)
            }
        }
    }

    /// Runs `command` on the member `to` and returns its reply.
    pub(crate) async fn forward(&self, to: NodeId, command: ForwardedCommand) -> Result<Bytes, NotForwarded> {
        self.ask_forward(to, command).await?.answer().await
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
