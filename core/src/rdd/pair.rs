//! Key-value operations on `Rdd<(K, V)>`: aggregation by key (with map-side combine), grouping,
//! partitioning and sorting (co-grouping and joins are in `cogroup`).
//!
//! Every aggregation is one mechanism, [`Rdd::combine_by_key_with_partitioner`]: combine values
//! within each map partition, shuffle the combiners, merge them on the reduce side. When the input
//! is already partitioned the right way, no shuffle happens at all.

use std::any::Any;
use std::collections::HashMap;
use std::sync::Arc;

use rand::{Rng, SeedableRng};

use super::combiners::Combiners;
use super::{Dependency, PartitionIter, Rdd, RddOp};
use crate::dag::ShuffleDepBase;
use crate::data::{Data, Key};
use crate::error::Result;
use crate::hash::HashSeed;
use crate::hash::partition_hash;
use crate::partitioner::{HashPartitioner, Partitioner, RangePartitioner};
use crate::rdd::shuffle_dep::ShuffleDep;
use crate::task::TaskContext;

/// The reduce side of a shuffle: reads one bucket from every map output.
struct ShuffledOp<K, V> {
    dep: Arc<ShuffleDep<K, V>>,
}

impl<K: Key, V: Data> RddOp<(K, V)> for ShuffledOp<K, V> {
    fn num_partitions(&self) -> usize {
        self.dep.num_reduces()
    }
    fn dependencies(&self) -> Vec<Dependency> {
        vec![Dependency::Shuffle(
            Arc::clone(&self.dep) as Arc<dyn ShuffleDepBase>
        )]
    }
    fn compute(&self, partition: usize, tc: &TaskContext) -> Result<PartitionIter<(K, V)>> {
        Ok(PartitionIter::new(self.dep.read(partition, tc)?))
    }
}

/// Stores a partitioner in RDD metadata (which is not generic over the key type).
pub(crate) fn erase<K: 'static>(p: Arc<dyn Partitioner<K>>) -> Arc<dyn Any + Send + Sync> {
    Arc::new(p)
}

impl<K: Key, V: Data> Rdd<(K, V)> {
    /// The partitioner this RDD is known to be partitioned by, if any.
    ///
    /// # Examples
    ///
    /// ```
    /// let ctx = spate_core::Context::local(1).unwrap();
    /// let r = ctx.parallelize(vec![(1, 'a')], 1);
    /// assert!(r.partitioner().is_none());
    /// assert_eq!(r.group_by_key_with_partitions(3).partitioner().unwrap().num_partitions(), 3);
    /// ```
    pub fn partitioner(&self) -> Option<Arc<dyn Partitioner<K>>> {
        self.node
            .meta
            .partitioner
            .as_ref()?
            .downcast_ref::<Arc<dyn Partitioner<K>>>()
            .cloned()
    }

    /// The partitioner a shuffle uses when given none: an existing partitioner of the inputs
    /// (the one with most partitions), else a hash partitioner over `spate.default.parallelism`
    /// partitions, else over as many as the largest input has.
    pub(crate) fn default_partitioner(
        &self,
        others: &[(Option<Arc<dyn Partitioner<K>>>, usize)],
    ) -> Arc<dyn Partitioner<K>> {
        let mut inputs = vec![(self.partitioner(), self.num_partitions())];
        inputs.extend(others.iter().cloned());
        if let Some(p) = inputs
            .iter()
            .filter_map(|(p, _)| p.clone())
            .max_by_key(|p| p.num_partitions())
        {
            return p;
        }
        let n = self
            .context()
            .inner
            .default_parallelism
            .unwrap_or_else(|| inputs.iter().map(|(_, n)| *n).max().unwrap_or(1));
        Arc::new(self.context().hash_partitioner(n))
    }

    /// `partitioner`, keyed by this application's hash seed when it is a hash partitioner made
    /// without one ([`HashPartitioner::new`]): user keys are never hashed with the fixed,
    /// public seed (see [`crate::hash`]).
    pub(crate) fn keyed(&self, partitioner: Arc<dyn Partitioner<K>>) -> Arc<dyn Partitioner<K>> {
        match partitioner.as_any().downcast_ref::<HashPartitioner>() {
            Some(h) if h.seed() == HashSeed::FIXED => {
                Arc::new(self.context().hash_partitioner(h.partitions()))
            }
            _ => partitioner,
        }
    }

