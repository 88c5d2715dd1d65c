//! Key-value DStream operators: each the pair-RDD operator applied to every batch's RDD
//! (aggregations by key, grouping, co-grouping and joins).

use std::sync::Arc;

use spate_core::{Data, Key};

use crate::dstream::DStream;

impl<K: Key, V: Data> DStream<(K, V)> {
    /// Merges the values of each key within every batch (map-side combined), into the default
    /// number of partitions.
    ///
    /// # Examples
    ///
    /// ```
    /// use spate_streaming::testing::run_batches;
    /// let out = run_batches(vec![vec![('a', 1), ('b', 1), ('a', 1)]], |s| s.reduce_by_key(|x, y| x + y), 1);
    /// let mut batch = out[0].clone();
    /// batch.sort();
    /// assert_eq!(batch, [('a', 2), ('b', 1)]);
    /// ```
    pub fn reduce_by_key(&self, f: impl Fn(V, V) -> V + Send + Sync + 'static) -> DStream<(K, V)> {
        let n = self.node.graph.ctx.default_parallelism();
        self.reduce_by_key_with_partitions(f, n)
    }

    /// [`DStream::reduce_by_key`] into `partitions` partitions.
    ///
    /// # Examples
    ///
    /// ```
    /// use spate_streaming::testing::run_batches;
    /// let out = run_batches(vec![vec![(1, 2), (1, 3)]], |s| s.reduce_by_key_with_partitions(|a, b| a * b, 3), 1);
    /// assert_eq!(out, vec![vec![(1, 6)]]);
    /// ```
    pub fn reduce_by_key_with_partitions(
        &self,
        f: impl Fn(V, V) -> V + Send + Sync + 'static,
        partitions: usize,
    ) -> DStream<(K, V)> {
        let f = Arc::new(f);
        self.transform_named("reduce_by_key", move |rdd, _| {
            let f = Arc::clone(&f);
            rdd.reduce_by_key_with_partitions(move |a, b| f(a, b), partitions)
        })
    }
}

impl<T: Key> DStream<T> {
    /// How often each distinct element occurs in each batch.
    ///
    /// # Examples
    ///
    /// ```
    /// use spate_streaming::testing::run_batches;
    /// let mut out = run_batches(vec![vec!['a', 'b', 'a']], |s| s.count_by_value(), 1);
    /// out[0].sort();
    /// assert_eq!(out, vec![vec![('a', 2), ('b', 1)]]);
    /// ```
    pub fn count_by_value(&self) -> DStream<(T, u64)> {
        self.map(|x| (x, 1u64)).reduce_by_key(|a, b| a + b)
    }
}

impl<K: Key, V: Data> DStream<(K, V)> {
    /// Applies `f` to every value, keeping keys (and partitioning).
    ///
    /// # Examples
    ///
    /// ```
    /// use spate_streaming::testing::run_batches;
    /// assert_eq!(run_batches(vec![vec![('a', 1)]], |s| s.map_values(|v| v * 10), 1), vec![vec![('a', 10)]]);
    /// ```
    pub fn map_values<W: Data>(
        &self,
        f: impl Fn(V) -> W + Send + Sync + 'static,
    ) -> DStream<(K, W)> {
        let f = Arc::new(f);
        self.transform_named("map_values", move |rdd, _| {
            let f = Arc::clone(&f);
            rdd.map_values(move |v| f(v))
        })
    }

    /// Applies `f` to every value and pairs each result with the key.
    ///
    /// # Examples
    ///
    /// ```
    /// use spate_streaming::testing::run_batches;
    /// let out = run_batches(vec![vec![('a', 2)]], |s| s.flat_map_values(|v| 0..v), 1);
    /// assert_eq!(out, vec![vec![('a', 0), ('a', 1)]]);
    /// ```
    pub fn flat_map_values<W: Data, I>(
        &self,
        f: impl Fn(V) -> I + Send + Sync + 'static,
    ) -> DStream<(K, W)>
    where
        I: IntoIterator<Item = W> + 'static,
        I::IntoIter: 'static,
    {
        let f = Arc::new(f);
        self.transform_named("flat_map_values", move |rdd, _| {
            let f = Arc::clone(&f);
            rdd.flat_map_values(move |v| f(v))
        })
    }

