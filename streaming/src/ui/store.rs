//! What the UI knows: a listener that keeps the recent batches (a bounded number) with their
//! jobs, per-minute roll-ups for a day, every receiver's state, the last errors and the last
//! live events — memory stays flat however long the job runs.

use std::collections::{BTreeMap, VecDeque};

use std::sync::Arc;

use parking_lot::Mutex;
use spate_core::ids::JobId;

use super::metrics::Metrics;
use super::{Live, Probe};

use crate::common::ReceiverStats;
use crate::common::StreamId;
use crate::common::Time;
use crate::listener::{
    BatchInfo, OutputJobInfo, OutputOperationInfo, ReceiverInfo, StreamingListener,
};

/// How many errors are kept.
const ERRORS_KEPT: usize = 100;
/// Jobs kept per batch (an output operation may run any number).
const JOBS_KEPT: usize = 200;
/// Per-minute roll-ups kept: a day.
pub(crate) const MINUTES_KEPT: usize = 24 * 60;

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
    /// The jobs its output operations ran (the first [`JOBS_KEPT`]).
    pub(crate) jobs: BTreeMap<JobId, OutputJobInfo>,
    /// Each receiver's rate limit and pending records when the batch completed.
    pub(crate) receivers: Vec<ReceiverStats>,
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
            jobs: BTreeMap::new(),
            receivers: Vec::new(),
        }
    }
}

/// One minute of completed batches, summed (kept for a day after the full batches are gone).
#[derive(Clone, Debug, Default)]
pub(crate) struct Minute {
    /// Its start (ms).
    pub(crate) start: i64,
    pub(crate) batches: u64,
    pub(crate) failed: u64,
    pub(crate) records: u64,
    /// Sums and maxima, ms: scheduling delay, processing time, total delay.
    pub(crate) sum_ms: [u64; 3],
    pub(crate) max_ms: [u64; 3],
}

/// One live event (`/streaming/events`): a batch or receiver change, or an error.
#[derive(Clone, Debug)]
pub(crate) struct LiveEvent {
    pub(crate) id: u64,
    pub(crate) kind: &'static str,
    pub(crate) data: LiveData,
}

/// An event's data, serialized only when a client reads it.
#[derive(Clone, Debug)]
pub(crate) enum LiveData {
    Batch(Box<super::api::BatchJson>),
    Json(String),
}

