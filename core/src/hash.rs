//! The hashing spate uses: keyed and seeded per application for user keys, fast and fixed for
//! its own ids.
//!
//! Keys from the outside world (socket lines, Kafka records) go into hash maps and shuffles; a
//! fixed, public hash function would let whoever writes those keys make them all collide and
//! turn a batch quadratic (hash flooding). So user keys are hashed by a [`KeyHasher`] keyed by
//! a [`HashSeed`]: random per application and the same in every process of it (derived from the
//! application's secret, since a key must reach the same partition wherever it is hashed).
//! spate's own ids (lineage, RDD ids) use the fixed Fx maps, which no outsider chooses.

use std::fmt;
use std::hash::{BuildHasher, Hash, Hasher};

pub use rustc_hash::{FxBuildHasher, FxHashMap, FxHashSet};

/// The application's hash key: which partition a key goes to and how maps of user keys hash.
///
/// Random per local application ([`HashSeed::random`]); in a cluster application derived from
/// the application's secret, which every process of it has. [`HashSeed::FIXED`] is the seed
/// of partitioners built without a context ([`crate::HashPartitioner::new`]).
///
/// # Examples
///
/// ```
/// use std::hash::BuildHasher;
/// use spate_core::hash::HashSeed;
/// let seed = HashSeed::from_u64(7);
/// assert_eq!(seed.partition_hash(&"word"), HashSeed::from_u64(7).partition_hash(&"word"));
/// assert_ne!(seed.partition_hash(&"word"), HashSeed::from_u64(8).partition_hash(&"word"));
/// let mut m = std::collections::HashMap::with_hasher(seed);
/// m.insert("k", 1);
/// assert_eq!(seed.hash_one("k"), seed.hash_one("k"));
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct HashSeed {
    /// The maps' start value and key, then the partition hash's.
    keys: [u64; 4],
}

impl HashSeed {
    /// The fixed seed of partitioners made without a context.
    pub const FIXED: HashSeed = HashSeed::from_u64(0);

    /// The seed `seed`: the same value gives the same hashes in every process and run.
    pub const fn from_u64(seed: u64) -> HashSeed {
        let mut state = seed;
        let mut keys = [0u64; 4];
        let mut i = 0;
        while i < 4 {
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            // splitmix64: well-spread keys from any seed, 0 included; odd multipliers.
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            keys[i] = (z ^ (z >> 31)) | (i as u64 & 1);
            i += 1;
        }
        HashSeed { keys }
    }

    /// A fresh random seed, for a new application.
    pub fn random() -> HashSeed {
        HashSeed::from_u64(rand::random::<u64>())
    }

    /// Hashes `key` for partitioning: the same value in every process of one application.
    #[inline]
    pub fn partition_hash<K: Hash + ?Sized>(&self, key: &K) -> u64 {
        let mut h = KeyHasher {
            acc: self.keys[2],
            key: self.keys[3],
            pending: 0,
            has_pending: false,
        };
        key.hash(&mut h);
        h.finish()
    }
}

/// The keyed hasher of user keys: words are taken in pairs, each pair xor-ed with the state
/// and a secret key and folded by one 64×64→128-bit multiply (its halves xor-ed), from a
/// secret start. Which inputs collide depends on the keys, so nobody without the application's
/// seed can craft colliding keys (Fx, with its public multiplier, collides on `(a, b)` and
/// `(a + d, b − d·K)` under any seed). Hand-written because it is measurably better here: a
/// text key of up to 16 bytes (two words) costs one multiply, less than Fx's two, while
/// foldhash took twice Fx's time in the word count's combine loop (`scripts/bench seed`).
/// Like foldhash, it resists crafted keys, not an attacker who can time lookups and adapt.
#[derive(Clone, Copy)]
pub struct KeyHasher {
    acc: u64,
    key: u64,
    /// The first word of a pair, waiting for its second.
    pending: u64,
    has_pending: bool,
}

/// The 128-bit product of `a` and `b`, its halves xor-ed: every input bit reaches every
/// output bit (a plain product's low bits depend only on its factors' low bits).
#[inline(always)]
fn fold(a: u64, b: u64) -> u64 {
    let p = (a as u128) * (b as u128);
    (p as u64) ^ ((p >> 64) as u64)
}

