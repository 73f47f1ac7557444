//! What a node tells its clients while slots move: how many are in motion here, and where a
//! command on a slot still being fetched goes (docs/partitioning.md, "Reads and writes during a
//! move").

use crate::core::{lock, Core, Now};
use kvs_proto::NodeId;
use std::sync::atomic::Ordering;

impl Core {
    /// How many slots are in motion here: still to fetch, still kept for their new owners, and
    /// not owned with records still to drop (the kept ones among them).
    pub(crate) fn slots_in_motion(&self) -> (usize, usize, usize) {
        let holdings = lock(&self.holdings);
        (holdings.fetching().len(), holdings.kept.len(), holdings.leftovers.len())
    }

    /// Whether any slot is being fetched (without a lock: read by every keyed command).
    pub(crate) fn fetching_any(&self) -> bool {
        self.fetching_any.load(Ordering::Relaxed)
    }

    /// Where a client's command on `slot` goes while we fetch the slot: a live member that holds
    /// it whole under our layout (an owner done fetching it, else an old owner that keeps it
    /// until its owners hold it), which answers it from every write it has seen; `None` to serve
    /// it here (not being fetched, or no such member).
    pub(crate) fn holder_while_fetching(&self, slot: u16, now: Now) -> Option<NodeId> {
        if !self.fetching_any() {
            return None;
        }
        let (layout, owners) = self.layout_owners()?;
        let alive = lock(&self.members).alive_peers(now.at);
        let holdings = lock(&self.holdings);
        if !holdings.fetching.iter().any(|fetch| fetch.slots.contains(slot)) {
            return None;
        }
        let said = |node: &NodeId| holdings.peers.get(node).filter(|said| said.version == layout.version);
        let owners = &owners[usize::from(slot)];
        let done =
            alive.iter().find(|node| owners.contains(node) && said(node).is_some_and(|s| !s.fetching.contains(slot)));
        done.or_else(|| alive.iter().find(|node| said(node).is_some_and(|s| s.kept.contains(slot)))).copied()
    }
}
