//! DStream operators: each is the corresponding RDD operator applied to every batch's RDD.

use std::io::Write;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use spate_core::{Data, Key, PartitionIter, Rdd, Show};

use crate::common::Time;
use crate::context::{OutputOp, Shared};
use crate::dstream::{DStream, StreamOp};
use crate::error::Result;
use crate::scheduler::Job;

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
        let ctx = &self.parent.node.shared.ctx;
        let a = a.unwrap_or_else(|| ctx.union(&[]));
        let b = b.unwrap_or_else(|| ctx.union(&[]));
        Ok(Some((self.f)(&a, &b, time)))
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
    let slide = streams
        .first()
        .map_or(shared.batch_interval, |s| s.node.slide);
    DStream::from_op(shared, "union", slide, op)
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
        DStream::from_op(&self.node.shared, kind, self.node.slide, op)
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
        DStream::from_op(&self.node.shared, "transform_with", self.node.slide, op)
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
        let first = self.node.shared.floor_time(from, self.node.slide);
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

/// The directory of batch `time`: `prefix-<ms>` or `prefix-<ms>.suffix`.
pub(crate) fn batch_output_path(prefix: &str, suffix: &str, time: Time) -> PathBuf {
    if suffix.is_empty() {
        PathBuf::from(format!("{prefix}-{}", time.millis()))
    } else {
        PathBuf::from(format!("{prefix}-{}.{suffix}", time.millis()))
    }
}

/// Writes with `save` (which refuses an existing path) beside `path`, then swaps it in: a
/// re-run of the same batch replaces its output instead of failing or duplicating it.
fn replace_dir(
    ctx: &spate_core::Context,
    path: &Path,
    save: impl FnOnce(&Path) -> spate_core::Result<()>,
) -> spate_core::Result<()> {
    let name = path
        .file_name()
        .map_or_else(|| "output".into(), |n| n.to_string_lossy().into_owned());
    // The same in every process of a cluster application (tasks write there).
    let unique = ctx.unique_token();
    let fresh = path.with_file_name(format!(".{name}.spate-new-{unique}"));
    save(&fresh)?;
    if !ctx.is_driver() {
        return Ok(());
    }
    let old = path.with_file_name(format!(".{name}.spate-old-{unique}"));
    let had_old = std::fs::rename(path, &old).is_ok();
    std::fs::rename(&fresh, path).map_err(|e| spate_core::Error::io(path, e))?;
    if had_old {
        let _ = std::fs::remove_dir_all(&old);
    }
    Ok(())
}

impl<T: Data> DStream<T> {
    /// Saves every batch as text, one directory per batch: `prefix-<batch ms>[.suffix]` with a
    /// `part-NNNNN` file per partition (one element per line, Spark's format) and `_SUCCESS`.
    /// Each directory is written under a temporary name and renamed into place; re-running a
    /// batch replaces its directory.
    ///
    /// # Examples
    ///
    /// ```
    /// use spate_streaming::testing::run_batches;
    /// let dir = tempfile::tempdir().unwrap();
    /// let prefix = dir.path().join("counts").display().to_string();
    /// let p = prefix.clone();
    /// run_batches(vec![vec![('a', 1)]], move |s| { s.save_as_text_files(&p, "txt").unwrap(); s }, 1);
    /// let out = std::path::PathBuf::from(format!("{prefix}-1000.txt"));
    /// assert!(out.join("_SUCCESS").exists());
    /// let text: String = (0..2).map(|i| std::fs::read_to_string(out.join(format!("part-{i:05}"))).unwrap()).collect();
    /// assert_eq!(text, "(a,1)\n");
    /// ```
    #[track_caller]
    pub fn save_as_text_files(&self, prefix: &str, suffix: &str) -> Result<()>
    where
        T: Show,
    {
        let (prefix, suffix) = (prefix.to_string(), suffix.to_string());
        self.output_named("saveAsTextFiles", move |rdd, time| {
            let path = batch_output_path(&prefix, &suffix, time);
            replace_dir(rdd.context(), &path, |tmp| rdd.save_as_text_file(tmp))
        })
    }

    /// Saves every batch as checksummed bincode files, one directory per batch named like
    /// [`DStream::save_as_text_files`]; read one back with
    /// [`StreamingContext::object_file`](crate::StreamingContext::object_file).
    ///
    /// # Examples
    ///
    /// ```
    /// use spate_streaming::testing::run_batches;
    /// let dir = tempfile::tempdir().unwrap();
    /// let prefix = dir.path().join("objs").display().to_string();
    /// let p = prefix.clone();
    /// run_batches(vec![vec![1u32, 2]], move |s| { s.save_as_object_files(&p, "").unwrap(); s }, 1);
    /// let ctx = spate_core::Context::local(1).unwrap();
    /// let back = ctx.object_file::<u32>(format!("{prefix}-1000")).unwrap();
    /// assert_eq!(back.collect().unwrap(), [1, 2]);
    /// ```
    #[track_caller]
    pub fn save_as_object_files(&self, prefix: &str, suffix: &str) -> Result<()> {
        let (prefix, suffix) = (prefix.to_string(), suffix.to_string());
        self.output_named("saveAsObjectFiles", move |rdd, time| {
            let path = batch_output_path(&prefix, &suffix, time);
            replace_dir(rdd.context(), &path, |tmp| rdd.save_as_object_file(tmp))
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
        let n = self.node.shared.ctx.default_parallelism();
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
        let n = self.node.shared.ctx.default_parallelism();
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
        let n = self.node.shared.ctx.default_parallelism();
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
        let n = self.node.shared.ctx.default_parallelism();
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
        let n = self.node.shared.ctx.default_parallelism();
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
        let n = self.node.shared.ctx.default_parallelism();
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
        let n = self.node.shared.ctx.default_parallelism();
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
