//! Redis Cluster's hash slots: which of 16,384 slots a key belongs to.
//!
//! A key's slot is CRC16 (XMODEM) of the key modulo 16,384, or of its hash tag: the bytes between
//! the first `{` and the first `}` after it, when there is at least one. Keys that share a tag
//! share a slot, which is what lets multi-key commands and transactions span several keys once a
//! cluster is partitioned. Every node, kvs-client and any Redis Cluster client compute the same
//! slot, so the rule is here, in the crate they all share.

use crc::{Crc, Table, CRC_16_XMODEM};

/// How many slots the key space has (Redis Cluster's count, so its clients route unchanged).
pub const SLOTS: u16 = 16_384;

/// The CRC Redis Cluster uses, with a sixteen-byte table: a short key is one or two table steps.
const XMODEM: Crc<u16, Table<16>> = Crc::<u16, Table<16>>::new(&CRC_16_XMODEM);

/// The part of `key` that decides its slot: its hash tag, or the whole key without one.
pub fn hashed_part(key: &[u8]) -> &[u8] {
    let Some(open) = key.iter().position(|&b| b == b'{') else {
        return key;
    };
    match key[open + 1..].iter().position(|&b| b == b'}') {
        // `{}` is no tag: the whole key is hashed, as Redis Cluster does.
        Some(0) | None => key,
        Some(len) => &key[open + 1..open + 1 + len],
    }
}

/// The slot `key` belongs to, in `0..SLOTS`.
pub fn slot_of(key: &[u8]) -> u16 {
    XMODEM.checksum(hashed_part(key)) & (SLOTS - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_crc_is_xmodem() {
        // The check value of CRC-16/XMODEM, and Redis Cluster's own example (0x31C3 = 12739).
        assert_eq!(XMODEM.checksum(b"123456789"), 0x31C3);
        assert_eq!(slot_of(b"123456789"), 12739);
    }

    #[test]
    fn slots_match_redis_cluster() {
        // Figures from redis-server 7's CLUSTER KEYSLOT.
        assert_eq!(slot_of(b"foo"), 12182);
        assert_eq!(slot_of(b"bar"), 5061);
        assert_eq!(slot_of(b""), 0);
        assert_eq!(slot_of(b"somekey"), 11058);
    }

    #[test]
    fn a_hash_tag_decides_the_slot() {
        assert_eq!(slot_of(b"{user1000}.following"), slot_of(b"{user1000}.followers"));
        assert_eq!(slot_of(b"{user1000}.following"), slot_of(b"user1000"));
        assert_eq!(hashed_part(b"foo{}{bar}"), b"foo{}{bar}", "an empty first tag means no tag");
        assert_eq!(hashed_part(b"foo{{bar}}zap"), b"{bar", "the tag ends at the first closing brace");
        assert_eq!(hashed_part(b"foo{bar}{zap}"), b"bar", "only the first tag counts");
        assert_eq!(hashed_part(b"foo{bar"), b"foo{bar", "an unclosed brace is no tag");
        assert_eq!(hashed_part(b"}{x}"), b"x");
    }

    #[test]
    fn every_slot_is_in_range() {
        for i in 0..100_000u32 {
            assert!(slot_of(format!("key:{i}").as_bytes()) < SLOTS);
        }
    }
}
