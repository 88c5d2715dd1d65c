//! Counts the words of every new file moved into a directory — Spark's HdfsWordCount.
//!
//! ```text
//! spate-submit --master 'local[2]' --example file_wordcount /tmp/incoming
//! mv notes.txt /tmp/incoming/      # in another terminal: each new file is counted once
//! ```
//!
//! Write files elsewhere and move them in: hidden (`.x`, `_x`) and in-progress (`*.tmp`,
//! `*._COPYING_`) names are ignored. SIGINT or SIGTERM stops it gracefully.

use std::process::ExitCode;
use std::time::Duration;

use spate::prelude::*;

fn main() -> ExitCode {
    spate::init_logging();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [dir] = args.as_slice() else {
        eprintln!("file_wordcount: expected <directory>\nUsage: file_wordcount <directory>");
        return ExitCode::from(1);
    };
    if !std::path::Path::new(dir).is_dir() {
        eprintln!("file_wordcount: {dir} is not a directory: create it first");
        return ExitCode::from(1);
    }
    match run(dir) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("file_wordcount: {e}");
            ExitCode::from(2)
        }
    }
}

fn run(dir: &str) -> Result<()> {
    let conf = Conf::from_env().set_app_name("FileWordCount");
    let ssc = StreamingContext::new(conf, Duration::from_secs(2))?;
    let words = ssc.text_file_stream(dir).flat_map(|line| line.split(' '));
    let counts = words
        .filter(|w| !w.is_empty())
        .map(|w| (w, 1u64))
        .reduce_by_key(|a, b| a + b);
    counts.print(10)?;
    ssc.start()?;
    ssc.await_termination()
}
