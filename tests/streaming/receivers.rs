//! The socket receiver against a test server: exact counts, reconnects with backoff, bad lines.

use super::*;

#[test]
fn a_known_text_is_counted_exactly_across_many_batches() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let lines = corpus(3000);
    let text: String = lines.concat();
    let expected = expected_counts(&text);
    let expected_total: u64 = expected.values().sum();
    let done_sending = Arc::new(AtomicBool::new(false));
    let done = Arc::clone(&done_sending);
    let server = thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        // 100 lines every 20 ms: the text spans several 100 ms batches.
        for chunk in lines.chunks(100) {
            s.write_all(chunk.concat().as_bytes()).unwrap();
            thread::sleep(Duration::from_millis(20));
        }
        done.store(true, Ordering::SeqCst);
        s // kept open until joined: the end of the text is not the end of the stream
    });

    let ssc = StreamingContext::new(conf(&[]), Duration::from_millis(100)).unwrap();
    let counts = count_words(&ssc.socket_text_stream("127.0.0.1", port));
    let batches = Batches::attach(&ssc);
    ssc.start().unwrap();
    assert!(
        wait_for(30, || done_sending.load(Ordering::SeqCst)
            && total(&counts) >= expected_total),
        "counted {} of {expected_total} words",
        total(&counts)
    );
    ssc.stop(GRACEFUL).unwrap();
    drop(server.join().unwrap());

    assert_eq!(*counts.lock().unwrap(), expected);
    let batches = batches.all();
    let records: u64 = batches.iter().map(|b| b.records).sum();
    assert_eq!(records, 3000, "records per batch add up to the lines sent");
    assert!(
        batches.iter().filter(|b| b.records > 0).count() >= 3,
        "the text should span several batches: {batches:?}"
    );
    for pair in batches.windows(2) {
        assert_eq!(
            pair[1].batch_time.millis() - pair[0].batch_time.millis(),
            100
        );
    }
    assert!(batches.iter().all(|b| b.batch_time.millis() % 100 == 0));
    assert_eq!(stats(&ssc).records, 3000);
}

#[test]
fn a_server_that_accepts_and_closes_at_once_is_retried_with_backoff_not_in_a_tight_loop() {
    let listener = TcpListener::bind(("127.0.0.1", 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    listener.set_nonblocking(true).unwrap();
    let accepts = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let server = {
        let (accepts, done) = (Arc::clone(&accepts), Arc::clone(&done));
        thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                match listener.accept() {
                    // Accept and close at once, sending nothing.
                    Ok((s, _)) => {
                        drop(s);
                        accepts.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(_) => thread::sleep(Duration::from_millis(1)),
                }
            }
        })
    };
    let ssc = StreamingContext::new(conf(&[]), Duration::from_millis(100)).unwrap();
    let _ = count_words(&ssc.socket_text_stream("127.0.0.1", port));
    ssc.start().unwrap();
    assert!(wait_for(10, || stats(&ssc).connect_failures >= 3));
    let t0 = Instant::now();
    let before = accepts.load(Ordering::Relaxed);
    thread::sleep(Duration::from_millis(800));
    let during = accepts.load(Ordering::Relaxed) - before;
    let elapsed = t0.elapsed();
    ssc.stop(GRACEFUL).unwrap();
    done.store(true, Ordering::Relaxed);
    server.join().unwrap();
    assert!(
        stats(&ssc).connect_failures >= 3,
        "empty connections are counted as failures"
    );
    // With the backoff capped at 200 ms, 0.8 s holds at most ~5 attempts; without any backoff a
    // loopback accept-and-close runs thousands.
    let most = elapsed.as_millis() as u64 / 150 + 2;
    assert!(
        during <= most,
        "{during} empty connections in {elapsed:?} (at most {most} expected)"
    );
}

#[test]
fn the_receiver_waits_for_a_server_and_reconnects_without_missing_lines() {
    let port = free_port();
    let ssc = StreamingContext::new(conf(&[]), Duration::from_millis(100)).unwrap();
    let counts = count_words(&ssc.socket_text_stream("127.0.0.1", port));
    ssc.start().unwrap();
    // Nobody listens yet: connection refused, retried with backoff.
    assert!(wait_for(10, || stats(&ssc).connect_failures >= 2));
    let failures_before = stats(&ssc).connect_failures;
    thread::sleep(Duration::from_millis(300));
    assert!(
        stats(&ssc).connect_failures <= failures_before + 3,
        "backoff must not busy-loop"
    );

    let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
    let first: String = corpus(500).concat();
    let second: String = corpus(700)[200..].concat();
    let (a, b) = (first.clone(), second.clone());
    let server = thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        s.write_all(a.as_bytes()).unwrap();
        drop(s); // the server drops the connection…
        let (mut s, _) = listener.accept().unwrap(); // …and the receiver comes back
        s.write_all(b.as_bytes()).unwrap();
        s
    });
    let mut expected = expected_counts(&first);
    for (w, n) in expected_counts(&second) {
        *expected.entry(w).or_default() += n;
    }
    let expected_total: u64 = expected.values().sum();
    assert!(
        wait_for(30, || total(&counts) >= expected_total),
        "counted {} of {expected_total} words",
        total(&counts)
    );
    ssc.stop(GRACEFUL).unwrap();
    drop(server.join().unwrap());
    assert_eq!(*counts.lock().unwrap(), expected);
    assert_eq!(stats(&ssc).records, 1000);
}

#[test]
fn invalid_utf8_is_replaced_and_overlong_lines_are_skipped_and_counted() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut send = |bytes: &[u8]| {
            s.write_all(bytes).unwrap();
            s.flush().unwrap();
            thread::sleep(Duration::from_millis(30));
        };
        send(b"good line\n");
        send(b"caf\xe9 ok\r\n"); // Latin-1, not UTF-8
        send(&[b"x".repeat(200), b"\n".to_vec()].concat()); // whole over-long line in one read
        for _ in 0..3 {
            send(&b"y".repeat(100)); // over-long line spread over several reads
        }
        send(b"\nafter\n");
        send(b"last\n");
        s
    });
    let ssc = StreamingContext::new(
        conf(&[("spate.streaming.receiver.maxLineBytes", "64b")]),
        Duration::from_millis(100),
    )
    .unwrap();
    let seen = Arc::new(Mutex::new(Vec::<String>::new()));
    let sink = Arc::clone(&seen);
    ssc.socket_text_stream("127.0.0.1", port)
        .foreach_rdd(move |rdd, _| {
            let lines = rdd.collect()?;
            sink.lock()
                .unwrap()
                .extend(lines.iter().map(|l| l.to_string()));
            Ok(())
        })
        .unwrap();
    ssc.start().unwrap();
    assert!(wait_for(20, || seen.lock().unwrap().len() >= 4));
    ssc.stop(GRACEFUL).unwrap();
    drop(server.join().unwrap());
    assert_eq!(
        *seen.lock().unwrap(),
        ["good line", "caf\u{FFFD} ok", "after", "last"]
    );
    let st = stats(&ssc);
    assert_eq!(
        (
            st.records,
            st.invalid_utf8_lines,
            st.oversized_lines_skipped
        ),
        (4, 1, 2)
    );
}
