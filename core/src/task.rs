//! What a running task knows about itself.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;

use crate::ids::{RddId, ShuffleId, StageId, TaskId};

/// Handed to every partition computation: which task attempt is running.
///
/// # Examples
///
/// ```
/// let ctx = spate_core::Context::local(2).unwrap();
/// let parts = ctx
///     .parallelize(vec![1, 2, 3, 4], 2)
///     .map_partitions_with_index(|i, it| it.map(move |x| (i, x)))
///     .collect()
///     .unwrap();
/// assert_eq!(parts, [(0, 1), (0, 2), (1, 3), (1, 4)]);
/// ```
#[derive(Clone, Debug)]
pub struct TaskContext {
    pub(crate) task: TaskId,
    /// In an executor process: where the task's shuffle inputs live and what it cached.
    pub(crate) placement: Option<Arc<TaskPlacement>>,
}

impl TaskContext {
    pub(crate) fn new(task: TaskId) -> TaskContext {
        TaskContext {
            task,
            placement: None,
        }
    }

    /// Records that this task put partition `partition` of `rdd` in its block store, so the
    /// driver learns where the block lives (cluster mode only).
    pub(crate) fn note_cached(&self, rdd: RddId, partition: usize) {
        if let Some(p) = &self.placement {
            p.cached.lock().push((rdd, partition));
        }
    }

    /// The task's full id.
    ///
    /// # Examples
    ///
    /// ```
    /// # use spate_core::ids::*;
    /// let tc = spate_core::TaskContext::for_test(TaskId { job: JobId(0), stage: StageId(0), partition: 1, attempt: 2 });
    /// assert_eq!(tc.id().attempt, 2);
    /// ```
    pub fn id(&self) -> TaskId {
        self.task
    }

    /// The partition being computed.
    ///
    /// # Examples
    ///
    /// ```
    /// # use spate_core::ids::*;
    /// let tc = spate_core::TaskContext::for_test(TaskId { job: JobId(0), stage: StageId(0), partition: 1, attempt: 0 });
    /// assert_eq!(tc.partition(), 1);
    /// ```
    pub fn partition(&self) -> usize {
        self.task.partition
    }

    /// The attempt number, from 0.
    ///
    /// # Examples
    ///
    /// ```
    /// # use spate_core::ids::*;
    /// let tc = spate_core::TaskContext::for_test(TaskId { job: JobId(0), stage: StageId(0), partition: 0, attempt: 3 });
    /// assert_eq!(tc.attempt(), 3);
    /// ```
    pub fn attempt(&self) -> u32 {
        self.task.attempt
    }

    /// The stage the task belongs to.
    ///
    /// # Examples
    ///
    /// ```
    /// # use spate_core::ids::*;
    /// let tc = spate_core::TaskContext::for_test(TaskId { job: JobId(0), stage: StageId(5), partition: 0, attempt: 0 });
    /// assert_eq!(tc.stage(), StageId(5));
    /// ```
    pub fn stage(&self) -> StageId {
        self.task.stage
    }

    /// A context for calling computations outside a scheduler (tests, tools).
    ///
    /// # Examples
    ///
    /// ```
    /// # use spate_core::ids::*;
    /// let tc = spate_core::TaskContext::for_test(TaskId { job: JobId(9), stage: StageId(0), partition: 0, attempt: 0 });
    /// assert_eq!(tc.id().job, JobId(9));
    /// ```
    pub fn for_test(task: TaskId) -> TaskContext {
        TaskContext::new(task)
    }
}

/// What a task running in an executor knows about where its inputs are.
#[derive(Debug, Default)]
pub(crate) struct TaskPlacement {
    /// Per shuffle (driver id) the task reads: the service address of each map output.
    pub(crate) shuffles: HashMap<ShuffleId, Vec<String>>,
    /// RDD partitions (executor ids) the task put in the block store.
    pub(crate) cached: Mutex<Vec<(RddId, usize)>>,
}
