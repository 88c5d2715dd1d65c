//! Event time: the output modes, sliding windows, sessions, Spark's vectors, unioned watermarks, typed errors.

use super::*;

/// Event-time counts of one key: batches of event seconds in, `(window start s, count)` out
/// per batch (sorted), for 5 s windows (sliding every `slide` s) and a 10 s watermark delay.
fn event_counts(mode: OutputMode, slide: u64, batches: &[&[i64]]) -> Vec<Vec<(i64, u64)>> {
    let input: Vec<Vec<(i64, char)>> = batches
        .iter()
        .map(|b| b.iter().map(|s| (s * 1000, 'k')).collect())
        .collect();
    let n = input.len();
    let out = run_batches(
        input,
        |s| {
            s.with_watermark(|e: &(i64, char)| e.0, Duration::from_secs(10))
                .window(Duration::from_secs(5), Duration::from_secs(slide))
                .count_by_key(|e| e.1, mode)
                .unwrap()
        },
        n,
    );
    sorted(
        out.into_iter()
            .map(|b| b.into_iter().map(|(w, _, c)| (w.start / 1000, c)).collect())
            .collect(),
    )
}

#[test]
fn event_time_append_mode_emits_each_window_once_when_the_watermark_closes_it() {
    // Spark's EventTimeWatermarkSuite, "append mode".
    let out = event_counts(
        OutputMode::Append,
        5,
        &[&[10, 11, 12, 13, 14, 15], &[25], &[], &[10]],
    );
    assert_eq!(out, [vec![], vec![], vec![(10, 5)], vec![]]);
}

#[test]
fn event_time_update_mode_emits_changed_windows_and_drops_late_pairs() {
    // Spark's EventTimeWatermarkSuite, "update mode".
    let out = event_counts(
        OutputMode::Update,
        5,
        &[&[10, 11, 12, 13, 14, 15], &[25], &[], &[10, 25], &[10]],
    );
    assert_eq!(
        out,
        [
            vec![(10, 5), (15, 1)],
            vec![(25, 1)],
            vec![],
            vec![(25, 2)],
            vec![]
        ]
    );
}

#[test]
fn event_time_complete_mode_emits_the_whole_table_and_drops_nothing() {
    let out = event_counts(
        OutputMode::Complete,
        5,
        &[&[10, 11, 12], &[25], &[25], &[10], &[25]],
    );
    assert_eq!(
        out,
        [
            vec![(10, 3)],
            vec![(10, 3), (25, 1)],
            vec![(10, 3), (25, 2)],
            vec![(10, 4), (25, 2)],
            vec![(10, 4), (25, 3)]
        ]
    );
}

#[test]
fn event_time_sliding_windows_judge_lateness_per_window() {
    // 5 s windows every 1 s (plus the 10 s delay). Batch 2's watermark is 12 - 10 = 2: every
    // window of event 1 ([-3,2) .. [1,6)) but [-3,2) is open, so event 1 counts in four.
    let out = event_counts(OutputMode::Update, 1, &[&[12], &[1], &[20], &[1, 11]]);
    assert_eq!(
        out,
        [
            vec![(8, 1), (9, 1), (10, 1), (11, 1), (12, 1)],
            vec![(-2, 1), (-1, 1), (0, 1), (1, 1)],
            vec![(16, 1), (17, 1), (18, 1), (19, 1), (20, 1)],
            // Watermark 20 - 10 = 10: event 1 is late everywhere; event 11 is counted in the
            // windows ending after 10 ([7,12) .. [11,16)), four of them with event 12 already.
            vec![(7, 1), (8, 2), (9, 2), (10, 2), (11, 2)]
        ]
    );
}

