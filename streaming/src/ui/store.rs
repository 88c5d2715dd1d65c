//! What the UI knows: a listener that keeps the recent batches (a bounded number), every
//! receiver's state and the last errors — memory stays flat however long the job runs.

use std::collections::{BTreeMap, VecDeque};

use std::sync::Arc;

use parking_lot::Mutex;

use super::metrics::Metrics;

use crate::dstream::StreamId;
use crate::listener::{BatchInfo, OutputOperationInfo, ReceiverInfo, StreamingListener};
use crate::time::Time;

/// How many errors are kept.
const ERRORS_KEPT: usize = 100;

/// Where a batch is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BatchStatus {
    Queued,
    Processing,
    Completed,
}

impl BatchStatus {
    /// Spark's name for it.
    pub(crate) fn spark_name(self) -> &'static str {
        match self {
            BatchStatus::Queued => "QUEUED",
            BatchStatus::Processing => "PROCESSING",
            BatchStatus::Completed => "COMPLETED",
        }
    }
}

/// One batch, as the UI shows it.
#[derive(Clone, Debug)]
pub(crate) struct BatchRecord {
    pub(crate) info: BatchInfo,
    pub(crate) status: BatchStatus,
    /// Output operations by id, updated as they start and end.
    pub(crate) ops: BTreeMap<usize, OutputOperationInfo>,
}

impl BatchRecord {
    fn new(info: &BatchInfo, status: BatchStatus) -> BatchRecord {
        BatchRecord {
            info: info.clone(),
            status,
            ops: info
                .output_operations
                .iter()
                .map(|o| (o.id, o.clone()))
                .collect(),
        }
    }
}

/// One receiver, as the UI shows it.
#[derive(Clone, Debug, Default)]
pub(crate) struct ReceiverRecord {
    pub(crate) info: ReceiverInfo,
    pub(crate) last_error: Option<(Time, String)>,
    /// Records per completed batch (retained batches only): `(batch time, records)`.
    pub(crate) rates: VecDeque<(Time, u64)>,
}

/// Everything the UI reads.
#[derive(Default)]
pub(crate) struct State {
    pub(crate) start_time: Option<Time>,
    pub(crate) batches: BTreeMap<Time, BatchRecord>,
    pub(crate) total_completed: u64,
    pub(crate) total_processed_records: u64,
    pub(crate) total_received_records: u64,
    pub(crate) receivers: BTreeMap<StreamId, ReceiverRecord>,
    pub(crate) errors: VecDeque<(Time, String)>,
}

/// The listener behind the UI (and its metrics).
pub(crate) struct StatusStore {
    pub(crate) state: Mutex<State>,
    retained: usize,
    pub(crate) metrics: Arc<Metrics>,
}

impl StatusStore {
    pub(crate) fn new(retained: usize, metrics: Arc<Metrics>) -> StatusStore {
        StatusStore {
            state: Mutex::new(State::default()),
            retained: retained.max(1),
            metrics,
        }
    }

    /// A receiver started or stopped: its state is what the event says.
    fn receiver_changed(&self, info: &ReceiverInfo) {
        self.state
            .lock()
            .receivers
            .entry(info.stream)
            .or_default()
            .info = info.clone();
    }

    fn error(&self, state: &mut State, time: Time, message: String) {
        state.errors.push_back((time, message));
        while state.errors.len() > ERRORS_KEPT {
            state.errors.pop_front();
        }
    }

    /// Keeps the newest `retained` completed batches (queued and running ones always).
    fn trim(&self, state: &mut State) {
        let completed: Vec<Time> = state
            .batches
            .iter()
            .filter(|(_, b)| b.status == BatchStatus::Completed)
            .map(|(t, _)| *t)
            .collect();
        let excess = completed.len().saturating_sub(self.retained);
        for t in &completed[..excess] {
            state.batches.remove(t);
        }
        let oldest = state.batches.keys().next().copied();
        for r in state.receivers.values_mut() {
            while r.rates.front().is_some_and(|(t, _)| Some(*t) < oldest) {
                r.rates.pop_front();
            }
        }
    }
}

impl StreamingListener for StatusStore {
    fn on_streaming_started(&self, time: Time) {
        self.state.lock().start_time = Some(time);
    }

    fn on_batch_submitted(&self, info: &BatchInfo) {
        self.metrics.batch_submitted(info);
        let mut s = self.state.lock();
        s.total_received_records += info.records;
        s.batches
            .insert(info.batch_time, BatchRecord::new(info, BatchStatus::Queued));
    }

    fn on_batch_started(&self, info: &BatchInfo) {
        self.metrics.batch_started();
        if let Some(b) = self.state.lock().batches.get_mut(&info.batch_time) {
            b.status = BatchStatus::Processing;
            b.info.scheduling_delay = info.scheduling_delay;
            b.info.processing_start_time = info.processing_start_time;
        }
    }

    fn on_output_operation_started(&self, op: &OutputOperationInfo) {
        if let Some(b) = self.state.lock().batches.get_mut(&op.batch_time) {
            b.ops.insert(op.id, op.clone());
        }
    }

    fn on_output_operation_completed(&self, op: &OutputOperationInfo) {
        let mut s = self.state.lock();
        if let Some(b) = s.batches.get_mut(&op.batch_time) {
            b.ops.insert(op.id, op.clone());
        }
        if let Some(reason) = &op.failure_reason {
            let time = op.end_time.unwrap_or(op.batch_time);
            let message = format!(
                "{} of the batch of {} failed: {reason}",
                op.description, op.batch_time
            );
            self.error(&mut s, time, message);
        }
    }

    fn on_batch_completed(&self, info: &BatchInfo) {
        self.metrics.batch_completed(info);
        let mut s = self.state.lock();
        s.total_completed += 1;
        s.total_processed_records += info.records;
        for (stream, n) in &info.stream_records {
            s.receivers
                .entry(*stream)
                .or_default()
                .rates
                .push_back((info.batch_time, *n));
        }
        s.batches.insert(
            info.batch_time,
            BatchRecord::new(info, BatchStatus::Completed),
        );
        self.trim(&mut s);
    }

    fn on_receiver_started(&self, info: &ReceiverInfo) {
        self.receiver_changed(info);
    }

    fn on_receiver_stopped(&self, info: &ReceiverInfo) {
        self.receiver_changed(info);
    }

    fn on_receiver_error(&self, stream: StreamId, message: &str) {
        self.metrics.receiver_error(stream);
        let mut s = self.state.lock();
        let time = s.batches.keys().next_back().copied().unwrap_or_default();
        s.receivers.entry(stream).or_default().last_error = Some((time, message.to_string()));
        self.error(&mut s, time, format!("receiver of {stream}: {message}"));
    }

    fn on_input_error(&self, stream: StreamId, message: &str) {
        self.metrics.input_error();
        let mut s = self.state.lock();
        let time = s.batches.keys().next_back().copied().unwrap_or_default();
        self.error(&mut s, time, format!("{stream}: {message}"));
    }

    fn on_checkpoint_error(&self, time: Time, message: &str) {
        self.metrics.checkpoint_error();
        let mut s = self.state.lock();
        self.error(&mut s, time, message.to_string());
    }
}
