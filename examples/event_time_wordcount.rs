//! Event-time word counts into PostgreSQL, exactly once: Structured Streaming's "counts of
//! 10-minute windows, sliding every 5 minutes" guide example on DStreams.
//!
//! ```text
//! spate-submit --master 'local[2]' --example event_time_wordcount /tmp/events \
//!     postgres://spate:secret@127.0.0.1:5432/spate [checkpoint-dir]
//! ```
//!
//! Input: files moved into `<input-dir>`, lines `<epoch-ms> <word> <word> …` (every word of a
//! line happened at its time). Output: table `word_counts`, which you create:
//!
//! ```sql
//! CREATE TABLE word_counts (window_start BIGINT, window_end BIGINT, word TEXT, count BIGINT,
//!                           PRIMARY KEY (window_start, word));
//! ```
//!
//! Windows of 10 minutes every 5 minutes, a 10-minute watermark, Update mode: each batch upserts
//! the windows it changed, in the same transaction as the batch's progress row, so after any
//! crash and restart (same arguments: the checkpoint directory defaults to
//! `<temp>/spate-event_time_wordcount`) every count is exact.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use spate::prelude::*;
use spate::sql::{Postgres, SaveToDatabase, Sink, Table};

fn main() -> ExitCode {
    spate::init_logging();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "Usage: event_time_wordcount <input-dir> <postgres-url> [checkpoint-dir]";
    let (input, url, checkpoint) = match args.as_slice() {
        [input, url] => (
            input,
            url,
            std::env::temp_dir().join("spate-event_time_wordcount"),
        ),
        [input, url, ck] => (input, url, PathBuf::from(ck)),
        _ => {
            eprintln!("event_time_wordcount: expected two or three arguments\n{usage}");
            return ExitCode::from(1);
        }
    };
    if !Path::new(input).is_dir() {
        eprintln!("event_time_wordcount: {input} is not a directory: create it first\n{usage}");
        return ExitCode::from(1);
    }
    match run(Path::new(input), url, &checkpoint) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("event_time_wordcount: {e}");
            ExitCode::from(2)
        }
    }
}

/// `<epoch-ms> <word> …` → one `(ms, word)` per word; a line without a time is skipped.
fn events(line: Text) -> Vec<(i64, String)> {
    let mut parts = line.split(' ');
    let Some(Ok(ms)) = parts.next().map(|t| t.parse::<i64>()) else {
        return Vec::new();
    };
    parts
        .filter(|w| !w.is_empty())
        .map(|w| (ms, w.to_string()))
        .collect()
}

fn run(
    input: &Path,
    url: &str,
    checkpoint: &Path,
) -> std::result::Result<(), Box<dyn std::error::Error>> {
    let db = Postgres::new(url)?;
    let ssc = StreamingContext::get_or_create(checkpoint, || {
        let conf = Conf::from_env().set_app_name("EventTimeWordCount");
        let ssc = StreamingContext::new(conf, Duration::from_secs(1))?;
        let minutes = |m: u64| Duration::from_secs(60 * m);
        let counts = ssc
            .text_file_stream(input)
            .flat_map(events)
            .with_watermark(|e: &(i64, String)| e.0, minutes(10))
            .window(minutes(10), minutes(5))
            .count_by_key(|e| e.1.clone(), OutputMode::Update)?;
        let table = Table::new(
            "word_counts",
            &["window_start", "window_end", "word", "count"],
        )
        .key(&["window_start", "word"]);
        let sink = Sink::new(
            "event_time_wordcount",
            db,
            table,
            OutputMode::Update,
            |(w, word, n): &(Window, String, u64)| {
                vec![
                    w.start.into(),
                    w.end.into(),
                    word.as_str().into(),
                    (*n).into(),
                ]
            },
        )
        .map_err(|e| spate::core::Error::Output(Box::new(e)))?;
        counts.save_to_database(sink)?;
        Ok(ssc)
    })?;
    ssc.start()?;
    ssc.await_termination()?;
    Ok(())
}
