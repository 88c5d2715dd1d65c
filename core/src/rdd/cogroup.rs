//! Co-grouping two pair RDDs, and the joins built on it (`join`, the outer joins: one pairing
//! helper). Each side is read through a shuffle, or
//! directly (a narrow dependency) when it is already partitioned by the target partitioner.

use std::collections::HashMap;
use std::sync::Arc;

use super::pair::erase;
use super::{Dependency, PartitionIter, Rdd, RddOp};
use crate::dag::ShuffleDepBase;
use crate::data::{Data, Key};
use crate::error::Result;
use crate::hash::HashSeed;
use crate::partitioner::Partitioner;
use crate::rdd::shuffle_dep::ShuffleDep;
use crate::task::TaskContext;

enum Side<K, V> {
    Narrow(Rdd<(K, V)>),
    Shuffled(Arc<ShuffleDep<K, V>>),
}

impl<K: Key, V: Data> Side<K, V> {
    fn new(rdd: &Rdd<(K, V)>, partitioner: &Arc<dyn Partitioner<K>>) -> Self {
        if rdd.partitioner().is_some_and(|p| p.same_as(&**partitioner)) {
            Side::Narrow(rdd.clone())
        } else {
            Side::Shuffled(Arc::new(ShuffleDep::new(
                rdd.clone(),
                Arc::clone(partitioner),
            )))
        }
    }

    fn dependency(&self) -> Dependency {
        match self {
            Side::Narrow(r) => Dependency::Narrow(r.base()),
            Side::Shuffled(d) => Dependency::Shuffle(Arc::clone(d) as Arc<dyn ShuffleDepBase>),
        }
    }

    fn read(&self, partition: usize, tc: &TaskContext) -> Result<PartitionIter<(K, V)>> {
        match self {
            Side::Narrow(r) => r.node.iterator(partition, tc),
            Side::Shuffled(d) => Ok(PartitionIter::new(d.read(partition, tc)?)),
        }
    }
}

pub(crate) struct CoGroupOp<K, V, W> {
    left: Side<K, V>,
    right: Side<K, W>,
    partitions: usize,
    /// The application's key hash, for the groups' map.
    seed: HashSeed,
}

impl<K: Key, V: Data, W: Data> CoGroupOp<K, V, W> {
    pub(crate) fn new(
        left: &Rdd<(K, V)>,
        right: &Rdd<(K, W)>,
        partitioner: Arc<dyn Partitioner<K>>,
    ) -> Self {
        CoGroupOp {
            left: Side::new(left, &partitioner),
            right: Side::new(right, &partitioner),
            partitions: partitioner.num_partitions(),
            seed: left.context().hash_seed(),
        }
    }
}

impl<K: Key, V: Data, W: Data> RddOp<(K, (Vec<V>, Vec<W>))> for CoGroupOp<K, V, W> {
    fn num_partitions(&self) -> usize {
        self.partitions
    }
    fn dependencies(&self) -> Vec<Dependency> {
        vec![self.left.dependency(), self.right.dependency()]
    }
    fn compute(
        &self,
        partition: usize,
        tc: &TaskContext,
    ) -> Result<PartitionIter<(K, (Vec<V>, Vec<W>))>> {
        // Fetch both sides before grouping so a lost map output fails fast.
        let (left, right) = (
            self.left.read(partition, tc)?,
            self.right.read(partition, tc)?,
        );
        let mut groups: HashMap<K, (Vec<V>, Vec<W>), HashSeed> = HashMap::with_hasher(self.seed);
        for (k, v) in left {
            groups.entry(k).or_default().0.push(v);
        }
        for (k, w) in right {
            groups.entry(k).or_default().1.push(w);
        }
        Ok(PartitionIter::new(groups.into_iter()))
    }
}

