//! What peers say they hold (`Holding`, beside their gossip): which slots they hold whole, and
//! what a node may drop or skip on their word.

use super::{lock, Core, Effect, Outgoing};
use kvs_proto::layout::LayoutVersion;
use kvs_proto::peer::Cursors;
use kvs_proto::slot_set::SlotSet;
use kvs_proto::{NodeId, PeerMessage};
use kvs_store::map::Map;

/// A peer's last [`PeerMessage::Holding`].
#[derive(Debug)]
pub(super) struct PeerHolding {
    pub(super) version: LayoutVersion,
    pub(super) fetching: SlotSet,
    pub(super) kept: SlotSet,
    pub(super) cursors: Map<NodeId, u64>,
}

impl Core {
    /// The slots `peer` holds whole as its last word says, under the layout we hold (`None`:
    /// every slot, when we hold no layout; an empty set when its word is missing or of another
    /// layout).
    pub(in crate::core) fn held_whole_by(&self, peer: NodeId) -> Option<SlotSet> {
        let (layout, owners) = self.layout_owners()?;
        let holdings = lock(&self.holdings);
        let Some(said) = holdings.peers.get(&peer).filter(|said| said.version == layout.version) else {
            return Some(SlotSet::empty());
        };
        Some(SlotSet::from_fn(|slot| owners[usize::from(slot)].contains(&peer) && !said.fetching.contains(slot)))
    }

    /// What we say we hold, beside our gossip, once a layout exists.
    pub(in crate::core) fn holding_message(&self) -> Option<Outgoing> {
        let version = self.layout()?.version;
        let holdings = lock(&self.holdings);
        let (fetching, kept) = (holdings.fetching().to_words(), holdings.kept.to_words());
        drop(holdings);
        Some(PeerMessage::Holding { version, fetching, kept, cursors: self.replica.cursors() })
    }

    /// `from` says what it holds. Kept for members only, one entry each.
    pub(in crate::core) fn holding_received(
        &self,
        from: NodeId,
        version: LayoutVersion,
        (fetching, kept): (&[u64], &[u64]),
        cursors: Cursors,
    ) -> Vec<Effect> {
        if !lock(&self.members).knows(from) {
            return Vec::new();
        }
        let holding = PeerHolding {
            version,
            fetching: SlotSet::from_words(fetching),
            kept: SlotSet::from_words(kept),
            cursors: cursors.into_iter().collect(),
        };
        let mut holdings = lock(&self.holdings);
        let changed = holdings.peers.get(&from).is_none_or(|was| was.version != version || was.kept != holding.kept);
        holdings.peers.insert(from, holding);
        drop(holdings);
        if changed {
            self.wanted_changed();
        }
        Vec::new()
    }

    /// `peer` is gone from the cluster: its word no longer counts.
    pub(in crate::core) fn forget_holding(&self, peer: NodeId) {
        let mut holdings = lock(&self.holdings);
        holdings.peers.remove(&peer);
        holdings.fetched_last.remove(&peer);
        holdings.coverage.forget(peer);
        drop(holdings);
        self.wanted_changed();
    }
}
