//! Narrow transformations: each output partition depends on a bounded set of parent partitions,
//! so they are pipelined into one task. `map`, `flat_map`, `filter` and friends are one generic
//! operation whose closure is monomorphized into the partition's iterator chain.

use std::any::Any;
use std::marker::PhantomData;
use std::ops::Range;
use std::sync::Arc;

use rand::{Rng, SeedableRng};
use rand_distr::Distribution;

use super::{Dependency, PartitionIter, Rdd, RddOp};
use crate::dag::RddBase;
use crate::data::{Data, Key};
use crate::error::{Error, Result};
use crate::hash::partition_hash;
use crate::partitioner::Partitioner;
use crate::task::TaskContext;

/// Applies `f` to each partition's iterator of the parent.
pub(crate) struct MapPartitionsOp<T, U, F> {
    parent: Rdd<T>,
    f: F,
    _out: PhantomData<fn() -> U>,
}

impl<T, U, F> RddOp<U> for MapPartitionsOp<T, U, F>
where
    T: Data,
    U: Data,
    F: Fn(usize, PartitionIter<T>) -> PartitionIter<U> + Send + Sync + 'static,
{
    fn num_partitions(&self) -> usize {
        self.parent.num_partitions()
    }
    fn dependencies(&self) -> Vec<Dependency> {
        vec![Dependency::Narrow(self.parent.base())]
    }
    fn compute(&self, partition: usize, tc: &TaskContext) -> Result<PartitionIter<U>> {
        Ok((self.f)(
            partition,
            self.parent.node.iterator(partition, tc)?,
        ))
    }
}

/// The partitions of several parents, one after another.
pub(crate) struct UnionOp<T> {
    parents: Vec<Rdd<T>>,
}

impl<T: Data> UnionOp<T> {
    pub(crate) fn new(parents: Vec<Rdd<T>>) -> Self {
        UnionOp { parents }
    }
}

impl<T: Data> RddOp<T> for UnionOp<T> {
    fn num_partitions(&self) -> usize {
        self.parents.iter().map(Rdd::num_partitions).sum()
    }
    fn dependencies(&self) -> Vec<Dependency> {
        self.parents
            .iter()
            .map(|p| Dependency::Narrow(p.base()))
            .collect()
    }
    fn compute(&self, mut partition: usize, tc: &TaskContext) -> Result<PartitionIter<T>> {
        for p in &self.parents {
            if partition < p.num_partitions() {
                return p.node.iterator(partition, tc);
            }
            partition -= p.num_partitions();
        }
        Err(Error::Internal(format!(
            "union has no partition {partition}"
        )))
    }
    fn narrow_parents(&self, mut partition: usize) -> Vec<(Arc<dyn RddBase>, usize)> {
        for p in &self.parents {
            if partition < p.num_partitions() {
                return vec![(p.base(), partition)];
            }
            partition -= p.num_partitions();
        }
        Vec::new()
    }
}

/// Groups contiguous parent partitions without a shuffle.
struct CoalesceOp<T> {
    parent: Rdd<T>,
    groups: Vec<Range<usize>>,
}

impl<T: Data> RddOp<T> for CoalesceOp<T> {
    fn num_partitions(&self) -> usize {
        self.groups.len()
    }
    fn dependencies(&self) -> Vec<Dependency> {
        vec![Dependency::Narrow(self.parent.base())]
    }
    fn compute(&self, partition: usize, tc: &TaskContext) -> Result<PartitionIter<T>> {
        let iters = self.groups[partition]
            .clone()
            .map(|p| self.parent.node.iterator(p, tc))
            .collect::<Result<Vec<_>>>()?;
        Ok(PartitionIter::new(iters.into_iter().flatten()))
    }
}

/// Sends key `i` to partition `i mod n` (the keys `repartition` assigns round-robin).
struct RoundRobin(usize);

