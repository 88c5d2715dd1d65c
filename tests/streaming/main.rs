//! The streaming engine end to end: real sockets on 127.0.0.1, the example through
//! `spate-submit` against `nc -lk`, graceful stops on SIGTERM, operators and lifecycle on the
//! manual clock, bounded memory and backpressure.

#[path = "../support/mod.rs"]
mod support;
use support::{
    InputErrors, Reaped, children_of, example_path, move_in, peak_rss, sigterm, wait_exit, wait_for,
};

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Instant;

use spate::prelude::*;
use spate::streaming::testing::{run_batches, try_run_batches};
use spate::streaming::{
    ManualClock, OutputMode, OutputOperationInfo, ReceiverInfo, ReceiverStats, StreamingState,
};

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// A streaming conf for socket tests: small blocks, quick reconnects, no signal handlers.
fn conf(extra: &[(&str, &str)]) -> Conf {
    let mut conf = Conf::new()
        .set_master("local[2]")
        .set_app_name("streaming-test")
        .set("spate.streaming.blockInterval", "50ms")
        .set("spate.streaming.receiver.maxReconnectBackoff", "200ms")
        .set("spate.streaming.stopGracefullyOnShutdown", "false");
    for (k, v) in extra {
        conf = conf.set(*k, *v);
    }
    conf
}

type Counts = Arc<Mutex<HashMap<String, u64>>>;

/// The network word count on `lines`, summing every batch's counts into the returned map.
fn count_words(lines: &DStream<Text>) -> Counts {
    let totals: Counts = Arc::default();
    let sink = Arc::clone(&totals);
    lines
        .flat_map(|line| line.split(' '))
        .map(|w| (w, 1u64))
        .reduce_by_key(|a, b| a + b)
        .foreach_rdd(move |rdd, _| {
            let batch = rdd.collect()?;
            let mut t = sink.lock().unwrap();
            for (w, n) in batch {
                *t.entry(w.to_string()).or_default() += n;
            }
            Ok(())
        })
        .unwrap();
    totals
}

fn total(counts: &Counts) -> u64 {
    counts.lock().unwrap().values().sum()
}

/// Word counts of `text` the way `split(' ')` sees it.
fn expected_counts(text: &str) -> HashMap<String, u64> {
    let mut m = HashMap::new();
    for line in text.lines() {
        for w in line.split(' ') {
            *m.entry(w.to_string()).or_default() += 1;
        }
    }
    m
}

/// `n` deterministic lines over a 50-word vocabulary; every fifth ends in `\r\n`.
fn corpus(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            let words: Vec<String> = (0..(1 + i % 7))
                .map(|j| format!("w{}", (i * 7 + j * 13) % 50))
                .collect();
            let end = if i % 5 == 0 { "\r\n" } else { "\n" };
            format!("{}{end}", words.join(" "))
        })
        .collect()
}

/// Records every completed batch.
#[derive(Default)]
struct Batches(Mutex<Vec<BatchInfo>>);

impl StreamingListener for Batches {
    fn on_batch_completed(&self, info: &BatchInfo) {
        self.0.lock().unwrap().push(info.clone());
    }
}

impl Batches {
    fn attach(ssc: &StreamingContext) -> Arc<Batches> {
        let b = Arc::new(Batches::default());
        ssc.add_streaming_listener(b.clone());
        b
    }
    fn all(&self) -> Vec<BatchInfo> {
        self.0.lock().unwrap().clone()
    }
}

const GRACEFUL: StopOptions = StopOptions {
    stop_context: true,
    graceful: true,
};

fn stats(ssc: &StreamingContext) -> ReceiverStats {
    ssc.receiver_stats().remove(0)
}

/// A port that was free a moment ago.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// An example started through `spate-submit`, its printed batches parsed as they come.
struct Submitted {
    app: Reaped,
    blocks: Arc<Mutex<Vec<Printed>>>,
    parser: Option<thread::JoinHandle<()>>,
    log: Option<thread::JoinHandle<String>>,
}

impl Submitted {
    fn start(example: &str, args: &[&str]) -> Submitted {
        Submitted::start_with(&[], example, args)
    }

    /// With extra `spate-submit` options before the application.
    fn start_with(submit_args: &[&str], example: &str, args: &[&str]) -> Submitted {
        let mut app = Reaped(
            Command::new(env!("CARGO_BIN_EXE_spate-submit"))
                .args(["--master", "local[2]"])
                .args(submit_args)
                .arg(example_path(example))
                .args(args)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap(),
        );
        let blocks = Arc::new(Mutex::new(Vec::new()));
        let stdout = app.0.stdout.take().unwrap();
        let parser = {
            let blocks = Arc::clone(&blocks);
            thread::spawn(move || parse_printed(stdout, blocks))
        };
        let mut stderr = app.0.stderr.take().unwrap();
        let log = thread::spawn(move || {
            let mut s = String::new();
            let _ = stderr.read_to_string(&mut s);
            s
        });
        Submitted {
            app,
            blocks,
            parser: Some(parser),
            log: Some(log),
        }
    }

