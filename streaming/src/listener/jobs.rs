//! The core scheduler's jobs, seen from streaming: the batch scheduler tags the jobs of each
//! output operation with local properties (batch time, operation id); this bridge turns the
//! core's [`JobListener`] events carrying them into streaming events on the bounded bus.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;
use spate_core::ids::JobId;
use spate_core::scheduler::{JobInfo, JobListener};

use super::Event;
use super::Reporter;
use crate::common::{Clock, Time};

/// The local property naming a job's batch (its time in ms).
pub(crate) const BATCH_TIME: &str = "spate.streaming.batchTime";
/// The local property naming a job's output operation (its id in the batch).
pub(crate) const OUTPUT_OP_ID: &str = "spate.streaming.outputOpId";

/// One job that an output operation of a batch ran.
///
/// # Examples
///
/// ```
/// use spate_streaming::{OutputJobInfo, Time};
/// let j = OutputJobInfo { batch_time: Time::from_millis(1000), output_op_id: 0, ..Default::default() };
/// assert!(j.end_time.is_none());
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OutputJobInfo {
    /// The batch.
    pub batch_time: Time,
    /// The output operation of the batch that ran it.
    pub output_op_id: usize,
    /// The job: its id, stages (with task counts at its end) and failure.
    pub job: JobInfo,
    /// When it started (the context's clock).
    pub start_time: Time,
    /// When it ended (`None` while running).
    pub end_time: Option<Time>,
}

/// Forwards the core's job events of streaming output operations to the listener bus.
pub(crate) struct JobBridge {
    clock: Arc<dyn Clock>,
    reporter: Reporter,
    /// Start times of running jobs (a handful: one per running output operation).
    started: Mutex<HashMap<JobId, Time>>,
}

impl JobBridge {
    fn forward(&self, job: &JobInfo, ended: bool) {
        let props = &job.properties;
        let (Some(time), Some(op)) = (
            props.get(BATCH_TIME).and_then(|t| t.parse::<i64>().ok()),
            props
                .get(OUTPUT_OP_ID)
                .and_then(|o| o.parse::<usize>().ok()),
        ) else {
            return; // not a streaming output operation's job
        };
        let now = self.clock.now();
        let start_time = if ended {
            self.started.lock().remove(&job.id).unwrap_or(now)
        } else {
            self.started.lock().insert(job.id, now);
            now
        };
        let info = OutputJobInfo {
            batch_time: Time::from_millis(time),
            output_op_id: op,
            job: job.clone(),
            start_time,
            end_time: ended.then_some(now),
        };
        self.reporter.post(if ended {
            Event::JobCompleted(info)
        } else {
            Event::JobStarted(info)
        });
    }
}

impl JobListener for JobBridge {
    fn on_job_start(&self, job: &JobInfo) {
        self.forward(job, false);
    }
    fn on_job_end(&self, job: &JobInfo) {
        self.forward(job, true);
    }
}

/// Registers the bridge on `ctx`: its streaming jobs' events go to `reporter`, timed by `clock`.
pub(crate) fn bridge(ctx: &spate_core::Context, clock: Arc<dyn Clock>, reporter: Reporter) {
    ctx.add_job_listener(Arc::new(JobBridge {
        clock,
        reporter,
        started: Mutex::new(HashMap::new()),
    }));
}
