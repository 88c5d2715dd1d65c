//! Batch metrics and the [`StreamingListener`] trait that receives them, through a bounded
//! queue (`bus`) so that no listener can slow the scheduler.

mod bus;
mod jobs;
mod report;

use std::collections::BTreeMap;
use std::time::Duration;

pub(crate) use bus::{Event, ListenerBus};
pub use jobs::OutputJobInfo;
pub(crate) use jobs::{BATCH_TIME, OUTPUT_OP_ID, bridge};
pub(crate) use report::Reporter;

use crate::common::StreamId;
use crate::common::Time;

/// The listener bus's keys.
pub(crate) const KEYS: &[spate_core::conf::KeySpec] = spate_core::key_table! {
    "spate.streaming.listenerBus.capacity", Count, Some("10000"), None, Some("10000000"), "Events queued for streaming listeners; past it events are dropped (counted, warned about) rather than slowing the job.";
};

/// What happened to one batch. Durations are measured on the context's clock.
///
/// # Examples
///
/// ```
/// use spate_streaming::{BatchInfo, Time};
/// let b = BatchInfo { batch_time: Time::from_millis(1000), records: 5, ..BatchInfo::default() };
/// assert_eq!(b.records, 5);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BatchInfo {
    /// The batch time (end of its interval).
    pub batch_time: Time,
    /// Input records received for the batch (from receivers).
    pub records: u64,
    /// From batch time to the start of its first job (zero until started).
    pub scheduling_delay: Duration,
    /// From the start of its first job to the end of its last (zero until completed).
    pub processing_time: Duration,
    /// From batch time to the end of its last job (zero until completed).
    pub total_delay: Duration,
    /// Output operations that ran.
    pub output_jobs: usize,
    /// Whether every job succeeded (false only on `on_batch_completed` of a failed batch).
    pub succeeded: bool,
    /// (record, window) pairs event-time aggregations dropped as late in this batch (their
    /// window's end was at or before the watermark).
    pub late_records: u64,
    /// The event-time watermark (ms) this batch's event-time operators were judged by (the
    /// smallest, if several); `None` before any event was seen or without such operators.
    pub watermark: Option<i64>,
    /// When the batch was generated and queued (on the context's clock).
    pub submission_time: Time,
    /// When its first output operation started (`None` until then).
    pub processing_start_time: Option<Time>,
    /// When its last output operation ended (`None` until then).
    pub processing_end_time: Option<Time>,
    /// Records per receiver input stream.
    pub stream_records: BTreeMap<StreamId, u64>,
    /// Its output operations, in the order they run.
    pub output_operations: Vec<OutputOperationInfo>,
}

/// One output operation of one batch (Spark's `OutputOperationInfo`).
///
/// # Examples
///
/// ```
/// use spate_streaming::{OutputOperationInfo, Time};
/// let op = OutputOperationInfo { batch_time: Time::from_millis(1000), id: 0, name: "print".into(), ..Default::default() };
/// assert_eq!(op.duration(), None);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OutputOperationInfo {
    /// The batch it belongs to.
    pub batch_time: Time,
    /// Its position among the batch's output operations (registration order).
    pub id: usize,
    /// `print`, `foreachRDD`, `saveAsTextFiles`, …
    pub name: String,
    /// The name and where the program registered it (`print at src/main.rs:12`).
    pub description: String,
    /// When it started.
    pub start_time: Option<Time>,
    /// When it ended.
    pub end_time: Option<Time>,
    /// Why it failed, if it did.
    pub failure_reason: Option<String>,
}

impl OutputOperationInfo {
    /// How long it ran, once ended.
    ///
    /// # Examples
    ///
    /// ```
    /// use spate_streaming::{OutputOperationInfo, Time};
    /// let op = OutputOperationInfo { start_time: Some(Time::from_millis(10)), end_time: Some(Time::from_millis(25)), ..Default::default() };
    /// assert_eq!(op.duration(), Some(std::time::Duration::from_millis(15)));
    /// ```
    pub fn duration(&self) -> Option<Duration> {
        Some(self.end_time?.since(self.start_time?))
    }
}

