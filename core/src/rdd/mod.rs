//! [`Rdd`]: an immutable, partitioned, lazily computed collection that remembers its lineage.
//!
//! An `Rdd<T>` is a handle to a node of the lineage graph. Each node has an operation
//! ([`RddOp`]: how to compute a partition from its parents) and metadata shared by all kinds of
//! node (id, storage level, checkpoint state, partitioner). The scheduler sees nodes through the
//! untyped [`RddBase`] view; tasks compute partitions through [`RddNode::iterator`], which serves
//! checkpointed and cached partitions before computing.
//!
//! Submodules: `transform` (narrow operations), `actions`, `pair` (key-value operations),
//! `sources` (parallelize, text files), `cogroup`.

pub(crate) mod actions;
pub(crate) mod cogroup;
pub(crate) mod combiners;
pub(crate) mod iter;
pub(crate) mod pair;
pub(crate) mod shuffle_dep;
pub(crate) mod sources;
pub(crate) mod text_file;
pub(crate) mod transform;

use std::any::Any;
use std::fmt;
use std::panic::Location;
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};

use crate::checkpoint::{self, CheckpointFiles};
use crate::context::Context;
pub(crate) use crate::dag::{Dependency, RddBase};
use crate::data::Data;
use crate::error::{Error, Result};
use crate::ids::{RddId, ShuffleId};
use crate::storage::{BlockId, Cached, StorageLevel};
use crate::task::TaskContext;

pub use iter::PartitionIter;

/// How to compute one kind of RDD's partitions from its parents.
pub(crate) trait RddOp<T>: Send + Sync + 'static {
    fn num_partitions(&self) -> usize;
    fn dependencies(&self) -> Vec<Dependency>;
    fn compute(&self, partition: usize, tc: &TaskContext) -> Result<PartitionIter<T>>;
    /// What, beyond operator, call site and partition count, makes this RDD the same in two
    /// processes (a source's files and sizes): part of a job's graph fingerprint.
    fn identity(&self) -> String {
        String::new()
    }
    /// See [`RddBase::narrow_parents`]; by default, the parents of the same shape.
    fn narrow_parents(&self, partition: usize) -> Vec<(Arc<dyn RddBase>, usize)> {
        let n = self.num_partitions();
        self.dependencies()
            .into_iter()
            .filter_map(|d| match d {
                Dependency::Narrow(p) if p.num_partitions() == n => Some((p, partition)),
                _ => None,
            })
            .collect()
    }
    /// See [`RddBase::input_block`].
    fn input_block(&self, _partition: usize) -> Option<crate::ids::InputBlockId> {
        None
    }
}

pub(crate) enum CheckpointState {
    None,
    /// To be written after the next job; `retrying`: see [`Rdd::checkpoint_retrying`].
    Marked {
        retrying: bool,
    },
    Writing,
    Done(CheckpointFiles),
    /// A retrying checkpoint whose write failed, and why: the lineage stays, nothing retries
    /// this one (a newer RDD is marked instead).
    Failed(String),
}

/// What every node has, whatever its operation.
pub(crate) struct RddMeta {
    pub(crate) id: RddId,
    pub(crate) ctx: Context,
    pub(crate) op_name: &'static str,
    pub(crate) call_site: &'static Location<'static>,
    pub(crate) storage: Mutex<Option<StorageLevel>>,
    pub(crate) checkpoint: Mutex<CheckpointState>,
    /// `Arc<dyn Partitioner<K>>` for pair RDDs known to be partitioned by it.
    pub(crate) partitioner: Option<Arc<dyn Any + Send + Sync>>,
}

pub(crate) struct RddNode<T> {
    pub(crate) meta: RddMeta,
    num_partitions: usize,
    /// How to compute a partition; `None` once a checkpoint has cut the lineage, so that the
    /// parents (and the shuffle outputs and cached blocks they hold) can be freed — a stream's
    /// state RDDs would otherwise keep every earlier batch alive.
    op: RwLock<Option<Box<dyn RddOp<T>>>>,
}

