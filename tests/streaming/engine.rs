//! Operators on the manual clock, lifecycle, memory, custom receivers.

use super::*;

fn sorted<T: Ord>(batches: Vec<Vec<T>>) -> Vec<Vec<T>> {
    batches
        .into_iter()
        .map(|mut b| {
            b.sort();
            b
        })
        .collect()
}

#[test]
fn narrow_operators_match_their_definitions_per_batch() {
    let input = vec![vec![1, 2, 3, 4], vec![], vec![5, 6]];
    assert_eq!(
        run_batches(input.clone(), |s| s.map(|x: i32| x * x), 4),
        [vec![1, 4, 9, 16], vec![], vec![25, 36], vec![]]
    );
    assert_eq!(
        run_batches(
            input.clone(),
            |s| s.flat_map(|x: i32| vec![x; x as usize % 3]),
            3
        ),
        [vec![1, 2, 2, 4], vec![], vec![5, 5]]
    );
    assert_eq!(
        run_batches(input.clone(), |s| s.filter(|x| x % 2 == 0), 3),
        [vec![2, 4], vec![], vec![6]]
    );
    // Two partitions per input batch: map_partitions sees each one whole.
    assert_eq!(
        run_batches(
            input.clone(),
            |s| s.map_partitions(|it| std::iter::once(it.sum::<i32>())),
            3
        ),
        [vec![3, 7], vec![0, 0], vec![5, 6]]
    );
    assert_eq!(
        run_batches(input.clone(), |s| s.count(), 4),
        [vec![4], vec![0], vec![2], vec![0]]
    );
    assert_eq!(
        run_batches(input.clone(), |s| s.union(&s.map(|x| -x)), 2),
        [vec![1, 2, 3, 4, -1, -2, -3, -4], vec![]]
    );
    assert_eq!(
        run_batches(
            input,
            |s| s.transform(|rdd, time| rdd.map(move |x| (time.millis(), x))),
            3
        ),
        [
            vec![(1000, 1), (1000, 2), (1000, 3), (1000, 4)],
            vec![],
            vec![(3000, 5), (3000, 6)]
        ]
    );
}

#[test]
fn reduce_by_key_on_text_words_counts_each_batch() {
    let input = vec![
        vec![Text::from("a b a"), Text::from("c a")],
        vec![Text::from("b")],
        vec![],
    ];
    let counts = |s: DStream<Text>| {
        s.flat_map(|l| l.split(' '))
            .map(|w| (w.to_string(), 1u32))
            .reduce_by_key(|a, b| a + b)
    };
    let want = vec![
        vec![
            ("a".to_string(), 3),
            ("b".to_string(), 1),
            ("c".to_string(), 1),
        ],
        vec![("b".to_string(), 1)],
        vec![],
    ];
    assert_eq!(sorted(run_batches(input.clone(), counts, 3)), want);
    let three = |s: DStream<Text>| {
        s.flat_map(|l| l.split(' '))
            .map(|w| (w, 1u32))
            .reduce_by_key_with_partitions(|a, b| a + b, 3)
            .transform(|rdd, _| rdd.glom().map(|p| p.len()))
    };
    let sizes = run_batches(input, three, 1);
    assert_eq!(sizes[0].len(), 3, "three partitions");
    assert_eq!(sizes[0].iter().sum::<usize>(), 3, "three distinct words");
}

#[test]
fn stream_union_of_many_and_queue_stream_modes() {
    let (ctx, clock, ssc) = manual();
    let (q1, q2) = (RddQueue::new(), RddQueue::new());
    q1.push(ctx.parallelize(vec![1, 2], 1));
    q1.push(ctx.parallelize(vec![3], 1));
    q2.push(ctx.parallelize(vec![10], 1));
    q2.push(ctx.parallelize(vec![20], 1));
    let one = ssc.queue_stream(q1, true, None);
    let all = ssc.queue_stream(q2, false, Some(ctx.parallelize(vec![0], 1)));
    let both = ssc.union(&[one, all]);
    let out = Arc::new(Mutex::new(BTreeMap::new()));
    let sink = Arc::clone(&out);
    both.foreach_rdd(move |rdd, t| {
        sink.lock().unwrap().insert(t.millis(), rdd.collect()?);
        Ok(())
    })
    .unwrap();
    let batches = Batches::attach(&ssc);
    ssc.start().unwrap();
    for i in 1..=3 {
        clock.advance(Duration::from_secs(1));
        assert!(wait_for(20, || batches.all().len() == i));
    }
    ssc.stop(StopOptions::default()).unwrap();
    let out = out.lock().unwrap();
    assert_eq!(out[&1000], [1, 2, 10, 20]);
    assert_eq!(out[&2000], [3, 0]);
    assert_eq!(out[&3000], [0]);
}

