//! The status page: Spark's REST API, live events, metrics, the page in a real browser.

use super::*;

/// `GET path` on `url` (a plain HTTP/1.1 client): status and body.
fn http_get(url: &str, path: &str) -> (u16, String) {
    let addr = url.strip_prefix("http://").unwrap();
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let (head, body) = out.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, body.to_string())
}

/// The body of `path`, checked against `tests/golden/<name>.json` (`SPATE_UPDATE_GOLDEN=1`
/// writes it instead).
fn golden(url: &str, path: &str, name: &str) {
    golden_with(url, path, name, &[]);
}

/// [`golden`], with `(found, replacement)`s applied to the body first (source lines).
fn golden_with(url: &str, path: &str, name: &str, replace: &[(String, &str)]) {
    let (status, mut body) = http_get(url, path);
    assert_eq!(status, 200, "{path}: {body}");
    for (from, to) in replace {
        body = body.replace(from.as_str(), to);
    }
    let got: serde_json::Value = serde_json::from_str(&body).unwrap();
    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(format!("{name}.json"));
    if std::env::var_os("SPATE_UPDATE_GOLDEN").is_some() {
        std::fs::write(&file, serde_json::to_string_pretty(&got).unwrap() + "\n").unwrap();
    }
    let want: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(got, want, "{path}");
}

