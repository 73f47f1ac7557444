//! Pub/sub as core inputs: a client's PUBLISH and a peer's `Published` frame both leave as
//! effects (deliver here, send to peers), so the rules sit beside the other peer messages.
//!
//! A peer's messages are checked like its entries: each must fit the bounds a client's PUBLISH
//! meets here. Any proven member may publish (its clients may), and what it sends is delivered
//! only here, never forwarded, so no member can make a message go round.

use super::{Core, Effect};
use crate::stats::bump;
use kvs_proto::{NodeId, Publication};

impl Core {
    /// A client of this node published `publication`: deliver it here, and to every peer.
    pub(crate) fn publish(&self, publication: Publication) -> Vec<Effect> {
        vec![Effect::Deliver(vec![publication.clone()]), Effect::FanOut(publication)]
    }

    /// Whether a message fits what this node accepts from a client's PUBLISH.
    pub(crate) fn publication_fits(&self, publication: &Publication) -> bool {
        publication.channel.len() <= self.limits.max_key_bytes
            && publication.message.len() <= self.limits.max_value_bytes
    }

    /// `from` forwarded what its clients published: deliver what fits the bounds.
    pub(super) fn published_received(&self, from: NodeId, mut messages: Vec<Publication>) -> Vec<Effect> {
        let before = messages.len();
        messages.retain(|publication| self.publication_fits(publication));
        let refused = before - messages.len();
        if refused > 0 {
            tracing::warn!(peer = %from, refused, "refusing pub/sub messages over the bounds");
            bump(&self.stats.peer_messages_refused, 1);
            bump(&self.pubsub_stats.dropped, refused);
        }
        bump(&self.pubsub_stats.received, messages.len());
        match messages.is_empty() {
            true => Vec::new(),
            false => vec![Effect::Deliver(messages)],
        }
    }
}