#[test]
fn lifecycle_misuse_is_a_typed_error() {
    let ssc = StreamingContext::new(conf(&[]), Duration::from_secs(1)).unwrap();
    let s = ssc.queue_stream(RddQueue::<u32>::new(), true, None);
    assert!(matches!(ssc.start(), Err(Error::NoOutputOperations)));
    s.foreach_rdd(|_, _| Ok(())).unwrap();
    ssc.start().unwrap();
    assert_eq!(ssc.state(), StreamingState::Active);
    let err = ssc.start().unwrap_err();
    assert!(matches!(err, Error::AlreadyStarted), "{err}");
    assert!(err.to_string().contains("before start()"));
    assert!(matches!(
        s.map(|x| x + 1).print(3),
        Err(Error::AlreadyStarted)
    ));
    ssc.stop(StopOptions::default()).unwrap();
    assert!(ssc.context().is_stopped());
    assert!(matches!(ssc.start(), Err(Error::Stopped)));
    assert!(matches!(s.foreach_rdd(|_, _| Ok(())), Err(Error::Stopped)));
    ssc.await_termination().unwrap();

    let bad = StreamingContext::new(conf(&[]), Duration::from_micros(1500)).unwrap_err();
    assert!(matches!(bad, Error::InvalidBatchInterval(_)), "{bad}");
    let typo = StreamingContext::new(
        conf(&[("spate.streaming.blockIntervall", "100ms")]),
        Duration::from_secs(1),
    )
    .unwrap_err();
    assert!(
        typo.to_string().contains("spate.streaming.blockInterval"),
        "{typo}"
    );
    let dur = StreamingContext::new(
        conf(&[("spate.streaming.blockInterval", "fast")]),
        Duration::from_secs(1),
    )
    .unwrap_err();
    assert!(dur.to_string().contains("200ms"), "{dur}");
}

#[test]
fn a_failing_batch_stops_the_context_with_the_batch_and_the_cause() {
    let err =
        try_run_batches(vec![vec![1, 2], vec![3, 0]], |s| s.map(|x: i32| 6 / x), 3).unwrap_err();
    match &err {
        Error::BatchFailed { time, .. } => assert_eq!(time.millis(), 2000),
        other => panic!("expected BatchFailed, got {other}"),
    }
    assert!(err.to_string().contains("divide by zero"), "{err}");

    // An output closure that returns an error fails its batch the same way, and
    // await_termination reports it.
    let clock = Arc::new(ManualClock::new(Time::from_millis(0)));
    let ssc = StreamingContext::with_clock(
        Context::new(conf(&[])).unwrap(),
        Duration::from_secs(1),
        clock.clone(),
    )
    .unwrap();
    let q = RddQueue::new();
    q.push(ssc.context().parallelize(vec![1u8], 1));
    ssc.queue_stream(q, true, None)
        .foreach_rdd(|_, _| Err(spate::core::Error::InvalidArgument("sink refused".into())))
        .unwrap();
    ssc.start().unwrap();
    assert!(
        !ssc.await_termination_timeout(Duration::from_millis(50))
            .unwrap(),
        "nothing runs before the manual clock moves"
    );
    clock.advance(Duration::from_secs(1));
    let err = ssc.await_termination().unwrap_err();
    assert!(matches!(err, Error::BatchFailed { .. }), "{err}");
    assert!(err.to_string().contains("sink refused"), "{err}");
    assert_eq!(ssc.state(), StreamingState::Stopped);
}

#[test]
fn memory_stays_flat_over_many_batches() {
    let (ctx, clock, ssc) = manual();
    let batch: Vec<(u32, u64)> = (0..2000).map(|i| (i % 100, 1)).collect();
    let every = ctx.parallelize(batch, 4);
    let counted = Arc::new(AtomicU64::new(0));
    let sink = Arc::clone(&counted);
    ssc.queue_stream(RddQueue::new(), true, Some(every))
        .map(|(k, v)| (k, v * 2))
        .reduce_by_key(|a, b| a + b)
        .foreach_rdd(move |rdd, _| {
            sink.fetch_add(
                rdd.values().reduce(|a, b| a + b)?.unwrap_or(0),
                Ordering::SeqCst,
            );
            Ok(())
        })
        .unwrap();
    let batches = Batches::attach(&ssc);
    ssc.start().unwrap();
    let mut peak_shuffles = 0;
    drive(&clock, &batches, 300, |_| {
        peak_shuffles = peak_shuffles.max(ctx.active_shuffles());
    });
    ssc.stop(StopOptions::default()).unwrap();
    assert_eq!(counted.load(Ordering::SeqCst), 300 * 4000);
    assert!(
        peak_shuffles <= 2,
        "shuffles of old batches pile up: {peak_shuffles}"
    );
    assert_eq!(ctx.active_shuffles(), 0, "everything released at stop");
}

