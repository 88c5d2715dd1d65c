//! [`Context`]: the entry point (Spark's `SparkContext`). It owns one application's executor
//! pool, block store, shuffle store and id counters — nothing is process-global, so several
//! contexts can live in one process.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, OnceLock};

use parking_lot::Mutex;

use crate::cluster::{ClusterRuntime, DriverRuntime, ExecutorRuntime};
use crate::conf::{Conf, Master};
use crate::data::Data;
use crate::error::{Error, Result};
use crate::fault::{FaultInjector, FaultState};
use crate::ids::{InputBlockId, JobId, RddId, ShuffleId, StageId};
use crate::rdd::Rdd;
use crate::rdd::sources::{InputBlocks, ObjectFiles, ParallelCollection};
use crate::rdd::text_file::{InputFile, OnUnreadable, TextFile};
use crate::rdd::transform::UnionOp;
use crate::scheduler::{JobEvents, JobFollower, JobListener, TaskLauncher};
use crate::shuffle::ShuffleStore;
use crate::storage::BlockId;
use crate::storage::BlockStore;
use crate::text::Text;

pub(crate) struct ContextInner {
    pub(crate) conf: Conf,
    pub(crate) master: Master,
    pub(crate) pool: rayon::ThreadPool,
    pub(crate) max_task_failures: u32,
    pub(crate) max_stage_attempts: u32,
    pub(crate) default_parallelism: Option<usize>,
    next_rdd: AtomicU32,
    next_shuffle: AtomicU32,
    next_job: AtomicU32,
    next_stage: AtomicU32,
    next_token: std::sync::atomic::AtomicU64,
    pub(crate) blocks: Arc<BlockStore>,
    pub(crate) shuffles: Arc<ShuffleStore>,
    pub(crate) checkpoint_dir: Mutex<Option<PathBuf>>,
    pub(crate) faults: Arc<FaultState>,
    pub(crate) stopped: AtomicBool,
    /// Set in cluster mode: this process's role.
    pub(crate) cluster: OnceLock<ClusterRuntime>,
    /// Task slots of the whole cluster (cluster masters), the default parallelism.
    cluster_cores: Option<usize>,
    /// Job listeners and the threads' local properties.
    pub(crate) job_events: JobEvents,
}

impl Drop for ContextInner {
    fn drop(&mut self) {
        if let Some(d) = self.driver() {
            d.shutdown();
        }
    }
}

impl ContextInner {
    /// This process's executor role, in an executor of a cluster application.
    pub(crate) fn executor(&self) -> Option<&Arc<ExecutorRuntime>> {
        match self.cluster.get() {
            Some(ClusterRuntime::Executor(e)) => Some(e),
            _ => None,
        }
    }

    /// Where the scheduler sends tasks, in the driver of a cluster application.
    pub(crate) fn task_launcher(&self) -> Option<Arc<dyn TaskLauncher>> {
        self.driver()
            .map(|d| Arc::clone(d) as Arc<dyn TaskLauncher>)
    }

    /// How the scheduler follows the driver's jobs, in an executor of a cluster application.
    pub(crate) fn job_follower(&self) -> Option<Arc<dyn JobFollower>> {
        self.executor()
            .map(|e| Arc::clone(e) as Arc<dyn JobFollower>)
    }

    /// This process's driver role, in the driver of a cluster application.
    pub(crate) fn driver(&self) -> Option<&Arc<DriverRuntime>> {
        match self.cluster.get() {
            Some(ClusterRuntime::Driver(d)) => Some(d),
            _ => None,
        }
    }

    /// A name part unique to this run — and, in a cluster application, the same in every
    /// process for the same call in program order (the application id and a counter).
    pub(crate) fn unique_token(&self) -> String {
        let n = self.next_token.fetch_add(1, Ordering::Relaxed);
        match self.app_id() {
            Some(app) => format!("{app}-{n}"),
            None => format!("{:016x}-{n}", rand::random::<u64>()),
        }
    }

