//! [`Context`]: the entry point (Spark's `SparkContext`). It owns one application's executor
//! pool, block store, shuffle store and id counters — nothing is process-global, so several
//! contexts can live in one process.
//!
//! This module is the context's state and the API that needs nothing above it; the API that
//! makes RDDs is `rdd::sources`'s, and making a context (with its cluster role) is `start`'s.
//! `roles`: the cluster runtime as the layers below it see it.

mod inputs;
mod roles;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, OnceLock};

use parking_lot::Mutex;

pub use inputs::{ExecutorInfo, InputReport, InputReports, ReportedBlock};
pub(crate) use roles::{ClusterRole, DriverRole, ExecutorRole, FetchedInput, ShufflePiece};

use crate::conf::{Conf, Master};
use crate::data::Data;
use crate::error::{Error, Result};
use crate::fault::{FaultInjector, FaultState};
use crate::hash::HashSeed;
use crate::ids::{InputBlockId, JobId, RddId, ShuffleId};
use crate::scheduler::{JobEnv, JobListener};
use crate::shuffle::ShuffleStore;
use crate::storage::BlockId;
use crate::storage::BlockStore;

pub(crate) struct ContextInner {
    pub(crate) conf: Conf,
    pub(crate) master: Master,
    pub(crate) default_parallelism: Option<usize>,
    /// What the scheduler runs jobs with: the pool, limits, listeners, job and stage ids, and
    /// the cluster runtime's launcher or follower.
    pub(crate) jobs: JobEnv,
    next_rdd: AtomicU32,
    next_shuffle: AtomicU32,
    next_token: std::sync::atomic::AtomicU64,
    pub(crate) blocks: Arc<BlockStore>,
    pub(crate) shuffles: Arc<ShuffleStore>,
    pub(crate) checkpoint_dir: Mutex<Option<PathBuf>>,
    pub(crate) faults: Arc<FaultState>,
    /// Set in cluster mode: this process's role.
    pub(crate) cluster: OnceLock<ClusterRole>,
    /// Task slots of the whole cluster (cluster masters), the default parallelism.
    pub(crate) cluster_cores: Option<usize>,
    /// The application's key hash: the same in every process of the application.
    pub(crate) hash_seed: HashSeed,
    /// A small runtime for object-store requests, started on first use.
    io: OnceLock<std::io::Result<Arc<tokio::runtime::Runtime>>>,
    /// Object stores by `scheme://bucket`, opened on first use (one HTTP client each).
    #[cfg(feature = "object-store")]
    pub(crate) stores: Mutex<std::collections::HashMap<String, Arc<crate::objects::Store>>>,
}

impl Drop for ContextInner {
    fn drop(&mut self) {
        if let Some(d) = self.driver() {
            d.shutdown();
        }
    }
}

impl ContextInner {
    /// A context's state: `jobs` and the stores, no RDD yet, no cluster role yet.
    pub(crate) fn new(
        conf: Conf,
        master: Master,
        jobs: JobEnv,
        blocks: Arc<BlockStore>,
        cluster_cores: Option<usize>,
        hash_seed: HashSeed,
    ) -> Result<ContextInner> {
        Ok(ContextInner {
            default_parallelism: conf.get_opt_count("spate.default.parallelism")?,
            master,
            next_rdd: AtomicU32::new(0),
            next_shuffle: AtomicU32::new(0),
            next_token: std::sync::atomic::AtomicU64::new(0),
            shuffles: Arc::clone(&jobs.shuffles),
            faults: Arc::clone(&jobs.faults),
            jobs,
            blocks,
            checkpoint_dir: Mutex::new(None),
            cluster: OnceLock::new(),
            cluster_cores,
            hash_seed,
            io: OnceLock::new(),
            #[cfg(feature = "object-store")]
            stores: Mutex::default(),
            conf,
        })
    }

    /// This process's executor role, in an executor of a cluster application.
    pub(crate) fn executor(&self) -> Option<&Arc<dyn ExecutorRole>> {
        match self.cluster.get() {
            Some(ClusterRole::Executor(e)) => Some(e),
            _ => None,
        }
    }