    /// Redistributes records by `partitioner` (a shuffle), named `op_name` in the lineage.
    #[track_caller]
    pub(crate) fn shuffle(
        &self,
        op_name: &'static str,
        partitioner: Arc<dyn Partitioner<K>>,
    ) -> Rdd<(K, V)> {
        let partitioner = self.keyed(partitioner);
        let dep = Arc::new(ShuffleDep::new(self.clone(), Arc::clone(&partitioner)));
        Rdd::from_op(
            self.context(),
            op_name,
            Some(erase(partitioner)),
            ShuffledOp { dep },
        )
    }

    /// Applies `f` to every value, keeping keys (and so the partitioning).
    ///
    /// # Examples
    ///
    /// ```
    /// let ctx = spate_core::Context::local(1).unwrap();
    /// let r = ctx.parallelize(vec![('a', 1)], 1).map_values(|v| v * 10);
    /// assert_eq!(r.collect().unwrap(), [('a', 10)]);
    /// ```
    #[track_caller]
    pub fn map_values<W: Data>(&self, f: impl Fn(V) -> W + Send + Sync + 'static) -> Rdd<(K, W)> {
        let f = Arc::new(f);
        self.narrow("map_values", true, move |_, it| {
            let f = Arc::clone(&f);
            PartitionIter::new(it.map(move |(k, v)| (k, f(v))))
        })
    }

    /// Applies `f` to every value and pairs each result with the key.
    ///
    /// # Examples
    ///
    /// ```
    /// let ctx = spate_core::Context::local(1).unwrap();
    /// let r = ctx.parallelize(vec![('a', 2)], 1).flat_map_values(|n| 0..n);
    /// assert_eq!(r.collect().unwrap(), [('a', 0), ('a', 1)]);
    /// ```
    #[track_caller]
    pub fn flat_map_values<W: Data, I>(
        &self,
        f: impl Fn(V) -> I + Send + Sync + 'static,
    ) -> Rdd<(K, W)>
    where
        I: IntoIterator<Item = W>,
        I::IntoIter: 'static,
    {
        self.flat_map_values_named("flat_map_values", f)
    }

    /// Like [`Rdd::flat_map_values`], but `f` also sees the key (which it cannot change, so
    /// the partitioning is kept): e.g. per-key state machines over co-grouped data.
    ///
    /// # Examples
    ///
    /// ```
    /// let ctx = spate_core::Context::local(1).unwrap();
    /// let r = ctx.parallelize(vec![(3, 'a')], 1).flat_map_with_key(|k, c| vec![c; *k]);
    /// assert_eq!(r.collect().unwrap(), [(3, 'a'), (3, 'a'), (3, 'a')]);
    /// ```
    #[track_caller]
    pub fn flat_map_with_key<W: Data, I>(
        &self,
        f: impl Fn(&K, V) -> I + Send + Sync + 'static,
    ) -> Rdd<(K, W)>
    where
        I: IntoIterator<Item = W>,
        I::IntoIter: 'static,
    {
        let f = Arc::new(f);
        self.narrow("flat_map_with_key", true, move |_, it| {
            let f = Arc::clone(&f);
            PartitionIter::new(it.flat_map(move |(k, v)| {
                let out = f(&k, v).into_iter();
                out.map(move |w| (k.clone(), w))
            }))
        })
    }

    #[track_caller]
    pub(crate) fn flat_map_values_named<W: Data, I>(
        &self,
        op_name: &'static str,
        f: impl Fn(V) -> I + Send + Sync + 'static,
    ) -> Rdd<(K, W)>
    where
        I: IntoIterator<Item = W>,
        I::IntoIter: 'static,
    {
        let f = Arc::new(f);
        self.narrow(op_name, true, move |_, it| {
            let f = Arc::clone(&f);
            PartitionIter::new(
                it.flat_map(move |(k, v)| f(v).into_iter().map(move |w| (k.clone(), w))),
            )
        })
    }

