//! What each peer last claimed to have applied of each origin, and how far such claims may move
//! our cursors: pure logic.
//!
//! A cursor that runs ahead of what we hold is worse than one that lags: a lagging cursor costs a
//! few entries shipped twice, a cursor ahead of us stops us asking for writes we lack, for ever.
//! So one member's word is not enough. A member's claim about its own origin is taken (nobody
//! knows its writes better, and a lie there only hides its own writes); any other origin's cursor
//! moves only as far as two peers both claim, so one member that lies (it holds the cluster
//! secret, or the cluster has none) cannot make us stop fetching what the honest ones hold.
//!
//! With a single peer known there is nobody to confirm, and its word is taken for now; but what
//! was taken on one word is remembered with the cursor held before it, and once a second peer
//! answers, a cursor that ran past what both claim is set back to where it stood before the one
//! word (not to what both claim: that answer, asked from past it, brought none of the writes
//! between), so the writes it skipped are fetched after all, and only then adopted. (The
//! simulator found a node that joined beside a liar alone, was set back to what two peers
//! claimed, and so never fetched its own earlier run's writes.) What was
//! taken on one word is not logged either: a restart, which forgets that it was, must not keep
//! it (the simulator found a node that took a liar's cursors while it was its only peer,
//! restarted, and never fetched the writes they skipped). Nor is it passed on: a node's own
//! anti-entropy answers claim such a cursor as it stood before the one word, or a liar's cursor
//! taken by one honest node while the liar was its only peer would reach a third node as the
//! word of two, and be adopted there for good (the simulator found that one too).

use kvs_proto::peer::Cursors;
use kvs_proto::NodeId;
use kvs_store::map::Map;

/// How many peers must claim a cursor for another origin before it is adopted for good.
const WITNESSES: usize = 2;

/// The last complete answer's claims of each peer.
#[derive(Debug, Default)]
pub(crate) struct CursorClaims {
    by_peer: Map<NodeId, Map<NodeId, u64>>,
    /// Cursors adopted on a single peer's word, by origin: what was taken, and what we held
    /// before the first such word.
    unconfirmed: Map<NodeId, (u64, u64)>,
}

/// How a peer's claims move our cursors.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Witnessed {
    /// Cursors to move forward to (never back).
    pub(crate) forward: Cursors,
    /// Cursors adopted earlier on one word that two peers now place lower: set back to where
    /// they stood before that word (and not moved forward in the same answer).
    pub(crate) back: Cursors,
}

impl CursorClaims {
    /// Notes `peer`'s claimed cursors and returns, for each origin it claimed, the highest
    /// sequence number that `min(2, peers)` peers each claim at least (0: not yet witnessed), and
    /// which cursors taken on one word to set back; `ours` gives our cursor of an origin now.
    pub(crate) fn witnessed(
        &mut self,
        peer: NodeId,
        claimed: &Cursors,
        peers: usize,
        ours: impl Fn(NodeId) -> u64,
    ) -> Witnessed {
        self.by_peer.insert(peer, claimed.iter().copied().collect());
        let needed = WITNESSES.min(peers).max(1);
        let mut witnessed = Witnessed::default();
        for &(origin, _) in claimed {
            let mut claims: Vec<u64> =
                self.by_peer.values().map(|claims| claims.get(&origin).copied().unwrap_or(0)).collect();
            claims.sort_unstable_by(|a, b| b.cmp(a));
            let at_least = |n: usize| claims.get(n - 1).copied().unwrap_or(0);
            let seq = at_least(needed);
            if needed < WITNESSES {
                // What was taken is the most any one word moved us: a lower claim later never
                // moves a cursor back, so it must not hide what is still to be set back (the
                // simulator found a liar that turned honest while it was still the only peer).
                let (taken, before) = match self.unconfirmed.get(&origin) {
                    Some(&(taken, before)) => (taken.max(seq), before),
                    None => (seq, ours(origin)),
                };
                self.unconfirmed.insert(origin, (taken, before));
            } else if let Some((taken, before)) = self.unconfirmed.remove(&origin) {
                if taken > seq {
                    witnessed.back.push((origin, before.min(seq)));
                    continue;
                }
            }
            witnessed.forward.push((origin, seq));
        }
        witnessed
    }

