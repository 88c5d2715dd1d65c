//! The driver's side of cluster mode: the `Driver` gRPC service executors register with, the
//! placement of tasks on executors' slots, heartbeats and executor loss, and the trackers of
//! where map outputs (in the context's `ShuffleStore`) and cached blocks live.
//!
//! Life of a task across hosts: the DAG scheduler (`scheduler::Job`) hands a ready task to
//! [`DriverRuntime::submit`]; `dispatch` picks an executor that has reached the task's job
//! with a matching graph and has a free slot (its cached blocks' executor first), adds where
//! the task's shuffle inputs live, and sends `LaunchTask` down that executor's command stream.
//! The executor runs it and calls `TaskDone`; a map task's output is then registered as held
//! by that executor, a result task's frame goes back to the scheduler. An executor that dies
//! or falls silent for `spate.executor.heartbeatTimeout` is *lost*: its running tasks are
//! rerun elsewhere, its map outputs and cached blocks are forgotten and recomputed from
//! lineage when next needed.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tokio::sync::{mpsc, watch};
use tonic::{Request, Response, Status};

use super::auth::{CheckSecret, SECRET_ENV, Secret};
use super::backend::{self, ExecutorBackend, LaunchSpec};
use super::lineage::JobLineage;
use super::rpc::pb;
use super::{APP_ID_ENV, DRIVER_URL_ENV, EXECUTOR_CORES_ENV, EXECUTOR_INSTANCES_ENV};
use crate::conf::{Conf, Master};
use crate::context::{ContextInner, DriverRole};
use crate::dag::RddBase;
use crate::error::{Error, Result};
use crate::ids::{JobId, RddId, ShuffleId, TaskId};
use crate::scheduler::{RemoteTask, TaskDoneFn, TaskLauncher};

mod inputs;
mod replace;
mod service;
mod state;
use replace::{Launcher, Replacement};
use service::DriverService;
use state::{DriverJob, ExecutorEntry, Running, State};

/// Shared by the gRPC service and the scheduler.
pub(crate) struct DriverState {
    build_id: String,
    heartbeat_timeout: Duration,
    locality_wait: Duration,
    registration_timeout: Duration,
    ctx: Weak<ContextInner>,
    state: Mutex<State>,
    /// Bumped whenever a job starts or ends, or the driver stops: wakes `JobReady` waiters.
    changed: watch::Sender<u64>,
    /// Bytes of job results sent to executors (each copy counted).
    result_bytes: std::sync::atomic::AtomicU64,
    log_dir: PathBuf,
    replacement: Replacement,
    /// The backend that starts executors, what it starts them with, and what it calls when
    /// one exits; taken at shutdown.
    launcher: Mutex<Option<Launcher>>,
    /// Where received blocks are (never locked while taking `state`).
    inputs: Mutex<inputs::InputTracker>,
}

/// The driver of a cluster application: its RPC server, its executors' backend, its state.
pub(crate) struct DriverRuntime {
    shared: Arc<DriverState>,
    rt: Mutex<Option<tokio::runtime::Runtime>>,
    url: String,
    app_id: String,
}

