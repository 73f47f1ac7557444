//! Which hash slots this node owns under the layout it holds, as one bit per slot: read by every
//! keyed command of a Redis Cluster client (to answer `-MOVED` for a slot owned elsewhere), so
//! it is read without a lock.

use kvs_proto::slot::SLOTS;
use kvs_proto::NodeId;
use std::sync::atomic::{AtomicU64, Ordering};

const WORDS: usize = SLOTS as usize / 64;

/// One bit per slot: set where this node is among the slot's owners.
#[derive(Debug)]
pub(crate) struct ServedSlots {
    bits: [AtomicU64; WORDS],
    /// This node.
    me: NodeId,
}

impl ServedSlots {
    /// Every slot served by `me`: no layout, or one where every member owns everything.
    pub(crate) fn all(me: NodeId) -> Self {
        ServedSlots { bits: std::array::from_fn(|_| AtomicU64::new(u64::MAX)), me }
    }

    /// Serves what `owners` (indexed by slot) gives this node, or everything without a table. A
    /// reader racing this sees some slots of the old layout and some of the new for a moment,
    /// which is what a client racing an adoption sees anyway: a redirect it follows once more.
    pub(crate) fn set(&self, owners: Option<&[Vec<NodeId>]>) {
        let me = self.me;
        for (word, bits) in self.bits.iter().enumerate() {
            let value = match owners {
                None => u64::MAX,
                Some(owners) => (0..64).fold(0u64, |value, bit| {
                    let slot = word * 64 + bit;
                    value | (u64::from(owners.get(slot).is_some_and(|nodes| nodes.contains(&me))) << bit)
                }),
            };
            bits.store(value, Ordering::Relaxed);
        }
    }

    /// Whether `slot` is served here.
    pub(crate) fn contains(&self, slot: u16) -> bool {
        let slot = usize::from(slot) % (WORDS * 64);
        self.bits[slot / 64].load(Ordering::Relaxed) & (1 << (slot % 64)) != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slot_is_served_where_the_table_names_this_node() {
        let served = ServedSlots::all(NodeId(1));
        assert!((0..SLOTS).all(|slot| served.contains(slot)));
        let owners: Vec<Vec<NodeId>> =
            (0..SLOTS).map(|slot| if slot % 3 == 0 { vec![NodeId(1), NodeId(2)] } else { vec![NodeId(2)] }).collect();
        served.set(Some(&owners));
        assert!((0..SLOTS).all(|slot| served.contains(slot) == (slot % 3 == 0)));
        served.set(None);
        assert!(served.contains(16383));
    }
}
