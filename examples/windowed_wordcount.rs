//! Word counts over the last 30 seconds, every 10 seconds, computed incrementally: each
//! window adds the batches that entered and subtracts those that left
//! (`reduce_by_key_and_window_inv`), dropping words whose count falls to zero.
//!
//! ```text
//! nc -lk 9999
//! spate-submit --master 'local[2]' --example windowed_wordcount localhost 9999 [CHECKPOINT_DIR]
//! ```

use std::process::ExitCode;
use std::time::Duration;

use spate::prelude::*;

mod support;

fn main() -> ExitCode {
    spate::init_logging();
    match support::host_port_checkpoint("windowed_wordcount") {
        Ok((host, port, checkpoint)) => {
            support::exit_code("windowed_wordcount", run(&host, port, &checkpoint))
        }
        Err(code) => code,
    }
}

fn run(host: &str, port: u16, checkpoint: &std::path::Path) -> Result<()> {
    let conf = Conf::from_env().set_app_name("WindowedWordCount");
    let ssc = StreamingContext::new(conf, Duration::from_secs(1))?;
    std::fs::create_dir_all(checkpoint).map_err(|e| spate::core::Error::io(checkpoint, e))?;
    ssc.checkpoint(checkpoint)?;
    let pairs = ssc
        .socket_text_stream(host, port)
        .flat_map(|line| line.split(' '))
        .filter(|w| !w.is_empty())
        .map(|w| (w, 1i64));
    let windowed = pairs.reduce_by_key_and_window_inv(
        |a, b| a + b,
        |a, b| a - b,
        Duration::from_secs(30),
        Duration::from_secs(10),
        Some(|p: &(Text, i64)| p.1 > 0),
    )?;
    windowed.print(10)?;
    ssc.start()?;
    ssc.await_termination()
}
