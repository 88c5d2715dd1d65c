//! Object storage against a real S3-compatible store (SeaweedFS, started per test): text input
//! read from `s3://bucket/key` and from a prefix, in byte-range splits, exactly as from a local
//! file; and the bad days — wrong keys, a missing bucket, an unreachable endpoint — as errors
//! naming the object, the endpoint and what to do.

mod support;

use std::process::Command;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use spate::prelude::*;
use spate::streaming::testing::BatchCounter;
use spate::streaming::{ManualClock, StopOptions};
use support::example_path;
use support::s3::{ACCESS_KEY, SECRET_KEY, Store};

fn context(store: &Store, extra: &[(&str, &str)]) -> Context {
    let mut conf = Conf::new()
        .set_master("local[2]")
        .set("spate.s3.accessKeyId", ACCESS_KEY)
        .set("spate.s3.secretAccessKey", SECRET_KEY)
        .set("spate.s3.maxRetries", "1")
        .set("spate.s3.requestTimeout", "5s");
    for (k, v) in store.conf() {
        conf = conf.set(k, v);
    }
    for (k, v) in extra {
        conf = conf.set(*k, *v);
    }
    Context::new(conf).unwrap()
}

/// `n` numbered lines of varied length.
fn text(n: usize, tag: &str) -> String {
    (0..n)
        .map(|i| format!("{tag} line {i} {}\n", "x".repeat(i % 97)))
        .collect()
}

#[test]
fn objects_and_prefixes_read_in_splits_exactly_as_local_files() {
    let store = Store::start("data");
    let (a, b) = (text(40_000, "a"), text(25_000, "b"));
    store.put("in/part-a.txt", a.as_bytes()).unwrap();
    store.put("in/part-b.txt", b.as_bytes()).unwrap();
    store.put("in/_SUCCESS", b"").unwrap();
    let ctx = context(&store, &[]);

    // One object in 7 splits: every line once, in order, none cut at a split's edge.
    let lines = ctx.text_file("s3://data/in/part-a.txt", 7).unwrap();
    assert!(lines.num_partitions() >= 7);
    let got: Vec<String> = lines
        .collect()
        .unwrap()
        .iter()
        .map(|l| l.to_string())
        .collect();
    assert_eq!(got, a.lines().collect::<Vec<_>>());

    // A prefix: its objects in name order, the marker file skipped, as a local directory.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("part-a.txt"), &a).unwrap();
    std::fs::write(dir.path().join("part-b.txt"), &b).unwrap();
    let local = ctx.text_file(dir.path(), 5).unwrap().count().unwrap();
    let remote = ctx.text_file("s3://data/in/", 5).unwrap();
    assert_eq!(remote.count().unwrap(), local);
    assert_eq!(local, 65_000);
    let words = remote
        .flat_map(|l| l.split(' '))
        .map(|w| (w, 1u64))
        .reduce_by_key(|x, y| x + y)
        .collect_as_map()
        .unwrap();
    assert_eq!(words[&Text::from("line")], 65_000);
    assert_eq!(words[&Text::from("b")], 25_000);

    // From inside a caller's async code too (no "runtime within a runtime" panic).
    let rt = tokio::runtime::Runtime::new().unwrap();
    let n = rt.block_on(async { ctx.text_file("s3://data/in/part-b.txt", 2)?.count() });
    assert_eq!(n.unwrap(), 25_000);
}

#[test]
fn bad_keys_a_missing_bucket_or_object_and_a_dead_endpoint_are_clear_errors() {
    let store = Store::start("data");
    store.put("x.txt", b"one\n").unwrap();
    let endpoint = store.endpoint();

    let ctx = context(&store, &[("spate.s3.secretAccessKey", "not-the-secret")]);
    let e = ctx.text_file("s3://data/x.txt", 1).unwrap_err().to_string();
    assert!(
        e.contains("s3://data/x.txt") && e.contains(&endpoint),
        "{e}"
    );
    assert!(e.contains("AWS_SECRET_ACCESS_KEY"), "{e}");
    assert!(
        !e.contains("not-the-secret"),
        "the secret is never shown: {e}"
    );

    let ctx = context(&store, &[]);
    let e = ctx
        .text_file("s3://nobucket/x.txt", 1)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("s3://nobucket/x.txt") && e.contains(&endpoint),
        "{e}"
    );
    assert!(e.to_lowercase().contains("bucket"), "{e}");
    let e = ctx
        .text_file("s3://data/missing/", 1)
        .unwrap_err()
        .to_string();
    assert!(e.contains("no object there"), "{e}");
    let e = ctx.text_file("gs://data/x.txt", 1).unwrap_err().to_string();
    assert!(e.contains("not supported"), "{e}");

    // Nothing listens there: refused within the request timeout, naming the endpoint.
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let dead_url = format!("http://127.0.0.1:{dead}");
    let ctx = context(&store, &[("spate.s3.endpoint", &dead_url)]);
    let t0 = std::time::Instant::now();
    let e = ctx.text_file("s3://data/x.txt", 1).unwrap_err().to_string();
    assert!(e.contains(&dead_url), "{e}");
    assert!(
        t0.elapsed() < std::time::Duration::from_secs(30),
        "{:?}",
        t0.elapsed()
    );
}