#[test]
fn the_rest_api_answers_sparks_paths_with_sparks_fields() {
    let (ctx, clock, ssc) = manual_with(
        &[("spate.ui.port", "0"), ("spate.app.name", "RestApiTest")],
        Duration::from_secs(1),
    );
    let stream = ssc.receiver_stream(Stores(3));
    // One partition: `print` runs exactly one job per batch whatever the receiver's blocks.
    let one = ssc.queue_stream(RddQueue::new(), true, Some(ctx.parallelize(vec![7u8], 1)));
    let site = line!() + 1;
    stream.count().foreach_rdd(|_, _| Ok(())).unwrap();
    one.print(1).unwrap();
    let lines = [
        (format!("ui.rs:{site}\""), "ui.rs:FOREACH\""),
        (format!("ui.rs:{}\"", site + 1), "ui.rs:PRINT\""),
    ];
    let done = Arc::new(Completed::default());
    ssc.add_streaming_listener(done.clone());
    assert_eq!(ssc.ui_url(), None);
    ssc.start().unwrap();
    let url = ssc.ui_url().expect("the UI is on by default");
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    assert!(wait_for(30, || stats(&ssc).records >= 3));
    clock.advance(Duration::from_secs(1));
    done.wait(1);
    clock.advance(Duration::from_secs(1));
    done.wait(2);
    ui_saw(&url, 2);

    let (status, apps) = http_get(&url, "/api/v1/applications");
    assert_eq!(status, 200);
    let apps: serde_json::Value = serde_json::from_str(&apps).unwrap();
    assert_eq!(apps[0]["name"], "RestApiTest");
    let id = apps[0]["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("local-"), "{id}");
    let base = format!("/api/v1/applications/{id}/streaming");
    let (_, version) = http_get(&url, "/api/v1/version");
    assert!(version.contains("\"spark\""), "{version}");

    golden(&url, &format!("{base}/statistics"), "statistics");
    golden(&url, &format!("{base}/batches"), "batches");
    golden(&url, &format!("{base}/batches?status=COMPLETED"), "batches");
    golden(&url, &format!("{base}/batches/2000"), "batch-2000");
    golden_with(
        &url,
        &format!("{base}/batches/2000/operations"),
        "operations-2000",
        &lines,
    );
    golden_with(
        &url,
        &format!("{base}/batches/1000/operations/1"),
        "operation-1000-1",
        &lines,
    );
    // Local mode: the receiver runs in the driver, on this host (whose name varies).
    let host = nix::unistd::gethostname().unwrap().into_string().unwrap();
    golden_with(
        &url,
        &format!("{base}/receivers/0"),
        "receiver-0",
        &[(
            format!("\"executorHost\":\"{host}\""),
            "\"executorHost\":\"HOST\"",
        )],
    );
    let (_, queued) = http_get(&url, &format!("{base}/batches?status=QUEUED"));
    assert_eq!(queued, "[]");
    for (path, code) in [
        (format!("{base}/batches?status=LOST"), 400),
        (format!("{base}/batches/999"), 404),
        (format!("{base}/batches/1000/operations/7"), 404),
        (format!("{base}/receivers/9"), 404),
        (
            "/api/v1/applications/app-nope/streaming/statistics".to_string(),
            404,
        ),
        ("/api/v1/nothing".to_string(), 404),
    ] {
        assert_eq!(http_get(&url, &path).0, code, "{path}");
    }
    assert_eq!(http_get(&url, "/healthz"), (200, "ok\n".to_string()));
    assert_eq!(http_get(&url, "/readyz"), (200, "ready\n".to_string()));

    // The page, rendered on the server: readable without JavaScript.
    let (status, page) = http_get(&url, "/");
    assert_eq!(status, 200);
    for part in [
        "<h1>RestApiTest</h1>",
        r#"<dd id="completed-batches">2</dd>"#,
        r#"<dd id="records-received">3</dd>"#,
        r#"id="verdict""#,
        r#"<svg class="chart timeline" id="input-rate""#,
        r#"id="processing-time-histogram""#,
        r#"<a href="/batch?time=2000">"#,
        "<td>Stores</td>",
        r#"<meter min="0""#,
        "none (no recovery after a restart)",
        "no errors",
        r#"id="day-total-delay""#,
        r#"<script src="/static/spate.js">"#,
    ] {
        assert!(page.contains(part), "{part} not in\n{page}");
    }
    let (status, one) = http_get(&url, "/batch?time=1000");
    assert_eq!(status, 200);
    for part in [
        "Batch of 1970-01-01T00:00:01.000GMT",
        "print at tests/streaming/ui.rs:",
        r#"<tr id="job-0">"#,
        "succeeded",
    ] {
        assert!(one.contains(part), "{part} not in\n{one}");
    }
    assert_eq!(http_get(&url, "/batch?time=999").0, 404);
    assert_eq!(http_get(&url, "/batch").0, 400);
    let (status, script) = http_get(&url, "/static/spate.js");
    assert_eq!(status, 200);
    assert!(script.contains("EventSource"));
    ssc.stop(StopOptions::default()).unwrap();
    assert_eq!(ssc.ui_url(), None);
}

#[test]
fn the_ui_keeps_a_bounded_number_of_batches() {
    let (ctx, clock, ssc) = manual_with(
        &[
            ("spate.ui.port", "0"),
            ("spate.streaming.ui.retainedBatches", "5"),
        ],
        Duration::from_secs(1),
    );
    ssc.queue_stream(RddQueue::new(), true, Some(ctx.parallelize(vec![1u8], 1)))
        .foreach_rdd(|_, _| Ok(()))
        .unwrap();
    let done = Arc::new(Completed::default());
    ssc.add_streaming_listener(done.clone());
    ssc.start().unwrap();
    let url = ssc.ui_url().unwrap();
    for i in 1..=12 {
        clock.advance(Duration::from_secs(1));
        done.wait(i);
    }
    let base = rest_base(&url);
    let json = |path: &str| -> serde_json::Value {
        serde_json::from_str(&http_get(&url, &format!("{base}{path}")).1).unwrap()
    };
    assert!(wait_for(
        10,
        || json("/statistics")["numTotalCompletedBatches"] == 12
    ));
    let stats = json("/statistics");
    assert_eq!(stats["numRetainedCompletedBatches"], 5, "{stats}");
    let ids: Vec<i64> = json("/batches")
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["batchId"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, [12000, 11000, 10000, 9000, 8000]);
    assert_eq!(http_get(&url, "/readyz").0, 200);
    ssc.stop(StopOptions::default()).unwrap();
}

#[test]
fn a_stuck_listener_does_not_freeze_the_ui() {
    // The application's listeners and the UI's store have a queue and a thread each (as in
    // Spark): a listener stuck in a callback holds up only its own queue.
    struct Stuck(Mutex<Option<std::sync::mpsc::Receiver<()>>>);
    impl spate::streaming::StreamingListener for Stuck {
        fn on_batch_completed(&self, _: &spate::streaming::BatchInfo) {
            if let Some(release) = self.0.lock().unwrap().take() {
                let _ = release.recv();
            }
        }
    }
    let (ctx, clock, ssc) = manual_with(&[("spate.ui.port", "0")], Duration::from_secs(1));
    ssc.queue_stream(RddQueue::new(), true, Some(ctx.parallelize(vec![1u8], 1)))
        .foreach_rdd(|_, _| Ok(()))
        .unwrap();
    let (release, stuck) = std::sync::mpsc::channel();
    ssc.add_streaming_listener(Arc::new(Stuck(Mutex::new(Some(stuck)))));
    ssc.start().unwrap();
    let url = ssc.ui_url().unwrap();
    let base = rest_base(&url);
    let completed = || -> serde_json::Value {
        let stats = http_get(&url, &format!("{base}/statistics")).1;
        serde_json::from_str::<serde_json::Value>(&stats).unwrap()["numTotalCompletedBatches"]
            .clone()
    };
    for _ in 0..5 {
        clock.advance(Duration::from_secs(1));
    }
    assert!(
        wait_for(10, || completed() == 5),
        "the UI saw {} of 5 batches while a listener was stuck on the first",
        completed()
    );
    release.send(()).unwrap();
    ssc.stop(StopOptions::default()).unwrap();
}

#[test]
fn readyz_says_when_the_job_falls_behind() {
    let ctx = Context::new(conf(&[("spate.ui.port", "0")])).unwrap();
    let clock = Arc::new(ManualClock::new(Time::from_millis(0)));
    let ssc =
        StreamingContext::with_clock(ctx.clone(), Duration::from_secs(1), clock.clone()).unwrap();
    // Every batch takes two intervals: it waits for the test to move the clock on.
    let (entered_tx, entered) = std::sync::mpsc::channel::<()>();
    let (release, released) = std::sync::mpsc::channel::<()>();
    let released = Mutex::new(released);
    ssc.queue_stream(RddQueue::new(), true, Some(ctx.parallelize(vec![1u8], 1)))
        .foreach_rdd(move |_, _| {
            let _ = entered_tx.send(());
            // Until released, or until the test drops its sender.
            let _ = released.lock().unwrap().recv();
            Ok(())
        })
        .unwrap();
    let done = Arc::new(Completed::default());
    ssc.add_streaming_listener(done.clone());
    ssc.start().unwrap();
    let url = ssc.ui_url().unwrap();
    clock.advance(Duration::from_secs(1));
    for i in 1..=6 {
        entered.recv_timeout(Duration::from_secs(30)).unwrap();
        if i == 2 {
            assert_eq!(http_get(&url, "/readyz").0, 200);
        }
        clock.advance(Duration::from_secs(2));
        release.send(()).unwrap();
        done.wait(i);
    }
    ui_saw(&url, 6);
    let (status, body) = http_get(&url, "/readyz");
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("falling behind"), "{body}");
    assert_eq!(http_get(&url, "/healthz").0, 200);
    drop(release);
    ssc.stop(StopOptions {
        stop_context: true,
        graceful: false,
    })
    .unwrap();
}

