//! The DAG scheduler: runs a job by cutting it into stages at shuffles, running each stage's
//! missing tasks in parallel on the context's executor pool once its parent stages' outputs are
//! available, retrying failed tasks, and recomputing lost shuffle outputs from lineage.
//!
//! The event loop runs on the calling thread; tasks run on the pool and report back over a
//! channel. A task is named by plain ids ([`TaskId`]); what it runs is resolved from the stage
//! graph, which every process builds identically from the same program.

mod env;
mod launcher;
mod listener;
mod stage;

use std::collections::{HashMap, HashSet};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use crossbeam_channel::unbounded;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::dag::RddBase;
use crate::error::{Error, Result};
use crate::ids::{JobId, TaskId};
use crate::task::TaskContext;
pub(crate) use env::JobEnv;
pub(crate) use launcher::{EncodedResultFn, JobFollower, RemoteTask, TaskDoneFn, TaskLauncher};
pub(crate) use listener::JobEvents;
pub use listener::{JobInfo, JobListener, StageInfo, TaskEnd};
use stage::{StageGraph, StageKind};

/// How long a cluster driver's job waits for a task event before it logs what it waits for.
const WAIT_REPORT: std::time::Duration = std::time::Duration::from_secs(20);

/// Computes one partition of the final RDD and applies the action's function to it.
pub(crate) type ResultFn<R> = Arc<dyn Fn(usize, &TaskContext) -> Result<R> + Send + Sync>;

struct TaskEvent<R> {
    stage: usize,
    id: TaskId,
    outcome: Result<Option<R>>,
}

/// The text of a panic payload.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic with a non-string payload".to_string())
}

/// Errors that retrying the same task cannot fix: the job fails with them as they are.
pub(crate) fn is_fatal(e: &Error) -> bool {
    matches!(
        e,
        Error::Corrupt { .. }
            | Error::CheckpointDirNotSet
            | Error::NestedJob
            | Error::OutputExists { .. }
            | Error::InputBlockLost { .. }
            | Error::Cluster { .. }
            | Error::RemoteTask { fatal: true, .. }
            | Error::Input { fatal: true, .. }
    )
}

/// What a task result must be: sent between processes in cluster mode.
pub(crate) trait TaskResult: Send + Serialize + DeserializeOwned + 'static {}
impl<R: Send + Serialize + DeserializeOwned + 'static> TaskResult for R {}