#[test]
fn event_time_sessions_merge_close_and_drop_late_events() {
    // 5 s gap, 10 s delay, Append: a session is emitted once the watermark passes its end.
    let input: Vec<Vec<(i64, char)>> = vec![
        vec![(1_000, 'u'), (3_000, 'u'), (20_000, 'v')],
        vec![(6_000, 'u')],  // extends u's session to [1 s, 11 s)
        vec![(30_000, 'v')], // watermark 20 - 10 = 10: nothing closed yet
        vec![],              // watermark 30 - 10 = 20: u's [1,11) closes
        vec![(2_000, 'u')],  // late: [2,7) ends before the watermark of 20
        vec![(45_000, 'w')],
        vec![], // watermark 45 - 10 = 35: v's [20,25) and [30,35) close
    ];
    let out = run_batches(
        input,
        |s| {
            s.with_watermark(|e: &(i64, char)| e.0, Duration::from_secs(10))
                .session_window(Duration::from_secs(5))
                .count_by_key(|e| e.1.to_string(), OutputMode::Append)
                .unwrap()
        },
        7,
    );
    let out: Vec<Vec<(i64, i64, String, u64)>> = sorted(
        out.into_iter()
            .map(|b| {
                b.into_iter()
                    .map(|(w, k, n)| (w.start / 1000, w.end / 1000, k, n))
                    .collect()
            })
            .collect(),
    );
    let s = |v: &[(i64, i64, &str, u64)]| -> Vec<(i64, i64, String, u64)> {
        v.iter()
            .map(|(a, b, k, n)| (*a, *b, k.to_string(), *n))
            .collect()
    };
    assert_eq!(
        out,
        [
            s(&[]),
            s(&[]),
            s(&[]),
            s(&[(1, 11, "u", 3)]),
            s(&[]),
            s(&[]),
            s(&[(20, 25, "v", 1), (30, 35, "v", 1)]),
        ]
    );
}