/// A receiver's state, as listeners see it.
///
/// # Examples
///
/// ```
/// use spate_streaming::{ReceiverInfo, StreamId};
/// let r = ReceiverInfo {
///     stream: StreamId(0),
///     name: "socket localhost:9999".into(),
///     active: true,
///     ..ReceiverInfo::default()
/// };
/// assert!(r.active);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReceiverInfo {
    /// The input stream it feeds.
    pub stream: StreamId,
    /// What it receives from.
    pub name: String,
    /// Running (started and not stopped).
    pub active: bool,
    /// Where it runs: `driver` in local mode, else the executor's id.
    pub executor_id: String,
    /// The host it runs on.
    pub host: String,
}

/// Receives streaming events. Every method has an empty default.
///
/// # Examples
///
/// ```
/// use std::sync::{Arc, atomic::{AtomicUsize, Ordering}};
/// use spate_streaming::{BatchInfo, StreamingListener};
/// struct Counter(AtomicUsize);
/// impl StreamingListener for Counter {
///     fn on_batch_completed(&self, _: &BatchInfo) { self.0.fetch_add(1, Ordering::Relaxed); }
/// }
/// let c: Arc<dyn StreamingListener> = Arc::new(Counter(AtomicUsize::new(0)));
/// c.on_batch_completed(&BatchInfo::default());
/// ```
pub trait StreamingListener: Send + Sync + 'static {
    /// The context started; `time` is its clock's time then.
    fn on_streaming_started(&self, time: Time) {
        let _ = time;
    }
    /// A batch was generated and queued to run.
    fn on_batch_submitted(&self, info: &BatchInfo) {
        let _ = info;
    }
    /// A batch's jobs are about to start.
    fn on_batch_started(&self, info: &BatchInfo) {
        let _ = info;
    }
    /// A batch's jobs all finished (see `info.succeeded`).
    fn on_batch_completed(&self, info: &BatchInfo) {
        let _ = info;
    }
    /// One output operation of a batch is about to run.
    fn on_output_operation_started(&self, info: &OutputOperationInfo) {
        let _ = info;
    }
    /// One output operation of a batch finished (see `info.failure_reason`).
    fn on_output_operation_completed(&self, info: &OutputOperationInfo) {
        let _ = info;
    }
    /// An output operation started a job (an action on an RDD).
    fn on_output_job_started(&self, info: &OutputJobInfo) {
        let _ = info;
    }
    /// A job of an output operation ended (see `info.job.failure`); its stages carry their
    /// task counts.
    fn on_output_job_completed(&self, info: &OutputJobInfo) {
        let _ = info;
    }
    /// A receiver started (or restarted).
    fn on_receiver_started(&self, info: &ReceiverInfo) {
        let _ = info;
    }
    /// A receiver stopped (for a restart, or for good).
    fn on_receiver_stopped(&self, info: &ReceiverInfo) {
        let _ = info;
    }
    /// A receiver reported an error (it keeps running or restarts; the context does not stop).
    fn on_receiver_error(&self, stream: StreamId, message: &str) {
        let _ = (stream, message);
    }
    /// An input stream skipped something it could not read (e.g. an unreadable file of a
    /// file stream); the stream goes on.
    fn on_input_error(&self, stream: StreamId, message: &str) {
        let _ = (stream, message);
    }
    /// The driver's metadata checkpoint for batch `time` could not be written (a full disk, a
    /// vanished directory): a restart would resume from an older one. The stream goes on; a
    /// stop while writes still fail returns [`crate::Error::CheckpointWriteFailed`].
    fn on_checkpoint_error(&self, time: Time, message: &str) {
        let _ = (time, message);
    }
}
