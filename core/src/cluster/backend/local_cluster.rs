//! `local-cluster[N,C]`: N executor processes of the application binary on this host, each
//! with C task slots (Spark's `local-cluster`, for tests and for trying cluster mode out).

use std::process::Command;
use std::time::Duration;

use super::{ExecutorBackend, LaunchSpec, OnExit, Processes};
use crate::cluster::EXECUTOR_ID_ENV;
use crate::error::Result;

/// Child processes of the driver.
#[derive(Default)]
pub(crate) struct LocalCluster {
    processes: Processes,
}

impl ExecutorBackend for LocalCluster {
    fn name(&self) -> &'static str {
        "local-cluster"
    }

    fn start_executor(
        &mut self,
        spec: &LaunchSpec,
        id: u32,
        _replacement: bool,
        on_exit: &OnExit,
    ) -> Result<()> {
        let mut cmd = Command::new(&spec.program);
        cmd.args(&spec.args)
            .envs(spec.env.iter().map(|(k, v)| (k, v)))
            .env(EXECUTOR_ID_ENV, id.to_string());
        self.processes.spawn(id, cmd, spec, on_exit)
    }

    fn stop(&mut self, grace: Duration) {
        self.processes.stop(grace);
    }
}