    /// The keys.
    ///
    /// # Examples
    ///
    /// ```
    /// let ctx = spate_core::Context::local(1).unwrap();
    /// assert_eq!(ctx.parallelize(vec![(1, 'a'), (2, 'b')], 1).keys().collect().unwrap(), [1, 2]);
    /// ```
    #[track_caller]
    pub fn keys(&self) -> Rdd<K> {
        self.narrow("keys", false, |_, it| {
            PartitionIter::new(it.map(|(k, _)| k))
        })
    }

    /// The values.
    ///
    /// # Examples
    ///
    /// ```
    /// let ctx = spate_core::Context::local(1).unwrap();
    /// assert_eq!(ctx.parallelize(vec![(1, 'a'), (2, 'b')], 1).values().collect().unwrap(), ['a', 'b']);
    /// ```
    #[track_caller]
    pub fn values(&self) -> Rdd<V> {
        self.narrow("values", false, |_, it| {
            PartitionIter::new(it.map(|(_, v)| v))
        })
    }

    /// The general aggregation: per key, `create` a combiner from the first value, fold further
    /// values in with `merge_value`, and merge combiners from different partitions with
    /// `merge_combiners`. Combines map-side before the shuffle.
    ///
    /// # Examples
    ///
    /// ```
    /// let ctx = spate_core::Context::local(2).unwrap();
    /// let avg = ctx
    ///     .parallelize(vec![('a', 1.0), ('a', 3.0), ('b', 5.0)], 2)
    ///     .combine_by_key(|v| (v, 1), |(s, n), v| (s + v, n + 1), |a, b| (a.0 + b.0, a.1 + b.1))
    ///     .map_values(|(s, n)| s / n as f64)
    ///     .collect_as_map()
    ///     .unwrap();
    /// assert_eq!(avg[&'a'], 2.0);
    /// ```
    #[track_caller]
    pub fn combine_by_key<C: Data>(
        &self,
        create: impl Fn(V) -> C + Send + Sync + 'static,
        merge_value: impl Fn(C, V) -> C + Send + Sync + 'static,
        merge_combiners: impl Fn(C, C) -> C + Send + Sync + 'static,
    ) -> Rdd<(K, C)> {
        let p = self.default_partitioner(&[]);
        self.combine_named(
            "combine_by_key",
            create,
            merge_value,
            merge_combiners,
            p,
            true,
        )
    }

    /// [`Rdd::combine_by_key`] into `partitions` hash partitions.
    ///
    /// # Examples
    ///
    /// ```
    /// let ctx = spate_core::Context::local(1).unwrap();
    /// let r = ctx.parallelize(vec![(1, 1)], 1).combine_by_key_with_partitions(|v| v, |a, b| a + b, |a, b| a + b, 4);
    /// assert_eq!(r.num_partitions(), 4);
    /// ```
    #[track_caller]
    pub fn combine_by_key_with_partitions<C: Data>(
        &self,
        create: impl Fn(V) -> C + Send + Sync + 'static,
        merge_value: impl Fn(C, V) -> C + Send + Sync + 'static,
        merge_combiners: impl Fn(C, C) -> C + Send + Sync + 'static,
        partitions: usize,
    ) -> Rdd<(K, C)> {
        let p = Arc::new(self.context().hash_partitioner(partitions));
        self.combine_named(
            "combine_by_key",
            create,
            merge_value,
            merge_combiners,
            p,
            true,
        )
    }

    /// [`Rdd::combine_by_key`] with a given partitioner; `map_side_combine` chooses whether
    /// values are combined before the shuffle (worth it unless keys rarely repeat).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use spate_core::HashPartitioner;
    /// let ctx = spate_core::Context::local(1).unwrap();
    /// let p = Arc::new(HashPartitioner::new(2));
    /// let r = ctx.parallelize(vec![('x', 1), ('x', 2)], 2)
    ///     .combine_by_key_with_partitioner(|v| vec![v], |mut c, v| { c.push(v); c }, |mut a, b| { a.extend(b); a }, p, false);
    /// let (_, mut vs) = r.collect().unwrap().pop().unwrap();
    /// vs.sort();
    /// assert_eq!(vs, [1, 2]);
    /// ```
    #[track_caller]
    pub fn combine_by_key_with_partitioner<C: Data>(
        &self,
        create: impl Fn(V) -> C + Send + Sync + 'static,
        merge_value: impl Fn(C, V) -> C + Send + Sync + 'static,
        merge_combiners: impl Fn(C, C) -> C + Send + Sync + 'static,
        partitioner: Arc<dyn Partitioner<K>>,
        map_side_combine: bool,
    ) -> Rdd<(K, C)> {
        self.combine_named(
            "combine_by_key",
            create,
            merge_value,
            merge_combiners,
            partitioner,
            map_side_combine,
        )
    }

