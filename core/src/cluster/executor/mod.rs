//! The executor's side of cluster mode.
//!
//! An executor process runs the application's `main` like the driver does. Its context
//! *follows*: an action registers its job here ([`ExecutorRuntime::follow_job`]), tells the
//! driver it reached it (`JobReady`, with the job's graph fingerprint), and waits for the
//! driver's outcome, which it returns as its own. Meanwhile the command stream brings tasks,
//! named by ids; each runs on the context's pool against the graph this process built, map
//! outputs stay here (served to other executors by the `Executor` service), result frames go
//! back to the driver. The process exits 0 when the driver tells it to stop, and non-zero when
//! it is refused or loses the driver.

use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::{Arc, OnceLock, Weak};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;
use tonic::{Request, Response, Status};

use super::auth::{AddSecret, CheckSecret, Secret};
use super::lineage::JobLineage;
use super::rpc::pb;
use super::tls::TlsMaterial;
use super::{DRIVER_URL_ENV, EXECUTOR_CORES_ENV, EXECUTOR_ID_ENV, run_on};
use crate::conf::Conf;
use crate::context::{ContextInner, ControlMessage};
use crate::context::{ExecutorRole, FetchedInput, ShufflePiece};
use crate::dag::RddBase;
use crate::dag::ShuffleDepBase;
use crate::error::{Error, Result};
use crate::ids::{JobId, RddId, ShuffleId, StageId, TaskId};
use crate::scheduler::{EncodedResultFn, JobFollower, is_fatal, panic_message};
use crate::task::TaskContext;
use crate::task::TaskPlacement;

mod inputs;
mod service;
use service::ShuffleService;

type DriverClient = pb::driver_client::DriverClient<InterceptedService<Channel, AddSecret>>;
type PeerClient = pb::executor_client::ExecutorClient<InterceptedService<Channel, AddSecret>>;

/// A job this executor's program reached.
struct FollowedJob {
    result: EncodedResultFn,
    /// The job's shuffles by driver id, once the driver answered `JobReady`.
    deps: Mutex<Option<HashMap<ShuffleId, Arc<dyn ShuffleDepBase>>>>,
    armed: Condvar,
}

/// The executor role of a process.
pub(crate) struct ExecutorRuntime {
    id: u32,
    /// This executor's service address, `ip:port`.
    address: String,
    cores: usize,
    rt: tokio::runtime::Runtime,
    driver: DriverClient,
    secret: Secret,
    /// The TLS identity of every connection this process makes and serves (`None`:
    /// `spate.rpc.tls.enabled=false`).
    tls: Option<TlsMaterial>,
    ctx: OnceLock<Weak<ContextInner>>,
    jobs: Mutex<HashMap<JobId, Arc<FollowedJob>>>,
    outcomes: Mutex<HashMap<JobId, pb::JobEnded>>,
    outcome_ready: Condvar,
    /// This process's shuffle and RDD ids → the driver's (see `cluster::lineage`).
    shuffle_alias: Mutex<HashMap<ShuffleId, ShuffleId>>,
    rdd_alias: Mutex<HashMap<RddId, RddId>>,
    peers: Mutex<HashMap<String, PeerClient>>,
    fetch_timeout: Duration,
    /// `spate.rpc.message.maxSize`.
    max_message: usize,
    heartbeat_interval: Duration,
    /// The driver's control log, in order, until read.
    control: (
        crossbeam_channel::Sender<ControlMessage>,
        crossbeam_channel::Receiver<ControlMessage>,
    ),
}

impl ExecutorRuntime {
    /// Whether this process was started as an executor (`SPATE_EXECUTOR_ID` is set).
    pub(crate) fn requested() -> bool {
        std::env::var_os(EXECUTOR_ID_ENV).is_some()
    }

