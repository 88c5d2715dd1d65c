//! The control face of an input stream, as the context and the scheduler see it: start and
//! stop, each batch's allocation, the end of a batch, statistics, the write-ahead log, and an
//! executor following the driver's allocations. Receivers' intakes and Kafka's direct input
//! implement it.

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use spate_core::Data;

use crate::common::{ReceiverStats, StreamId, Time};
use crate::context::Shared;
use crate::error::Result;
use crate::input::Intake;
use crate::input::receiver::{Receiver, Supervisor};

/// The control face of a receiver input stream.
pub(crate) trait InputControl: Send + Sync {
    fn start(&self, shared: &Arc<Shared>, runtime: tokio::runtime::Handle);
    fn stop(&self);
    fn allocate(&self, time: Time) -> u64;
    /// Batch `time` has been processed (or dropped): its records no longer count as pending.
    fn batch_done(&self, time: Time);
    /// No batch or window needs the blocks of batches up to `time` any more.
    fn release_through(&self, time: Time);
    fn all_allocated(&self) -> bool;
    fn stats(&self) -> ReceiverStats;
    /// Batch `info` completed (for backpressure).
    fn batch_completed(&self, info: &crate::listener::BatchInfo);
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

pub(crate) struct ReceiverInput<T> {
    pub(crate) intake: Arc<Intake<T>>,
    pub(crate) receiver: Mutex<Option<Box<dyn Receiver<T>>>>,
    pub(crate) supervisor: Mutex<Option<Supervisor>>,
}

impl<T: Data> InputControl for ReceiverInput<T> {
    fn start(&self, shared: &Arc<Shared>, runtime: tokio::runtime::Handle) {
        if let Some(r) = self.receiver.lock().take() {
            let s = Supervisor::start(r, Arc::clone(&self.intake), shared, runtime);
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
    fn batch_done(&self, time: Time) {
        self.intake.batch_done(time)
    }
    fn release_through(&self, time: Time) {
        self.intake.release_through(time)
    }
    fn all_allocated(&self) -> bool {
        self.intake.all_allocated()
    }
    fn stats(&self) -> ReceiverStats {
        self.intake.stats()
    }
    fn batch_completed(&self, info: &crate::listener::BatchInfo) {
        self.intake.batch_completed(info)
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
