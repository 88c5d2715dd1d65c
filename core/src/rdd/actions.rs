//! Actions: run a job and bring a result to the caller.

use std::collections::HashMap;
use std::io::Write;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::Arc;

use super::{Dependency, PartitionIter, Rdd, RddBase};
use crate::data::{Data, Key};
use crate::error::{Error, Result};
use crate::scheduler::{self, ResultFn, TaskResult, panic_message};
use crate::show::Show;
use crate::task::TaskContext;

/// Runs driver-side user code (merging task results), turning a panic into an error.
fn guard<R>(f: impl FnOnce() -> R) -> Result<R> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|p| Error::Panicked {
        message: panic_message(&*p),
    })
}

impl<T: Data> Rdd<T> {
    /// Runs `f` over the given partitions as one job; afterwards writes any checkpoints the job
    /// made possible (when `checkpoint_after`).
    pub(crate) fn run_partitions<R: TaskResult>(
        &self,
        partitions: Vec<usize>,
        checkpoint_after: bool,
        f: impl Fn(&TaskContext, PartitionIter<T>) -> Result<R> + Send + Sync + 'static,
    ) -> Result<Vec<R>> {
        self.run_partitions_for(partitions, checkpoint_after, false, f)
    }

    /// [`Rdd::run_partitions`]; a `driver_only` job's results reach only the driver's caller.
    fn run_partitions_for<R: TaskResult>(
        &self,
        partitions: Vec<usize>,
        checkpoint_after: bool,
        driver_only: bool,
        f: impl Fn(&TaskContext, PartitionIter<T>) -> Result<R> + Send + Sync + 'static,
    ) -> Result<Vec<R>> {
        let node = Arc::clone(&self.node);
        let result_fn: ResultFn<R> = Arc::new(move |p, tc| f(tc, node.iterator(p, tc)?));
        let out = scheduler::run_job(
            &self.context().inner.jobs,
            self.base(),
            partitions,
            result_fn,
            driver_only,
        )?;
        if checkpoint_after {
            write_pending_checkpoints(self.base())?;
        }
        Ok(out)
    }

    /// Runs `f` over every partition as one job.
    pub(crate) fn run_job_inner<R: TaskResult>(
        &self,
        checkpoint_after: bool,
        f: impl Fn(&TaskContext, PartitionIter<T>) -> Result<R> + Send + Sync + 'static,
    ) -> Result<Vec<R>> {
        self.run_partitions((0..self.num_partitions()).collect(), checkpoint_after, f)
    }

    fn run_each<R: TaskResult>(
        &self,
        f: impl Fn(PartitionIter<T>) -> R + Send + Sync + 'static,
    ) -> Result<Vec<R>> {
        self.run_job_inner(true, move |_, it| Ok(f(it)))
    }

    /// All elements, in partition order.
    ///
    /// # Examples
    ///
    /// ```
    /// let ctx = spate_core::Context::local(2).unwrap();
    /// assert_eq!(ctx.parallelize(vec![3, 1, 2], 2).collect().unwrap(), [3, 1, 2]);
    /// ```
    pub fn collect(&self) -> Result<Vec<T>> {
        Ok(self.run_each(|it| it.collect::<Vec<T>>())?.concat())
    }

    /// All elements, in partition order, in the driver — `None` in a cluster application's
    /// executors, which run the same job but are not sent its data. For results only the
    /// driver uses (printing, writing to a database, a file of its own): [`Rdd::collect`]
    /// sends every executor a copy so their programs go on with the same value; this sends it
    /// nowhere. Control flow must then not depend on the result.
    ///
    /// # Examples
    ///
    /// ```
    /// let ctx = spate_core::Context::local(2).unwrap();
    /// let rows = ctx.parallelize(vec![3, 1, 2], 2).collect_on_driver().unwrap();
    /// if let Some(rows) = rows {
    ///     assert_eq!(rows, [3, 1, 2]); // the driver (every process in local mode)
    /// }
    /// ```
    pub fn collect_on_driver(&self) -> Result<Option<Vec<T>>> {
        let parts = (0..self.num_partitions()).collect();
        let out = self.run_partitions_for(parts, true, true, |_, it| Ok(it.collect::<Vec<T>>()))?;
        Ok(self.context().is_driver().then(|| out.concat()))
    }

