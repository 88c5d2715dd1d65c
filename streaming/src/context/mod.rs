//! [`StreamingContext`]: the entry point of a streaming application, its stream graph and its
//! lifecycle (Initialized → Active → Stopped).

//!
//! - `settings`: the context's settings, read once, and every key spate-streaming declares;
//!   `reference`: the configuration page made from them.
//! - `shared`: what the context holds, and hands to its parts.
//! - `lifecycle`: start, stop, waiting for the end.
//! - `inputs`: the input streams a context makes (sockets, receivers, queues, files, Kafka).

mod inputs;
mod lifecycle;
#[cfg(test)]
mod reference;
mod settings;
mod shared;

pub use settings::KEYS;
pub(crate) use settings::{Settings, with_streaming_keys};
#[cfg(feature = "ui")]
pub(crate) use shared::live_probe;
pub(crate) use shared::{Running, Shared};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use parking_lot::{Condvar, Mutex};
use spate_core::{Conf, Context, Data, Rdd};

use crate::common::{self as clock, Clock};
use crate::common::{ReceiverStats, StreamId};
use crate::dstream::{Phase, StreamBase, StreamGraph};
use crate::error::{Error, Result};
use crate::input::Inputs;
use crate::listener::{Reporter, StreamingListener};
use crate::scheduler::{Checkpoints, Resume, Scheduler};

/// Where a streaming context is in its life.
///
/// # Examples
///
/// ```
/// use spate_streaming::{StreamingContext, StreamingState};
/// let ssc = StreamingContext::new(spate_core::Conf::new().set_master("local[1]"), std::time::Duration::from_secs(1)).unwrap();
/// assert_eq!(ssc.state(), StreamingState::Initialized);
/// ```
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum StreamingState {
    /// Created; streams and outputs are being defined.
    Initialized,
    /// Started: receiving and generating batches.
    Active,
    /// Stopped for good.
    Stopped,
}

/// The streams by stable identity; two with the same name are an error.
fn unique_keys(
    streams: &[Arc<dyn StreamBase>],
) -> Result<std::collections::HashMap<String, Arc<dyn StreamBase>>> {
    let mut by_key = std::collections::HashMap::new();
    for s in streams {
        if by_key.insert(s.key(), Arc::clone(s)).is_some() {
            return Err(Error::DuplicateStreamName(s.key()));
        }
    }
    Ok(by_key)
}

/// How to stop a streaming context.
///
/// # Examples
///
/// ```
/// let o = spate_streaming::StopOptions::default();
/// assert!(o.stop_context && !o.graceful);
/// ```
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct StopOptions {
    /// Also stop the underlying [`Context`].
    pub stop_context: bool,
    /// Stop receiving, then process every record already received before stopping.
    pub graceful: bool,
}

impl Default for StopOptions {
    fn default() -> Self {
        StopOptions {
            stop_context: true,
            graceful: false,
        }
    }
}

/// The entry point of a streaming application (Spark's `StreamingContext`): slices input into
/// one RDD per batch interval and runs the output operations on each batch.
///
/// # Examples
///
/// ```no_run
/// use spate_core::Conf;
/// use spate_streaming::StreamingContext;
/// let ssc = StreamingContext::new(Conf::from_env().set_app_name("wc"), std::time::Duration::from_secs(1))?;
/// let lines = ssc.socket_text_stream("localhost", 9999);
/// let counts = lines.flat_map(|l| l.split(' ')).map(|w| (w, 1u64)).reduce_by_key(|a, b| a + b);
/// counts.print(10)?;
/// ssc.start()?;
/// ssc.await_termination()?;
/// # Ok::<(), spate_streaming::Error>(())
/// ```
#[derive(Clone)]
pub struct StreamingContext {
    pub(crate) shared: Arc<Shared>,
}

impl std::fmt::Debug for StreamingContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamingContext")
            .field("state", &*self.shared.state.lock())
            .field("batch_interval", &self.shared.batch_interval())
            .finish_non_exhaustive()
    }
}

impl StreamingContext {
    /// A streaming context over a new [`Context`] built from `conf`.
    ///
    /// # Examples
    ///
    /// ```
    /// use spate_streaming::StreamingContext;
    /// let ssc = StreamingContext::new(spate_core::Conf::new().set_master("local[2]"), std::time::Duration::from_millis(500)).unwrap();
    /// assert_eq!(ssc.batch_interval().as_millis(), 500);
    /// ```
    pub fn new(conf: Conf, batch_interval: Duration) -> Result<StreamingContext> {
        StreamingContext::with_context(Context::new(with_streaming_keys(conf))?, batch_interval)
    }

