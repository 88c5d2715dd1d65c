//! The control face of an input stream, as the context and the scheduler see it: start and
//! stop, each batch's allocation, the end of a batch, statistics, the write-ahead log, and an
//! executor following the driver's allocations. Receivers' intakes and Kafka's direct input
//! implement it. [`Inputs`] holds a context's inputs; [`InputEnv`] is what an input gets from
//! its context when it is made.

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use spate_core::Data;

use super::InputSettings;
use crate::common::{ReceiverStats, StreamId, Time};
use crate::dstream::{DStream, StreamGraph};
use crate::error::Result;
use crate::input::receiver::{Receiver, Supervisor, SupervisorSettings};
use crate::input::{Intake, IntakeOp};
use crate::listener::{BatchInfo, Reporter};

/// What an input gets from its context when it is made: the graph its stream joins, where its
/// control is registered, where it reports, and its settings (cheap to clone).
#[derive(Clone)]
pub(crate) struct InputEnv {
    pub(crate) graph: Arc<StreamGraph>,
    pub(crate) inputs: Arc<Inputs>,
    pub(crate) reporter: Reporter,
    pub(crate) settings: Arc<InputSettings>,
}

/// The end of a batch, as an input sees it: one event, in this order for each input — the
/// rate estimator hears how the batch went, its records stop counting as pending, and blocks
/// no batch or window needs any more leave the block store. The scheduler sends it after the
/// batch's completion is checkpointed (a restart never needs a block released here) and
/// before listeners hear the batch completed.
pub(crate) struct BatchEnd<'a> {
    pub(crate) time: Time,
    /// How the batch went; `None` for a batch dropped at a stop, or followed in an executor.
    pub(crate) info: Option<&'a BatchInfo>,
    /// No batch or window needs the blocks of batches up to here any more.
    pub(crate) release_through: Time,
}

/// The control face of a receiver input stream.
pub(crate) trait InputControl: Send + Sync {
    fn start(&self, reporter: &Reporter, runtime: tokio::runtime::Handle);
    fn stop(&self);
    fn allocate(&self, time: Time) -> u64;
    /// A batch ended: see [`BatchEnd`].
    fn on_batch_end(&self, end: &BatchEnd<'_>);
    fn all_allocated(&self) -> bool;
    fn stats(&self) -> ReceiverStats;
    /// The stream this input feeds.
    fn stream(&self) -> StreamId;
    /// Logs every block in `dir` before it is acknowledged.
    fn enable_wal(&self, dir: &std::path::Path, rolling: Duration) -> Result<()>;
    /// The blocks and records allocated to batch `time` (what a cluster driver sends its
    /// executors).
    fn allocation_of(&self, time: Time) -> (Vec<spate_core::ids::InputBlockId>, usize);
    /// In an executor: batch `time` reads the blocks the driver allocated.
    fn follow_allocation(
        &self,
        time: Time,
        ids: Vec<spate_core::ids::InputBlockId>,
        records: usize,
    );
}

/// A context's inputs, in the order they were made.
#[derive(Default)]
pub(crate) struct Inputs(Mutex<Vec<Arc<dyn InputControl>>>);

impl Inputs {
    pub(crate) fn add(&self, input: Arc<dyn InputControl>) {
        self.0.lock().push(input);
    }

    pub(crate) fn all(&self) -> Vec<Arc<dyn InputControl>> {
        self.0.lock().clone()
    }

    /// Whether every input has given all it received to a batch (a graceful stop's drain).
    pub(crate) fn all_allocated(&self) -> bool {
        self.all().iter().all(|i| i.all_allocated())
    }

    pub(crate) fn stats(&self) -> Vec<ReceiverStats> {
        self.all().iter().map(|i| i.stats()).collect()
    }

    /// Tells every input that a batch ended.
    pub(crate) fn on_batch_end(&self, end: &BatchEnd<'_>) {
        for input in self.all() {
            input.on_batch_end(end);
        }
    }
}

pub(crate) struct ReceiverInput<T> {
    pub(crate) intake: Arc<Intake<T>>,
    pub(crate) receiver: Mutex<Option<Box<dyn Receiver<T>>>>,
    pub(crate) supervisor: Mutex<Option<Supervisor>>,
    pub(crate) settings: SupervisorSettings,
}

impl<T: Data> InputControl for ReceiverInput<T> {
    fn start(&self, reporter: &Reporter, runtime: tokio::runtime::Handle) {
        if let Some(r) = self.receiver.lock().take() {
            let s = Supervisor::start(
                r,
                Arc::clone(&self.intake),
                reporter.clone(),
                self.settings,
                runtime,
            );
            *self.supervisor.lock() = Some(s);
        }
    }
    fn stop(&self) {
        self.intake.stop();
        if let Some(mut s) = self.supervisor.lock().take() {
            s.stop();
        }
    }
    fn allocate(&self, time: Time) -> u64 {
        self.intake.allocate(time)
    }
    fn on_batch_end(&self, end: &BatchEnd<'_>) {
        if let Some(info) = end.info {
            self.intake.batch_completed(info);
        }
        self.intake.batch_done(end.time);
        self.intake.release_through(end.release_through);
    }
    fn all_allocated(&self) -> bool {
        self.intake.all_allocated()
    }
    fn stats(&self) -> ReceiverStats {
        self.intake.stats()
    }
    fn stream(&self) -> StreamId {
        self.intake.stream
    }
    fn enable_wal(&self, dir: &std::path::Path, rolling: Duration) -> Result<()> {
        self.intake.enable_wal(dir, rolling)
    }
    fn allocation_of(&self, time: Time) -> (Vec<spate_core::ids::InputBlockId>, usize) {
        self.intake.allocation_of(time)
    }
    fn follow_allocation(
        &self,
        time: Time,
        ids: Vec<spate_core::ids::InputBlockId>,
        records: usize,
    ) {
        self.intake.follow_allocation(time, ids, records)
    }
}

/// A stream fed by `receiver` (a socket's, or the application's own), registered as an input.
pub(crate) fn receiver_stream<T: Data>(
    env: &InputEnv,
    kind: &'static str,
    receiver: impl Receiver<T>,
) -> DStream<T> {
    let graph = &env.graph;
    let intake = Arc::new(Intake::new(
        graph.peek_stream_id(),
        env.settings.max_pending,
        graph.ctx.clone(),
        env.settings.rates(graph.batch_interval),
    ));
    env.inputs.add(Arc::new(ReceiverInput {
        intake: Arc::clone(&intake),
        receiver: Mutex::new(Some(Box::new(receiver))),
        supervisor: Mutex::new(None),
        settings: env.settings.supervisor(graph.batch_interval),
    }));
    DStream::from_op(graph, kind, graph.batch_interval, IntakeOp { intake })
}
