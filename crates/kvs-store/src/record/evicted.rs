//! An eviction's tombstone: its own stamp, and in its body the version of the write it evicted,
//! which is what it ranks by (see [`Record::rank`]).

use super::counter::{le_u32, le_u64};
use super::{Record, EVICTED_BIT, TOMBSTONE_BIT};
use kvs_proto::{NodeId, Stamp, Version};

impl Record {
    /// The eviction, made by the write `stamp`, of the write of version `of` (see
    /// [`EntryKind::Evicted`]).
    pub fn evicted(key: &[u8], of: Version, stamp: Stamp) -> Record {
        Record::build(key, stamp, TOMBSTONE_BIT | EVICTED_BIT, None, |out| {
            out.extend_from_slice(&of.wall_ms.to_le_bytes());
            out.extend_from_slice(&of.logical.to_le_bytes());
            out.extend_from_slice(&of.node.0.to_le_bytes());
        })
    }

    /// What an eviction of this record removes: the version it ranks by (a value's own, a
    /// counter's or HyperLogLog's base).
    pub fn eviction_target(&self) -> Version {
        self.rank().0
    }

    /// Whether this is an eviction's tombstone.
    pub fn is_evicted(&self) -> bool {
        self.flags() & EVICTED_BIT != 0
    }

    /// The version an eviction removed (read from its body).
    pub(super) fn evicted_of(&self) -> Version {
        let body = &self.0.bytes()[self.body_start()..];
        Version { wall_ms: le_u64(body), logical: le_u32(&body[8..]), node: NodeId(le_u64(&body[12..])) }
    }
}