    /// Task slots this executor was given.
    pub(crate) fn cores_from_env(conf: &Conf) -> Result<usize> {
        match std::env::var(EXECUTOR_CORES_ENV) {
            Ok(v) => v
                .trim()
                .parse::<usize>()
                .ok()
                .filter(|&n| n >= 1)
                .ok_or_else(|| {
                    Error::cluster(format!("{EXECUTOR_CORES_ENV}={v:?} is not a number >= 1"))
                }),
            Err(_) => conf.get_count("spate.executor.cores"),
        }
    }

    /// Connects to the driver, starts this executor's shuffle service and registers.
    pub(crate) fn start(conf: &Conf, cores: usize) -> Result<Arc<ExecutorRuntime>> {
        let id_text = std::env::var(EXECUTOR_ID_ENV).unwrap_or_default();
        let id: u32 = id_text.trim().parse().map_err(|_| {
            Error::cluster(format!(
                "{EXECUTOR_ID_ENV}={id_text:?} is not an executor id"
            ))
        })?;
        let url = std::env::var(DRIVER_URL_ENV).map_err(|_| {
            Error::cluster(format!(
                "executor {id}: {DRIVER_URL_ENV} is not set; executors are started by the \
                 driver (spate-submit --master local-cluster[N,C] or slurm)"
            ))
        })?;
        let secret = Secret::from_env()?.ok_or_else(|| {
            Error::cluster(format!(
                "executor {id}: no application secret (SPATE_AUTH_SECRET or \
                 SPATE_AUTH_SECRET_FILE); executors get it from their driver"
            ))
        })?;
        let heartbeat_timeout = conf
            .get_duration("spate.executor.heartbeatTimeout")?
            .unwrap_or(Duration::from_secs(5));
        let interval = conf
            .get_duration("spate.executor.heartbeatInterval")?
            .unwrap_or(Duration::from_millis(500));
        let max_message = super::rpc::max_message_size(conf)?;
        let rt = super::new_runtime("spate-executor-rpc")?;
        let tls = TlsMaterial::from_conf(conf, &secret)?;
        if url.starts_with("https://") != tls.is_some() {
            return Err(Error::cluster(format!(
                "executor {id}: the driver at {url} and this executor disagree on TLS \
                 (spate.rpc.tls.enabled must be the same in every process)"
            )));
        }
        let endpoint = super::tls::endpoint(url.clone(), tls.as_ref())?
            .connect_timeout(heartbeat_timeout)
            .tcp_nodelay(true);
        let channel = run_on(rt.handle(), async move { endpoint.connect().await })
            .ok_or_else(|| Error::cluster("the RPC runtime stopped"))?
            .map_err(|e| {
                let why = super::tls::connect_error(&format!("the driver at {url}"), &e);
                Error::cluster(format!("executor {id}: {why}"))
            })?;
        let driver =
            pb::driver_client::DriverClient::with_interceptor(channel, AddSecret(secret.clone()))
                .max_decoding_message_size(max_message);

        // Listen on the address that faces the driver: reachable by other executors, and no
        // wider than needed.
        let driver_host = url
            .split_once("://")
            .map_or(url.as_str(), |(_, rest)| rest)
            .rsplit_once(':')
            .map_or("127.0.0.1", |(h, _)| h)
            .trim_matches(['[', ']'])
            .to_string();
        let ip = match conf.get("spate.executor.host") {
            Some(h) => h.to_string(),
            None => super::local_ip_towards(&driver_host, 1).map_err(|e| {
                Error::cluster(format!("executor {id}: no route to the driver: {e}"))
            })?,
        };
        let listener = std::net::TcpListener::bind((ip.as_str(), 0))
            .and_then(|l| l.set_nonblocking(true).map(|()| l))
            .map_err(|e| Error::cluster(format!("executor {id} cannot listen on {ip}: {e}")))?;
        let address = listener
            .local_addr()
            .map_err(|e| Error::cluster(format!("executor address: {e}")))?
            .to_string();

        let runtime = Arc::new(ExecutorRuntime {
            id,
            address,
            cores,
            rt,
            driver,
            secret: secret.clone(),
            tls: tls.clone(),
            ctx: OnceLock::new(),
            jobs: Mutex::new(HashMap::new()),
            outcomes: Mutex::new(HashMap::new()),
            outcome_ready: Condvar::new(),
            shuffle_alias: Mutex::new(HashMap::new()),
            rdd_alias: Mutex::new(HashMap::new()),
            peers: Mutex::new(HashMap::new()),
            fetch_timeout: heartbeat_timeout,
            max_message,
            heartbeat_interval: interval,
            control: crossbeam_channel::unbounded(),
        });
        let service = tonic::service::interceptor::InterceptedService::new(
            pb::executor_server::ExecutorServer::new(ShuffleService(Arc::downgrade(&runtime)))
                .max_decoding_message_size(max_message),
            CheckSecret::new(secret, "executor"),
        );
        super::rpc::serve(
            &runtime.rt,
            listener,
            tonic::service::Routes::new(service),
            "executor",
            tls.as_ref(),
            super::rpc::idle_timeout(conf)?,
        )?;
        Ok(runtime)
    }

