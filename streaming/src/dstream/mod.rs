//! [`DStream`]: a discretized stream — a sequence of RDDs, one per batch time.
//!
//! Each stream is a node of the stream graph. At every batch time the job generator asks the
//! output streams for their RDD; each node computes its RDD from its parents' RDDs for the same
//! time (an RDD transformation per stream operator) and remembers it until the batch is done, so
//! a stream used by several outputs is computed once per batch.
//!
//! - `graph`: [`StreamGraph`], what every stream of a context shares (the time line, the
//!   streams and outputs, the core context).
//! - `ops`: the operators (map, reduce_by_key, joins, …) and output operations.
//! - `window`: windowed operators over a stream's recent RDDs.
//! - `state`: `update_state_by_key`, `map_with_state` and incremental windows — streams whose
//!   RDD at `t` is built from their own RDD at `t - slide`.

mod graph;
pub(crate) mod ops;
mod output;
mod pair;
pub(crate) mod state;
pub(crate) mod window;

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Weak};
use std::time::Duration;

use parking_lot::Mutex;
use spate_core::{Data, Rdd, StorageLevel};

use crate::common::{StreamId, Time};
use crate::recovery::checkpoint::StreamSnapshot;
use spate_core::Result;

pub(crate) use graph::{Phase, StreamGraph};

/// One output operation's work for one batch.
pub(crate) type Job = Box<dyn FnOnce() -> spate_core::Result<()> + Send>;

/// An output operation of the graph: its job for each batch.
pub(crate) trait OutputOp: Send + Sync {
    fn job(&self, time: Time) -> spate_core::Result<Option<Job>>;
    /// Its name (`print`, `foreachRDD`, …) and description (name and call site).
    fn describe(&self) -> (&'static str, &str);
}

/// How a stream computes its RDD for one batch time.
pub(crate) trait StreamOp<T>: Send + Sync + 'static {
    fn compute(&self, time: Time) -> Result<Option<Rdd<T>>>;

    /// An input stream's record of its batches after `keep_from` (to replay them after a
    /// restart), and the files that record needs kept.
    fn snapshot_input(&self, _keep_from: Time) -> Option<(Vec<u8>, Vec<PathBuf>)> {
        None
    }

    /// Takes back what [`StreamOp::snapshot_input`] saved; batches up to `last_generated`
    /// are replayed from it, never read anew.
    fn restore_input(&self, _saved: &[u8], _last_generated: Time) -> crate::Result<()> {
        Ok(())
    }

    /// In a cluster driver: what this input read for batch `time`, for the executors (an
    /// input that finds its data itself — a file stream's directory listing — would find
    /// something else in another process at another moment).
    fn announce_input(&self, _time: Time) -> Option<Vec<u8>> {
        None
    }

    /// In an executor: batch `time` reads what the driver's [`StreamOp::announce_input`] said.
    fn follow_input(&self, _time: Time, _announced: &[u8]) {}
}