impl DriverRuntime {
    /// Starts the driver's RPC server and the master's executors.
    pub(crate) fn start(
        conf: &Conf,
        master: &Master,
        secret: Secret,
        ctx: Weak<ContextInner>,
    ) -> Result<Arc<DriverRuntime>> {
        let app_id = std::env::var(APP_ID_ENV).unwrap_or_else(|_| new_app_id());
        let (executors, cores) = match master {
            Master::LocalCluster { executors, cores } => (*executors, *cores),
            _ => {
                let cores = conf.get_count("spate.executor.cores")?;
                let n = match conf.get_opt_count("spate.executor.instances")? {
                    Some(n) => n,
                    None => super::backend::slurm_nodes()?,
                };
                (n, cores)
            }
        };
        let host = match conf.get("spate.driver.host") {
            Some(h) => h.to_string(),
            None if matches!(master, Master::Slurm) => super::backend::slurm_driver_host()?,
            None => "127.0.0.1".to_string(),
        };
        let port = conf.get_port("spate.driver.port")?.unwrap_or(0);
        let listener = std::net::TcpListener::bind((host.as_str(), port)).map_err(|e| {
            Error::cluster(format!(
                "the driver cannot listen on {host}:{port}: {e} (set spate.driver.host / \
                 spate.driver.port)"
            ))
        })?;
        let addr = listener
            .local_addr()
            .map_err(|e| Error::cluster(format!("driver address: {e}")))?;
        listener
            .set_nonblocking(true)
            .map_err(|e| Error::cluster(format!("driver socket: {e}")))?;
        let tls = super::tls::TlsMaterial::from_conf(conf, &secret)?;
        let url = format!("{}://{addr}", super::tls::scheme(tls.as_ref()));
        let base = conf
            .get("spate.local.dir")
            .map_or_else(std::env::temp_dir, PathBuf::from);
        std::fs::create_dir_all(&base).map_err(|e| Error::io(&base, e))?;
        // Another user of a shared host must not be able to read or redirect the logs.
        let log_dir = base.join(format!("spate-{app_id}"));
        super::files::private_dir(&log_dir)?;

        let duration = |key| -> Result<Duration> {
            Ok(conf.get_duration(key)?.unwrap_or(Duration::from_secs(5)))
        };
        let heartbeat_interval = duration("spate.executor.heartbeatInterval")?;
        let replacement = Replacement {
            enabled: conf.get_bool("spate.executor.replace")?.unwrap_or(true),
            // Spark's default for spark.executor.maxNumFailures.
            max_failures: conf
                .get_opt_count("spate.executor.maxFailures")?
                .unwrap_or((2 * executors).max(3)),
            window: duration("spate.executor.failuresValidityInterval")?,
        };
        let shared = Arc::new(DriverState {
            build_id: super::build_id()?,
            heartbeat_timeout: duration("spate.executor.heartbeatTimeout")?,
            locality_wait: duration("spate.locality.wait")?,
            registration_timeout: duration("spate.executor.registrationTimeout")?,
            ctx,
            state: Mutex::new(State {
                empty_since: Some(Instant::now()),
                expected: executors,
                next_id: executors as u32,
                ..State::default()
            }),
            changed: watch::channel(0).0,
            result_bytes: Default::default(),
            log_dir: log_dir.clone(),
            replacement,
            launcher: Mutex::new(None),
            inputs: Mutex::default(),
        });
        let rt = super::new_runtime("spate-driver-rpc")?;
        let service = tonic::service::interceptor::InterceptedService::new(
            pb::driver_server::DriverServer::new(DriverService(Arc::clone(&shared)))
                .max_decoding_message_size(super::rpc::max_message_size(conf)?),
            CheckSecret::new(secret.clone(), "driver"),
        );
        super::rpc::serve(
            &rt,
            listener,
            tonic::service::Routes::new(service),
            "driver",
            tls.as_ref(),
            super::rpc::idle_timeout(conf)?,
        )?;
        rt.spawn(monitor(Arc::clone(&shared), heartbeat_interval));

        let mut backend = backend::for_master(master)
            .ok_or_else(|| Error::Internal("a cluster driver without a backend".into()))?;
        let spec = LaunchSpec {
            program: std::env::current_exe()
                .map_err(|e| Error::cluster(format!("cannot find this executable: {e}")))?,
            args: std::env::args_os().skip(1).collect(),
            env: vec![
                (DRIVER_URL_ENV.to_string(), url.clone()),
                (SECRET_ENV.to_string(), secret.expose().to_string()),
                (APP_ID_ENV.to_string(), app_id.clone()),
                (EXECUTOR_CORES_ENV.to_string(), cores.to_string()),
                (EXECUTOR_INSTANCES_ENV.to_string(), executors.to_string()),
            ],
            cores,
            memory: if conf.contains("spate.executor.memory") {
                conf.get_size("spate.executor.memory")?
            } else {
                0
            },
            log_dir: log_dir.clone(),
        };
        let on_exit_state = Arc::clone(&shared);
        let on_exit: backend::OnExit = Arc::new(move |id, exit| match exit {
            backend::Exit::Failed(why) => on_exit_state.lose_executor(id, &why),
            backend::Exit::Ended => on_exit_state.executor_ended(id),
        });
        for id in 0..executors as u32 {
            backend.start_executor(&spec, id, false, &on_exit)?;
        }
        eprintln!(
            "spate: driver of {app_id} listening on {url}; {executors} executor(s) x {cores} \
             core(s) on {}; executor logs in {}",
            backend.name(),
            log_dir.display()
        );
        // Until they register, the first executors count as starting: one that dies before
        // it registers is replaced too.
        shared.state.lock().starting = (0..executors as u32).collect();
        *shared.launcher.lock() = Some(Launcher {
            backend,
            spec,
            on_exit,
        });
        Ok(Arc::new(DriverRuntime {
            shared,
            rt: Mutex::new(Some(rt)),
            url,
            app_id,
        }))
    }