impl<T: Data> RddNode<T> {
    /// The records of `partition`: from the block store, checkpoint files, or computed (a
    /// cached partition first, as Spark: no disk read, and a checkpoint directory that went
    /// away meanwhile is not needed while the cache holds it).
    pub(crate) fn iterator(&self, partition: usize, tc: &TaskContext) -> Result<PartitionIter<T>> {
        let ctx = &self.meta.ctx.inner;
        ctx.faults
            .on_compute(self.meta.id, partition, tc.attempt())?;
        let level = *self.meta.storage.lock();
        let block = BlockId::rdd(self.meta.id, partition);
        if level.is_some()
            && let Some(hit) = ctx.blocks.get::<T>(block)
        {
            return Ok(hit.into_iter_boxed());
        }
        if let CheckpointState::Done(files) = &*self.meta.checkpoint.lock() {
            return Ok(PartitionIter::new(
                checkpoint::read_partition::<T>(files, partition)?.into_iter(),
            ));
        }
        let Some(level) = level else {
            return self.compute_from_lineage(partition, tc);
        };
        let data: Vec<T> = self.compute_from_lineage(partition, tc)?.collect();
        let cached = ctx.blocks.put(block, data, level);
        // In an executor the driver learns where the block is (if the budget kept it).
        if tc.placement.is_some() && ctx.blocks.contains(block) {
            tc.note_cached(self.meta.id, partition);
        }
        Ok(cached.into_iter_boxed())
    }

    fn compute_from_lineage(&self, partition: usize, tc: &TaskContext) -> Result<PartitionIter<T>> {
        match &*self.op.read() {
            Some(op) => op.compute(partition, tc),
            // Unreachable in practice: the lineage is dropped only after the checkpoint files
            // are in place, and those are read first.
            None => Err(Error::Corrupt {
                path: self.meta.ctx.checkpoint_dir().unwrap_or_default(),
                reason: format!(
                    "{} has neither checkpoint files nor lineage",
                    self.describe()
                ),
            }),
        }
    }
}

impl<T: Data> Cached<T> {
    pub(crate) fn into_iter_boxed(self) -> PartitionIter<T> {
        match self {
            Cached::Shared(v) => PartitionIter::new(SharedVecIter { data: v, pos: 0 }),
            Cached::Owned(v) => PartitionIter::new(v.into_iter()),
            Cached::Lines(lines, _) => {
                // The store hands lines out only when `T` is `Text`.
                let iter: Box<dyn std::any::Any> = Box::new(PartitionIter::new(lines.into_iter()));
                *iter
                    .downcast::<PartitionIter<T>>()
                    .expect("lines are read as Text")
            }
        }
    }
}

/// Iterates a shared vector, cloning each element out.
pub(crate) struct SharedVecIter<T> {
    pub(crate) data: Arc<Vec<T>>,
    pub(crate) pos: usize,
}

impl<T: Clone> Iterator for SharedVecIter<T> {
    type Item = T;
    #[inline]
    fn next(&mut self) -> Option<T> {
        let x = self.data.get(self.pos)?.clone();
        self.pos += 1;
        Some(x)
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.data.len() - self.pos;
        (n, Some(n))
    }
}

impl<T: Data> RddBase for RddNode<T> {
    fn id(&self) -> RddId {
        self.meta.id
    }

    fn num_partitions(&self) -> usize {
        self.num_partitions
    }

    fn dependencies(&self) -> Vec<Dependency> {
        match &*self.meta.checkpoint.lock() {
            CheckpointState::Done(_) => Vec::new(),
            _ => self
                .op
                .read()
                .as_ref()
                .map_or_else(Vec::new, |op| op.dependencies()),
        }
    }

    fn describe(&self) -> String {
        let loc = self.meta.call_site;
        format!(
            "{} [{}] at {}:{}",
            self.meta.op_name,
            self.meta.id,
            loc.file(),
            loc.line()
        )
    }

    fn fully_cached(&self) -> bool {
        self.meta.storage.lock().is_some()
            && (0..self.num_partitions())
                .all(|partition| self.meta.ctx.inner.has_block(self.meta.id, partition))
    }

    fn signature(&self) -> String {
        let loc = self.meta.call_site;
        let identity = self
            .op
            .read()
            .as_ref()
            .map_or_else(String::new, |op| op.identity());
        format!(
            "{} at {}:{} ({} partitions){}{identity}",
            self.meta.op_name,
            loc.file(),
            loc.line(),
            self.num_partitions,
            if identity.is_empty() { "" } else { " " },
        )
    }