    /// A streaming context over an existing [`Context`].
    ///
    /// # Examples
    ///
    /// ```
    /// let ctx = spate_core::Context::local(1).unwrap();
    /// let ssc = spate_streaming::StreamingContext::with_context(ctx, std::time::Duration::from_secs(1)).unwrap();
    /// assert_eq!(ssc.context().default_parallelism(), 1);
    /// ```
    pub fn with_context(ctx: Context, batch_interval: Duration) -> Result<StreamingContext> {
        StreamingContext::with_clock(ctx, batch_interval, clock::system())
    }

    /// A streaming context driven by `clock` (a [`ManualClock`](crate::ManualClock) in tests).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use spate_streaming::{ManualClock, StreamingContext, Time};
    /// let ctx = spate_core::Context::local(1).unwrap();
    /// let clock = Arc::new(ManualClock::new(Time::from_millis(0)));
    /// let ssc = StreamingContext::with_clock(ctx, std::time::Duration::from_secs(1), clock).unwrap();
    /// # drop(ssc);
    /// ```
    pub fn with_clock(
        ctx: Context,
        batch_interval: Duration,
        clock: Arc<dyn Clock>,
    ) -> Result<StreamingContext> {
        if batch_interval < Duration::from_millis(1)
            || !batch_interval.subsec_nanos().is_multiple_of(1_000_000)
        {
            return Err(Error::InvalidBatchInterval(batch_interval));
        }
        // The core context may have been made from a configuration without streaming's keys
        // (`with_context`): they are checked here, with every table known.
        let conf = with_streaming_keys(ctx.conf().clone());
        conf.validate_complete()?;
        let settings = Settings::from_conf(&conf)?;
        let graph = Arc::new(StreamGraph::new(ctx, conf, batch_interval));
        let reporter = Reporter::new(settings.listener_bus_capacity);
        let max_state_failures = settings.max_state_failures;
        Ok(StreamingContext {
            shared: Arc::new(Shared {
                clock,
                settings,
                checkpoints: Arc::new(Checkpoints::new(
                    Arc::clone(&graph),
                    reporter.clone(),
                    max_state_failures,
                )),
                graph,
                inputs: Arc::new(Inputs::default()),
                reporter,
                state: Mutex::new(StreamingState::Initialized),
                state_changed: Condvar::new(),
                stopping: AtomicBool::new(false),
                failure: Mutex::new(None),
                running: Mutex::new(None),
                checkpoint_lock: Mutex::new(None),
                ui_url: Mutex::new(None),
            }),
        })
    }

    /// The underlying RDD context.
    ///
    /// # Examples
    ///
    /// ```
    /// let ssc = spate_streaming::StreamingContext::new(spate_core::Conf::new().set_master("local[3]"), std::time::Duration::from_secs(1)).unwrap();
    /// assert_eq!(ssc.context().default_parallelism(), 3);
    /// ```
    pub fn context(&self) -> &Context {
        self.shared.ctx()
    }

    /// What this streaming application keeps, by collection: its core context's
    /// ([`Context::internal_sizes`]) and its streams' — the batches' RDDs they remember and the
    /// event-time figures of batches not yet reported. For tests and diagnostics of bounded
    /// memory: a steady job's sizes stop growing, in the driver and in every executor.
    ///
    /// # Examples
    ///
    /// ```
    /// let ssc = spate_streaming::StreamingContext::new(spate_core::Conf::new().set_master("local[1]"), std::time::Duration::from_secs(1)).unwrap();
    /// let sizes = ssc.internal_sizes();
    /// assert!(sizes.iter().any(|(what, n)| *what == "streaming.rdds" && *n == 0));
    /// ```
    pub fn internal_sizes(&self) -> Vec<(&'static str, usize)> {
        let mut sizes = self.context().internal_sizes();
        sizes.extend(self.shared.graph.sizes());
        sizes
    }

    /// The batch interval.
    ///
    /// # Examples
    ///
    /// ```
    /// let ssc = spate_streaming::StreamingContext::new(spate_core::Conf::new().set_master("local[1]"), std::time::Duration::from_secs(2)).unwrap();
    /// assert_eq!(ssc.batch_interval().as_secs(), 2);
    /// ```
    pub fn batch_interval(&self) -> Duration {
        self.shared.batch_interval()
    }

    /// The current lifecycle state.
    ///
    /// # Examples
    ///
    /// ```
    /// use spate_streaming::{StopOptions, StreamingContext, StreamingState};
    /// let ssc = StreamingContext::new(spate_core::Conf::new().set_master("local[1]"), std::time::Duration::from_secs(1)).unwrap();
    /// ssc.stop(StopOptions::default()).unwrap();
    /// assert_eq!(ssc.state(), StreamingState::Stopped);
    /// ```
    pub fn state(&self) -> StreamingState {
        *self.shared.state.lock()
    }

