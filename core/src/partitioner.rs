//! Partitioners: which partition of a shuffle's output a key goes to.

use std::any::Any;
use std::cmp::Ordering;
use std::hash::Hash;
use std::sync::Arc;

use crate::hash::HashSeed;

/// Maps keys to partitions `0..num_partitions()`.
///
/// Implementations must be deterministic: the same key goes to the same partition in every
/// process (spate runs the same binary as driver and executors, so "same code" is enough).
///
/// # Examples
///
/// ```
/// use spate_core::{HashPartitioner, Partitioner};
/// let p = HashPartitioner::new(4);
/// let i = Partitioner::<String>::partition(&p, &"key".to_string());
/// assert!(i < 4);
/// ```
pub trait Partitioner<K>: Send + Sync + 'static {
    /// How many partitions there are.
    fn num_partitions(&self) -> usize;
    /// The partition of `key`.
    fn partition(&self, key: &K) -> usize;
    /// Whether `other` partitions every key the same way (lets spate skip a shuffle).
    fn same_as(&self, other: &dyn Partitioner<K>) -> bool {
        let _ = other;
        false
    }
    /// `self` as `Any`, for [`Partitioner::same_as`] implementations.
    fn as_any(&self) -> &dyn Any;
}

/// Partitions by a hash of the key, keyed by the application's [`HashSeed`] (see
/// [`crate::hash`]).
///
/// The shuffles spate makes (`reduce_by_key`, joins, …) use [`crate::Context::hash_partitioner`],
/// seeded per application. [`HashPartitioner::new`] has the fixed seed; given to an RDD
/// (`partition_by`, `reduce_by_key_with_partitioner`, …) it takes the application's seed, so
/// it partitions like the context's own.
///
/// # Examples
///
/// ```
/// use spate_core::{HashPartitioner, Partitioner};
/// let a = HashPartitioner::new(3);
/// assert!(Partitioner::<u64>::same_as(&a, &HashPartitioner::new(3)));
/// assert!(!Partitioner::<u64>::same_as(&a, &HashPartitioner::new(4)));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HashPartitioner {
    partitions: usize,
    seed: HashSeed,
}

impl HashPartitioner {
    /// A hash partitioner over `partitions` partitions (at least 1), with the fixed seed.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(spate_core::HashPartitioner::new(0), spate_core::HashPartitioner::new(1));
    /// ```
    pub fn new(partitions: usize) -> HashPartitioner {
        HashPartitioner::seeded(partitions, HashSeed::FIXED)
    }

    /// A hash partitioner over `partitions` partitions (at least 1) keyed by `seed`; two are
    /// the same partitioning only with equal seeds.
    ///
    /// # Examples
    ///
    /// ```
    /// use spate_core::{HashPartitioner, hash::HashSeed};
    /// let s = HashSeed::from_u64(9);
    /// assert_eq!(HashPartitioner::seeded(2, s), HashPartitioner::seeded(2, s));
    /// assert_ne!(HashPartitioner::seeded(2, s), HashPartitioner::new(2));
    /// ```
    pub fn seeded(partitions: usize, seed: HashSeed) -> HashPartitioner {
        HashPartitioner {
            partitions: partitions.max(1),
            seed,
        }
    }

    /// How many partitions.
    pub fn partitions(&self) -> usize {
        self.partitions
    }

    /// The seed its hash is keyed by.
    pub fn seed(&self) -> HashSeed {
        self.seed
    }
}

impl<K: Hash + 'static> Partitioner<K> for HashPartitioner {
    fn num_partitions(&self) -> usize {
        self.partitions
    }
    #[inline]
    fn partition(&self, key: &K) -> usize {
        // Multiply-shift maps the 64-bit hash onto 0..n without a division.
        ((self.seed.partition_hash(key) as u128 * self.partitions as u128) >> 64) as usize
    }
    fn same_as(&self, other: &dyn Partitioner<K>) -> bool {
        other.as_any().downcast_ref::<HashPartitioner>() == Some(self)
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// Partitions ordered keys into contiguous ranges, for sorting; built by sampling an RDD
/// (see `Rdd::sort_by_key`).
///
/// # Examples
///
/// ```
/// use spate_core::{Partitioner, RangePartitioner};
/// let p = RangePartitioner::from_bounds(vec![10, 20], true);
/// assert_eq!(p.partition(&5), 0);
/// assert_eq!(p.partition(&10), 0);
/// assert_eq!(p.partition(&15), 1);
/// assert_eq!(p.partition(&99), 2);
/// let d = RangePartitioner::from_bounds(vec![10, 20], false);
/// assert_eq!(d.partition(&99), 0);
/// ```
#[derive(Clone, Debug)]
pub struct RangePartitioner<K> {
    bounds: Arc<Vec<K>>,
    ascending: bool,
}

impl<K: Ord> RangePartitioner<K> {
    /// A partitioner with `bounds.len() + 1` partitions: partition `i` holds keys `<= bounds[i]`
    /// and `> bounds[i - 1]` (reversed when descending). `bounds` must be sorted ascending.
    ///
    /// # Examples
    ///
    /// ```
    /// let p = spate_core::RangePartitioner::from_bounds(vec!['m'], true);
    /// assert_eq!(spate_core::Partitioner::num_partitions(&p), 2);
    /// ```
    pub fn from_bounds(bounds: Vec<K>, ascending: bool) -> RangePartitioner<K> {
        RangePartitioner {
            bounds: Arc::new(bounds),
            ascending,
        }
    }

    /// Whether the order is ascending.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(spate_core::RangePartitioner::from_bounds(vec![1], true).ascending());
    /// ```
    pub fn ascending(&self) -> bool {
        self.ascending
    }
}

impl<K: Ord + Send + Sync + 'static> Partitioner<K> for RangePartitioner<K> {
    fn num_partitions(&self) -> usize {
        self.bounds.len() + 1
    }
    fn partition(&self, key: &K) -> usize {
        let i = self
            .bounds
            .binary_search_by(|b| match b.cmp(key) {
                Ordering::Equal => Ordering::Greater,
                o => o,
            })
            .unwrap_or_else(|i| i);
        if self.ascending {
            i
        } else {
            self.bounds.len() - i
        }
    }
    fn same_as(&self, other: &dyn Partitioner<K>) -> bool {
        other
            .as_any()
            .downcast_ref::<RangePartitioner<K>>()
            .is_some_and(|o| o.ascending == self.ascending && *o.bounds == *self.bounds)
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_partitioner_spreads_keys() {
        for seed in [HashSeed::FIXED, HashSeed::random(), HashSeed::from_u64(1)] {
            let p = HashPartitioner::seeded(4, seed);
            let mut counts = [0usize; 4];
            for k in 0..10_000u64 {
                counts[Partitioner::<u64>::partition(&p, &k)] += 1;
            }
            assert!(counts.iter().all(|&c| c > 2000), "{counts:?}");
            let mut counts = [0usize; 4];
            for k in 0..10_000u64 {
                counts[Partitioner::<String>::partition(&p, &format!("w{k}"))] += 1;
            }
            assert!(counts.iter().all(|&c| c > 2000), "{counts:?}");
        }
    }

    #[test]
    fn range_partitioner_is_monotone() {
        let p = RangePartitioner::from_bounds(vec![3, 7, 7, 9], true);
        let parts: Vec<usize> = (0..12).map(|k| p.partition(&k)).collect();
        assert!(parts.windows(2).all(|w| w[0] <= w[1]), "{parts:?}");
        assert_eq!(parts[3], 0);
        assert_eq!(parts[4], 1);
    }
}