    fn checkpoint_pending(&self) -> bool {
        matches!(*self.meta.checkpoint.lock(), CheckpointState::Marked { .. })
    }

    fn narrow_parents(&self, partition: usize) -> Vec<(Arc<dyn RddBase>, usize)> {
        if matches!(*self.meta.checkpoint.lock(), CheckpointState::Done(_)) {
            return Vec::new();
        }
        self.op
            .read()
            .as_ref()
            .map_or_else(Vec::new, |op| op.narrow_parents(partition))
    }

    fn input_block(&self, partition: usize) -> Option<crate::ids::InputBlockId> {
        self.op.read().as_ref()?.input_block(partition)
    }

    fn write_checkpoint(self: Arc<Self>) -> Result<()> {
        let retrying = {
            let mut state = self.meta.checkpoint.lock();
            let CheckpointState::Marked { retrying } = *state else {
                return Ok(());
            };
            *state = CheckpointState::Writing;
            retrying
        };
        let result: Result<CheckpointFiles> = (|| {
            let base = self
                .meta
                .ctx
                .checkpoint_dir()
                .ok_or(Error::CheckpointDirNotSet)?;
            let rdd = Rdd {
                node: Arc::clone(&self),
            };
            // Named by the driver's id of the RDD in every process: an executor's ids can
            // differ from the driver's (one that joined late built fewer batches), and the
            // files its tasks write must be where the driver and the others look. (The
            // pairing is known once the job's `JobReady` is answered: before its tasks run,
            // and before it ends.)
            let (ctx, local) = (self.meta.ctx.clone(), self.meta.id);
            let task_base = base.clone();
            rdd.run_job_inner(false, move |tc, it| {
                let dir = checkpoint::rdd_dir(&task_base, ctx.driver_rdd_id(local));
                checkpoint::write_partition(&dir, tc.partition(), &it.collect::<Vec<T>>())
            })?;
            Ok(CheckpointFiles {
                dir: checkpoint::rdd_dir(&base, self.meta.ctx.driver_rdd_id(local)),
                num_partitions: self.num_partitions(),
                retained: false,
            })
        })();
        let mut state = self.meta.checkpoint.lock();
        match result {
            Ok(files) => {
                *state = CheckpointState::Done(files);
                drop(state);
                // The lineage is cut: let the parents go.
                *self.op.write() = None;
                Ok(())
            }
            Err(e) if retrying => {
                *state = CheckpointState::Failed(e.to_string());
                Ok(())
            }
            Err(e) => {
                *state = CheckpointState::Marked { retrying };
                Err(e)
            }
        }
    }

    fn annotations(&self) -> String {
        let mut s = String::new();
        if let Some(level) = *self.meta.storage.lock() {
            s.push_str(&format!(" [{level:?}]"));
        }
        if let CheckpointState::Done(files) = &*self.meta.checkpoint.lock() {
            s.push_str(&format!(
                "\n{{}}checkpoint files ({} partitions) in {}",
                files.num_partitions,
                files.dir.display()
            ));
        }
        s
    }
}

impl<T> Drop for RddNode<T> {
    fn drop(&mut self) {
        // RAII cleanup, like Spark's ContextCleaner: an RDD nobody holds can never be read again.
        let inner = &self.meta.ctx.inner;
        if self.meta.storage.lock().is_some() {
            inner.blocks.remove_rdd(self.meta.id);
            if let Some(d) = inner.driver() {
                d.forget_rdd(self.meta.id);
            }
        }
        if let Some(ex) = inner.executor() {
            ex.forget_rdd(self.meta.id);
        }
        // Its checkpoint files too (ids are unique per context, and so is the directory).
        if let CheckpointState::Done(files) = &*self.meta.checkpoint.lock()
            && !files.retained
        {
            let _ = std::fs::remove_dir_all(&files.dir);
        }
    }
}