    /// Reads a directory written by [`DStream::save_as_object_files`](crate::DStream::save_as_object_files) (one batch's output).
    ///
    /// # Examples
    ///
    /// ```
    /// let dir = tempfile::tempdir().unwrap();
    /// let ssc = spate_streaming::StreamingContext::new(spate_core::Conf::new().set_master("local[1]"), std::time::Duration::from_secs(1)).unwrap();
    /// ssc.context().parallelize(vec![7u8], 1).save_as_object_file(dir.path().join("b-1000")).unwrap();
    /// assert_eq!(ssc.object_file::<u8>(dir.path().join("b-1000")).unwrap().collect().unwrap(), [7]);
    /// ```
    pub fn object_file<T: Data>(&self, path: impl AsRef<std::path::Path>) -> Result<Rdd<T>> {
        Ok(self.shared.ctx().object_file(path)?)
    }

    /// Sets the checkpoint directory: stateful and incremental-window streams checkpoint their
    /// RDDs there (which bounds their lineage), the driver writes its metadata there after
    /// every batch (what [`StreamingContext::get_or_create`] resumes from), and receivers keep
    /// their write-ahead log there when it is on. Required by `update_state_by_key`,
    /// `map_with_state`, the `_inv` windows and the log; `start()` says so when it is missing.
    ///
    /// One driver at a time uses a directory: this takes its lock (`<dir>/driver.lock`, held
    /// until `stop()` or the process dies, however it dies), and a second driver is refused with
    /// [`Error::CheckpointLocked`] naming the holder's pid and host.
    ///
    /// # Examples
    ///
    /// ```
    /// let dir = tempfile::tempdir().unwrap();
    /// let ssc = spate_streaming::StreamingContext::new(spate_core::Conf::new().set_master("local[1]"), std::time::Duration::from_secs(1)).unwrap();
    /// ssc.checkpoint(dir.path()).unwrap();
    /// assert!(ssc.context().checkpoint_dir().unwrap().starts_with(dir.path()));
    /// ```
    pub fn checkpoint(&self, dir: impl AsRef<std::path::Path>) -> Result<()> {
        let dir = dir.as_ref();
        // Only a driver writes there (executors build the same graph but never checkpoint).
        if self.shared.ctx().is_driver() {
            let mut lock = self.shared.checkpoint_lock.lock();
            if lock.as_ref().is_none_or(|l| l.dir() != dir) {
                *lock = None;
                *lock = Some(crate::recovery::checkpoint::DirLock::acquire(dir)?);
            }
        }
        self.shared.ctx().set_checkpoint_dir(dir)?;
        self.shared.graph.set_checkpoint_base(dir.to_path_buf());
        Ok(())
    }

    /// Resumes from the checkpoint in `dir`, or creates a new context with `create`.
    ///
    /// Closures are never serialized, so `create` runs either way: it defines the streams and
    /// outputs (the same code, recompiled or not). With a usable checkpoint in `dir`, the
    /// new graph is then restored from it: the batches that were generated but not completed
    /// run again, stateful streams resume from their latest checkpointed state and replay the
    /// batches since it, file streams remember which files they read (and replay the ones of
    /// replayed batches), and receivers with the write-ahead log replay their logged blocks.
    /// Checkpointed data is matched to streams by identity ([`DStream::name`](crate::DStream::name), else operator
    /// kind and position), so a changed program restores what still matches; what cannot be
    /// restored (a changed batch interval, a stateful stream whose types changed) is
    /// [`Error::CheckpointIncompatible`]. Every metadata file unreadable is
    /// [`Error::CheckpointUnreadable`]. The context writes its metadata to `dir` after every
    /// batch is generated and completed.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use spate_core::Conf;
    /// use spate_streaming::{RddQueue, StreamingContext};
    /// let dir = tempfile::tempdir().unwrap();
    /// let ssc = StreamingContext::get_or_create(dir.path(), || {
    ///     let ssc = StreamingContext::new(Conf::new().set_master("local[1]"), Duration::from_secs(1))?;
    ///     ssc.queue_stream(RddQueue::<u32>::new(), true, None).name("numbers").print(1)?;
    ///     Ok(ssc)
    /// }).unwrap();
    /// assert_eq!(ssc.batch_interval(), Duration::from_secs(1));
    /// ```
    pub fn get_or_create(
        dir: impl AsRef<std::path::Path>,
        create: impl FnOnce() -> Result<StreamingContext>,
    ) -> Result<StreamingContext> {
        let dir = dir.as_ref();
        let saved = crate::recovery::checkpoint::read_latest(dir)?;
        let ssc = create()?;
        let resumed = (|| {
            if ssc.shared.graph.checkpoint_base().as_deref() != Some(dir) {
                ssc.checkpoint(dir)?;
            }
            if let Some(md) = saved {
                ssc.restore(md)?;
            }
            Ok(())
        })();
        if resumed.is_err() {
            // The graph holds itself (it is freed by stop()): release the directory now, so
            // the caller can open it again with a fixed program.
            *ssc.shared.checkpoint_lock.lock() = None;
        }
        resumed.map(|()| ssc)
    }