    #[track_caller]
    pub(crate) fn combine_named<C: Data>(
        &self,
        op_name: &'static str,
        create: impl Fn(V) -> C + Send + Sync + 'static,
        merge_value: impl Fn(C, V) -> C + Send + Sync + 'static,
        merge_combiners: impl Fn(C, C) -> C + Send + Sync + 'static,
        partitioner: Arc<dyn Partitioner<K>>,
        map_side_combine: bool,
    ) -> Rdd<(K, C)> {
        let (create, merge_value) = (Arc::new(create), Arc::new(merge_value));
        let seed = self.context().hash_seed();
        let partitioner = self.keyed(partitioner);
        if self
            .partitioner()
            .is_some_and(|mine| mine.same_as(&*partitioner))
        {
            // Every key is already in its final partition: combine in place, no shuffle.
            return self.narrow(op_name, true, move |_, it| {
                PartitionIter::new(
                    Combiners::combine(it, seed, &*create, &*merge_value).into_iter(),
                )
            });
        }
        if map_side_combine {
            let merge_combiners = Arc::new(merge_combiners);
            let pre: Rdd<(K, C)> = self.narrow("map_side_combine", false, move |_, it| {
                PartitionIter::new(
                    Combiners::combine(it, seed, &*create, &*merge_value).into_iter(),
                )
            });
            pre.shuffle("shuffle", partitioner)
                .narrow(op_name, true, move |_, it| {
                    PartitionIter::new(
                        Combiners::combine(it, seed, &|c| c, &*merge_combiners).into_iter(),
                    )
                })
        } else {
            self.shuffle("shuffle", partitioner)
                .narrow(op_name, true, move |_, it| {
                    PartitionIter::new(
                        Combiners::combine(it, seed, &*create, &*merge_value).into_iter(),
                    )
                })
        }
    }

    /// Merges the values of each key with `f` (associative and commutative), combining
    /// map-side before the shuffle.
    ///
    /// # Examples
    ///
    /// ```
    /// let ctx = spate_core::Context::local(2).unwrap();
    /// let m = ctx.parallelize(vec![('a', 1), ('b', 1), ('a', 1)], 2).reduce_by_key(|a, b| a + b).collect_as_map().unwrap();
    /// assert_eq!(m[&'a'], 2);
    /// ```
    #[track_caller]
    pub fn reduce_by_key(&self, f: impl Fn(V, V) -> V + Send + Sync + 'static) -> Rdd<(K, V)> {
        let p = self.default_partitioner(&[]);
        self.reduce_by_key_with_partitioner(f, p)
    }

    /// [`Rdd::reduce_by_key`] into `partitions` hash partitions.
    ///
    /// # Examples
    ///
    /// ```
    /// let ctx = spate_core::Context::local(1).unwrap();
    /// let r = ctx.parallelize(vec![(1, 1), (1, 2)], 2).reduce_by_key_with_partitions(|a, b| a + b, 3);
    /// assert_eq!(r.num_partitions(), 3);
    /// assert_eq!(r.collect().unwrap(), [(1, 3)]);
    /// ```
    #[track_caller]
    pub fn reduce_by_key_with_partitions(
        &self,
        f: impl Fn(V, V) -> V + Send + Sync + 'static,
        partitions: usize,
    ) -> Rdd<(K, V)> {
        self.reduce_by_key_with_partitioner(
            f,
            Arc::new(self.context().hash_partitioner(partitions)),
        )
    }