    /// The driver's RPC address.
    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// The application id all processes of this application share.
    pub(crate) fn app_id(&self) -> &str {
        &self.app_id
    }

    /// Executors registered and not lost.
    pub(crate) fn live_executors(&self) -> Vec<u32> {
        self.shared.state.lock().executors.keys().copied().collect()
    }

    /// A job starts: executors waiting in `JobReady` for it are answered.
    fn start_job(&self, job: JobId, lineage: &JobLineage) {
        let mut st = self.shared.state.lock();
        st.started_below = st.started_below.max(JobId(job.0 + 1));
        st.jobs.insert(
            job,
            DriverJob {
                fingerprint: lineage.fingerprint.clone(),
                description: lineage.description.clone(),
                rdd_ids: lineage.rdds.iter().map(|r| r.0).collect(),
                shuffle_ids: lineage.shuffle_ids().iter().map(|s| s.0).collect(),
                ended: None,
            },
        );
        drop(st);
        self.shared.changed.send_modify(|n| *n += 1);
    }

    /// A job ended: every executor learns its outcome (so its program goes on with the
    /// driver's result) — now if it is waiting, else when it reaches the job — and it is kept
    /// until every executor has.
    fn end_job(&self, job: JobId, outcome: std::result::Result<Vec<u8>, String>) {
        let ended = pb::JobEnded {
            job: job.0,
            outcome: Some(match outcome {
                Ok(frame) => pb::job_ended::Outcome::Result(frame),
                Err(message) => pb::job_ended::Outcome::Error(message),
            }),
        };
        let mut st = self.shared.state.lock();
        let size = match &ended.outcome {
            Some(pb::job_ended::Outcome::Result(frame)) => frame.len() as u64,
            _ => 0,
        };
        // To the executors waiting for it; one that reaches it later gets it with its answer
        // to `JobReady`: one copy each.
        for e in st.executors.values().filter(|e| e.ready.contains(&job)) {
            self.shared
                .result_bytes
                .fetch_add(size, std::sync::atomic::Ordering::Relaxed);
            let _ = e.commands.send(Ok(pb::Command {
                kind: Some(pb::command::Kind::JobEnded(ended.clone())),
            }));
        }
        if let Some(j) = st.jobs.get_mut(&job) {
            j.ended = Some(ended);
        }
        for e in st.executors.values_mut() {
            e.ready.remove(&job);
        }
        st.prune(self.shared.replacement.enabled);
        drop(st);
        self.shared.changed.send_modify(|n| *n += 1);
    }

    /// Appends `payload` to the control log every executor reads in order
    /// ([`ExecutorRuntime::next_control`](super::ExecutorRuntime::next_control)).
    pub(crate) fn publish(&self, payload: Vec<u8>) {
        let mut st = self.shared.state.lock();
        for e in st.executors.values() {
            let _ = e.commands.send(Ok(pb::Command {
                kind: Some(pb::command::Kind::Control(payload.clone())),
            }));
        }
        if st.prologue_end.is_none() {
            st.prologue_end = Some(st.started_below);
        }
        st.control.push_back(payload);
        st.prune(self.shared.replacement.enabled);
    }