/// Runs `result_fn` over `partitions` of `final_rdd`, returning results in partition order.
///
/// In a cluster driver the tasks run in executors and the results are then sent to every
/// executor; in an executor the job is *followed*: the driver runs it and its result is
/// returned here too (see `cluster::executor`).
///
/// A `driver_only` job's results go to the driver's caller only: executors learn that it
/// ended (and how), not its data, and their run returns no results.
pub(crate) fn run_job<R: TaskResult>(
    ctx: &JobEnv,
    final_rdd: Arc<dyn RddBase>,
    partitions: Vec<usize>,
    result_fn: ResultFn<R>,
    driver_only: bool,
) -> Result<Vec<R>> {
    if ctx.is_stopped() {
        return Err(Error::ContextStopped);
    }
    if ctx.pool.current_thread_index().is_some() {
        return Err(Error::NestedJob);
    }
    if let Some(follower) = ctx.follower() {
        let encoded: EncodedResultFn =
            Arc::new(move |p, tc| result_fn(p, tc).and_then(|r| crate::codec::encode(&r)));
        let frame = follower.follow_job(ctx.next_job_id(), final_rdd, encoded)?;
        if driver_only {
            return Ok(Vec::new());
        }
        return crate::codec::decode::<Vec<R>>(&frame, "a job result from the driver");
    }
    let job = ctx.next_job_id();
    let driver = ctx.launcher().cloned();
    if let Some(d) = &driver {
        d.job_started(job, &final_rdd);
    }
    let graph = StageGraph::build(ctx, final_rdd);
    let listeners = ctx.events.listeners();
    let mut info = listeners.as_ref().map(|ls| {
        let info = JobInfo {
            id: job,
            stages: graph
                .stages
                .iter()
                .map(|s| StageInfo {
                    id: s.id,
                    name: s.describe(),
                    // A result stage computes only the partitions the action asked for.
                    tasks: match s.kind {
                        StageKind::Result => partitions.len(),
                        StageKind::ShuffleMap(_) => s.rdd.num_partitions(),
                    },
                    result: matches!(s.kind, StageKind::Result),
                    ..StageInfo::default()
                })
                .collect(),
            properties: ctx.events.properties(),
            failure: None,
        };
        tell(ls, |l| l.on_job_start(&info));
        info
    });
    let n_stages = graph.stages.len();
    let mut run = Job {
        ctx,
        job,
        graph,
        result_fn,
        partitions,
        driver: driver.clone(),
        listeners,
        stats: vec![TaskCounts::default(); n_stages],
    };
    let out = run.run();
    if let (Some(ls), Some(info)) = (&run.listeners, &mut info) {
        for (stage, counts) in info.stages.iter_mut().zip(&run.stats) {
            stage.launched_tasks = counts.launched;
            stage.completed_tasks = counts.completed;
            stage.failed_tasks = counts.failed;
        }
        info.failure = out.as_ref().err().map(|e| e.to_string());
        tell(ls, |l| l.on_job_end(info));
    }
    if let Some(d) = driver {
        // Every executor's program gets the same result (or error) as the driver's — or, for
        // a driver-only job, that it succeeded.
        let outcome = match &out {
            Ok(_) if driver_only => Ok(Vec::new()),
            Ok(results) => crate::codec::encode(results).map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        d.job_ended(job, outcome);
    }
    out
}

/// Calls every listener; a panicking one is logged and the job goes on.
fn tell(listeners: &[Arc<dyn JobListener>], f: impl Fn(&dyn JobListener)) {
    for l in listeners {
        if catch_unwind(AssertUnwindSafe(|| f(&**l))).is_err() {
            tracing::error!("a job listener panicked; it keeps getting events");
        }
    }
}

/// Task attempts of one stage, for the job-end event.
#[derive(Clone, Copy, Default)]
struct TaskCounts {
    launched: usize,
    completed: usize,
    failed: usize,
}

struct Job<'a, R> {
    ctx: &'a JobEnv,
    job: JobId,
    graph: StageGraph,
    result_fn: ResultFn<R>,
    partitions: Vec<usize>,
    driver: Option<Arc<dyn TaskLauncher>>,
    listeners: Option<Vec<Arc<dyn JobListener>>>,
    stats: Vec<TaskCounts>,
}