    /// [`Rdd::reduce_by_key`] with a given partitioner.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// let ctx = spate_core::Context::local(1).unwrap();
    /// let p = Arc::new(spate_core::HashPartitioner::new(2));
    /// let r = ctx.parallelize(vec![('k', 2), ('k', 3)], 1).reduce_by_key_with_partitioner(|a, b| a * b, p);
    /// assert_eq!(r.collect().unwrap(), [('k', 6)]);
    /// ```
    #[track_caller]
    pub fn reduce_by_key_with_partitioner(
        &self,
        f: impl Fn(V, V) -> V + Send + Sync + 'static,
        partitioner: Arc<dyn Partitioner<K>>,
    ) -> Rdd<(K, V)> {
        let f = Arc::new(f);
        let g = Arc::clone(&f);
        self.combine_named(
            "reduce_by_key",
            |v| v,
            move |a, b| f(a, b),
            move |a, b| g(a, b),
            partitioner,
            true,
        )
    }

    /// Folds the values of each key from `zero` with `f`.
    ///
    /// # Examples
    ///
    /// ```
    /// let ctx = spate_core::Context::local(2).unwrap();
    /// let m = ctx.parallelize(vec![('a', 2), ('a', 3)], 2).fold_by_key(1, |a, b| a * b).collect_as_map().unwrap();
    /// assert_eq!(m[&'a'], 6);
    /// ```
    #[track_caller]
    pub fn fold_by_key(
        &self,
        zero: V,
        f: impl Fn(V, V) -> V + Send + Sync + 'static,
    ) -> Rdd<(K, V)> {
        let n = self.default_partitioner(&[]).num_partitions();
        self.fold_by_key_with_partitions(zero, f, n)
    }

    /// [`Rdd::fold_by_key`] into `partitions` hash partitions.
    ///
    /// # Examples
    ///
    /// ```
    /// let ctx = spate_core::Context::local(1).unwrap();
    /// let r = ctx.parallelize(vec![(0, 5)], 1).fold_by_key_with_partitions(0, |a, b| a + b, 2);
    /// assert_eq!(r.num_partitions(), 2);
    /// ```
    #[track_caller]
    pub fn fold_by_key_with_partitions(
        &self,
        zero: V,
        f: impl Fn(V, V) -> V + Send + Sync + 'static,
        partitions: usize,
    ) -> Rdd<(K, V)> {
        let f = Arc::new(f);
        let (g, h) = (Arc::clone(&f), Arc::clone(&f));
        let p = Arc::new(self.context().hash_partitioner(partitions));
        self.combine_named(
            "fold_by_key",
            move |v| f(zero.clone(), v),
            move |a, b| g(a, b),
            move |a, b| h(a, b),
            p,
            true,
        )
    }

    /// Aggregates the values of each key into a `U`: `seq` folds values in from `zero`, `comb`
    /// merges partial results.
    ///
    /// # Examples
    ///
    /// ```
    /// let ctx = spate_core::Context::local(2).unwrap();
    /// let m = ctx.parallelize(vec![('a', 3), ('a', 9)], 2)
    ///     .aggregate_by_key(0, |m: i32, v| m.max(v), |a, b| a.max(b))
    ///     .collect_as_map().unwrap();
    /// assert_eq!(m[&'a'], 9);
    /// ```
    #[track_caller]
    pub fn aggregate_by_key<U: Data>(
        &self,
        zero: U,
        seq: impl Fn(U, V) -> U + Send + Sync + 'static,
        comb: impl Fn(U, U) -> U + Send + Sync + 'static,
    ) -> Rdd<(K, U)> {
        let n = self.default_partitioner(&[]).num_partitions();
        self.aggregate_by_key_with_partitions(zero, seq, comb, n)
    }

    /// [`Rdd::aggregate_by_key`] into `partitions` hash partitions.
    ///
    /// # Examples
    ///
    /// ```
    /// let ctx = spate_core::Context::local(1).unwrap();
    /// let r = ctx.parallelize(vec![(1, 1)], 1).aggregate_by_key_with_partitions(0, |a, b| a + b, |a, b| a + b, 5);
    /// assert_eq!(r.num_partitions(), 5);
    /// ```
    #[track_caller]
    pub fn aggregate_by_key_with_partitions<U: Data>(
        &self,
        zero: U,
        seq: impl Fn(U, V) -> U + Send + Sync + 'static,
        comb: impl Fn(U, U) -> U + Send + Sync + 'static,
        partitions: usize,
    ) -> Rdd<(K, U)> {
        let seq = Arc::new(seq);
        let seq2 = Arc::clone(&seq);
        let p = Arc::new(self.context().hash_partitioner(partitions));
        self.combine_named(
            "aggregate_by_key",
            move |v| seq(zero.clone(), v),
            move |u, v| seq2(u, v),
            comb,
            p,
            true,
        )
    }