/// The same input on `local-cluster[2,1]`: executors read their splits from the store
/// themselves (no directory shared with the driver) and the result is the local run's.
#[test]
fn a_local_cluster_reads_the_objects_in_its_executors_with_the_local_result() {
    let store = Store::start("data");
    let lines: String = (0..6000)
        .map(|i| format!("w{} x{} the w{}\n", i % 37, i % 11, i % 5))
        .collect();
    store.put("in/a.txt", lines.as_bytes()).unwrap();
    store.put("in/b.txt", lines.as_bytes()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("in")).unwrap();
    std::fs::write(dir.path().join("in/a.txt"), &lines).unwrap();
    std::fs::write(dir.path().join("in/b.txt"), &lines).unwrap();
    let run = |master: &str, input: &str| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_spate-submit"));
        c.args(["--master", master]);
        for (k, v) in store.conf() {
            c.arg(format!("--conf={k}={v}"));
        }
        let o = c
            .arg(format!(
                "--conf=spate.local.dir={}",
                dir.path().join(master).display()
            ))
            .arg(example_path("rdd_wordcount"))
            .arg(input)
            .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
            .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        assert!(o.status.success(), "{master}: {err}");
        (String::from_utf8_lossy(&o.stdout).into_owned(), err)
    };
    let (local, _) = run("local[2]", dir.path().join("in").to_str().unwrap());
    let (cluster, err) = run("local-cluster[2,1]", "s3://data/in/");
    // The totals and the top ten; the lineage after them names the input, which differs.
    let top = |out: &str| {
        out.lines()
            .take_while(|l| !l.is_empty())
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    assert_eq!(top(&cluster), top(&local));
    assert!(
        top(&local)[0].starts_with("48000 words, 49 distinct"),
        "{local}"
    );
    assert!(err.contains("local-cluster"), "{err}");
}

/// A file stream on a prefix: objects that appear under it become the next batch's input, each
/// once; one written again under the same key (a new ETag) is new; hidden names and what was
/// there before the stream are not input.
#[test]
fn a_stream_on_a_prefix_reads_each_new_object_once() {
    let store = Store::start("data");
    store.put("events/old.txt", b"old old\n").unwrap();
    let ctx = context(&store, &[("spate.ui.enabled", "false")]);
    let clock = Arc::new(ManualClock::new(Time::from_millis(0)));
    let ssc = StreamingContext::with_clock(ctx, Duration::from_secs(1), clock.clone()).unwrap();
    let done = Arc::new(BatchCounter::default());
    ssc.add_streaming_listener(done.clone());
    let batches: Arc<Mutex<Vec<Vec<(String, u64)>>>> = Arc::default();
    let sink = Arc::clone(&batches);
    ssc.text_file_stream("s3://data/events/")
        .flat_map(|l| l.split(' '))
        .map(|w| (w.to_string(), 1u64))
        .reduce_by_key(|a, b| a + b)
        .foreach_rdd(move |rdd, _| {
            let mut counts = rdd.collect()?;
            counts.sort();
            sink.lock().unwrap().push(counts);
            Ok(())
        })
        .unwrap();
    ssc.start().unwrap();
    let step = |n: usize| {
        clock.advance(Duration::from_secs(1));
        done.wait(n);
    };
    store.put("events/a.txt", b"a b\na\n").unwrap();
    store.put("events/_tmp.txt", b"hidden\n").unwrap();
    step(1);
    step(2); // nothing new
    store.put("events/a.txt", b"c\n").unwrap(); // written again: new
    store.put("events/b.txt", b"b\n").unwrap();
    step(3);
    let got = batches.lock().unwrap().clone();
    let pairs = |v: &[(&str, u64)]| {
        v.iter()
            .map(|(w, n)| (w.to_string(), *n))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        got,
        [
            pairs(&[("a", 2), ("b", 1)]),
            pairs(&[]),
            pairs(&[("b", 1), ("c", 1)])
        ]
    );
    assert_eq!(ssc.input_errors(), 0);
    ssc.stop(StopOptions::default()).unwrap();
}
