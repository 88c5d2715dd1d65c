//! DStream operators: each is the corresponding RDD operator applied to every batch's RDD.

use std::io::Write;
use std::marker::PhantomData;
use std::sync::Arc;

use spate_core::{Data, PartitionIter, Rdd, Show};

use super::Job;
use super::StreamGraph;
use crate::common::Time;
use crate::dstream::OutputOp;
use crate::dstream::{DStream, StreamOp};
use crate::error::Result;

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

/// A stream whose RDD at each time is `f(this stream's RDD, the other's RDD, time)`; a stream
/// with no RDD at that time contributes an empty one.
struct TransformWithOp<T, W, U, F> {
    parent: DStream<T>,
    other: DStream<W>,
    f: F,
    _out: PhantomData<fn() -> U>,
}

impl<T, W, U, F> StreamOp<U> for TransformWithOp<T, W, U, F>
where
    T: Data,
    W: Data,
    U: Data,
    F: Fn(&Rdd<T>, &Rdd<W>, Time) -> Rdd<U> + Send + Sync + 'static,
{
    fn compute(&self, time: Time) -> spate_core::Result<Option<Rdd<U>>> {
        let a = self.parent.node.rdd_at(time)?;
        let b = self.other.node.rdd_at(time)?;
        if a.is_none() && b.is_none() {
            return Ok(None);
        }
        let ctx = &self.parent.node.graph.ctx;
        let a = a.unwrap_or_else(|| ctx.union(&[]));
        let b = b.unwrap_or_else(|| ctx.union(&[]));
        Ok(Some((self.f)(&a, &b, time)))
    }
}

struct UnionOp<T> {
    parents: Vec<DStream<T>>,
    graph: Arc<StreamGraph>,
}

impl<T: Data> StreamOp<T> for UnionOp<T> {
    fn compute(&self, time: Time) -> spate_core::Result<Option<Rdd<T>>> {
        let mut rdds = Vec::with_capacity(self.parents.len());
        for p in &self.parents {
            rdds.extend(p.node.rdd_at(time)?);
        }
        Ok((!rdds.is_empty()).then(|| self.graph.ctx.union(&rdds)))
    }
}

pub(crate) fn union_all<T: Data>(graph: &Arc<StreamGraph>, streams: &[DStream<T>]) -> DStream<T> {
    let op = UnionOp {
        parents: streams.to_vec(),
        graph: Arc::clone(graph),
    };
    let slide = streams
        .first()
        .map_or(graph.batch_interval, |s| s.node.slide);
    DStream::from_op(graph, "union", slide, op)
}

/// Runs `f` on every batch's RDD.
struct ForEachOp<T, F> {
    parent: DStream<T>,
    f: Arc<F>,
    /// The operation (`print`, `foreach_rdd`, …) and where the program called it.
    name: &'static str,
    call_site: String,
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

