//! A HyperLogLog's body as a record holds it: the write it started from, each node's newest write
//! into it, then its registers in compact form, read in place.

use super::counter::{le_u32, read_stamp, STAMP_BYTES};
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