    /// The number of elements.
    ///
    /// # Examples
    ///
    /// ```
    /// let ctx = spate_core::Context::local(2).unwrap();
    /// assert_eq!(ctx.parallelize(vec!['a'; 7], 3).count().unwrap(), 7);
    /// ```
    pub fn count(&self) -> Result<u64> {
        Ok(self.run_each(|it| it.count() as u64)?.into_iter().sum())
    }

    /// Combines all elements with `f` (associative and commutative); `None` when empty.
    ///
    /// # Examples
    ///
    /// ```
    /// let ctx = spate_core::Context::local(2).unwrap();
    /// assert_eq!(ctx.parallelize(vec![1, 2, 3], 2).reduce(|a, b| a + b).unwrap(), Some(6));
    /// assert_eq!(ctx.parallelize(Vec::<i32>::new(), 2).reduce(|a, b| a + b).unwrap(), None);
    /// ```
    pub fn reduce(&self, f: impl Fn(T, T) -> T + Send + Sync + 'static) -> Result<Option<T>> {
        let f = Arc::new(f);
        let g = Arc::clone(&f);
        let partials = self.run_each(move |it| it.reduce(|a, b| g(a, b)))?;
        guard(|| partials.into_iter().flatten().reduce(|a, b| f(a, b)))
    }

    /// Folds each partition from `zero`, then the partition results from `zero` (Spark's
    /// semantics: `zero` must be neutral for `f`).
    ///
    /// # Examples
    ///
    /// ```
    /// let ctx = spate_core::Context::local(2).unwrap();
    /// assert_eq!(ctx.parallelize(vec![1, 2, 3], 3).fold(0, |a, b| a + b).unwrap(), 6);
    /// ```
    pub fn fold(&self, zero: T, f: impl Fn(T, T) -> T + Send + Sync + 'static) -> Result<T> {
        let f = Arc::new(f);
        let (g, z) = (Arc::clone(&f), zero.clone());
        let partials = self.run_each(move |it| it.fold(z.clone(), |a, b| g(a, b)))?;
        guard(|| partials.into_iter().fold(zero, |a, b| f(a, b)))
    }

    /// Folds each partition into a `U` with `seq`, then merges the partition results with
    /// `comb`, both starting from `zero`.
    ///
    /// # Examples
    ///
    /// ```
    /// let ctx = spate_core::Context::local(2).unwrap();
    /// let (sum, n) = ctx
    ///     .parallelize(vec![1.0, 2.0, 6.0], 2)
    ///     .aggregate((0.0, 0), |(s, n), x| (s + x, n + 1), |a, b| (a.0 + b.0, a.1 + b.1))
    ///     .unwrap();
    /// assert_eq!(sum / n as f64, 3.0);
    /// ```
    pub fn aggregate<U: Data>(
        &self,
        zero: U,
        seq: impl Fn(U, T) -> U + Send + Sync + 'static,
        comb: impl Fn(U, U) -> U + Send + Sync + 'static,
    ) -> Result<U> {
        let z = zero.clone();
        let partials = self.run_each(move |it| it.fold(z.clone(), &seq))?;
        guard(|| partials.into_iter().fold(zero, comb))
    }

    /// The first `n` elements, scanning as few partitions as possible (one first, then more).
    ///
    /// # Examples
    ///
    /// ```
    /// let ctx = spate_core::Context::local(2).unwrap();
    /// assert_eq!(ctx.parallelize((0..100).collect::<Vec<_>>(), 10).take(3).unwrap(), [0, 1, 2]);
    /// ```
    pub fn take(&self, n: usize) -> Result<Vec<T>> {
        let total = self.num_partitions();
        let mut out = Vec::new();
        let mut scanned = 0;
        while out.len() < n && scanned < total {
            let to_try = match (scanned, out.len()) {
                (0, _) => 1,
                (s, 0) => s * 4,
                (s, got) => ((n * s * 3) / (2 * got)).saturating_sub(s).clamp(1, s * 4),
            };
            let parts: Vec<usize> = (scanned..total.min(scanned + to_try)).collect();
            scanned += parts.len();
            let left = n - out.len();
            for chunk in self.run_partitions(parts, true, move |_, it| {
                Ok(it.take(left).collect::<Vec<T>>())
            })? {
                out.extend(chunk.into_iter().take(n - out.len()));
            }
        }
        Ok(out)
    }