    /// The values of each key within every batch, into the default number of partitions.
    ///
    /// # Examples
    ///
    /// ```
    /// use spate_streaming::testing::run_batches;
    /// let mut out = run_batches(vec![vec![('a', 1), ('a', 2)]], |s| s.group_by_key(), 1);
    /// out[0][0].1.sort();
    /// assert_eq!(out, vec![vec![('a', vec![1, 2])]]);
    /// ```
    pub fn group_by_key(&self) -> DStream<(K, Vec<V>)> {
        let n = self.node.graph.ctx.default_parallelism();
        self.group_by_key_with_partitions(n)
    }

    /// [`DStream::group_by_key`] into `partitions` partitions.
    ///
    /// # Examples
    ///
    /// ```
    /// use spate_streaming::testing::run_batches;
    /// let out = run_batches(vec![vec![(1, 'x')]], |s| s.group_by_key_with_partitions(4), 1);
    /// assert_eq!(out, vec![vec![(1, vec!['x'])]]);
    /// ```
    pub fn group_by_key_with_partitions(&self, partitions: usize) -> DStream<(K, Vec<V>)> {
        self.transform_named("group_by_key", move |rdd, _| {
            rdd.group_by_key_with_partitions(partitions)
        })
    }

    /// Spark's `combineByKey` on every batch: `create` makes a key's first combiner from a
    /// value, `merge_value` adds a value, `merge_combiners` merges two (map-side combined).
    ///
    /// # Examples
    ///
    /// ```
    /// use spate_streaming::testing::run_batches;
    /// // (sum, count) per key
    /// let out = run_batches(vec![vec![('a', 1), ('a', 3)]], |s| {
    ///     s.combine_by_key(|v| (v, 1), |(s, n), v| (s + v, n + 1), |(s1, n1), (s2, n2)| (s1 + s2, n1 + n2))
    /// }, 1);
    /// assert_eq!(out, vec![vec![('a', (4, 2))]]);
    /// ```
    pub fn combine_by_key<C: Data>(
        &self,
        create: impl Fn(V) -> C + Send + Sync + 'static,
        merge_value: impl Fn(C, V) -> C + Send + Sync + 'static,
        merge_combiners: impl Fn(C, C) -> C + Send + Sync + 'static,
    ) -> DStream<(K, C)> {
        let n = self.node.graph.ctx.default_parallelism();
        self.combine_by_key_with_partitions(create, merge_value, merge_combiners, n)
    }

    /// [`DStream::combine_by_key`] into `partitions` partitions.
    ///
    /// # Examples
    ///
    /// ```
    /// use spate_streaming::testing::run_batches;
    /// let out = run_batches(vec![vec![(1, 2), (1, 5)]], |s| s.combine_by_key_with_partitions(|v| v, |a, v| a.max(v), |a, b| a.max(b), 2), 1);
    /// assert_eq!(out, vec![vec![(1, 5)]]);
    /// ```
    pub fn combine_by_key_with_partitions<C: Data>(
        &self,
        create: impl Fn(V) -> C + Send + Sync + 'static,
        merge_value: impl Fn(C, V) -> C + Send + Sync + 'static,
        merge_combiners: impl Fn(C, C) -> C + Send + Sync + 'static,
        partitions: usize,
    ) -> DStream<(K, C)> {
        let (create, merge_value, merge_combiners) = (
            Arc::new(create),
            Arc::new(merge_value),
            Arc::new(merge_combiners),
        );
        self.transform_named("combine_by_key", move |rdd, _| {
            let (c, mv, mc) = (
                Arc::clone(&create),
                Arc::clone(&merge_value),
                Arc::clone(&merge_combiners),
            );
            rdd.combine_by_key_with_partitions(
                move |v| c(v),
                move |a, v| mv(a, v),
                move |a, b| mc(a, b),
                partitions,
            )
        })
    }

