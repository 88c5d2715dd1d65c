//! Restarts into a changed program, corrupt checkpoints, one driver per checkpoint directory, failed checkpoint writes.

use super::*;

/// What a version of the program under test looks like.
#[derive(Clone, Copy, PartialEq)]
enum Version {
    /// Word totals as u64, named "totals", state checkpointed every 2 s.
    First,
    /// Changed closures, an extra output and a new stream appended; same state types.
    Changed,
    /// The totals' state type changed to u32.
    NewStateType,
    /// 2 s batches.
    NewInterval,
}

type Seen = Arc<Mutex<Vec<(i64, HashMap<String, u64>)>>>;

fn program(
    version: Version,
    input: &Path,
    clock: Arc<ManualClock>,
    seen: Seen,
) -> Result<StreamingContext> {
    program_with(version, input, clock, seen, &[])
}

/// Moves a batch's staged output into `seen` when the batch completes.
struct Completed {
    staged: Seen,
    seen: Seen,
}

impl StreamingListener for Completed {
    fn on_batch_completed(&self, info: &BatchInfo) {
        let t = info.batch_time.millis();
        let mut staged = self.staged.lock().unwrap();
        let (done, rest) = staged.drain(..).partition(|(b, _)| *b == t);
        *staged = rest;
        self.seen.lock().unwrap().extend::<Vec<_>>(done);
    }
}

/// [`program`] with extra settings.
fn program_with(
    version: Version,
    input: &Path,
    clock: Arc<ManualClock>,
    seen: Seen,
    extra: &[(&str, &str)],
) -> Result<StreamingContext> {
    let interval = if version == Version::NewInterval {
        2
    } else {
        1
    };
    let mut conf = Conf::new()
        .set_master("local[2]")
        .set("spate.streaming.stopGracefullyOnShutdown", "false");
    for (k, v) in extra {
        conf = conf.set(*k, *v);
    }
    let ctx = Context::new(conf)?;
    let ssc = StreamingContext::with_clock(ctx, Duration::from_secs(interval), clock)?;
    let words = ssc.text_file_stream(input).flat_map(|l| l.split(' '));
    // A batch's output joins `seen` once the batch has completed, checkpoint metadata written:
    // a test that acts on the checkpoint directory after `run_until` races no write.
    let staged: Seen = Arc::default();
    ssc.add_streaming_listener(Arc::new(Completed {
        staged: staged.clone(),
        seen,
    }));
    let save = move |rdd: &Rdd<(String, u64)>, time: Time| {
        staged
            .lock()
            .unwrap()
            .push((time.millis(), rdd.collect()?.into_iter().collect()));
        Ok(())
    };
    match version {
        Version::First | Version::NewInterval => {
            let totals = words
                .map(|w| (w, 1u64))
                .update_state_by_key(|n: &[u64], t: Option<u64>| {
                    Some(t.unwrap_or(0) + n.len() as u64)
                })
                .name("totals")
                .checkpoint_interval(Duration::from_secs(2 * interval))?;
            totals.map(|(w, n)| (w.to_string(), n)).foreach_rdd(save)?;
        }
        Version::Changed => {
            let totals = words
                .filter(|w| !w.is_empty())
                .map(|w| (w, 1u64))
                .update_state_by_key(|n: &[u64], t: Option<u64>| {
                    Some(n.iter().sum::<u64>() + t.unwrap_or_default())
                })
                .name("totals")
                .checkpoint_interval(Duration::from_secs(2))?;
            totals.count().print(1)?;
            totals.map(|(w, n)| (w.to_string(), n)).foreach_rdd(save)?;
            // Appended: a stream of a kind the first version had, which starts fresh.
            ssc.text_file_stream(input.join("elsewhere"))
                .count()
                .print(1)?;
        }
        Version::NewStateType => {
            let totals = words
                .map(|w| (w, 1u32))
                .update_state_by_key(|n: &[u32], t: Option<u32>| {
                    Some(t.unwrap_or(0) + n.len() as u32)
                })
                .name("totals")
                .checkpoint_interval(Duration::from_secs(2))?;
            totals
                .map(|(w, n)| (w.to_string(), n as u64))
                .foreach_rdd(save)?;
        }
    }
    Ok(ssc)
}