    /// Lowers, in `cursors` (ours, about to be claimed to a peer), each cursor that stands on one
    /// peer's word to where it stood before that word: we vouch only for what is confirmed.
    pub(crate) fn vouched(&self, cursors: &mut Cursors) {
        for (origin, seq) in cursors.iter_mut() {
            if let Some(&(_, before)) = self.unconfirmed.get(origin) {
                *seq = (*seq).min(before);
            }
        }
    }

    /// Whether our cursor of `origin` stands on one peer's word, not yet confirmed by a second.
    pub(crate) fn on_one_word(&self, origin: NodeId) -> bool {
        self.unconfirmed.contains_key(&origin)
    }

    /// `peer` is gone from the cluster: its claims no longer count.
    pub(crate) fn forget(&mut self, peer: NodeId) {
        self.by_peer.remove(&peer);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ABSURD: u64 = 1_000_000_000_000_000;

    #[test]
    fn beside_another_peer_a_claim_needs_a_second_witness() {
        let (o, liar, honest) = (NodeId(9), NodeId(1), NodeId(2));
        let mut claims = CursorClaims::default();
        let ours = |_| 0;
        assert_eq!(claims.witnessed(liar, &vec![(o, ABSURD)], 2, ours).forward, vec![(o, 0)], "unconfirmed");
        assert_eq!(claims.witnessed(honest, &vec![(o, 300)], 2, ours).forward, vec![(o, 300)], "what both claim");
        assert_eq!(claims.witnessed(liar, &vec![(o, ABSURD)], 2, ours).forward, vec![(o, 300)]);
        claims.forget(honest);
        assert_eq!(claims.witnessed(liar, &vec![(o, ABSURD)], 2, ours).forward, vec![(o, 0)]);
    }

    #[test]
    fn one_peer_alone_is_believed_until_a_second_one_places_the_cursor_lower() {
        let (o, liar, honest) = (NodeId(9), NodeId(1), NodeId(2));
        let mut claims = CursorClaims::default();
        let alone = claims.witnessed(liar, &vec![(o, ABSURD)], 1, |_| 20);
        assert_eq!(alone, Witnessed { forward: vec![(o, ABSURD)], back: vec![] });
        assert!(claims.on_one_word(o), "so it is not logged");
        // Taken again on the same word: what we held before the first time is kept.
        claims.witnessed(liar, &vec![(o, ABSURD)], 1, |_| ABSURD);
        // The honest answer was asked from ABSURD and brought nothing of 21..=300: back to 20,
        // and fetched from there in the next round.
        let confirmed = claims.witnessed(honest, &vec![(o, 300)], 2, |_| ABSURD);
        assert!(!claims.on_one_word(o));
        assert_eq!(confirmed, Witnessed { forward: vec![], back: vec![(o, 20)] });
        let next = claims.witnessed(honest, &vec![(o, 300)], 2, |_| 20);
        assert_eq!(next, Witnessed { forward: vec![(o, 300)], back: vec![] }, "set back once, then adopted");
    }

    #[test]
    fn a_lone_peer_that_turns_honest_does_not_hide_what_it_made_us_take() {
        let (o, liar, honest) = (NodeId(9), NodeId(1), NodeId(2));
        let mut claims = CursorClaims::default();
        claims.witnessed(liar, &vec![(o, ABSURD)], 1, |_| 20);
        // Still alone, it now claims the truth: our cursor stays at ABSURD (never moved back).
        claims.witnessed(liar, &vec![(o, 300)], 1, |_| ABSURD);
        let confirmed = claims.witnessed(honest, &vec![(o, 300)], 2, |_| ABSURD);
        assert_eq!(confirmed.back, vec![(o, 20)], "set back to before the lie");
    }

    #[test]
    fn a_cursor_taken_on_one_word_is_not_passed_on() {
        let (o, mine, liar) = (NodeId(9), NodeId(3), NodeId(1));
        let mut claims = CursorClaims::default();
        claims.witnessed(liar, &vec![(o, ABSURD)], 1, |_| 20);
        // Ours is ABSURD now, on the liar's word alone: a peer asking us is told 20.
        let mut ours = vec![(o, ABSURD), (mine, 7)];
        claims.vouched(&mut ours);
        assert_eq!(ours, vec![(o, 20), (mine, 7)]);
    }
}
