//! [`DStream`]: a discretized stream — a sequence of RDDs, one per batch time.
//!
//! Each stream is a node of the stream graph. At every batch time the job generator asks the
//! output streams for their RDD; each node computes its RDD from its parents' RDDs for the same
//! time (an RDD transformation per stream operator) and remembers it until the batch is done, so
//! a stream used by several outputs is computed once per batch.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Weak};
use std::time::Duration;

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use spate_core::{Data, Rdd, StorageLevel};

use crate::context::Shared;
use crate::time::Time;
use spate_core::Result;

/// Identifies a stream within its streaming context, in construction order.
///
/// # Examples
///
/// ```
/// assert_eq!(spate_streaming::StreamId(3).to_string(), "stream 3");
/// ```
#[derive(
    Copy, Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
pub struct StreamId(pub u32);

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "stream {}", self.0)
    }
}

/// How a stream computes its RDD for one batch time.
pub(crate) trait StreamOp<T>: Send + Sync + 'static {
    fn compute(&self, time: Time) -> Result<Option<Rdd<T>>>;
}

/// The untyped face of a stream node, for the graph's bookkeeping.
pub(crate) trait StreamBase: Send + Sync {
    /// Forgets the RDDs of batches up to and including `time`.
    fn forget_through(&self, time: Time);
    /// If this stream cannot work without a checkpoint directory, what it is (for the error).
    fn needs_checkpoint_dir(&self) -> Option<String>;
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
    pub(crate) shared: Arc<Shared>,
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
        if !self.shared.is_valid_time(time, self.slide) {
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
        let mut t = self.shared.floor_time(after, self.slide) + self.slide;
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
            let since = Time::from_millis(time.millis() - self.shared.zero_time().millis());
            if since.is_multiple_of(interval) {
                rdd.checkpoint()?;
            }
        }
        Ok(rdd)
    }
}

impl<T: Data> StreamBase for StreamNode<T> {
    fn forget_through(&self, time: Time) {
        let mut g = self.generated.lock();
        let keep = g.split_off(&(time + std::time::Duration::from_millis(1)));
        *g = keep;
    }

    fn needs_checkpoint_dir(&self) -> Option<String> {
        self.keeping
            .lock()
            .must_checkpoint
            .then(|| format!("{} [{}]", self.kind, self.id))
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
        write!(f, "{} [{}]", self.node.kind, self.node.id)
    }
}

impl<T: Data> DStream<T> {
    /// Creates a stream node and registers it with the graph.
    pub(crate) fn from_op(
        shared: &Arc<Shared>,
        kind: &'static str,
        slide: Duration,
        op: impl StreamOp<T>,
    ) -> DStream<T> {
        let node = Arc::new(StreamNode {
            id: shared.next_stream_id(),
            shared: Arc::clone(shared),
            kind,
            slide,
            keeping: Mutex::new(Keeping::default()),
            op: Box::new(op),
            generated: Mutex::new(BTreeMap::new()),
        });
        let weak: Weak<dyn StreamBase> =
            Arc::downgrade(&(Arc::clone(&node) as Arc<dyn StreamBase>));
        shared.graph.lock().streams.push(weak);
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
        &self.node.shared.ctx
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
        crate::window::check_multiple("checkpoint interval", interval, self.node.slide)?;
        self.node.keeping.lock().checkpoint_interval = Some(interval);
        Ok(self.clone())
    }

    /// Marks this stream as one whose lineage grows with every batch: it is persisted
    /// serialized (so it pins no received buffers) and checkpointed by default.
    pub(crate) fn must_checkpoint(&self) {
        let mut k = self.node.keeping.lock();
        k.must_checkpoint = true;
        k.storage.get_or_insert(StorageLevel::MemorySerialized);
        k.checkpoint_interval
            .get_or_insert(default_checkpoint_interval(self.node.slide));
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