/// A resilient distributed dataset: an immutable, partitioned collection, computed lazily from
/// its lineage when an action runs, and recomputed from it when a partition is lost.
///
/// Cloning is cheap (a handle). Transformations return new RDDs and run nothing; actions
/// (`collect`, `count`, …) run a job and return a [`Result`].
///
/// # Examples
///
/// ```
/// use spate_core::Text;
/// let ctx = spate_core::Context::local(2).unwrap();
/// let lines = vec![Text::from("a b"), Text::from("b c"), Text::from("c")];
/// let words = ctx.parallelize(lines, 2).flat_map(|line| line.split(' '));
/// let mut counts = words.map(|w| (w, 1u32)).reduce_by_key(|a, b| a + b).collect().unwrap();
/// counts.sort();
/// assert_eq!(counts, [(Text::from("a"), 1), (Text::from("b"), 2), (Text::from("c"), 2)]);
/// ```
pub struct Rdd<T> {
    pub(crate) node: Arc<RddNode<T>>,
}

impl<T> Clone for Rdd<T> {
    fn clone(&self) -> Self {
        Rdd {
            node: Arc::clone(&self.node),
        }
    }
}

impl<T: Data> fmt::Debug for Rdd<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.node.describe())
    }
}

impl<T: Data> Rdd<T> {
    /// Creates a node for `op`, taking the next id of `ctx`.
    #[track_caller]
    pub(crate) fn from_op(
        ctx: &Context,
        op_name: &'static str,
        partitioner: Option<Arc<dyn Any + Send + Sync>>,
        op: impl RddOp<T>,
    ) -> Rdd<T> {
        let meta = RddMeta {
            id: ctx.inner.next_rdd_id(),
            ctx: ctx.clone(),
            op_name,
            call_site: Location::caller(),
            storage: Mutex::new(None),
            checkpoint: Mutex::new(CheckpointState::None),
            partitioner,
        };
        Rdd {
            node: Arc::new(RddNode {
                meta,
                num_partitions: op.num_partitions(),
                op: RwLock::new(Some(Box::new(op))),
            }),
        }
    }

    pub(crate) fn base(&self) -> Arc<dyn RddBase> {
        Arc::clone(&self.node) as Arc<dyn RddBase>
    }

    /// This RDD's id, unique within its context and assigned in construction order.
    ///
    /// # Examples
    ///
    /// ```
    /// let ctx = spate_core::Context::local(1).unwrap();
    /// assert_eq!(ctx.parallelize(vec![1], 1).id(), spate_core::ids::RddId(0));
    /// ```
    pub fn id(&self) -> RddId {
        self.node.meta.id
    }

    /// The number of partitions.
    ///
    /// # Examples
    ///
    /// ```
    /// let ctx = spate_core::Context::local(1).unwrap();
    /// assert_eq!(ctx.parallelize(vec![1, 2, 3], 3).num_partitions(), 3);
    /// ```
    pub fn num_partitions(&self) -> usize {
        self.node.num_partitions
    }

    /// The context this RDD belongs to.
    ///
    /// # Examples
    ///
    /// ```
    /// let ctx = spate_core::Context::local(1).unwrap();
    /// let rdd = ctx.parallelize(vec![1], 1);
    /// assert_eq!(rdd.context().default_parallelism(), 1);
    /// ```
    pub fn context(&self) -> &Context {
        &self.node.meta.ctx
    }

    /// Keeps computed partitions at `level` for later jobs (after the next action computes them).
    /// Lost or evicted partitions are recomputed from lineage.
    ///
    /// # Examples
    ///
    /// ```
    /// use spate_core::StorageLevel;
    /// let ctx = spate_core::Context::local(1).unwrap();
    /// let rdd = ctx.parallelize(vec![1, 2], 1).persist(StorageLevel::MemorySerialized);
    /// assert_eq!(rdd.collect().unwrap(), [1, 2]);
    /// ```
    pub fn persist(self, level: StorageLevel) -> Rdd<T> {
        *self.node.meta.storage.lock() = Some(level);
        self
    }

    /// `persist(StorageLevel::Memory)`.
    ///
    /// # Examples
    ///
    /// ```
    /// let ctx = spate_core::Context::local(1).unwrap();
    /// let rdd = ctx.parallelize(vec![1], 1).cache();
    /// assert_eq!(rdd.storage_level(), Some(spate_core::StorageLevel::Memory));
    /// ```
    pub fn cache(self) -> Rdd<T> {
        self.persist(StorageLevel::Memory)
    }