    /// The application's hash seed (from the secret it shares with its driver).
    pub(crate) fn hash_seed(&self) -> crate::hash::HashSeed {
        self.secret.hash_seed()
    }

    /// Registers with the driver once the context exists, and starts following it.
    pub(crate) fn register(self: &Arc<Self>, ctx: Weak<ContextInner>) -> Result<()> {
        let _ = self.ctx.set(ctx);
        let exe = std::env::current_exe().map_or_else(|_| "?".into(), |p| p.display().to_string());
        let req = pb::RegisterRequest {
            executor_id: self.id,
            build_id: super::build_id()?,
            address: self.address.clone(),
            cores: self.cores as u32,
            pid: std::process::id(),
            host: hostname(),
            executable: exe,
        };
        let mut client = self.driver.clone();
        let stream = run_on(self.rt.handle(), async move { client.register(req).await })
            .ok_or_else(|| Error::cluster("the RPC runtime stopped"))?
            .map_err(|s| refused(self.id, &s))?
            .into_inner();
        let me = Arc::clone(self);
        self.rt
            .spawn(async move { me.follow_commands(stream).await });
        let me = Arc::clone(self);
        self.rt.spawn(async move { me.heartbeats().await });
        Ok(())
    }

    /// Queues a message of the driver's control log for the program, in order.
    fn control_message(&self, payload: Vec<u8>, replayed: bool, replay_ends: bool) {
        let _ = self.control.0.send(ControlMessage {
            payload,
            replayed,
            replay_ends,
        });
    }

    /// This executor's id.
    async fn follow_commands(self: Arc<Self>, mut stream: tonic::Streaming<pb::Command>) {
        loop {
            match stream.message().await {
                Ok(Some(pb::Command { kind: Some(kind) })) => match kind {
                    pb::command::Kind::Launch(task) => self.launch(task),
                    pb::command::Kind::JobEnded(ended) => {
                        // Kept only for a job this program is following: one it reaches later
                        // gets the outcome with the driver's answer to `JobReady`.
                        let job = JobId(ended.job);
                        if self.jobs.lock().contains_key(&job) {
                            self.outcomes.lock().insert(job, ended);
                            self.outcome_ready.notify_all();
                        }
                    }
                    pb::command::Kind::Control(payload) => {
                        self.control_message(payload, false, false)
                    }
                    pb::command::Kind::ReplayedControl(payload) => {
                        self.control_message(payload, true, false)
                    }
                    pb::command::Kind::LastReplayedControl(payload) => {
                        self.control_message(payload, true, true)
                    }
                    pb::command::Kind::Stop(stop) => {
                        if stop.refused {
                            self.exit(2, &format!("refused by the driver: {}", stop.reason));
                        }
                        self.exit(0, &format!("stopped: {}", stop.reason));
                    }
                },
                Ok(Some(_)) => {}
                Ok(None) => self.exit(1, "the driver closed the connection without a stop"),
                Err(status) => self.exit(1, &format!("lost the driver: {}", status.message())),
            }
        }
    }