impl Hasher for KeyHasher {
    #[inline]
    fn write_u64(&mut self, x: u64) {
        // Inlined into a key's `hash`, the branch is decided at compile time.
        if self.has_pending {
            self.acc = fold(self.acc ^ self.pending, self.key ^ x);
            self.has_pending = false;
        } else {
            self.pending = x;
            self.has_pending = true;
        }
    }
    #[inline]
    fn write_u8(&mut self, x: u8) {
        self.write_u64(x as u64);
    }
    #[inline]
    fn write_u16(&mut self, x: u16) {
        self.write_u64(x as u64);
    }
    #[inline]
    fn write_u32(&mut self, x: u32) {
        self.write_u64(x as u64);
    }
    #[inline]
    fn write_usize(&mut self, x: usize) {
        self.write_u64(x as u64);
    }
    #[inline]
    fn write_u128(&mut self, x: u128) {
        self.write_u64(x as u64);
        self.write_u64((x >> 64) as u64);
    }
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        // The length first: "a" and "a\0" pad their last word alike.
        self.write_u64(bytes.len() as u64);
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.write_u64(u64::from_le_bytes(c.try_into().expect("8 bytes")));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut last = [0u8; 8];
            last[..rest.len()].copy_from_slice(rest);
            self.write_u64(u64::from_le_bytes(last));
        }
    }
    #[inline]
    fn finish(&self) -> u64 {
        if self.has_pending {
            fold(self.acc ^ self.pending, self.key)
        } else {
            self.acc
        }
    }
}

impl BuildHasher for HashSeed {
    type Hasher = KeyHasher;
    #[inline]
    fn build_hasher(&self) -> KeyHasher {
        KeyHasher {
            acc: self.keys[0],
            key: self.keys[1],
            pending: 0,
            has_pending: false,
        }
    }
}

impl Default for HashSeed {
    fn default() -> HashSeed {
        HashSeed::FIXED
    }
}

impl fmt::Debug for HashSeed {
    // The keys are the application's defence against hash flooding: not for logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if *self == HashSeed::FIXED {
            "HashSeed(fixed)"
        } else {
            "HashSeed(..)"
        })
    }
}

/// Hashes `key` with the fixed seed: for spate's own deterministic choices (sampling seeds, a
/// partition's starting position), never for user keys in maps or shuffles.
///
/// # Examples
///
/// ```
/// let a = spate_core::hash::partition_hash(&"word");
/// assert_eq!(a, spate_core::hash::partition_hash(&"word"));
/// ```
#[inline]
pub fn partition_hash<K: Hash + ?Sized>(key: &K) -> u64 {
    HashSeed::FIXED.partition_hash(key)
}

/// An empty Fx hash map with room for `n` entries (for spate's own ids, not user keys).
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::BuildHasher;

    /// Keys that collide under a fixed, unkeyed multiply hash (Fx: equal-length inputs whose
    /// words differ by multiples that cancel) spread out under a random seed.
    #[test]
    fn a_random_seed_spreads_keys_a_fixed_hash_collides() {
        // Under Fx, (a, b) and (a + d, b - d*K) collide for u64 words; build such pairs.
        const K: u64 = 0xf135_7aea_2e62_a9c5;
        let keys: Vec<(u64, u64)> = (0..1000u64)
            .map(|d| (d, 0u64.wrapping_sub(d.wrapping_mul(K))))
            .collect();
        let fx: std::collections::HashSet<u64> =
            keys.iter().map(|k| FxBuildHasher.hash_one(k)).collect();
        assert_eq!(fx.len(), 1, "the crafted keys collide under Fx");
        for seed in [HashSeed::random(), HashSeed::random()] {
            let seeded: std::collections::HashSet<u64> =
                keys.iter().map(|k| seed.hash_one(k)).collect();
            assert_eq!(seeded.len(), keys.len());
            let parts: std::collections::HashSet<u64> =
                keys.iter().map(|k| seed.partition_hash(k) >> 62).collect();
            assert_eq!(
                parts.len(),
                4,
                "the keys reach every quarter of the hash space"
            );
        }
    }

    /// Keys alike in their low bits (a product's low bits depend only on the factors' low
    /// bits) still spread over a table's buckets, which take the hash's low bits.
    #[test]
    fn keys_alike_in_low_bits_spread_over_buckets() {
        let seed = HashSeed::random();
        let buckets: std::collections::HashSet<u64> = (0..4096u64)
            .map(|i| seed.hash_one((i << 40, 7u64)) & 4095)
            .collect();
        // A random function fills ~63% of 4096 buckets with 4096 keys.
        assert!(buckets.len() > 2300, "{} buckets used", buckets.len());
        let strings: std::collections::HashSet<u64> = (0..4096u32)
            .map(|i| seed.hash_one(format!("same-prefix-{i:08}")) & 4095)
            .collect();
        assert!(strings.len() > 2300, "{} buckets used", strings.len());
    }

    #[test]
    fn seeds_differ_and_stay_out_of_logs() {
        let a = HashSeed::random();
        assert_ne!(a, HashSeed::random());
        assert_eq!(a, a);
        assert_eq!(format!("{a:?}"), "HashSeed(..)");
    }
}
