//! The network word count through `spate-submit` against `nc -lk`, and SIGTERM.

use super::*;

fn netcat_available() -> bool {
    Command::new("nc")
        .arg("-h")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

#[test]
fn network_wordcount_through_spate_submit_against_nc_then_sigterm() {
    if !netcat_available() {
        // scripts/setup installs netcat-openbsd; elsewhere say what is missing.
        assert!(
            std::env::var_os("CI").is_none(),
            "nc (netcat-openbsd) is required in CI"
        );
        eprintln!("skipping: nc not installed (apt-get install netcat-openbsd)");
        return;
    }
    let port = free_port();
    let mut nc = Reaped(
        Command::new("nc")
            .args(["-lk", "127.0.0.1", &port.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let port_arg = port.to_string();
    let run = Submitted::start_with(
        &[
            "--name",
            "wordcount-test",
            "--conf",
            "spate.streaming.blockInterval=100ms",
        ],
        "network_wordcount",
        &["127.0.0.1", &port_arg],
    );
    let blocks = Arc::clone(&run.blocks);

    // Eight distinct words, so `print(10)` shows every count of every batch.
    let mut typed = nc.0.stdin.take().unwrap();
    let text = "to be or not to be\nthat is the question\n";
    let rounds = 30;
    for _ in 0..rounds {
        typed.write_all(text.as_bytes()).unwrap();
        typed.flush().unwrap();
        thread::sleep(Duration::from_millis(50));
    }
    let expected: HashMap<String, u64> = expected_counts(&text.repeat(rounds));
    let arrived = wait_for(30, || printed_totals(&blocks) == expected);
    assert!(
        arrived,
        "printed {:?}, expected {expected:?}",
        printed_totals(&blocks)
    );

    // Mid-stream: keep typing the same line, then SIGTERM the launcher.
    let typing = Arc::new(AtomicBool::new(true));
    let writer = {
        let typing = Arc::clone(&typing);
        thread::spawn(move || {
            while typing.load(Ordering::SeqCst) {
                if typed.write_all(b"to be or not to be\n").is_err() {
                    break;
                }
                thread::sleep(Duration::from_millis(2));
            }
        })
    };
    thread::sleep(Duration::from_millis(1500));
    let (blocks, log) = run.finish();
    typing.store(false, Ordering::SeqCst);
    writer.join().unwrap();
    assert!(log.contains("stopping gracefully"), "stderr:\n{log}");
    // A log written to a pipe (or a file) carries no terminal colour codes.
    assert!(
        !log.contains('\x1b'),
        "colour codes in a piped log:\n{log:?}"
    );

    assert!(blocks.iter().all(|b| b.time_ms % 1000 == 0 && !b.more));
    assert!(
        blocks
            .windows(2)
            .all(|w| w[1].time_ms == w[0].time_ms + 1000)
    );
    // Whole lines were counted: "to be or not to be" gives to = be = 2 × or = 2 × not.
    let mut totals = HashMap::new();
    for b in blocks.iter() {
        for (w, n) in &b.elements {
            *totals.entry(w.as_str()).or_insert(0u64) += n;
        }
    }
    let extra_lines = totals["or"] - rounds as u64;
    assert!(
        extra_lines > 0,
        "lines typed after the first check were counted"
    );
    assert_eq!(totals["not"], totals["or"]);
    assert_eq!(totals["to"], 2 * totals["or"]);
    assert_eq!(totals["be"], 2 * totals["or"]);
    assert_eq!(totals["question"], rounds as u64);
}

#[test]
fn sigterm_stops_gracefully_and_every_received_line_is_counted() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut sent = 0u64;
        // Write until the receiver goes away.
        while s.write_all(b"a b c\n").is_ok() {
            sent += 1;
            if sent.is_multiple_of(64) {
                thread::sleep(Duration::from_millis(1));
            }
        }
        sent
    });
    let ssc = StreamingContext::new(
        conf(&[("spate.streaming.stopGracefullyOnShutdown", "true")]),
        Duration::from_millis(200),
    )
    .unwrap();
    let lines = ssc.socket_text_stream("127.0.0.1", port);
    let counted = Arc::new(AtomicU64::new(0));
    let sink = Arc::clone(&counted);
    lines
        .count()
        .foreach_rdd(move |rdd, _| {
            sink.fetch_add(rdd.collect()?.iter().sum(), Ordering::SeqCst);
            Ok(())
        })
        .unwrap();
    let words = count_words(&lines);
    ssc.start().unwrap();
    assert!(wait_for(20, || counted.load(Ordering::SeqCst) > 1000));
    nix::sys::signal::raise(nix::sys::signal::Signal::SIGTERM).unwrap();
    assert!(
        ssc.await_termination_timeout(Duration::from_secs(60))
            .unwrap()
    );
    assert_eq!(ssc.state(), StreamingState::Stopped);
    let sent = server.join().unwrap();
    let received = stats(&ssc).records;
    assert_eq!(counted.load(Ordering::SeqCst), received);
    assert!(received <= sent);
    let words = words.lock().unwrap();
    assert_eq!(
        (words["a"], words["b"], words["c"]),
        (received, received, received)
    );
}