    /// Keeps the control log's last `messages` messages for executors that join later.
    pub(crate) fn set_control_replay(&self, messages: usize) {
        let mut st = self.shared.state.lock();
        st.control_replay = messages;
        st.prune(self.shared.replacement.enabled);
    }

    /// Keeps every job from `job` on for executors that join later.
    pub(crate) fn keep_jobs_from(&self, job: JobId) {
        let mut st = self.shared.state.lock();
        st.keep_from = st.keep_from.max(job);
        st.prune(self.shared.replacement.enabled);
    }

    /// Queues a task; it runs as soon as an executor that reached its job has a free slot.
    fn enqueue(&self, task: RemoteTask) {
        let mut st = self.shared.state.lock();
        if st.stopping {
            drop(st);
            (task.done)(Err(Error::ContextStopped));
            return;
        }
        if let Some(why) = st.failed.clone() {
            drop(st);
            (task.done)(Err(Error::cluster(why)));
            return;
        }
        st.pending.push_back(task);
        self.shared.dispatch(&mut st);
    }

    /// Whether some executor holds partition `partition` of `rdd` in its block store.
    pub(crate) fn has_block(&self, rdd: RddId, partition: usize) -> bool {
        self.shared
            .state
            .lock()
            .cached
            .get(&(rdd, partition))
            .is_some_and(|s| !s.is_empty())
    }

    /// Tells every executor to exit and waits for them (briefly), then stops the server.
    pub(crate) fn shutdown(&self) {
        {
            let mut st = self.shared.state.lock();
            if st.stopping {
                return;
            }
            st.stopping = true;
            for e in st.executors.values() {
                let _ = e.commands.send(Ok(pb::Command {
                    kind: Some(pb::command::Kind::Stop(pb::Stop {
                        reason: "the driver stopped".into(),
                        refused: false,
                    })),
                }));
            }
            let pending: Vec<RemoteTask> = st.pending.drain(..).collect();
            drop(st);
            for t in pending {
                (t.done)(Err(Error::ContextStopped));
            }
        }
        self.shared.changed.send_modify(|n| *n += 1);
        let launcher = self.shared.launcher.lock().take();
        if let Some(mut l) = launcher {
            l.backend.stop(Duration::from_secs(5));
        }
        if let Some(rt) = self.rt.lock().take() {
            rt.shutdown_timeout(Duration::from_secs(1));
        }
    }
}

impl Drop for DriverRuntime {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn new_app_id() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    format!("app-{secs}-{:04x}", rand::random::<u16>())
}

impl DriverState {
    /// Places pending tasks on free slots: first on an executor holding their cached input,
    /// then — once `spate.locality.wait` has passed for a task whose preferred executors are
    /// alive but busy — on any executor ready for their job.
    fn dispatch(&self, st: &mut State) {
        let now = Instant::now();
        for prefer_only in [true, false] {
            let mut i = 0;
            while i < st.pending.len() {
                let t = &st.pending[i];
                let job = t.id.job;
                let waits = !prefer_only
                    && now.duration_since(t.submitted) < self.locality_wait
                    && t.preferred.iter().any(|e| st.executors.contains_key(e));
                if waits {
                    i += 1;
                    continue;
                }
                let fits = |id: &u32, e: &ExecutorEntry| {
                    e.free > 0 && e.ready.contains(&job) && {
                        !prefer_only || t.preferred.contains(id)
                    }
                };
                let Some(executor) = st
                    .executors
                    .iter()
                    .filter(|(id, e)| fits(id, e))
                    // The emptiest executor first, so work spreads.
                    .max_by_key(|(id, e)| (e.free, std::cmp::Reverse(**id)))
                    .map(|(id, _)| *id)
                else {
                    i += 1;
                    continue;
                };
                let task = st.pending.remove(i).expect("index in range");
                self.launch(st, executor, task);
            }
        }
    }

