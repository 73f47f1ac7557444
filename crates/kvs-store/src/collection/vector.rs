//! Per-origin sequence-number vectors, sorted by origin: what removes and DELs cover.

use kvs_proto::{NodeId, Stamp};

/// Raises `node`'s entry of a sorted per-origin vector to at least `seq`.
pub(crate) fn raise(vector: &mut Vec<(NodeId, u64)>, node: NodeId, seq: u64) {
    match vector.binary_search_by_key(&node, |(held, _)| *held) {
        Ok(at) => vector[at].1 = vector[at].1.max(seq),
        Err(at) => vector.insert(at, (node, seq)),
    }
}

/// Whether a removal vector covers the add `stamp`.
pub(crate) fn covers(removed: &[(NodeId, u64)], stamp: &Stamp) -> bool {
    removed.binary_search_by_key(&stamp.version.node, |(node, _)| *node).is_ok_and(|at| removed[at].1 >= stamp.seq)
}