impl<R: TaskResult> Job<'_, R> {
    /// Counts a finished attempt and tells the listeners.
    fn task_ended<T>(&mut self, stage: usize, id: TaskId, outcome: &Result<T>) {
        let counts = &mut self.stats[stage];
        match outcome {
            Ok(_) => counts.completed += 1,
            // Not the task's fault, and rerun without counting an attempt.
            Err(Error::ExecutorLost { .. }) => {}
            Err(_) => counts.failed += 1,
        }
        if let Some(ls) = &self.listeners {
            let end = TaskEnd {
                task: id,
                failure: outcome.as_ref().err().map(|e| e.to_string()),
            };
            tell(ls, |l| l.on_task_end(&end));
        }
    }

    fn run(&mut self) -> Result<Vec<R>> {
        let n_stages = self.graph.stages.len();
        let mut results: Vec<Option<R>> = self.partitions.iter().map(|_| None).collect();
        let slot_of: HashMap<usize, usize> = self
            .partitions
            .iter()
            .enumerate()
            .map(|(i, &p)| (p, i))
            .collect();
        let mut remaining = results.len();
        let mut running: HashSet<(usize, usize)> = HashSet::new();
        let mut launches: HashMap<(usize, usize), u32> = HashMap::new();
        let mut failures: HashMap<(usize, usize), u32> = HashMap::new();
        let mut fetch_failures = vec![0u32; n_stages];
        let mut map_stage_done = vec![false; n_stages];
        let (tx, rx) = unbounded::<TaskEvent<R>>();

        while remaining > 0 {
            // Launch every task whose inputs are available and that is not already running.
            for (si, stage) in self.graph.stages.iter().enumerate() {
                let ready = stage
                    .parents
                    .iter()
                    .all(|&p| self.map_outputs_missing(p).is_empty());
                if !ready {
                    continue;
                }
                let missing: Vec<usize> = match &stage.kind {
                    StageKind::ShuffleMap(_) => {
                        let mut missing = self.map_outputs_missing(si);
                        if missing.is_empty() && !map_stage_done[si] {
                            map_stage_done[si] = true;
                            // Completion hooks (fault injection) may lose outputs: look again.
                            self.after_map_stage(si);
                            missing = self.map_outputs_missing(si);
                        }
                        missing
                    }
                    StageKind::Result => self
                        .partitions
                        .iter()
                        .enumerate()
                        .filter(|(i, _)| results[*i].is_none())
                        .map(|(_, &p)| p)
                        .collect(),
                };
                for partition in missing {
                    if !running.insert((si, partition)) {
                        continue;
                    }
                    let attempt = launches.entry((si, partition)).or_insert(0);
                    let id = TaskId {
                        job: self.job,
                        stage: stage.id,
                        partition,
                        attempt: *attempt,
                    };
                    *attempt += 1;
                    self.stats[si].launched += 1;
                    self.launch(si, id, tx.clone());
                }
            }
            if running.is_empty() {
                // Nothing can run and nothing is running: never wait forever.
                return Err(Error::Internal(format!("{}: no task can run", self.job)));
            }
            let ev = self.next_event(&rx, &running)?;
            running.remove(&(ev.stage, ev.id.partition));
            self.task_ended(ev.stage, ev.id, &ev.outcome);
            match ev.outcome {
                Ok(Some(r)) => {
                    if let Some(&slot) = slot_of.get(&ev.id.partition)
                        && results[slot].is_none()
                    {
                        results[slot] = Some(r);
                        remaining -= 1;
                    }
                }
                Ok(None) => {}
                Err(Error::FetchFailed { shuffle, map, .. }) => {
                    // Map outputs are gone: unregister them so their map tasks run again; this
                    // task runs again once the parent stage is whole. Several tasks reporting
                    // the same loss count as one stage re-run.
                    let mut has_stage = self.graph.stages.iter().any(|s| {
                        matches!(&s.kind, StageKind::ShuffleMap(d) if d.shuffle_id() == shuffle)
                    });
                    if !has_stage
                        && self
                            .graph
                            .add_stage_behind_cache(self.ctx, ev.stage, shuffle)
                            .is_some()
                    {
                        let n = self.graph.stages.len();
                        fetch_failures.resize(n, 0);
                        map_stage_done.resize(n, false);
                        self.stats.resize(n, TaskCounts::default());
                        has_stage = true;
                        tracing::warn!(
                            "{}: {shuffle}, behind a cached RDD, lost outputs its tasks read; \
                             recomputing them",
                            self.job
                        );
                    }
                    if self.ctx.shuffles.unregister_lost(shuffle, map) == 0 && has_stage {
                        continue;
                    }
                    for (i, s) in self.graph.stages.iter().enumerate() {
                        if matches!(&s.kind, StageKind::ShuffleMap(d) if d.shuffle_id() == shuffle)
                        {
                            map_stage_done[i] = false;
                        }
                    }
                    // A shuffle without a stage here cannot be recomputed by this job: it
                    // fails after the same attempts instead of retrying forever.
                    fetch_failures[ev.stage] += 1;
                    if fetch_failures[ev.stage] >= self.ctx.max_stage_attempts {
                        let reason = if has_stage {
                            format!("shuffle output kept being lost ({shuffle} map {map})")
                        } else {
                            format!("it reads {shuffle}, which has no stage in this job")
                        };
                        return Err(self.abort(
                            ev.stage,
                            ev.id.partition,
                            fetch_failures[ev.stage],
                            reason,
                        ));
                    }
                    tracing::warn!(
                        "{}: lost {shuffle} map output {map}; recomputing it",
                        self.job
                    );
                }
                Err(Error::ExecutorLost { executor, reason }) => {
                    // Not the task's fault: rerun it without counting an attempt.
                    tracing::warn!(
                        "{}: partition {} of {} was on lost executor {executor} ({reason}); \
                         rerunning it",
                        self.job,
                        ev.id.partition,
                        self.graph.stages[ev.stage].id
                    );
                }
                Err(e) if is_fatal(&e) => return Err(e),
                Err(e) => {
                    let n = failures.entry((ev.stage, ev.id.partition)).or_insert(0);
                    *n += 1;
                    tracing::warn!(
                        "{}: partition {} of {} failed (attempt {n}): {e}",
                        self.job,
                        ev.id.partition,
                        self.graph.stages[ev.stage].id
                    );
                    if *n >= self.ctx.max_task_failures {
                        return Err(self.abort(ev.stage, ev.id.partition, *n, e.to_string()));
                    }
                }
            }
        }
        Ok(results.into_iter().flatten().collect())
    }

    /// The next task event. In a cluster driver, a wait of [`WAIT_REPORT`] is logged with the
    /// tasks waited for (the driver logs its side: which are queued, which run where).
    fn next_event(
        &self,
        rx: &crossbeam_channel::Receiver<TaskEvent<R>>,
        running: &HashSet<(usize, usize)>,
    ) -> Result<TaskEvent<R>> {
        let closed = || Error::Internal(format!("{}: task channel closed", self.job));
        if self.driver.is_none() {
            return rx.recv().map_err(|_| closed());
        }
        loop {
            match rx.recv_timeout(WAIT_REPORT) {
                Ok(ev) => return Ok(ev),
                Err(crossbeam_channel::RecvTimeoutError::Timeout) => {
                    let mut waited: Vec<String> = running
                        .iter()
                        .map(|(si, p)| format!("{} partition {p}", self.graph.stages[*si].id))
                        .collect();
                    waited.sort();
                    let report = format!(
                        "spate: {} has waited {}s for {} task(s): {}",
                        self.job,
                        WAIT_REPORT.as_secs(),
                        running.len(),
                        waited.join(", ")
                    );
                    tracing::warn!("{report}");
                    eprintln!("{report}");
                }
                Err(crossbeam_channel::RecvTimeoutError::Disconnected) => return Err(closed()),
            }
        }
    }

    /// Map partitions of map stage `si` without an available output (empty for other stages).
    fn map_outputs_missing(&self, si: usize) -> Vec<usize> {
        match &self.graph.stages[si].kind {
            StageKind::ShuffleMap(dep) => self.ctx.shuffles.missing_maps(dep.shuffle_id()),
            StageKind::Result => Vec::new(),
        }
    }

    fn after_map_stage(&self, si: usize) {
        if let StageKind::ShuffleMap(dep) = &self.graph.stages[si].kind {
            let lose = self
                .ctx
                .faults
                .take_losses_after_map_stage(dep.shuffle_id());
            if !lose.is_empty() {
                self.ctx.shuffles.lose(dep.shuffle_id(), &lose);
            }
        }
    }

    fn abort(&self, si: usize, partition: usize, attempts: u32, reason: String) -> Error {
        let stage = &self.graph.stages[si];
        Error::JobAborted {
            job: self.job,
            stage: stage.id,
            stage_desc: stage.describe(),
            partition,
            attempts,
            reason,
        }
    }

    fn launch(&self, si: usize, id: TaskId, tx: crossbeam_channel::Sender<TaskEvent<R>>) {
        let stage = &self.graph.stages[si];
        if let Some(driver) = &self.driver {
            let map_shuffle = match &stage.kind {
                StageKind::ShuffleMap(dep) => Some(dep.shuffle_id()),
                StageKind::Result => None,
            };
            let reads = stage
                .parents
                .iter()
                .filter_map(|&p| match &self.graph.stages[p].kind {
                    StageKind::ShuffleMap(dep) => Some(dep.shuffle_id()),
                    StageKind::Result => None,
                })
                .collect();
            let done = Box::new(move |outcome: Result<Vec<u8>>| {
                let outcome = outcome.and_then(|frame| match map_shuffle {
                    Some(_) => Ok(None),
                    None => crate::codec::decode::<R>(&frame, "a task result").map(Some),
                });
                let _ = tx.send(TaskEvent {
                    stage: si,
                    id,
                    outcome,
                });
            });
            driver.submit(RemoteTask {
                id,
                map_shuffle,
                reads,
                preferred: driver.preferred_executors(&stage.rdd, id.partition),
                done,
                submitted: std::time::Instant::now(),
            });
            return;
        }
        let work: Box<dyn FnOnce(&TaskContext) -> Result<Option<R>> + Send> = match &stage.kind {
            StageKind::ShuffleMap(dep) => {
                let dep = Arc::clone(dep);
                Box::new(move |tc| dep.run_map_task(tc.partition(), tc).map(|()| None))
            }
            StageKind::Result => {
                let f = Arc::clone(&self.result_fn);
                Box::new(move |tc| f(tc.partition(), tc).map(Some))
            }
        };
        self.ctx.pool.spawn(move || {
            let tc = TaskContext::new(id);
            // A panicking user closure fails this attempt; it never unwinds into the pool.
            let outcome = catch_unwind(AssertUnwindSafe(|| work(&tc))).unwrap_or_else(|p| {
                Err(Error::Panicked {
                    message: panic_message(&*p),
                })
            });
            // The job may have been aborted already; then nobody listens.
            let _ = tx.send(TaskEvent {
                stage: si,
                id,
                outcome,
            });
        });
    }
}