/// Advances `clock` batch by batch until `seen` has a batch at `to_ms`.
/// `version` of the program, restored from `ck` when a checkpoint is there, on a manual clock
/// set to `at_ms`.
fn open(
    ck: &Path,
    version: Version,
    input: &Path,
    at_ms: i64,
    seen: &Seen,
) -> (Result<StreamingContext>, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(Time::from_millis(at_ms)));
    let ssc = StreamingContext::get_or_create(ck, || {
        program(version, input, clock.clone(), seen.clone())
    });
    (ssc, clock)
}

fn run_until(clock: &ManualClock, seen: &Seen, to_ms: i64) {
    while clock.now().millis() < to_ms {
        clock.advance(Duration::from_secs(1));
        let t = clock.now().millis();
        assert!(
            wait_for(30, || seen.lock().unwrap().iter().any(|(b, _)| *b == t)),
            "the batch of {t} ms did not complete"
        );
    }
}

fn totals(pairs: &[(&str, u64)]) -> HashMap<String, u64> {
    pairs.iter().map(|(w, n)| (w.to_string(), *n)).collect()
}

#[test]
fn a_changed_program_restores_what_still_matches_and_names_what_does_not() {
    let root = tempfile::tempdir().unwrap();
    let (ck, input) = (root.path().join("ck"), root.path().join("in"));
    std::fs::create_dir_all(input.join("elsewhere")).unwrap();

    // Version 1 runs five batches; its state is checkpointed at 2 s and 4 s.
    let seen: Seen = Arc::default();
    let (ssc, clock) = open(&ck, Version::First, &input, 0, &seen);
    let ssc = ssc.unwrap();
    ssc.start().unwrap();
    move_in(&input, "1.txt", "a b a");
    run_until(&clock, &seen, 1000);
    move_in(&input, "2.txt", "b c");
    run_until(&clock, &seen, 4000);
    move_in(&input, "5.txt", "c c");
    run_until(&clock, &seen, 5000);
    ssc.stop(StopOptions::default()).unwrap();
    let first = seen.lock().unwrap().last().unwrap().1.clone();
    assert_eq!(first, totals(&[("a", 2), ("b", 2), ("c", 3)]));

    // What cannot be restored is a typed error naming it.
    for (version, names) in [
        (Version::NewStateType, ["totals", "u32"]),
        (Version::NewInterval, ["batch interval", "1000 ms"]),
    ] {
        let err = open(&ck, version, &input, 5000, &Arc::default())
            .0
            .unwrap_err();
        assert!(matches!(err, Error::CheckpointIncompatible { .. }), "{err}");
        let msg = err.to_string();
        assert!(names.iter().all(|n| msg.contains(n)), "{msg}");
        assert!(
            msg.contains("old binary") && msg.contains("start fresh"),
            "{msg}"
        );
    }

    // The changed program resumes the totals (state of 4 s, batch of 5 s replayed from its
    // file) and counts new files once.
    let seen: Seen = Arc::default();
    let (ssc, clock) = open(&ck, Version::Changed, &input, 5000, &seen);
    let ssc = ssc.unwrap();
    ssc.start().unwrap();
    move_in(&input, "6.txt", "a d");
    run_until(&clock, &seen, 6000);
    run_until(&clock, &seen, 7000);
    ssc.stop(StopOptions::default()).unwrap();
    let got = seen.lock().unwrap().clone();
    assert_eq!(got[0].0, 6000, "resumes after the last generated batch");
    let expected = totals(&[("a", 3), ("b", 2), ("c", 3), ("d", 1)]);
    assert_eq!(got[0].1, expected);
    assert_eq!(got[1].1, expected);
}

