//! [`Shared`]: what a streaming context holds — its parts (the graph, the inputs, the
//! listeners, the checkpoints), each handed only to what needs it — and its lifecycle; the
//! UI's probe of it.

use std::sync::Arc;
#[cfg(feature = "ui")]
use std::sync::Weak;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use parking_lot::{Condvar, Mutex};
use spate_core::Context;

use super::{Settings, StopOptions, StreamingContext, StreamingState};
use crate::common::{Clock, Time};
use crate::dstream::{Phase, StreamGraph};
use crate::error::Error;
use crate::input::{BatchEnd, InputEnv, Inputs};
use crate::listener::Reporter;
use crate::scheduler::{Checkpoints, Scheduler, SchedulerEnv, Stopper};

/// What the UI reads from the context at a moment (weakly: the UI never keeps it alive).
#[cfg(feature = "ui")]
pub(crate) fn live_probe(shared: Weak<Shared>) -> crate::ui::Probe {
    Box::new(move || {
        let Some(s) = shared.upgrade() else {
            return crate::ui::Live::default();
        };
        // One lock at a time, each in its own statement: a guard inside the struct literal
        // would live to its end and invert the checkpoint writer's lock order.
        let receivers = s.inputs.stats();
        let last_checkpoint = s.checkpoints.last_written();
        let checkpoint_failing = s.checkpoints.failing();
        crate::ui::Live {
            dropped_events: s.reporter.dropped(),
            receivers,
            checkpoint_dir: s.graph.checkpoint_base(),
            last_checkpoint,
            checkpoint_failing,
            wal: s.settings.input.wal,
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
    /// In a cluster driver: where receivers run.
    pub(crate) receivers: Option<crate::scheduler::ReceiverTracker>,
}

/// What a streaming context holds: its parts (each handed to the ones that need it), and its
/// lifecycle.
pub(crate) struct Shared {
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) settings: Settings,
    /// The streams, the outputs and the time line (what every DStream holds).
    pub(crate) graph: Arc<StreamGraph>,
    pub(crate) inputs: Arc<Inputs>,
    /// The application's listeners and the status page's store.
    pub(crate) reporter: Reporter,
    /// The driver's record of its batches, written to the checkpoint directory.
    pub(crate) checkpoints: Arc<Checkpoints>,
    pub(crate) state: Mutex<StreamingState>,
    pub(crate) state_changed: Condvar,
    pub(crate) stopping: AtomicBool,
    pub(crate) failure: Mutex<Option<Error>>,
    pub(crate) running: Mutex<Option<Running>>,
    /// A driver's hold on its checkpoint directory, from `checkpoint(dir)` to `stop()`.
    pub(crate) checkpoint_lock: Mutex<Option<crate::recovery::checkpoint::DirLock>>,
    /// Where the UI serves, while it runs.
    pub(crate) ui_url: Mutex<Option<String>>,
}

impl Shared {
    pub(crate) fn ctx(&self) -> &Context {
        &self.graph.ctx
    }

    pub(crate) fn batch_interval(&self) -> Duration {
        self.graph.batch_interval
    }

    /// What an input gets when it is made.
    pub(crate) fn input_env(&self) -> InputEnv {
        InputEnv {
            graph: Arc::clone(&self.graph),
            inputs: Arc::clone(&self.inputs),
            reporter: self.reporter.clone(),
            settings: Arc::clone(&self.settings.input),
        }
    }

    /// What the scheduler gets. Its threads hold the context (through the [`Stopper`]) while
    /// they run, as a running stream is not dropped with the caller's handle: `stop()` ends
    /// them.
    pub(crate) fn scheduler_env(self: &Arc<Self>) -> SchedulerEnv {
        SchedulerEnv {
            graph: Arc::clone(&self.graph),
            inputs: Arc::clone(&self.inputs),
            reporter: self.reporter.clone(),
            clock: Arc::clone(&self.clock),
            checkpoints: Arc::clone(&self.checkpoints),
            stopper: Arc::new(StreamingContext {
                shared: Arc::clone(self),
            }),
            concurrent_jobs: self.settings.concurrent_jobs,
        }
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

    /// Releases every remembered RDD and input block (at stop).
    pub(crate) fn forget_everything(&self) {
        let end = Time::from_millis(i64::MAX - 1);
        self.graph.forget_through(end);
        self.inputs.on_batch_end(&BatchEnd {
            time: end,
            info: None,
            release_through: end,
        });
    }
}

impl Stopper for StreamingContext {
    /// Remembers why, and stops on another thread (the caller is the scheduler's).
    fn fail(&self, error: Error) {
        self.shared.failure.lock().get_or_insert(error);
        let ssc = self.clone();
        std::thread::spawn(move || {
            let _ = ssc.stop(StopOptions::default());
        });
    }

    fn stopped_by_driver(&self) {
        *self.shared.state.lock() = StreamingState::Stopped;
        self.shared.graph.set_phase(Phase::Stopped);
        self.shared.state_changed.notify_all();
    }
}