impl Receiver<u64> for Once {
    fn on_start(&mut self, handle: ReceiverHandle<u64>) {
        handle.store_all((0..self.0).collect());
    }
    fn on_stop(&mut self) {}
}

#[test]
fn a_window_keeps_received_blocks_exactly_as_long_as_it_needs_them() {
    let (ctx, clock, ssc) = manual();
    let counts = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&counts);
    ssc.receiver_stream(Once(100))
        .count_by_window(Duration::from_secs(3), Duration::from_secs(1))
        .unwrap()
        .foreach_rdd(move |rdd, _| {
            sink.lock().unwrap().extend(rdd.collect()?);
            Ok(())
        })
        .unwrap();
    let batches = Batches::attach(&ssc);
    ssc.start().unwrap();
    assert!(wait_for(10, || stats(&ssc).records == 100));
    let mut blocks = Vec::new();
    drive(&clock, &batches, 5, |i| {
        // Batch 1's blocks serve the windows at 1, 2 and 3 s, and go after batch 4.
        if i >= 4 {
            assert!(wait_for(10, || ctx.storage_usage().1 == 0), "batch {i}");
        }
        blocks.push(ctx.storage_usage().1);
    });
    assert_eq!(*counts.lock().unwrap(), [100, 100, 100, 0, 0]);
    assert!(blocks[..3].iter().all(|&b| b > 0), "{blocks:?}");
    ssc.stop(StopOptions::default()).unwrap();
    assert_eq!(ctx.active_shuffles(), 0);
}

/// Stores text as lines in their buffers and as records, alternately, once.
struct MixedText;

impl Receiver<Text> for MixedText {
    fn on_start(&mut self, handle: ReceiverHandle<Text>) {
        let lines = |s: &str| {
            let buf = Arc::new(s.as_bytes().to_vec());
            let mut lines = TextLines::new();
            lines.push(&buf, 0..buf.len(), 100).unwrap();
            lines
        };
        handle.store_lines(lines("a\nb, a line too long to be inline\r\n"));
        handle.store_all(vec![Text::from("c")]);
        handle.store_lines(lines("d\n"));
        handle.store_lines(lines("e\n"));
    }
    fn on_stop(&mut self) {}
}

#[test]
fn stored_lines_and_records_arrive_in_order() {
    let (_ctx, clock, ssc) = manual();
    let got = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&got);
    ssc.receiver_stream(MixedText)
        .foreach_rdd(move |rdd, _| {
            sink.lock().unwrap().push(rdd.collect()?);
            Ok(())
        })
        .unwrap();
    let batches = Batches::attach(&ssc);
    ssc.start().unwrap();
    assert!(wait_for(10, || stats(&ssc).records == 5));
    drive(&clock, &batches, 1, |_| {});
    let got = got.lock().unwrap().concat();
    let want = ["a", "b, a line too long to be inline", "c", "d", "e"];
    assert_eq!(got, want.map(Text::from));
    assert_eq!(batches.all()[0].records, 5);
    ssc.stop(StopOptions::default()).unwrap();
}

impl Receiver<u64> for Flood {
    fn on_start(&mut self, handle: ReceiverHandle<u64>) {
        self.thread = Some(thread::spawn(move || {
            let mut next = 0u64;
            loop {
                let chunk: Vec<u64> = (next..next + 100).collect();
                if !handle.store_all(chunk) {
                    return;
                }
                next += 100;
            }
        }));
    }
    fn on_stop(&mut self) {
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
    }
}

