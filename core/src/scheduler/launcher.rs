//! The cluster runtime as the scheduler sees it, through two traits it defines and
//! `cluster/` implements: a driver's [`TaskLauncher`] (where its tasks run) and an executor's
//! [`JobFollower`] (how its program follows the driver's jobs). The scheduler knows nothing
//! else of the cluster runtime.

use std::sync::Arc;
use std::time::Instant;

use crate::dag::RddBase;
use crate::error::Result;
use crate::ids::{JobId, ShuffleId, TaskId};
use crate::task::TaskContext;

/// Called once with a remote task's outcome: its encoded result (a result task), or an empty
/// frame (a map task), or why it failed.
pub(crate) type TaskDoneFn = Box<dyn FnOnce(Result<Vec<u8>>) + Send>;

/// Computes result partition `p` and encodes it (for the driver of a followed job).
pub(crate) type EncodedResultFn = Arc<dyn Fn(usize, &TaskContext) -> Result<Vec<u8>> + Send + Sync>;

/// A task the scheduler wants run on some executor.
pub(crate) struct RemoteTask {
    pub(crate) id: TaskId,
    /// The shuffle (driver id) a map task writes; `None` for a result task.
    pub(crate) map_shuffle: Option<ShuffleId>,
    /// The shuffles whose outputs the task may read.
    pub(crate) reads: Vec<ShuffleId>,
    /// Executors holding cached blocks the task reads.
    pub(crate) preferred: Vec<u32>,
    pub(crate) done: TaskDoneFn,
    /// When the scheduler submitted it (for the locality wait).
    pub(crate) submitted: Instant,
}

/// Where a cluster driver's tasks run.
pub(crate) trait TaskLauncher: Send + Sync {
    /// Job `job` starts with `final_rdd`: executors reaching the same job are paired with it.
    fn job_started(&self, job: JobId, final_rdd: &Arc<dyn RddBase>);
    /// Job `job` ended: every executor's program gets the same outcome (its encoded results,
    /// or its error).
    fn job_ended(&self, job: JobId, outcome: std::result::Result<Vec<u8>, String>);
    /// Executors holding cached blocks that `partition` of `rdd` reads.
    fn preferred_executors(&self, rdd: &Arc<dyn RddBase>, partition: usize) -> Vec<u32>;
    /// Runs `task` on an executor; its `done` is called with the outcome.
    fn submit(&self, task: RemoteTask);
}

/// How an executor's program follows the driver's jobs.
pub(crate) trait JobFollower: Send + Sync {
    /// Waits for the driver's run of job `job`, which this process reached with `final_rdd`,
    /// running the tasks it is sent meanwhile (`result` computes and encodes a result
    /// partition); returns the job's encoded results, as the driver's action got them.
    fn follow_job(
        &self,
        job: JobId,
        final_rdd: Arc<dyn RddBase>,
        result: EncodedResultFn,
    ) -> Result<Vec<u8>>;
}