impl<K: Key, V: Data> Rdd<(K, V)> {
    /// For each key of either RDD, all its values in this one and all in `other`.
    ///
    /// # Examples
    ///
    /// ```
    /// let ctx = spate_core::Context::local(2).unwrap();
    /// let a = ctx.parallelize(vec![(1, 'a'), (2, 'b')], 2);
    /// let b = ctx.parallelize(vec![(1, 10)], 1);
    /// let m = a.cogroup(&b).collect_as_map().unwrap();
    /// assert_eq!(m[&1], (vec!['a'], vec![10]));
    /// assert_eq!(m[&2], (vec!['b'], vec![]));
    /// ```
    #[track_caller]
    pub fn cogroup<W: Data>(&self, other: &Rdd<(K, W)>) -> Rdd<(K, (Vec<V>, Vec<W>))> {
        let p = self.default_partitioner(&[(other.partitioner(), other.num_partitions())]);
        self.cogroup_named("cogroup", other, p)
    }

    /// [`Rdd::cogroup`] into `partitions` hash partitions.
    ///
    /// # Examples
    ///
    /// ```
    /// let ctx = spate_core::Context::local(1).unwrap();
    /// let a = ctx.parallelize(vec![(1, 1)], 1);
    /// assert_eq!(a.cogroup_with_partitions(&a, 3).num_partitions(), 3);
    /// ```
    #[track_caller]
    pub fn cogroup_with_partitions<W: Data>(
        &self,
        other: &Rdd<(K, W)>,
        partitions: usize,
    ) -> Rdd<(K, (Vec<V>, Vec<W>))> {
        self.cogroup_named(
            "cogroup",
            other,
            Arc::new(self.context().hash_partitioner(partitions)),
        )
    }

    /// [`Rdd::cogroup`] with a given partitioner. An input already partitioned by it is read
    /// without a shuffle.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// let ctx = spate_core::Context::local(1).unwrap();
    /// let p = Arc::new(spate_core::HashPartitioner::new(2));
    /// let a = ctx.parallelize(vec![(1, 1)], 1).partition_by(p.clone());
    /// let g = a.cogroup_with_partitioner(&a, p);
    /// assert_eq!(g.shuffle_ids().len(), 1); // only the partition_by
    /// ```
    #[track_caller]
    pub fn cogroup_with_partitioner<W: Data>(
        &self,
        other: &Rdd<(K, W)>,
        partitioner: Arc<dyn Partitioner<K>>,
    ) -> Rdd<(K, (Vec<V>, Vec<W>))> {
        self.cogroup_named("cogroup", other, partitioner)
    }

    #[track_caller]
    fn cogroup_named<W: Data>(
        &self,
        op_name: &'static str,
        other: &Rdd<(K, W)>,
        partitioner: Arc<dyn Partitioner<K>>,
    ) -> Rdd<(K, (Vec<V>, Vec<W>))> {
        let partitioner = self.keyed(partitioner);
        let op = CoGroupOp::new(self, other, Arc::clone(&partitioner));
        Rdd::from_op(self.context(), op_name, Some(erase(partitioner)), op)
    }

    fn join_partitioner<W: Data>(
        &self,
        other: &Rdd<(K, W)>,
        partitions: Option<usize>,
    ) -> Arc<dyn Partitioner<K>> {
        match partitions {
            Some(n) => Arc::new(self.context().hash_partitioner(n)),
            None => self.default_partitioner(&[(other.partitioner(), other.num_partitions())]),
        }
    }

    /// Pairs of values for each key present in both RDDs (an inner join).
    ///
    /// # Examples
    ///
    /// ```
    /// let ctx = spate_core::Context::local(2).unwrap();
    /// let a = ctx.parallelize(vec![(1, 'a'), (2, 'b')], 2);
    /// let b = ctx.parallelize(vec![(1, 'x'), (1, 'y'), (3, 'z')], 2);
    /// let mut j = a.join(&b).collect().unwrap();
    /// j.sort();
    /// assert_eq!(j, [(1, ('a', 'x')), (1, ('a', 'y'))]);
    /// ```
    #[track_caller]
    pub fn join<W: Data>(&self, other: &Rdd<(K, W)>) -> Rdd<(K, (V, W))> {
        self.join_with_partitions_opt(other, None)
    }