/// The untyped face of a stream node, for the graph's bookkeeping.
pub(crate) trait StreamBase: Send + Sync {
    /// Forgets the RDDs of batches up to and including `time`.
    fn forget_through(&self, time: Time);
    /// How many batches' RDDs it remembers (see `StreamingContext::internal_sizes`).
    fn remembered(&self) -> usize;
    /// If this stream cannot work without a checkpoint directory, what it is (for the error).
    fn needs_checkpoint_dir(&self) -> Option<String>;
    fn id(&self) -> StreamId;
    /// The stable identity its checkpointed data is saved under: its name, or `kind#n`.
    fn key(&self) -> String;
    /// The batch time of the state a restart would resume this stream from (its latest
    /// checkpointed RDD); inputs keep their batches after it so they can be replayed.
    fn state_time(&self) -> Option<Time>;
    /// What a restarted driver needs to restore this stream, if anything.
    fn snapshot(&self, keep_from: Time) -> Option<StreamSnapshot>;
    /// Restores what [`StreamBase::snapshot`] saved (after checking that it fits).
    fn restore(&self, saved: &StreamSnapshot, last_generated: Time) -> crate::Result<()>;
    /// See [`StreamOp::announce_input`].
    fn announce_input(&self, time: Time) -> Option<Vec<u8>>;
    /// See [`StreamOp::follow_input`].
    fn follow_input(&self, time: Time, announced: &[u8]);
    /// A stream that must checkpoint: its latest RDD whose checkpoint files are written and
    /// kept (batch time and files), which a replacement executor's copy adopts.
    fn latest_checkpoint(&self) -> Option<(Time, PathBuf)>;
    /// In a replacement executor: the RDD of `time` takes the driver's checkpoint files
    /// `dir` (see [`spate_core::Rdd::adopt_checkpoint`]); an error if it has no RDD then.
    fn adopt_checkpoint(&self, time: Time, dir: &std::path::Path) -> crate::Result<()>;
    /// After batch `time`'s jobs: whether its RDD's checkpoint was written (`Ok`) or failed
    /// (`Err`, why); `None` when none was due or it is still pending.
    fn checkpoint_outcome(&self, time: Time) -> Option<std::result::Result<(), String>>;
}

/// How a stream keeps its RDDs: persisted at a level, and checkpointed every so often (which
/// bounds the lineage of streams whose RDDs depend on their own earlier RDDs).
#[derive(Default)]
pub(crate) struct Keeping {
    pub(crate) storage: Option<StorageLevel>,
    pub(crate) checkpoint_interval: Option<Duration>,
    /// Stateful and incremental streams: their lineage grows with every batch otherwise.
    pub(crate) must_checkpoint: bool,
}

/// The default checkpoint interval of a stream that must checkpoint: the first multiple of
/// its slide that is at least 10 s (as in Spark).
pub(crate) fn default_checkpoint_interval(slide: Duration) -> Duration {
    let slide_ms = slide.as_millis().max(1);
    let times = 10_000u128.div_ceil(slide_ms).max(1);
    Duration::from_millis((slide_ms * times) as u64)
}

pub(crate) struct StreamNode<T> {
    pub(crate) id: StreamId,
    /// Its position among the graph's streams of the same kind (part of its stable identity).
    ordinal: u32,
    name: Mutex<Option<String>>,
    /// The latest checkpointed RDD (batch time, files) a restart would resume from; its files
    /// are retained, and deleted by the driver checkpoint once no metadata refers to them.
    last_checkpoint: Mutex<Option<(Time, PathBuf)>>,
    pub(crate) graph: Arc<StreamGraph>,
    pub(crate) kind: &'static str,
    /// How often this stream has an RDD: the batch interval, or a window's slide.
    pub(crate) slide: Duration,
    pub(crate) keeping: Mutex<Keeping>,
    op: Box<dyn StreamOp<T>>,
    generated: Mutex<BTreeMap<Time, Option<Rdd<T>>>>,
}

impl<T: Data> StreamNode<T> {
    /// This stream's RDD for `time`: computed once, then remembered while a batch or a window
    /// may still need it. `None` at times that are not this stream's (not a multiple of its
    /// slide after the context's zero time, or not after it).
    pub(crate) fn rdd_at(&self, time: Time) -> Result<Option<Rdd<T>>> {
        if !self.graph.is_valid_time(time, self.slide) {
            return Ok(None);
        }
        if let Some(r) = self.generated.lock().get(&time) {
            return Ok(r.clone());
        }
        let mut rdd = self.op.compute(time)?;
        if let Some(r) = rdd.take() {
            rdd = Some(self.keep(r, time)?);
        }
        self.generated.lock().insert(time, rdd.clone());
        Ok(rdd)
    }