    /// The first element, if any.
    ///
    /// # Examples
    ///
    /// ```
    /// let ctx = spate_core::Context::local(1).unwrap();
    /// assert_eq!(ctx.parallelize(vec!['q', 'r'], 2).first().unwrap(), Some('q'));
    /// ```
    pub fn first(&self) -> Result<Option<T>> {
        Ok(self.take(1)?.into_iter().next())
    }

    /// Runs `f` on every element, on the executors.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::{Arc, atomic::{AtomicU64, Ordering}};
    /// let ctx = spate_core::Context::local(2).unwrap();
    /// let sum = Arc::new(AtomicU64::new(0));
    /// let s = Arc::clone(&sum);
    /// ctx.parallelize(vec![1u64, 2, 3], 2).foreach(move |x| { s.fetch_add(x, Ordering::Relaxed); }).unwrap();
    /// assert_eq!(sum.load(Ordering::Relaxed), 6);
    /// ```
    pub fn foreach(&self, f: impl Fn(T) + Send + Sync + 'static) -> Result<()> {
        self.run_each(move |it| it.for_each(&f)).map(drop)
    }

    /// Runs `f` on every partition's iterator, on the executors.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// let ctx = spate_core::Context::local(2).unwrap();
    /// let sizes = Arc::new(Mutex::new(Vec::new()));
    /// let s = Arc::clone(&sizes);
    /// ctx.parallelize(vec![1, 2, 3], 3).foreach_partition(move |it| s.lock().unwrap().push(it.count())).unwrap();
    /// assert_eq!(sizes.lock().unwrap().len(), 3);
    /// ```
    pub fn foreach_partition(
        &self,
        f: impl Fn(PartitionIter<T>) + Send + Sync + 'static,
    ) -> Result<()> {
        self.run_each(f).map(drop)
    }

    /// Writes the elements as text, one per line in [`Show`] form, to directory `path` with one
    /// `part-NNNNN` file per partition and an empty `_SUCCESS` marker. The directory is written
    /// under a temporary name and renamed into place, so readers never see a partial output.
    /// An existing `path` is [`Error::OutputExists`].
    ///
    /// # Examples
    ///
    /// ```
    /// let dir = tempfile::tempdir().unwrap();
    /// let out = dir.path().join("counts");
    /// let ctx = spate_core::Context::local(2).unwrap();
    /// ctx.parallelize(vec![('a', 1), ('b', 2)], 2).save_as_text_file(&out).unwrap();
    /// assert_eq!(std::fs::read_to_string(out.join("part-00001")).unwrap(), "(b,2)\n");
    /// assert!(out.join("_SUCCESS").exists());
    /// ```
    pub fn save_as_text_file(&self, path: impl AsRef<Path>) -> Result<()>
    where
        T: Show,
    {
        self.save_partitions(path.as_ref(), |file, it| {
            let mut w = std::io::BufWriter::new(
                std::fs::File::create(file).map_err(|e| Error::io(file, e))?,
            );
            let mut line = String::new();
            for x in it {
                line.clear();
                x.show_into(&mut line);
                line.push('\n');
                w.write_all(line.as_bytes())
                    .map_err(|e| Error::io(file, e))?;
            }
            let f = w
                .into_inner()
                .map_err(|e| Error::io(file, e.into_error()))?;
            crate::durable::sync_file(&f, file)
        })
    }