/// Runs per-batch inputs of two streams through `f` on the manual clock (with
/// `spate.streaming.multipleWatermarkPolicy=policy`): each batch's sorted output and its
/// `BatchInfo` (watermark, late records).
fn run_two<T: Data, U: Data + Ord>(
    policy: &str,
    batches: Vec<(Vec<T>, Vec<T>)>,
    f: impl FnOnce(DStream<T>, DStream<T>) -> DStream<U>,
) -> Vec<(Vec<U>, BatchInfo)> {
    use spate::streaming::ManualClock;
    use std::sync::{Arc, Mutex};
    struct Infos(Mutex<Vec<BatchInfo>>);
    impl StreamingListener for Infos {
        fn on_batch_completed(&self, info: &BatchInfo) {
            self.0.lock().unwrap().push(info.clone());
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let conf = Conf::new()
        .set_master("local[2]")
        .set("spate.streaming.stopGracefullyOnShutdown", "false")
        .set("spate.streaming.multipleWatermarkPolicy", policy);
    let ctx = Context::new(conf).unwrap();
    let clock = Arc::new(ManualClock::new(Time::from_millis(0)));
    let ssc =
        StreamingContext::with_clock(ctx.clone(), Duration::from_secs(1), clock.clone()).unwrap();
    ssc.checkpoint(dir.path()).unwrap();
    let (qa, qb) = (RddQueue::new(), RddQueue::new());
    let n = batches.len();
    for (a, b) in batches {
        qa.push(ctx.parallelize(a, 1));
        qb.push(ctx.parallelize(b, 1));
    }
    let out = f(
        ssc.queue_stream(qa, true, None),
        ssc.queue_stream(qb, true, None),
    );
    let got: Arc<Mutex<Vec<Vec<U>>>> = Arc::default();
    let sink = Arc::clone(&got);
    out.foreach_rdd(move |rdd, _| {
        let mut b = rdd.collect()?;
        b.sort();
        sink.lock().unwrap().push(b);
        Ok(())
    })
    .unwrap();
    let infos = Arc::new(Infos(Mutex::new(Vec::new())));
    ssc.add_streaming_listener(infos.clone());
    ssc.start().unwrap();
    for i in 1..=n {
        clock.advance(Duration::from_secs(1));
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while infos.0.lock().unwrap().len() < i {
            assert!(
                std::time::Instant::now() < deadline,
                "batch {i} did not run"
            );
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    ssc.stop(StopOptions::default()).unwrap();
    let got = got.lock().unwrap().clone();
    let infos = infos.0.lock().unwrap().clone();
    got.into_iter().zip(infos).collect()
}

/// Spark's steps on one input: each step's data as a batch, then an empty batch (spate's stand-in
/// for Spark's no-data batch); the two batches' outputs together.
fn spark_steps<U: Data + Ord>(
    steps: &[&[i64]],
    f: impl FnOnce(DStream<i64>) -> DStream<U>,
) -> Vec<Vec<U>> {
    let batches = steps
        .iter()
        .flat_map(|s| {
            [
                (s.iter().map(|v| v * 1000).collect(), vec![]),
                (vec![], vec![]),
            ]
        })
        .collect();
    let out = run_two("min", batches, |a, _| f(a));
    out.chunks(2)
        .map(|pair| {
            let mut v: Vec<U> = pair.iter().flat_map(|(o, _)| o.clone()).collect();
            v.sort();
            v
        })
        .collect()
}

/// Spark's session test query: sessions of 5 s, watermark 10 s, `key` of the value (s),
/// count and sum: `(key, start s, end s, count, sum)`.
fn sessions(
    mode: OutputMode,
    key: fn(i64) -> i64,
) -> impl FnOnce(DStream<i64>) -> DStream<(i64, i64, i64, u64, i64)> {
    move |s| {
        s.with_watermark(|v: &i64| *v, Duration::from_secs(10))
            .session_window(Duration::from_secs(5))
            .aggregate_by_key(
                move |v| key(v / 1000),
                (0u64, 0i64),
                |(c, sum), v| (c + 1, sum + v / 1000),
                |a, b| (a.0 + b.0, a.1 + b.1),
                mode,
            )
            .unwrap()
            .map(|(w, k, (c, sum))| (k, w.start / 1000, w.end / 1000, c, sum))
    }
}

const SESSION_STEPS: &[&[i64]] = &[&[10, 11], &[17], &[25], &[35], &[10], &[40]];

#[test]
fn event_time_sessions_match_sparks_append_and_update_vectors() {
    // EventTimeWatermarkSuite: "append mode - session".
    let out = spark_steps(SESSION_STEPS, sessions(OutputMode::Append, |v| v / 10));
    assert_eq!(
        out,
        [
            vec![],
            vec![],
            vec![],
            vec![(1, 10, 16, 2, 21), (1, 17, 22, 1, 17)],
            vec![],
            vec![(2, 25, 30, 1, 25)]
        ]
    );
    // "update mode - session".
    let out = spark_steps(SESSION_STEPS, sessions(OutputMode::Update, |v| v / 10));
    assert_eq!(
        out,
        [
            vec![(1, 10, 16, 2, 21)],
            vec![(1, 17, 22, 1, 17)],
            vec![(2, 25, 30, 1, 25)],
            vec![(3, 35, 40, 1, 35)],
            vec![],
            vec![(4, 40, 45, 1, 40)]
        ]
    );
    // "update mode - session - no key": [35,40) and 40's [40,45) touch, so they merge.
    let out = spark_steps(SESSION_STEPS, sessions(OutputMode::Update, |_| 0));
    assert_eq!(
        out,
        [
            vec![(0, 10, 16, 2, 21)],
            vec![(0, 17, 22, 1, 17)],
            vec![(0, 25, 30, 1, 25)],
            vec![(0, 35, 40, 1, 35)],
            vec![],
            vec![(0, 35, 45, 2, 75)]
        ]
    );
    // "update mode - session - keys overlapped with sessions".
    let out = spark_steps(
        &[&[10, 11, 12, 13], &[17], &[25], &[35], &[27], &[10], &[40]],
        sessions(OutputMode::Update, |v| v % 2),
    );
    assert_eq!(
        out,
        [
            vec![(0, 10, 17, 2, 22), (1, 11, 18, 2, 24)],
            vec![(1, 11, 22, 3, 41)],
            vec![(1, 25, 30, 1, 25)],
            vec![(1, 35, 40, 1, 35)],
            vec![(1, 25, 32, 2, 52)],
            vec![],
            vec![(0, 40, 45, 1, 40)]
        ]
    );
}

/// Two inputs with watermark delays of `delays` s, unioned; per step `(first, second)` event
/// seconds, the watermark (s; 0 before there is one, as Spark reports it) of the batch after.
fn union_watermarks(policy: &str, delays: (u64, u64), steps: &[(&[i64], &[i64])]) -> Vec<i64> {
    let ms = |v: &[i64]| v.iter().map(|s| s * 1000).collect::<Vec<_>>();
    let batches = steps
        .iter()
        .flat_map(|(a, b)| [(ms(a), ms(b)), (vec![], vec![])])
        .collect();
    let out = run_two(policy, batches, |a, b| {
        let wm = |s: DStream<i64>, d| s.with_watermark(|v: &i64| *v, Duration::from_secs(d));
        wm(a, delays.0)
            .union(&wm(b, delays.1))
            .window(Duration::from_secs(5), Duration::from_secs(5))
            .count_by_key(|_| (), OutputMode::Update)
            .unwrap()
    });
    out.chunks(2)
        .map(|pair| pair[1].1.watermark.unwrap_or(0) / 1000)
        .collect()
}

#[test]
fn event_time_union_watermarks_match_sparks_two_stream_vectors() {
    // EventTimeWatermarkSuite: "watermark with 2 streams" (delays 10 s and 5 s, min policy):
    // 0 until both inputs have data, the slower side's after, never moving back.
    let steps: &[(&[i64], &[i64])] = &[
        (&[11], &[]),
        (&[], &[6]),
        (&[], &[8]),
        (&[21], &[]),
        (&[], &[17, 28, 39]),
        (&[31], &[]),
        (&[41], &[]),
        (&[51], &[]),
        (&[100], &[100]),
        (&[120], &[110]),
        (&[130], &[125]),
        (&[100], &[100]),
        (&[140], &[100]),
        (&[100], &[135]),
        (&[200], &[190]),
    ];
    assert_eq!(
        union_watermarks("min", (10, 5), steps),
        [0, 1, 1, 3, 11, 21, 31, 34, 90, 105, 120, 120, 120, 130, 185]
    );
    // "MultipleWatermarkPolicy: max" and ": min" (delays 10 s and 15 s).
    let steps: &[(&[i64], &[i64])] = &[(&[20], &[30]), (&[120], &[130]), (&[150], &[])];
    assert_eq!(union_watermarks("max", (10, 15), steps), [15, 115, 140]);
    let steps: &[(&[i64], &[i64])] = &[(&[20], &[30]), (&[120], &[130]), (&[], &[150])];
    assert_eq!(union_watermarks("min", (10, 15), steps), [10, 110, 110]);
}

#[test]
fn event_time_union_judges_lateness_by_the_min_or_the_max_watermark() {
    // `a` sees event 30 s in batch 1, `b` only 12 s; 5 s windows, 10 s delay; batch 3 brings 13 s
    // on `b`. min: the watermark is min(30, 12) - 10 = 2, so 13 (window [10,15)) still counts.
    let batches = || {
        vec![
            (vec![30_000i64], vec![12_000i64]),
            (vec![], vec![]),
            (vec![], vec![13_000]),
        ]
    };
    let count = |a: DStream<i64>, b: DStream<i64>| {
        let wm = |s: DStream<i64>| s.with_watermark(|t: &i64| *t, Duration::from_secs(10));
        wm(a)
            .union(&wm(b))
            .window(Duration::from_secs(5), Duration::from_secs(5))
            .count_by_key(|_| (), OutputMode::Update)
            .unwrap()
            .map(|(w, _, n)| (w.start / 1000, n))
    };
    let outs = |policy| -> Vec<(Vec<(i64, u64)>, u64)> {
        run_two(policy, batches(), count)
            .into_iter()
            .map(|(o, info)| (o, info.late_records))
            .collect()
    };
    assert_eq!(
        outs("min"),
        [(vec![(10, 1), (30, 1)], 0), (vec![], 0), (vec![(10, 2)], 0)]
    );
    // max: 30 - 10 = 20 closes [10,15): event 13 is late, and counted as such.
    assert_eq!(
        outs("max"),
        [(vec![(10, 1), (30, 1)], 0), (vec![], 0), (vec![], 1)]
    );
}

#[test]
fn event_time_windows_that_cannot_work_are_typed_errors() {
    run_batches(
        vec![vec![(0i64, 0u8)]],
        |s| {
            let e = s.with_watermark(|e: &(i64, u8)| e.0, Duration::ZERO);
            let err = e
                .window(Duration::from_secs(5), Duration::from_secs(6))
                .count_by_key(|e| e.1, OutputMode::Append)
                .unwrap_err();
            assert!(
                matches!(
                    err,
                    Error::InvalidEventTimeWindow {
                        what: "window slide",
                        ..
                    }
                ),
                "{err}"
            );
            let err = e
                .window(Duration::ZERO, Duration::ZERO)
                .late_events()
                .unwrap_err();
            assert!(err.to_string().contains("at least 1 ms"), "{err}");
            let err = e
                .session_window(Duration::from_micros(10))
                .count_by_key(|e| e.1, OutputMode::Update)
                .unwrap_err();
            assert!(err.to_string().contains("session gap"), "{err}");
            e.stream()
        },
        1,
    );
}