    /// The application id of a cluster application, shared by all its processes.
    pub(crate) fn app_id(&self) -> Option<String> {
        match (self.driver(), self.executor()) {
            (Some(d), _) => Some(d.app_id().to_string()),
            (_, Some(_)) => std::env::var(crate::cluster::APP_ID_ENV).ok(),
            _ => None,
        }
    }

    /// Whether partition `partition` of `rdd` is cached: in this process's block store, or
    /// (in a cluster driver) in some executor's.
    pub(crate) fn has_block(&self, rdd: RddId, partition: usize) -> bool {
        match self.driver() {
            Some(d) => d.has_block(rdd, partition),
            None => self.blocks.contains(BlockId::rdd(rdd, partition)),
        }
    }

    pub(crate) fn next_rdd_id(&self) -> RddId {
        RddId(self.next_rdd.fetch_add(1, Ordering::Relaxed))
    }
    pub(crate) fn next_shuffle_id(&self) -> ShuffleId {
        ShuffleId(self.next_shuffle.fetch_add(1, Ordering::Relaxed))
    }
    pub(crate) fn next_job_id(&self) -> JobId {
        JobId(self.next_job.fetch_add(1, Ordering::Relaxed))
    }
    pub(crate) fn next_stage_id(&self) -> StageId {
        StageId(self.next_stage.fetch_add(1, Ordering::Relaxed))
    }
}

/// The entry point: creates RDDs and runs their jobs on its executor pool.
///
/// Cheap to clone (a handle); all clones share the same pool and stores.
///
/// # Examples
///
/// ```
/// use spate_core::{Conf, Context};
/// let ctx = Context::new(Conf::new().set_master("local[2]").set_app_name("example")).unwrap();
/// let squares = ctx.parallelize((1..=4).collect::<Vec<u64>>(), 2).map(|x| x * x);
/// assert_eq!(squares.collect().unwrap(), [1, 4, 9, 16]);
/// ctx.stop();
/// ```
#[derive(Clone)]
pub struct Context {
    pub(crate) inner: Arc<ContextInner>,
}

impl fmt::Debug for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context")
            .field("app", &self.inner.conf.app_name())
            .field("master", &self.inner.master)
            .finish()
    }
}

