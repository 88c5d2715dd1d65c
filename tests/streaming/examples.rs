//! The other examples, through spate-submit.

use super::*;

#[test]
fn queue_stream_example_prints_each_queued_batch_then_stops() {
    let mut run = Submitted::start("queue_stream", &["3", "200"]);
    wait_exit(&mut run.app.0, 30);
    let (blocks, _) = run.finish();
    assert_eq!(blocks.len(), 3, "one batch per queued RDD");
    for b in &blocks {
        let mut digits: Vec<(String, u64)> = b.elements.clone();
        digits.sort();
        let want: Vec<(String, u64)> = (0..10).map(|d| (d.to_string(), 100)).collect();
        assert_eq!(digits, want);
    }
}

#[test]
fn file_wordcount_example_counts_files_moved_in() {
    let dir = tempfile::tempdir().unwrap();
    let run = Submitted::start("file_wordcount", &[dir.path().to_str().unwrap()]);
    // The first (empty) batch shows the stream is watching; files from now on are new.
    assert!(wait_for(30, || !run.blocks.lock().unwrap().is_empty()));
    move_in(dir.path(), "one.txt", "to be or not to be\n");
    let want: HashMap<String, u64> = expected_counts("to be or not to be\n");
    assert!(wait_for(30, || printed_totals(&run.blocks) == want));
    // What is ignored and why is visible: examples log warnings to stderr by default.
    assert!(
        Command::new("mkfifo")
            .arg(dir.path().join("pipe"))
            .status()
            .unwrap()
            .success()
    );
    let printed = run.blocks.lock().unwrap().len();
    assert!(wait_for(30, || run.blocks.lock().unwrap().len() > printed + 1));
    let (blocks, log) = run.finish();
    assert!(blocks.iter().all(|b| b.time_ms % 2000 == 0), "2 s batches");
    assert!(
        log.contains("WARN") && log.contains("pipe: not input: a FIFO"),
        "{log}"
    );
}

#[test]
fn a_file_four_times_the_memory_budget_is_counted_in_bounded_memory() {
    const BUDGET: u64 = 8 << 20;
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::create_dir(&input).unwrap();
    // 34.5 MB of eight words (the example prints ten elements, so every count is seen).
    let line = "alpha beta gamma delta epsilon zeta eta theta\n";
    let lines = 750_000;
    let big = dir.path().join("big.txt");
    std::fs::write(&big, line.repeat(lines)).unwrap();
    let size = std::fs::metadata(&big).unwrap().len();
    assert!(size >= 4 * BUDGET);
    let run = Submitted::start_with(
        &["--conf", "spate.storage.memory=8m"],
        "file_wordcount",
        &[input.to_str().unwrap()],
    );
    let mut app = 0;
    assert!(wait_for(30, || {
        app = children_of(run.app.0.id()).first().copied().unwrap_or(0);
        app != 0 && !run.blocks.lock().unwrap().is_empty()
    }));
    std::fs::rename(&big, input.join("big.txt")).unwrap();
    let want: HashMap<String, u64> = line
        .split_whitespace()
        .map(|w| (w.to_string(), lines as u64))
        .collect();
    assert!(wait_for(60, || printed_totals(&run.blocks) == want));
    let peak = peak_rss(app);
    run.finish();
    // Read in splits a chunk at a time: far below the file, within a few budgets (the process
    // alone, before the file, is ~13 MiB).
    assert!(
        peak < 3 * BUDGET && peak < size,
        "peak RSS {} MiB for a {} MiB file",
        peak >> 20,
        size >> 20
    );
}

#[test]
fn stateful_network_wordcount_example_prints_running_totals() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    let checkpoint = tempfile::tempdir().unwrap();
    let run = Submitted::start(
        "stateful_network_wordcount",
        &["127.0.0.1", &port, checkpoint.path().to_str().unwrap()],
    );
    let (mut conn, _) = listener.accept().unwrap();
    conn.write_all(b"a b a\n").unwrap();
    let total = |blocks: &Mutex<Vec<Printed>>, word: &str| {
        blocks
            .lock()
            .unwrap()
            .last()
            .and_then(|b| b.elements.iter().find(|(w, _)| w == word).map(|(_, n)| *n))
    };
    assert!(wait_for(30, || total(&run.blocks, "a") == Some(2)));
    conn.write_all(b"a c\n").unwrap();
    // Totals, not per-batch counts: "a" reaches 3 and stays, "b" stays at 1.
    assert!(wait_for(30, || total(&run.blocks, "a") == Some(3)));
    assert_eq!(total(&run.blocks, "b"), Some(1));
    let (blocks, _) = run.finish();
    assert!(blocks.len() >= 2);
}

#[test]
fn windowed_wordcount_example_checks_its_arguments() {
    let out = Command::new(env!("CARGO_BIN_EXE_spate-submit"))
        .arg(example_path("windowed_wordcount"))
        .args(["localhost", "ninety-nine"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("Usage: windowed_wordcount <hostname> <port>"),
        "{err}"
    );
}

#[test]
fn spate_submit_names_the_examples_when_asked_for_one_that_is_not_there() {
    let out = Command::new(env!("CARGO_BIN_EXE_spate-submit"))
        .args(["--master", "local[1]", "--example", "network_wordcont"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no example named \"network_wordcont\"")
            && err.contains("network_wordcount")
            && err.contains("kafka_wordcount"),
        "{err}"
    );
}

#[test]
fn several_socket_receivers_unioned_count_everything() {
    let servers: Vec<(u16, thread::JoinHandle<TcpStreamKeep>)> = ["x y\n", "y z z\n"]
        .iter()
        .map(|line| {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let port = listener.local_addr().unwrap().port();
            let text = line.repeat(200);
            let handle = thread::spawn(move || {
                let (mut s, _) = listener.accept().unwrap();
                s.write_all(text.as_bytes()).unwrap();
                TcpStreamKeep(s)
            });
            (port, handle)
        })
        .collect();
    let ssc = StreamingContext::new(conf(&[]), Duration::from_millis(100)).unwrap();
    let streams: Vec<DStream<Text>> = servers
        .iter()
        .map(|(port, _)| ssc.socket_text_stream("127.0.0.1", *port))
        .collect();
    let counts = count_words(&ssc.union(&streams));
    ssc.start().unwrap();
    assert!(wait_for(30, || total(&counts) == 1000));
    ssc.stop(GRACEFUL).unwrap();
    for (_, s) in servers {
        drop(s.join().unwrap());
    }
    let want: HashMap<String, u64> = [("x", 200), ("y", 400), ("z", 400)]
        .iter()
        .map(|(w, n)| (w.to_string(), *n))
        .collect();
    assert_eq!(*counts.lock().unwrap(), want);
    assert_eq!(ssc.receiver_stats().len(), 2);
}

/// Keeps a server's connection open until the test drops it.
struct TcpStreamKeep(#[allow(dead_code)] std::net::TcpStream);