    async fn heartbeats(self: Arc<Self>) {
        let mut last_ok = Instant::now();
        loop {
            tokio::time::sleep(self.heartbeat_interval).await;
            let mut client = self.driver.clone();
            let reply = tokio::time::timeout(
                self.fetch_timeout,
                client.heartbeat(pb::HeartbeatRequest {
                    executor_id: self.id,
                }),
            )
            .await;
            match reply {
                Ok(Ok(r)) if r.get_ref().known => last_ok = Instant::now(),
                Ok(Ok(_)) => self.exit(
                    1,
                    "the driver declared this executor lost (it was silent too long); exiting",
                ),
                _ if last_ok.elapsed() > self.fetch_timeout * 2 => self.exit(
                    1,
                    &format!(
                        "the driver has not answered for {:?}; exiting",
                        last_ok.elapsed()
                    ),
                ),
                _ => {}
            }
        }
    }

    fn await_job(
        &self,
        job: JobId,
        lineage: &JobLineage,
        followed: &FollowedJob,
    ) -> Result<pb::JobEnded> {
        let req = pb::JobReadyRequest {
            executor_id: self.id,
            job: job.0,
            fingerprint: lineage.fingerprint.clone(),
            description: lineage.description.clone(),
        };
        let mut client = self.driver.clone();
        let reply = run_on(self.rt.handle(), async move { client.job_ready(req).await })
            .ok_or_else(|| Error::cluster("the RPC runtime stopped"))?
            .map_err(|s| refused(self.id, &s))?
            .into_inner();
        if reply.rdd_ids.len() != lineage.rdds.len()
            || reply.shuffle_ids.len() != lineage.shuffles.len()
        {
            return Err(Error::Internal(format!(
                "{job}: the driver's graph has other sizes despite an equal fingerprint"
            )));
        }
        {
            let mut rdds = self.rdd_alias.lock();
            for (&local, &driver) in lineage.rdds.iter().zip(&reply.rdd_ids) {
                rdds.insert(local, RddId(driver));
            }
        }
        let mut deps = HashMap::new();
        {
            let mut alias = self.shuffle_alias.lock();
            for (dep, &driver) in lineage.shuffles.iter().zip(&reply.shuffle_ids) {
                alias.insert(dep.shuffle_id(), ShuffleId(driver));
                deps.insert(ShuffleId(driver), Arc::clone(dep));
            }
        }
        *followed.deps.lock() = Some(deps);
        followed.armed.notify_all();
        if let Some(ended) = reply.ended {
            // Its outcome may also have come as a command meanwhile.
            self.outcomes.lock().remove(&job);
            return Ok(ended);
        }
        let mut outcomes = self.outcomes.lock();
        loop {
            if let Some(ended) = outcomes.remove(&job) {
                return Ok(ended);
            }
            self.outcome_ready.wait(&mut outcomes);
        }
    }

    fn launch(self: &Arc<Self>, task: pb::LaunchTask) {
        let Some(ctx) = self.ctx.get().and_then(Weak::upgrade) else {
            return;
        };
        let me = Arc::clone(self);
        ctx.jobs.pool.spawn(move || {
            let report = me.run_task(&task);
            let mut client = me.driver.clone();
            me.rt.spawn(async move {
                if let Err(s) = client.task_done(report).await {
                    tracing::warn!("cannot report a task to the driver: {}", s.message());
                }
            });
        });
    }

