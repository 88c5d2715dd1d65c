//! The error type of `spate-streaming` and its [`Result`] alias.

use std::time::Duration;

use crate::common::Time;

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

    /// A Kafka direct stream cannot be defined as asked (no brokers, a broker that is not
    /// `host:port`, no topics); the message says what to do.
    #[error("kafka: {message}")]
    Kafka {
        /// What is wrong and what to do.
        message: String,
    },

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

    /// An event-time window, slide or session gap that cannot work.
    ///
    /// # Examples
    ///
    /// ```
    /// let e = spate_streaming::Error::InvalidEventTimeWindow { what: "window slide", duration: std::time::Duration::from_secs(9), reason: "it must not exceed the window size" };
    /// assert!(e.to_string().contains("window slide"));
    /// ```
    #[error("invalid {what} {duration:?}: {reason}")]
    InvalidEventTimeWindow {
        /// `"window size"`, `"window slide"` or `"session gap"`.
        what: &'static str,
        /// The duration given.
        duration: Duration,
        /// Why it cannot work.
        reason: &'static str,
    },

    /// A stateful or incremental-window stream was defined but no checkpoint directory set.
    #[error(
        "{stream} needs a checkpoint directory (state is checkpointed there, the write-ahead log is kept there): call ssc.checkpoint(dir) before start()"
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

    /// No metadata checkpoint in the directory could be read (every one is corrupt, truncated
    /// or from an incompatible format).
    ///
    /// # Examples
    ///
    /// ```
    /// let e = spate_streaming::Error::CheckpointUnreadable { dir: "/ck".into(), details: "checkpoint-7: checksum mismatch".into() };
    /// assert!(e.to_string().contains("start fresh"));
    /// ```
    #[error(
        "no metadata checkpoint in {dir} can be read ({details}): restore the directory from a backup, or move it away to start fresh (its state is then lost)"
    )]
    CheckpointUnreadable {
        /// The checkpoint directory.
        dir: std::path::PathBuf,
        /// Each file tried and why it was rejected.
        details: String,
    },

    /// A checkpoint does not fit the program restoring it: a changed batch interval, or a
    /// stateful stream whose key, value or state type changed.
    ///
    /// # Examples
    ///
    /// ```
    /// let e = spate_streaming::Error::CheckpointIncompatible { stream: "counts".into(), reason: "its state type changed".into() };
    /// assert!(e.to_string().contains("old binary"));
    /// ```
    #[error(
        "the checkpoint cannot be restored into this program: {stream}: {reason}. Restore it with the old binary (and let it finish), or start fresh with an empty checkpoint directory (its state is then lost)"
    )]
    CheckpointIncompatible {
        /// The stream (its name or `kind#n` identity), or what else does not match.
        stream: String,
        /// What differs.
        reason: String,
    },

    /// Another live driver uses the checkpoint directory (it holds `<dir>/driver.lock`).
    ///
    /// # Examples
    ///
    /// ```
    /// let e = spate_streaming::Error::CheckpointLocked { dir: "/ck".into(), holder: "pid 7 on host h1".into() };
    /// assert!(e.to_string().contains("pid 7 on host h1"));
    /// ```
    #[error(
        "checkpoint directory {dir} is in use by another driver ({holder}): stop that driver first (its lock goes with its process), or give this one its own directory"
    )]
    CheckpointLocked {
        /// The checkpoint directory.
        dir: std::path::PathBuf,
        /// Who holds it, as its lock file says.
        holder: String,
    },

    /// The driver's last metadata checkpoint could not be written (a full disk, a directory
    /// that went away, …): a restart would resume from an older checkpoint, or none. Reported
    /// to listeners when it happens, and returned when the context stops while it is still so.
    ///
    /// # Examples
    ///
    /// ```
    /// use spate_streaming::{Error, Time};
    /// let e = Error::CheckpointWriteFailed { time: Time::from_millis(5000), dir: "/ck".into(), reason: "No space left on device".into() };
    /// assert!(e.to_string().contains("5000 ms"));
    /// ```
    #[error(
        "the driver checkpoint for the batch of {time} could not be written to {dir} ({reason}): a restart would resume from an older checkpoint, or from nothing. Free space or fix the directory, then restart"
    )]
    CheckpointWriteFailed {
        /// The batch the metadata was for (the latest that failed).
        time: Time,
        /// The checkpoint directory.
        dir: std::path::PathBuf,
        /// Why the write failed.
        reason: String,
    },

    /// The state of a stateful stream could not be checkpointed (a full or vanished checkpoint
    /// directory). The stream goes on with its lineage kept, and the next checkpoint interval
    /// tries again; after `max` failures in a row the context stops with this error.
    ///
    /// # Examples
    ///
    /// ```
    /// use spate_streaming::{Error, Time};
    /// let e = Error::StateCheckpointFailed { stream: "totals".into(), time: Time::from_millis(4000), failures: 1, max: 10, reason: "No space left on device".into() };
    /// assert!(e.to_string().contains("totals") && e.to_string().contains("1 of at most 10"));
    /// ```
    #[error(
        "the state of {stream} could not be checkpointed for the batch of {time} ({reason}; {failures} of at most {max} failures in a row, spate.streaming.checkpoint.maxStateFailures): the stream goes on with its lineage kept and tries again at the next checkpoint interval; free space in or restore the checkpoint directory. Past the bound the context stops (a restart resumes from the last checkpoint written)"
    )]
    StateCheckpointFailed {
        /// The stream (its name, or `kind#n`).
        stream: String,
        /// The batch whose state checkpoint failed.
        time: Time,
        /// Failed state checkpoints in a row, this one included.
        failures: u32,
        /// `spate.streaming.checkpoint.maxStateFailures`.
        max: u32,
        /// Why the write failed.
        reason: String,
    },

    /// Two streams were given the same name with `DStream::name`.
    ///
    /// # Examples
    ///
    /// ```
    /// let e = spate_streaming::Error::DuplicateStreamName("counts".into());
    /// assert!(e.to_string().contains("counts"));
    /// ```
    #[error(
        "two streams are named {0:?}: stream names identify checkpointed data, so each must be unique"
    )]
    DuplicateStreamName(String),

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

impl Error {
    /// A copy of a checkpoint failure (the stop returns it and `await_termination` keeps it);
    /// `None` for other errors.
    pub(crate) fn checkpoint_failure_copy(&self) -> Option<Error> {
        match self {
            Error::CheckpointWriteFailed { time, dir, reason } => {
                Some(Error::CheckpointWriteFailed {
                    time: *time,
                    dir: dir.clone(),
                    reason: reason.clone(),
                })
            }
            Error::StateCheckpointFailed {
                stream,
                time,
                failures,
                max,
                reason,
            } => Some(Error::StateCheckpointFailed {
                stream: stream.clone(),
                time: *time,
                failures: *failures,
                max: *max,
                reason: reason.clone(),
            }),
            _ => None,
        }
    }
}
