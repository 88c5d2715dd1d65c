//! The benchmark job: the network word count as a user writes it, reporting every batch.
//!
//! ```text
//! wordcount_bench <host> <port> <batch-ms> <run-seconds>
//! ```
//!
//! `socket_text_stream` → `flat_map` split → `map` `(w, 1)` → `reduce_by_key`, and an output that
//! sums the counts. For every completed batch it prints exactly
//! `BATCH time=<batch ms> records=<input lines> words=<sum of counts> sched=<ms> proc=<ms> total=<ms> done=<µs>`
//! (other tools read this; `done` is when the output finished, in µs since the Unix epoch), and after the run time it stops gracefully — what was received is
//! still counted — and exits 0. With `SPATE_BENCH_TRACK=w0,w1` it also counts those words and
//! ends with `TRACKED count[w0]=<n> count[w1]=<n>` (an extra job per batch: for correctness
//! runs, not for timing). With `SPATE_BENCH_CHECKPOINT=<dir>` it checkpoints to `<dir>` (driver
//! metadata every batch; add `SPATE_CONF_spate.streaming.receiver.writeAheadLog.enable=true`
//! to measure the write-ahead log). With `SPATE_BENCH_KAFKA=<brokers>/<topic>` the lines come
//! from that topic instead (Kafka's direct stream from the earliest offsets, a record a line;
//! host and port are then ignored).

use std::collections::HashMap;
use std::io::Write;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use spate::prelude::*;

fn main() -> ExitCode {
    spate::init_logging();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let parsed = match args.as_slice() {
        [host, port, batch_ms, seconds] => {
            match (
                port.parse::<u16>(),
                batch_ms.parse::<u64>(),
                seconds.parse::<f64>(),
            ) {
                (Ok(p), Ok(b), Ok(s)) if b > 0 && s > 0.0 => Some((host.clone(), p, b, s)),
                _ => None,
            }
        }
        _ => None,
    };
    let Some((host, port, batch_ms, seconds)) = parsed else {
        eprintln!("Usage: wordcount_bench <host> <port> <batch-ms> <run-seconds>");
        return ExitCode::from(1);
    };
    match run(&host, port, batch_ms, seconds) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("wordcount_bench: {e}");
            ExitCode::from(2)
        }
    }
}

/// Prints one `BATCH` line per completed batch, with the words its output counted.
struct Report {
    /// Per batch: the words its output counted, and when that output finished (µs since the
    /// epoch).
    words: Arc<Mutex<HashMap<i64, (u64, u128)>>>,
}

impl StreamingListener for Report {
    fn on_batch_completed(&self, info: &BatchInfo) {
        let t = info.batch_time.millis();
        let (words, done) = self.words.lock().unwrap().remove(&t).unwrap_or((0, 0));
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        let line = format!(
            "BATCH time={t} records={} words={words} sched={:.1} proc={:.1} total={:.1} done={done}\n",
            info.records,
            ms(info.scheduling_delay),
            ms(info.processing_time),
            ms(info.total_delay)
        );
        let _ = std::io::stdout().lock().write_all(line.as_bytes());
    }
}

/// The lines of a Kafka topic, `source` being `<brokers>/<topic>` (`SPATE_BENCH_KAFKA`).
#[cfg(feature = "kafka")]
fn kafka_lines(ssc: &StreamingContext, source: &str) -> Result<DStream<Text>> {
    let (brokers, topic) = source.rsplit_once('/').ok_or_else(|| Error::Kafka {
        message: format!("SPATE_BENCH_KAFKA={source:?} is not <brokers>/<topic>"),
    })?;
    let params = spate::streaming::kafka::KafkaParams::new(brokers)
        .starting_offsets(spate::streaming::kafka::StartingOffsets::Earliest);
    Ok(ssc.kafka_direct_stream(params, &[topic])?.map(|r| r.text()))
}

#[cfg(not(feature = "kafka"))]
fn kafka_lines(_: &StreamingContext, source: &str) -> Result<DStream<Text>> {
    Err(Error::Kafka {
        message: format!(
            "SPATE_BENCH_KAFKA={source:?}, but this build has no Kafka client: build with `--features kafka`"
        ),
    })
}

fn run(host: &str, port: u16, batch_ms: u64, seconds: f64) -> Result<()> {
    let conf = Conf::from_env().set_app_name("WordCountBench");
    let ssc = StreamingContext::new(conf, Duration::from_millis(batch_ms))?;
    if let Ok(dir) = std::env::var("SPATE_BENCH_CHECKPOINT") {
        ssc.checkpoint(dir)?;
    }
    let lines = match std::env::var("SPATE_BENCH_KAFKA") {
        Ok(source) => kafka_lines(&ssc, &source)?,
        Err(_) => {
            // SPATE_BENCH_MORE_PORTS=p2,p3: a receiver (a socket) each, their lines unioned.
            let mut streams = vec![ssc.socket_text_stream(host, port)];
            if let Ok(more) = std::env::var("SPATE_BENCH_MORE_PORTS") {
                for p in more.split(',').filter(|p| !p.is_empty()) {
                    let p: u16 = p.parse().map_err(|_| spate::streaming::Error::Startup {
                        what: "SPATE_BENCH_MORE_PORTS",
                        source: std::io::Error::other(format!("not a port: {p:?}")),
                    })?;
                    streams.push(ssc.socket_text_stream(host, p));
                }
            }
            if streams.len() == 1 {
                streams.remove(0)
            } else {
                ssc.union(&streams)
            }
        }
    };
    let counts = lines
        .flat_map(|line| line.split(' '))
        .map(|w| (w, 1u64))
        .reduce_by_key(|a, b| a + b);
    let words: Arc<Mutex<HashMap<i64, (u64, u128)>>> = Arc::default();
    let sink = Arc::clone(&words);
    counts.foreach_rdd(move |rdd, time| {
        let sum = rdd.values().fold(0, |a, b| a + b)?;
        // The body runs in every process of a cluster application, the listener that takes
        // the entry only in the driver: an executor keeping one per batch would grow forever.
        if rdd.context().is_driver() {
            let done = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_micros());
            sink.lock().unwrap().insert(time.millis(), (sum, done));
        }
        Ok(())
    })?;
    let tracked: Vec<String> = std::env::var("SPATE_BENCH_TRACK")
        .map(|v| v.split(',').map(str::to_string).collect())
        .unwrap_or_default();
    let totals: Arc<Mutex<HashMap<String, u64>>> = Arc::default();
    if !tracked.is_empty() {
        let (sink, wanted) = (Arc::clone(&totals), Arc::new(tracked.clone()));
        counts.foreach_rdd(move |rdd, _| {
            let wanted = Arc::clone(&wanted);
            let found = rdd
                .filter(move |(w, _)| wanted.iter().any(|x| x == &**w))
                .collect()?;
            let mut t = sink.lock().unwrap();
            for (w, n) in found {
                *t.entry(w.to_string()).or_default() += n;
            }
            Ok(())
        })?;
    }
    ssc.add_streaming_listener(Arc::new(Report { words }));
    ssc.start()?;
    if !ssc.await_termination_timeout(Duration::from_secs_f64(seconds))? {
        ssc.stop(StopOptions {
            stop_context: true,
            graceful: true,
        })?;
    }
    if !tracked.is_empty() {
        let t = totals.lock().unwrap();
        let parts: Vec<String> = tracked
            .iter()
            .map(|w| format!("count[{w}]={}", t.get(w).copied().unwrap_or(0)))
            .collect();
        println!("TRACKED {}", parts.join(" "));
    }
    Ok(())
}
