//! A counter's body as a record holds it: its base write and value, then each node's
//! contribution, read in place.

use kvs_proto::{Contribution, Counter, NodeId, Stamp, Version};

/// Bytes of a stamp in a counter body: wall u64, logical u32, node u64, seq u64.
pub(super) const STAMP_BYTES: usize = 28;
/// Bytes of a counter body's head (base stamp, base value) and of each contribution.
pub(super) const COUNTER_PART_BYTES: usize = STAMP_BYTES + 8;

/// A counter's state, read in place from a record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CounterView<'a>(pub(super) &'a [u8]);

pub(super) fn put_stamp(out: &mut Vec<u8>, stamp: &Stamp) {
    out.extend_from_slice(&stamp.version.wall_ms.to_le_bytes());
    out.extend_from_slice(&stamp.version.logical.to_le_bytes());
    out.extend_from_slice(&stamp.version.node.0.to_le_bytes());
    out.extend_from_slice(&stamp.seq.to_le_bytes());
}

/// A contribution as a counter body holds it: its stamp, then its total.
pub(super) fn put_contribution(out: &mut Vec<u8>, part: &Contribution) {
    put_stamp(out, &part.stamp);
    out.extend_from_slice(&part.total.to_le_bytes());
}

pub(super) fn le_u64(bytes: &[u8]) -> u64 {
    u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes"))
}

pub(super) fn le_u32(bytes: &[u8]) -> u32 {
    u32::from_le_bytes(bytes[..4].try_into().expect("4 bytes"))
}

pub(super) fn read_stamp(bytes: &[u8]) -> Stamp {
    let logical = le_u32(&bytes[8..]);
    let version = Version { wall_ms: le_u64(bytes), logical, node: NodeId(le_u64(&bytes[12..])) };
    Stamp { version, seq: le_u64(&bytes[20..]) }
}

impl<'a> CounterView<'a> {
    /// The write the counter started from.
    pub fn base(&self) -> Stamp {
        read_stamp(self.0)
    }

    /// The value at the base.
    pub fn base_value(&self) -> i64 {
        le_u64(&self.0[STAMP_BYTES..]) as i64
    }

    /// Each node's part, sorted by node.
    pub fn contributions(&self) -> impl Iterator<Item = Contribution> + 'a {
        self.0[COUNTER_PART_BYTES..]
            .chunks_exact(COUNTER_PART_BYTES)
            .map(|part| Contribution { stamp: read_stamp(part), total: le_u64(&part[STAMP_BYTES..]) as i64 })
    }

    /// The counter's value: the base plus every node's part (wider than `i64`, so no sum of
    /// in-range parts overflows; a value outside `i64` makes INCR refuse).
    pub fn sum(&self) -> i128 {
        self.base_value() as i128 + self.contributions().map(|c| c.total as i128).sum::<i128>()
    }

    /// An owned copy.
    pub fn to_counter(&self) -> Counter {
        Counter { base: self.base(), base_value: self.base_value(), contributions: self.contributions().collect() }
    }
}

/// The writes a record carries (see [`Record::stamps`]).
#[derive(Clone, Debug)]
pub enum Stamps<'a> {
    /// A value's, tombstone's or flush's one write.
    One(Option<Stamp>),
    /// A counter's contributions, each read in place.
    Parts(std::slice::ChunksExact<'a, u8>),
    /// A HyperLogLog's stamps, each read in place.
    Bare(std::slice::ChunksExact<'a, u8>),
    /// A collection element's or header's, decoded.
    Owned(std::vec::IntoIter<Stamp>),
}

impl Iterator for Stamps<'_> {
    type Item = Stamp;

    fn next(&mut self) -> Option<Stamp> {
        match self {
            Stamps::One(stamp) => stamp.take(),
            Stamps::Parts(parts) | Stamps::Bare(parts) => parts.next().map(read_stamp),
            Stamps::Owned(stamps) => stamps.next(),
        }
    }
}
