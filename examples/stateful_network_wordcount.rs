//! Running word totals over everything received since start — Spark's
//! StatefulNetworkWordCount, with `update_state_by_key`.
//!
//! ```text
//! nc -lk 9999
//! spate-submit --master 'local[2]' --example stateful_network_wordcount localhost 9999 [CHECKPOINT_DIR]
//! ```
//!
//! The state is checkpointed (by default under the system temp directory) so its lineage stays
//! short however long it runs. SIGINT or SIGTERM stops it gracefully.

use std::process::ExitCode;
use std::time::Duration;

use spate::prelude::*;

mod support;

fn main() -> ExitCode {
    spate::init_logging();
    match support::host_port_checkpoint("stateful_network_wordcount") {
        Ok((host, port, checkpoint)) => {
            support::exit_code("stateful_network_wordcount", run(&host, port, &checkpoint))
        }
        Err(code) => code,
    }
}

fn run(host: &str, port: u16, checkpoint: &std::path::Path) -> Result<()> {
    let conf = Conf::from_env().set_app_name("StatefulNetworkWordCount");
    let ssc = StreamingContext::new(conf, Duration::from_secs(1))?;
    std::fs::create_dir_all(checkpoint).map_err(|e| spate::core::Error::io(checkpoint, e))?;
    ssc.checkpoint(checkpoint)?;
    let words = ssc
        .socket_text_stream(host, port)
        .flat_map(|line| line.split(' '))
        .filter(|w| !w.is_empty());
    let totals = words
        .map(|w| (w, 1u64))
        .update_state_by_key(|new: &[u64], total: Option<u64>| {
            Some(total.unwrap_or(0) + new.iter().sum::<u64>())
        });
    totals.print(10)?;
    ssc.start()?;
    ssc.await_termination()
}