    fn run_task(&self, t: &pb::LaunchTask) -> pb::TaskResult {
        let id = TaskId {
            job: JobId(t.job),
            stage: StageId(t.stage),
            partition: t.partition as usize,
            attempt: t.attempt,
        };
        let placement = Arc::new(TaskPlacement {
            shuffles: t
                .shuffles
                .iter()
                .map(|s| (ShuffleId(s.shuffle), s.map_address.clone()))
                .collect(),
            cached: Mutex::new(Vec::new()),
        });
        let tc = TaskContext {
            task: id,
            placement: Some(Arc::clone(&placement)),
        };
        let outcome = catch_unwind(AssertUnwindSafe(|| self.compute(t, &tc))).unwrap_or_else(|p| {
            Err(Error::Panicked {
                message: panic_message(&*p),
            })
        });
        let cached = {
            let alias = self.rdd_alias.lock();
            placement
                .cached
                .lock()
                .iter()
                .filter_map(|(rdd, p)| {
                    alias.get(rdd).map(|d| pb::CachedBlock {
                        rdd: d.0,
                        partition: *p as u64,
                    })
                })
                .collect()
        };
        pb::TaskResult {
            executor_id: self.id,
            job: t.job,
            stage: t.stage,
            partition: t.partition,
            attempt: t.attempt,
            outcome: Some(match outcome {
                Ok(frame) => pb::task_result::Outcome::Ok(frame),
                Err(e) => pb::task_result::Outcome::Error(pb::TaskError {
                    fetch_failed: match &e {
                        Error::FetchFailed {
                            shuffle,
                            map,
                            reduce,
                        } => Some(pb::FetchFailure {
                            shuffle: shuffle.0,
                            map: *map as u64,
                            reduce: *reduce as u64,
                        }),
                        _ => None,
                    },
                    fatal: is_fatal(&e),
                    message: e.to_string(),
                }),
            }),
            cached,
        }
    }

    fn compute(&self, t: &pb::LaunchTask, tc: &TaskContext) -> Result<Vec<u8>> {
        let job = JobId(t.job);
        let followed = self.jobs.lock().get(&job).cloned().ok_or_else(|| {
            Error::Internal(format!(
                "executor {} got a task of {job}, which it does not follow",
                self.id
            ))
        })?;
        let deps = {
            let mut deps = followed.deps.lock();
            let deadline = Instant::now() + Duration::from_secs(30);
            while deps.is_none() {
                if followed.armed.wait_until(&mut deps, deadline).timed_out() {
                    return Err(Error::cluster(format!(
                        "{job}: the driver's ids never came"
                    )));
                }
            }
            deps.clone().unwrap_or_default()
        };
        match t.map_shuffle {
            Some(s) => {
                let dep = deps.get(&ShuffleId(s)).ok_or_else(|| {
                    Error::Internal(format!("{job} has no shuffle {s} in this executor's graph"))
                })?;
                dep.run_map_task(t.partition as usize, tc)?;
                Ok(Vec::new())
            }
            None => (followed.result)(t.partition as usize, tc),
        }
    }

    fn peer(&self, address: &str) -> Result<PeerClient> {
        let mut peers = self.peers.lock();
        if let Some(c) = peers.get(address) {
            return Ok(c.clone());
        }
        let url = format!("{}://{address}", super::tls::scheme(self.tls.as_ref()));
        let endpoint = super::tls::endpoint(url, self.tls.as_ref())?
            .connect_timeout(self.fetch_timeout)
            .tcp_nodelay(true);
        let channel = {
            let _guard = self.rt.enter();
            endpoint.connect_lazy()
        };
        let client = pb::executor_client::ExecutorClient::with_interceptor(
            channel,
            AddSecret(self.secret.clone()),
        )
        .max_decoding_message_size(self.max_message);
        peers.insert(address.to_string(), client.clone());
        Ok(client)
    }
}

/// An RPC refusal as the error the executor's program sees (and exits with).
fn refused(id: u32, status: &Status) -> Error {
    Error::cluster(format!(
        "the driver refused executor {id}: {}",
        status.message()
    ))
}

