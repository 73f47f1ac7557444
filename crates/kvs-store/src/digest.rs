//! Hashes of `(key, version)` pairs; the store digest is their XOR.
//!
//! XOR makes the digest order-independent and lets one write update it in O(1): remove the old
//! pair's hash, add the new one's. The version alone identifies a write (one node never issues a
//! version twice), so the value need not be hashed.

use kvs_proto::Version;
use xxhash_rust::xxh3::Xxh3;

/// The 128-bit hash of one key at one version.
pub fn entry_hash(key: &[u8], version: &Version) -> u128 {
    let mut hasher = Xxh3::new();
    hasher.update(&(key.len() as u64).to_le_bytes());
    hasher.update(key);
    hasher.update(&version.wall_ms.to_le_bytes());
    hasher.update(&version.logical.to_le_bytes());
    hasher.update(&version.node.0.to_le_bytes());
    hasher.digest128()
}
