//! State over many batches: lineage, memory and received buffers stay bounded.

use super::*;

#[test]
fn a_stateful_stream_needs_a_checkpoint_directory() {
    let ssc = StreamingContext::new(conf(&[]), Duration::from_secs(1)).unwrap();
    let q = RddQueue::<(u8, u8)>::new();
    ssc.queue_stream(q, true, None)
        .update_state_by_key(|v: &[u8], s: Option<u8>| s.or(v.first().copied()))
        .print(1)
        .unwrap();
    let err = ssc.start().unwrap_err();
    assert!(matches!(err, Error::CheckpointDirRequired { .. }), "{err}");
    assert!(err.to_string().contains("ssc.checkpoint(dir)"), "{err}");
    let dir = tempfile::tempdir().unwrap();
    ssc.checkpoint(dir.path()).unwrap();
    ssc.start().unwrap();
    ssc.stop(StopOptions::default()).unwrap();
}

/// The batch every queue stream of the 10,000-batch tests repeats.
fn two_lines(ctx: &Context) -> Rdd<Text> {
    let batch: Vec<Text> = ["to be or not to be", "that is the question"]
        .iter()
        .map(|l| Text::from(*l))
        .collect();
    ctx.parallelize(batch, 2)
}

#[test]
fn ten_thousand_stateful_batches_keep_lineage_and_memory_flat() {
    let (ctx, clock, ssc) = manual();
    let dir = tempfile::tempdir().unwrap();
    ssc.checkpoint(dir.path()).unwrap();
    let every = two_lines(&ctx);
    let totals = ssc
        .queue_stream(RddQueue::new(), true, Some(every))
        .flat_map(|l| l.split(' '))
        .map(|w| (w, 1u64))
        .update_state_by_key(|new: &[u64], total: Option<u64>| {
            Some(total.unwrap_or(0) + new.iter().sum::<u64>())
        });
    let seen: Arc<Mutex<Vec<(usize, u64, usize, usize)>>> = Arc::default();
    let sink = Arc::clone(&seen);
    let ctx2 = ctx.clone();
    totals
        .foreach_rdd(move |rdd, time| {
            let be = rdd.collect()?.into_iter().find(|(w, _)| &**w == "be");
            let depth = rdd.lineage().lines().count();
            sink.lock().unwrap().push((
                (time.millis() / 1000) as usize,
                be.map_or(0, |(_, n)| n),
                depth,
                ctx2.storage_usage().1,
            ));
            Ok(())
        })
        .unwrap();
    const N: usize = 10_000;
    run_counted(&ssc, &clock, N);
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), N);
    // Exact running totals: "be" twice per batch.
    assert!(seen.iter().all(|&(t, be, _, _)| be == 2 * t as u64));
    // After the first checkpoints the lineage and the retained blocks stop growing.
    let settled = &seen[100..];
    let max_depth = settled.iter().map(|s| s.2).max().unwrap();
    let max_blocks = settled.iter().map(|s| s.3).max().unwrap();
    let late = &seen[N - 100..];
    eprintln!("lineage depth <= {max_depth}, retained blocks <= {max_blocks}");
    assert!(max_depth <= 60, "lineage depth {max_depth}");
    assert!(
        late.iter().map(|s| s.2).max().unwrap()
            <= seen[100..200].iter().map(|s| s.2).max().unwrap(),
        "lineage grows"
    );
    assert!(max_blocks <= 40, "retained blocks {max_blocks}");
    assert!(
        late.iter().map(|s| s.3).max().unwrap()
            <= seen[100..200].iter().map(|s| s.3).max().unwrap(),
        "retained blocks grow"
    );
    let checkpoint_dirs = std::fs::read_dir(ctx.checkpoint_dir().unwrap())
        .unwrap()
        .count();
    assert!(
        checkpoint_dirs <= 4,
        "old checkpoints are deleted: {checkpoint_dirs}"
    );
}