    /// Stops it with SIGTERM (unless it already exited), checks it exits 0, and returns what
    /// it printed and logged.
    fn finish(mut self) -> (Vec<Printed>, String) {
        if self.app.0.try_wait().unwrap().is_none() {
            sigterm(&self.app.0);
        }
        let status = wait_exit(&mut self.app.0, 60);
        self.parser.take().unwrap().join().unwrap();
        let log = self.log.take().unwrap().join().unwrap();
        assert!(status.success(), "exit {status:?}; stderr:\n{log}");
        (std::mem::take(&mut *self.blocks.lock().unwrap()), log)
    }
}

/// A streaming context of 1 s batches on a manual clock at 0, and its core context.
fn manual() -> (Context, Arc<ManualClock>, StreamingContext) {
    manual_with(&[], Duration::from_secs(1))
}

/// A context with `extra` settings on a manual clock at 0, batches every `interval`.
fn manual_with(
    extra: &[(&str, &str)],
    interval: Duration,
) -> (Context, Arc<ManualClock>, StreamingContext) {
    let ctx = Context::new(conf(extra)).unwrap();
    let clock = Arc::new(ManualClock::new(Time::from_millis(0)));
    let ssc = StreamingContext::with_clock(ctx.clone(), interval, clock.clone()).unwrap();
    (ctx, clock, ssc)
}

/// Advances `clock` one batch at a time, waiting for each batch to complete.
fn drive(clock: &ManualClock, batches: &Batches, n: usize, mut after_each: impl FnMut(usize)) {
    let start = batches.all().len();
    for i in 1..=n {
        clock.advance(Duration::from_secs(1));
        assert!(
            wait_for(30, || batches.all().len() >= start + i),
            "batch {i} did not complete"
        );
        after_each(i);
    }
}

/// Starts `ssc`, advances `clock` a second at a time until `n` batches have completed (each
/// waited for), then stops it: for long runs, where `drive` would keep every batch's info.
fn run_counted(ssc: &StreamingContext, clock: &ManualClock, n: usize) {
    let done = Arc::new(Completed::default());
    ssc.add_streaming_listener(done.clone());
    ssc.start().unwrap();
    for i in 1..=n {
        clock.advance(Duration::from_secs(1));
        done.wait(i);
    }
    ssc.stop(StopOptions::default()).unwrap();
}

/// Stores `0..n` once, then waits to be stopped.
struct Once(u64);

/// Stores numbered records in chunks of 100 as fast as it is allowed to.
struct Flood {
    thread: Option<thread::JoinHandle<()>>,
}

/// One block of `print` output.
#[derive(Debug)]
struct Printed {
    time_ms: u64,
    elements: Vec<(String, u64)>,
    more: bool,
}

/// Parses Spark-format `print` blocks from a stream, checking their layout as it goes.
fn parse_printed(out: impl Read, blocks: Arc<Mutex<Vec<Printed>>>) {
    const DASHES: &str = "-------------------------------------------";
    let mut lines = BufReader::new(out).lines().map_while(|l| l.ok());
    while let Some(first) = lines.next() {
        assert_eq!(first, DASHES, "a batch starts with a dashed line");
        let time = lines.next().expect("Time line");
        let time_ms = time
            .strip_prefix("Time: ")
            .and_then(|t| t.strip_suffix(" ms"))
            .and_then(|t| t.parse().ok())
            .unwrap_or_else(|| panic!("bad time line {time:?}"));
        assert_eq!(lines.next().as_deref(), Some(DASHES));
        let mut block = Printed {
            time_ms,
            elements: Vec::new(),
            more: false,
        };
        for line in lines.by_ref() {
            if line.is_empty() {
                break;
            }
            if line == "..." {
                block.more = true;
                continue;
            }
            let inner = line
                .strip_prefix('(')
                .and_then(|l| l.strip_suffix(')'))
                .unwrap_or_else(|| panic!("bad element {line:?}"));
            let (w, n) = inner.rsplit_once(',').expect("(word,count)");
            block.elements.push((w.to_string(), n.parse().unwrap()));
        }
        blocks.lock().unwrap().push(block);
    }
}

fn printed_totals(blocks: &Mutex<Vec<Printed>>) -> HashMap<String, u64> {
    let mut m = HashMap::new();
    for b in blocks.lock().unwrap().iter() {
        for (w, n) in &b.elements {
            *m.entry(w.clone()).or_default() += n;
        }
    }
    m
}

/// Counts completed batches and wakes a waiter at once (no polling: 10,000 batches).
type Completed = spate::streaming::testing::BatchCounter;

/// Stores `n` records at start.
struct Stores(u64);

mod bench_tools;
mod engine;
mod examples;
mod files;
mod launcher;
mod listeners;
mod rates;
mod receivers;
mod state;
mod ui;
