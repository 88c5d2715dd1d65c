//! Job, stage and task events of the DAG scheduler ([`JobListener`]), and the per-thread
//! local properties that tag the jobs a thread runs (Spark's `setLocalProperty`: the streaming
//! scheduler marks each output operation's jobs with its batch and operation).
//!
//! Listeners are called synchronously on the thread running the job, so they must be quick;
//! the streaming layer hands the events to its bounded listener bus at once.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::thread::ThreadId;

use parking_lot::{Mutex, RwLock};

use crate::ids::{JobId, StageId, TaskId};

/// One stage of a job, as listeners see it.
///
/// # Examples
///
/// ```
/// use spate_core::ids::StageId;
/// use spate_core::scheduler::StageInfo;
/// let s = StageInfo { id: StageId(1), name: "map at main.rs:3".into(), tasks: 4, launched_tasks: 4, ..Default::default() };
/// assert!(!s.skipped());
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StageInfo {
    /// The stage.
    pub id: StageId,
    /// What it computes (its last RDD and where the program made it).
    pub name: String,
    /// The partitions it computes (a result stage: those the action asked for).
    pub tasks: usize,
    /// Task attempts that succeeded (filled in at job end).
    pub completed_tasks: usize,
    /// Task attempts that failed (filled in at job end; a rerun after a lost executor is not
    /// counted).
    pub failed_tasks: usize,
    /// Task attempts launched (filled in at job end; 0 for a stage whose outputs existed).
    pub launched_tasks: usize,
    /// Whether it is the job's result stage (the others write shuffle outputs).
    pub result: bool,
}

impl StageInfo {
    /// Whether the stage ran no task because its outputs were already there (Spark's
    /// "skipped" stages).
    ///
    /// # Examples
    ///
    /// ```
    /// let s = spate_core::scheduler::StageInfo { tasks: 2, launched_tasks: 0, ..Default::default() };
    /// assert!(s.skipped());
    /// ```
    pub fn skipped(&self) -> bool {
        self.tasks > 0 && self.launched_tasks == 0
    }
}

/// One job (one action), as listeners see it.
///
/// # Examples
///
/// ```
/// use spate_core::ids::JobId;
/// use spate_core::scheduler::JobInfo;
/// let j = JobInfo { id: JobId(0), ..Default::default() };
/// assert!(j.succeeded());
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JobInfo {
    /// The job.
    pub id: JobId,
    /// Its stages, parents before children; the result stage last.
    pub stages: Vec<StageInfo>,
    /// The local properties of the thread that ran it (see [`crate::Context::set_local_property`]).
    pub properties: Arc<BTreeMap<String, String>>,
    /// Why it failed (only at job end).
    pub failure: Option<String>,
}

impl JobInfo {
    /// Whether the job succeeded (or is still running).
    ///
    /// # Examples
    ///
    /// ```
    /// let j = spate_core::scheduler::JobInfo { failure: Some("boom".into()), ..Default::default() };
    /// assert!(!j.succeeded());
    /// ```
    pub fn succeeded(&self) -> bool {
        self.failure.is_none()
    }
}

/// How one task attempt ended.
///
/// # Examples
///
/// ```
/// use spate_core::ids::{JobId, StageId, TaskId};
/// use spate_core::scheduler::TaskEnd;
/// let t = TaskEnd { task: TaskId { job: JobId(0), stage: StageId(0), partition: 1, attempt: 0 }, failure: None };
/// assert!(t.failure.is_none());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskEnd {
    /// The attempt.
    pub task: TaskId,
    /// Why it failed, if it did.
    pub failure: Option<String>,
}

/// Hears the scheduler's job, stage and task events. Every method has an empty default.
///
/// Called on the thread that runs the job, between its tasks: keep it quick (hand the event
/// to a queue). Only the driver of a cluster application (or a local context) emits events.
///
/// # Examples
///
/// ```
/// use std::sync::{Arc, atomic::{AtomicUsize, Ordering}};
/// use spate_core::scheduler::{JobInfo, JobListener};
/// struct Jobs(AtomicUsize);
/// impl JobListener for Jobs {
///     fn on_job_end(&self, _: &JobInfo) { self.0.fetch_add(1, Ordering::Relaxed); }
/// }
/// let ctx = spate_core::Context::local(1).unwrap();
/// let jobs = Arc::new(Jobs(AtomicUsize::new(0)));
/// ctx.add_job_listener(jobs.clone());
/// ctx.parallelize(vec![1, 2, 3], 2).count().unwrap();
/// assert_eq!(jobs.0.load(Ordering::Relaxed), 1);
/// ```
pub trait JobListener: Send + Sync + 'static {
    /// A job was cut into stages and is about to launch its first tasks.
    fn on_job_start(&self, job: &JobInfo) {
        let _ = job;
    }
    /// One task attempt ended.
    fn on_task_end(&self, task: &TaskEnd) {
        let _ = task;
    }
    /// A job ended (see [`JobInfo::failure`]); its stages carry their task counts.
    fn on_job_end(&self, job: &JobInfo) {
        let _ = job;
    }
}

/// A context's job listeners and its threads' local properties.
#[derive(Default)]
pub(crate) struct JobEvents {
    listeners: RwLock<Vec<Arc<dyn JobListener>>>,
    properties: Mutex<HashMap<ThreadId, Arc<BTreeMap<String, String>>>>,
}

impl JobEvents {
    pub(crate) fn add(&self, listener: Arc<dyn JobListener>) {
        self.listeners.write().push(listener);
    }

    /// The listeners, or `None` when there are none (no event is built then).
    pub(crate) fn listeners(&self) -> Option<Vec<Arc<dyn JobListener>>> {
        let l = self.listeners.read();
        (!l.is_empty()).then(|| l.clone())
    }

    pub(crate) fn set_property(&self, key: &str, value: Option<&str>) {
        let id = std::thread::current().id();
        let mut all = self.properties.lock();
        let mut props = all.get(&id).map(|p| (**p).clone()).unwrap_or_default();
        match value {
            Some(v) => props.insert(key.to_string(), v.to_string()),
            None => props.remove(key),
        };
        // A thread without properties takes no room: threads come and go.
        if props.is_empty() {
            all.remove(&id);
        } else {
            all.insert(id, Arc::new(props));
        }
    }

    pub(crate) fn properties(&self) -> Arc<BTreeMap<String, String>> {
        self.properties
            .lock()
            .get(&std::thread::current().id())
            .cloned()
            .unwrap_or_default()
    }
}
