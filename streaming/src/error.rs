//! The error type of `spate-streaming` and its [`Result`] alias.

use std::time::Duration;

use crate::time::Time;

/// `Result` with the streaming [`Error`].
///
/// # Examples
///
/// ```
/// fn f() -> spate_streaming::Result<()> { Ok(()) }
/// assert!(f().is_ok());
/// ```
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in a streaming application.
///
/// # Examples
///
/// ```
/// use spate_streaming::{Error, StreamingContext};
/// let ssc = StreamingContext::new(spate_core::Conf::new().set_master("local[1]"), std::time::Duration::from_secs(1)).unwrap();
/// assert!(matches!(ssc.start(), Err(Error::NoOutputOperations)));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An error of the RDD layer (configuration, a failed job, …).
    #[error(transparent)]
    Core(#[from] spate_core::Error),

    /// `start()` was called on a context that is already running.
    #[error(
        "the streaming context is already started: define every stream and output operation before start()"
    )]
    AlreadyStarted,

    /// The context was stopped; a stopped context cannot be restarted.
    #[error("the streaming context has been stopped; create a new StreamingContext")]
    Stopped,

    /// `start()` was called before any output operation was defined.
    #[error(
        "no output operations are defined: add one (print, foreach_rdd, …) before start(), or nothing would ever run"
    )]
    NoOutputOperations,

    /// The batch interval is unusable.
    #[error(
        "invalid batch interval {0:?}: it must be a whole number of milliseconds, at least 1 ms"
    )]
    InvalidBatchInterval(Duration),

    /// A batch's output job failed; the context stopped.
    #[error("the batch of {time} failed and the streaming context stopped: {source}")]
    BatchFailed {
        /// The batch time.
        time: Time,
        /// What failed.
        #[source]
        source: spate_core::Error,
    },

    /// A window or slide duration that is zero or not a multiple of the parent stream's slide.
    #[error(
        "invalid {what} {duration:?}: it must be a non-zero multiple of the parent stream's slide interval {parent_slide:?} (e.g. {suggestion:?})"
    )]
    InvalidWindow {
        /// `"window duration"` or `"slide duration"`.
        what: &'static str,
        /// The duration given.
        duration: Duration,
        /// The parent stream's slide interval (its batch interval unless it is windowed).
        parent_slide: Duration,
        /// The nearest valid duration.
        suggestion: Duration,
    },

    /// A stateful or incremental-window stream was defined but no checkpoint directory set.
    #[error(
        "{stream} keeps state across batches and needs a checkpoint directory to bound its lineage: call ssc.checkpoint(dir) before start()"
    )]
    CheckpointDirRequired {
        /// The stream that needs it.
        stream: String,
    },

    /// A graceful stop did not finish in time.
    #[error(
        "graceful stop did not finish within {0:?} (spate.streaming.gracefulStopTimeout); received data may be unprocessed"
    )]
    StopTimeout(Duration),

    /// The receivers' runtime or a signal handler could not be started.
    #[error("could not start {what}: {source}")]
    Startup {
        /// What could not be started.
        what: &'static str,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}
