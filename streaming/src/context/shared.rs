//! [`Shared`]: what a streaming context's threads share — the graph, the clock, the
//! checkpoint writer, the listener bus — and the UI's probe of it.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use parking_lot::{Condvar, Mutex};
use spate_core::Context;

use crate::common::Clock;
use crate::common::StreamId;
use crate::common::Time;
use crate::dstream::StreamBase;
use crate::error::{Error, Result};
use crate::scheduler::Scheduler;

use super::{Graph, Progress, Settings, StopOptions, StreamingContext, StreamingState};
use crate::dstream::OutputOp;

/// What the UI reads from the context at a moment (weakly: the UI never keeps it alive).
#[cfg(feature = "ui")]
pub(crate) fn live_probe(shared: Weak<Shared>) -> crate::ui::Probe {
    Box::new(move || {
        let Some(s) = shared.upgrade() else {
            return crate::ui::Live::default();
        };
        // One lock at a time, each in its own statement: a guard inside the struct literal
        // would live to its end and invert the checkpoint writer's lock order.
        let inputs = s.graph.lock().inputs.clone();
        let last_checkpoint = *s.last_checkpoint.lock();
        let checkpoint_failing = s
            .checkpoint_failing
            .lock()
            .as_ref()
            .map(ToString::to_string);
        crate::ui::Live {
            dropped_events: s.bus.dropped() + s.status_bus.dropped(),
            receivers: inputs.iter().map(|i| i.stats()).collect(),
            checkpoint_dir: s.checkpoint_base(),
            last_checkpoint,
            checkpoint_failing,
            wal: s.settings.wal,
        }
    })
}

/// What a started context runs: its scheduler, UI, receivers' runtime and signal handling.
pub(crate) struct Running {
    pub(crate) scheduler: Scheduler,
    #[cfg(feature = "ui")]
    pub(crate) ui: Option<crate::ui::Ui>,
    pub(crate) runtime: Option<tokio::runtime::Runtime>,
    pub(crate) signals: Option<crate::signals::GracefulSignals>,
}

/// Everything a streaming context's threads share.
pub(crate) struct Shared {
    pub(crate) ctx: Context,
    pub(crate) batch_interval: Duration,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) settings: Settings,
    pub(crate) graph: Mutex<Graph>,
    pub(crate) next_stream: AtomicU32,
    pub(crate) state: Mutex<StreamingState>,
    pub(crate) state_changed: Condvar,
    pub(crate) stopping: AtomicBool,
    pub(crate) halting: AtomicBool,
    pub(crate) draining: AtomicBool,
    pub(crate) failure: Mutex<Option<Error>>,
    pub(crate) running: Mutex<Option<Running>>,
    /// The time before the first batch, set at start: streams have RDDs only after it, at
    /// multiples of their slide from it (so windows line up as in Spark).
    pub(crate) zero_time: Mutex<Option<Time>>,
    /// How long past its batch an RDD (and its input blocks) must be kept: the longest window.
    pub(crate) remember: Mutex<Duration>,
    /// The directory given to `checkpoint(dir)`: driver metadata, logs and RDD checkpoints.
    pub(crate) checkpoint_base: Mutex<Option<std::path::PathBuf>>,
    pub(crate) progress: Mutex<Progress>,
    /// Writes driver metadata while running with a checkpoint directory.
    pub(crate) checkpointer: Mutex<Option<crate::recovery::checkpoint::Checkpointer>>,
    /// A driver's hold on its checkpoint directory, from `checkpoint(dir)` to `stop()`.
    pub(crate) checkpoint_lock: Mutex<Option<crate::recovery::checkpoint::DirLock>>,
    /// The last metadata write failed ([`Error::CheckpointWriteFailed`]); cleared by a
    /// successful one. Still set at stop: the stop says so.
    pub(crate) checkpoint_failing: Mutex<Option<Error>>,
    /// The batch time of the last driver metadata written (for the UI).
    pub(crate) last_checkpoint: Mutex<Option<Time>>,
    /// Set by a restore: the zero time to keep (the batches to resume are in `progress`).
    pub(crate) restored_zero: Mutex<Option<Time>>,
    /// Inputs reported unreadable (files skipped), for [`StreamingContext::input_errors`].
    pub(crate) input_errors: std::sync::atomic::AtomicU64,
    /// Late (record, window) pairs per batch, for its [`crate::BatchInfo`].
    pub(crate) late_records: Mutex<std::collections::BTreeMap<Time, u64>>,
    /// The (smallest) event-time watermark each batch was judged by, for its `BatchInfo`.
    pub(crate) watermarks: Mutex<std::collections::BTreeMap<Time, i64>>,
    /// Carries events to the application's listeners without ever blocking the scheduler.
    pub(crate) bus: crate::listener::ListenerBus,
    /// Carries the same events to the UI's status store, on a thread of its own.
    pub(crate) status_bus: crate::listener::ListenerBus,
    /// Where the UI serves, while it runs.
    pub(crate) ui_url: Mutex<Option<String>>,
}

