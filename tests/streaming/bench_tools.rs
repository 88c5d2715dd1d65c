//! The benchmark's tools: spate-wordgen and the benchmark job.

use super::*;

/// Starts `spate-wordgen` serving one client; returns it and its port.
fn wordgen(args: &[&str]) -> (Reaped, u16, BufReader<std::process::ChildStdout>) {
    let mut source = Reaped(
        Command::new(env!("CARGO_BIN_EXE_spate-wordgen"))
            .args(["--port", "0", "--once", "--pool-lines", "1000"])
            .args(args)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut out = BufReader::new(source.0.stdout.take().unwrap());
    let mut first = String::new();
    out.read_line(&mut first).unwrap();
    let port = first
        .trim()
        .strip_prefix("LISTENING port=")
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("unexpected first line {first:?}"));
    (source, port, out)
}

/// The `key=value` fields of a summary line.
fn fields(line: &str) -> HashMap<String, String> {
    line.split_whitespace()
        .filter_map(|f| f.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn wordgen_sends_the_workload_and_knows_the_exact_counts() {
    // 2,500 lines from a pool of 1,000: the count must account for the wrap-around.
    let (mut source, port, mut out) = wordgen(&["--lines", "2500", "--count", "w0,w3"]);
    let mut text = String::new();
    std::net::TcpStream::connect(("127.0.0.1", port))
        .unwrap()
        .read_to_string(&mut text)
        .unwrap();
    let mut summary = String::new();
    out.read_line(&mut summary).unwrap();
    assert!(wait_exit(&mut source.0, 10).success());
    let f = fields(&summary);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2500);
    assert_eq!(f["lines"], "2500");
    assert!(lines.iter().all(|l| l.split(' ').count() == 10));
    assert_eq!(f["words"], "25000");
    let count = |w: &str| {
        text.split([' ', '\n'])
            .filter(|x| *x == w)
            .count()
            .to_string()
    };
    assert_eq!(f["count[w0]"], count("w0"));
    assert_eq!(f["count[w3]"], count("w3"));
    // Zipf: the most frequent word is far more frequent than the fourth.
    assert!(f["count[w0]"].parse::<u64>().unwrap() > 2 * f["count[w3]"].parse::<u64>().unwrap());
}

#[test]
fn wordcount_bench_reports_every_batch_and_counts_exactly() {
    let (mut source, port, mut out) =
        wordgen(&["--lines", "5000", "--rate", "4000", "--count", "w0"]);
    let bench = Command::new(example_path("wordcount_bench"))
        .args(["127.0.0.1", &port.to_string(), "200", "2"])
        .env("SPATE_MASTER", "local[2]")
        .env("SPATE_BENCH_TRACK", "w0")
        .output()
        .unwrap();
    assert!(bench.status.success());
    let mut summary = String::new();
    out.read_line(&mut summary).unwrap();
    let _ = wait_exit(&mut source.0, 10);
    let sent = fields(&summary);
    let stdout = String::from_utf8(bench.stdout).unwrap();
    let batches: Vec<HashMap<String, String>> = stdout
        .lines()
        .filter(|l| l.starts_with("BATCH "))
        .map(fields)
        .collect();
    assert!(batches.len() >= 5, "{stdout}");
    for b in &batches {
        for key in ["time", "records", "words", "sched", "proc", "total"] {
            assert!(b.contains_key(key), "{b:?}");
        }
    }
    let sum = |k: &str| -> u64 { batches.iter().map(|b| b[k].parse::<u64>().unwrap()).sum() };
    let lines: u64 = sent["lines"].parse().unwrap();
    assert_eq!(sum("records"), lines, "every line sent was counted");
    assert_eq!(sum("words"), 10 * lines);
    let tracked = stdout.lines().find(|l| l.starts_with("TRACKED")).unwrap();
    assert_eq!(fields(tracked)["count[w0]"], sent["count[w0]"]);
}

#[test]
fn after_stop_sigterm_ends_the_process_again() {
    use std::os::unix::process::ExitStatusExt;
    const CHILD: &str = "SPATE_TEST_SIGNAL_CHILD";
    if std::env::var_os(CHILD).is_some() {
        // In the child: a context that handles signals starts and stops; then SIGTERM must
        // have its default effect again.
        let graceful = conf(&[("spate.streaming.stopGracefullyOnShutdown", "true")]);
        let ssc = StreamingContext::new(graceful, Duration::from_secs(1)).unwrap();
        ssc.queue_stream(RddQueue::<u8>::new(), true, None)
            .print(1)
            .unwrap();
        ssc.start().unwrap();
        ssc.stop(StopOptions::default()).unwrap();
        nix::sys::signal::raise(nix::sys::signal::Signal::SIGTERM).unwrap();
        thread::sleep(Duration::from_secs(5));
        panic!("the process survived SIGTERM after stop()");
    }
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "bench_tools::after_stop_sigterm_ends_the_process_again",
        ])
        .env(CHILD, "1")
        .output()
        .unwrap();
    assert_eq!(
        out.status.signal(),
        Some(15),
        "{:?}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn short_batches_are_cut_into_a_block_per_core() {
    // The block timer never fires within a batch here: allocation alone cuts the buffer, into
    // as many blocks as the context has cores (2), so both work on the batch.
    let ctx = Context::new(conf(&[("spate.streaming.blockInterval", "1h")])).unwrap();
    let clock = Arc::new(ManualClock::new(Time::from_millis(0)));
    let ssc =
        StreamingContext::with_clock(ctx.clone(), Duration::from_secs(1), clock.clone()).unwrap();
    let sizes: Arc<Mutex<Vec<Vec<usize>>>> = Arc::default();
    let sink = Arc::clone(&sizes);
    ssc.receiver_stream(Once(101))
        .foreach_rdd(move |rdd, _| {
            let parts = rdd.glom().collect()?;
            sink.lock()
                .unwrap()
                .push(parts.iter().map(Vec::len).collect());
            Ok(())
        })
        .unwrap();
    let batches = Batches::attach(&ssc);
    ssc.start().unwrap();
    assert!(wait_for(10, || stats(&ssc).records == 101));
    drive(&clock, &batches, 2, |_| {});
    ssc.stop(StopOptions::default()).unwrap();
    assert_eq!(*sizes.lock().unwrap(), [vec![50, 51], vec![]]);
}