#[test]
fn a_fast_receiver_is_held_back_and_nothing_is_dropped() {
    let ssc = StreamingContext::new(
        conf(&[
            ("spate.streaming.receiver.maxPendingRecords", "1000"),
            ("spate.streaming.blockInterval", "10ms"),
        ]),
        Duration::from_millis(50),
    )
    .unwrap();
    let stream = ssc.receiver_stream(Flood { thread: None });
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&seen);
    stream
        .foreach_rdd(move |rdd, _| {
            let v = rdd.collect()?;
            thread::sleep(Duration::from_millis(60)); // slower than the batch interval
            sink.lock().unwrap().extend(v);
            Ok(())
        })
        .unwrap();
    let batches = Batches::attach(&ssc);
    ssc.start().unwrap();
    assert!(wait_for(20, || batches.all().len() >= 10));
    ssc.stop(GRACEFUL).unwrap();
    let batches = batches.all();
    let max_batch = batches.iter().map(|b| b.records).max().unwrap();
    assert!(
        max_batch <= 1100,
        "pending records are bounded: {max_batch}"
    );
    assert_eq!(
        ssc.context().storage_usage(),
        (0, 0),
        "received blocks leave the block store once their batch is done"
    );
    let received = stats(&ssc).records;
    let completed: u64 = batches.iter().map(|b| b.records).sum();
    assert_eq!(completed, received, "every stored record was processed");
    let seen = seen.lock().unwrap();
    assert_eq!(
        *seen,
        (0..received).collect::<Vec<_>>(),
        "in order, no gaps"
    );
    assert!(
        batches.iter().any(|b| b.scheduling_delay > Duration::ZERO),
        "batches queued up behind slow ones and their delay was recorded"
    );
}

/// Stores `a`, `b`, `c` on its first run, reports an error and asks for a restart; stores
/// `d` on its second run.
struct Flaky {
    runs: u32,
}

impl Receiver<String> for Flaky {
    fn on_start(&mut self, handle: ReceiverHandle<String>) {
        self.runs += 1;
        if self.runs == 1 {
            handle.store_all(vec!["a".into(), "b".into(), "c".into()]);
            handle.report_error("upstream hiccup");
            handle.restart("lost the session");
        } else {
            handle.store("d".into());
        }
    }
    fn on_stop(&mut self) {}
}

#[derive(Default)]
struct Errors(Mutex<Vec<String>>);

impl StreamingListener for Errors {
    fn on_receiver_error(&self, _: spate::streaming::StreamId, message: &str) {
        self.0.lock().unwrap().push(message.to_string());
    }
}

/// A started context (quick restarts) collecting `receiver`'s records and reported errors.
fn started_with_errors(
    receiver: impl Receiver<String>,
) -> (StreamingContext, Arc<Mutex<Vec<String>>>, Arc<Errors>) {
    let ssc = StreamingContext::new(
        conf(&[("spate.streaming.receiverRestartDelay", "20ms")]),
        Duration::from_millis(50),
    )
    .unwrap();
    let errors = Arc::new(Errors::default());
    ssc.add_streaming_listener(errors.clone());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&seen);
    ssc.receiver_stream(receiver)
        .foreach_rdd(move |rdd, _| {
            sink.lock().unwrap().extend(rdd.collect()?);
            Ok(())
        })
        .unwrap();
    ssc.start().unwrap();
    (ssc, seen, errors)
}

#[test]
fn a_custom_receiver_can_report_errors_and_restart() {
    let (ssc, seen, errors) = started_with_errors(Flaky { runs: 0 });
    assert!(wait_for(20, || seen.lock().unwrap().len() >= 4));
    ssc.stop(GRACEFUL).unwrap();
    assert_eq!(*seen.lock().unwrap(), ["a", "b", "c", "d"]);
    let errors = errors.0.lock().unwrap();
    assert!(errors.iter().any(|e| e == "upstream hiccup"), "{errors:?}");
    assert!(
        errors.iter().any(|e| e.contains("lost the session")),
        "{errors:?}"
    );
    assert_eq!(stats(&ssc).errors, 2);
}

/// Panics in `on_start` on its first run; stores `x` on the next.
struct PanicsOnce {
    runs: u32,
}

impl Receiver<String> for PanicsOnce {
    fn on_start(&mut self, handle: ReceiverHandle<String>) {
        self.runs += 1;
        assert!(self.runs > 1, "receiver bug on the first run");
        handle.store("x".to_string());
    }
    fn on_stop(&mut self) {}
}

#[test]
fn a_panicking_receiver_is_reported_and_restarted_not_fatal() {
    let (ssc, seen, errors) = started_with_errors(PanicsOnce { runs: 0 });
    assert!(wait_for(20, || seen.lock().unwrap().len() == 1));
    assert_eq!(ssc.state(), StreamingState::Active, "the context goes on");
    ssc.stop(GRACEFUL).unwrap();
    let errors = errors.0.lock().unwrap();
    assert!(
        errors
            .iter()
            .any(|e| e.contains("panicked") && e.contains("receiver bug")),
        "{errors:?}"
    );
}
