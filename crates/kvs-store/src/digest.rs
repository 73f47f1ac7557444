//! Hashes of `(key, version)` pairs; the store digest is their XOR.
//!
//! XOR makes the digest order-independent and lets one write update it in O(1): remove the old
//! pair's hash, add the new one's. The version alone identifies a write (one node never issues a
//! version twice), so the value need not be hashed.

use crate::record::{Body, Record};
use kvs_proto::Version;
use xxhash_rust::xxh3::{xxh3_128, Xxh3};

/// Keys up to this size are hashed from a stack buffer in one call (the common, fast case).
const INLINE_KEY_BYTES: usize = 96;

/// The 128-bit hash of one key at one version.
pub fn entry_hash(key: &[u8], version: &Version) -> u128 {
    if key.len() <= INLINE_KEY_BYTES {
        let mut buf = [0u8; 8 + INLINE_KEY_BYTES + 20];
        buf[..8].copy_from_slice(&(key.len() as u64).to_le_bytes());
        buf[8..8 + key.len()].copy_from_slice(key);
        let tail = 8 + key.len();
        buf[tail..tail + 8].copy_from_slice(&version.wall_ms.to_le_bytes());
        buf[tail + 8..tail + 12].copy_from_slice(&version.logical.to_le_bytes());
        buf[tail + 12..tail + 20].copy_from_slice(&version.node.0.to_le_bytes());
        return xxh3_128(&buf[..tail + 20]);
    }
    let mut hasher = Xxh3::new();
    hasher.update(&(key.len() as u64).to_le_bytes());
    hasher.update(key);
    hasher.update(&version.wall_ms.to_le_bytes());
    hasher.update(&version.logical.to_le_bytes());
    hasher.update(&version.node.0.to_le_bytes());
    hasher.digest128()
}

/// A record's part of the store digest: its key at its version; for a counter, at each
/// contribution, so two states of one counter differ whenever their parts do (a contribution is
/// one write, made on one base, so the base needs no hash of its own).
pub fn record_hash(record: &Record) -> u128 {
    match record.body() {
        Body::Counter(counter) => counter
            .contributions()
            .fold(0x5eed_c0de, |hash: u128, part| hash ^ entry_hash(record.key(), &part.stamp.version).rotate_left(3)),
        // Flushes have an empty key and a version no other record shares.
        _ if record.is_expired_counter() => entry_hash(record.key(), &record.version()).rotate_left(2),
        _ => entry_hash(record.key(), &record.version()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kvs_proto::NodeId;

    #[test]
    fn short_and_long_keys_hash_the_same_bytes() {
        let version = Version { wall_ms: 5, logical: 6, node: NodeId(7) };
        for len in [0, 1, INLINE_KEY_BYTES, INLINE_KEY_BYTES + 1] {
            let key = vec![b'k'; len];
            let mut streamed = Xxh3::new();
            streamed.update(&(len as u64).to_le_bytes());
            streamed.update(&key);
            streamed.update(&5u64.to_le_bytes());
            streamed.update(&6u32.to_le_bytes());
            streamed.update(&7u64.to_le_bytes());
            assert_eq!(entry_hash(&key, &version), streamed.digest128(), "key of {len} bytes");
        }
    }
}