impl Partitioner<u64> for RoundRobin {
    fn num_partitions(&self) -> usize {
        self.0
    }
    fn partition(&self, key: &u64) -> usize {
        (*key % self.0 as u64) as usize
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

impl<T: Data> Rdd<T> {
    /// A narrow transformation named `op_name` applying `f` to each partition's iterator.
    /// `preserves_partitioning` carries the parent's partitioner over (keys unchanged).
    #[track_caller]
    pub(crate) fn narrow<U: Data>(
        &self,
        op_name: &'static str,
        preserves_partitioning: bool,
        f: impl Fn(usize, PartitionIter<T>) -> PartitionIter<U> + Send + Sync + 'static,
    ) -> Rdd<U> {
        let partitioner = if preserves_partitioning {
            self.node.meta.partitioner.clone()
        } else {
            None
        };
        let op = MapPartitionsOp {
            parent: self.clone(),
            f,
            _out: PhantomData,
        };
        Rdd::from_op(self.context(), op_name, partitioner, op)
    }

    /// Applies `f` to every element.
    ///
    /// # Examples
    ///
    /// ```
    /// let ctx = spate_core::Context::local(2).unwrap();
    /// let r = ctx.parallelize(vec![1, 2, 3], 2).map(|x| x * 2);
    /// assert_eq!(r.collect().unwrap(), [2, 4, 6]);
    /// ```
    #[track_caller]
    pub fn map<U: Data>(&self, f: impl Fn(T) -> U + Send + Sync + 'static) -> Rdd<U> {
        let f = Arc::new(f);
        self.narrow("map", false, move |_, it| {
            let f = Arc::clone(&f);
            PartitionIter::new(it.map(move |x| f(x)))
        })
    }

    /// Applies `f` to every element and flattens the results.
    ///
    /// # Examples
    ///
    /// ```
    /// use spate_core::Text;
    /// let ctx = spate_core::Context::local(2).unwrap();
    /// let lines = ctx.parallelize(vec![Text::from("a b"), Text::from("c")], 2);
    /// let words = lines.flat_map(|l| l.split(' '));
    /// assert_eq!(words.collect().unwrap(), ["a", "b", "c"]);
    /// ```
    #[track_caller]
    pub fn flat_map<U: Data, I>(&self, f: impl Fn(T) -> I + Send + Sync + 'static) -> Rdd<U>
    where
        I: IntoIterator<Item = U> + 'static,
        I::IntoIter: 'static,
    {
        let f = Arc::new(f);
        self.narrow("flat_map", false, move |_, it| {
            let f = Arc::clone(&f);
            PartitionIter::new(it.flat_map(move |x| f(x)))
        })
    }

    /// Keeps the elements for which `f` is true.
    ///
    /// # Examples
    ///
    /// ```
    /// let ctx = spate_core::Context::local(2).unwrap();
    /// let r = ctx.parallelize((1..=6).collect::<Vec<_>>(), 3).filter(|x| x % 2 == 0);
    /// assert_eq!(r.collect().unwrap(), [2, 4, 6]);
    /// ```
    #[track_caller]
    pub fn filter(&self, f: impl Fn(&T) -> bool + Send + Sync + 'static) -> Rdd<T> {
        let f = Arc::new(f);
        self.narrow("filter", true, move |_, it| {
            let f = Arc::clone(&f);
            PartitionIter::new(it.filter(move |x| f(x)))
        })
    }

    /// Applies `f` to each partition's whole iterator.
    ///
    /// # Examples
    ///
    /// ```
    /// let ctx = spate_core::Context::local(2).unwrap();
    /// let sums = ctx.parallelize(vec![1, 2, 3, 4], 2).map_partitions(|it| std::iter::once(it.sum::<i32>()));
    /// assert_eq!(sums.collect().unwrap(), [3, 7]);
    /// ```
    #[track_caller]
    pub fn map_partitions<U: Data, I>(
        &self,
        f: impl Fn(PartitionIter<T>) -> I + Send + Sync + 'static,
    ) -> Rdd<U>
    where
        I: IntoIterator<Item = U>,
        I::IntoIter: 'static,
    {
        self.narrow("map_partitions", false, move |_, it| {
            PartitionIter::new(f(it).into_iter())
        })
    }

    /// Applies `f` to each partition's index and iterator.
    ///
    /// # Examples
    ///
    /// ```
    /// let ctx = spate_core::Context::local(1).unwrap();
    /// let r = ctx.parallelize(vec!['a', 'b'], 2).map_partitions_with_index(|i, it| it.map(move |c| (i, c)));
    /// assert_eq!(r.collect().unwrap(), [(0, 'a'), (1, 'b')]);
    /// ```
    #[track_caller]
    pub fn map_partitions_with_index<U: Data, I>(
        &self,
        f: impl Fn(usize, PartitionIter<T>) -> I + Send + Sync + 'static,
    ) -> Rdd<U>
    where
        I: IntoIterator<Item = U>,
        I::IntoIter: 'static,
    {
        self.narrow("map_partitions_with_index", false, move |i, it| {
            PartitionIter::new(f(i, it).into_iter())
        })
    }

    /// This RDD's partitions followed by `other`'s.
    ///
    /// # Examples
    ///
    /// ```
    /// let ctx = spate_core::Context::local(1).unwrap();
    /// let a = ctx.parallelize(vec![1, 2], 1);
    /// assert_eq!(a.union(&a).collect().unwrap(), [1, 2, 1, 2]);
    /// ```
    #[track_caller]
    pub fn union(&self, other: &Rdd<T>) -> Rdd<T> {
        self.context().union(&[self.clone(), other.clone()])
    }

    /// Each partition as one `Vec`.
    ///
    /// # Examples
    ///
    /// ```
    /// let ctx = spate_core::Context::local(1).unwrap();
    /// let g = ctx.parallelize(vec![1, 2, 3], 2).glom().collect().unwrap();
    /// assert_eq!(g, [vec![1], vec![2, 3]]);
    /// ```
    #[track_caller]
    pub fn glom(&self) -> Rdd<Vec<T>> {
        self.narrow("glom", false, |_, it| {
            PartitionIter::new(std::iter::once(it.collect::<Vec<T>>()))
        })
    }

    /// Pairs each element with the key `f` computes for it.
    ///
    /// # Examples
    ///
    /// ```
    /// let ctx = spate_core::Context::local(1).unwrap();
    /// let r = ctx.parallelize(vec!["apple".to_string(), "bob".to_string()], 1).key_by(|s| s.len());
    /// assert_eq!(r.collect().unwrap(), [(5, "apple".to_string()), (3, "bob".to_string())]);
    /// ```
    #[track_caller]
    pub fn key_by<K: Data>(&self, f: impl Fn(&T) -> K + Send + Sync + 'static) -> Rdd<(K, T)> {
        let f = Arc::new(f);
        self.narrow("key_by", false, move |_, it| {
            let f = Arc::clone(&f);
            PartitionIter::new(it.map(move |x| (f(&x), x)))
        })
    }

    /// At most `partitions` partitions, each a contiguous group of this RDD's, without a
    /// shuffle. Asking for more partitions than there are changes nothing (use `repartition`).
    ///
    /// # Examples
    ///
    /// ```
    /// let ctx = spate_core::Context::local(1).unwrap();
    /// let r = ctx.parallelize((0..10).collect::<Vec<_>>(), 5).coalesce(2);
    /// assert_eq!(r.num_partitions(), 2);
    /// assert_eq!(r.collect().unwrap(), (0..10).collect::<Vec<_>>());
    /// ```
    #[track_caller]
    pub fn coalesce(&self, partitions: usize) -> Rdd<T> {
        let parent_n = self.num_partitions();
        let n = partitions.clamp(1, parent_n.max(1));
        let groups = (0..n)
            .map(|i| i * parent_n / n..(i + 1) * parent_n / n)
            .collect();
        let op = CoalesceOp {
            parent: self.clone(),
            groups,
        };
        Rdd::from_op(self.context(), "coalesce", None, op)
    }

    /// Exactly `partitions` partitions (at least 1), balanced by a shuffle that deals elements
    /// out round-robin.
    ///
    /// # Examples
    ///
    /// ```
    /// let ctx = spate_core::Context::local(2).unwrap();
    /// let r = ctx.parallelize((0..100).collect::<Vec<_>>(), 1).repartition(4);
    /// let sizes: Vec<usize> = r.glom().collect().unwrap().iter().map(Vec::len).collect();
    /// assert_eq!(sizes, [25, 25, 25, 25]);
    /// ```
    #[track_caller]
    pub fn repartition(&self, partitions: usize) -> Rdd<T> {
        let n = partitions.max(1);
        let dealt: Rdd<(u64, T)> = self.narrow("repartition (deal)", false, move |i, it| {
            // Start each input partition at a different output so small partitions spread out.
            let mut pos = partition_hash(&i) % n as u64;
            PartitionIter::new(it.map(move |x| {
                pos = (pos + 1) % n as u64;
                (pos, x)
            }))
        });
        dealt
            .shuffle("repartition (shuffle)", Arc::new(RoundRobin(n)))
            .narrow("repartition", false, |_, it| {
                PartitionIter::new(it.map(|(_, x)| x))
            })
    }

    /// A random sample: each element kept with probability `fraction` (without replacement,
    /// `0 <= fraction <= 1`), or repeated a Poisson(`fraction`) number of times (with
    /// replacement, `fraction >= 0`). The same seed gives the same sample.
    ///
    /// # Examples
    ///
    /// ```
    /// let ctx = spate_core::Context::local(2).unwrap();
    /// let data = ctx.parallelize((0..1000).collect::<Vec<u32>>(), 4);
    /// let s = data.sample(false, 0.1, 42).unwrap().collect().unwrap();
    /// assert!(s.len() > 50 && s.len() < 150);
    /// assert_eq!(s, data.sample(false, 0.1, 42).unwrap().collect().unwrap());
    /// assert!(data.sample(false, 1.5, 42).is_err());
    /// ```
    #[track_caller]
    pub fn sample(&self, with_replacement: bool, fraction: f64, seed: u64) -> Result<Rdd<T>> {
        let valid =
            fraction.is_finite() && fraction >= 0.0 && (with_replacement || fraction <= 1.0);
        if !valid {
            return Err(Error::InvalidArgument(format!(
                "sample fraction {fraction} must be {}",
                if with_replacement {
                    ">= 0"
                } else {
                    "between 0 and 1"
                }
            )));
        }
        Ok(self.narrow("sample", true, move |i, it| {
            let mut rng = rand::rngs::StdRng::seed_from_u64(seed ^ partition_hash(&i));
            if fraction == 0.0 {
                return PartitionIter::new(std::iter::empty());
            }
            if with_replacement {
                let poisson = rand_distr::Poisson::new(fraction).expect("fraction checked > 0");
                PartitionIter::new(it.flat_map(move |x| {
                    let k = poisson.sample(&mut rng) as usize;
                    std::iter::repeat_n(x, k)
                }))
            } else {
                PartitionIter::new(it.filter(move |_| rng.random::<f64>() < fraction))
            }
        }))
    }
}

impl<T: Key> Rdd<T> {
    /// The distinct elements (a shuffle into the same number of partitions).
    ///
    /// # Examples
    ///
    /// ```
    /// let ctx = spate_core::Context::local(2).unwrap();
    /// let mut d = ctx.parallelize(vec![3, 1, 3, 2, 1], 2).distinct().collect().unwrap();
    /// d.sort();
    /// assert_eq!(d, [1, 2, 3]);
    /// ```
    #[track_caller]
    pub fn distinct(&self) -> Rdd<T> {
        self.distinct_with_partitions(self.num_partitions())
    }

    /// [`Rdd::distinct`] into `partitions` partitions.
    ///
    /// # Examples
    ///
    /// ```
    /// let ctx = spate_core::Context::local(2).unwrap();
    /// let d = ctx.parallelize(vec!['x', 'x', 'y'], 1).distinct_with_partitions(3);
    /// assert_eq!(d.num_partitions(), 3);
    /// assert_eq!(d.count().unwrap(), 2);
    /// ```
    #[track_caller]
    pub fn distinct_with_partitions(&self, partitions: usize) -> Rdd<T> {
        let keyed: Rdd<(T, ())> = self.narrow("distinct (key)", false, |_, it| {
            PartitionIter::new(it.map(|x| (x, ())))
        });
        keyed
            .reduce_by_key_with_partitions(|(), ()| (), partitions)
            .narrow("distinct", false, |_, it| {
                PartitionIter::new(it.map(|(x, ())| x))
            })
    }
}