    /// All values of each key, in one `Vec` (no map-side combine: it would not shrink the data).
    ///
    /// # Examples
    ///
    /// ```
    /// let ctx = spate_core::Context::local(2).unwrap();
    /// let mut g = ctx.parallelize(vec![(1, 'a'), (2, 'b'), (1, 'c')], 2).group_by_key().collect_as_map().unwrap();
    /// g.get_mut(&1).unwrap().sort();
    /// assert_eq!(g[&1], ['a', 'c']);
    /// ```
    #[track_caller]
    pub fn group_by_key(&self) -> Rdd<(K, Vec<V>)> {
        let p = self.default_partitioner(&[]);
        self.group_by_key_with_partitioner(p)
    }

    /// [`Rdd::group_by_key`] into `partitions` hash partitions.
    ///
    /// # Examples
    ///
    /// ```
    /// let ctx = spate_core::Context::local(1).unwrap();
    /// assert_eq!(ctx.parallelize(vec![(1, 1)], 1).group_by_key_with_partitions(2).num_partitions(), 2);
    /// ```
    #[track_caller]
    pub fn group_by_key_with_partitions(&self, partitions: usize) -> Rdd<(K, Vec<V>)> {
        self.group_by_key_with_partitioner(Arc::new(self.context().hash_partitioner(partitions)))
    }

    /// [`Rdd::group_by_key`] with a given partitioner.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// let ctx = spate_core::Context::local(1).unwrap();
    /// let p = Arc::new(spate_core::HashPartitioner::new(1));
    /// assert_eq!(ctx.parallelize(vec![(1, 1), (1, 2)], 2).group_by_key_with_partitioner(p).count().unwrap(), 1);
    /// ```
    #[track_caller]
    pub fn group_by_key_with_partitioner(
        &self,
        partitioner: Arc<dyn Partitioner<K>>,
    ) -> Rdd<(K, Vec<V>)> {
        self.combine_named(
            "group_by_key",
            |v| vec![v],
            |mut c, v| {
                c.push(v);
                c
            },
            |mut a, b| {
                a.extend(b);
                a
            },
            partitioner,
            false,
        )
    }

    /// Redistributes the records by `partitioner` (no-op when already partitioned by it).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// let ctx = spate_core::Context::local(1).unwrap();
    /// let p = Arc::new(spate_core::HashPartitioner::new(4));
    /// let r = ctx.parallelize((0..20).map(|i| (i, i)).collect(), 2).partition_by(p);
    /// assert_eq!(r.num_partitions(), 4);
    /// assert_eq!(r.count().unwrap(), 20);
    /// ```
    #[track_caller]
    pub fn partition_by(&self, partitioner: Arc<dyn Partitioner<K>>) -> Rdd<(K, V)> {
        if self
            .partitioner()
            .is_some_and(|mine| mine.same_as(&*partitioner))
        {
            return self.clone();
        }
        self.shuffle("partition_by", partitioner)
    }

    /// How many records each key has.
    ///
    /// # Examples
    ///
    /// ```
    /// let ctx = spate_core::Context::local(1).unwrap();
    /// let m = ctx.parallelize(vec![('a', 0), ('a', 0), ('b', 0)], 2).count_by_key().unwrap();
    /// assert_eq!((m[&'a'], m[&'b']), (2, 1));
    /// ```
    pub fn count_by_key(&self) -> Result<HashMap<K, u64>> {
        let ones: Rdd<(K, u64)> = self.narrow("count_by_key", true, |_, it| {
            PartitionIter::new(it.map(|(k, _)| (k, 1)))
        });
        ones.reduce_by_key(|a, b| a + b).collect_as_map()
    }

    /// The records as a map (for a key seen twice, the later record wins).
    ///
    /// # Examples
    ///
    /// ```
    /// let ctx = spate_core::Context::local(1).unwrap();
    /// let m = ctx.parallelize(vec![(1, 'a'), (2, 'b')], 2).collect_as_map().unwrap();
    /// assert_eq!(m[&2], 'b');
    /// ```
    pub fn collect_as_map(&self) -> Result<HashMap<K, V>> {
        Ok(self.collect()?.into_iter().collect())
    }
}