    /// For every batch, this stream's and `other`'s values grouped by key.
    ///
    /// # Examples
    ///
    /// ```
    /// use spate_streaming::testing::run_batches;
    /// let out = run_batches(vec![vec![(1, 'a'), (2, 'b')]], |s| s.cogroup(&s.filter(|p| p.0 == 1).map_values(|c| c as u32)), 1);
    /// let mut b = out[0].clone();
    /// b.sort();
    /// assert_eq!(b, [(1, (vec!['a'], vec![97])), (2, (vec!['b'], vec![]))]);
    /// ```
    pub fn cogroup<W: Data>(&self, other: &DStream<(K, W)>) -> DStream<(K, (Vec<V>, Vec<W>))> {
        let n = self.node.graph.ctx.default_parallelism();
        self.cogroup_with_partitions(other, n)
    }

    /// [`DStream::cogroup`] into `partitions` partitions.
    ///
    /// # Examples
    ///
    /// ```
    /// use spate_streaming::testing::run_batches;
    /// let out = run_batches(vec![vec![(1, 'a')]], |s| s.cogroup_with_partitions(&s, 3), 1);
    /// assert_eq!(out, vec![vec![(1, (vec!['a'], vec!['a']))]]);
    /// ```
    pub fn cogroup_with_partitions<W: Data>(
        &self,
        other: &DStream<(K, W)>,
        partitions: usize,
    ) -> DStream<(K, (Vec<V>, Vec<W>))> {
        self.transform_with(other, move |a, b, _| {
            a.cogroup_with_partitions(b, partitions)
        })
    }

    /// For every batch, the pairs of values of keys in both streams.
    ///
    /// # Examples
    ///
    /// ```
    /// use spate_streaming::testing::run_batches;
    /// let out = run_batches(vec![vec![(1, 'a'), (2, 'b')]], |s| s.join(&s.filter(|p| p.0 == 2)), 1);
    /// assert_eq!(out, vec![vec![(2, ('b', 'b'))]]);
    /// ```
    pub fn join<W: Data>(&self, other: &DStream<(K, W)>) -> DStream<(K, (V, W))> {
        let n = self.node.graph.ctx.default_parallelism();
        self.join_with_partitions(other, n)
    }

    /// [`DStream::join`] into `partitions` partitions.
    ///
    /// # Examples
    ///
    /// ```
    /// use spate_streaming::testing::run_batches;
    /// let out = run_batches(vec![vec![(1, 'a')]], |s| s.join_with_partitions(&s.map_values(|c| c as u8), 2), 1);
    /// assert_eq!(out, vec![vec![(1, ('a', 97))]]);
    /// ```
    pub fn join_with_partitions<W: Data>(
        &self,
        other: &DStream<(K, W)>,
        partitions: usize,
    ) -> DStream<(K, (V, W))> {
        self.transform_with(other, move |a, b, _| a.join_with_partitions(b, partitions))
    }

    /// For every batch, each of this stream's pairs with the other's values for its key, or
    /// `None` where it has none.
    ///
    /// # Examples
    ///
    /// ```
    /// use spate_streaming::testing::run_batches;
    /// let out = run_batches(vec![vec![(1, 'a'), (2, 'b')]], |s| s.left_outer_join(&s.filter(|p| p.0 == 2)), 1);
    /// let mut b = out[0].clone();
    /// b.sort();
    /// assert_eq!(b, [(1, ('a', None)), (2, ('b', Some('b')))]);
    /// ```
    pub fn left_outer_join<W: Data>(
        &self,
        other: &DStream<(K, W)>,
    ) -> DStream<(K, (V, Option<W>))> {
        let n = self.node.graph.ctx.default_parallelism();
        self.left_outer_join_with_partitions(other, n)
    }