    /// This stream's RDDs at its own times in `(after, through]`, oldest first: the batches a
    /// window covers, or a slice.
    pub(crate) fn rdds_between(&self, after: Time, through: Time) -> Result<Vec<Rdd<T>>> {
        let mut out = Vec::new();
        let mut t = self.graph.floor_time(after, self.slide) + self.slide;
        while t <= through {
            out.extend(self.rdd_at(t)?);
            t = t + self.slide;
        }
        Ok(out)
    }

    /// Persists and marks for checkpointing as this stream's [`Keeping`] says.
    fn keep(&self, rdd: Rdd<T>, time: Time) -> Result<Rdd<T>> {
        let keeping = self.keeping.lock();
        let rdd = match keeping.storage {
            Some(level) => rdd.persist(level),
            None => rdd,
        };
        if let Some(interval) = keeping.checkpoint_interval {
            let since = Time::from_millis(time.millis() - self.graph.zero_time().millis());
            if since.is_multiple_of(interval) {
                // A failed write (a full disk) must not fail the batch: the lineage stays and
                // the next interval's RDD tries again (see `Checkpoints::state_checkpointed`).
                rdd.checkpoint_retrying()?;
            }
        }
        Ok(rdd)
    }
}

impl<T: Data> StreamBase for StreamNode<T> {
    fn announce_input(&self, time: Time) -> Option<Vec<u8>> {
        self.op.announce_input(time)
    }

    fn follow_input(&self, time: Time, announced: &[u8]) {
        self.op.follow_input(time, announced)
    }

    fn forget_through(&self, time: Time) {
        let mut g = self.generated.lock();
        let keep = g.split_off(&(time + std::time::Duration::from_millis(1)));
        *g = keep;
    }

    fn remembered(&self) -> usize {
        self.generated.lock().len()
    }

    fn needs_checkpoint_dir(&self) -> Option<String> {
        self.keeping
            .lock()
            .must_checkpoint
            .then(|| format!("{} [{}]", self.kind, self.id))
    }

    fn id(&self) -> StreamId {
        self.id
    }

    fn latest_checkpoint(&self) -> Option<(Time, PathBuf)> {
        if !self.keeping.lock().must_checkpoint {
            return None;
        }
        // The newest written, retained: its files stay while checkpoint metadata refers to it.
        self.update_last_checkpoint();
        self.last_checkpoint.lock().clone()
    }

    fn adopt_checkpoint(&self, time: Time, dir: &std::path::Path) -> crate::Result<()> {
        let rdd = self.generated.lock().get(&time).cloned().flatten();
        match rdd {
            Some(r) => Ok(r.adopt_checkpoint(dir)?),
            // Its state would start from nothing after it.
            None => Err(spate_core::Error::cluster(format!(
                "{} [{}] has no RDD of {time} to take the checkpoint",
                self.kind, self.id
            ))
            .into()),
        }
    }

    fn checkpoint_outcome(&self, time: Time) -> Option<std::result::Result<(), String>> {
        let rdd = self.generated.lock().get(&time).cloned().flatten()?;
        if rdd.is_checkpointed() {
            return Some(Ok(()));
        }
        rdd.checkpoint_failure().map(Err)
    }

    fn key(&self) -> String {
        match &*self.name.lock() {
            Some(name) => name.clone(),
            None => format!("{}#{}", self.kind, self.ordinal),
        }
    }

    fn state_time(&self) -> Option<Time> {
        if !self.keeping.lock().must_checkpoint {
            return None;
        }
        self.update_last_checkpoint();
        Some(
            self.last_checkpoint
                .lock()
                .as_ref()
                .map_or(self.graph.zero_time(), |(t, _)| *t),
        )
    }