/// `name{labels} value` lines of an OpenMetrics text, by series.
fn series(text: &str) -> Vec<(String, f64)> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (s, v) = l.rsplit_once(' ').unwrap();
            (s.to_string(), v.parse().unwrap())
        })
        .collect()
}

#[test]
fn metrics_are_prometheus_text_with_the_app_as_a_label() {
    let (_ctx, clock, ssc) = manual_with(
        &[
            ("spate.ui.port", "0"),
            ("spate.app.name", "Word\"Count\\1"),
            ("spate.streaming.receiver.maxRate", "1000"),
        ],
        Duration::from_secs(1),
    );
    ssc.receiver_stream(Stores(3))
        .foreach_rdd(|_, _| Ok(()))
        .unwrap();
    let done = Arc::new(Completed::default());
    ssc.add_streaming_listener(done.clone());
    ssc.start().unwrap();
    let url = ssc.ui_url().unwrap();
    assert!(wait_for(30, || stats(&ssc).records >= 3));
    clock.advance(Duration::from_secs(1));
    done.wait(1);
    ui_saw(&url, 1);
    let scrape = || {
        let (status, body) = http_get(&url, "/metrics");
        assert_eq!(status, 200);
        body
    };
    let first = scrape();
    clock.advance(Duration::from_secs(1));
    done.wait(2);
    ui_saw(&url, 2);
    let second = scrape();
    ssc.stop(StopOptions::default()).unwrap();

    // Every family has HELP and TYPE; names are spate_streaming_*; counters end in _total.
    let app = r#"app="Word\"Count\\1""#;
    for (family, kind) in [
        ("spate_streaming_batches_completed", "counter"),
        ("spate_streaming_records_received", "counter"),
        ("spate_streaming_scheduling_delay_seconds", "histogram"),
        ("spate_streaming_processing_time_seconds", "histogram"),
        ("spate_streaming_total_delay_seconds", "histogram"),
        ("spate_streaming_records_per_batch", "histogram"),
        ("spate_streaming_batches_waiting", "gauge"),
        ("spate_streaming_batch_interval_seconds", "gauge"),
        ("spate_streaming_listener_events_dropped", "gauge"),
        ("spate_streaming_invalid_utf8_lines", "counter"),
        ("spate_streaming_write_ahead_log_bytes", "counter"),
        ("spate_streaming_receiver_rate_limit", "gauge"),
        ("spate_streaming_receiver_pending_records", "gauge"),
        ("spate_streaming_receiver_max_pending_records", "gauge"),
    ] {
        assert!(
            second.contains(&format!("# HELP {family} ")),
            "{family}\n{second}"
        );
        assert!(
            second.contains(&format!("# TYPE {family} {kind}")),
            "{family}\n{second}"
        );
    }
    let s2 = series(&second);
    assert!(
        s2.iter().all(|(s, _)| s.starts_with("spate_streaming_")),
        "{second}"
    );
    assert!(
        s2.iter().all(|(s, _)| s.contains(app)),
        "the app label, escaped:\n{second}"
    );
    let unique: std::collections::HashSet<&String> = s2.iter().map(|(s, _)| s).collect();
    assert_eq!(unique.len(), s2.len(), "duplicate series:\n{second}");
    let value = |all: &[(String, f64)], name: &str| {
        all.iter()
            .find(|(s, _)| s.starts_with(name))
            .map(|(_, v)| *v)
            .unwrap_or_else(|| panic!("no {name}"))
    };
    let s1 = series(&first);
    let completed =
        format!("spate_streaming_batches_completed_total{{{app},result=\"succeeded\"}}");
    assert_eq!(value(&s1, &completed), 1.0);
    assert_eq!(value(&s2, &completed), 2.0);
    // Counters never go back.
    for (s, v) in &s1 {
        if s.contains("_total") || s.contains("_count") {
            assert!(value(&s2, s) >= *v, "{s} went back");
        }
    }
    assert_eq!(
        value(
            &s2,
            &format!("spate_streaming_records_received_total{{{app},stream=\"stream 0\"}}")
        ),
        3.0
    );
    assert_eq!(value(&s2, "spate_streaming_batch_interval_seconds"), 1.0);
    let stream = format!("{{{app},stream=\"stream 0\"}}");
    assert_eq!(
        value(&s2, &format!("spate_streaming_receiver_rate_limit{stream}")),
        1000.0
    );
    // Its 3 records were processed by batch 1: none pending.
    assert_eq!(
        value(
            &s2,
            &format!("spate_streaming_receiver_pending_records{stream}")
        ),
        0.0
    );
    assert_eq!(
        value(
            &s2,
            &format!("spate_streaming_invalid_utf8_lines_total{stream}")
        ),
        0.0
    );
}