    fn restore(&self, md: crate::recovery::checkpoint::Metadata) -> Result<()> {
        let shared = &self.shared;
        if *shared.state.lock() != StreamingState::Initialized {
            return Err(Error::AlreadyStarted);
        }
        let interval = shared.batch_interval().as_millis() as u64;
        if md.batch_interval_ms != interval {
            return Err(Error::CheckpointIncompatible {
                stream: "the batch interval".into(),
                reason: format!(
                    "it was {} ms and is now {interval} ms",
                    md.batch_interval_ms
                ),
            });
        }
        let streams = shared.graph.live_streams();
        let by_key = unique_keys(&streams)?;
        shared.graph.set_zero_time(md.zero_time);
        let last_generated = md.last_generated.unwrap_or(md.zero_time);
        for saved in &md.streams {
            match by_key.get(&saved.key) {
                Some(stream) => stream.restore(saved, last_generated)?,
                None => tracing::warn!(
                    "the checkpoint has data of {} ({}), which this program no longer defines: it is not restored",
                    saved.key,
                    saved.kind
                ),
            }
        }
        shared.checkpoints.restore(Resume {
            zero: md.zero_time,
            last_generated: md.last_generated,
            pending: md.pending.clone(),
        });
        tracing::info!(
            "restored from the checkpoint of {} ({} batch(es) to run again)",
            md.time,
            md.pending.len()
        );
        Ok(())
    }

    /// Adds a listener for batch and receiver events.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// struct Quiet;
    /// impl spate_streaming::StreamingListener for Quiet {}
    /// let ssc = spate_streaming::StreamingContext::new(spate_core::Conf::new().set_master("local[1]"), std::time::Duration::from_secs(1)).unwrap();
    /// ssc.add_streaming_listener(Arc::new(Quiet));
    /// ```
    pub fn add_streaming_listener(&self, listener: Arc<dyn StreamingListener>) {
        self.shared.reporter.add_listener(listener);
    }

    /// Counters of every receiver stream (records, replaced or skipped lines, connection
    /// failures).
    ///
    /// # Examples
    ///
    /// ```
    /// let ssc = spate_streaming::StreamingContext::new(spate_core::Conf::new().set_master("local[1]"), std::time::Duration::from_secs(1)).unwrap();
    /// let _ = ssc.socket_text_stream("localhost", 1);
    /// assert_eq!(ssc.receiver_stats()[0].records, 0);
    /// ```
    pub fn receiver_stats(&self) -> Vec<ReceiverStats> {
        self.shared.inputs.stats()
    }

    /// Where the streaming UI serves while the context runs (`spate.ui.enabled`, on by
    /// default): Spark's REST API under `/api/v1/applications/{app-id}/streaming/`, `/healthz`
    /// and `/readyz`. `None` before `start()`, after `stop()`, with the UI off, in executors.
    ///
    /// # Examples
    ///
    /// ```
    /// let ssc = spate_streaming::StreamingContext::new(spate_core::Conf::new().set_master("local[1]"), std::time::Duration::from_secs(1)).unwrap();
    /// assert_eq!(ssc.ui_url(), None); // not started
    /// ```
    pub fn ui_url(&self) -> Option<String> {
        self.shared.ui_url.lock().clone()
    }

    /// Listener events dropped because listeners fell behind the job (the queue holds
    /// `spate.streaming.listenerBus.capacity` events); a warning says so at most once a minute.
    ///
    /// # Examples
    ///
    /// ```
    /// let ssc = spate_streaming::StreamingContext::new(spate_core::Conf::new().set_master("local[1]"), std::time::Duration::from_secs(1)).unwrap();
    /// assert_eq!(ssc.dropped_listener_events(), 0);
    /// ```
    pub fn dropped_listener_events(&self) -> u64 {
        self.shared.reporter.dropped()
    }

    /// How many inputs were reported unreadable and skipped so far (files a file stream could
    /// not read, replayed files gone with `allowMissingOnReplay`): each also went to
    /// [`StreamingListener::on_input_error`] and the log.
    ///
    /// # Examples
    ///
    /// ```
    /// let ssc = spate_streaming::StreamingContext::new(spate_core::Conf::new().set_master("local[1]"), std::time::Duration::from_secs(1)).unwrap();
    /// assert_eq!(ssc.input_errors(), 0);
    /// ```
    pub fn input_errors(&self) -> u64 {
        self.shared.reporter.input_errors()
    }
}
