//! Batch metrics and the [`StreamingListener`] trait that receives them.

use std::time::Duration;

use crate::dstream::StreamId;
use crate::time::Time;

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
    /// A batch's jobs are about to start.
    fn on_batch_started(&self, info: &BatchInfo) {
        let _ = info;
    }
    /// A batch's jobs all finished (see `info.succeeded`).
    fn on_batch_completed(&self, info: &BatchInfo) {
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