/// One server-sent event: id, kind, data.
type Sse = (u64, String, String);

/// Opens the live-event stream at `path` (resuming after `last` if given).
fn sse_open(url: &str, path: &str, last: Option<u64>) -> std::net::TcpStream {
    let addr = url.strip_prefix("http://").unwrap();
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let resume = last.map_or(String::new(), |id| format!("Last-Event-ID: {id}\r\n"));
    // HTTP/1.0: the body is not chunked, it simply runs until the server closes.
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n{resume}\r\n").unwrap();
    s
}

/// Reads `n` events from a stream opened by [`sse_open`] (keep-alive comments skipped).
fn sse_read(s: &mut std::net::TcpStream, n: usize) -> Vec<Sse> {
    let mut text = String::new();
    let mut buf = [0u8; 4096];
    let mut events = Vec::new();
    let mut seen_head = false;
    while events.len() < n {
        let got = s.read(&mut buf).expect("the event stream went quiet");
        assert!(got > 0, "the event stream closed after {events:?}");
        text.push_str(std::str::from_utf8(&buf[..got]).unwrap());
        if !seen_head {
            let Some((head, rest)) = text.split_once("\r\n\r\n") else {
                continue;
            };
            assert!(
                head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200"),
                "{head}"
            );
            assert!(
                head.to_ascii_lowercase().contains("text/event-stream"),
                "{head}"
            );
            text = rest.to_string();
            seen_head = true;
        }
        while let Some((block, rest)) = text.split_once("\n\n") {
            let (mut id, mut kind, mut data) = (None, String::new(), String::new());
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("id: ") {
                    id = v.parse().ok();
                } else if let Some(v) = line.strip_prefix("event: ") {
                    kind = v.to_string();
                } else if let Some(v) = line.strip_prefix("data: ") {
                    data = v.to_string();
                }
            }
            if let Some(id) = id {
                events.push((id, kind, data));
            }
            text = rest.to_string();
        }
    }
    events.truncate(n);
    events
}