impl Context {
    /// Validates `conf` and starts a context: an executor pool of the master's thread count and
    /// empty block and shuffle stores.
    ///
    /// # Examples
    ///
    /// ```
    /// use spate_core::{Conf, Context, Error};
    /// assert!(Context::new(Conf::new().set_master("local[1]")).is_ok());
    /// let err = Context::new(Conf::new().set("spate.task.maxfailures", "2")).unwrap_err();
    /// assert!(matches!(err, Error::UnknownConfKey { .. }));
    /// ```
    pub fn new(conf: Conf) -> Result<Context> {
        conf.validate()?;
        let master = conf.master()?;
        let executor = master.is_cluster() && ExecutorRuntime::requested();
        let (threads, cluster_cores) = if !master.is_cluster() {
            (master.threads(), None)
        } else {
            let total = crate::cluster::total_cores(&conf, &master)?;
            let threads = if executor {
                ExecutorRuntime::cores_from_env(&conf)?
            } else {
                1
            };
            (threads, Some(total))
        };
        // In an executor, connect before building anything: a refusal ends the program early.
        let executor = if executor {
            Some(ExecutorRuntime::start(&conf, threads)?)
        } else {
            None
        };
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("spate-executor-{i}"))
            .build()
            .map_err(|e| Error::InvalidArgument(format!("cannot start executor threads: {e}")))?;
        let count = |key| conf.get_count(key).map(|n| n.min(u32::MAX as usize) as u32);
        let inner = ContextInner {
            max_task_failures: count("spate.task.maxFailures")?,
            max_stage_attempts: count("spate.stage.maxConsecutiveAttempts")?,
            default_parallelism: conf.get_opt_count("spate.default.parallelism")?,
            blocks: Arc::new(BlockStore::new(
                conf.get_size("spate.storage.memory")?,
                conf.get("spate.local.dir").map(PathBuf::from),
            )),
            master: master.clone(),
            pool,
            next_rdd: AtomicU32::new(0),
            next_shuffle: AtomicU32::new(0),
            next_job: AtomicU32::new(0),
            next_stage: AtomicU32::new(0),
            next_token: std::sync::atomic::AtomicU64::new(0),
            // An executor's map outputs wait for reducers of other processes: bounded in
            // memory by the storage budget, spilled to the local dir past it.
            shuffles: Arc::new(if executor.is_some() {
                let dir = conf
                    .get("spate.local.dir")
                    .map_or_else(std::env::temp_dir, PathBuf::from);
                ShuffleStore::spilling(conf.get_size("spate.storage.memory")?, &dir)?
            } else {
                ShuffleStore::default()
            }),
            checkpoint_dir: Mutex::new(None),
            faults: Arc::default(),
            stopped: AtomicBool::new(false),
            cluster: OnceLock::new(),
            cluster_cores,
            job_events: JobEvents::default(),
            conf,
        };
        let inner = Arc::new(inner);
        if let Some(ex) = executor {
            ex.register(Arc::downgrade(&inner))?;
            let _ = inner.cluster.set(ClusterRuntime::Executor(ex));
        } else if master.is_cluster() {
            let driver = DriverRuntime::start(&inner.conf, &master, Arc::downgrade(&inner))?;
            let _ = inner.cluster.set(ClusterRuntime::Driver(driver));
        }
        Ok(Context { inner })
    }

    /// A context on `local[threads]` with every other setting at its default.
    ///
    /// # Examples
    ///
    /// ```
    /// let ctx = spate_core::Context::local(2).unwrap();
    /// assert_eq!(ctx.default_parallelism(), 2);
    /// ```
    pub fn local(threads: usize) -> Result<Context> {
        Context::new(Conf::new().set_master(format!("local[{threads}]")))
    }

    /// The configuration this context was started with.
    ///
    /// # Examples
    ///
    /// ```
    /// let ctx = spate_core::Context::local(1).unwrap();
    /// assert_eq!(ctx.conf().get("spate.master"), Some("local[1]"));
    /// ```
    pub fn conf(&self) -> &Conf {
        &self.inner.conf
    }

    /// Partitions used when an operation is given none: `spate.default.parallelism`, else the
    /// number of worker threads.
    ///
    /// # Examples
    ///
    /// ```
    /// let ctx = spate_core::Context::new(
    ///     spate_core::Conf::new().set_master("local[2]").set("spate.default.parallelism", "8"),
    /// ).unwrap();
    /// assert_eq!(ctx.default_parallelism(), 8);
    /// ```
    pub fn default_parallelism(&self) -> usize {
        self.inner.default_parallelism.unwrap_or_else(|| {
            self.inner
                .cluster_cores
                .unwrap_or_else(|| self.inner.master.threads())
        })
    }

    /// Whether this process is the application's driver: always, except in the executor
    /// processes of a cluster master. Every process runs the program's `main`; guard
    /// driver-only side effects (printing results, writing to a database from collected
    /// data) with it.
    ///
    /// # Examples
    ///
    /// ```
    /// let ctx = spate_core::Context::local(1).unwrap();
    /// if ctx.is_driver() {
    ///     println!("printed once, by the driver");
    /// }
    /// assert!(ctx.is_driver());
    /// ```
    pub fn is_driver(&self) -> bool {
        self.inner.executor().is_none()
    }

    /// This process's executor id in a cluster application (`None` in the driver and in
    /// local mode).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(spate_core::Context::local(1).unwrap().executor_id(), None);
    /// ```
    pub fn executor_id(&self) -> Option<u32> {
        self.inner.executor().map(|e| e.id())
    }

    /// In a cluster driver: the ids of the executors registered and not lost (empty in local
    /// mode and in executors).
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(spate_core::Context::local(1).unwrap().executors().is_empty());
    /// ```
    pub fn executors(&self) -> Vec<u32> {
        self.inner
            .driver()
            .map_or_else(Vec::new, |d| d.live_executors())
    }

    /// A name part unique to this run, for temporary paths: in a cluster application the same
    /// in every process for the same call in program order (the application id and a
    /// counter), so tasks in executors write where the driver expects.
    ///
    /// # Examples
    ///
    /// ```
    /// let ctx = spate_core::Context::local(1).unwrap();
    /// assert_ne!(ctx.unique_token(), ctx.unique_token());
    /// ```
    pub fn unique_token(&self) -> String {
        self.inner.unique_token()
    }

    /// In a cluster driver: appends `payload` to the control log its executors read in order
    /// with [`Context::next_control_message`] (the streaming layer sends each batch's input
    /// this way, so executors build the same batches). Does nothing elsewhere.
    ///
    /// # Examples
    ///
    /// ```
    /// spate_core::Context::local(1).unwrap().publish_control_message(vec![1, 2]);
    /// ```
    pub fn publish_control_message(&self, payload: Vec<u8>) {
        if let Some(d) = self.inner.driver() {
            d.publish(payload);
        }
    }

    /// In an executor: the next message of the driver's control log, waiting for it; `None`
    /// outside executors.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(spate_core::Context::local(1).unwrap().next_control_message(), None);
    /// ```
    pub fn next_control_message(&self) -> Option<Vec<u8>> {
        self.inner.executor().and_then(|e| e.next_control())
    }

    /// Whether this process is the driver of a cluster application (a `local-cluster` or
    /// `slurm` master; not an executor, not local mode).
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(!spate_core::Context::local(1).unwrap().is_cluster_driver());
    /// ```
    pub fn is_cluster_driver(&self) -> bool {
        self.inner.driver().is_some()
    }

    /// In a cluster driver: the address of its RPC server and the application id
    /// (`None` in local mode and in executors).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(spate_core::Context::local(1).unwrap().driver_address(), None);
    /// ```
    pub fn driver_address(&self) -> Option<(String, String)> {
        self.inner
            .driver()
            .map(|d| (d.url().to_string(), d.app_id().to_string()))
    }

    /// Distributes `data` over `slices` partitions (at least 1) of contiguous, even ranges.
    ///
    /// # Examples
    ///
    /// ```
    /// let ctx = spate_core::Context::local(2).unwrap();
    /// let rdd = ctx.parallelize(vec!['a', 'b', 'c'], 2);
    /// assert_eq!(rdd.num_partitions(), 2);
    /// assert_eq!(rdd.glom().collect().unwrap(), [vec!['a'], vec!['b', 'c']]);
    /// ```
    #[track_caller]
    pub fn parallelize<T: Data>(&self, data: Vec<T>, slices: usize) -> Rdd<T> {
        Rdd::from_op(
            self,
            "parallelize",
            None,
            ParallelCollection::new(data, slices.max(1)),
        )
    }

    /// An RDD read from an external system by `source` (see [`crate::Source`]); `name` is its
    /// operator's name in lineage and UI (e.g. `kafka`).
    ///
    /// # Examples
    ///
    /// ```
    /// use spate_core::{Context, PartitionIter, Result, Source};
    /// struct Letters;
    /// impl Source<char> for Letters {
    ///     fn num_partitions(&self) -> usize { 1 }
    ///     fn compute(&self, _: usize) -> Result<PartitionIter<char>> { Ok(PartitionIter::new(['a', 'b'].into_iter())) }
    ///     fn identity(&self) -> String { "ab".into() }
    /// }
    /// let ctx = Context::local(1).unwrap();
    /// assert_eq!(ctx.source("letters", Letters).count().unwrap(), 2);
    /// ```
    #[track_caller]
    pub fn source<T: Data>(&self, name: &'static str, source: impl crate::Source<T>) -> Rdd<T> {
        Rdd::from_op(self, name, None, crate::rdd::sources::External(source))
    }

    /// An RDD with one partition per block, sharing the blocks without copying them: how
    /// received stream data becomes a batch's input.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// let ctx = spate_core::Context::local(1).unwrap();
    /// let rdd = ctx.from_blocks(vec![Arc::new(vec![1, 2]), Arc::new(vec![3])]);
    /// assert_eq!(rdd.num_partitions(), 2);
    /// assert_eq!(rdd.collect().unwrap(), [1, 2, 3]);
    /// assert_eq!(ctx.from_blocks(Vec::<Arc<Vec<u8>>>::new()).count().unwrap(), 0);
    /// ```
    #[track_caller]
    pub fn from_blocks<T: Data>(&self, blocks: Vec<Arc<Vec<T>>>) -> Rdd<T> {
        Rdd::from_op(
            self,
            "blocks",
            None,
            ParallelCollection::from_blocks(blocks),
        )
    }

    /// Puts a block of received records in the block store under `id` (shared, not copied).
    /// It stays in memory while the `spate.storage.memory` budget allows and is spilled to disk
    /// otherwise — never dropped, since received records have no lineage — until
    /// [`Context::remove_input_blocks`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use spate_core::ids::InputBlockId;
    /// let ctx = spate_core::Context::local(1).unwrap();
    /// let id = InputBlockId { stream: 0, seq: 0 };
    /// ctx.put_input_block(id, Arc::new(vec!["a".to_string(), "b".to_string()])).unwrap();
    /// assert_eq!(ctx.storage_usage().1, 1);
    /// ```
    pub fn put_input_block<T: Data>(&self, id: InputBlockId, records: Arc<Vec<T>>) -> Result<()> {
        self.inner.blocks.put_input(id, records)
    }

    /// Puts a block of received lines in the block store under `id`, like
    /// [`Context::put_input_block`]: an [`Context::input_block_rdd`] of [`Text`](crate::Text)
    /// reads it, one `Text` per line, each a slice of the received buffers.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use spate_core::{Context, Text, TextLines, ids::InputBlockId};
    /// let ctx = Context::local(1).unwrap();
    /// let buf = Arc::new(b"to be\nor not\n".to_vec());
    /// let mut lines = TextLines::new();
    /// lines.push(&buf, 0..buf.len(), 100).unwrap();
    /// let id = InputBlockId { stream: 0, seq: 0 };
    /// ctx.put_input_lines(id, Arc::new(lines)).unwrap();
    /// let rdd = ctx.input_block_rdd::<Text>(vec![id]);
    /// assert_eq!(rdd.collect().unwrap(), [Text::from("to be"), Text::from("or not")]);
    /// ```
    pub fn put_input_lines(&self, id: InputBlockId, lines: Arc<crate::TextLines>) -> Result<()> {
        self.inner.blocks.put_input_lines(id, lines)
    }

    /// An RDD with one partition per received block, read from the block store by id. A block
    /// that is no longer there fails the job with [`Error::InputBlockLost`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use spate_core::{Context, Error, ids::InputBlockId};
    /// let ctx = Context::local(1).unwrap();
    /// let (a, b) = (InputBlockId { stream: 0, seq: 0 }, InputBlockId { stream: 0, seq: 1 });
    /// ctx.put_input_block(a, Arc::new(vec![1, 2])).unwrap();
    /// ctx.put_input_block(b, Arc::new(vec![3])).unwrap();
    /// let rdd = ctx.input_block_rdd::<i32>(vec![a, b]);
    /// assert_eq!(rdd.num_partitions(), 2);
    /// assert_eq!(rdd.collect().unwrap(), [1, 2, 3]);
    /// ctx.remove_input_blocks(&[a]);
    /// assert!(matches!(rdd.collect(), Err(Error::InputBlockLost { .. })));
    /// ```
    #[track_caller]
    pub fn input_block_rdd<T: Data>(&self, ids: Vec<InputBlockId>) -> Rdd<T> {
        let op = InputBlocks {
            ids,
            ctx: self.clone(),
        };
        Rdd::from_op(self, "received blocks", None, op)
    }

    /// Removes received blocks from the block store (memory and disk), e.g. once their batch
    /// has completed.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use spate_core::ids::InputBlockId;
    /// let ctx = spate_core::Context::local(1).unwrap();
    /// let id = InputBlockId { stream: 3, seq: 9 };
    /// ctx.put_input_block(id, Arc::new(vec![0u8; 10])).unwrap();
    /// ctx.remove_input_blocks(&[id]);
    /// assert_eq!(ctx.storage_usage(), (0, 0));
    /// ```
    pub fn remove_input_blocks(&self, ids: &[InputBlockId]) {
        for &id in ids {
            self.inner.blocks.remove(crate::storage::BlockId::Input(id));
        }
    }

    /// The lines of a text file, or of every visible file in a directory, as [`Text`] (shared
    /// buffers, no per-line allocation), in at least `min_partitions` partitions. Lines end at
    /// `\n` or `\r\n`; invalid UTF-8 is replaced with U+FFFD.
    ///
    /// # Examples
    ///
    /// ```
    /// let dir = tempfile::tempdir().unwrap();
    /// let path = dir.path().join("in.txt");
    /// std::fs::write(&path, "a b\r\nc\n").unwrap();
    /// let ctx = spate_core::Context::local(1).unwrap();
    /// let lines = ctx.text_file(&path, 2).unwrap().collect().unwrap();
    /// assert_eq!(lines, ["a b", "c"]);
    /// ```
    #[track_caller]
    pub fn text_file(&self, path: impl AsRef<Path>, min_partitions: usize) -> Result<Rdd<Text>> {
        let op = TextFile::new(path.as_ref(), min_partitions.max(1))?;
        Ok(Rdd::from_op(self, "text_file", None, op))
    }

    /// The lines of `files`, each read to its given length, in splits of about `split_bytes`
    /// (each task reads its split a chunk at a time, so memory does not grow with file size).
    /// A file that cannot be opened when its task runs is handed to `on_unreadable` and reads
    /// as empty; without it, the task fails. What a file stream reads each batch.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::{Arc, atomic::{AtomicUsize, Ordering}};
    /// use spate_core::InputFile;
    /// let dir = tempfile::tempdir().unwrap();
    /// let a = dir.path().join("a.txt");
    /// std::fs::write(&a, "one\ntwo\nthree\n").unwrap();
    /// let files = [
    ///     InputFile { path: a, len: 8 }, // the length when listed: "three" came later
    ///     InputFile { path: dir.path().join("gone.txt"), len: 5 },
    /// ];
    /// let missing = Arc::new(AtomicUsize::new(0));
    /// let seen = Arc::clone(&missing);
    /// let ctx = spate_core::Context::local(1).unwrap();
    /// let lines = ctx.text_files(&files, 1 << 20, Some(Arc::new(move |_, _| {
    ///     seen.fetch_add(1, Ordering::Relaxed);
    /// })));
    /// assert_eq!(lines.collect().unwrap(), ["one", "two"]);
    /// assert_eq!(missing.load(Ordering::Relaxed), 1);
    /// ```
    #[track_caller]
    pub fn text_files(
        &self,
        files: &[InputFile],
        split_bytes: u64,
        on_unreadable: Option<OnUnreadable>,
    ) -> Rdd<Text> {
        let op = TextFile::of_files(files, split_bytes, on_unreadable);
        Rdd::from_op(self, "text_files", None, op)
    }

    /// Reads a directory written by [`Rdd::save_as_object_file`]: one partition per
    /// `part-NNNNN` file, in order. A missing directory is an I/O error naming it; a corrupt
    /// or truncated part file is [`Error::Corrupt`] naming the file when it is read.
    ///
    /// # Examples
    ///
    /// ```
    /// let dir = tempfile::tempdir().unwrap();
    /// let ctx = spate_core::Context::local(1).unwrap();
    /// ctx.parallelize(vec!["x".to_string()], 1).save_as_object_file(dir.path().join("o")).unwrap();
    /// assert_eq!(ctx.object_file::<String>(dir.path().join("o")).unwrap().collect().unwrap(), ["x"]);
    /// assert!(ctx.object_file::<String>(dir.path().join("missing")).is_err());
    /// ```
    #[track_caller]
    pub fn object_file<T: Data>(&self, path: impl AsRef<Path>) -> Result<Rdd<T>> {
        let path = path.as_ref();
        let mut parts: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(|e| Error::io(path, e))?
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("part-"))
            })
            .collect();
        parts.sort();
        Ok(Rdd::from_op(
            self,
            "object_file",
            None,
            ObjectFiles { parts },
        ))
    }

    /// The union of several RDDs: their partitions one after another.
    ///
    /// # Examples
    ///
    /// ```
    /// let ctx = spate_core::Context::local(1).unwrap();
    /// let a = ctx.parallelize(vec![1], 1);
    /// let b = ctx.parallelize(vec![2, 3], 2);
    /// let u = ctx.union(&[a, b]);
    /// assert_eq!(u.num_partitions(), 3);
    /// assert_eq!(u.collect().unwrap(), [1, 2, 3]);
    /// ```
    #[track_caller]
    pub fn union<T: Data>(&self, rdds: &[Rdd<T>]) -> Rdd<T> {
        Rdd::from_op(self, "union", None, UnionOp::new(rdds.to_vec()))
    }

    /// Sets the directory `checkpoint()` writes to. A subdirectory unique to this context is
    /// created inside it, so runs never read each other's files; it is returned.
    ///
    /// # Examples
    ///
    /// ```
    /// let dir = tempfile::tempdir().unwrap();
    /// let ctx = spate_core::Context::local(1).unwrap();
    /// let sub = ctx.set_checkpoint_dir(dir.path()).unwrap();
    /// assert!(sub.starts_with(dir.path()));
    /// ```
    pub fn set_checkpoint_dir(&self, dir: impl AsRef<Path>) -> Result<PathBuf> {
        let name = self.inner.conf.app_name().replace(['/', '\\', ' '], "_");
        // Every process of a cluster application must name the same directory (on a file
        // system they share): the application id, not this process's id.
        let unique = match self.inner.app_id() {
            Some(app) => format!("{name}-{app}"),
            None => format!(
                "{name}-{}-{:016x}",
                std::process::id(),
                rand::random::<u64>()
            ),
        };
        let sub = dir.as_ref().join(unique);
        std::fs::create_dir_all(&sub).map_err(|e| Error::io(&sub, e))?;
        *self.inner.checkpoint_dir.lock() = Some(sub.clone());
        Ok(sub)
    }

    /// The checkpoint directory set by [`Context::set_checkpoint_dir`], if any.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(spate_core::Context::local(1).unwrap().checkpoint_dir().is_none());
    /// ```
    pub fn checkpoint_dir(&self) -> Option<PathBuf> {
        self.inner.checkpoint_dir.lock().clone()
    }

    /// The fault injector of this context (**testing only**): fail chosen task attempts, lose
    /// shuffle outputs, drop cached blocks — to check that lineage-based recovery works.
    ///
    /// # Examples
    ///
    /// ```
    /// let ctx = spate_core::Context::local(2).unwrap();
    /// let rdd = ctx.parallelize(vec![1, 2, 3, 4], 2).map(|x| x * 10);
    /// ctx.fault_injector().fail_task_attempt(rdd.id(), 1, 0);
    /// assert_eq!(rdd.collect().unwrap(), [10, 20, 30, 40]); // attempt 1 of partition 1 succeeds
    /// ```
    pub fn fault_injector(&self) -> FaultInjector {
        FaultInjector::new(
            Arc::clone(&self.inner.faults),
            Arc::clone(&self.inner.shuffles),
            Arc::clone(&self.inner.blocks),
        )
    }

    /// Stops the context: later jobs fail with [`Error::ContextStopped`]. Cached blocks and
    /// shuffle outputs are released when the last RDD referring to them is dropped.
    ///
    /// # Examples
    ///
    /// ```
    /// use spate_core::{Context, Error};
    /// let ctx = Context::local(1).unwrap();
    /// let rdd = ctx.parallelize(vec![1], 1);
    /// ctx.stop();
    /// assert!(matches!(rdd.count(), Err(Error::ContextStopped)));
    /// ```
    pub fn stop(&self) {
        self.inner.stopped.store(true, Ordering::SeqCst);
        if let Some(d) = self.inner.driver() {
            d.shutdown();
        }
    }

    /// Whether [`Context::stop`] was called.
    ///
    /// # Examples
    ///
    /// ```
    /// let ctx = spate_core::Context::local(1).unwrap();
    /// assert!(!ctx.is_stopped());
    /// ```
    pub fn is_stopped(&self) -> bool {
        self.inner.stopped.load(Ordering::SeqCst)
    }

    /// Bytes of memory the block store holds, and its number of blocks (memory or disk).
    ///
    /// # Examples
    ///
    /// ```
    /// let ctx = spate_core::Context::local(1).unwrap();
    /// assert_eq!(ctx.storage_usage(), (0, 0));
    /// ```
    pub fn storage_usage(&self) -> (u64, usize) {
        (
            self.inner.blocks.memory_used(),
            self.inner.blocks.num_blocks(),
        )
    }

    /// Number of shuffles whose outputs are held (released when their RDDs are dropped).
    ///
    /// # Examples
    ///
    /// ```
    /// let ctx = spate_core::Context::local(1).unwrap();
    /// let counts = ctx.parallelize(vec![('a', 1)], 1).reduce_by_key(|a, b| a + b);
    /// assert_eq!(ctx.active_shuffles(), 1);
    /// drop(counts);
    /// assert_eq!(ctx.active_shuffles(), 0);
    /// ```
    pub fn active_shuffles(&self) -> usize {
        self.inner.shuffles.len()
    }

    /// Adds a listener of the scheduler's job, stage and task events (in a cluster
    /// application, the driver's). See [`JobListener`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use parking_lot::Mutex;
    /// use spate_core::scheduler::{JobInfo, JobListener};
    /// struct Stages(Mutex<Vec<usize>>);
    /// impl JobListener for Stages {
    ///     fn on_job_end(&self, j: &JobInfo) { self.0.lock().push(j.stages.len()); }
    /// }
    /// let ctx = spate_core::Context::local(2).unwrap();
    /// let l = Arc::new(Stages(Mutex::new(Vec::new())));
    /// ctx.add_job_listener(l.clone());
    /// ctx.parallelize(vec![(1, 1), (1, 2)], 2).reduce_by_key(|a, b| a + b).collect().unwrap();
    /// assert_eq!(*l.0.lock(), [2]); // a shuffle: a map stage and the result stage
    /// ```
    pub fn add_job_listener(&self, listener: Arc<dyn JobListener>) {
        self.inner.job_events.add(listener);
    }

    /// Sets (or with `None` removes) a property of the jobs this thread runs from now on:
    /// listeners find it in [`JobInfo::properties`](crate::scheduler::JobInfo::properties)
    /// (Spark's `setLocalProperty`; spate's streaming scheduler tags each output operation's
    /// jobs with `spate.streaming.batchTime` and `spate.streaming.outputOpId`).
    ///
    /// # Examples
    ///
    /// ```
    /// let ctx = spate_core::Context::local(1).unwrap();
    /// ctx.set_local_property("team", Some("search"));
    /// assert_eq!(ctx.local_property("team").as_deref(), Some("search"));
    /// ctx.set_local_property("team", None);
    /// assert_eq!(ctx.local_property("team"), None);
    /// ```
    pub fn set_local_property(&self, key: &str, value: Option<&str>) {
        self.inner.job_events.set_property(key, value);
    }

    /// This thread's value of a local property (see [`Context::set_local_property`]).
    ///
    /// # Examples
    ///
    /// ```
    /// let ctx = spate_core::Context::local(1).unwrap();
    /// assert_eq!(ctx.local_property("missing"), None);
    /// ```
    pub fn local_property(&self, key: &str) -> Option<String> {
        self.inner.job_events.properties().get(key).cloned()
    }
}