    /// [`Rdd::join`] into `partitions` hash partitions.
    ///
    /// # Examples
    ///
    /// ```
    /// let ctx = spate_core::Context::local(1).unwrap();
    /// let a = ctx.parallelize(vec![(1, 1)], 1);
    /// assert_eq!(a.join_with_partitions(&a, 2).collect().unwrap(), [(1, (1, 1))]);
    /// ```
    #[track_caller]
    pub fn join_with_partitions<W: Data>(
        &self,
        other: &Rdd<(K, W)>,
        partitions: usize,
    ) -> Rdd<(K, (V, W))> {
        self.join_with_partitions_opt(other, Some(partitions))
    }

    #[track_caller]
    fn join_with_partitions_opt<W: Data>(
        &self,
        other: &Rdd<(K, W)>,
        partitions: Option<usize>,
    ) -> Rdd<(K, (V, W))> {
        let p = self.join_partitioner(other, partitions);
        self.cogroup_named("cogroup", other, p)
            .flat_map_values_named("join", |(vs, ws)| pairs(&vs, &ws))
    }

    /// Every record of this RDD, with each matching value of `other` or `None`.
    ///
    /// # Examples
    ///
    /// ```
    /// let ctx = spate_core::Context::local(1).unwrap();
    /// let a = ctx.parallelize(vec![(1, 'a'), (2, 'b')], 1);
    /// let b = ctx.parallelize(vec![(1, 9)], 1);
    /// let m = a.left_outer_join(&b).collect_as_map().unwrap();
    /// assert_eq!((m[&1], m[&2]), (('a', Some(9)), ('b', None)));
    /// ```
    #[track_caller]
    pub fn left_outer_join<W: Data>(&self, other: &Rdd<(K, W)>) -> Rdd<(K, (V, Option<W>))> {
        self.left_outer_join_opt(other, None)
    }

    /// [`Rdd::left_outer_join`] into `partitions` hash partitions.
    ///
    /// # Examples
    ///
    /// ```
    /// let ctx = spate_core::Context::local(1).unwrap();
    /// let a = ctx.parallelize(vec![(1, 'a')], 1);
    /// let b = ctx.parallelize(Vec::<(i32, i32)>::new(), 1);
    /// assert_eq!(a.left_outer_join_with_partitions(&b, 2).collect().unwrap(), [(1, ('a', None))]);
    /// ```
    #[track_caller]
    pub fn left_outer_join_with_partitions<W: Data>(
        &self,
        other: &Rdd<(K, W)>,
        partitions: usize,
    ) -> Rdd<(K, (V, Option<W>))> {
        self.left_outer_join_opt(other, Some(partitions))
    }

    #[track_caller]
    fn left_outer_join_opt<W: Data>(
        &self,
        other: &Rdd<(K, W)>,
        partitions: Option<usize>,
    ) -> Rdd<(K, (V, Option<W>))> {
        let p = self.join_partitioner(other, partitions);
        self.cogroup_named("cogroup", other, p)
            .flat_map_values_named("left_outer_join", |(vs, ws)| pairs(&vs, &or_none(ws)))
    }

    /// Every record of `other`, with each matching value of this RDD or `None`.
    ///
    /// # Examples
    ///
    /// ```
    /// let ctx = spate_core::Context::local(1).unwrap();
    /// let a = ctx.parallelize(vec![(1, 'a')], 1);
    /// let b = ctx.parallelize(vec![(1, 9), (2, 8)], 1);
    /// let m = a.right_outer_join(&b).collect_as_map().unwrap();
    /// assert_eq!((m[&1], m[&2]), ((Some('a'), 9), (None, 8)));
    /// ```
    #[track_caller]
    pub fn right_outer_join<W: Data>(&self, other: &Rdd<(K, W)>) -> Rdd<(K, (Option<V>, W))> {
        self.right_outer_join_opt(other, None)
    }