    fn snapshot(&self, keep_from: Time) -> Option<StreamSnapshot> {
        let state = if self.keeping.lock().must_checkpoint {
            self.update_last_checkpoint();
            self.last_checkpoint.lock().clone()
        } else {
            None
        };
        let input = self.op.snapshot_input(keep_from);
        if state.is_none() && input.is_none() {
            return None;
        }
        let mut files: Vec<PathBuf> = state.iter().map(|(_, dir)| dir.clone()).collect();
        let input = input.map(|(bytes, f)| {
            files.extend(f);
            bytes
        });
        Some(StreamSnapshot {
            key: self.key(),
            kind: self.kind.to_string(),
            item_type: spate_core::codec::stable_name(std::any::type_name::<T>()),
            state,
            input,
            files,
        })
    }

    fn restore(&self, saved: &StreamSnapshot, last_generated: Time) -> crate::Result<()> {
        let incompatible = |reason: String| crate::Error::CheckpointIncompatible {
            stream: saved.key.clone(),
            reason,
        };
        if saved.kind != self.kind {
            return Err(incompatible(format!(
                "it was a {} stream and is now a {} stream (name the streams you keep with .name(..) so that they stay matched)",
                saved.kind, self.kind
            )));
        }
        // By stable names: a toolchain upgrade or a moved module is not a changed type (older
        // checkpoints saved the full path).
        let item_type = spate_core::codec::stable_name(std::any::type_name::<T>());
        if spate_core::codec::stable_name(&saved.item_type) != item_type {
            return Err(incompatible(format!(
                "its records were {} and are now {item_type}",
                saved.item_type
            )));
        }
        if let Some((time, dir)) = &saved.state {
            if !dir.is_dir() {
                return Err(incompatible(format!(
                    "its state files {} are missing",
                    dir.display()
                )));
            }
            let rdd = self.graph.ctx.object_file::<T>(dir)?;
            self.generated.lock().insert(*time, Some(rdd));
            *self.last_checkpoint.lock() = Some((*time, dir.clone()));
        }
        if let Some(input) = &saved.input {
            self.op.restore_input(input, last_generated)?;
        }
        Ok(())
    }
}

impl<T: Data> StreamNode<T> {
    /// Notes the newest RDD whose checkpoint files are written as the one to resume from.
    fn update_last_checkpoint(&self) {
        let newest = self.generated.lock().iter().rev().find_map(|(t, r)| {
            r.as_ref()
                .filter(|r| r.is_checkpointed())
                .map(|r| (*t, r.clone()))
        });
        let Some((time, rdd)) = newest else {
            return;
        };
        let mut last = self.last_checkpoint.lock();
        if last.as_ref().is_some_and(|(t, _)| *t >= time) {
            return;
        }
        if let Some(dir) = rdd.retain_checkpoint_files() {
            *last = Some((time, dir));
        }
    }
}

/// A discretized stream: one RDD of `T` per batch interval.
///
/// Transformations (`map`, `flat_map`, `reduce_by_key`, …) return new streams; output operations
/// (`print`, `foreach_rdd`) register what runs at every batch. Cloning is cheap (a handle).
///
/// # Examples
///
/// ```
/// use spate_streaming::testing::run_batches;
/// let out = run_batches(vec![vec![1, 2], vec![3]], |s| s.map(|x| x * 10), 3);
/// assert_eq!(out, vec![vec![10, 20], vec![30], vec![]]);
/// ```
pub struct DStream<T> {
    pub(crate) node: Arc<StreamNode<T>>,
}

impl<T> Clone for DStream<T> {
    fn clone(&self) -> Self {
        DStream {
            node: Arc::clone(&self.node),
        }
    }
}

impl<T> fmt::Debug for DStream<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &*self.node.name.lock() {
            Some(name) => write!(f, "{} {name:?} [{}]", self.node.kind, self.node.id),
            None => write!(f, "{} [{}]", self.node.kind, self.node.id),
        }
    }
}