#[test]
fn a_counted_file_deleted_before_a_restart_is_an_error_naming_it_unless_allowed() {
    let root = tempfile::tempdir().unwrap();
    let (ck, input) = (root.path().join("ck"), root.path().join("in"));
    std::fs::create_dir_all(&input).unwrap();
    // Totals checkpointed at 2 s and 4 s; 5.txt is read by the batch of 5 s, after the last.
    let seen: Seen = Arc::default();
    let (ssc, clock) = open(&ck, Version::First, &input, 0, &seen);
    let ssc = ssc.unwrap();
    ssc.start().unwrap();
    move_in(&input, "1.txt", "a b a");
    run_until(&clock, &seen, 4000);
    move_in(&input, "5.txt", "c c");
    run_until(&clock, &seen, 5000);
    ssc.stop(StopOptions::default()).unwrap();
    // The driver "crashed" here; someone cleans up the input directory before the restart.
    std::fs::remove_file(input.join("5.txt")).unwrap();

    // Replaying the batch of 5 s needs 5.txt: an error naming the file, the batch and the fix.
    let clock = Arc::new(ManualClock::new(Time::from_millis(5000)));
    let ssc = StreamingContext::get_or_create(&ck, || {
        program(Version::First, &input, clock.clone(), Arc::default())
    })
    .unwrap();
    ssc.start().unwrap();
    // The first batch after the restart rebuilds the totals from the state of 4 s and the
    // replayed batch of 5 s.
    clock.advance(Duration::from_secs(1));
    let err = match ssc.await_termination_timeout(Duration::from_secs(30)) {
        Err(e) => e,
        Ok(_) => panic!("the replay went on without 5.txt"),
    };
    let msg = err.to_string();
    for needle in [
        "5.txt",
        "5000 ms",
        "allowMissingOnReplay=true",
        "restore the file",
    ] {
        assert!(msg.contains(needle), "{needle:?} not in: {msg}");
    }
    let _ = ssc.stop(StopOptions::default());

    // Allowed: the replay goes on without it, and the loss is reported.
    let seen: Seen = Arc::default();
    let errors = Arc::new(InputErrors::default());
    let clock = Arc::new(ManualClock::new(Time::from_millis(5000)));
    let ssc = StreamingContext::get_or_create(&ck, || {
        program_with(
            Version::First,
            &input,
            clock.clone(),
            seen.clone(),
            &[("spate.streaming.fileStream.allowMissingOnReplay", "true")],
        )
    })
    .unwrap();
    ssc.add_streaming_listener(errors.clone());
    ssc.start().unwrap();
    run_until(&clock, &seen, 6000);
    ssc.stop(StopOptions::default()).unwrap();
    let replayed = seen
        .lock()
        .unwrap()
        .iter()
        .find(|(b, _)| *b == 6000)
        .unwrap()
        .1
        .clone();
    assert_eq!(replayed, totals(&[("a", 2), ("b", 1)]));
    let errors = errors.0.lock().unwrap();
    assert!(
        errors.len() == 1 && errors[0].contains("lost input") && errors[0].contains("5.txt"),
        "{errors:?}"
    );
}

#[test]
fn unreadable_checkpoints_are_a_clear_error_and_duplicate_names_are_refused() {
    let ck = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(ck.path().join("metadata")).unwrap();
    std::fs::write(ck.path().join("metadata/checkpoint-000000000003"), b"torn").unwrap();
    let mut created = false;
    let err = StreamingContext::get_or_create(ck.path(), || {
        created = true;
        StreamingContext::new(Conf::new().set_master("local[1]"), Duration::from_secs(1))
    })
    .unwrap_err();
    assert!(
        !created,
        "the program is not built from a checkpoint that cannot be read"
    );
    assert!(matches!(err, Error::CheckpointUnreadable { .. }), "{err}");
    assert!(err.to_string().contains("checkpoint-000000000003"), "{err}");

    let dir = tempfile::tempdir().unwrap();
    let ssc = StreamingContext::get_or_create(dir.path(), || {
        let ssc = StreamingContext::new(
            Conf::new()
                .set_master("local[1]")
                .set("spate.streaming.stopGracefullyOnShutdown", "false"),
            Duration::from_secs(1),
        )?;
        let q = RddQueue::<u8>::new();
        ssc.queue_stream(q.clone(), true, None).name("x").print(1)?;
        ssc.queue_stream(q, true, None).name("x").print(1)?;
        Ok(ssc)
    })
    .unwrap();
    let err = ssc.start().unwrap_err();
    assert!(
        matches!(err, Error::DuplicateStreamName(ref n) if n == "x"),
        "{err}"
    );
}

/// Records the checkpoint write failures reported to listeners.
#[derive(Default)]
struct CheckpointErrors(Mutex<Vec<(i64, String)>>);

impl StreamingListener for CheckpointErrors {
    fn on_checkpoint_error(&self, time: Time, message: &str) {
        self.0
            .lock()
            .unwrap()
            .push((time.millis(), message.to_string()));
    }
}

/// The first version started on a fresh checkpoint, its checkpoint errors recorded.
struct Started {
    root: tempfile::TempDir,
    ssc: StreamingContext,
    clock: Arc<ManualClock>,
    seen: Seen,
    errors: Arc<CheckpointErrors>,
}