    /// Saves the RDD as a directory of `part-NNNNN` files of checksummed bincode (one per
    /// partition) and a `_SUCCESS` marker, written like [`Rdd::save_as_text_file`]; read it
    /// back with [`Context::object_file`](crate::Context::object_file).
    ///
    /// # Examples
    ///
    /// ```
    /// let dir = tempfile::tempdir().unwrap();
    /// let out = dir.path().join("pairs");
    /// let ctx = spate_core::Context::local(2).unwrap();
    /// ctx.parallelize(vec![(1, 'a'), (2, 'b')], 2).save_as_object_file(&out).unwrap();
    /// let back = ctx.object_file::<(i32, char)>(&out).unwrap();
    /// assert_eq!(back.collect().unwrap(), [(1, 'a'), (2, 'b')]);
    /// ```
    pub fn save_as_object_file(&self, path: impl AsRef<Path>) -> Result<()> {
        self.save_partitions(path.as_ref(), |file, it| {
            crate::codec::write_file(file, &it.collect::<Vec<T>>())
        })
    }

    /// Writes every partition with `write(file, records)` into a temporary directory beside
    /// `path`, adds `_SUCCESS`, and renames it into place: readers never see a partial output,
    /// and every file, the directory and the rename are on disk (fsync) when this returns.
    fn save_partitions(
        &self,
        path: &Path,
        write: impl Fn(&Path, PartitionIter<T>) -> Result<()> + Send + Sync + 'static,
    ) -> Result<()> {
        let path = path.to_path_buf();
        let name = path
            .file_name()
            .map_or_else(|| "output".into(), |n| n.to_string_lossy().into_owned());
        // The same name in every process of a cluster application: tasks in executors write
        // where the driver renames from.
        let token = self.context().inner.unique_token();
        let tmp = path.with_file_name(format!(".{name}.spate-tmp-{token}"));
        let dir = tmp.clone();
        let job = move |rdd: &Self| {
            rdd.run_job_inner(true, move |tc, it| {
                write(&dir.join(format!("part-{:05}", tc.partition())), it)
            })
        };
        if !self.context().is_driver() {
            // An executor follows the job; the files are the driver's to check and move.
            return job(self).map(drop);
        }
        if path.exists() {
            return Err(Error::OutputExists { path });
        }
        std::fs::create_dir_all(&tmp).map_err(|e| Error::io(&tmp, e))?;
        if let Err(e) = job(self) {
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(e);
        }
        let success = tmp.join("_SUCCESS");
        let marker = std::fs::File::create(&success).map_err(|e| Error::io(&success, e))?;
        crate::durable::sync_file(&marker, &success)?;
        if path.exists() {
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(Error::OutputExists { path });
        }
        // Its files are synced (each task synced its part); the directory's entries and the
        // rename are, before the output counts as written.
        crate::durable::publish_new_dir(&tmp, &path).inspect_err(|_| {
            let _ = std::fs::remove_dir_all(&tmp);
        })
    }
}

impl<T: Key> Rdd<T> {
    /// How many times each distinct element occurs.
    ///
    /// # Examples
    ///
    /// ```
    /// let ctx = spate_core::Context::local(2).unwrap();
    /// let m = ctx.parallelize(vec!['a', 'b', 'a'], 2).count_by_value().unwrap();
    /// assert_eq!(m[&'a'], 2);
    /// assert_eq!(m[&'b'], 1);
    /// ```
    pub fn count_by_value(&self) -> Result<HashMap<T, u64>> {
        let ones: Rdd<(T, u64)> = self.narrow("count_by_value", false, |_, it| {
            PartitionIter::new(it.map(|x| (x, 1)))
        });
        ones.reduce_by_key(|a, b| a + b).collect_as_map()
    }
}

/// After a job on `rdd`: writes the checkpoint of each RDD in its lineage marked for
/// checkpointing (the nearest ones; their ancestors are cut off by it).
fn write_pending_checkpoints(rdd: Arc<dyn RddBase>) -> Result<()> {
    let mut stack = vec![rdd];
    let mut seen = std::collections::HashSet::new();
    while let Some(r) = stack.pop() {
        if !seen.insert(r.id()) {
            continue;
        }
        if r.checkpoint_pending() {
            r.write_checkpoint()?;
            continue;
        }
        for dep in r.dependencies() {
            match dep {
                Dependency::Narrow(p) => stack.push(p),
                Dependency::Shuffle(s) => stack.push(s.parent()),
            }
        }
    }
    Ok(())
}