/// The application's REST base path.
/// Waits until the UI's store has seen `n` batches complete: it hears them on a thread of its
/// own, so an application listener (the tests' counter) may hear one first.
fn ui_saw(url: &str, n: u64) {
    let base = rest_base(url);
    let completed = || {
        let stats = http_get(url, &format!("{base}/statistics")).1;
        serde_json::from_str::<serde_json::Value>(&stats)
            .ok()
            .and_then(|v| v["numTotalCompletedBatches"].as_u64())
    };
    assert!(
        wait_for(10, || completed() >= Some(n)),
        "the UI saw {:?} batches complete, not {n}",
        completed()
    );
}

fn rest_base(url: &str) -> String {
    let (_, apps) = http_get(url, "/api/v1/applications");
    let apps: serde_json::Value = serde_json::from_str(&apps).unwrap();
    format!(
        "/api/v1/applications/{}/streaming",
        apps[0]["id"].as_str().unwrap()
    )
}

#[test]
fn live_events_resume_from_last_event_id_and_a_stalled_client_never_slows_the_job() {
    let (ctx, clock, ssc) = manual_with(
        &[
            ("spate.ui.port", "0"),
            ("spate.streaming.ui.retainedEvents", "30"),
        ],
        Duration::from_secs(1),
    );
    ssc.queue_stream(RddQueue::new(), true, Some(ctx.parallelize(vec![1u8], 1)))
        .foreach_rdd(|rdd, _| rdd.count().map(drop))
        .unwrap();
    let done = Arc::new(Completed::default());
    ssc.add_streaming_listener(done.clone());
    ssc.start().unwrap();
    let url = ssc.ui_url().unwrap();
    let events = format!("{}/events", rest_base(&url));

    // A client that connects and never reads: the job does not wait for it. (Both start
    // after event 0, whenever the server gets to their requests; without the header a client
    // starts with what happens next.)
    let mut stalled = sse_open(&url, &events, Some(0));
    let mut live = sse_open(&url, &events, Some(0));
    clock.advance(Duration::from_secs(1));
    done.wait(1);
    let first = sse_read(&mut live, 3);
    let kinds: Vec<&str> = first.iter().map(|e| e.1.as_str()).collect();
    assert_eq!(kinds, ["batch", "batch", "batch"], "{first:?}");
    let statuses: Vec<serde_json::Value> = first
        .iter()
        .map(|e| serde_json::from_str::<serde_json::Value>(&e.2).unwrap()["status"].clone())
        .collect();
    assert_eq!(statuses, ["QUEUED", "PROCESSING", "COMPLETED"]);
    let ids: Vec<u64> = first.iter().map(|e| e.0).collect();
    assert_eq!(ids, [1, 2, 3]);
    for i in 2..=200 {
        clock.advance(Duration::from_secs(1));
        done.wait(i);
    }
    ui_saw(&url, 200);
    // 600 events; the store keeps the last 30.
    let (_, batch) = http_get(&url, &format!("{}/batches/200000", rest_base(&url)));
    assert!(batch.contains("COMPLETED"), "{batch}");

    // Resuming after event 590: exactly the events after it, in order.
    let mut resumed = sse_open(&url, &events, Some(590));
    let got = sse_read(&mut resumed, 10);
    assert_eq!(
        got.iter().map(|e| e.0).collect::<Vec<_>>(),
        (591..=600).collect::<Vec<_>>()
    );
    let last: serde_json::Value = serde_json::from_str(&got[9].2).unwrap();
    assert_eq!(
        (last["batchId"].as_i64(), last["status"].as_str()),
        (Some(200_000), Some("COMPLETED"))
    );

    // Resuming after an event no longer kept: a gap event says how many were missed.
    let mut behind = sse_open(&url, &events, Some(3));
    let got = sse_read(&mut behind, 2);
    assert_eq!(got[0].1, "gap", "{got:?}");
    assert_eq!(got[0].0, 570);
    let missed: serde_json::Value = serde_json::from_str(&got[0].2).unwrap();
    assert_eq!(missed["missed"], 567);
    assert_eq!(got[1].0, 571);

    // The stalled client still reads a consistent stream: consecutive ids, or a gap.
    let got = sse_read(&mut stalled, 40);
    for pair in got.windows(2) {
        assert!(
            pair[1].0 == pair[0].0 + 1 || pair[0].1 == "gap" || pair[1].1 == "gap",
            "{got:?}"
        );
    }
    assert_eq!(got[0].0, 1);

    // Issue 30, finding 2: an id from the future (a page left open across a driver restart)
    // got nothing, forever, and u64::MAX wrapped: a reset gap, then what happens next.
    let mut ahead: Vec<_> = [10_000, u64::MAX]
        .into_iter()
        .map(|future| sse_open(&url, &events, Some(future)))
        .collect();
    // The server may take the requests before or after any batch's events (late, on a loaded
    // machine): batches keep coming while the clients read, so an event always follows the gap.
    let ticking = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let ticker = {
        let (clock, ticking) = (clock.clone(), Arc::clone(&ticking));
        std::thread::spawn(move || {
            while ticking.load(std::sync::atomic::Ordering::Relaxed) {
                clock.advance(Duration::from_secs(1));
                std::thread::sleep(Duration::from_millis(200));
            }
        })
    };
    for s in &mut ahead {
        let got = sse_read(s, 2);
        assert_eq!(got[0].1, "gap", "{got:?}");
        assert!(got[0].0 >= 600, "{got:?}");
        let data: serde_json::Value = serde_json::from_str(&got[0].2).unwrap();
        assert_eq!((&data["missed"], &data["reset"]), (&0.into(), &true.into()));
        assert_eq!(got[1].0, got[0].0 + 1, "{got:?}");
    }
    ticking.store(false, std::sync::atomic::Ordering::Relaxed);
    ticker.join().unwrap();
    ssc.stop(StopOptions::default()).unwrap();
}