fn started() -> Started {
    let root = tempfile::tempdir().unwrap();
    let (ck, input) = (root.path().join("ck"), root.path().join("in"));
    std::fs::create_dir_all(&input).unwrap();
    let seen: Seen = Arc::default();
    let (ssc, clock) = open(&ck, Version::First, &input, 0, &seen);
    let ssc = ssc.unwrap();
    let errors = Arc::new(CheckpointErrors::default());
    ssc.add_streaming_listener(errors.clone());
    ssc.start().unwrap();
    Started {
        root,
        ssc,
        clock,
        seen,
        errors,
    }
}

#[test]
fn a_failing_metadata_write_is_reported_and_a_stop_while_it_fails_is_an_error() {
    let Started {
        root,
        ssc,
        clock,
        seen,
        errors,
    } = started();
    let ck = root.path().join("ck");
    run_until(&clock, &seen, 2000);
    assert!(errors.0.lock().unwrap().is_empty());

    // The metadata directory becomes unwritable (a regular file where it was; root too fails).
    std::fs::remove_dir_all(ck.join("metadata")).unwrap();
    std::fs::write(ck.join("metadata"), "in the way").unwrap();
    run_until(&clock, &seen, 3000);
    {
        let errors = errors.0.lock().unwrap();
        assert!(!errors.is_empty(), "no failure reported");
        assert!(
            errors
                .iter()
                .all(|(t, m)| *t == 3000 && m.contains("could not be written")),
            "{errors:?}"
        );
    }
    // The stream goes on; written again once the directory is usable.
    std::fs::remove_file(ck.join("metadata")).unwrap();
    run_until(&clock, &seen, 4000);
    let failures = errors.0.lock().unwrap().len();
    assert!(ck.join("metadata").is_dir());

    // Failing again at the stop: the stop, and await_termination, say so.
    std::fs::remove_dir_all(ck.join("metadata")).unwrap();
    std::fs::write(ck.join("metadata"), "in the way").unwrap();
    run_until(&clock, &seen, 5000);
    assert!(errors.0.lock().unwrap().len() > failures);
    let err = ssc.stop(StopOptions::default()).unwrap_err();
    assert!(matches!(err, Error::CheckpointWriteFailed { .. }), "{err}");
    assert!(err.to_string().contains("restart would resume"), "{err}");
    assert!(ssc.await_termination().is_err());
}

/// Makes `dir` unwritable the way a vanished directory does (a regular file in its place; root
/// too fails), keeping its files aside; the returned closure puts them back.
fn block_dir(dir: &Path) -> impl FnOnce() + use<> {
    let aside = dir.with_extension("aside");
    std::fs::rename(dir, &aside).unwrap();
    std::fs::write(dir, "in the way").unwrap();
    let dir = dir.to_path_buf();
    move || {
        std::fs::remove_file(&dir).unwrap();
        std::fs::rename(&aside, &dir).unwrap();
    }
}

/// Issue 30, finding 8: a state checkpoint that cannot be written used to fail its tasks four
/// times and stop the context. Now the batch completes, the failure is reported, the lineage
/// stays, the next interval (not every batch) tries again, and totals stay exact.
#[test]
fn a_failing_state_checkpoint_is_retried_at_the_next_interval_and_the_stream_goes_on() {
    let Started {
        root,
        ssc,
        clock,
        seen,
        errors,
    } = started();
    let input = root.path().join("in");
    move_in(&input, "1.txt", "a b a");
    run_until(&clock, &seen, 2000);
    assert!(errors.0.lock().unwrap().is_empty());

    // The state's checkpoint directory goes away (the metadata's stays).
    let restore = block_dir(&ssc.context().checkpoint_dir().unwrap());
    move_in(&input, "3.txt", "b c");
    run_until(&clock, &seen, 5000);
    {
        let errors = errors.0.lock().unwrap();
        // Due at 4 s only (every 2 s): 3 s and 5 s try nothing.
        assert_eq!(errors.len(), 1, "{errors:?}");
        let (t, m) = &errors[0];
        assert_eq!(*t, 4000);
        assert!(
            m.contains("state of totals") && m.contains("1 of at most 10"),
            "{m}"
        );
    }
    assert_eq!(
        seen.lock().unwrap().last().unwrap().1,
        totals(&[("a", 2), ("b", 2), ("c", 1)]),
        "the stream went on, exact"
    );

    // Back: the next interval writes it, and the stop is clean.
    restore();
    move_in(&input, "6.txt", "c");
    run_until(&clock, &seen, 6000);
    assert_eq!(errors.0.lock().unwrap().len(), 1);
    assert_eq!(
        seen.lock().unwrap().last().unwrap().1,
        totals(&[("a", 2), ("b", 2), ("c", 2)])
    );
    ssc.stop(StopOptions::default()).unwrap();
}

