//! How executors are started, watched and stopped: by the cluster manager the user already
//! runs, never by one of spate's own. A backend only places processes; scheduling stays in
//! spate's DAG scheduler.
//!
//! - `local_cluster`: `local-cluster[N,C]`, N child processes of this binary on this host.
//! - `slurm`: one `srun` step per executor on the nodes of the current allocation.

mod local_cluster;
mod slurm;

use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::conf::Master;
use crate::error::Result;

pub(crate) use local_cluster::LocalCluster;
pub(crate) use slurm::Slurm;
pub(crate) use slurm::{driver_host as slurm_driver_host, nodes as slurm_nodes};

/// What every executor is started with.
pub(crate) struct LaunchSpec {
    /// The application binary (the driver's own executable).
    pub(crate) program: PathBuf,
    /// The driver's arguments, passed unchanged.
    pub(crate) args: Vec<OsString>,
    /// The role environment (driver address, secret, app id, cores); the executor id is added
    /// per executor.
    pub(crate) env: Vec<(String, String)>,
    pub(crate) cores: usize,
    pub(crate) memory: u64,
    /// Where each executor's stdout and stderr go (`executor-<id>.out` / `.err`).
    pub(crate) log_dir: PathBuf,
}

impl LaunchSpec {
    pub(crate) fn log_paths(&self, id: u32) -> (PathBuf, PathBuf) {
        (
            self.log_dir.join(format!("executor-{id}.out")),
            self.log_dir.join(format!("executor-{id}.err")),
        )
    }
}

/// How an executor process ended on its own.
pub(crate) enum Exit {
    /// With status 0: its program ended (after the driver's last job, or another path than
    /// the driver's) — lost, but not to be replaced: a new one would end the same way.
    Ended,
    /// Killed, crashed or failed, with what is known of why.
    Failed(String),
}

/// Called when an executor process ends on its own: its id and how.
pub(crate) type OnExit = Arc<dyn Fn(u32, Exit) + Send + Sync>;

/// Starts and stops the executors of one application.
pub(crate) trait ExecutorBackend: Send {
    /// The backend's name, for logs.
    fn name(&self) -> &'static str;
    /// Starts executor `id`: one of the first (`0..spec.executors`), or a `replacement` for
    /// a lost one, placed wherever the cluster manager has room.
    fn start_executor(
        &mut self,
        spec: &LaunchSpec,
        id: u32,
        replacement: bool,
        on_exit: &OnExit,
    ) -> Result<()>;
    /// Waits up to `grace` for every executor to exit after the driver told it to stop, then
    /// kills what is left.
    fn stop(&mut self, grace: Duration);
}

/// The backend for a cluster master.
pub(crate) fn for_master(master: &Master) -> Option<Box<dyn ExecutorBackend>> {
    match master {
        Master::LocalCluster { .. } => Some(Box::new(LocalCluster::default())),
        Master::Slurm => Some(Box::new(Slurm::default())),
        Master::Local { .. } => None,
    }
}

/// The last `max` bytes of a log file, for an error message.
pub(crate) fn log_tail(path: &std::path::Path, max: usize) -> String {
    let text = std::fs::read(path).unwrap_or_default();
    let start = text.len().saturating_sub(max);
    String::from_utf8_lossy(&text[start..]).trim().to_string()
}

/// The executor processes a backend started (executors themselves, or `srun` for each),
/// each watched by a thread that reports an exit the driver did not ask for.
#[derive(Default)]
pub(crate) struct Processes {
    children: Vec<Arc<parking_lot::Mutex<std::process::Child>>>,
    stopping: Arc<std::sync::atomic::AtomicBool>,
}

impl Processes {
    /// Starts `cmd` for executor `id`, its stdout and stderr in the executor's log files.
    pub(crate) fn spawn(
        &mut self,
        id: u32,
        mut cmd: std::process::Command,
        spec: &LaunchSpec,
        on_exit: &OnExit,
    ) -> Result<()> {
        use crate::error::Error;
        let (out, err) = spec.log_paths(id);
        let open = |p: &std::path::Path| crate::cluster::files::private_file(p);
        use std::os::unix::process::CommandExt;
        // Its own process group: a signal to the driver's group (a terminal's Ctrl-C,
        // `timeout`) reaches the driver, which stops gracefully and then stops its executors.
        let child = cmd
            .process_group(0)
            .stdin(std::process::Stdio::null())
            .stdout(open(&out)?)
            .stderr(open(&err)?)
            .spawn()
            .map_err(|e| {
                Error::cluster(format!(
                    "cannot start executor {id} ({:?}): {e}",
                    cmd.get_program()
                ))
            })?;
        let child = Arc::new(parking_lot::Mutex::new(child));
        // Forget the processes that ended (lost executors): replacements must not make the
        // list grow.
        self.children
            .retain(|c| matches!(c.lock().try_wait(), Ok(None)));
        self.children.push(Arc::clone(&child));
        let (stopping, on_exit) = (Arc::clone(&self.stopping), Arc::clone(on_exit));
        std::thread::Builder::new()
            .name(format!("spate-watch-{id}"))
            .spawn(move || {
                use std::sync::atomic::Ordering;
                loop {
                    let status = child.lock().try_wait();
                    match status {
                        Ok(None) => std::thread::sleep(Duration::from_millis(20)),
                        Ok(Some(status)) => {
                            if !stopping.load(Ordering::SeqCst) {
                                let tail = log_tail(&err, 600);
                                on_exit(
                                    id,
                                    if status.success() {
                                        Exit::Ended
                                    } else {
                                        Exit::Failed(format!(
                                            "its process exited ({status}): {tail}"
                                        ))
                                    },
                                );
                            }
                            return;
                        }
                        Err(e) => {
                            on_exit(id, Exit::Failed(format!("cannot watch its process: {e}")));
                            return;
                        }
                    }
                }
            })
            .map_err(|e| Error::cluster(format!("cannot watch executor {id}: {e}")))?;
        Ok(())
    }

    /// Waits up to `grace` for every process to exit, then kills what is left.
    pub(crate) fn stop(&mut self, grace: Duration) {
        self.stopping
            .store(true, std::sync::atomic::Ordering::SeqCst);
        let deadline = std::time::Instant::now() + grace;
        for child in &self.children {
            while matches!(child.lock().try_wait(), Ok(None))
                && std::time::Instant::now() < deadline
            {
                std::thread::sleep(Duration::from_millis(5));
            }
            let mut c = child.lock();
            if matches!(c.try_wait(), Ok(None)) {
                // SIGTERM first: srun cancels its step on it.
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(c.id() as i32),
                    nix::sys::signal::Signal::SIGTERM,
                );
                let until = std::time::Instant::now() + Duration::from_secs(2);
                while matches!(c.try_wait(), Ok(None)) && std::time::Instant::now() < until {
                    std::thread::sleep(Duration::from_millis(5));
                }
                let _ = c.kill();
            }
            let _ = c.wait();
        }
        self.children.clear();
    }
}
