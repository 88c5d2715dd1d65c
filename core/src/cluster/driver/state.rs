//! The driver's bookkeeping: its executors (slots, the jobs each has reached), the jobs an
//! executor may still ask about, the task queue and the running tasks, the control log —
//! and what may be dropped of them (`State::prune`) or reported when nothing moves
//! (`State::stalled`).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tonic::Status;

use super::super::rpc::pb;
use crate::ids::{JobId, RddId, ShuffleId, TaskId};
use crate::scheduler::{RemoteTask, TaskDoneFn};

pub(super) type Commands = mpsc::UnboundedSender<std::result::Result<pb::Command, Status>>;

/// How long tasks may neither start nor end, while some wait, before the driver logs what
/// it waits for (and again at this interval while it lasts).
pub(super) const STALL_REPORT: Duration = Duration::from_secs(20);

pub(super) struct ExecutorEntry {
    pub(super) address: String,
    pub(super) host: String,
    pub(super) cores: usize,
    pub(super) free: usize,
    pub(super) last_seen: Instant,
    pub(super) commands: Commands,
    /// Running jobs this executor's program reached with the driver's graph (a job leaves
    /// when it ends).
    pub(super) ready: HashSet<JobId>,
    /// The latest job its program reached: it will not ask about an earlier one again.
    pub(super) reached: Option<JobId>,
}

pub(super) struct Running {
    pub(super) executor: u32,
    pub(super) map_shuffle: Option<ShuffleId>,
    pub(super) done: TaskDoneFn,
}

pub(super) struct DriverJob {
    pub(super) fingerprint: String,
    pub(super) description: String,
    pub(super) rdd_ids: Vec<u32>,
    pub(super) shuffle_ids: Vec<u32>,
    pub(super) ended: Option<pb::JobEnded>,
}

#[derive(Default)]
pub(super) struct State {
    /// Executors asked of the backend (replacements) that have not registered yet.
    pub(super) starting: BTreeSet<u32>,
    /// The id the next replacement gets (ids `0..expected` are the first executors').
    pub(super) next_id: u32,
    /// When executors were lost, within `spate.executor.failuresValidityInterval`.
    pub(super) failures: VecDeque<Instant>,
    /// Set once `spate.executor.maxFailures` is spent: every task fails with it.
    pub(super) failed: Option<String>,
    /// Why lost executors are no longer replaced (a replacement could not follow).
    pub(super) no_replacement: Option<String>,
    pub(super) executors: BTreeMap<u32, ExecutorEntry>,
    /// The jobs an executor may still ask about, with their outcome once ended: an executor
    /// that joins late replays its program's jobs from these. Once every executor the driver
    /// started has registered, a job every live executor has passed is dropped (see `prune`)
    /// — unless a replacement may still need it: the prologue, and the jobs from `keep_from`.
    pub(super) jobs: BTreeMap<JobId, DriverJob>,
    /// Jobs below this have started.
    pub(super) started_below: JobId,
    /// The jobs before the first control message (the program's prologue, before its
    /// streaming starts): a replacement replays them, so they are kept.
    pub(super) prologue_end: Option<JobId>,
    /// Jobs from this one on are kept for a replacement (the batch in progress).
    pub(super) keep_from: JobId,
    /// Jobs below this were dropped: an executor asking about one joined too late.
    pub(super) pruned_below: JobId,
    /// How many executors the driver started, and how many registrations it has had (up to
    /// that: a count, not the ids, which would grow with every replacement).
    pub(super) expected: usize,
    pub(super) registered: usize,
    pub(super) pending: VecDeque<RemoteTask>,
    pub(super) running: HashMap<TaskId, Running>,
    /// Which executors hold each cached RDD partition.
    pub(super) cached: HashMap<(RddId, usize), BTreeSet<u32>>,
    /// The control log: all of it until every executor the driver started has registered
    /// (one that registers late reads it from the start), then its last `control_replay`
    /// messages (a replacement reads them first, as replayed).
    pub(super) control: VecDeque<Vec<u8>>,
    pub(super) control_replay: usize,
    /// When the driver last had no executor (or started): for the registration timeout.
    pub(super) empty_since: Option<Instant>,
    /// When a task was last launched or reported, and when a stall was last reported.
    pub(super) progress: Option<Instant>,
    pub(super) stall_reported: Option<Instant>,
    pub(super) stopping: bool,
}

impl State {
    /// Whether every executor the driver started has registered once: no executor can join
    /// late any more (a lost one is not replaced), so nothing is kept for one.
    pub(super) fn all_registered(&self) -> bool {
        self.registered >= self.expected
    }

