//! Commands this node forwarded to a slot's owner for its Redis clients (see
//! docs/partitioning.md, "Forwarding for plain clients"), and the ones peers forward to it.
//!
//! An answer is taken only from the member the request went to, and only once: a member cannot
//! answer for another, nor reply to a command it was never sent.

use super::{lock, Core, Effect, Outgoing, Peer};
use crate::stats::bump;
use bytes::Bytes;
use kvs_proto::peer::ForwardedCommand;
use kvs_proto::NodeId;
use std::collections::HashMap;

/// Forwards awaiting an answer, at most; past it a client is told to try again.
pub(crate) const MAX_FORWARDS_IN_FLIGHT: usize = 4096;

/// The forwards awaiting an answer, by request id, with the member each went to; and the last
/// forward run for each peer's run.
#[derive(Debug, Default)]
pub(crate) struct ForwardsAsked {
    next: u64,
    asked: HashMap<u64, NodeId>,
    /// For each member, its current run (origin) and the newest request id of that run run
    /// here: a run's ids only grow, so a forward delivered twice (a duplicated frame) runs once.
    /// One entry per member, forgotten with it.
    ran: HashMap<NodeId, (NodeId, u64)>,
}

impl Core {
    /// A forward of `command` to `to`: numbers it and hands `enqueue` its id and message, both
    /// under one lock, so that forwards leave for each member in the order of their ids (what
    /// the receiver's duplicate check relies on); its id, or `None` when
    /// [`MAX_FORWARDS_IN_FLIGHT`] are already awaiting answers.
    pub(crate) fn forward(
        &self,
        to: NodeId,
        command: ForwardedCommand,
        enqueue: impl FnOnce(u64, Outgoing),
    ) -> Option<u64> {
        let mut forwards = lock(&self.forwards);
        if forwards.asked.len() >= MAX_FORWARDS_IN_FLIGHT {
            return None;
        }
        forwards.next += 1;
        let id = forwards.next;
        forwards.asked.insert(id, to);
        enqueue(id, Outgoing::Forward { id, command });
        Some(id)
    }

    /// The forward `id` is answered or given up on: an answer arriving later is refused.
    pub(crate) fn forward_ended(&self, id: u64) {
        lock(&self.forwards).asked.remove(&id);
    }

    /// `peer` forwards `command` as `id`: to run, unless a forward of its run with this id or a
    /// later one ran already (ids grow with each forward a member's run sends, and its forwards
    /// to us leave in order).
    pub(super) fn forward_received(&self, peer: Peer, id: u64, command: ForwardedCommand) -> Vec<Effect> {
        let mut forwards = lock(&self.forwards);
        let ran = forwards.ran.entry(peer.id).or_insert((peer.origin, 0));
        if ran.0 != peer.origin {
            *ran = (peer.origin, 0);
        }
        if id <= ran.1 {
            tracing::debug!(peer = %peer.id, id, "not running a forward again");
            return Vec::new();
        }
        ran.1 = id;
        vec![Effect::RunForwarded { from: peer.id, id, command }]
    }

    /// A member was forgotten: so is the last forward it had run here.
    pub(super) fn forget_forwards_of(&self, peer: NodeId) {
        lock(&self.forwards).ran.remove(&peer);
    }

    /// `from` answered the forward `id` with `reply`: handed to the waiting client if the request
    /// went to `from` and awaits an answer, else refused.
    pub(super) fn forward_answered(&self, from: NodeId, id: u64, reply: Bytes) -> Vec<Effect> {
        let mut forwards = lock(&self.forwards);
        match forwards.asked.get(&id) {
            Some(&asked) if asked == from => {}
            Some(_) => {
                tracing::warn!(peer = %from, id, "refusing an answer to a forward asked of another member");
                bump(&self.stats.peer_messages_refused, 1);
                return Vec::new();
            }
            None => {
                // Answered already (a duplicated frame), given up on, or never asked.
                tracing::debug!(peer = %from, id, "refusing an answer to no forward awaited");
                bump(&self.stats.peer_messages_refused, 1);
                return Vec::new();
            }
        }
        forwards.asked.remove(&id);
        vec![Effect::ForwardAnswered { id, reply }]
    }
}
