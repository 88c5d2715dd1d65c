//! Rates and backpressure.

use super::*;

#[test]
fn max_rate_holds_a_receiver_to_its_rate() {
    let ssc = StreamingContext::new(
        conf(&[("spate.streaming.receiver.maxRate", "2000")]),
        Duration::from_millis(100),
    )
    .unwrap();
    let seen = Arc::new(AtomicU64::new(0));
    let sink = Arc::clone(&seen);
    ssc.receiver_stream(Flood { thread: None })
        .foreach_rdd(move |rdd, _| {
            sink.fetch_add(rdd.count()?, Ordering::SeqCst);
            Ok(())
        })
        .unwrap();
    let start = Instant::now();
    ssc.start().unwrap();
    thread::sleep(Duration::from_millis(1500));
    let received = stats(&ssc).records;
    let elapsed = start.elapsed().as_secs_f64();
    assert_eq!(stats(&ssc).rate_limit, Some(2000));
    ssc.stop(GRACEFUL).unwrap();
    // 2000/s, plus a 100 ms burst and one chunk of 100 in flight.
    let most = (2000.0 * (elapsed + 0.1)) as u64 + 100;
    assert!(received <= most, "{received} records in {elapsed:.2}s");
    assert!(received >= 1500, "{received} records in {elapsed:.2}s");
    assert_eq!(
        seen.load(Ordering::SeqCst),
        stats(&ssc).records,
        "nothing dropped"
    );
}

#[test]
fn a_rate_limited_socket_burst_is_spread_over_batches_not_stored_in_lumps() {
    // 20,000 lines arrive at once; at 1,000 lines/s each 100 ms batch gets about 100, never
    // a whole socket read of thousands followed by empty batches.
    let server = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = server.local_addr().unwrap().port();
    let feeder = thread::spawn(move || {
        let (mut conn, _) = server.accept().unwrap();
        let burst = "a line of about twenty bytes\n".repeat(20_000);
        let _ = conn.write_all(burst.as_bytes());
        // Held open until the receiver is stopped.
        let _ = conn.read(&mut [0u8; 1]);
    });
    let ssc = StreamingContext::new(
        conf(&[("spate.streaming.receiver.maxRate", "1000")]),
        Duration::from_millis(100),
    )
    .unwrap();
    ssc.socket_text_stream("127.0.0.1", port)
        .foreach_rdd(|rdd, _| rdd.count().map(drop))
        .unwrap();
    let batches = Batches::attach(&ssc);
    ssc.start().unwrap();
    assert!(wait_for(30, || batches
        .all()
        .iter()
        .filter(|b| b.records > 0)
        .count()
        >= 15));
    ssc.stop(GRACEFUL).unwrap();
    feeder.join().unwrap();
    let sizes: Vec<u64> = batches.all().iter().map(|b| b.records).collect();
    let busy: Vec<u64> = sizes.iter().copied().skip_while(|&n| n == 0).collect();
    // 100 a batch, plus the 100 ms burst the limiter banks and a 20 ms piece.
    assert!(busy.iter().all(|&n| n <= 250), "lumps: {sizes:?}");
    let steady = &busy[1..busy.len().min(15) - 1];
    assert!(steady.iter().all(|&n| n >= 50), "gaps: {sizes:?}");
}

#[test]
fn backpressure_slows_a_flood_to_what_processing_can_take() {
    // The job handles about 20,000 records/s (1 ms per 20 records); the source could send
    // millions. With backpressure — either estimator — the rate settles near the processing
    // rate, scheduling delay stays bounded, and every record stored is processed, in order.
    for estimator in ["steady", "pid"] {
        let ssc = StreamingContext::new(
            conf(&[
                ("spate.streaming.backpressure.enabled", "true"),
                ("spate.streaming.backpressure.rateEstimator", estimator),
                ("spate.streaming.backpressure.initialRate", "5000"),
            ]),
            Duration::from_millis(200),
        )
        .unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&seen);
        ssc.receiver_stream(Flood { thread: None })
            .foreach_rdd(move |rdd, _| {
                let v = rdd.collect()?;
                thread::sleep(Duration::from_micros(50 * v.len() as u64));
                sink.lock().unwrap().extend(v);
                Ok(())
            })
            .unwrap();
        let batches = Batches::attach(&ssc);
        ssc.start().unwrap();
        assert!(wait_for(30, || batches.all().len() >= 15));
        let rate = stats(&ssc).rate_limit.expect("backpressure sets a rate");
        ssc.stop(GRACEFUL).unwrap();
        assert!(
            (2_000..60_000).contains(&rate),
            "{estimator}: settled rate {rate}"
        );
        let batches = batches.all();
        let late = &batches[batches.len() - 5..];
        assert!(
            late.iter()
                .all(|b| b.scheduling_delay < Duration::from_secs(1)),
            "{estimator}: delay stays bounded: {:?}",
            late.iter().map(|b| b.scheduling_delay).collect::<Vec<_>>()
        );
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len() as u64, stats(&ssc).records, "nothing dropped");
        assert!(seen.windows(2).all(|w| w[1] == w[0] + 1), "in order");
    }
}