    /// Drops what no executor can still ask for: the control log but its tail, and the jobs
    /// that ended and that every live executor has reached (its program reaches jobs in
    /// order) — once every executor the driver started has registered. With replacement on,
    /// the prologue and the jobs from `keep_from` stay for a replacement, and nothing is
    /// dropped before the first control message (a batch program's jobs are its prologue).
    /// Keeps the driver's memory flat over any number of batches.
    pub(super) fn prune(&mut self, replace: bool) {
        if !self.all_registered() {
            return;
        }
        while self.control.len() > self.control_replay {
            self.control.pop_front();
        }
        let Some(passed) = self.executors.values().map(|e| e.reached).min().flatten() else {
            return;
        };
        let (from, below) = if replace {
            let Some(prologue_end) = self.prologue_end else {
                return;
            };
            (prologue_end, JobId(self.keep_from.0.min(passed.0 + 1)))
        } else {
            (JobId(0), JobId(passed.0 + 1))
        };
        if from >= below {
            return;
        }
        let done: Vec<JobId> = self
            .jobs
            .range(from..below)
            .filter(|(_, j)| j.ended.is_some())
            .map(|(id, _)| *id)
            .collect();
        for id in done {
            self.jobs.remove(&id);
            self.pruned_below = self.pruned_below.max(JobId(id.0 + 1));
        }
    }

    /// What the scheduler waits for, when tasks have neither been launched nor reported for
    /// [`STALL_REPORT`]: the queued and running tasks and each executor's slots and jobs —
    /// what tells a stall's cause from the log alone. `None` while work moves (or none waits).
    pub(super) fn stalled(&mut self, now: Instant) -> Option<String> {
        if self.pending.is_empty() && self.running.is_empty() {
            self.progress = None;
            return None;
        }
        let since = *self.progress.get_or_insert(now);
        let quiet = now.duration_since(since);
        if quiet < STALL_REPORT
            || self
                .stall_reported
                .is_some_and(|t| now.duration_since(t) < STALL_REPORT)
        {
            return None;
        }
        self.stall_reported = Some(now);
        let queued: Vec<String> = self
            .pending
            .iter()
            .take(8)
            .map(|t| format!("{} (preferring {:?})", t.id, t.preferred))
            .collect();
        let running: Vec<String> = self
            .running
            .iter()
            .take(8)
            .map(|(id, r)| format!("{id} on executor {}", r.executor))
            .collect();
        let executors: Vec<String> = self
            .executors
            .iter()
            .map(|(id, e)| {
                let mut ready: Vec<_> = e.ready.iter().map(|j| j.0).collect();
                ready.sort_unstable();
                format!(
                    "{id}: {} of {} slot(s) free, ready for jobs {ready:?}, reached {:?}",
                    e.free,
                    e.cores,
                    e.reached.map(|j| j.0)
                )
            })
            .collect();
        Some(format!(
            "no task launched or finished for {:.0}s: {} queued [{}], {} running [{}]; \
             executors: [{}]; starting: {:?}",
            quiet.as_secs_f64(),
            self.pending.len(),
            queued.join(", "),
            self.running.len(),
            running.join(", "),
            executors.join("; "),
            self.starting,
        ))
    }

    /// The sizes of what the driver keeps, by collection (see `DriverRole::sizes`).
    pub(super) fn sizes(&self) -> Vec<(&'static str, usize)> {
        vec![
            ("driver.jobs", self.jobs.len()),
            ("driver.control", self.control.len()),
            ("driver.cached", self.cached.len()),
            (
                "driver.ready",
                self.executors.values().map(|e| e.ready.len()).sum(),
            ),
            ("driver.pending", self.pending.len()),
            ("driver.failures", self.failures.len()),
            ("driver.running", self.running.len()),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::StageId;

    fn queued(job: u32, at: Instant) -> RemoteTask {
        RemoteTask {
            id: TaskId {
                job: JobId(job),
                stage: StageId(3),
                partition: 1,
                attempt: 0,
            },
            map_shuffle: None,
            reads: Vec::new(),
            preferred: Vec::new(),
            done: Box::new(|_| {}),
            submitted: at,
        }
    }

    /// Nothing moving while a task waits is reported once per interval, with what the report
    /// needs to tell a stall's cause: the queued task, and each executor's slots and jobs.
    #[test]
    fn a_stall_is_reported_with_the_waiting_tasks_and_the_executors() {
        let t0 = Instant::now();
        let mut st = State::default();
        assert_eq!(st.stalled(t0 + STALL_REPORT * 9), None, "nothing waits");
        st.executors.insert(
            4,
            ExecutorEntry {
                address: "127.0.0.1:1".into(),
                host: "h".into(),
                cores: 2,
                free: 2,
                last_seen: t0,
                commands: mpsc::unbounded_channel().0,
                ready: HashSet::from([JobId(6)]),
                reached: Some(JobId(6)),
            },
        );
        st.pending.push_back(queued(7, t0));
        assert_eq!(st.stalled(t0), None, "the wait starts");
        assert_eq!(st.stalled(t0 + STALL_REPORT / 2), None);
        let report = st.stalled(t0 + STALL_REPORT).expect("a report");
        for part in [
            "for 20s",
            "1 queued [task 1.0 of stage 3 (job 7)",
            "4: 2 of 2 slot(s) free, ready for jobs [6], reached Some(6)",
        ] {
            assert!(report.contains(part), "{part:?} in {report}");
        }
        assert_eq!(
            st.stalled(t0 + STALL_REPORT * 3 / 2),
            None,
            "once per interval"
        );
        assert!(
            st.stalled(t0 + STALL_REPORT * 2).is_some(),
            "while it lasts"
        );
        // Work moves again: the clock restarts.
        st.progress = Some(t0 + STALL_REPORT * 3);
        assert_eq!(st.stalled(t0 + STALL_REPORT * 3 + STALL_REPORT / 2), None);
    }
}