    /// This process's driver role, in the driver of a cluster application.
    pub(crate) fn driver(&self) -> Option<&Arc<dyn DriverRole>> {
        match self.cluster.get() {
            Some(ClusterRole::Driver(d)) => Some(d),
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
            (_, Some(e)) => e.app_id(),
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

    /// The runtime object-store requests run on (tasks block on it: they are not async).
    #[cfg_attr(not(feature = "object-store"), allow(dead_code))]
    pub(crate) fn io_runtime(&self) -> Result<Arc<tokio::runtime::Runtime>> {
        let rt = self.io.get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .thread_name("spate-io")
                .enable_all()
                .build()
                .map(Arc::new)
        });
        rt.as_ref().map(Arc::clone).map_err(|e| {
            crate::Error::InvalidArgument(format!("cannot start the I/O runtime: {e}"))
        })
    }

    /// The store of `url` (opened once per bucket) and the key `url` names in it.
    #[cfg(feature = "object-store")]
    pub(crate) fn object_store(
        &self,
        url: &str,
    ) -> Result<(Arc<crate::objects::Store>, object_store::path::Path)> {
        let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
        let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
        let id = format!("{scheme}://{bucket}");
        let known = self.stores.lock().get(&id).cloned();
        if let Some(store) = known {
            return Ok((store, object_store::path::Path::from(key)));
        }
        let (store, path) = crate::objects::Store::open(url, &self.conf, self.io_runtime()?)?;
        let store = Arc::new(store);
        self.stores.lock().insert(id, Arc::clone(&store));
        Ok((store, path))
    }

