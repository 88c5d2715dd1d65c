//! `slurm`: inside a Slurm allocation (`salloc -N 2 spate-submit --master slurm ...`, or a
//! `sbatch` script), each executor is one `srun` step on one allocated node. Slurm places,
//! signals and accounts for the steps; spate only asks for them.

use std::process::Command;
use std::time::Duration;

use super::{ExecutorBackend, LaunchSpec, OnExit, Processes};
use crate::cluster::EXECUTOR_ID_ENV;
use crate::error::{Error, Result};

/// `srun` steps of the current allocation.
#[derive(Default)]
pub(crate) struct Slurm {
    processes: Processes,
}

/// The allocation the driver runs in: its job id and node count.
pub(crate) fn allocation() -> Result<(String, usize)> {
    let job = std::env::var("SLURM_JOB_ID").map_err(|_| {
        Error::cluster(
            "--master slurm runs inside a Slurm allocation, and SLURM_JOB_ID is not set: start \
             it with `salloc -N <nodes> spate-submit --master slurm ...` or from an sbatch script",
        )
    })?;
    let nodes = ["SLURM_JOB_NUM_NODES", "SLURM_NNODES"]
        .iter()
        .find_map(|v| std::env::var(v).ok())
        .and_then(|n| n.trim().parse::<usize>().ok())
        .filter(|&n| n >= 1)
        .ok_or_else(|| {
            Error::cluster(format!(
                "Slurm allocation {job}: SLURM_JOB_NUM_NODES is missing or not a number"
            ))
        })?;
    Ok((job, nodes))
}

impl ExecutorBackend for Slurm {
    fn name(&self) -> &'static str {
        "slurm"
    }

    fn start_executor(
        &mut self,
        spec: &LaunchSpec,
        id: u32,
        replacement: bool,
        on_exit: &OnExit,
    ) -> Result<()> {
        let (job, nodes) = allocation()?;
        let mut cmd = Command::new("srun");
        cmd.arg(format!("--jobid={job}"))
            .args(["--nodes=1", "--ntasks=1", "--no-kill", "--quiet"]);
        if !replacement {
            // The first executors spread over the nodes; a replacement goes where Slurm has
            // room on a node that is up (the lost one's node may be down).
            cmd.arg(format!("--relative={}", id as usize % nodes));
        }
        cmd.arg(format!("--cpus-per-task={}", spec.cores))
            .arg(format!("--job-name=spate-executor-{id}"))
            // The role environment (the secret among it) goes through srun's own
            // environment, never its command line.
            .arg("--export=ALL");
        if spec.memory > 0 {
            cmd.arg(format!("--mem={}M", (spec.memory >> 20).max(1)));
        }
        cmd.arg(&spec.program)
            .args(&spec.args)
            .envs(spec.env.iter().map(|(k, v)| (k, v)))
            .env(EXECUTOR_ID_ENV, id.to_string());
        self.processes.spawn(id, cmd, spec, on_exit).map_err(|e| {
            Error::cluster(format!(
                "{e} (is `srun` on the PATH inside the allocation?)"
            ))
        })
    }

    fn stop(&mut self, grace: Duration) {
        // srun ends its step when it gets SIGTERM (or is killed), so stopping the srun
        // processes stops the executors.
        self.processes.stop(grace);
    }
}

/// The number of nodes in the current allocation.
pub(crate) fn nodes() -> Result<usize> {
    allocation().map(|(_, n)| n)
}

/// This host's address facing the allocation's first node: where executors can reach the
/// driver (the driver usually runs on the submit host, outside the nodes).
pub(crate) fn driver_host() -> Result<String> {
    let (job, _) = allocation()?;
    let nodelist = std::env::var("SLURM_JOB_NODELIST")
        .or_else(|_| std::env::var("SLURM_NODELIST"))
        .map_err(|_| {
            Error::cluster(format!(
                "Slurm allocation {job}: SLURM_JOB_NODELIST is not set"
            ))
        })?;
    let scontrol = |args: &[&str]| -> Result<String> {
        let out = Command::new("scontrol")
            .args(args)
            .output()
            .map_err(|e| Error::cluster(format!("cannot run scontrol {}: {e}", args.join(" "))))?;
        if !out.status.success() {
            return Err(Error::cluster(format!(
                "scontrol {} failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let hosts = scontrol(&["show", "hostnames", &nodelist])?;
    let first = hosts
        .split_whitespace()
        .next()
        .ok_or_else(|| Error::cluster(format!("allocation {job} has no nodes ({nodelist})")))?;
    let node = scontrol(&["show", "node", first])?;
    let addr = node
        .split_whitespace()
        .find_map(|f| f.strip_prefix("NodeAddr="))
        .unwrap_or(first)
        .to_string();
    crate::cluster::local_ip_towards(&addr, 6817).map_err(|e| {
        Error::cluster(format!(
            "cannot find this host's address towards node {first} ({addr}): {e}; set \
             spate.driver.host"
        ))
    })
}