impl ExecutorRuntime {
    /// Ends the executor process: its work is the driver's, and the driver said so (or is
    /// gone). Its spilled map outputs go with it (nobody can fetch them any more).
    fn exit(&self, code: i32, why: &str) -> ! {
        use std::io::Write;
        if let Some(ctx) = self.ctx.get().and_then(Weak::upgrade)
            && let Some(dir) = ctx.shuffles.spill_dir()
        {
            let _ = std::fs::remove_dir_all(dir);
        }
        eprintln!("spate executor: {why}");
        let _ = std::io::stdout().flush();
        std::process::exit(code)
    }
}

/// The host name this executor reports: the Slurm node's name inside a job step (what the
/// cluster calls it, which differs from the machine's name where nodes share a machine),
/// else the machine's.
fn hostname() -> String {
    if let Ok(node) = std::env::var("SLURMD_NODENAME")
        && !node.is_empty()
    {
        return node;
    }
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_else(|| "?".into())
}

impl JobFollower for ExecutorRuntime {
    /// Runs job `job` of this process's program by following the driver: registers it, waits
    /// for the driver to run it, and returns the driver's result.
    fn follow_job(
        &self,
        job: JobId,
        final_rdd: Arc<dyn RddBase>,
        result: EncodedResultFn,
    ) -> Result<Vec<u8>> {
        let lineage = JobLineage::walk(&final_rdd);
        tracing::debug!("{job} reached: {}", lineage.description);
        let followed = Arc::new(FollowedJob {
            result,
            deps: Mutex::new(None),
            armed: Condvar::new(),
        });
        self.jobs.lock().insert(job, Arc::clone(&followed));
        let outcome = self.await_job(job, &lineage, &followed);
        self.jobs.lock().remove(&job);
        match outcome?.outcome {
            Some(pb::job_ended::Outcome::Result(frame)) => Ok(frame),
            Some(pb::job_ended::Outcome::Error(message)) => {
                Err(Error::JobFailedOnDriver { job, message })
            }
            None => Err(Error::Internal(format!("{job} ended without an outcome"))),
        }
    }
}

