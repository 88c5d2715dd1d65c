//! DStream operators: each is the corresponding RDD operator applied to every batch's RDD.

use std::io::Write;
use std::marker::PhantomData;
use std::sync::Arc;

use spate_core::{Data, Key, PartitionIter, Rdd, Show};

use crate::context::{OutputOp, Shared};
use crate::dstream::{DStream, StreamOp};
use crate::error::Result;
use crate::scheduler::Job;
use crate::time::Time;

/// A stream whose RDD at each time is `f(parent's RDD, time)`.
struct TransformOp<T, U, F> {
    parent: DStream<T>,
    f: F,
    _out: PhantomData<fn() -> U>,
}

impl<T, U, F> StreamOp<U> for TransformOp<T, U, F>
where
    T: Data,
    U: Data,
    F: Fn(&Rdd<T>, Time) -> Rdd<U> + Send + Sync + 'static,
{
    fn compute(&self, time: Time) -> spate_core::Result<Option<Rdd<U>>> {
        Ok(self
            .parent
            .node
            .rdd_at(time)?
            .map(|rdd| (self.f)(&rdd, time)))
    }
}

struct UnionOp<T> {
    parents: Vec<DStream<T>>,
    shared: Arc<Shared>,
}

impl<T: Data> StreamOp<T> for UnionOp<T> {
    fn compute(&self, time: Time) -> spate_core::Result<Option<Rdd<T>>> {
        let mut rdds = Vec::with_capacity(self.parents.len());
        for p in &self.parents {
            rdds.extend(p.node.rdd_at(time)?);
        }
        Ok((!rdds.is_empty()).then(|| self.shared.ctx.union(&rdds)))
    }
}

pub(crate) fn union_all<T: Data>(shared: &Arc<Shared>, streams: &[DStream<T>]) -> DStream<T> {
    let op = UnionOp {
        parents: streams.to_vec(),
        shared: Arc::clone(shared),
    };
    DStream::from_op(shared, "union", op)
}

/// Runs `f` on every batch's RDD.
struct ForEachOp<T, F> {
    parent: DStream<T>,
    f: Arc<F>,
}

impl<T, F> OutputOp for ForEachOp<T, F>
where
    T: Data,
    F: Fn(&Rdd<T>, Time) -> spate_core::Result<()> + Send + Sync + 'static,
{
    fn job(&self, time: Time) -> spate_core::Result<Option<Job>> {
        let Some(rdd) = self.parent.node.rdd_at(time)? else {
            return Ok(None);
        };
        let f = Arc::clone(&self.f);
        Ok(Some(Box::new(move || f(&rdd, time))))
    }
}

/// The text `print(n)` writes for one batch, exactly as Spark prints it.
pub(crate) fn format_batch<T: Show>(time: Time, first: &[T], n: usize) -> String {
    let dashes = "-------------------------------------------";
    let mut out = format!("{dashes}\nTime: {time}\n{dashes}\n");
    for x in first.iter().take(n) {
        x.show_into(&mut out);
        out.push('\n');
    }
    if first.len() > n {
        out.push_str("...\n");
    }
    out.push('\n');
    out
}

impl<T: Data> DStream<T> {
    /// A stream named `kind` whose RDD at each time is `f(rdd, time)`.
    pub(crate) fn transform_named<U: Data>(
        &self,
        kind: &'static str,
        f: impl Fn(&Rdd<T>, Time) -> Rdd<U> + Send + Sync + 'static,
    ) -> DStream<U> {
        let op = TransformOp {
            parent: self.clone(),
            f,
            _out: PhantomData,
        };
        DStream::from_op(&self.node.shared, kind, op)
    }

    /// Applies `f` to every element.
    ///
    /// # Examples
    ///
    /// ```
    /// use spate_streaming::testing::run_batches;
    /// assert_eq!(run_batches(vec![vec![1, 2]], |s| s.map(|x| x + 1), 1), vec![vec![2, 3]]);
    /// ```
    pub fn map<U: Data>(&self, f: impl Fn(T) -> U + Send + Sync + 'static) -> DStream<U> {
        let f = Arc::new(f);
        self.transform_named("map", move |rdd, _| {
            let f = Arc::clone(&f);
            rdd.map(move |x| f(x))
        })
    }

