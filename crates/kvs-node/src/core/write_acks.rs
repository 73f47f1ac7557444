//! Both sides of WAIT: which peers have applied our writes, and which peers wait to hear that we
//! have applied theirs.
//!
//! A WAIT asks every alive peer "tell me once you have applied my writes up to n" (`AppliedAsk`,
//! sent after the pushes it covers, though on another queue of the connection, so it may overtake
//! them). A peer answers at once if its cursor for our origin is there, or else as soon as it gets
//! there (`Applied`). Nothing is sent when no one waits: a steady write load costs no extra frame.

use super::{lock, Core, Effect, Now, Outgoing, Peer};
use crate::stats::bump;
use kvs_proto::{NodeId, PeerMessage};
use std::collections::HashMap;

/// The tables behind WAIT; each holds at most one number per member.
#[derive(Debug, Default)]
pub(crate) struct WriteAcks {
    /// The newest of our current origin's writes each peer has said it applied.
    acked: HashMap<NodeId, u64>,
    /// The peers waiting for us to apply their writes, each up to the number it asked for.
    owed: HashMap<NodeId, u64>,
}

impl WriteAcks {
    /// `peer` applied our writes up to `upto`; whether that is news.
    fn acknowledged(&mut self, peer: NodeId, upto: u64) -> bool {
        let acked = self.acked.entry(peer).or_default();
        let news = upto > *acked;
        *acked = (*acked).max(upto);
        news
    }

    /// How many of `peers` have applied our writes up to `want`.
    fn count(&self, want: u64, peers: &[NodeId]) -> usize {
        peers.iter().filter(|peer| self.acked.get(peer).is_some_and(|&acked| acked >= want)).count()
    }

    /// `peer` waits for us to apply its writes up to `want`.
    fn asked(&mut self, peer: NodeId, want: u64) {
        let owed = self.owed.entry(peer).or_default();
        *owed = (*owed).max(want);
    }

    /// The asks our cursors now answer (`cursor_of` a peer: how far we applied its writes), each
    /// with how far we are, taken off the table.
    fn due(&mut self, cursor_of: impl Fn(NodeId) -> Option<u64>) -> Vec<(NodeId, u64)> {
        let mut due = Vec::new();
        self.owed.retain(|&peer, &mut want| match cursor_of(peer) {
            Some(cursor) if cursor >= want => {
                due.push((peer, cursor));
                false
            }
            _ => true,
        });
        due
    }

    /// A member was forgotten.
    pub(crate) fn forget(&mut self, peer: NodeId) {
        self.acked.remove(&peer);
        self.owed.remove(&peer);
    }
}

/// What a peer acknowledges having of our writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Held {
    /// Applied (WAIT).
    Applied,
    /// On disk in its log (WAITAOF).
    Synced,
}

impl Core {
    /// The number of our last write: what a WAIT waits for (every write made here before it, so
    /// every write of the waiting connection).
    pub(crate) fn last_write(&self) -> u64 {
        self.replica.cursor(self.origin())
    }

    fn acks_of(&self, held: Held) -> &std::sync::Mutex<WriteAcks> {
        match held {
            Held::Applied => &self.acks,
            Held::Synced => &self.synced,
        }
    }

    /// A WAIT (or WAITAOF, `held`: synced): the number of our last write, and the asks to send
    /// every alive peer.
    pub(crate) fn ask_held(&self, held: Held, now: Now) -> (u64, Vec<Effect>) {
        let want = self.last_write();
        let peers = lock(&self.members).alive_peers(now.at);
        let message = |want| match held {
            Held::Applied => Outgoing::AppliedAsk { want },
            Held::Synced => Outgoing::SyncedAsk { want },
        };
        let asks = peers.into_iter().map(|to| Effect::Send { to, message: message(want) }).collect();
        (want, asks)
    }

    /// How many alive peers hold our writes up to `want` as `held` says (every one, when we have
    /// written nothing).
    pub(crate) fn held_by(&self, held: Held, want: u64, now: Now) -> usize {
        let peers = lock(&self.members).alive_peers(now.at);
        match want {
            0 => peers.len(),
            _ => lock(self.acks_of(held)).count(want, &peers),
        }
    }

    /// `peer` asks to hear once we hold its writes up to `want` as `held` says.
    pub(super) fn held_asked(&self, held: Held, peer: Peer, want: u64) -> Vec<Effect> {
        lock(self.acks_of(held)).asked(peer.id, want);
        self.acks_due()
    }

    /// `peer` says it holds our writes up to `upto`. It cannot hold a write we never made: such
    /// a claim is refused.
    pub(super) fn held_received(&self, held: Held, peer: Peer, upto: u64) -> Vec<Effect> {
        if upto > self.last_write() {
            tracing::warn!(peer = %peer.id, upto, "refusing an acknowledgement of writes we never made");
            bump(&self.stats.peer_messages_refused, 1);
            return Vec::new();
        }
        match lock(self.acks_of(held)).acknowledged(peer.id, upto) {
            true => vec![Effect::Acknowledged],
            false => Vec::new(),
        }
    }

    /// The answers owed to peers whose writes we have now applied far enough: at once for a
    /// WAIT, once the log is synced for a WAITAOF.
    pub(super) fn acks_due(&self) -> Vec<Effect> {
        let mut effects = Vec::new();
        for held in [Held::Applied, Held::Synced] {
            let mut acks = lock(self.acks_of(held));
            if acks.owed.is_empty() {
                continue;
            }
            let origins = lock(&self.origins);
            let due = acks.due(|peer| origins.get(&peer).map(|&origin| self.replica.cursor(origin)));
            effects.extend(due.into_iter().map(|(to, upto)| match held {
                Held::Applied => Effect::Send { to, message: PeerMessage::Applied { upto } },
                Held::Synced => Effect::SyncThenSend { to, message: PeerMessage::Synced { upto } },
            }));
        }
        effects
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: NodeId = NodeId(1);
    const B: NodeId = NodeId(2);

    #[test]
    fn a_wait_counts_the_peers_that_acknowledged_far_enough() {
        let mut acks = WriteAcks::default();
        assert!(acks.acknowledged(A, 5));
        assert!(!acks.acknowledged(A, 3), "an older acknowledgement is no news");
        assert!(acks.acknowledged(B, 4));
        assert_eq!(acks.count(4, &[A, B]), 2);
        assert_eq!(acks.count(5, &[A, B]), 1);
        assert_eq!(acks.count(5, &[B]), 0, "only the peers asked about count");
    }

    #[test]
    fn an_ask_is_answered_once_the_cursor_reaches_it() {
        let mut acks = WriteAcks::default();
        acks.asked(A, 10);
        acks.asked(A, 7);
        assert_eq!(acks.due(|_| Some(9)), vec![], "the larger ask stands");
        assert_eq!(acks.due(|_| Some(12)), vec![(A, 12)]);
        assert_eq!(acks.due(|_| Some(12)), vec![], "answered once");
        acks.asked(B, 1);
        assert_eq!(acks.due(|_| None), vec![], "a peer whose origin we do not know yet waits");
    }
}