impl ExecutorRole for ExecutorRuntime {
    fn id(&self) -> u32 {
        self.id
    }
    fn app_id(&self) -> Option<String> {
        std::env::var(super::APP_ID_ENV).ok()
    }
    fn next_control(&self) -> Option<ControlMessage> {
        self.control.1.recv().ok()
    }
    fn driver_shuffle_id(&self, local: ShuffleId) -> Option<ShuffleId> {
        self.shuffle_alias.lock().get(&local).copied()
    }
    fn forget_shuffle(&self, local: ShuffleId) -> Option<ShuffleId> {
        self.shuffle_alias.lock().remove(&local)
    }
    fn driver_rdd_id(&self, local: RddId) -> Option<RddId> {
        self.rdd_alias.lock().get(&local).copied()
    }
    fn forget_rdd(&self, local: RddId) {
        self.rdd_alias.lock().remove(&local);
    }
    fn sizes(&self) -> Vec<(&'static str, usize)> {
        vec![
            ("executor.jobs", self.jobs.lock().len()),
            ("executor.outcomes", self.outcomes.lock().len()),
            ("executor.shuffle_alias", self.shuffle_alias.lock().len()),
            ("executor.rdd_alias", self.rdd_alias.lock().len()),
            ("executor.peers", self.peers.lock().len()),
            ("executor.control", self.control.1.len()),
        ]
    }
    fn fetch_input_block(&self, block: crate::ids::InputBlockId) -> Result<FetchedInput> {
        self.fetch_input(block)
    }
    fn replicate_input_block(&self, block: crate::ids::InputBlockId, address: &str) -> Result<()> {
        self.replicate_input(block, address)
    }
    fn report_input(
        &self,
        stream: u32,
        blocks: Vec<crate::context::ReportedBlock>,
        payload: Vec<u8>,
    ) -> Result<()> {
        self.report_input_blocks(stream, blocks, payload)
    }
    /// Reduce partition `reduce` of this process's shuffle `local`: this executor's map
    /// outputs from its store, the others' fetched from them (checksummed codec frames).
    fn read_shuffle(
        &self,
        local: ShuffleId,
        num_maps: usize,
        reduce: usize,
        placement: &TaskPlacement,
    ) -> Result<(ShuffleId, Vec<ShufflePiece>)> {
        let shuffle = self
            .driver_shuffle_id(local)
            .ok_or_else(|| Error::Internal(format!("{local} has no driver id")))?;
        let failed = |map| Error::FetchFailed {
            shuffle,
            map,
            reduce,
        };
        let locations = placement.shuffles.get(&shuffle).ok_or_else(|| failed(0))?;
        let ctx = self
            .ctx
            .get()
            .and_then(Weak::upgrade)
            .ok_or(Error::ContextStopped)?;
        let mut blocks: Vec<Option<ShufflePiece>> = (0..num_maps).map(|_| None).collect();
        let mut remote: HashMap<&str, Vec<u64>> = HashMap::new();
        for (map, slot) in blocks.iter_mut().enumerate() {
            match locations.get(map).map(String::as_str) {
                Some(a) if a == self.address => {
                    let block = match ctx.shuffles.fetch_local(shuffle, map, reduce) {
                        Some(b) => Some(ShufflePiece::Local(b)),
                        // Spilled to this executor's local dir.
                        None => match ctx.shuffles.fetch_encoded(shuffle, map, reduce) {
                            Some(frame) => {
                                Some(ShufflePiece::Frame(frame?, "a spilled shuffle block"))
                            }
                            None => None,
                        },
                    };
                    *slot = Some(block.ok_or_else(|| failed(map))?);
                }
                Some(a) if !a.is_empty() => remote.entry(a).or_default().push(map as u64),
                _ => return Err(failed(map)),
            }
        }
        // Fetch from every executor at once; decode here, on the task's thread.
        let mut fetches = Vec::new();
        for (address, maps) in remote {
            let client = self.peer(address)?;
            let first = maps[0] as usize;
            let req = pb::FetchShuffleRequest {
                shuffle: shuffle.0,
                reduce: reduce as u64,
                maps,
            };
            let timeout = self.fetch_timeout;
            let fut = async move {
                let mut client = client;
                let fetch = async {
                    let mut stream = client.fetch_shuffle(req).await?.into_inner();
                    let mut got = Vec::new();
                    while let Some(b) = stream.message().await? {
                        got.push(b);
                    }
                    Ok::<_, Status>(got)
                };
                match tokio::time::timeout(timeout, fetch).await {
                    Ok(Ok(got)) => Ok(got),
                    Ok(Err(s)) => Err((first, s.message().to_string())),
                    Err(_) => Err((first, format!("no answer within {timeout:?}"))),
                }
            };
            fetches.push(self.rt.spawn(fut));
        }
        let results = run_on(self.rt.handle(), async move {
            let mut out = Vec::new();
            for f in fetches {
                out.push(f.await);
            }
            out
        })
        .ok_or(Error::ContextStopped)?;
        for r in results {
            let got = match r {
                Ok(Ok(got)) => got,
                Ok(Err((map, why))) => {
                    tracing::warn!("fetching {shuffle} map {map} failed: {why}");
                    return Err(failed(map));
                }
                Err(_) => return Err(failed(0)),
            };
            for b in got {
                let map = b.map as usize;
                if b.missing || map >= num_maps {
                    return Err(failed(map.min(num_maps.saturating_sub(1))));
                }
                blocks[map] = Some(ShufflePiece::Frame(b.frame, "a fetched shuffle block"));
            }
        }
        let pieces = blocks
            .into_iter()
            .enumerate()
            .map(|(m, b)| b.ok_or_else(|| failed(m)))
            .collect::<Result<Vec<_>>>()?;
        Ok((shuffle, pieces))
    }
}

#[cfg(test)]
mod tests;
