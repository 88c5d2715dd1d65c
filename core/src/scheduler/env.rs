//! [`JobEnv`]: what the DAG scheduler runs jobs with — the task pool, the shuffle store (also
//! the map-output tracker), injected faults, job listeners, ids, limits, and the cluster
//! runtime through the traits of `launcher`. A context holds one; the scheduler sees nothing
//! else of it.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, OnceLock};

use super::{JobEvents, JobFollower, TaskLauncher};
use crate::fault::FaultState;
use crate::ids::{JobId, StageId};
use crate::shuffle::ShuffleStore;

/// The scheduler's environment.
pub(crate) struct JobEnv {
    /// Runs local tasks (and, in an executor, the tasks the driver sends).
    pub(crate) pool: rayon::ThreadPool,
    pub(crate) shuffles: Arc<ShuffleStore>,
    pub(crate) faults: Arc<FaultState>,
    /// Job listeners and the threads' local properties.
    pub(crate) events: JobEvents,
    /// `spate.task.maxFailures`.
    pub(crate) max_task_failures: u32,
    /// `spate.stage.maxConsecutiveAttempts`.
    pub(crate) max_stage_attempts: u32,
    /// Set by `Context::stop`: later jobs fail.
    pub(crate) stopped: AtomicBool,
    next_job: AtomicU32,
    next_stage: AtomicU32,
    /// A cluster driver's: where its tasks run.
    launcher: OnceLock<Arc<dyn TaskLauncher>>,
    /// A cluster executor's: how its program follows the driver's jobs.
    follower: OnceLock<Arc<dyn JobFollower>>,
}

impl JobEnv {
    pub(crate) fn new(
        pool: rayon::ThreadPool,
        shuffles: Arc<ShuffleStore>,
        faults: Arc<FaultState>,
        max_task_failures: u32,
        max_stage_attempts: u32,
    ) -> JobEnv {
        JobEnv {
            pool,
            shuffles,
            faults,
            events: JobEvents::default(),
            max_task_failures,
            max_stage_attempts,
            stopped: AtomicBool::new(false),
            next_job: AtomicU32::new(0),
            next_stage: AtomicU32::new(0),
            launcher: OnceLock::new(),
            follower: OnceLock::new(),
        }
    }

    /// A cluster driver's tasks run through `launcher` from now on.
    pub(crate) fn set_launcher(&self, launcher: Arc<dyn TaskLauncher>) {
        let _ = self.launcher.set(launcher);
    }

    /// A cluster executor's jobs are followed through `follower` from now on.
    pub(crate) fn set_follower(&self, follower: Arc<dyn JobFollower>) {
        let _ = self.follower.set(follower);
    }

    pub(crate) fn launcher(&self) -> Option<&Arc<dyn TaskLauncher>> {
        self.launcher.get()
    }

    pub(crate) fn follower(&self) -> Option<&Arc<dyn JobFollower>> {
        self.follower.get()
    }

    pub(crate) fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::SeqCst)
    }

    pub(crate) fn next_job_id(&self) -> JobId {
        JobId(self.next_job.fetch_add(1, Ordering::Relaxed))
    }

    /// The id the next job will get.
    pub(crate) fn peek_job_id(&self) -> JobId {
        JobId(self.next_job.load(Ordering::Relaxed))
    }

    /// The next job gets id `next` (an executor that joined a running application aligns
    /// its jobs with the driver's).
    pub(crate) fn align_job_ids(&self, next: JobId) {
        self.next_job.store(next.0, Ordering::Relaxed);
    }

    pub(crate) fn next_stage_id(&self) -> StageId {
        StageId(self.next_stage.fetch_add(1, Ordering::Relaxed))
    }
}
