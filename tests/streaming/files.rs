//! Files in, files out: file streams and batch outputs.

use super::*;

#[test]
fn a_file_stream_reads_each_new_file_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("before.txt"), "present at creation\n").unwrap();
    let (_ctx, clock, ssc) = manual();
    let lines = ssc.text_file_stream(dir.path());
    let numbers = ssc.file_stream(dir.path(), |l| l.trim().parse::<i64>());
    let got: Arc<Mutex<Vec<(i64, Vec<String>, i64)>>> = Arc::default();
    let sink = Arc::clone(&got);
    lines
        .transform_with(&numbers, |l, n, _| {
            let sum = n.collect().map(|v| v.iter().sum::<i64>()).unwrap_or(-1);
            l.map(move |t| (t.to_string(), sum))
        })
        .foreach_rdd(move |rdd, time| {
            let rows = rdd.collect()?;
            let sum = rows.first().map_or(0, |r| r.1);
            let mut texts: Vec<String> = rows.into_iter().map(|r| r.0).collect();
            texts.sort();
            sink.lock()
                .unwrap()
                .push((time.millis() / 1000, texts, sum));
            Ok(())
        })
        .unwrap();
    let errors = Arc::new(InputErrors::default());
    ssc.add_streaming_listener(errors.clone());
    let batches = Batches::attach(&ssc);
    ssc.start().unwrap();
    drive(&clock, &batches, 1, |_| {});
    move_in(dir.path(), "a.txt", "1\n2\n");
    // Not ready or not data: hidden, underscore, in-progress copies.
    std::fs::write(dir.path().join(".hidden"), "9\n").unwrap();
    std::fs::write(dir.path().join("_meta"), "9\n").unwrap();
    std::fs::write(dir.path().join("c.txt.tmp"), "9\n").unwrap();
    std::fs::write(dir.path().join("d.txt._COPYING_"), "9\n").unwrap();
    drive(&clock, &batches, 2, |_| {});
    // A dangling link cannot be read: reported, skipped, and the stream goes on.
    std::os::unix::fs::symlink(dir.path().join("nowhere"), dir.path().join("broken.txt")).unwrap();
    move_in(dir.path(), "b.txt", "10\nnot a number\n");
    drive(&clock, &batches, 1, |_| {});
    ssc.stop(StopOptions::default()).unwrap();

    let got = got.lock().unwrap();
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    assert_eq!(
        *got,
        [
            (1, vec![], 0),
            (2, s(&["1", "2"]), 3),
            (3, vec![], 0),
            (4, s(&["10", "not a number"]), 10),
        ]
    );
    let errors = errors.0.lock().unwrap();
    // The dangling link once per stream; the line `parse` rejected once, with its count.
    assert_eq!(errors.len(), 3, "{errors:?}");
    assert_eq!(
        errors.iter().filter(|e| e.contains("broken.txt")).count(),
        2,
        "{errors:?}"
    );
    assert!(
        errors
            .iter()
            .any(|e| e.contains("skipped 1 malformed line(s)") && e.contains("invalid digit")),
        "{errors:?}"
    );
}

/// JSON lines (Spark's `readStream.json`): values parsed into a type, blank lines skipped, a
/// malformed line counted and reported once per task with its reason — never a failed batch.
#[test]
fn a_json_file_stream_parses_values_and_counts_malformed_lines() {
    #[derive(Clone, serde::Serialize, serde::Deserialize)]
    struct Event {
        action: String,
        time: i64,
    }
    let dir = tempfile::tempdir().unwrap();
    let (_ctx, clock, ssc) = manual();
    let got: Arc<Mutex<Vec<(String, u64)>>> = Arc::default();
    let sink = Arc::clone(&got);
    ssc.json_file_stream::<Event>(dir.path())
        .map(|e| (e.action, e.time as u64))
        .reduce_by_key(|a, b| a + b)
        .foreach_rdd(move |rdd, _| {
            sink.lock().unwrap().extend(rdd.collect()?);
            Ok(())
        })
        .unwrap();
    let errors = Arc::new(InputErrors::default());
    ssc.add_streaming_listener(errors.clone());
    let batches = Batches::attach(&ssc);
    ssc.start().unwrap();
    move_in(
        dir.path(),
        "events.json",
        "{\"action\":\"open\",\"time\":1}\n\n{\"action\":\"open\",\"time\":2}\n{\"action\": oops}\n{\"action\":\"close\",\"time\":5}\n{\"time\":7}\n",
    );
    drive(&clock, &batches, 1, |_| {});
    ssc.stop(StopOptions::default()).unwrap();
    let mut got = got.lock().unwrap().clone();
    got.sort();
    assert_eq!(got, [("close".to_string(), 5), ("open".to_string(), 3)]);
    let errors = errors.0.lock().unwrap();
    assert_eq!(errors.len(), 1, "one report per task: {errors:?}");
    assert!(
        errors[0].contains("skipped 2 malformed line(s)") && errors[0].contains("the first:"),
        "{errors:?}"
    );
}