    fn launch(&self, st: &mut State, executor: u32, task: RemoteTask) {
        let Some(ctx) = self.ctx.upgrade() else {
            (task.done)(Err(Error::ContextStopped));
            return;
        };
        let address_of = |e: Option<u32>| {
            e.and_then(|e| st.executors.get(&e))
                .map_or_else(String::new, |x| x.address.clone())
        };
        let shuffles: Vec<pb::ShuffleLocations> = task
            .reads
            .iter()
            .map(|&s| pb::ShuffleLocations {
                shuffle: s.0,
                map_address: ctx
                    .shuffles
                    .locations(s)
                    .into_iter()
                    .map(address_of)
                    .collect(),
            })
            .collect();
        // An input lost while the task waited in the queue: the scheduler reruns the missing
        // map tasks and this one after them (sending it would only fail a fetch, later).
        for s in &shuffles {
            if let Some(map) = s.map_address.iter().position(String::is_empty) {
                (task.done)(Err(Error::FetchFailed {
                    shuffle: ShuffleId(s.shuffle),
                    map,
                    reduce: task.id.partition,
                }));
                return;
            }
        }
        let launch = pb::LaunchTask {
            job: task.id.job.0,
            stage: task.id.stage.0,
            partition: task.id.partition as u64,
            attempt: task.id.attempt,
            map_shuffle: task.map_shuffle.map(|s| s.0),
            shuffles,
        };
        let e = st
            .executors
            .get_mut(&executor)
            .expect("chosen from the map");
        e.free -= 1;
        st.progress = Some(Instant::now());
        let e = st
            .executors
            .get_mut(&executor)
            .expect("chosen from the map");
        let sent = e.commands.send(Ok(pb::Command {
            kind: Some(pb::command::Kind::Launch(launch)),
        }));
        st.running.insert(
            task.id,
            Running {
                executor,
                map_shuffle: task.map_shuffle,
                done: task.done,
            },
        );
        if sent.is_err() {
            // Its stream is gone; the monitor or the backend declares it lost shortly.
            tracing::warn!("executor {executor}: its command stream is closed");
        }
    }

    /// Forgets an executor: its running tasks fail with `ExecutorLost` (and are rerun), its
    /// map outputs and cached blocks are gone.
    pub(crate) fn lose_executor(&self, executor: u32, reason: &str) {
        self.lose_executor_as(executor, reason, true);
    }

    /// [`DriverState::lose_executor`], asking for a replacement when `replace`.
    fn lose_executor_as(&self, executor: u32, reason: &str, replace: bool) {
        let (dones, stopping) = {
            let mut st = self.state.lock();
            let was_starting = st.starting.remove(&executor);
            let Some(entry) = st.executors.remove(&executor) else {
                let stopping = st.stopping;
                drop(st);
                if was_starting && !stopping && replace {
                    // A replacement that died before it registered.
                    eprintln!("spate: executor {executor} exited before it registered: {reason}");
                    self.replace_lost(executor, reason);
                }
                return;
            };
            drop(entry);
            if st.executors.is_empty() {
                st.empty_since = Some(Instant::now());
            }
            let ids: Vec<TaskId> = st
                .running
                .iter()
                .filter(|(_, r)| r.executor == executor)
                .map(|(id, _)| *id)
                .collect();
            let dones: Vec<TaskDoneFn> = ids
                .into_iter()
                .filter_map(|id| st.running.remove(&id))
                .map(|r| r.done)
                .collect();
            for holders in st.cached.values_mut() {
                holders.remove(&executor);
            }
            st.cached.retain(|_, h| !h.is_empty());
            // A slow executor may have been what kept old jobs.
            st.prune(self.replacement.enabled);
            (dones, st.stopping)
        };
        if stopping {
            return;
        }
        let outputs = self
            .ctx
            .upgrade()
            .map_or(0, |c| c.shuffles.lose_executor(executor));
        let blocks_gone = self.inputs.lock().lose_executor(executor, reason);
        let message = format!(
            "spate: executor {executor} lost: {reason}; {} running task(s) rerun elsewhere, \
             {outputs} map output(s) recomputed from lineage{}",
            dones.len(),
            if blocks_gone > 0 {
                format!(", {blocks_gone} received block(s) lost with their last copy")
            } else {
                String::new()
            }
        );
        tracing::warn!("{message}");
        eprintln!("{message}");
        for done in dones {
            done(Err(Error::ExecutorLost {
                executor,
                reason: reason.to_string(),
            }));
        }
        if replace {
            self.replace_lost(executor, reason);
        }
        let mut st = self.state.lock();
        self.dispatch(&mut st);
    }