#[test]
fn the_ui_keeps_a_day_of_minutes_and_its_memory_stays_flat() {
    let (ctx, clock, ssc) = manual_with(
        &[
            ("spate.ui.port", "0"),
            ("spate.streaming.ui.retainedBatches", "5"),
            ("spate.streaming.ui.retainedEvents", "50"),
        ],
        Duration::from_secs(60),
    );
    ssc.queue_stream(
        RddQueue::new(),
        true,
        Some(ctx.parallelize(vec![1u8, 2], 2)),
    )
    .foreach_rdd(|rdd, _| rdd.count().map(drop))
    .unwrap();
    let done = Arc::new(Completed::default());
    ssc.add_streaming_listener(done.clone());
    ssc.start().unwrap();
    let url = ssc.ui_url().unwrap();
    let base = rest_base(&url);
    let json = |path: &str| -> serde_json::Value {
        serde_json::from_str(&http_get(&url, &format!("{base}{path}")).1).unwrap()
    };
    let run = |from: usize, to: usize| {
        for i in from..=to {
            clock.advance(Duration::from_secs(60));
            done.wait(i);
        }
        assert!(wait_for(
            10,
            || json("/statistics")["numTotalCompletedBatches"] == to
        ));
    };
    run(1, 300);
    let page_at_300 = http_get(&url, "/").1.len();
    run(301, 1500);
    let page_at_1500 = http_get(&url, "/").1.len();

    let minutes = json("/minutes");
    let minutes = minutes.as_array().unwrap();
    assert_eq!(minutes.len(), 1440, "a day of minutes");
    // The oldest kept minute is 24 hours before the newest.
    assert_eq!(minutes[0]["minuteEpoch"], (1500 - 1440 + 1) * 60_000);
    assert_eq!(minutes[1439]["minuteEpoch"], 1500 * 60_000);
    assert_eq!(minutes[1439]["batches"], 1);
    assert_eq!(minutes[1439]["failedBatches"], 0);
    assert_eq!(json("/batches").as_array().unwrap().len(), 5);
    // Events: the last 50, older ones are a gap.
    let mut behind = sse_open(&url, &format!("{base}/events"), Some(0));
    let got = sse_read(&mut behind, 1);
    assert_eq!((got[0].1.as_str(), got[0].0), ("gap", 4500 - 50));
    // What the page renders does not grow with the run (5 batches, 1440 minutes each time;
    // the day's charts have 300 vs 1440 points, the rest is the same).
    assert!(
        page_at_1500 < page_at_300 + 1440 * 40,
        "{page_at_300} -> {page_at_1500}"
    );
    let (status, metrics) = http_get(&url, "/metrics");
    assert_eq!(status, 200);
    assert!(metrics.contains("spate_streaming_batches_completed_total"));
    ssc.stop(StopOptions::default()).unwrap();
}