    /// [`Rdd::right_outer_join`] into `partitions` hash partitions.
    ///
    /// # Examples
    ///
    /// ```
    /// let ctx = spate_core::Context::local(1).unwrap();
    /// let a = ctx.parallelize(Vec::<(i32, i32)>::new(), 1);
    /// let b = ctx.parallelize(vec![(1, 'b')], 1);
    /// assert_eq!(a.right_outer_join_with_partitions(&b, 2).collect().unwrap(), [(1, (None, 'b'))]);
    /// ```
    #[track_caller]
    pub fn right_outer_join_with_partitions<W: Data>(
        &self,
        other: &Rdd<(K, W)>,
        partitions: usize,
    ) -> Rdd<(K, (Option<V>, W))> {
        self.right_outer_join_opt(other, Some(partitions))
    }

    #[track_caller]
    fn right_outer_join_opt<W: Data>(
        &self,
        other: &Rdd<(K, W)>,
        partitions: Option<usize>,
    ) -> Rdd<(K, (Option<V>, W))> {
        let p = self.join_partitioner(other, partitions);
        self.cogroup_named("cogroup", other, p)
            .flat_map_values_named("right_outer_join", |(vs, ws)| pairs(&or_none(vs), &ws))
    }

    /// Every key of either RDD, with each pairing of values, `None` on a side without any.
    ///
    /// # Examples
    ///
    /// ```
    /// let ctx = spate_core::Context::local(1).unwrap();
    /// let a = ctx.parallelize(vec![(1, 'a')], 1);
    /// let b = ctx.parallelize(vec![(2, 'b')], 1);
    /// let m = a.full_outer_join(&b).collect_as_map().unwrap();
    /// assert_eq!((m[&1], m[&2]), ((Some('a'), None), (None, Some('b'))));
    /// ```
    #[track_caller]
    pub fn full_outer_join<W: Data>(
        &self,
        other: &Rdd<(K, W)>,
    ) -> Rdd<(K, (Option<V>, Option<W>))> {
        self.full_outer_join_opt(other, None)
    }

    /// [`Rdd::full_outer_join`] into `partitions` hash partitions.
    ///
    /// # Examples
    ///
    /// ```
    /// let ctx = spate_core::Context::local(1).unwrap();
    /// let a = ctx.parallelize(vec![(1, 'a')], 1);
    /// assert_eq!(a.full_outer_join_with_partitions(&a, 3).num_partitions(), 3);
    /// ```
    #[track_caller]
    pub fn full_outer_join_with_partitions<W: Data>(
        &self,
        other: &Rdd<(K, W)>,
        partitions: usize,
    ) -> Rdd<(K, (Option<V>, Option<W>))> {
        self.full_outer_join_opt(other, Some(partitions))
    }

    #[track_caller]
    fn full_outer_join_opt<W: Data>(
        &self,
        other: &Rdd<(K, W)>,
        partitions: Option<usize>,
    ) -> Rdd<(K, (Option<V>, Option<W>))> {
        let p = self.join_partitioner(other, partitions);
        self.cogroup_named("cogroup", other, p)
            .flat_map_values_named("full_outer_join", |(vs, ws)| {
                pairs(&or_none(vs), &or_none(ws))
            })
    }
}

/// Every pairing of one key's values on the two sides of a join.
fn pairs<A: Clone, B: Clone>(vs: &[A], ws: &[B]) -> Vec<(A, B)> {
    let mut out = Vec::with_capacity(vs.len() * ws.len());
    for v in vs {
        out.extend(ws.iter().map(|w| (v.clone(), w.clone())));
    }
    out
}

/// One side of an outer join: its values as `Some`, or a single `None` when it has none.
fn or_none<T>(values: Vec<T>) -> Vec<Option<T>> {
    if values.is_empty() {
        vec![None]
    } else {
        values.into_iter().map(Some).collect()
    }
}