    fn refuse(&self, executor: u32, reason: &str) {
        {
            let mut st = self.state.lock();
            if let Some(e) = st.executors.get(&executor) {
                let _ = e.commands.send(Ok(pb::Command {
                    kind: Some(pb::command::Kind::Stop(pb::Stop {
                        reason: reason.to_string(),
                        refused: true,
                    })),
                }));
            }
            // A replacement this driver started cannot follow the program: every other would
            // be refused the same way, so none is started (a crash loop would only spend the
            // failure budget and then fail the application).
            if executor >= st.expected as u32 && executor < st.next_id {
                st.no_replacement = Some(format!("replacement executor {executor} was refused"));
            }
        }
        eprintln!("spate: refused executor {executor}: {reason}");
        self.lose_executor(executor, &format!("refused: {reason}"));
    }

    fn task_done(&self, r: pb::TaskResult) {
        let id = TaskId {
            job: JobId(r.job),
            stage: crate::ids::StageId(r.stage),
            partition: r.partition as usize,
            attempt: r.attempt,
        };
        let (done, outcome) = {
            let mut st = self.state.lock();
            match st.running.get(&id) {
                Some(run) if run.executor == r.executor_id => {}
                // A late report from a lost executor, or of a task already rerun.
                _ => return,
            }
            let run = st.running.remove(&id).expect("checked above");
            st.progress = Some(Instant::now());
            if let Some(e) = st.executors.get_mut(&r.executor_id) {
                e.free += 1;
            }
            let outcome = match r.outcome {
                Some(pb::task_result::Outcome::Ok(frame)) => {
                    for b in &r.cached {
                        st.cached
                            .entry((RddId(b.rdd), b.partition as usize))
                            .or_default()
                            .insert(r.executor_id);
                    }
                    if let (Some(shuffle), Some(ctx)) = (run.map_shuffle, self.ctx.upgrade()) {
                        ctx.shuffles
                            .put_remote(shuffle, id.partition, r.executor_id);
                    }
                    Ok(frame)
                }
                Some(pb::task_result::Outcome::Error(e)) => Err(match e.fetch_failed {
                    Some(f) => Error::FetchFailed {
                        shuffle: ShuffleId(f.shuffle),
                        map: f.map as usize,
                        reduce: f.reduce as usize,
                    },
                    None => Error::RemoteTask {
                        executor: r.executor_id,
                        message: e.message,
                        fatal: e.fatal,
                    },
                }),
                None => Err(Error::Internal("a task result without an outcome".into())),
            };
            self.dispatch(&mut st);
            (run.done, outcome)
        };
        done(outcome);
    }
}