    /// Applies `f` to every element and flattens the results.
    ///
    /// # Examples
    ///
    /// ```
    /// use spate_core::Text;
    /// use spate_streaming::testing::run_batches;
    /// let out = run_batches(vec![vec![Text::from("a b")]], |s| s.flat_map(|l| l.split(' ')), 1);
    /// assert_eq!(out, vec![vec![Text::from("a"), Text::from("b")]]);
    /// ```
    pub fn flat_map<U: Data, I>(&self, f: impl Fn(T) -> I + Send + Sync + 'static) -> DStream<U>
    where
        I: IntoIterator<Item = U> + 'static,
        I::IntoIter: 'static,
    {
        let f = Arc::new(f);
        self.transform_named("flat_map", move |rdd, _| {
            let f = Arc::clone(&f);
            rdd.flat_map(move |x| f(x))
        })
    }

    /// Keeps the elements for which `f` is true.
    ///
    /// # Examples
    ///
    /// ```
    /// use spate_streaming::testing::run_batches;
    /// assert_eq!(run_batches(vec![vec![1, 2, 3, 4]], |s| s.filter(|x| x % 2 == 0), 1), vec![vec![2, 4]]);
    /// ```
    pub fn filter(&self, f: impl Fn(&T) -> bool + Send + Sync + 'static) -> DStream<T> {
        let f = Arc::new(f);
        self.transform_named("filter", move |rdd, _| {
            let f = Arc::clone(&f);
            rdd.filter(move |x| f(x))
        })
    }

    /// Applies `f` to each partition of every batch.
    ///
    /// # Examples
    ///
    /// ```
    /// use spate_streaming::testing::run_batches;
    /// // Test input batches have two partitions.
    /// let out = run_batches(vec![vec![1, 2, 3, 4]], |s| s.map_partitions(|it| std::iter::once(it.sum::<i32>())), 1);
    /// assert_eq!(out, vec![vec![3, 7]]);
    /// ```
    pub fn map_partitions<U: Data, I>(
        &self,
        f: impl Fn(PartitionIter<T>) -> I + Send + Sync + 'static,
    ) -> DStream<U>
    where
        I: IntoIterator<Item = U>,
        I::IntoIter: 'static,
    {
        let f = Arc::new(f);
        self.transform_named("map_partitions", move |rdd, _| {
            let f = Arc::clone(&f);
            rdd.map_partitions(move |it| f(it))
        })
    }

    /// The number of elements of each batch, as a one-element stream.
    ///
    /// # Examples
    ///
    /// ```
    /// use spate_streaming::testing::run_batches;
    /// assert_eq!(run_batches(vec![vec!['a', 'b'], vec![]], |s| s.count(), 2), vec![vec![2], vec![0]]);
    /// ```
    pub fn count(&self) -> DStream<u64> {
        self.transform_named("count", |rdd, _| {
            rdd.map_partitions(|it| std::iter::once(it.count() as u64))
                .coalesce(1)
                .map_partitions(|it| std::iter::once(it.sum::<u64>()))
        })
    }

    /// This stream's elements followed by `other`'s, batch by batch.
    ///
    /// # Examples
    ///
    /// ```
    /// use spate_streaming::testing::run_batches;
    /// assert_eq!(run_batches(vec![vec![1]], |s| s.union(&s), 1), vec![vec![1, 1]]);
    /// ```
    pub fn union(&self, other: &DStream<T>) -> DStream<T> {
        union_all(&self.node.shared, &[self.clone(), other.clone()])
    }

    /// Any RDD-to-RDD function of each batch (and its time): the escape hatch to the whole
    /// RDD API.
    ///
    /// # Examples
    ///
    /// ```
    /// use spate_streaming::testing::run_batches;
    /// let out = run_batches(vec![vec![3, 1, 2]], |s| s.transform(|rdd, _time| rdd.map(|x| (x, ())).sort_by_key(true).unwrap().keys()), 1);
    /// assert_eq!(out, vec![vec![1, 2, 3]]);
    /// ```
    pub fn transform<U: Data>(
        &self,
        f: impl Fn(&Rdd<T>, Time) -> Rdd<U> + Send + Sync + 'static,
    ) -> DStream<U> {
        self.transform_named("transform", f)
    }

    /// Runs `f` on every batch's RDD (an output operation: it is what makes jobs run). `f` runs
    /// on the driver; actions inside it run on the executors. An error fails the batch and
    /// stops the context. Fails once the context has started.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use spate_streaming::testing::run_batches;
    /// let seen = Arc::new(Mutex::new(Vec::new()));
    /// let s = seen.clone();
    /// run_batches(vec![vec![1, 2]], move |st| {
    ///     st.foreach_rdd(move |rdd, time| {
    ///         s.lock().unwrap().push((time.millis(), rdd.count()?));
    ///         Ok(())
    ///     }).unwrap();
    ///     st
    /// }, 1);
    /// assert_eq!(*seen.lock().unwrap(), [(1000, 2)]);
    /// ```
    pub fn foreach_rdd(
        &self,
        f: impl Fn(&Rdd<T>, Time) -> spate_core::Result<()> + Send + Sync + 'static,
    ) -> Result<()> {
        let op = ForEachOp {
            parent: self.clone(),
            f: Arc::new(f),
        };
        self.node.shared.register_output(Arc::new(op))
    }

    /// Prints the first `n` elements of every batch, in Spark's format: a dashed line,
    /// `Time: <ms> ms`, a dashed line, one element per line (`(word,3)` for pairs), `...` when
    /// there are more, and a blank line.
    ///
    /// # Examples
    ///
    /// ```
    /// use spate_streaming::testing::run_batches;
    /// run_batches(vec![vec![("a".to_string(), 1)]], |s| { s.print(10).unwrap(); s }, 1);
    /// // prints:
    /// // -------------------------------------------
    /// // Time: 1000 ms
    /// // -------------------------------------------
    /// // (a,1)
    /// //
    /// ```
    pub fn print(&self, n: usize) -> Result<()>
    where
        T: Show,
    {
        self.foreach_rdd(move |rdd, time| {
            let first = rdd.take(n + 1)?;
            let text = format_batch(time, &first, n);
            let mut out = std::io::stdout().lock();
            // A closed stdout (e.g. piped into `head`) must not fail the batch.
            let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
            Ok(())
        })
    }
}

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
        let n = self.node.shared.ctx.default_parallelism();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn print_format_matches_spark() {
        let t = Time::from_millis(1_700_000_000_000);
        let text = format_batch(t, &[("a".to_string(), 3u64), ("b".to_string(), 1)], 10);
        assert_eq!(
            text,
            "-------------------------------------------\nTime: 1700000000000 ms\n-------------------------------------------\n(a,3)\n(b,1)\n\n"
        );
        let more = format_batch(t, &[1, 2, 3], 2);
        assert!(more.ends_with("1\n2\n...\n\n"), "{more}");
        let empty = format_batch::<u8>(t, &[], 10);
        assert!(
            empty.ends_with("-------------------------------------------\n\n"),
            "{empty}"
        );
    }
}