    /// Stops caching and drops the cached partitions.
    ///
    /// # Examples
    ///
    /// ```
    /// let ctx = spate_core::Context::local(1).unwrap();
    /// let rdd = ctx.parallelize(vec![1], 1).cache();
    /// rdd.count().unwrap();
    /// assert_eq!(ctx.storage_usage().1, 1);
    /// rdd.unpersist();
    /// assert_eq!(ctx.storage_usage().1, 0);
    /// ```
    pub fn unpersist(&self) {
        *self.node.meta.storage.lock() = None;
        let inner = &self.context().inner;
        inner.blocks.remove_rdd(self.id());
        // In a cluster driver, where its partitions were cached goes too (each executor's
        // program unpersists its own copy, which drops the blocks there).
        if let Some(d) = inner.driver() {
            d.forget_rdd(self.id());
        }
    }

    /// The storage level, if persisted.
    ///
    /// # Examples
    ///
    /// ```
    /// let ctx = spate_core::Context::local(1).unwrap();
    /// assert_eq!(ctx.parallelize(vec![1], 1).storage_level(), None);
    /// ```
    pub fn storage_level(&self) -> Option<StorageLevel> {
        *self.node.meta.storage.lock()
    }

    /// Marks this RDD for checkpointing: after the next job that computes it, its partitions are
    /// written to the context's checkpoint directory and its lineage is cut there. Persist it too,
    /// or it is computed twice.
    ///
    /// # Examples
    ///
    /// ```
    /// let dir = tempfile::tempdir().unwrap();
    /// let ctx = spate_core::Context::local(2).unwrap();
    /// ctx.set_checkpoint_dir(dir.path()).unwrap();
    /// let rdd = ctx.parallelize((0..10).collect::<Vec<i32>>(), 2).map(|x| x + 1).cache();
    /// rdd.checkpoint().unwrap();
    /// assert_eq!(rdd.count().unwrap(), 10);
    /// assert!(rdd.is_checkpointed());
    /// assert!(!rdd.lineage().contains("parallelize"));
    /// ```
    pub fn checkpoint(&self) -> Result<()> {
        self.mark_checkpoint(false)
    }

    /// Marks this RDD for checkpointing like [`Rdd::checkpoint`], except that a failed write
    /// (a full or vanished checkpoint directory) does not fail the action after which it is
    /// written: the RDD keeps its lineage, [`Rdd::checkpoint_failure`] says why, and no later
    /// action retries it — mark a newer RDD to try again. What a stream's state does: a full
    /// disk must not stop the stream, only delay the checkpoint to the next interval.
    ///
    /// # Examples
    ///
    /// ```
    /// let dir = tempfile::tempdir().unwrap();
    /// let ctx = spate_core::Context::local(1).unwrap();
    /// ctx.set_checkpoint_dir(dir.path().join("cp")).unwrap();
    /// let rdd = ctx.parallelize(vec![1, 2], 1);
    /// rdd.checkpoint_retrying().unwrap();
    /// // The directory vanishes and a file takes its place.
    /// std::fs::remove_dir_all(dir.path().join("cp")).unwrap();
    /// std::fs::write(dir.path().join("cp"), b"").unwrap();
    /// assert_eq!(rdd.count().unwrap(), 2); // the action succeeds
    /// assert!(!rdd.is_checkpointed());
    /// assert!(rdd.checkpoint_failure().is_some());
    /// ```
    pub fn checkpoint_retrying(&self) -> Result<()> {
        self.mark_checkpoint(true)
    }

    fn mark_checkpoint(&self, retrying: bool) -> Result<()> {
        if self.context().checkpoint_dir().is_none() {
            return Err(Error::CheckpointDirNotSet);
        }
        let mut state = self.node.meta.checkpoint.lock();
        if matches!(*state, CheckpointState::None | CheckpointState::Failed(_)) {
            *state = CheckpointState::Marked { retrying };
        }
        Ok(())
    }

