//! The one error type of `spate-core` and its [`Result`] alias.
//!
//! Every failure a user can cause or meet — a malformed setting, a panicking closure, a corrupt
//! checkpoint — is a variant here with a message that says what to do about it.

use std::path::PathBuf;

use crate::ids::{JobId, ShuffleId, StageId};

/// `Result` with [`Error`] as its error type.
///
/// # Examples
///
/// ```
/// fn parse(s: &str) -> spate_core::Result<std::time::Duration> {
///     spate_core::conf::parse_duration(s)
/// }
/// assert!(parse("200ms").is_ok());
/// ```
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in `spate-core`.
///
/// # Examples
///
/// ```
/// use spate_core::{Conf, Context, Error};
///
/// let err = Context::new(Conf::new().set_master("local[two]")).unwrap_err();
/// assert!(matches!(err, Error::InvalidMaster { .. }));
/// assert!(err.to_string().contains("local[N]"));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The master URL is not one spate understands.
    #[error(
        "invalid master {value:?}: expected \"local\", \"local[N]\" with N >= 1, \"local[*]\", \"local-cluster[N,C]\" with N, C >= 1, or \"slurm\""
    )]
    InvalidMaster {
        /// The master as given.
        value: String,
    },

    /// A `spate.*` configuration key that spate does not know (usually a typo).
    #[error("unknown configuration key {key:?}{}", match suggestion {
        Some(s) => format!(": did you mean {s:?}?"),
        None => String::from(": docs/configuration.md lists the keys spate reads"),
    })]
    UnknownConfKey {
        /// The key as given.
        key: String,
        /// The nearest known key, when one is close.
        suggestion: Option<String>,
    },

    /// A configuration value that does not parse as its key's type.
    #[error("invalid value {value:?} for {key}: {expected}")]
    InvalidConfValue {
        /// The key.
        key: String,
        /// The value as given.
        value: String,
        /// What form was expected, with an example.
        expected: String,
    },

    /// A duration string that does not parse.
    #[error(
        "invalid duration {input:?}: expected a number followed by a unit (us, ms, s, m, min, h, d), e.g. \"200ms\" or \"1s\""
    )]
    InvalidDuration {
        /// The input as given.
        input: String,
    },

    /// A size string that does not parse.
    #[error(
        "invalid size {input:?}: expected a whole number of bytes with an optional unit (b, k, m, g, t), e.g. \"64m\""
    )]
    InvalidSize {
        /// The input as given.
        input: String,
    },

    /// An argument that is out of range (zero partitions, a negative fraction, …).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),

    /// The context was stopped; create a new one.
    #[error("the context has been stopped; create a new Context to run more jobs")]
    ContextStopped,

    /// A block of received records is gone from the block store (removed after its batch, or
    /// its spill file unreadable). Received data has no lineage to recompute it from.
    #[error(
        "received block {block} is not in the block store (its batch already completed, or its spill file was lost); received records cannot be recomputed from lineage"
    )]
    InputBlockLost {
        /// The block.
        block: crate::ids::InputBlockId,
    },

    /// An action was called from inside a task, which would deadlock the executor pool.
    #[error(
        "an action was called from inside a task of the same context; compute the value on the driver first and capture it in the closure"
    )]
    NestedJob,

    /// A job was aborted because one of its tasks failed too often.
    #[error(
        "job {job} aborted: task for partition {partition} of stage {stage} ({stage_desc}) failed {attempts} time(s); last failure: {reason}"
    )]
    JobAborted {
        /// The job.
        job: JobId,
        /// The stage that failed.
        stage: StageId,
        /// The stage's operator and where in the program it was created.
        stage_desc: String,
        /// The failing partition.
        partition: usize,
        /// How many attempts were made.
        attempts: u32,
        /// The last attempt's failure: a panic message or an error.
        reason: String,
    },

    /// A shuffle map output was missing when a reduce task fetched it (the scheduler recomputes it).
    #[error("shuffle {shuffle} map output {map} for reduce partition {reduce} is missing")]
    FetchFailed {
        /// The shuffle.
        shuffle: ShuffleId,
        /// The map partition whose output is missing.
        map: usize,
        /// The reduce partition that fetched it.
        reduce: usize,
    },

    /// `checkpoint()` needs a checkpoint directory.
    #[error(
        "no checkpoint directory is set: call Context::set_checkpoint_dir(dir) before checkpointing"
    )]
    CheckpointDirNotSet,

    /// A checkpoint or spilled block file is missing, truncated, or does not hold what it should.
    #[error(
        "corrupt data file {path}: {reason}; delete it (and its directory) to recompute from lineage or start fresh"
    )]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },

    /// An output path already exists (spate never overwrites output silently).
    #[error("output path {path} already exists; delete it or choose another path")]
    OutputExists {
        /// The path.
        path: PathBuf,
    },

    /// An object store refused or failed a request: what was asked, of which store, and why.
    #[error("{url} (at {endpoint}): {reason}")]
    ObjectStore {
        /// The object or prefix, as given (`s3://bucket/key`).
        url: String,
        /// The store's endpoint, as resolved from the settings and the environment.
        endpoint: String,
        /// What went wrong and what to do.
        reason: String,
    },

    /// An I/O error, with the path it concerned.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// Encoding or decoding with bincode failed.
    #[error("could not {action} {what}: {source}")]
    Codec {
        /// "encode" or "decode".
        action: &'static str,
        /// What was being encoded.
        what: String,
        /// The underlying error.
        #[source]
        source: bincode::Error,
    },

    /// User code panicked (in a task, or on the driver while merging task results).
    #[error("user code panicked: {message}")]
    Panicked {
        /// The panic message.
        message: String,
    },

    /// A broken internal invariant of the scheduler: a bug in spate, never a hang.
    #[error("internal error: {0}; this is a bug in spate, please report it")]
    Internal(String),

    /// Cluster mode could not start or go on: a refused executor (wrong secret, another binary,
    /// another graph), an unreachable driver, no executor within the registration timeout.
    /// The message says what happened and what to do.
    #[error("cluster: {message}")]
    Cluster {
        /// What happened and what to do.
        message: String,
    },

    /// An executor died, was cut off (no heartbeat within `spate.executor.heartbeatTimeout`) or
    /// was refused while running a task: the task is rerun elsewhere, without counting against
    /// `spate.task.maxFailures`.
    #[error("executor {executor} was lost: {reason}")]
    ExecutorLost {
        /// The executor's id.
        executor: u32,
        /// Why it is considered lost.
        reason: String,
    },

    /// A task failed in an executor process (the executor's error, as text).
    #[error("on executor {executor}: {message}")]
    RemoteTask {
        /// The executor's id.
        executor: u32,
        /// The error the task failed with there.
        message: String,
        /// Whether retrying cannot help (corrupt data, an existing output, …).
        fatal: bool,
    },

    /// In an executor process: the driver ran this job and it failed there (the executor's
    /// program sees the same failure the driver's does, as text).
    #[error("{job} failed on the driver: {message}")]
    JobFailedOnDriver {
        /// The job.
        job: crate::ids::JobId,
        /// The driver's error.
        message: String,
    },

    /// A fault injected through [`crate::fault::FaultInjector`] (testing only).
    #[error("injected fault: {0}")]
    Injected(String),

    /// A source's external system could not give a partition's records (a Kafka broker
    /// unreachable past its retries, offsets no longer in its log). `fatal`: retrying the task
    /// cannot help (the data is gone); else the task is retried like any failure.
    ///
    /// # Examples
    ///
    /// ```
    /// let e = spate_core::Error::Input { source_name: "kafka events/0".into(), message: "the broker is down".into(), fatal: false };
    /// assert_eq!(e.to_string(), "kafka events/0: the broker is down");
    /// ```
    #[error("{source_name}: {message}")]
    Input {
        /// Which source and part of it.
        source_name: String,
        /// What happened and what to do.
        message: String,
        /// Whether retrying cannot help.
        fatal: bool,
    },

    /// An output operation's external system failed (a database sink, …); the wrapped error
    /// says which and what to do.
    ///
    /// # Examples
    ///
    /// ```
    /// let e = spate_core::Error::Output(Box::new(std::io::Error::other("the database is down")));
    /// assert!(e.to_string().contains("database is down"));
    /// ```
    #[error("{0}")]
    Output(Box<dyn std::error::Error + Send + Sync>),
}

impl Error {
    /// A [`Error::Cluster`] with `message`.
    ///
    /// # Examples
    ///
    /// ```
    /// let e = spate_core::Error::cluster("no executor registered");
    /// assert_eq!(e.to_string(), "cluster: no executor registered");
    /// ```
    pub fn cluster(message: impl Into<String>) -> Self {
        Error::Cluster {
            message: message.into(),
        }
    }

    /// Wraps an I/O error with the path it concerned.
    ///
    /// # Examples
    ///
    /// ```
    /// let e = spate_core::Error::io("/nope", std::io::Error::other("gone"));
    /// assert!(e.to_string().contains("/nope"));
    /// ```
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}