#[test]
fn with_the_default_settings_an_overloaded_job_gets_steady_batches() {
    // The job takes 25 µs a record (40,000 records/s); the source could send millions. With
    // nothing configured but a small pending bound (so the first batch is not minutes of
    // work), batches must not swing between full and empty — as they do with backpressure off,
    // where the receiver fills the pending bound during one batch and is blocked during the
    // next — and after the first 10 batches their sizes stay steady and the delay bounded.
    let run = |backpressure: &str| {
        let ssc = StreamingContext::new(
            conf(&[
                ("spate.streaming.receiver.maxPendingRecords", "8000"),
                ("spate.streaming.backpressure.enabled", backpressure),
            ]),
            Duration::from_millis(100),
        )
        .unwrap();
        ssc.receiver_stream(Flood { thread: None })
            .foreach_rdd(|rdd, _| {
                let n = rdd.count()?;
                thread::sleep(Duration::from_micros(25 * n));
                Ok(())
            })
            .unwrap();
        let batches = Batches::attach(&ssc);
        ssc.start().unwrap();
        assert!(wait_for(60, || batches.all().len() >= 40));
        ssc.stop(GRACEFUL).unwrap();
        let all = batches.all();
        let sizes: Vec<f64> = all[10..40].iter().map(|b| b.records as f64).collect();
        let mean = sizes.iter().sum::<f64>() / sizes.len() as f64;
        let var = sizes.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / sizes.len() as f64;
        let delays: Vec<Duration> = all[10..40].iter().map(|b| b.scheduling_delay).collect();
        (
            var.sqrt() / mean,
            mean,
            delays,
            all[..40].iter().map(|b| b.records).collect::<Vec<_>>(),
        )
    };
    let (cv, mean, delays, sizes) = run("true");
    assert!(cv < 0.2, "records per batch swing (CV {cv:.2}): {sizes:?}");
    // 40,000 records/s is 4,000 a batch at full use; the estimator aims at 90% of that.
    assert!(mean > 1_500.0, "too cautious: {mean:.0} a batch: {sizes:?}");
    assert!(
        delays.iter().all(|d| *d < Duration::from_millis(500)),
        "delay bounded: {delays:?}"
    );
    // The same job without the estimator: the swing this test exists for.
    let (cv_off, _, _, sizes_off) = run("false");
    assert!(
        cv_off > 0.4,
        "without backpressure batches swing: {sizes_off:?}"
    );
}

#[test]
fn a_graceful_stop_that_runs_out_of_time_says_so() {
    let ssc = StreamingContext::new(
        conf(&[("spate.streaming.gracefulStopTimeout", "200ms")]),
        Duration::from_millis(50),
    )
    .unwrap();
    let started = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&started);
    // An output operation stuck until the test lets it go: the stop must not wait for it.
    let (release, stuck) = std::sync::mpsc::sync_channel::<()>(0);
    let stuck = Mutex::new(stuck);
    ssc.receiver_stream(Flood { thread: None })
        .foreach_rdd(move |rdd, _| {
            flag.store(true, Ordering::SeqCst);
            rdd.count()?;
            let _ = stuck.lock().unwrap().recv_timeout(Duration::from_secs(60));
            Ok(())
        })
        .unwrap();
    ssc.start().unwrap();
    assert!(wait_for(10, || started.load(Ordering::SeqCst)));
    let t0 = Instant::now();
    let err = ssc.stop(GRACEFUL).unwrap_err();
    let took = t0.elapsed();
    drop(release);
    assert!(
        took < Duration::from_secs(5),
        "the stop took {took:?} with a 200ms timeout"
    );
    assert!(matches!(err, Error::StopTimeout(_)), "{err}");
    assert!(err.to_string().contains("gracefulStopTimeout"), "{err}");
    // await_termination reports it too, so a program does not exit 0 with data unprocessed.
    assert!(matches!(
        ssc.await_termination(),
        Err(Error::StopTimeout(_))
    ));
}