    /// Why this RDD's checkpoint (marked with [`Rdd::checkpoint_retrying`]) could not be
    /// written; `None` while it is pending, written, or was never marked.
    ///
    /// # Examples
    ///
    /// ```
    /// let ctx = spate_core::Context::local(1).unwrap();
    /// assert!(ctx.parallelize(vec![1], 1).checkpoint_failure().is_none());
    /// ```
    pub fn checkpoint_failure(&self) -> Option<String> {
        match &*self.node.meta.checkpoint.lock() {
            CheckpointState::Failed(why) => Some(why.clone()),
            _ => None,
        }
    }

    /// Whether this RDD's checkpoint files are written (and its lineage cut).
    ///
    /// # Examples
    ///
    /// ```
    /// let ctx = spate_core::Context::local(1).unwrap();
    /// assert!(!ctx.parallelize(vec![1], 1).is_checkpointed());
    /// ```
    pub fn is_checkpointed(&self) -> bool {
        matches!(*self.node.meta.checkpoint.lock(), CheckpointState::Done(_))
    }

    /// Keeps this RDD's checkpoint files on disk after the RDD is dropped and returns their
    /// directory (`None` until they are written): whoever calls this owns the files now. A
    /// streaming checkpoint uses it to restore state from them after a restart; read them back
    /// with [`Context::object_file`].
    ///
    /// # Examples
    ///
    /// ```
    /// let dir = tempfile::tempdir().unwrap();
    /// let ctx = spate_core::Context::local(1).unwrap();
    /// ctx.set_checkpoint_dir(dir.path()).unwrap();
    /// let rdd = ctx.parallelize(vec![1, 2, 3], 2);
    /// rdd.checkpoint().unwrap();
    /// assert!(rdd.retain_checkpoint_files().is_none()); // not written yet
    /// rdd.count().unwrap();
    /// let files = rdd.retain_checkpoint_files().unwrap();
    /// drop(rdd);
    /// assert_eq!(ctx.object_file::<i32>(&files).unwrap().collect().unwrap(), [1, 2, 3]);
    /// ```
    pub fn retain_checkpoint_files(&self) -> Option<std::path::PathBuf> {
        match &mut *self.node.meta.checkpoint.lock() {
            CheckpointState::Done(files) => {
                files.retained = true;
                Some(files.dir.clone())
            }
            _ => None,
        }
    }

    /// Where this RDD's checkpoint files are, once written (`None` before); unlike
    /// [`Rdd::retain_checkpoint_files`], the files stay this RDD's.
    ///
    /// # Examples
    ///
    /// ```
    /// let dir = tempfile::tempdir().unwrap();
    /// let ctx = spate_core::Context::local(1).unwrap();
    /// ctx.set_checkpoint_dir(dir.path()).unwrap();
    /// let rdd = ctx.parallelize(vec![1, 2, 3], 2);
    /// rdd.checkpoint().unwrap();
    /// rdd.count().unwrap();
    /// assert!(rdd.checkpoint_files().unwrap().starts_with(dir.path()));
    /// ```
    pub fn checkpoint_files(&self) -> Option<std::path::PathBuf> {
        match &*self.node.meta.checkpoint.lock() {
            CheckpointState::Done(files) => Some(files.dir.clone()),
            _ => None,
        }
    }