    pub(crate) fn next_rdd_id(&self) -> RddId {
        RddId(self.next_rdd.fetch_add(1, Ordering::Relaxed))
    }
    pub(crate) fn next_shuffle_id(&self) -> ShuffleId {
        ShuffleId(self.next_shuffle.fetch_add(1, Ordering::Relaxed))
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

    /// The application's key hash (see [`crate::hash`]): random per application, the same in
    /// every process of it.
    ///
    /// # Examples
    ///
    /// ```
    /// let ctx = spate_core::Context::local(1).unwrap();
    /// assert_eq!(ctx.hash_seed(), ctx.hash_seed());
    /// ```
    pub fn hash_seed(&self) -> HashSeed {
        self.inner.hash_seed
    }

    /// A hash partitioner over `partitions` partitions keyed by this application's seed: what
    /// `reduce_by_key`, joins and the other shuffles use.
    ///
    /// # Examples
    ///
    /// ```
    /// use spate_core::Partitioner;
    /// let ctx = spate_core::Context::local(1).unwrap();
    /// let p = ctx.hash_partitioner(4);
    /// assert!(Partitioner::<u32>::same_as(&p, &ctx.hash_partitioner(4)));
    /// ```
    pub fn hash_partitioner(&self, partitions: usize) -> crate::HashPartitioner {
        crate::HashPartitioner::seeded(partitions, self.inner.hash_seed)
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
    /// assert!(spate_core::Context::local(1).unwrap().next_control_message().is_none());
    /// ```
    pub fn next_control_message(&self) -> Option<ControlMessage> {
        self.inner.executor().and_then(|e| e.next_control())
    }

    /// The id the driver gave this process's RDD `local`: the same in a driver and in local
    /// mode; in an executor, the driver's (paired when a job over it was announced), or
    /// `local` before any was.
    pub(crate) fn driver_rdd_id(&self, local: RddId) -> RddId {
        self.inner
            .executor()
            .and_then(|e| e.driver_rdd_id(local))
            .unwrap_or(local)
    }

    /// In a cluster driver: keeps the control log's last `messages` messages, which an executor
    /// that joins the running application (a replacement for a lost one) reads first, marked
    /// [`ControlMessage::replayed`]. Nothing is kept before this is called; does nothing
    /// elsewhere.
    ///
    /// # Examples
    ///
    /// ```
    /// spate_core::Context::local(1).unwrap().set_control_replay(8);
    /// ```
    pub fn set_control_replay(&self, messages: usize) {
        if let Some(d) = self.inner.driver() {
            d.set_control_replay(messages);
        }
    }

    /// In a cluster driver: every job from id `job` on stays available to executors that join
    /// later (with the jobs run before the first control message: the program's prologue),
    /// so a replacement can follow the work in progress; older ones are dropped once every
    /// executor has passed them. Does nothing elsewhere.
    ///
    /// # Examples
    ///
    /// ```
    /// let ctx = spate_core::Context::local(1).unwrap();
    /// ctx.keep_jobs_from(ctx.next_job_id());
    /// ```
    pub fn keep_jobs_from(&self, job: u64) {
        if let Some(d) = self.inner.driver() {
            d.keep_jobs_from(JobId(job as u32));
        }
    }

    /// The id the next job of this context will get.
    ///
    /// # Examples
    ///
    /// ```
    /// let ctx = spate_core::Context::local(1).unwrap();
    /// let before = ctx.next_job_id();
    /// ctx.parallelize(vec![1, 2, 3], 1).count().unwrap();
    /// assert_eq!(ctx.next_job_id(), before + 1);
    /// ```
    pub fn next_job_id(&self) -> u64 {
        u64::from(self.inner.jobs.peek_job_id().0)
    }

    /// In an executor: its next job gets id `next`, the driver's id of the job its program
    /// reaches next (an executor that joined a running application skipped the jobs before).
    /// Does nothing elsewhere.
    ///
    /// # Examples
    ///
    /// ```
    /// let ctx = spate_core::Context::local(1).unwrap();
    /// ctx.align_job_ids(5); // not an executor: nothing changes
    /// assert_eq!(ctx.next_job_id(), 0);
    /// ```
    pub fn align_job_ids(&self, next: u64) {
        if self.inner.executor().is_some() {
            self.inner.jobs.align_job_ids(JobId(next as u32));
        }
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
        if let Some(d) = self.inner.driver() {
            d.forget_input_blocks(ids);
        }
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
        self.inner.jobs.stopped.store(true, Ordering::SeqCst);
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
        self.inner.jobs.is_stopped()
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

    /// What this context keeps, by collection: blocks, shuffles, and in a cluster application
    /// its driver's or its executor's bookkeeping (jobs an executor may still ask about, the
    /// control log, where cached blocks are, id pairings). For tests and diagnostics of
    /// bounded memory: a long-running job's sizes stop growing once it is steady.
    ///
    /// # Examples
    ///
    /// ```
    /// let ctx = spate_core::Context::local(1).unwrap();
    /// let sizes = ctx.internal_sizes();
    /// assert!(sizes.iter().any(|(what, n)| *what == "shuffles" && *n == 0));
    /// ```
    pub fn internal_sizes(&self) -> Vec<(&'static str, usize)> {
        self.sizes()
    }

    /// In a cluster driver, the bytes of job results it has sent to executors so far (each
    /// executor's copy counted): what [`Rdd::collect_on_driver`](crate::Rdd::collect_on_driver)
    /// saves. `None` elsewhere.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(spate_core::Context::local(1).unwrap().result_bytes_to_executors(), None);
    /// ```
    pub fn result_bytes_to_executors(&self) -> Option<u64> {
        self.inner.driver().map(|d| d.result_bytes_sent())
    }

    fn sizes(&self) -> Vec<(&'static str, usize)> {
        let mut sizes = vec![
            ("blocks", self.inner.blocks.num_blocks()),
            ("shuffles", self.inner.shuffles.len()),
        ];
        if let Some(d) = self.inner.driver() {
            sizes.extend(d.sizes());
        }
        if let Some(e) = self.inner.executor() {
            sizes.extend(e.sizes());
        }
        sizes
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
        self.inner.jobs.events.add(listener);
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
        self.inner.jobs.events.set_property(key, value);
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
        self.inner.jobs.events.properties().get(key).cloned()
    }
}

/// A message of a cluster driver's control log, as an executor reads it
/// ([`Context::next_control_message`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlMessage {
    /// What the driver published.
    pub payload: Vec<u8>,
    /// Whether it was published before this executor joined: part of the log's kept tail,
    /// which a replacement reads first to catch up ([`Context::set_control_replay`]).
    pub replayed: bool,
    /// Whether it is the last message of that tail: what follows was published after the
    /// executor joined.
    pub replay_ends: bool,
}