#[test]
fn write_ahead_log_bytes_are_counted_and_exported() {
    let dir = tempfile::tempdir().unwrap();
    let (_ctx, clock, ssc) = manual_with(
        &[
            ("spate.ui.port", "0"),
            ("spate.streaming.receiver.writeAheadLog.enable", "true"),
        ],
        Duration::from_secs(1),
    );
    ssc.checkpoint(dir.path()).unwrap();
    ssc.receiver_stream(Stores(100))
        .foreach_rdd(|rdd, _| rdd.count().map(drop))
        .unwrap();
    let done = Arc::new(Completed::default());
    ssc.add_streaming_listener(done.clone());
    ssc.start().unwrap();
    let url = ssc.ui_url().unwrap();
    // The block thread logs the records within a block interval; a batch takes what is logged.
    assert!(wait_for(30, || stats(&ssc).records >= 100
        && stats(&ssc).wal_bytes > 0));
    clock.advance(Duration::from_secs(1));
    done.wait(1);
    let logged = stats(&ssc).wal_bytes;
    // 100 u64s, encoded, plus a record header per block.
    assert!(logged >= 800, "{logged}");
    let metrics = http_get(&url, "/metrics").1;
    let line = metrics
        .lines()
        .find(|l| l.starts_with("spate_streaming_write_ahead_log_bytes_total{"))
        .unwrap_or_else(|| panic!("{metrics}"));
    assert!(line.ends_with(&format!(" {logged}")), "{line} vs {logged}");
    let page = http_get(&url, "/").1;
    assert!(page.contains("<dt>Write-ahead log</dt><dd>on, "), "{page}");
    ssc.stop(StopOptions::default()).unwrap();
}

#[test]
fn the_page_of_a_running_word_count_in_a_real_browser_shows_batches_charts_and_goes_live() {
    // The source: a server sending words until the test ends.
    let server = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = server.local_addr().unwrap().port();
    let stop = Arc::new(AtomicBool::new(false));
    let stopping = stop.clone();
    let feeder = thread::spawn(move || {
        let (mut conn, _) = server.accept().unwrap();
        while !stopping.load(Ordering::Relaxed) {
            if conn
                .write_all(b"to be or not to be\nthat is the question\n")
                .is_err()
            {
                break;
            }
            thread::sleep(Duration::from_millis(5));
        }
    });
    // The word count, as a user writes it, with the UI on.
    let ctx = Context::new(conf(&[
        ("spate.ui.port", "0"),
        ("spate.app.name", "NetworkWordCount"),
        // Below what the feeder sends (~400 lines/s): the limit is drawn over the input rate.
        ("spate.streaming.receiver.maxRate", "300"),
    ]))
    .unwrap();
    let ssc = StreamingContext::with_context(ctx, Duration::from_millis(200)).unwrap();
    let counted = Arc::new(AtomicU64::new(0));
    let total = counted.clone();
    ssc.socket_text_stream("127.0.0.1", port)
        .flat_map(|line| line.split_whitespace())
        .map(|w| (w, 1u64))
        .reduce_by_key(|a, b| a + b)
        .foreach_rdd(move |rdd, _| {
            let n: u64 = rdd.collect()?.iter().map(|(_, n)| n).sum();
            total.fetch_add(n, Ordering::Relaxed);
            Ok(())
        })
        .unwrap();
    ssc.start().unwrap();
    let url = ssc.ui_url().unwrap();
    assert!(wait_for(30, || counted.load(Ordering::Relaxed) > 0));

    let browser = support::browser::Browser::start();
    browser.go(&url);
    assert!(
        browser.count("#completed-batches-table tbody tr") > 0,
        "the batch table"
    );
    assert_eq!(
        browser.count("svg.chart.timeline"),
        6,
        "four timelines and the day's two"
    );
    assert_eq!(browser.count("svg.chart.histogram"), 4);
    assert_eq!(
        browser.count("svg#input-rate path.main"),
        1,
        "the input rate"
    );
    assert_eq!(
        browser.count("svg#input-rate path.limit"),
        1,
        "the rate limit over it"
    );
    assert_eq!(
        browser.count("svg#processing-time path.reference"),
        1,
        "the interval"
    );
    let receiver = browser.text("#receivers tbody tr").unwrap_or_default();
    assert!(receiver.contains("ACTIVE"), "{receiver}");
    let completed = |b: &support::browser::Browser| -> u64 {
        b.text("#completed-batches")
            .and_then(|t| t.trim().parse().ok())
            .unwrap_or(0)
    };
    let first = completed(&browser);
    // Live: the event stream is open and the counters advance without a reload.
    assert!(
        wait_for(20, || browser.text("#live").as_deref() == Some("live")),
        "the page never connected to its event stream"
    );
    browser.run("window.__not_reloaded = true; return null;");
    assert!(
        wait_for(30, || completed(&browser) > first + 3),
        "the completed batch count stayed at {first}"
    );
    assert_eq!(
        browser.run("return window.__not_reloaded === true;"),
        true,
        "updated in place"
    );
    assert!(
        browser
            .run("return document.body.getAttribute('data-refreshed');")
            .is_string()
    );
    let shot = browser.screenshot();
    assert!(shot.starts_with(b"\x89PNG"), "a PNG");
    let artifact = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("ui-screenshot.png");
    std::fs::write(&artifact, &shot).unwrap();
    eprintln!("screenshot of the page: {}", artifact.display());

    // One batch's page: its output operation and the jobs it ran.
    let batch = browser.run(
        "return document.querySelector('#completed-batches-table tbody tr a').getAttribute('href');",
    );
    browser.go(&format!("{url}{}", batch.as_str().unwrap()));
    assert_eq!(browser.count("#operations tbody tr"), 1);
    assert!(browser.count("#jobs tbody tr[id^=job-]") >= 1, "its jobs");
    drop(browser);
    stop.store(true, Ordering::Relaxed);
    ssc.stop(StopOptions::default()).unwrap();
    feeder.join().unwrap();
}