impl<T: Data> DStream<T> {
    /// Creates a stream node and registers it with the graph.
    pub(crate) fn from_op(
        graph: &Arc<StreamGraph>,
        kind: &'static str,
        slide: Duration,
        op: impl StreamOp<T>,
    ) -> DStream<T> {
        let ordinal = graph.add_stream(kind);
        let node = Arc::new(StreamNode {
            id: graph.next_stream_id(),
            ordinal,
            name: Mutex::new(None),
            last_checkpoint: Mutex::new(None),
            graph: Arc::clone(graph),
            kind,
            slide,
            keeping: Mutex::new(Keeping::default()),
            op: Box::new(op),
            generated: Mutex::new(BTreeMap::new()),
        });
        let weak: Weak<dyn StreamBase> =
            Arc::downgrade(&(Arc::clone(&node) as Arc<dyn StreamBase>));
        graph.keep_stream(weak);
        DStream { node }
    }

    /// This stream's id.
    ///
    /// # Examples
    ///
    /// ```
    /// use spate_streaming::{StreamingContext, RddQueue, StreamId};
    /// let ssc = StreamingContext::new(spate_core::Conf::new().set_master("local[1]"), std::time::Duration::from_secs(1)).unwrap();
    /// let s = ssc.queue_stream(RddQueue::<u8>::new(), true, None);
    /// assert_eq!(s.id(), StreamId(0));
    /// assert_eq!(s.map(|x| x).id(), StreamId(1));
    /// ```
    pub fn id(&self) -> StreamId {
        self.node.id
    }

    /// Names this stream. The name is its stable identity in checkpoints: a recompiled program
    /// (changed closures, streams added or removed) restores a named stream's state by name.
    /// Unnamed streams are identified by operator kind and position among streams of that kind
    /// (`update_state_by_key#0`). Names must be unique ([`crate::Error::DuplicateStreamName`]
    /// at start otherwise).
    ///
    /// # Examples
    ///
    /// ```
    /// use spate_streaming::{StreamingContext, RddQueue};
    /// let ssc = StreamingContext::new(spate_core::Conf::new().set_master("local[1]"), std::time::Duration::from_secs(1)).unwrap();
    /// let s = ssc.queue_stream(RddQueue::<u8>::new(), true, None).name("numbers");
    /// assert_eq!(format!("{s:?}"), "queue_stream \"numbers\" [stream 0]");
    /// ```
    pub fn name(&self, name: impl Into<String>) -> DStream<T> {
        *self.node.name.lock() = Some(name.into());
        self.clone()
    }

    /// The core context the stream's RDDs belong to (for building RDDs to join with, initial
    /// state, …).
    ///
    /// # Examples
    ///
    /// ```
    /// use spate_streaming::testing::run_batches;
    /// let out = run_batches(vec![vec![1]], |s| {
    ///     let extra = s.context().parallelize(vec![2], 1);
    ///     s.transform(move |rdd, _| rdd.union(&extra))
    /// }, 1);
    /// assert_eq!(out, vec![vec![1, 2]]);
    /// ```
    pub fn context(&self) -> &spate_core::Context {
        &self.node.graph.ctx
    }

    /// Persists every RDD of this stream at `level` (until the stream forgets it), so that
    /// several outputs or windows over it compute each batch once.
    ///
    /// # Examples
    ///
    /// ```
    /// use spate_core::StorageLevel;
    /// use spate_streaming::testing::run_batches;
    /// let out = run_batches(vec![vec![1, 2]], |s| s.map(|x| x * 2).persist(StorageLevel::MemorySerialized), 1);
    /// assert_eq!(out, vec![vec![2, 4]]);
    /// ```
    pub fn persist(&self, level: StorageLevel) -> DStream<T> {
        self.node.keeping.lock().storage = Some(level);
        self.clone()
    }

    /// `persist(StorageLevel::Memory)`.
    ///
    /// # Examples
    ///
    /// ```
    /// use spate_streaming::testing::run_batches;
    /// assert_eq!(run_batches(vec![vec![1]], |s| s.cache(), 1), vec![vec![1]]);
    /// ```
    pub fn cache(&self) -> DStream<T> {
        self.persist(StorageLevel::Memory)
    }