    fn describe(&self) -> (&'static str, &str) {
        (self.name, &self.call_site)
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
        DStream::from_op(&self.node.graph, kind, self.node.slide, op)
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
        union_all(&self.node.graph, &[self.clone(), other.clone()])
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

    /// Any function of this stream's and `other`'s RDDs of the same batch (and its time) — e.g.
    /// joining with a stream of another element type. A stream with no RDD at that time
    /// contributes an empty one.
    ///
    /// # Examples
    ///
    /// ```
    /// use spate_streaming::testing::run_batches;
    /// let out = run_batches(vec![vec![1, 2]], |s| {
    ///     let labels = s.map(|x| format!("#{x}"));
    ///     s.transform_with(&labels, |nums, labels, _time| nums.map(|x| x.to_string()).union(labels))
    /// }, 1);
    /// assert_eq!(out, vec![vec!["1", "2", "#1", "#2"]]);
    /// ```
    pub fn transform_with<W: Data, U: Data>(
        &self,
        other: &DStream<W>,
        f: impl Fn(&Rdd<T>, &Rdd<W>, Time) -> Rdd<U> + Send + Sync + 'static,
    ) -> DStream<U> {
        let op = TransformWithOp {
            parent: self.clone(),
            other: other.clone(),
            f,
            _out: PhantomData,
        };
        DStream::from_op(&self.node.graph, "transform_with", self.node.slide, op)
    }

    /// Every batch redistributed into `partitions` partitions (a shuffle), e.g. to spread a
    /// few large received blocks over more tasks.
    ///
    /// # Examples
    ///
    /// ```
    /// use spate_streaming::testing::run_batches;
    /// let out = run_batches(vec![vec![1, 2, 3]], |s| s.repartition(3).glom().map(|p| p.len() as u32), 1);
    /// assert_eq!(out[0].len(), 3);
    /// assert_eq!(out[0].iter().sum::<u32>(), 3);
    /// ```
    pub fn repartition(&self, partitions: usize) -> DStream<T> {
        self.transform_named("repartition", move |rdd, _| rdd.repartition(partitions))
    }

    /// Each batch reduced with `f` (associative and commutative) to a single element; an
    /// empty batch gives none.
    ///
    /// # Examples
    ///
    /// ```
    /// use spate_streaming::testing::run_batches;
    /// let out = run_batches(vec![vec![1, 2, 3], vec![]], |s| s.reduce(|a, b| a + b), 2);
    /// assert_eq!(out, vec![vec![6], vec![]]);
    /// ```
    pub fn reduce(&self, f: impl Fn(T, T) -> T + Send + Sync + 'static) -> DStream<T> {
        let f = Arc::new(f);
        self.transform_named("reduce", move |rdd, _| {
            let (local, total) = (Arc::clone(&f), Arc::clone(&f));
            // Reduce each partition where it is, then the partial results in one partition.
            rdd.map_partitions(move |it| it.reduce(|a, b| local(a, b)))
                .coalesce(1)
                .map_partitions(move |it| it.reduce(|a, b| total(a, b)))
        })
    }

    /// Each batch's elements gathered into one `Vec` per partition.
    ///
    /// # Examples
    ///
    /// ```
    /// use spate_streaming::testing::run_batches;
    /// // Test input batches have two partitions.
    /// assert_eq!(run_batches(vec![vec![1, 2, 3, 4]], |s| s.glom(), 1), vec![vec![vec![1, 2], vec![3, 4]]]);
    /// ```
    pub fn glom(&self) -> DStream<Vec<T>> {
        self.transform_named("glom", |rdd, _| rdd.glom())
    }

    /// The RDDs this stream has at its times in `[from, to]` (both rounded down to its slide),
    /// computing those not yet computed. Times before the first batch, and input that has
    /// already been released (older than the longest window), give none.
    ///
    /// # Examples
    ///
    /// ```
    /// use spate_streaming::{RddQueue, StreamingContext, Time};
    /// let ssc = StreamingContext::new(spate_core::Conf::new().set_master("local[1]"), std::time::Duration::from_secs(1)).unwrap();
    /// let q = RddQueue::new();
    /// q.push(ssc.context().parallelize(vec![1], 1));
    /// q.push(ssc.context().parallelize(vec![2], 1));
    /// let s = ssc.queue_stream(q, true, None);
    /// let rdds = s.slice(Time::from_millis(1000), Time::from_millis(2500)).unwrap();
    /// assert_eq!(rdds.len(), 2);
    /// assert_eq!(rdds[1].collect().unwrap(), [2]);
    /// ```
    pub fn slice(&self, from: Time, to: Time) -> Result<Vec<Rdd<T>>> {
        let first = self.node.graph.floor_time(from, self.node.slide);
        Ok(self.node.rdds_between(first - self.node.slide, to)?)
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
    ///
    /// # Idempotent sinks
    ///
    /// A batch can run more than once (a failed job retried, a restart that re-runs the batches
    /// that had not completed), so a sink must make a re-run replace, not repeat, what the batch
    /// wrote. The batch time is the key: the same time always means the same batch. Write under
    /// it, atomically:
    ///
    /// ```
    /// use spate_streaming::testing::run_batches;
    /// let dir = tempfile::tempdir().unwrap();
    /// let out = dir.path().to_path_buf();
    /// for _run in 0..2 { // the second run re-runs the same batches
    ///     let out = out.clone();
    ///     run_batches(vec![vec![1, 2], vec![3]], move |st| {
    ///         st.foreach_rdd(move |rdd, time| {
    ///             let sum: i32 = rdd.collect()?.iter().sum();
    ///             let file = out.join(format!("sum-{}", time.millis()));
    ///             let tmp = out.join(format!(".sum-{}.tmp", time.millis()));
    ///             std::fs::write(&tmp, sum.to_string()).map_err(|e| spate_core::Error::io(&tmp, e))?;
    ///             std::fs::rename(&tmp, &file).map_err(|e| spate_core::Error::io(&file, e))
    ///         }).unwrap();
    ///         st
    ///     }, 2);
    /// }
    /// let mut files: Vec<_> = std::fs::read_dir(&out).unwrap().map(|e| e.unwrap().file_name()).collect();
    /// files.sort();
    /// assert_eq!(files, ["sum-1000", "sum-2000"]); // one per batch, however often it ran
    /// assert_eq!(std::fs::read_to_string(out.join("sum-1000")).unwrap(), "3");
    /// ```
    #[track_caller]
    pub fn foreach_rdd(
        &self,
        f: impl Fn(&Rdd<T>, Time) -> spate_core::Result<()> + Send + Sync + 'static,
    ) -> Result<()> {
        self.output_named("foreachRDD", f)
    }

    /// Registers an output operation named `name` (as listeners and the UI show it), with the
    /// program's call site.
    #[track_caller]
    pub(crate) fn output_named(
        &self,
        name: &'static str,
        f: impl Fn(&Rdd<T>, Time) -> spate_core::Result<()> + Send + Sync + 'static,
    ) -> Result<()> {
        let at = std::panic::Location::caller();
        let op = ForEachOp {
            parent: self.clone(),
            f: Arc::new(f),
            name,
            call_site: format!("{name} at {}:{}", at.file(), at.line()),
        };
        self.node.graph.add_output(Arc::new(op))
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
    #[track_caller]
    pub fn print(&self, n: usize) -> Result<()>
    where
        T: Show,
    {
        self.output_named("print", move |rdd, time| {
            let first = rdd.take(n + 1)?;
            if !rdd.context().is_driver() {
                // An executor follows the job; the driver prints.
                return Ok(());
            }
            let text = format_batch(time, &first, n);
            let mut out = std::io::stdout().lock();
            // A closed stdout (e.g. piped into `head`) must not fail the batch.
            let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
            Ok(())
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