impl<K: Key + Ord, V: Data> Rdd<(K, V)> {
    /// Sorts by key into as many partitions as this RDD has: a range partitioning (its bounds
    /// found by a sampling job, run now) then a sort within each partition. Collecting gives
    /// the records in key order.
    ///
    /// # Examples
    ///
    /// ```
    /// let ctx = spate_core::Context::local(2).unwrap();
    /// let r = ctx.parallelize(vec![(3, 'c'), (1, 'a'), (2, 'b')], 2).sort_by_key(true).unwrap();
    /// assert_eq!(r.keys().collect().unwrap(), [1, 2, 3]);
    /// ```
    #[track_caller]
    pub fn sort_by_key(&self, ascending: bool) -> Result<Rdd<(K, V)>> {
        self.sort_by_key_with_partitions(ascending, self.num_partitions())
    }

    /// [`Rdd::sort_by_key`] into (at most) `partitions` partitions.
    ///
    /// # Examples
    ///
    /// ```
    /// let ctx = spate_core::Context::local(2).unwrap();
    /// let r = ctx.parallelize((0..100).map(|i| (i, ())).collect(), 3).sort_by_key_with_partitions(false, 4).unwrap();
    /// assert_eq!(r.keys().take(2).unwrap(), [99, 98]);
    /// ```
    #[track_caller]
    pub fn sort_by_key_with_partitions(
        &self,
        ascending: bool,
        partitions: usize,
    ) -> Result<Rdd<(K, V)>> {
        let bounds = self.range_bounds(partitions.max(1))?;
        let partitioner = Arc::new(RangePartitioner::from_bounds(bounds, ascending));
        Ok(self
            .shuffle("shuffle", partitioner)
            .narrow("sort_by_key", true, move |_, it| {
                let mut v: Vec<(K, V)> = it.collect();
                if ascending {
                    v.sort_by(|a, b| a.0.cmp(&b.0));
                } else {
                    v.sort_by(|a, b| b.0.cmp(&a.0));
                }
                PartitionIter::new(v.into_iter())
            }))
    }

    /// Up to `partitions - 1` ascending bounds splitting the keys into ranges of about equal
    /// weight, from a per-partition reservoir sample weighted by partition size.
    fn range_bounds(&self, partitions: usize) -> Result<Vec<K>> {
        if partitions <= 1 || self.num_partitions() == 0 {
            return Ok(Vec::new());
        }
        let per_partition = (60 * partitions).div_ceil(self.num_partitions()).max(1);
        let samples = self.run_job_inner(true, move |tc, it| {
            let mut rng = rand::rngs::StdRng::seed_from_u64(partition_hash(&tc.partition()));
            let mut reservoir: Vec<K> = Vec::with_capacity(per_partition);
            let mut seen = 0u64;
            for (k, _) in it {
                seen += 1;
                if reservoir.len() < per_partition {
                    reservoir.push(k);
                } else {
                    let j = rng.random_range(0..seen);
                    if (j as usize) < per_partition {
                        reservoir[j as usize] = k;
                    }
                }
            }
            Ok((seen, reservoir))
        })?;
        let mut weighted: Vec<(K, f64)> = samples
            .into_iter()
            .filter(|(_, r)| !r.is_empty())
            .flat_map(|(seen, r)| {
                let w = seen as f64 / r.len() as f64;
                r.into_iter().map(move |k| (k, w))
            })
            .collect();
        weighted.sort_by(|a, b| a.0.cmp(&b.0));
        let total: f64 = weighted.iter().map(|(_, w)| w).sum();
        let step = total / partitions as f64;
        let mut bounds: Vec<K> = Vec::new();
        let (mut cumulative, mut target) = (0.0, step);
        for (k, w) in weighted {
            cumulative += w;
            if cumulative >= target && bounds.last().is_none_or(|b| k > *b) {
                bounds.push(k);
                target += step;
                if bounds.len() == partitions - 1 {
                    break;
                }
            }
        }
        Ok(bounds)
    }
}
