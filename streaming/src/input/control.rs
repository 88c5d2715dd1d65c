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
use crate::input::placement::{Placement, Wish};
use crate::input::receiver::{Receiver, Supervisor, SupervisorSettings};
use crate::input::{Intake, IntakeOp};
use crate::listener::{BatchInfo, Reporter};
use spate_core::InputReport;

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
    /// Whether it holds records no batch has taken yet (a graceful stop's drain makes a batch
    /// only then, or once every input has given all it received).
    fn has_unallocated(&self) -> bool {
        !self.all_allocated()
    }
    /// On a cluster driver, stopping: whether its receiver's executor has yet to report its
    /// last blocks (the drain waits for them).
    fn awaiting_last_report(&self) -> bool {
        false
    }
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
    /// In a cluster: its receiver, to be placed on an executor (`None`: it has none).
    fn placement_wish(&self) -> Option<Wish> {
        None
    }
    /// On a cluster driver, at start: the receiver runs on an executor, not here.
    fn run_remotely(&self) {}
    /// On a cluster driver: where the receiver runs now.
    fn placed(&self, _placement: &Placement) {}
    /// On a cluster driver: what the receiver's executor reported.
    fn reported(&self, _report: InputReport, _reporter: &Reporter) {}
    /// On a cluster driver, stopping: the receiver's executor is gone.
    fn remote_gone(&self) {}
    /// On a cluster driver: block `id` lost every copy; read it back from the write-ahead
    /// log into the block store if it is there.
    fn restore_lost(&self, _id: spate_core::ids::InputBlockId) -> bool {
        false
    }
    /// On an executor: the driver placed the receiver (`placement`, `None`: not placed); it
    /// runs here when the placement names executor `me`, writing the write-ahead log into
    /// `wal_dir` when that is on.
    fn host(
        &self,
        _placement: Option<&Placement>,
        _me: u32,
        _reporter: &Reporter,
        _wal_dir: Option<&std::path::Path>,
    ) {
    }
    /// On an executor, in a graceful stop: the receiver stops and reports its last blocks.
    fn stop_hosting(&self) {}
    /// The rate its receiver is held to (backpressure's, on the driver), if any.
    fn rate_limit(&self) -> Option<f64> {
        None
    }
    /// On the executor running the receiver: the rate the driver's backpressure set.
    fn follow_rate(&self, _rate: Option<f64>) {}
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

    /// During a graceful stop's drain: whether the next batch would take something, or nothing
    /// more will come. Not while receivers on executors are still reporting their last blocks:
    /// the drain would otherwise make batches as fast as it can until they have (empty ones,
    /// or one per receiver as each reports), instead of one of everything.
    pub(crate) fn drain_ready(&self) -> bool {
        let all = self.all();
        !all.iter().any(|i| i.awaiting_last_report())
            && (all.iter().any(|i| i.has_unallocated()) || all.iter().all(|i| i.all_allocated()))
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
    pub(crate) supervisor: Mutex<Option<Supervisor<T>>>,
    pub(crate) settings: SupervisorSettings,
    /// `Receiver::preferred_location`'s answer, asked once.
    pub(crate) preferred: Option<String>,
    /// In a cluster: where the receiver runs now.
    pub(crate) placement: Mutex<Option<Placement>>,
    /// On an executor hosting the receiver: the runtime it runs on (made when first needed).
    pub(crate) runtime: std::sync::OnceLock<tokio::runtime::Runtime>,
    /// `spate.streaming.receiver.writeAheadLog.rollingInterval`, when the log is on.
    pub(crate) wal_rolling: Option<Duration>,
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
    fn has_unallocated(&self) -> bool {
        self.intake.has_unallocated()
    }
    fn awaiting_last_report(&self) -> bool {
        self.intake.awaiting_last_report()
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
    fn placement_wish(&self) -> Option<Wish> {
        Some(Wish {
            stream: self.intake.stream.0,
            preferred: self.preferred.clone(),
        })
    }
    fn run_remotely(&self) {
        self.intake.run_remotely();
    }
    fn placed(&self, placement: &Placement) {
        *self.placement.lock() = Some(placement.clone());
    }
    fn reported(&self, report: InputReport, reporter: &Reporter) {
        self.remote_report(report, reporter);
    }
    fn remote_gone(&self) {
        self.intake.remote_gone();
    }
    fn restore_lost(&self, id: spate_core::ids::InputBlockId) -> bool {
        match self.intake.restore_lost(id) {
            Ok(restored) => restored,
            Err(e) => {
                tracing::error!(
                    "{}: block {id} lost every copy and cannot be read back from the write-ahead log: {e}",
                    self.intake.stream
                );
                false
            }
        }
    }
    fn host(
        &self,
        placement: Option<&Placement>,
        me: u32,
        reporter: &Reporter,
        wal_dir: Option<&std::path::Path>,
    ) {
        self.host_here(placement, me, reporter, wal_dir);
    }
    fn stop_hosting(&self) {
        self.stop_here();
    }
    fn rate_limit(&self) -> Option<f64> {
        self.intake.rate()
    }
    fn follow_rate(&self, rate: Option<f64>) {
        self.intake.follow_rate(rate);
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
        preferred: receiver.preferred_location(),
        receiver: Mutex::new(Some(Box::new(receiver))),
        supervisor: Mutex::new(None),
        settings: env.settings.supervisor(graph.batch_interval),
        placement: Mutex::new(None),
        runtime: std::sync::OnceLock::new(),
        wal_rolling: env.settings.wal.then_some(env.settings.wal_rolling),
    }));
    DStream::from_op(graph, kind, graph.batch_interval, IntakeOp { intake })
}
