//! Commands this node forwarded to a slot's owner for its Redis clients (see
//! docs/partitioning.md, "Forwarding for plain clients"), and the ones peers forward to it.
//!
//! An answer is taken only from the member the request went to, and only once: a member cannot
//! answer for another, nor reply to a command it was never sent.

use super::{lock, Core, Effect, Outgoing};
use crate::stats::bump;
use bytes::Bytes;
use kvs_proto::peer::ForwardedCommand;
use kvs_proto::NodeId;
use std::collections::HashMap;

/// Forwards awaiting an answer, at most; past it a client is told to try again.
pub(crate) const MAX_FORWARDS_IN_FLIGHT: usize = 4096;

/// The forwards awaiting an answer, by request id, with the member each went to.
#[derive(Debug, Default)]
pub(crate) struct ForwardsAsked {
    next: u64,
    asked: HashMap<u64, NodeId>,
}

impl Core {
    /// A forward of `command` to `to`: its request id and the message to send, or `None` when
    /// [`MAX_FORWARDS_IN_FLIGHT`] are already awaiting answers.
    pub(crate) fn forward(&self, to: NodeId, command: ForwardedCommand) -> Option<(u64, Outgoing)> {
        let mut forwards = lock(&self.forwards);
        if forwards.asked.len() >= MAX_FORWARDS_IN_FLIGHT {
            return None;
        }
        forwards.next += 1;
        let id = forwards.next;
        forwards.asked.insert(id, to);
        Some((id, Outgoing::Forward { id, command }))
    }

    /// The forward `id` is answered or given up on: an answer arriving later is refused.
    pub(crate) fn forward_ended(&self, id: u64) {
        lock(&self.forwards).asked.remove(&id);
    }

    /// `from` answered the forward `id` with `reply`: handed to the waiting client if the request
    /// went to `from` and awaits an answer, else refused.
    pub(super) fn forward_answered(&self, from: NodeId, id: u64, reply: Bytes) -> Vec<Effect> {
        let mut forwards = lock(&self.forwards);
        if forwards.asked.get(&id) != Some(&from) {
            tracing::warn!(peer = %from, id, "refusing an answer to a forward not asked of it");
            bump(&self.stats.peer_messages_refused, 1);
            return Vec::new();
        }
        forwards.asked.remove(&id);
        vec![Effect::ForwardAnswered { id, reply }]
    }
}
