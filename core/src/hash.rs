//! The fast, deterministic hashing spate uses everywhere.
//!
//! Partitioning must send a key to the same partition in every process and every run, so spate
//! never uses `std`'s randomly seeded `RandomState`. Maps use `rustc-hash`'s Fx hasher; the
//! partitioner hashes with a different seed so that the keys of one partition do not all share
//! low hash bits inside that partition's own hash maps.

use std::hash::{BuildHasher, Hash};

pub use rustc_hash::{FxBuildHasher, FxHashMap, FxHashSet};

/// The seed of the partitioning hash (any fixed value different from the maps' seed of 0).
const PARTITION_SEED: usize = 0x51_7c_c1_b7_27_22_0a_95;

/// Hashes `key` for partitioning: the same value in every process, run and platform word size.
///
/// # Examples
///
/// ```
/// let a = spate_core::hash::partition_hash(&"word");
/// assert_eq!(a, spate_core::hash::partition_hash(&"word"));
/// ```
#[inline]
pub fn partition_hash<K: Hash + ?Sized>(key: &K) -> u64 {
    rustc_hash::FxBuildHasher
        .hash_one((PARTITION_SEED, key))
        .rotate_left(26)
}

/// An empty Fx hash map with room for `n` entries.
///
/// # Examples
///
/// ```
/// let mut m = spate_core::hash::map_with_capacity::<u32, u32>(8);
/// m.insert(1, 2);
/// assert_eq!(m[&1], 2);
/// ```
pub fn map_with_capacity<K, V>(n: usize) -> FxHashMap<K, V> {
    FxHashMap::with_capacity_and_hasher(n, FxBuildHasher)
}