/// ... but not forever: past `spate.streaming.checkpoint.maxStateFailures` failures in a row
/// the context stops, saying why (the lineage would otherwise grow without bound).
#[test]
fn state_checkpoints_failing_past_the_bound_stop_the_context() {
    let root = tempfile::tempdir().unwrap();
    let (ck, input) = (root.path().join("ck"), root.path().join("in"));
    std::fs::create_dir_all(&input).unwrap();
    let seen: Seen = Arc::default();
    let clock = Arc::new(ManualClock::new(Time::from_millis(0)));
    let ssc = program_with(
        Version::First,
        &input,
        clock.clone(),
        seen.clone(),
        &[("spate.streaming.checkpoint.maxStateFailures", "2")],
    )
    .unwrap();
    ssc.checkpoint(&ck).unwrap();
    ssc.start().unwrap();
    run_until(&clock, &seen, 2000);
    let _restore = block_dir(&ssc.context().checkpoint_dir().unwrap());
    run_until(&clock, &seen, 6000);
    let err = ssc.await_termination().unwrap_err();
    assert!(
        matches!(
            err,
            Error::StateCheckpointFailed {
                failures: 2,
                max: 2,
                ..
            }
        ),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains("spate.streaming.checkpoint.maxStateFailures")
    );
}

#[test]
fn a_second_driver_is_refused_and_a_killed_launcher_takes_its_driver_with_it() {
    let root = tempfile::tempdir().unwrap();
    let (ck, input, out) = (
        root.path().join("ck"),
        root.path().join("in"),
        root.path().join("out"),
    );
    std::fs::create_dir_all(&input).unwrap();
    let args = [&ck, &input, &out].map(|p| p.display().to_string());
    let submit = || {
        Reaped(
            Command::new(env!("CARGO_BIN_EXE_spate-submit"))
                .args(["--master", "local[1]"])
                .arg(example_path("recoverable_wordcount"))
                .args(&args)
                .stdout(Stdio::null())
                .spawn()
                .unwrap(),
        )
    };
    let holder = |pid: u32| {
        std::fs::read_to_string(ck.join("driver.lock"))
            .is_ok_and(|s| s.starts_with(&format!("pid {pid} ")))
    };
    let mut launcher = submit();
    let mut app = 0;
    assert!(wait_for(30, || {
        app = children_of(launcher.0.id()).first().copied().unwrap_or(0);
        app != 0 && holder(app)
    }));

    // A second driver on the same directory: refused at once, naming the first.
    let second = Command::new(example_path("recoverable_wordcount"))
        .args(&args)
        .env("SPATE_MASTER", "local[1]")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("in use by another driver") && stderr.contains(&format!("pid {app} ")),
        "{stderr}"
    );

    // kill -9 of the launcher: its driver dies too, and a new one takes the directory.
    launcher.0.kill().unwrap();
    launcher.0.wait().unwrap();
    assert!(
        wait_for(10, || !alive(app)),
        "driver {app} outlived its launcher"
    );
    let newest = || {
        std::fs::read_dir(ck.join("metadata"))
            .map(|d| {
                d.flatten()
                    .filter_map(|e| e.metadata().ok()?.modified().ok())
                    .max()
            })
            .ok()
            .flatten()
    };
    let before = newest();
    let mut launcher = submit();
    assert!(wait_for(30, || children_of(launcher.0.id())
        .first()
        .is_some_and(|&p| holder(p))));
    // Running (it wrote a batch's metadata), not merely holding the lock: a SIGTERM before
    // `start()` installs the graceful handler would end it the default way.
    assert!(wait_for(30, || newest() > before));
    sigterm(&launcher.0);
    assert!(wait_exit(&mut launcher.0, 30).success());
}

type Rows = Arc<Mutex<Vec<(i64, Vec<(i64, String, u64)>)>>>;