impl LiveData {
    pub(crate) fn text(&self) -> String {
        match self {
            LiveData::Batch(b) => serde_json::to_string(b).unwrap_or_default(),
            LiveData::Json(s) => s.clone(),
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
    /// How many of `batches` are completed.
    pub(crate) completed_kept: usize,
    pub(crate) total_completed: u64,
    pub(crate) total_processed_records: u64,
    pub(crate) total_received_records: u64,
    pub(crate) receivers: BTreeMap<StreamId, ReceiverRecord>,
    pub(crate) errors: VecDeque<(Time, String)>,
    pub(crate) minutes: VecDeque<Minute>,
    pub(crate) events: VecDeque<LiveEvent>,
    /// The id the next live event gets (ids start at 1).
    pub(crate) next_event: u64,
}

/// The listener behind the UI (and its metrics).
pub(crate) struct StatusStore {
    pub(crate) state: Mutex<State>,
    retained: usize,
    retained_events: usize,
    pub(crate) interval_ms: u64,
    pub(crate) metrics: Arc<Metrics>,
    /// Reads what no event carries (receiver gauges, checkpoint state).
    pub(crate) probe: Probe,
    /// Wakes the live-event streams.
    pub(crate) notify: tokio::sync::Notify,
}

impl StatusStore {
    pub(crate) fn new(
        settings: &super::UiSettings,
        interval_ms: u64,
        metrics: Arc<Metrics>,
        probe: Probe,
    ) -> StatusStore {
        StatusStore {
            state: Mutex::new(State {
                next_event: 1,
                ..State::default()
            }),
            retained: settings.retained_batches.max(1),
            retained_events: settings.retained_events.max(1),
            interval_ms,
            metrics,
            probe,
            notify: tokio::sync::Notify::new(),
        }
    }

    /// What the probe reads now.
    pub(crate) fn live(&self) -> Live {
        (self.probe)()
    }

    /// Appends a live event (the oldest go past `retained_events`) and wakes the streams.
    fn publish(&self, state: &mut State, kind: &'static str, data: LiveData) {
        let id = state.next_event;
        state.next_event += 1;
        state.events.push_back(LiveEvent { id, kind, data });
        while state.events.len() > self.retained_events {
            state.events.pop_front();
        }
        self.notify.notify_waiters();
    }

    fn publish_batch(&self, state: &mut State, time: Time) {
        if let Some(b) = state.batches.get(&time) {
            let data = LiveData::Batch(Box::new(super::api::batch_json(b, self.interval_ms)));
            self.publish(state, "batch", data);
        }
    }

    /// A receiver started or stopped: its state is what the event says.
    fn receiver_changed(&self, info: &ReceiverInfo) {
        let mut s = self.state.lock();
        s.receivers.entry(info.stream).or_default().info = info.clone();
        let data = serde_json::json!({
            "streamId": info.stream.0,
            "streamName": info.name,
            "isActive": info.active,
        })
        .to_string();
        self.publish(&mut s, "receiver", LiveData::Json(data));
    }

    fn error(&self, state: &mut State, time: Time, message: String) {
        let data = serde_json::json!({
            "time": super::api::spark_date(time.millis()),
            "message": message,
        })
        .to_string();
        state.errors.push_back((time, message));
        while state.errors.len() > ERRORS_KEPT {
            state.errors.pop_front();
        }
        self.publish(state, "error", LiveData::Json(data));
    }

    /// Adds a completed batch to its minute's roll-up.
    fn roll_up(state: &mut State, info: &BatchInfo) {
        let start = info.batch_time.millis().div_euclid(60_000) * 60_000;
        if state.minutes.back().is_none_or(|m| m.start != start) {
            state.minutes.push_back(Minute {
                start,
                ..Minute::default()
            });
            while state.minutes.len() > MINUTES_KEPT {
                state.minutes.pop_front();
            }
        }
        let Some(m) = state.minutes.back_mut() else {
            return;
        };
        m.batches += 1;
        m.failed += u64::from(!info.succeeded);
        m.records += info.records;
        let values = [
            info.scheduling_delay,
            info.processing_time,
            info.total_delay,
        ];
        for (i, d) in values.iter().enumerate() {
            let v = d.as_millis() as u64;
            m.sum_ms[i] += v;
            m.max_ms[i] = m.max_ms[i].max(v);
        }
    }

    fn job_changed(&self, job: &OutputJobInfo) {
        let mut s = self.state.lock();
        if let Some(b) = s.batches.get_mut(&job.batch_time)
            && (b.jobs.len() < JOBS_KEPT || b.jobs.contains_key(&job.job.id))
        {
            b.jobs.insert(job.job.id, job.clone());
        }
    }

    /// Keeps the newest `retained` completed batches (queued and running ones always).
    fn trim(&self, state: &mut State) {
        // Completed batches are nearly always the oldest: each removal finds one at the front.
        let mut removed = false;
        while state.completed_kept > self.retained {
            let Some(t) = state
                .batches
                .iter()
                .find(|(_, b)| b.status == BatchStatus::Completed)
                .map(|(t, _)| *t)
            else {
                break;
            };
            state.batches.remove(&t);
            state.completed_kept -= 1;
            removed = true;
        }
        if removed {
            let oldest = state.batches.keys().next().copied();
            for r in state.receivers.values_mut() {
                while r.rates.front().is_some_and(|(t, _)| Some(*t) < oldest) {
                    r.rates.pop_front();
                }
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
        self.publish_batch(&mut s, info.batch_time);
    }

    fn on_batch_started(&self, info: &BatchInfo) {
        self.metrics.batch_started();
        let mut s = self.state.lock();
        if let Some(b) = s.batches.get_mut(&info.batch_time) {
            b.status = BatchStatus::Processing;
            b.info.scheduling_delay = info.scheduling_delay;
            b.info.processing_start_time = info.processing_start_time;
        }
        self.publish_batch(&mut s, info.batch_time);
    }

    fn on_output_job_started(&self, job: &OutputJobInfo) {
        self.job_changed(job);
    }

    fn on_output_job_completed(&self, job: &OutputJobInfo) {
        self.job_changed(job);
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
        let receivers = self.live().receivers;
        let mut s = self.state.lock();
        Self::roll_up(&mut s, info);
        s.total_completed += 1;
        s.total_processed_records += info.records;
        for (stream, n) in &info.stream_records {
            s.receivers
                .entry(*stream)
                .or_default()
                .rates
                .push_back((info.batch_time, *n));
        }
        let (jobs, was_completed) = s
            .batches
            .remove(&info.batch_time)
            .map_or((BTreeMap::new(), false), |b| {
                (b.jobs, b.status == BatchStatus::Completed)
            });
        if !was_completed {
            s.completed_kept += 1;
        }
        let mut record = BatchRecord::new(info, BatchStatus::Completed);
        record.jobs = jobs;
        record.receivers = receivers;
        s.batches.insert(info.batch_time, record);
        self.publish_batch(&mut s, info.batch_time);
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
