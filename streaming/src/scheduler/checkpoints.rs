//! [`Checkpoints`]: the driver's record of its batches — the last one generated and those not
//! yet completed — written to the checkpoint directory as each batch is generated and
//! completed, with what every stream needs to resume. A restored context starts from it.

use std::collections::BTreeSet;
use std::sync::Arc;

use parking_lot::Mutex;

use crate::common::Time;
use crate::dstream::StreamGraph;
use crate::error::Error;
use crate::listener::{Event, Reporter};
use crate::recovery::checkpoint::{Checkpointer, METADATA_VERSION, Metadata};

/// Which batches have been generated and not completed.
#[derive(Default)]
struct Progress {
    last_generated: Option<Time>,
    pending: BTreeSet<Time>,
}

/// Where a restored context resumes: its zero time, and the batches to run again.
pub(crate) struct Resume {
    pub(crate) zero: Time,
    pub(crate) last_generated: Option<Time>,
    pub(crate) pending: Vec<Time>,
}

/// The driver's batches, and their metadata written while running with a checkpoint directory.
pub(crate) struct Checkpoints {
    graph: Arc<StreamGraph>,
    reporter: Reporter,
    progress: Mutex<Progress>,
    /// Writes the metadata, from start (with a checkpoint directory) to stop.
    writer: Mutex<Option<Checkpointer>>,
    /// The last write failed ([`Error::CheckpointWriteFailed`]); cleared by a successful one.
    /// Still set at stop: the stop says so.
    failing: Mutex<Option<Error>>,
    /// The batch time of the last metadata written (for the UI).
    last: Mutex<Option<Time>>,
    /// State checkpoints failed in a row, and the last failure while they fail.
    state_failures: Mutex<(u32, Option<Error>)>,
    /// `spate.streaming.checkpoint.maxStateFailures`.
    max_state_failures: u32,
    /// Set by a restore, taken by the scheduler's start.
    restored: Mutex<Option<Time>>,
}

impl Checkpoints {
    pub(crate) fn new(
        graph: Arc<StreamGraph>,
        reporter: Reporter,
        max_state_failures: u32,
    ) -> Checkpoints {
        Checkpoints {
            graph,
            reporter,
            state_failures: Mutex::default(),
            max_state_failures,
            progress: Mutex::default(),
            writer: Mutex::new(None),
            failing: Mutex::new(None),
            last: Mutex::new(None),
            restored: Mutex::new(None),
        }
    }

    /// Starts writing metadata to `writer` (at start, with a checkpoint directory).
    pub(crate) fn open(&self, writer: Checkpointer) {
        *self.writer.lock() = Some(writer);
    }

    /// A restore: where the scheduler resumes when it starts.
    pub(crate) fn restore(&self, resume: Resume) {
        let mut p = self.progress.lock();
        p.last_generated = resume.last_generated;
        p.pending = resume.pending.into_iter().collect();
        *self.restored.lock() = Some(resume.zero);
    }

    /// The restored zero time, with the last batch generated and the batches to run again.
    pub(crate) fn take_resume(&self) -> Option<Resume> {
        let zero = self.restored.lock().take()?;
        let p = self.progress.lock();
        Some(Resume {
            zero,
            last_generated: p.last_generated,
            pending: p.pending.iter().copied().collect(),
        })
    }

    /// Batch `time` was generated: recorded, and the metadata written.
    pub(crate) fn generated(&self, time: Time) {
        self.record(time, |p| {
            p.pending.insert(time);
            p.last_generated = Some(p.last_generated.map_or(time, |l| l.max(time)));
        });
    }