    /// Takes the checkpoint files another process of the application wrote for its copy of
    /// this RDD (see [`Rdd::checkpoint_files`]) as this RDD's own: its lineage is cut as if it
    /// had written them, and it reads them from now on. The files stay the writer's (they
    /// outlive this RDD). An executor that joins a running streaming job starts a stateful
    /// stream from the driver's latest checkpoint this way. A missing file is
    /// [`Error::Corrupt`] naming it, and nothing changes.
    ///
    /// # Examples
    ///
    /// ```
    /// let dir = tempfile::tempdir().unwrap();
    /// let ctx = spate_core::Context::local(1).unwrap();
    /// ctx.set_checkpoint_dir(dir.path()).unwrap();
    /// let written = ctx.parallelize(vec![1, 2, 3], 2).map(|x| x * 10);
    /// written.checkpoint().unwrap();
    /// written.count().unwrap();
    /// // Another copy of the same RDD (as another process builds it) takes the files.
    /// let copy = ctx.parallelize(vec![0, 0, 0], 2).map(|x| x * 10);
    /// copy.adopt_checkpoint(&written.checkpoint_files().unwrap()).unwrap();
    /// assert!(copy.is_checkpointed());
    /// assert_eq!(copy.collect().unwrap(), [10, 20, 30]);
    /// let another = ctx.parallelize(vec![0, 0, 0], 2);
    /// assert!(another.adopt_checkpoint(std::path::Path::new("/nonexistent")).is_err());
    /// assert!(!another.is_checkpointed());
    /// ```
    pub fn adopt_checkpoint(&self, dir: &std::path::Path) -> Result<()> {
        if self.is_checkpointed() {
            return Ok(());
        }
        for p in 0..self.num_partitions() {
            let file = checkpoint::part_path(dir, p);
            if !file.is_file() {
                return Err(Error::Corrupt {
                    path: file,
                    reason: format!(
                        "a checkpoint file of {} to adopt is missing",
                        self.node.describe()
                    ),
                });
            }
        }
        *self.node.meta.checkpoint.lock() = CheckpointState::Done(CheckpointFiles {
            dir: dir.to_path_buf(),
            num_partitions: self.num_partitions(),
            retained: true,
        });
        // The lineage is cut: let the parents go.
        *self.node.op.write() = None;
        Ok(())
    }

    /// The shuffles in this RDD's lineage, nearest first (for fault injection and diagnostics).
    ///
    /// # Examples
    ///
    /// ```
    /// let ctx = spate_core::Context::local(1).unwrap();
    /// let r = ctx.parallelize(vec![(1, 1)], 1).group_by_key().map_values(|v| v.len()).reduce_by_key_with_partitions(|a, b| a + b, 2);
    /// assert_eq!(r.shuffle_ids().len(), 2);
    /// ```
    pub fn shuffle_ids(&self) -> Vec<ShuffleId> {
        let mut out = Vec::new();
        let mut queue = std::collections::VecDeque::from([self.base()]);
        let mut seen = std::collections::HashSet::new();
        while let Some(rdd) = queue.pop_front() {
            if !seen.insert(rdd.id()) {
                continue;
            }
            for dep in rdd.dependencies() {
                match dep {
                    Dependency::Narrow(p) => queue.push_back(p),
                    Dependency::Shuffle(s) => {
                        out.push(s.shuffle_id());
                        queue.push_back(s.parent());
                    }
                }
            }
        }
        out
    }

    /// The lineage as an indented tree (Spark's `toDebugString`): `(N)` gives a stage's
    /// partition count, `+-` marks a shuffle boundary (a new stage), `|` a narrow dependency
    /// pipelined in the same stage.
    ///
    /// # Examples
    ///
    /// ```
    /// let ctx = spate_core::Context::local(2).unwrap();
    /// let counts = ctx.parallelize(vec!['a', 'b', 'a'], 2)
    ///     .map(|w| (w, 1))
    ///     .reduce_by_key(|a, b| a + b);
    /// let lineage = counts.lineage();
    /// println!("{lineage}");
    /// assert!(lineage.starts_with("(2) reduce_by_key"));
    /// assert!(lineage.contains(" +-(2) "));
    /// assert!(lineage.contains("|  parallelize"));
    /// ```
    pub fn lineage(&self) -> String {
        let mut out = String::new();
        render(&self.base(), "", "", true, &mut out);
        out.pop();
        out
    }
}

fn render(
    rdd: &Arc<dyn RddBase>,
    stage_prefix: &str,
    line_prefix: &str,
    head: bool,
    out: &mut String,
) {
    let count = if head {
        format!("({}) ", rdd.num_partitions())
    } else {
        String::new()
    };
    let body_prefix = format!("{stage_prefix} |  ");
    let annotations = rdd.annotations().replace("{}", &body_prefix);
    out.push_str(&format!(
        "{line_prefix}{count}{}{annotations}\n",
        rdd.describe()
    ));
    for dep in rdd.dependencies() {
        match dep {
            Dependency::Narrow(p) => render(&p, stage_prefix, &body_prefix, false, out),
            Dependency::Shuffle(s) => render(
                &s.parent(),
                &format!("{stage_prefix}   "),
                &format!("{stage_prefix} +-"),
                true,
                out,
            ),
        }
    }
}