    /// [`DStream::left_outer_join`] into `partitions` partitions.
    ///
    /// # Examples
    ///
    /// ```
    /// use spate_streaming::testing::run_batches;
    /// let out = run_batches(vec![vec![(1, 'a')]], |s| s.left_outer_join_with_partitions(&s.filter(|_| false), 2), 1);
    /// assert_eq!(out, vec![vec![(1, ('a', None::<char>))]]);
    /// ```
    pub fn left_outer_join_with_partitions<W: Data>(
        &self,
        other: &DStream<(K, W)>,
        partitions: usize,
    ) -> DStream<(K, (V, Option<W>))> {
        self.transform_with(other, move |a, b, _| {
            a.left_outer_join_with_partitions(b, partitions)
        })
    }

    /// For every batch, each of the other stream's pairs with this stream's values for its
    /// key, or `None` where it has none.
    ///
    /// # Examples
    ///
    /// ```
    /// use spate_streaming::testing::run_batches;
    /// let out = run_batches(vec![vec![(1, 'a'), (2, 'b')]], |s| s.filter(|p| p.0 == 2).right_outer_join(&s), 1);
    /// let mut b = out[0].clone();
    /// b.sort();
    /// assert_eq!(b, [(1, (None, 'a')), (2, (Some('b'), 'b'))]);
    /// ```
    pub fn right_outer_join<W: Data>(
        &self,
        other: &DStream<(K, W)>,
    ) -> DStream<(K, (Option<V>, W))> {
        let n = self.node.graph.ctx.default_parallelism();
        self.right_outer_join_with_partitions(other, n)
    }

    /// [`DStream::right_outer_join`] into `partitions` partitions.
    ///
    /// # Examples
    ///
    /// ```
    /// use spate_streaming::testing::run_batches;
    /// let out = run_batches(vec![vec![(1, 'a')]], |s| s.filter(|_| false).right_outer_join_with_partitions(&s, 2), 1);
    /// assert_eq!(out, vec![vec![(1, (None::<char>, 'a'))]]);
    /// ```
    pub fn right_outer_join_with_partitions<W: Data>(
        &self,
        other: &DStream<(K, W)>,
        partitions: usize,
    ) -> DStream<(K, (Option<V>, W))> {
        self.transform_with(other, move |a, b, _| {
            a.right_outer_join_with_partitions(b, partitions)
        })
    }

    /// For every batch, every key of either stream with its values from each side (`None`
    /// where a side has none).
    ///
    /// # Examples
    ///
    /// ```
    /// use spate_streaming::testing::run_batches;
    /// let out = run_batches(vec![vec![(1, 'a'), (2, 'b')]], |s| s.filter(|p| p.0 == 1).full_outer_join(&s.filter(|p| p.0 == 2)), 1);
    /// let mut b = out[0].clone();
    /// b.sort();
    /// assert_eq!(b, [(1, (Some('a'), None)), (2, (None, Some('b')))]);
    /// ```
    pub fn full_outer_join<W: Data>(
        &self,
        other: &DStream<(K, W)>,
    ) -> DStream<(K, (Option<V>, Option<W>))> {
        let n = self.node.graph.ctx.default_parallelism();
        self.full_outer_join_with_partitions(other, n)
    }

    /// [`DStream::full_outer_join`] into `partitions` partitions.
    ///
    /// # Examples
    ///
    /// ```
    /// use spate_streaming::testing::run_batches;
    /// let out = run_batches(vec![vec![(1, 'a')]], |s| s.full_outer_join_with_partitions(&s.filter(|_| false), 2), 1);
    /// assert_eq!(out, vec![vec![(1, (Some('a'), None::<char>))]]);
    /// ```
    pub fn full_outer_join_with_partitions<W: Data>(
        &self,
        other: &DStream<(K, W)>,
        partitions: usize,
    ) -> DStream<(K, (Option<V>, Option<W>))> {
        self.transform_with(other, move |a, b, _| {
            a.full_outer_join_with_partitions(b, partitions)
        })
    }
}