    /// Checkpoints this stream's RDD every `interval` (a multiple of its slide): the RDD is
    /// written to the checkpoint directory after its batch and its lineage is cut there.
    /// Stateful and incremental-window streams do this by default every 10 s or so; others
    /// only when asked. Needs [`StreamingContext::checkpoint`](crate::StreamingContext::checkpoint).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use spate_streaming::testing::run_batches;
    /// let s = Duration::from_secs(1);
    /// let out = run_batches(vec![vec![1]], |st| st.checkpoint_interval(2 * s).unwrap(), 2);
    /// assert_eq!(out, vec![vec![1], vec![]]);
    /// ```
    pub fn checkpoint_interval(&self, interval: Duration) -> crate::Result<DStream<T>> {
        crate::dstream::window::check_multiple("checkpoint interval", interval, self.node.slide)?;
        let must = {
            let mut k = self.node.keeping.lock();
            k.checkpoint_interval = Some(interval);
            k.must_checkpoint
        };
        if must {
            self.remember_for_recomputation(interval);
        }
        Ok(self.clone())
    }

    /// Marks this stream as one whose lineage grows with every batch: it is persisted
    /// serialized (so it pins no received buffers) and checkpointed by default.
    pub(crate) fn must_checkpoint(&self) {
        let interval = {
            let mut k = self.node.keeping.lock();
            k.must_checkpoint = true;
            k.storage.get_or_insert(StorageLevel::MemorySerialized);
            *k.checkpoint_interval
                .get_or_insert(default_checkpoint_interval(self.node.slide))
        };
        self.remember_for_recomputation(interval);
    }

    /// In cluster mode, a checkpointed stream's partitions are lost with their executor and
    /// recomputed from its last checkpoint: the batches since (their RDDs and received blocks)
    /// must still be there — twice the interval, as Spark keeps them. (In one process they
    /// are not lost, and keeping less keeps memory down.)
    fn remember_for_recomputation(&self, interval: Duration) {
        let ctx = &self.node.graph.ctx;
        if ctx.is_cluster_driver() || !ctx.is_driver() {
            self.node.graph.remember_at_least(interval * 2);
        }
    }

    /// How often this stream has an RDD: the batch interval, or a window's slide.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use spate_streaming::{StreamingContext, RddQueue};
    /// let ssc = StreamingContext::new(spate_core::Conf::new().set_master("local[1]"), Duration::from_secs(1)).unwrap();
    /// let s = ssc.queue_stream(RddQueue::<u8>::new(), true, None);
    /// assert_eq!(s.slide_duration(), Duration::from_secs(1));
    /// assert_eq!(s.window(Duration::from_secs(4), Duration::from_secs(2)).unwrap().slide_duration(), Duration::from_secs(2));
    /// ```
    pub fn slide_duration(&self) -> Duration {
        self.node.slide
    }

    /// The RDD this stream has (or computes now) for batch `time` — for tests and tools;
    /// jobs normally reach RDDs through output operations.
    ///
    /// # Examples
    ///
    /// ```
    /// use spate_streaming::{RddQueue, StreamingContext, Time};
    /// let ssc = StreamingContext::new(spate_core::Conf::new().set_master("local[1]"), std::time::Duration::from_secs(1)).unwrap();
    /// let q = RddQueue::new();
    /// q.push(ssc.context().parallelize(vec![1, 2], 1));
    /// let s = ssc.queue_stream(q, true, None).map(|x| x + 1);
    /// let rdd = s.rdd_at(Time::from_millis(1000)).unwrap().unwrap();
    /// assert_eq!(rdd.collect().unwrap(), [2, 3]);
    /// ```
    pub fn rdd_at(&self, time: Time) -> Result<Option<Rdd<T>>> {
        self.node.rdd_at(time)
    }
}