#[test]
fn ten_thousand_event_time_batches_keep_state_and_memory_flat() {
    let (ctx, clock, ssc) = manual();
    let dir = tempfile::tempdir().unwrap();
    ssc.checkpoint(dir.path()).unwrap();
    let every = two_lines(&ctx);
    // Event time advances with the batches: every word happened at its batch's time.
    let counts = ssc
        .queue_stream(RddQueue::new(), true, Some(every))
        .flat_map(|l| l.split(' '))
        .transform(|rdd, t| rdd.map(move |w| (t.millis(), w)))
        .with_watermark(|e: &(i64, Text)| e.0, Duration::from_secs(10))
        .window(Duration::from_secs(5), Duration::from_secs(5))
        .count_by_key(|e| e.1.clone(), OutputMode::Append)
        .unwrap();
    let seen: Arc<Mutex<Vec<(i64, u64, usize, usize, usize)>>> = Arc::default();
    let sink = Arc::clone(&seen);
    let ctx2 = ctx.clone();
    counts
        .foreach_rdd(move |rdd, time| {
            let rows = rdd.collect()?;
            let be = rows.iter().find(|(_, w, _)| &**w == "be");
            let (bytes, blocks) = ctx2.storage_usage();
            sink.lock().unwrap().push((
                time.millis() / 1000,
                be.map_or(0, |(_, _, n)| *n),
                rdd.lineage().lines().count(),
                blocks,
                bytes as usize,
            ));
            Ok(())
        })
        .unwrap();
    const N: usize = 10_000;
    run_counted(&ssc, &clock, N);
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), N);
    // Append: each 5 s window once, when the watermark (batch - 1 s - 10 s) passes its end,
    // with "be" twice per second of it (the window [0,5) has seconds 1..4 only).
    let emitted: Vec<(i64, u64)> = seen
        .iter()
        .filter(|s| s.1 > 0)
        .map(|s| (s.0, s.1))
        .collect();
    assert_eq!(emitted[0], (16, 8));
    assert!(
        emitted[1..].iter().all(|&(_, be)| be == 10),
        "{:?}",
        &emitted[..5]
    );
    assert_eq!(emitted.len(), (N - 16) / 5 + 1);
    // State, lineage and retained blocks stop growing once windows close and checkpoints cut.
    let early = &seen[100..200];
    let late = &seen[N - 100..];
    for (what, f) in [
        (
            "lineage depth",
            (|s: &(i64, u64, usize, usize, usize)| s.2) as fn(&_) -> usize,
        ),
        ("retained blocks", |s| s.3),
        ("retained bytes", |s| s.4),
    ] {
        let (e, l) = (
            early.iter().map(f).max().unwrap(),
            late.iter().map(f).max().unwrap(),
        );
        eprintln!("{what}: early <= {e}, late <= {l}");
        assert!(l <= e + e / 10, "{what} grows: {e} -> {l}");
    }
}

/// Stores one line that is a slice of a large buffer.
struct BigLine(Option<Text>);

impl Receiver<Text> for BigLine {
    fn on_start(&mut self, handle: ReceiverHandle<Text>) {
        if let Some(line) = self.0.take() {
            handle.store(line);
        }
    }
    fn on_stop(&mut self) {}
}

#[test]
fn state_does_not_pin_received_buffers() {
    let long_word = "k".repeat(40);
    let mut bytes = format!("hello {long_word} ").into_bytes();
    bytes.resize(2 << 20, b' ');
    let buffer = Arc::new(bytes);
    let (line, _) = Text::from_shared(&buffer, 0..buffer.len());
    assert!(line.is_shared());
    let pinned = Arc::downgrade(&buffer);
    drop(buffer);

    let (_ctx, clock, ssc) = manual();
    let dir = tempfile::tempdir().unwrap();
    ssc.checkpoint(dir.path()).unwrap();
    let state: Arc<Mutex<Vec<(Text, u64)>>> = Arc::default();
    let sink = Arc::clone(&state);
    ssc.receiver_stream(BigLine(Some(line)))
        .flat_map(|l| l.split(' '))
        .filter(|w| !w.is_empty())
        .map(|w| (w, 1u64))
        .update_state_by_key(|new: &[u64], n: Option<u64>| Some(n.unwrap_or(0) + new.len() as u64))
        .foreach_rdd(move |rdd, _| {
            *sink.lock().unwrap() = rdd.collect()?;
            Ok(())
        })
        .unwrap();
    let done = Arc::new(Completed::default());
    ssc.add_streaming_listener(done.clone());
    ssc.start().unwrap();
    assert!(wait_for(10, || stats(&ssc).records == 1));
    // Past the first checkpoint (10 s): the batch that received the line is long gone.
    for i in 1..=12 {
        clock.advance(Duration::from_secs(1));
        done.wait(i);
    }
    let mut kept = state.lock().unwrap().clone();
    kept.sort();
    assert_eq!(
        kept,
        [
            (Text::from("hello"), 1),
            (Text::from(long_word.as_str()), 1)
        ]
    );
    assert!(
        wait_for(10, || pinned.upgrade().is_none()),
        "the 2 MB receive buffer is still alive"
    );
    ssc.stop(StopOptions::default()).unwrap();
}