/// Issue 30, finding 1: a client that sends half a header, or idles on a kept-alive
/// connection, was never closed, and there was no cap on connections (150 of them starved the
/// socket receiver of file descriptors).
#[test]
fn slow_and_idle_ui_clients_are_closed_and_connections_are_capped() {
    let (_ctx, _clock, ssc) = manual_with(
        &[
            ("spate.ui.port", "0"),
            ("spate.ui.headerTimeout", "1s"),
            ("spate.ui.maxConnections", "4"),
        ],
        Duration::from_secs(1),
    );
    ssc.queue_stream(RddQueue::<u8>::new(), true, None)
        .foreach_rdd(|_, _| Ok(()))
        .unwrap();
    ssc.start().unwrap();
    let url = ssc.ui_url().unwrap();
    let addr = url.strip_prefix("http://").unwrap().to_string();
    let connect = || {
        let s = std::net::TcpStream::connect(&addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s
    };
    // Reads until the server closes the connection; how long that took.
    let closed_within = |s: &mut std::net::TcpStream| {
        let start = std::time::Instant::now();
        let mut buf = [0u8; 4096];
        loop {
            match s.read(&mut buf) {
                Ok(0) => return start.elapsed(),
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                    return start.elapsed();
                }
                Err(e) => panic!("the server kept the connection open: {e}"),
            }
        }
    };
    // Half a header, then nothing: closed after the header timeout.
    let mut half = connect();
    write!(half, "GET /healthz HTTP/1.1\r\nHost: x\r\n").unwrap();
    assert!(closed_within(&mut half) < Duration::from_secs(5));
    // A complete request on a kept-alive connection, then idle: answered, then closed.
    let mut idle = connect();
    write!(idle, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut answer = [0u8; 12];
    idle.read_exact(&mut answer).unwrap();
    assert_eq!(&answer, b"HTTP/1.1 200");
    assert!(closed_within(&mut idle) < Duration::from_secs(5));
    // Four slow clients hold every slot: a fifth is closed at once, not after a timeout.
    let mut holding: Vec<_> = (0..4)
        .map(|_| {
            let mut s = connect();
            write!(s, "GET / HTTP/1.1\r\n").unwrap();
            s
        })
        .collect();
    // (Accepted in the order they connected: the four before the fifth.)
    let mut fifth = connect();
    assert!(closed_within(&mut fifth) < Duration::from_millis(700));
    // Once they time out, the UI answers again.
    for s in &mut holding {
        closed_within(s);
    }
    assert_eq!(http_get(&url, "/healthz").0, 200);
    ssc.stop(StopOptions::default()).unwrap();
}
