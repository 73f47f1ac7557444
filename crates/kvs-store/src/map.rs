//! The hash map every table of the node uses, keyed randomly except in simulation.
//!
//! A simulated run must replay exactly from its seed, and the order a hash map iterates in
//! (members gossiped, cursors sent, origins walked) changes what happens next; so with the
//! `sim` feature every map hashes with fixed keys. Built normally, keys are random per process,
//! so no peer can choose ids that collide.

use std::collections::HashMap;

/// How maps hash: random keys normally (aHash: these maps sit on every write's path, keyed by
/// node ids, where SipHash costs several times as much), fixed ones in simulation.
#[cfg(not(feature = "sim"))]
pub type MapHasher = ahash::RandomState;
/// How maps hash: random keys normally, fixed ones in simulation.
#[cfg(feature = "sim")]
pub type MapHasher = std::hash::BuildHasherDefault<std::collections::hash_map::DefaultHasher>;

/// A hash map hashing with [`MapHasher`]; make one with `Map::default()`.
pub type Map<K, V> = HashMap<K, V, MapHasher>;

/// How the store hashes keys into shards and tables.
pub(crate) fn key_hasher() -> ahash::RandomState {
    #[cfg(not(feature = "sim"))]
    return ahash::RandomState::new();
    #[cfg(feature = "sim")]
    return ahash::RandomState::with_seeds(1, 2, 3, 4);
}
