//! Forwarding a Redis command to a slot's owner and answering one (see [`crate::forwarding`]).

use crate::core::Effect;
use crate::core::Outgoing;
use crate::forwarding::{NotForwarded, Request, TRY_AGAIN};
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
    /// Its room among the forwards awaiting answers.
    _room: tokio::sync::SemaphorePermit<'a>,
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
        let Ok(Ok(in_flight)) = tokio::time::timeout_at(deadline, self.forwarding.in_flight.acquire()).await else {
            failed();
            return Err(NotForwarded::Unreachable);
        };
        // Room first, then the number: numbered and queued at once, forwards leave in order.
        let Ok(Ok(room)) = tokio::time::timeout_at(deadline, link.reserve()).await else {
            failed();
            return Err(NotForwarded::Unreachable);
        };
        let (answer, answered) = oneshot::channel();
        let numbered = self.core.forward(to, command, |id, message| {
            // Awaited before the message can be answered.
            self.forwarding.waiting().insert(id, answer);
            room.send(message);
        });
        let Some(id) = numbered else {
            failed();
            return Err(NotForwarded::Unreachable);
        };
        Ok(Asked { shell: self, _room: in_flight, id, answered, deadline })
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

    /// Queues the commands members forwarded in `effects` to run, waiting for room (so a member
    /// that forwards faster than this node runs them is slowed, not refused); the other effects.
    pub(crate) async fn queue_forwarded(&self, effects: Vec<Effect>) -> Vec<Effect> {
        if !effects.iter().any(|effect| matches!(effect, Effect::RunForwarded { .. })) {
            return effects;
        }
        let mut rest = Vec::with_capacity(effects.len());
        for effect in effects {
            match effect {
                Effect::RunForwarded { from, id, command } => {
                    let request = Request { from, id, command };
                    if self.redis_addr.is_none() || self.forwarding.queue_waiting(request).await.is_err() {
                        self.refuse_forward(from, id);
                    }
                }
                effect => rest.push(effect),
            }
        }
        rest
    }

    /// Answers a forward at once, without running it (the queue of forwarded commands is full).
    pub(crate) fn refuse_forward(&self, from: NodeId, id: u64) {
        let reply = Bytes::from(format!("-{TRY_AGAIN}\r\n"));
        if let Some(link) = self.peers.forwards_to(from) {
            let _ = link.try_send(Outgoing::Forwarded { id, reply });
        }
    }
}
