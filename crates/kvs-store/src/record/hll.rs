//! A HyperLogLog's body as a record holds it: the write it started from, each node's newest write
//! into it, then its registers in compact form, read in place.

use super::counter::{le_u32, put_stamp, read_stamp, STAMP_BYTES};
use super::{Record, HLL_BIT};
use crate::hll::Registers;
use kvs_proto::Stamp;

/// Bytes before the stamps: the base stamp and the number of stamps.
pub(super) const HLL_HEAD_BYTES: usize = STAMP_BYTES + 4;

/// A HyperLogLog's state, read in place from a record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HllView<'a>(pub(super) &'a [u8]);

impl<'a> HllView<'a> {
    /// The write it started from.
    pub fn base(&self) -> Stamp {
        read_stamp(self.0)
    }

    fn stamp_count(&self) -> usize {
        le_u32(&self.0[STAMP_BYTES..]) as usize
    }

    /// Each node's newest write into it, sorted by node.
    pub fn stamps(&self) -> impl Iterator<Item = Stamp> + 'a {
        self.stamp_bytes().chunks_exact(STAMP_BYTES).map(read_stamp)
    }

    pub(super) fn stamp_bytes(&self) -> &'a [u8] {
        &self.0[HLL_HEAD_BYTES..HLL_HEAD_BYTES + self.stamp_count() * STAMP_BYTES]
    }

    /// The registers in compact form (see [`crate::hll`]).
    pub fn compact(&self) -> &'a [u8] {
        &self.0[HLL_HEAD_BYTES + self.stamp_count() * STAMP_BYTES..]
    }

    /// The registers, for computing.
    pub fn registers(&self) -> Registers {
        Registers::from_compact(self.compact()).unwrap_or_default()
    }
}

impl Record {
    /// A HyperLogLog started from `base`, with each node's newest write into it (`stamps`, sorted
    /// by node, at least one) and `compact` registers, expiring at `deadline_ms`; stamped with its
    /// newest write. A local write's record holds only the registers it raised (a delta).
    pub fn hll(key: &[u8], base: Stamp, stamps: &[Stamp], compact: &[u8], deadline_ms: Option<u64>) -> Record {
        let newest = stamps.iter().copied().max_by_key(|s| s.version).expect("a stamp");
        Record::build(key, newest, HLL_BIT, deadline_ms, |out| {
            put_stamp(out, &base);
            out.extend_from_slice(&(stamps.len() as u32).to_le_bytes());
            for stamp in stamps {
                put_stamp(out, stamp);
            }
            out.extend_from_slice(compact);
        })
    }
}
