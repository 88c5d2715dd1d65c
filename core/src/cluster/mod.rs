//! Cluster mode: one application binary running as a driver and as executors.
//!
//! Closures are never shipped. The backend (`backend::local_cluster` or `backend::slurm`)
//! starts each executor by running the application binary again, with the same arguments and
//! an environment that gives it its role (`SPATE_EXECUTOR_ID`, `SPATE_DRIVER_URL`, the
//! application's secret). The executor's `main` builds the same contexts and graphs; its
//! [`Context`](crate::Context) then *follows* the driver instead of scheduling: each action
//! registers its job and waits for the driver to run it ([`executor`]), serving the driver's
//! tasks — named by ids — meanwhile, and returns the driver's result, so a program whose
//! control flow depends on action results takes the same path everywhere.
//!
//! - `rpc`: the generated gRPC services (`core/proto/spate.proto`) and clients.
//! - `auth`: the application secret every call carries.
//! - `tls`: TLS on every connection, with certificates derived from the secret.
//! - `lineage`: a job's graph fingerprint and the pairing of driver and executor ids.
//! - `driver`: registration, heartbeats, task placement, the map-output and block trackers.
//! - `executor`: following jobs, running tasks, serving shuffle blocks to other executors.
//! - `backend`: how executors are started and watched: `local_cluster` (child processes),
//!   `slurm` (`srun` steps of the current allocation).

pub(crate) mod accept;
pub(crate) mod auth;
pub(crate) mod backend;
pub(crate) mod driver;
pub(crate) mod executor;
pub(crate) mod files;
pub(crate) mod inputs;
pub(crate) mod lineage;
pub(crate) mod rpc;
pub(crate) mod tls;

use std::sync::OnceLock;

use crate::error::{Error, Result};

pub(crate) use driver::DriverRuntime;
pub(crate) use executor::ExecutorRuntime;

/// The environment variable that makes a process an executor, with its id.
pub(crate) const EXECUTOR_ID_ENV: &str = "SPATE_EXECUTOR_ID";
/// The driver's RPC address, `https://host:port` (`http://` with TLS off).
pub(crate) const DRIVER_URL_ENV: &str = "SPATE_DRIVER_URL";
/// The application id the driver chose (shared by all its processes).
pub(crate) const APP_ID_ENV: &str = "SPATE_APP_ID";
/// Task slots of an executor.
pub(crate) const EXECUTOR_CORES_ENV: &str = "SPATE_EXECUTOR_CORES";
/// How many executors the driver started (inside a Slurm step, the allocation's node count
/// is no longer in the environment).
pub(crate) const EXECUTOR_INSTANCES_ENV: &str = "SPATE_EXECUTOR_INSTANCES";

/// A hash of this process's executable: two processes with the same build id run the same
/// code, so they build the same graphs from the same arguments.
pub(crate) fn build_id() -> Result<String> {
    match static_build_id() {
        Ok(id) => Ok(id.clone()),
        Err(e) => Err(Error::cluster(e.to_string())),
    }
}

// Computed once per process: the executable does not change under a running process. (A
// cache, not state: every call would compute the same value.)
fn static_build_id() -> &'static Result<String> {
    static ID: OnceLock<Result<String>> = OnceLock::new();
    ID.get_or_init(|| {
        use std::hash::Hasher;
        use std::io::Read;
        let exe = std::env::current_exe()
            .map_err(|e| Error::cluster(format!("cannot find this executable: {e}")))?;
        let mut f = std::fs::File::open(&exe).map_err(|e| Error::io(&exe, e))?;
        let mut hasher = rustc_hash::FxHasher::default();
        let mut buf = vec![0u8; 1 << 20];
        let mut len = 0u64;
        loop {
            let n = f.read(&mut buf).map_err(|e| Error::io(&exe, e))?;
            if n == 0 {
                break;
            }
            len += n as u64;
            hasher.write(&buf[..n]);
        }
        Ok(format!("{:016x}-{len}", hasher.finish()))
    })
}

/// The address of this host's interface that routes to `host` (no packet is sent: a UDP
/// socket's connect only picks the route).
pub(crate) fn local_ip_towards(host: &str, port: u16) -> std::io::Result<String> {
    use std::net::ToSocketAddrs;
    let target = (host, port)
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| std::io::Error::other(format!("{host} has no address")))?;
    let bind = if target.is_ipv4() {
        "0.0.0.0:0"
    } else {
        "[::]:0"
    };
    let socket = std::net::UdpSocket::bind(bind)?;
    socket.connect(target)?;
    Ok(socket.local_addr()?.ip().to_string())
}

/// Task slots of the whole cluster for a cluster master: the default parallelism, equal in
/// the driver and every executor (so they cut the same partitions).
pub(crate) fn total_cores(conf: &crate::Conf, master: &crate::conf::Master) -> Result<usize> {
    use crate::conf::Master;
    Ok(match master {
        Master::Local { threads } => *threads,
        Master::LocalCluster { executors, cores } => executors * cores,
        Master::Slurm => {
            let from_env = |var: &str| {
                std::env::var(var)
                    .ok()
                    .and_then(|v| v.parse::<usize>().ok())
            };
            let executors = match conf.get_opt_count("spate.executor.instances")? {
                Some(n) => n,
                None => match from_env(EXECUTOR_INSTANCES_ENV) {
                    Some(n) => n,
                    None => backend::slurm_nodes()?,
                },
            };
            executors * conf.get_count("spate.executor.cores")?
        }
    })
}

/// A multi-threaded tokio runtime for the RPC servers and clients of one context.
pub(crate) fn new_runtime(name: &'static str) -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name(name)
        .enable_all()
        .build()
        .map_err(|e| Error::cluster(format!("cannot start the RPC runtime: {e}")))
}

/// Runs `fut` on `rt` from any thread (a task thread, the user's `main`, or a thread inside
/// another runtime, where `block_on` would panic) and waits for its output.
pub(crate) fn run_on<T: Send + 'static>(
    rt: &tokio::runtime::Handle,
    fut: impl std::future::Future<Output = T> + Send + 'static,
) -> Option<T> {
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    rt.spawn(async move {
        let _ = tx.send(fut.await);
    });
    rx.recv().ok()
}