/// Declares silent executors lost, and fails queued tasks when no executor has been there for
/// `spate.executor.registrationTimeout`.
async fn monitor(shared: Arc<DriverState>, interval: Duration) {
    let mut tick = tokio::time::interval(interval.min(Duration::from_millis(50)));
    loop {
        tick.tick().await;
        // Tasks whose locality wait ran out.
        {
            let mut st = shared.state.lock();
            if st.pending.iter().any(|t| !t.preferred.is_empty()) {
                shared.dispatch(&mut st);
            }
        }
        let (silent, expired) = {
            let mut st = shared.state.lock();
            if st.stopping {
                return;
            }
            let now = Instant::now();
            if let Some(report) = st.stalled(now) {
                tracing::warn!("spate: {report}");
                eprintln!("spate: {report}");
            }
            let silent: Vec<(u32, Duration)> = st
                .executors
                .iter()
                .map(|(id, e)| (*id, now.duration_since(e.last_seen)))
                .filter(|(_, quiet)| *quiet > shared.heartbeat_timeout)
                .collect();
            let expired = match st.empty_since {
                Some(t)
                    if st.executors.is_empty()
                        && now.duration_since(t) > shared.registration_timeout =>
                {
                    st.pending.drain(..).collect::<Vec<_>>()
                }
                _ => Vec::new(),
            };
            (silent, expired)
        };
        for (id, quiet) in silent {
            shared.lose_executor(
                id,
                &format!(
                    "no heartbeat for {:.1}s (spate.executor.heartbeatTimeout = {:?})",
                    quiet.as_secs_f64(),
                    shared.heartbeat_timeout
                ),
            );
        }
        for t in expired {
            (t.done)(Err(Error::cluster(format!(
                "no executor has been registered for {:?} (spate.executor.registrationTimeout); \
                 see the executor logs in {}",
                shared.registration_timeout,
                shared.log_dir.display()
            ))));
        }
    }
}

impl TaskLauncher for DriverRuntime {
    fn job_started(&self, job: JobId, final_rdd: &Arc<dyn RddBase>) {
        self.start_job(job, &JobLineage::walk(final_rdd));
    }
    fn job_ended(&self, job: JobId, outcome: std::result::Result<Vec<u8>, String>) {
        self.end_job(job, outcome);
    }
    fn preferred_executors(&self, rdd: &Arc<dyn RddBase>, partition: usize) -> Vec<u32> {
        self.shared.preferred(rdd, partition)
    }
    fn submit(&self, task: RemoteTask) {
        self.enqueue(task);
    }
}

impl DriverRole for DriverRuntime {
    fn app_id(&self) -> &str {
        DriverRuntime::app_id(self)
    }
    fn url(&self) -> &str {
        DriverRuntime::url(self)
    }
    fn live_executors(&self) -> Vec<u32> {
        DriverRuntime::live_executors(self)
    }
    fn publish(&self, payload: Vec<u8>) {
        DriverRuntime::publish(self, payload)
    }
    fn has_block(&self, rdd: RddId, partition: usize) -> bool {
        DriverRuntime::has_block(self, rdd, partition)
    }
    fn shutdown(&self) {
        DriverRuntime::shutdown(self)
    }
    fn set_control_replay(&self, messages: usize) {
        DriverRuntime::set_control_replay(self, messages)
    }
    fn keep_jobs_from(&self, job: JobId) {
        DriverRuntime::keep_jobs_from(self, job)
    }
    fn forget_rdd(&self, rdd: RddId) {
        self.shared
            .state
            .lock()
            .cached
            .retain(|(r, _), _| *r != rdd);
    }
    fn sizes(&self) -> Vec<(&'static str, usize)> {
        let mut sizes = self.shared.state.lock().sizes();
        sizes.push(("driver.input_blocks", self.shared.inputs.lock().len()));
        sizes
    }
    fn result_bytes_sent(&self) -> u64 {
        self.shared
            .result_bytes
            .load(std::sync::atomic::Ordering::Relaxed)
    }
    fn executor_infos(&self) -> Vec<crate::context::ExecutorInfo> {
        let st = self.shared.state.lock();
        st.executors
            .iter()
            .map(|(&id, e)| crate::context::ExecutorInfo {
                id,
                host: e.host.clone(),
                address: e.address.clone(),
            })
            .collect()
    }
    fn set_input_sink(&self, sink: Arc<dyn crate::context::InputReports>) {
        self.shared.inputs.lock().set_sink(sink);
    }
    fn forget_input_blocks(&self, ids: &[crate::ids::InputBlockId]) {
        self.shared.inputs.lock().forget(ids);
    }
}
