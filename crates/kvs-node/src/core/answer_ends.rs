//! How an anti-entropy answer ends, as core inputs and outputs: what this node claims at the end
//! of its own answers, and how far the end of a peer's answer moves its cursors, by the whole
//! cluster's rule (two members' word an origin) or, once the keys are partitioned, by what the
//! claims cover ([`super::cursor_coverage`]).

use super::holdings::MAX_LOST_GROUPS;
use super::{bump, lock, Core, Effect, Now, Peer};
use kvs_proto::peer::Cursors;
use kvs_proto::slot_set::{SlotSet, SlotWords};
use kvs_store::replica::AntiEntropyAnswer;

impl Core {
    /// The answer to `peer`'s anti-entropy request, streamed by its task in bounded batches.
    /// The cursors it carries are only those we vouch for: one taken on a single peer's word is
    /// claimed as it stood before that word (see [`super::cursor_claims`]).
    ///
    /// Also returns, when this node does not hold every slot whole, the slots it does: its
    /// cursors are true of those only, and the answer ends with a
    /// [`PeerMessage::SlotFetchDone`] that says so. `slots`: a fetch of those slots whole.
    pub(crate) fn anti_entropy_answer(
        &self,
        cursors: Cursors,
        fresh: bool,
        slots: Option<SlotSet>,
    ) -> (AntiEntropyAnswer<'_>, Option<SlotSet>) {
        let whole = self.whole();
        let mut answer = match slots {
            Some(slots) => AntiEntropyAnswer::Delta(self.replica.answer_fetch(slots, self.max_batch_bytes)),
            None => self.replica.answer_anti_entropy(cursors, fresh, self.max_batch_bytes),
        };
        let done = match &mut answer {
            AntiEntropyAnswer::Resync(done) => done,
            AntiEntropyAnswer::Delta(batches) => &mut batches.done,
        };
        lock(&self.claims).vouched(done);
        (answer, whole)
    }

    /// The end of `peer`'s answer to our `request`, from a member holding every slot whole.
    pub(super) fn done_received(&self, peer: Peer, request: u64, cursors: Cursors, now: Now) -> Vec<Effect> {
        let from = peer.id;
        // Cursors cover every entry of the answer: adopted only if we applied them all, or an
        // entry we refused (from too far ahead, for now) would never be asked again.
        if !lock(&self.rounds).finished(from) {
            tracing::warn!(peer = %from, "not adopting the cursors of an answer we did not apply whole");
            return Vec::new();
        }
        bump(&self.stats.anti_entropy_rounds, 1);
        if !self.holds_all() {
            // Its cursors are true of every slot, but ours only of those we hold.
            return self.partial_answer(peer, request, (&cursors, SlotSet::full()), &[], now);
        }
        // Every member we know counts, dead ones too: while the only other one is down, one
        // peer's word must still not be enough.
        let peers = lock(&self.members).peer_count();
        let mut claims = lock(&self.claims);
        let witnessed = claims.witnessed(from, &cursors, peers, |origin| self.replica.cursor(origin));
        let adopted = self.replica.adopt_answer(peer.origin, &cursors, &witnessed.forward, &witnessed.back);
        tracing::debug!(me = %self.node, peer = %from, ?cursors, ?adopted, "adopting the cursors of a complete answer");
        // A cursor taken on one word is not made durable: after a restart it is fetched again.
        let logged =
            adopted.into_iter().filter(|&(origin, _)| origin == peer.origin || !claims.on_one_word(origin)).collect();
        vec![Effect::LogCursors(logged)]
    }

    /// The end of `peer`'s answer to our `request`, from a member that holds some slots whole
    /// only (`whole`), and vouches for the groups it lost while whole (`left`).
    pub(super) fn partial_done_received(
        &self,
        peer: Peer,
        request: u64,
        cursors: Cursors,
        (whole, left): (SlotWords, Vec<(SlotWords, Cursors)>),
        now: Now,
    ) -> Vec<Effect> {
        if !lock(&self.rounds).finished(peer.id) {
            tracing::warn!(peer = %peer.id, "not adopting the cursors of an answer we did not apply whole");
            return Vec::new();
        }
        let whole = SlotSet::from_words(&whole);
        let left: Vec<_> =
            left.iter().take(MAX_LOST_GROUPS).map(|(slots, at)| (SlotSet::from_words(slots), at.clone())).collect();
        let effects = self.partial_answer(peer, request, (&cursors, whole), &left, now);
        tracing::debug!(me = %self.node, peer = %peer.id, ?cursors, ?effects, "adopting what partial answers cover");
        bump(&self.stats.anti_entropy_rounds, 1);
        effects
    }
}
