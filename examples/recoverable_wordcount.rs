//! A word count that survives `kill -9`: Spark's RecoverableNetworkWordCount, over files.
//!
//! ```text
//! spate-submit --master 'local[2]' --example recoverable_wordcount /tmp/ck /tmp/in /tmp/out
//! mv notes.txt /tmp/in/        # in another terminal; kill -9 it, start it again: nothing is
//!                              # lost or counted twice
//! ```
//!
//! Every second, the words of the files moved into `<input-dir>` are added to running totals
//! (`update_state_by_key`, a stream named `totals`), and all totals are saved as
//! `<output-dir>/counts/totals-<batch ms>/part-NNNNN` (one `(word,count)` per line). The
//! context comes from `StreamingContext::get_or_create(<checkpoint-dir>, ..)`: started again
//! after a crash with the same arguments, it resumes from its checkpoint — unfinished batches
//! run again (replacing their output directories), the totals resume from the last state
//! checkpoint and the batches since it are replayed from the files they read, and files that
//! arrived meanwhile are counted once.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use spate::prelude::*;

fn main() -> ExitCode {
    spate::init_logging();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "Usage: recoverable_wordcount <checkpoint-dir> <input-dir> <output-dir>";
    let [checkpoint, input, output] = args.as_slice() else {
        eprintln!("recoverable_wordcount: expected three directories\n{usage}");
        return ExitCode::from(1);
    };
    if !Path::new(input).is_dir() {
        eprintln!("recoverable_wordcount: {input} is not a directory: create it first\n{usage}");
        return ExitCode::from(1);
    }
    match run(checkpoint.as_ref(), input.as_ref(), output.as_ref()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("recoverable_wordcount: {e}");
            ExitCode::from(2)
        }
    }
}

fn run(checkpoint: &Path, input: &Path, output: &Path) -> Result<()> {
    let counts: PathBuf = output.join("counts");
    std::fs::create_dir_all(&counts).map_err(|e| spate::core::Error::io(&counts, e))?;
    let prefix = counts.join("totals").display().to_string();
    let ssc = StreamingContext::get_or_create(checkpoint, || {
        let conf = Conf::from_env().set_app_name("RecoverableWordCount");
        let ssc = StreamingContext::new(conf, Duration::from_secs(1))?;
        let totals = ssc
            .text_file_stream(input)
            .flat_map(|line| line.split(' '))
            .filter(|w| !w.is_empty())
            .map(|w| (w, 1u64))
            .update_state_by_key(|new: &[u64], total: Option<u64>| {
                Some(total.unwrap_or(0) + new.iter().sum::<u64>())
            })
            .name("totals");
        totals.save_as_text_files(&prefix, "")?;
        Ok(ssc)
    })?;
    ssc.start()?;
    ssc.await_termination()
}