#[test]
fn hostile_files_in_a_watched_directory_neither_hang_nor_kill_nor_vanish() {
    let dir = tempfile::tempdir().unwrap();
    let (_ctx, clock, ssc) = manual();
    let lines = ssc.text_file_stream(dir.path());
    let got: Arc<Mutex<Vec<(i64, Vec<String>)>>> = Arc::default();
    let sink = Arc::clone(&got);
    let doomed = dir.path().join("doomed.txt");
    let to_delete = doomed.clone();
    lines
        .foreach_rdd(move |rdd, time| {
            // The file is listed, then deleted before the task opens it.
            let _ = std::fs::remove_file(&to_delete);
            let mut rows: Vec<String> = rdd.collect()?.iter().map(|t| t.to_string()).collect();
            rows.sort();
            sink.lock().unwrap().push((time.millis() / 1000, rows));
            Ok(())
        })
        .unwrap();
    let errors = Arc::new(InputErrors::default());
    ssc.add_streaming_listener(errors.clone());
    let batches = Batches::attach(&ssc);
    ssc.start().unwrap();
    drive(&clock, &batches, 1, |_| {});

    // A FIFO nobody writes to: opening it would block the job generator forever.
    let fifo = dir.path().join("pipe");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    // A file moved in with an old modification time (what `mv` keeps): still new input.
    let old = dir.path().join(".old.writing");
    std::fs::write(&old, "from 2001\n").unwrap();
    let f = std::fs::File::options().write(true).open(&old).unwrap();
    f.set_modified(std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000))
        .unwrap();
    drop(f);
    std::fs::rename(&old, dir.path().join("old.txt")).unwrap();
    // A file deleted between the listing and its task: reported and skipped, the batch goes on.
    std::fs::write(&doomed, "never read\n").unwrap();
    drive(&clock, &batches, 1, |_| {});

    // A file replaced under the same name is new; the same file left in place is not.
    move_in(dir.path(), "old.txt", "replaced\n");
    move_in(dir.path(), "b.txt", "b\n");
    drive(&clock, &batches, 2, |_| {});
    ssc.stop(StopOptions::default()).unwrap();

    let got = got.lock().unwrap();
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    assert_eq!(
        *got,
        [
            (1, vec![]),
            (2, s(&["from 2001"])),
            (3, s(&["b", "replaced"])),
            (4, vec![]),
        ]
    );
    let errors = errors.0.lock().unwrap();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].contains("doomed.txt"), "{errors:?}");
    assert_eq!(ssc.input_errors(), 1);
}

#[test]
fn batch_outputs_are_directories_replaced_on_rerun() {
    let dir = tempfile::tempdir().unwrap();
    let prefix = dir.path().join("out").display().to_string();
    for (run, input) in [vec![1u32, 2], vec![3]].into_iter().enumerate() {
        let p = prefix.clone();
        run_batches(
            vec![input],
            move |s| {
                s.save_as_text_files(&p, "txt").unwrap();
                s.save_as_object_files(&format!("{p}-obj"), "").unwrap();
                s
            },
            1,
        );
        let text_dir = std::path::PathBuf::from(format!("{prefix}-1000.txt"));
        assert!(text_dir.join("_SUCCESS").exists());
        let mut text = String::new();
        for part in 0..2 {
            text += &std::fs::read_to_string(text_dir.join(format!("part-{part:05}"))).unwrap();
        }
        let ctx = Context::new(conf(&[])).unwrap();
        let objects = ctx
            .object_file::<u32>(format!("{prefix}-obj-1000"))
            .unwrap()
            .collect()
            .unwrap();
        if run == 0 {
            assert_eq!(text, "1\n2\n");
            assert_eq!(objects, [1, 2]);
        } else {
            assert_eq!(text, "3\n", "the re-run replaced the batch's output");
            assert_eq!(objects, [3]);
        }
    }
    // Nothing left behind but the two outputs.
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["out-1000.txt", "out-obj-1000"]);
    // A corrupt object file is named when read.
    let part = dir.path().join("out-obj-1000").join("part-00000");
    std::fs::write(&part, b"garbage").unwrap();
    let ctx = Context::new(conf(&[])).unwrap();
    let err = ctx
        .object_file::<u32>(dir.path().join("out-obj-1000"))
        .unwrap()
        .collect()
        .unwrap_err();
    assert!(err.to_string().contains("part-00000"), "{err}");
}