impl Shared {
    pub(crate) fn next_stream_id(&self) -> StreamId {
        StreamId(self.next_stream.fetch_add(1, Ordering::Relaxed))
    }
    /// In an executor: the driver's streaming context stopped, so this one is too.
    pub(crate) fn stopped_by_driver(&self) {
        *self.state.lock() = StreamingState::Stopped;
        self.state_changed.notify_all();
    }
    pub(crate) fn is_halting(&self) -> bool {
        self.halting.load(Ordering::SeqCst)
    }
    pub(crate) fn is_draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }
    pub(crate) fn inputs_all_allocated(&self) -> bool {
        self.graph.lock().inputs.iter().all(|i| i.all_allocated())
    }
    /// A stop ran out of `gracefulStopTimeout`: the error, also kept for `await_termination`
    /// (a program stopped by a signal must not exit 0 when data may be unprocessed).
    pub(crate) fn stop_timed_out(&self) -> Error {
        let timeout = self.settings.graceful_timeout;
        self.failure
            .lock()
            .get_or_insert(Error::StopTimeout(timeout));
        Error::StopTimeout(timeout)
    }
    pub(crate) fn add_late_records(&self, time: Time, n: u64) {
        *self.late_records.lock().entry(time).or_default() += n;
    }
    pub(crate) fn note_watermark(&self, time: Time, watermark: i64) {
        let mut w = self.watermarks.lock();
        let e = w.entry(time).or_insert(watermark);
        *e = (*e).min(watermark);
    }
    /// Batch `time`'s late records and watermark; also forgets older entries (of replayed
    /// batches).
    pub(crate) fn take_event_time(&self, time: Time) -> (u64, Option<i64>) {
        fn take<V>(m: &mut std::collections::BTreeMap<Time, V>, time: Time) -> Option<V> {
            let v = m.remove(&time);
            *m = m.split_off(&time);
            v
        }
        (
            take(&mut self.late_records.lock(), time).unwrap_or(0),
            take(&mut self.watermarks.lock(), time),
        )
    }
    pub(crate) fn count_input_error(&self) {
        self.input_errors.fetch_add(1, Ordering::Relaxed);
    }
    /// Hands `event` to the listener bus (never blocks: see `listener::bus`).
    pub(crate) fn post(&self, event: crate::listener::Event) {
        let event = Arc::new(event);
        self.status_bus.post(&event);
        self.bus.post(&event);
    }

    /// The time before the first batch (the epoch before start).
    pub(crate) fn zero_time(&self) -> Time {
        self.zero_time.lock().unwrap_or(Time::from_millis(0))
    }

    /// Whether a stream sliding every `slide` has an RDD at `time`. Before start (no zero time
    /// yet) times are counted from the epoch.
    pub(crate) fn is_valid_time(&self, time: Time, slide: Duration) -> bool {
        let zero = self.zero_time.lock().unwrap_or(Time::from_millis(0));
        time > zero && Time::from_millis(time.millis() - zero.millis()).is_multiple_of(slide)
    }

    /// `time` rounded down to a multiple of `slide` from the zero time (the epoch before start).
    pub(crate) fn floor_time(&self, time: Time, slide: Duration) -> Time {
        let zero = self
            .zero_time
            .lock()
            .unwrap_or(Time::from_millis(0))
            .millis();
        let slide = slide.as_millis().max(1) as i64;
        Time::from_millis(zero + (time.millis() - zero).div_euclid(slide) * slide)
    }

    pub(crate) fn set_zero_time(&self, zero: Time) {
        *self.zero_time.lock() = Some(zero);
    }

    /// Keeps every stream's RDDs (and input blocks) for at least `d` past their batch.
    pub(crate) fn remember_at_least(&self, d: Duration) {
        let mut r = self.remember.lock();
        *r = (*r).max(d);
    }

    /// Batch `time` is over: its records are no longer pending, and RDDs and input blocks
    /// older than the remember duration are released.
    pub(crate) fn finish_batch(&self, time: Time) {
        let (streams, inputs) = {
            let g = self.graph.lock();
            (g.streams.clone(), g.inputs.clone())
        };
        let horizon = time - *self.remember.lock();
        for s in streams.iter().filter_map(Weak::upgrade) {
            s.forget_through(horizon);
        }
        for i in inputs {
            i.batch_done(time);
            i.release_through(horizon);
        }
    }

    /// Releases every remembered RDD and input block (at stop).
    pub(crate) fn forget_everything(&self) {
        let (streams, inputs) = {
            let g = self.graph.lock();
            (g.streams.clone(), g.inputs.clone())
        };
        let end = Time::from_millis(i64::MAX - 1);
        for s in streams.iter().filter_map(Weak::upgrade) {
            s.forget_through(end);
        }
        for i in inputs {
            i.release_through(end);
        }
    }

    /// A batch failed: remember why and stop (on another thread: the caller is an executor).
    pub(crate) fn fail(self: &Arc<Self>, error: Error) {
        self.failure.lock().get_or_insert(error);
        let ssc = StreamingContext {
            shared: Arc::clone(self),
        };
        std::thread::spawn(move || {
            let _ = ssc.stop(StopOptions::default());
        });
    }

    pub(crate) fn checkpoint_base(&self) -> Option<std::path::PathBuf> {
        self.checkpoint_base.lock().clone()
    }

    pub(crate) fn live_streams(&self) -> Vec<Arc<dyn StreamBase>> {
        let streams = self.graph.lock().streams.clone();
        streams.iter().filter_map(Weak::upgrade).collect()
    }

    /// Batch `time` was generated (`completed == false`) or completed: record it and, with a
    /// checkpoint directory, write the driver metadata. A failed write is logged and reported
    /// to listeners: the stream goes on (only a restart would resume from an older
    /// checkpoint), and a stop while the writes still fail is an error.
    pub(crate) fn batch_progress(&self, time: Time, completed: bool) {
        let mut writer = self.checkpointer.lock();
        {
            let mut p = self.progress.lock();
            if completed {
                p.pending.remove(&time);
            } else {
                p.pending.insert(time);
                p.last_generated = Some(p.last_generated.map_or(time, |l| l.max(time)));
            }
        }
        self.write_checkpoint(writer.as_mut(), time);
    }

    /// Writes the driver metadata as of now, if checkpointing; `time` is what it is for.
    pub(crate) fn checkpoint_now(&self, time: Time) {
        self.write_checkpoint(self.checkpointer.lock().as_mut(), time);
    }

    pub(crate) fn write_checkpoint(
        &self,
        writer: Option<&mut crate::recovery::checkpoint::Checkpointer>,
        time: Time,
    ) {
        let Some(writer) = writer else {
            return;
        };
        let md = self.metadata(time);
        let mut failing = self.checkpoint_failing.lock();
        match writer.write(&md) {
            Ok(()) => {
                *self.last_checkpoint.lock() = Some(time);
                if failing.take().is_some() {
                    tracing::warn!("driver checkpoints are written again (the batch of {time})");
                }
            }
            Err(e) => {
                let err = Error::CheckpointWriteFailed {
                    time,
                    dir: self.checkpoint_base().unwrap_or_default(),
                    reason: e.to_string(),
                };
                let message = err.to_string();
                // Once per run of failures in the log (every batch fails alike on a full disk);
                // every failure to listeners.
                if failing.is_none() {
                    tracing::error!("{message}");
                }
                *failing = Some(err);
                drop(failing);
                self.post(crate::listener::Event::CheckpointError(time, message));
            }
        }
    }

    pub(crate) fn metadata(&self, time: Time) -> crate::recovery::checkpoint::Metadata {
        let streams = self.live_streams();
        // Inputs keep their batches back to the oldest state a restart resumes from, and for
        // the longest window.
        let horizon = time - *self.remember.lock();
        let (last_generated, pending): (_, Vec<Time>) = {
            let p = self.progress.lock();
            (p.last_generated, p.pending.iter().copied().collect())
        };
        // ... and every batch a restart runs again: a pending batch replays its input too,
        // stateful streams or not.
        let oldest_pending = pending.first().map(|t| Time::from_millis(t.millis() - 1));
        let keep_from = streams
            .iter()
            .filter_map(|s| s.state_time())
            .chain(oldest_pending)
            .fold(horizon, Time::min);
        crate::recovery::checkpoint::Metadata {
            version: crate::recovery::checkpoint::METADATA_VERSION,
            batch_interval_ms: self.batch_interval.as_millis() as u64,
            zero_time: self.zero_time(),
            time,
            last_generated,
            pending,
            streams: streams
                .iter()
                .filter_map(|s| s.snapshot(keep_from))
                .collect(),
        }
    }

    pub(crate) fn register_output(&self, op: Arc<dyn OutputOp>) -> Result<()> {
        match *self.state.lock() {
            StreamingState::Initialized => {
                self.graph.lock().outputs.push(op);
                Ok(())
            }
            StreamingState::Active => Err(Error::AlreadyStarted),
            StreamingState::Stopped => Err(Error::Stopped),
        }
    }
}