    /// After batch `time`'s jobs: the state checkpoints due then, written or failed. A failure
    /// is logged (once per run of failures), reported to listeners (and so the status page and
    /// metrics) and leaves the stream going; `Err` once `max_state_failures` failed in a row.
    pub(crate) fn state_checkpointed(&self, time: Time) -> Result<(), Error> {
        let outcomes: Vec<(String, Result<(), String>)> = self
            .graph
            .live_streams()
            .iter()
            .filter_map(|s| Some((s.key(), s.checkpoint_outcome(time)?)))
            .collect();
        let failed = outcomes
            .iter()
            .find_map(|(k, o)| Some((k, o.as_ref().err()?)));
        let mut st = self.state_failures.lock();
        match failed {
            Some((stream, reason)) => {
                st.0 += 1;
                let failures = st.0;
                let err = || Error::StateCheckpointFailed {
                    stream: stream.clone(),
                    time,
                    failures,
                    max: self.max_state_failures,
                    reason: reason.clone(),
                };
                let message = err().to_string();
                if failures == 1 {
                    tracing::error!("{message}");
                }
                st.1 = Some(err());
                drop(st);
                self.reporter.post(Event::CheckpointError(time, message));
                if failures >= self.max_state_failures {
                    Err(err())
                } else {
                    Ok(())
                }
            }
            None if !outcomes.is_empty() => {
                if st.1.take().is_some() {
                    tracing::warn!("state checkpoints are written again (the batch of {time})");
                }
                st.0 = 0;
                Ok(())
            }
            None => Ok(()),
        }
    }

    /// Batch `time` completed: a restart does not run it again.
    pub(crate) fn completed(&self, time: Time) {
        self.record(time, |p| {
            p.pending.remove(&time);
        });
    }

    fn record(&self, time: Time, change: impl FnOnce(&mut Progress)) {
        // The writer's lock first, held through the write: metadata is written in the order
        // the progress changed.
        let mut writer = self.writer.lock();
        change(&mut self.progress.lock());
        self.write(writer.as_mut(), time);
    }

    /// Writes the metadata as of now, if checkpointing; `time` is what it is for.
    pub(crate) fn write_now(&self, time: Time) {
        self.write(self.writer.lock().as_mut(), time);
    }

    /// A failed write is logged and reported to listeners: the stream goes on (only a restart
    /// would resume from an older checkpoint), and a stop while the writes still fail is an
    /// error.
    fn write(&self, writer: Option<&mut Checkpointer>, time: Time) {
        let Some(writer) = writer else {
            return;
        };
        let md = self.metadata(time);
        let mut failing = self.failing.lock();
        match writer.write(&md) {
            Ok(()) => {
                *self.last.lock() = Some(time);
                if failing.take().is_some() {
                    tracing::warn!("driver checkpoints are written again (the batch of {time})");
                }
            }
            Err(e) => {
                let err = Error::CheckpointWriteFailed {
                    time,
                    dir: self.graph.checkpoint_base().unwrap_or_default(),
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
                self.reporter.post(Event::CheckpointError(time, message));
            }
        }
    }

    fn metadata(&self, time: Time) -> Metadata {
        let streams = self.graph.live_streams();
        // Inputs keep their batches back to the oldest state a restart resumes from, and for
        // the longest window.
        let horizon = self.graph.horizon(time);
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
        Metadata {
            version: METADATA_VERSION,
            batch_interval_ms: self.graph.batch_interval.as_millis() as u64,
            zero_time: self.graph.zero_time(),
            time,
            last_generated,
            pending,
            streams: streams
                .iter()
                .filter_map(|s| s.snapshot(keep_from))
                .collect(),
        }
    }

    /// The batch time of the last metadata written.
    #[cfg(feature = "ui")]
    pub(crate) fn last_written(&self) -> Option<Time> {
        *self.last.lock()
    }

    /// Why the last metadata or state checkpoint failed, while they fail.
    #[cfg(feature = "ui")]
    pub(crate) fn failing(&self) -> Option<String> {
        let metadata = self.failing.lock().as_ref().map(ToString::to_string);
        metadata.or_else(|| {
            self.state_failures
                .lock()
                .1
                .as_ref()
                .map(ToString::to_string)
        })
    }

    /// Why the writes were still failing at stop (and forgets it).
    pub(crate) fn take_failure(&self) -> Option<Error> {
        let metadata = self.failing.lock().take();
        metadata.or_else(|| self.state_failures.lock().1.take())
    }
}