/// Event-time word counts of `<second> <word>` lines: 5 s windows, a 10 s watermark, Update.
fn event_time_program(
    input: &Path,
    clock: Arc<ManualClock>,
    rows: Rows,
    late: Arc<Mutex<u64>>,
) -> Result<StreamingContext> {
    let conf = Conf::new()
        .set_master("local[2]")
        .set("spate.streaming.stopGracefullyOnShutdown", "false");
    let ssc = StreamingContext::with_clock(Context::new(conf)?, Duration::from_secs(1), clock)?;
    let counts = ssc
        .text_file_stream(input)
        .map(|l: Text| {
            let (t, w) = l.split_once(' ').unwrap();
            (t.parse::<i64>().unwrap() * 1000, w.to_string())
        })
        .with_watermark(|e: &(i64, String)| e.0, Duration::from_secs(10))
        .window(Duration::from_secs(5), Duration::from_secs(5))
        .count_by_key(|e| e.1.clone(), OutputMode::Update)?;
    counts.foreach_rdd(move |rdd, t| {
        let mut got: Vec<(i64, String, u64)> = rdd
            .collect()?
            .into_iter()
            .map(|(w, k, n)| (w.start / 1000, k, n))
            .collect();
        got.sort();
        rows.lock().unwrap().push((t.millis(), got));
        Ok(())
    })?;
    ssc.add_streaming_listener(Arc::new(LateCounter(late)));
    Ok(ssc)
}

struct LateCounter(Arc<Mutex<u64>>);

impl StreamingListener for LateCounter {
    fn on_batch_completed(&self, info: &BatchInfo) {
        *self.0.lock().unwrap() += info.late_records;
    }
}

fn advance_to(clock: &ManualClock, rows: &Rows, to_ms: i64) {
    while clock.now().millis() < to_ms {
        clock.advance(Duration::from_secs(1));
        let t = clock.now().millis();
        assert!(
            wait_for(30, || rows.lock().unwrap().iter().any(|(b, _)| *b == t)),
            "the batch of {t} ms did not complete"
        );
    }
}

#[test]
fn a_restarted_event_time_aggregation_keeps_its_watermark_and_windows() {
    let root = tempfile::tempdir().unwrap();
    let (ck, input) = (root.path().join("ck"), root.path().join("in"));
    std::fs::create_dir_all(&input).unwrap();
    let rows: Rows = Arc::default();
    let late = Arc::new(Mutex::new(0));
    let clock = Arc::new(ManualClock::new(Time::from_millis(0)));
    let ssc = StreamingContext::get_or_create(&ck, || {
        event_time_program(&input, clock.clone(), rows.clone(), late.clone())
    })
    .unwrap();
    ssc.start().unwrap();
    advance_to(&clock, &rows, 1000);
    move_in(&input, "1.txt", "20 a\n22 a\n");
    advance_to(&clock, &rows, 2000);
    assert_eq!(
        rows.lock().unwrap().last().unwrap().1,
        [(20, "a".into(), 2)]
    );
    // Past the state checkpoint of 10 s: nothing after it replays the events of 1.txt, so
    // only the checkpoint knows how far event time had come.
    advance_to(&clock, &rows, 12_000);
    ssc.stop(StopOptions::default()).unwrap(); // the driver "crashes" here

    let rows: Rows = Arc::default();
    let clock = Arc::new(ManualClock::new(Time::from_millis(12_000)));
    let ssc = StreamingContext::get_or_create(&ck, || {
        event_time_program(&input, clock.clone(), rows.clone(), late.clone())
    })
    .unwrap();
    ssc.start().unwrap();
    // The watermark came back (22 - 10 = 12): event 5 is late; window [20,25) goes on.
    move_in(&input, "3.txt", "5 a\n24 a\n");
    advance_to(&clock, &rows, 13_000);
    ssc.stop(StopOptions::default()).unwrap();
    assert_eq!(
        rows.lock().unwrap().last().unwrap().1,
        [(20, "a".into(), 3)]
    );
    assert_eq!(*late.lock().unwrap(), 1);
}

#[test]
fn two_contexts_in_one_process_cannot_share_a_checkpoint_directory() {
    let dir = tempfile::tempdir().unwrap();
    let make = || {
        let ssc = StreamingContext::new(
            Conf::new()
                .set_master("local[1]")
                .set("spate.streaming.stopGracefullyOnShutdown", "false"),
            Duration::from_secs(1),
        )
        .unwrap();
        ssc.queue_stream(RddQueue::<u8>::new(), true, None)
            .print(1)
            .unwrap();
        ssc
    };
    let first = make();
    first.checkpoint(dir.path()).unwrap();
    first.checkpoint(dir.path()).unwrap(); // the same context again: fine
    let second = make();
    let err = second.checkpoint(dir.path()).unwrap_err();
    assert!(matches!(err, Error::CheckpointLocked { .. }), "{err}");
    assert!(
        err.to_string()
            .contains(&format!("pid {} ", std::process::id())),
        "{err}"
    );
    first.stop(StopOptions::default()).unwrap();
    second.checkpoint(dir.path()).unwrap();
}
