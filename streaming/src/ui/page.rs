//! The web page: `/` (the application, a "keeping up?" verdict, timelines with histograms,
//! receivers with their rate limits and pending records, checkpoint and write-ahead log,
//! batches, errors, the last day by minute) and `/batch?time=<ms>` (one batch, its output
//! operations and their jobs). Rendered on the server — readable without JavaScript — and kept
//! live by a small embedded script that follows the event stream and re-renders.

use std::fmt::Write;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;

use super::api::{App, Shared, spark_date};
use super::chart::{self, Line, short};
use super::store::{BatchRecord, BatchStatus, State as Store};
use super::{Live, api};

/// Completed batches per page of the batch table.
const PAGE_SIZE: usize = 25;
/// Batches the verdict looks back over.
const VERDICT_WINDOW: usize = 20;

/// Text made safe for HTML.
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// A duration for people: 850 ms, 12.3 s, 4 min 5 s, 2 h 10 min.
fn human(d: Duration) -> String {
    let s = d.as_secs();
    if d < Duration::from_secs(1) {
        format!("{} ms", d.as_millis())
    } else if s < 60 {
        format!("{:.1} s", d.as_secs_f64())
    } else if s < 3600 {
        format!("{} min {} s", s / 60, s % 60)
    } else if s < 86_400 {
        format!("{} h {} min", s / 3600, s / 60 % 60)
    } else {
        format!("{} d {} h", s / 86_400, s / 3600 % 24)
    }
}

/// Whether the job keeps up, and why.
#[derive(Debug, PartialEq)]
pub(crate) struct Verdict {
    /// `keeping-up`, `catching-up`, `falling-behind` or `unknown`.
    pub(crate) class: &'static str,
    pub(crate) headline: String,
    pub(crate) details: Vec<String>,
}

/// Judges the last completed batches (oldest first): processing time against the interval,
/// the trend of the scheduling delay (least squares, ms per batch) and how long catching up
/// takes at the current pace (a lag `D` shrinks by `1/ratio - 1` per second).
pub(crate) fn verdict(recent: &[&BatchRecord], interval_ms: u64, queued: usize) -> Verdict {
    if recent.len() < 3 {
        return Verdict {
            class: "unknown",
            headline: "Not enough batches yet".into(),
            details: vec![format!("{} completed so far", recent.len())],
        };
    }
    let interval = interval_ms.max(1) as f64;
    let n = recent.len() as f64;
    let ratio = recent
        .iter()
        .map(|b| ms(b.info.processing_time))
        .sum::<f64>()
        / n
        / interval;
    let delays: Vec<f64> = recent.iter().map(|b| ms(b.info.scheduling_delay)).collect();
    let mean_x = (n - 1.0) / 2.0;
    let mean_y = delays.iter().sum::<f64>() / n;
    let (mut num, mut den) = (0.0, 0.0);
    for (i, y) in delays.iter().enumerate() {
        num += (i as f64 - mean_x) * (y - mean_y);
        den += (i as f64 - mean_x).powi(2);
    }
    let trend = if den > 0.0 { num / den } else { 0.0 };
    let lag = delays.last().copied().unwrap_or(0.0) + queued as f64 * interval;
    let mut details = vec![
        format!(
            "processing takes {:.0}% of the batch interval ({} ms)",
            ratio * 100.0,
            interval_ms
        ),
        format!("scheduling delay trend {trend:+.1} ms per batch"),
        format!("{queued} batches waiting"),
    ];
    let (class, headline) = if ratio >= 1.0 {
        details.push("at this pace it never catches up: add cores or executors, lower the input rate (spate.streaming.receiver.maxRate, backpressure) or lengthen the batch interval".into());
        ("falling-behind", "Falling behind".to_string())
    } else if lag > interval {
        let catch_up = Duration::from_secs_f64(lag / 1000.0 * ratio / (1.0 - ratio));
        if trend > 0.0 {
            details.push(format!(
                "the delay grows; at the average pace it would take {} to catch up",
                human(catch_up)
            ));
            ("falling-behind", "Falling behind".to_string())
        } else {
            (
                "catching-up",
                format!("Catching up: about {} to go", human(catch_up)),
            )
        }
    } else {
        ("keeping-up", "Keeping up".to_string())
    };
    Verdict {
        class,
        headline,
        details,
    }
}

#[derive(Deserialize)]
pub(crate) struct IndexQuery {
    page: Option<usize>,
    receiver: Option<u32>,
}

fn page(app: &App, title: &str, body: &str) -> Html<String> {
    Html(format!(
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>{} — spate</title><link rel="stylesheet" href="/static/spate.css"></head><body data-events="/api/v1/applications/{}/streaming/events"><header><a href="/">spate streaming</a> · {} <span class="live" id="live">static</span></header><main id="content">{body}</main><script src="/static/spate.js"></script></body></html>"#,
        escape(title),
        escape(&app.id),
        escape(&app.name),
    ))
}

fn section(out: &mut String, id: &str, title: &str, inner: &str) {
    let _ = write!(
        out,
        r#"<section id="{id}"><h2>{}</h2>{inner}</section>"#,
        escape(title)
    );
}

fn batch_row(out: &mut String, b: &BatchRecord) {
    let opt = |d: Duration, shown: bool| {
        if shown {
            format!("{:.0} ms", ms(d))
        } else {
            "–".into()
        }
    };
    let done = b.status == BatchStatus::Completed;
    let failed = b
        .ops
        .values()
        .filter(|o| o.failure_reason.is_some())
        .count();
    let ended = b.ops.values().filter(|o| o.end_time.is_some()).count();
    let _ = write!(
        out,
        r#"<tr class="{}"><td><a href="/batch?time={}">{}</a></td><td>{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td>{}/{}{}</td></tr>"#,
        b.status.spark_name().to_ascii_lowercase(),
        b.info.batch_time.millis(),
        escape(&spark_date(b.info.batch_time.millis())),
        b.status.spark_name(),
        b.info.records,
        opt(b.info.scheduling_delay, b.status != BatchStatus::Queued),
        opt(b.info.processing_time, done),
        opt(b.info.total_delay, done),
        ended,
        b.ops.len(),
        if failed > 0 {
            format!(r#" <span class="bad">{failed} failed</span>"#)
        } else {
            String::new()
        }
    );
}

fn batch_table(rows: &[&BatchRecord]) -> String {
    let mut t = String::from(
        "<table><thead><tr><th>Batch time</th><th>Status</th><th>Records</th><th>Scheduling delay</th><th>Processing time</th><th>Total delay</th><th>Output ops</th></tr></thead><tbody>",
    );
    for b in rows {
        batch_row(&mut t, b);
    }
    if rows.is_empty() {
        t.push_str(r#"<tr><td colspan="7" class="none">none</td></tr>"#);
    }
    t.push_str("</tbody></table>");
    t
}

/// Everything `/` shows, copied out of the store so the lock is held briefly.
struct Snapshot {
    completed: Vec<BatchRecord>,
    active: Vec<BatchRecord>,
    total_completed: u64,
    received: u64,
    processed: u64,
    start: Option<crate::Time>,
    receivers: Vec<super::store::ReceiverRecord>,
    errors: Vec<(crate::Time, String)>,
    minutes: Vec<super::store::Minute>,
}

impl Snapshot {
    fn take(s: &Store) -> Snapshot {
        let (completed, active) = s
            .batches
            .values()
            .cloned()
            .partition(|b| b.status == BatchStatus::Completed);
        Snapshot {
            completed,
            active,
            total_completed: s.total_completed,
            received: s.total_received_records,
            processed: s.total_processed_records,
            start: s.start_time,
            receivers: s.receivers.values().cloned().collect(),
            errors: s.errors.iter().rev().cloned().collect(),
            minutes: s.minutes.iter().cloned().collect(),
        }
    }
}

pub(crate) async fn index(State(app): Shared, Query(q): Query<IndexQuery>) -> Html<String> {
    let snap = Snapshot::take(&app.store.state.lock());
    let live = app.store.live();
    page(&app, &app.name, &render_index(&app, &snap, &live, &q))
}

fn render_index(app: &App, snap: &Snapshot, live: &Live, q: &IndexQuery) -> String {
    let interval = app.batch_interval_ms;
    let per_sec = |n: u64| n as f64 * 1000.0 / interval.max(1) as f64;
    let mut out = String::new();

    // The application and its totals.
    let now = snap
        .completed
        .last()
        .map_or(snap.start.unwrap_or_default(), |b| b.info.batch_time);
    let uptime = snap.start.map_or(Duration::ZERO, |s| now.since(s));
    let _ = write!(
        out,
        r#"<section id="summary"><h1>{}</h1><dl class="totals"><dt>Application</dt><dd>{}</dd><dt>Batch interval</dt><dd>{} ms</dd><dt>Started</dt><dd>{}</dd><dt>Uptime</dt><dd id="uptime">{}</dd><dt>Completed batches</dt><dd id="completed-batches">{}</dd><dt>Records received</dt><dd id="records-received">{}</dd><dt>Records processed</dt><dd id="records-processed">{}</dd><dt>Receivers</dt><dd>{} ({} active)</dd></dl></section>"#,
        escape(&app.name),
        escape(&app.id),
        interval,
        escape(&spark_date(snap.start.map_or(0, |t| t.millis()))),
        human(uptime),
        snap.total_completed,
        snap.received,
        snap.processed,
        snap.receivers.len(),
        snap.receivers.iter().filter(|r| r.info.active).count(),
    );

    // Keeping up?
    let recent: Vec<&BatchRecord> = snap
        .completed
        .iter()
        .rev()
        .take(VERDICT_WINDOW)
        .rev()
        .collect();
    let queued = snap
        .active
        .iter()
        .filter(|b| b.status == BatchStatus::Queued)
        .count();
    let v = verdict(&recent, interval, queued);
    let mut inner = format!(
        r#"<p class="verdict {}" id="verdict">{}</p><ul>"#,
        v.class,
        escape(&v.headline)
    );
    for d in &v.details {
        let _ = write!(inner, "<li>{}</li>", escape(d));
    }
    inner.push_str("</ul>");
    section(&mut out, "keeping-up", "Keeping up?", &inner);

    // Timelines and histograms.
    let pts = |f: &dyn Fn(&BatchRecord) -> f64| -> Vec<(i64, f64)> {
        snap.completed
            .iter()
            .map(|b| (b.info.batch_time.millis(), f(b)))
            .collect()
    };
    let selected = q.receiver.map(crate::StreamId);
    let input = pts(&|b| match selected {
        Some(s) => per_sec(b.info.stream_records.get(&s).copied().unwrap_or(0)),
        None => per_sec(b.info.records),
    });
    let limit: Vec<(i64, f64)> = snap
        .completed
        .iter()
        .filter_map(|b| {
            let limits: Vec<u64> = b
                .receivers
                .iter()
                .filter(|r| selected.is_none_or(|s| r.stream == s))
                .filter_map(|r| r.rate_limit)
                .collect();
            (!limits.is_empty()).then(|| {
                (
                    b.info.batch_time.millis(),
                    limits.iter().sum::<u64>() as f64,
                )
            })
        })
        .collect();
    let sched = pts(&|b| ms(b.info.scheduling_delay));
    let proc_ = pts(&|b| ms(b.info.processing_time));
    let total = pts(&|b| ms(b.info.total_delay));
    let interval_line: Vec<(i64, f64)> = match (proc_.first(), proc_.last()) {
        (Some(a), Some(b)) => vec![(a.0, interval as f64), (b.0, interval as f64)],
        _ => Vec::new(),
    };
    let values = |p: &[(i64, f64)]| p.iter().map(|(_, v)| *v).collect::<Vec<_>>();
    let input_title = match selected {
        Some(s) => format!("Input rate of {s}"),
        None => "Input rate".to_string(),
    };
    let mut charts = String::from(r#"<div class="charts">"#);
    let rows: [(&str, String, &str, Vec<Line<'_>>, &[(i64, f64)]); 4] = [
        (
            "input-rate",
            input_title,
            "rec/s",
            vec![
                Line {
                    points: &input,
                    class: "main",
                    label: "records/s",
                },
                Line {
                    points: &limit,
                    class: "limit",
                    label: "rate limit (maxRate or backpressure)",
                },
            ],
            &input,
        ),
        (
            "scheduling-delay",
            "Scheduling delay".into(),
            "ms",
            vec![Line {
                points: &sched,
                class: "main",
                label: "scheduling delay",
            }],
            &sched,
        ),
        (
            "processing-time",
            "Processing time".into(),
            "ms",
            vec![
                Line {
                    points: &proc_,
                    class: "main",
                    label: "processing time",
                },
                Line {
                    points: &interval_line,
                    class: "reference",
                    label: "batch interval",
                },
            ],
            &proc_,
        ),
        (
            "total-delay",
            "Total delay".into(),
            "ms",
            vec![Line {
                points: &total,
                class: "main",
                label: "total delay",
            }],
            &total,
        ),
    ];
    for (id, title, unit, lines, series) in rows {
        let avg = if series.is_empty() {
            "–".to_string()
        } else {
            format!(
                "avg {} {unit}",
                short(series.iter().map(|(_, v)| v).sum::<f64>() / series.len() as f64)
            )
        };
        let _ = write!(
            charts,
            r#"<div class="row"><h3>{} <small>{avg}</small></h3>{}{}</div>"#,
            escape(&title),
            chart::timeline(id, unit, &lines),
            chart::histogram(&format!("{id}-histogram"), unit, &values(series), 10),
        );
    }
    charts.push_str(r#"<p class="legend"><span class="main">—</span> measured <span class="limit">- -</span> rate limit <span class="reference">- -</span> batch interval</p></div>"#);
    section(&mut out, "timelines", "Timelines", &charts);

    // Receivers.
    let mut t = String::from(
        "<table><thead><tr><th>Stream</th><th>Receiver</th><th>Status</th><th>Avg rate</th><th>Rate limit</th><th>Pending / max</th><th>Write-ahead log</th><th>Invalid UTF-8</th><th>Last error</th></tr></thead><tbody>",
    );
    for r in &snap.receivers {
        let stats = live.receivers.iter().find(|s| s.stream == r.info.stream);
        let avg = if r.rates.is_empty() {
            "–".to_string()
        } else {
            format!(
                "{} rec/s",
                short(r.rates.iter().map(|(_, n)| per_sec(*n)).sum::<f64>() / r.rates.len() as f64)
            )
        };
        let (limit, pending, wal, invalid) = match stats {
            Some(s) => (
                s.rate_limit
                    .map_or("none".to_string(), |l| format!("{} rec/s", short(l as f64))),
                format!(
                    r#"<meter min="0" max="{}" value="{}"></meter> {} / {}"#,
                    s.max_pending_records.max(1),
                    s.pending_records,
                    short(s.pending_records as f64),
                    short(s.max_pending_records as f64)
                ),
                if live.wal {
                    format!("{}B", short(s.wal_bytes as f64))
                } else {
                    "off".into()
                },
                s.invalid_utf8_lines.to_string(),
            ),
            None => ("–".into(), "–".into(), "–".into(), "–".into()),
        };
        let _ = write!(
            t,
            r#"<tr><td><a href="/?receiver={}#timelines">{}</a></td><td>{}</td><td class="{}">{}</td><td class="num">{avg}</td><td class="num">{limit}</td><td>{pending}</td><td class="num">{wal}</td><td class="num">{invalid}</td><td>{}</td></tr>"#,
            r.info.stream.0,
            r.info.stream,
            escape(&r.info.name),
            if r.info.active { "good" } else { "bad" },
            if r.info.active { "ACTIVE" } else { "INACTIVE" },
            r.last_error
                .as_ref()
                .map_or(String::new(), |(at, m)| format!(
                    "{}: {}",
                    escape(&spark_date(at.millis())),
                    escape(m)
                )),
        );
    }
    if snap.receivers.is_empty() {
        t.push_str(r#"<tr><td colspan="9" class="none">no receivers (queue or file streams only)</td></tr>"#);
    }
    t.push_str("</tbody></table>");
    section(&mut out, "receivers", "Receivers", &t);

    // Checkpoint and write-ahead log.
    let mut c = String::from(r#"<dl class="totals">"#);
    let _ = write!(
        c,
        "<dt>Checkpoint directory</dt><dd>{}</dd><dt>Last metadata checkpoint</dt><dd>{}</dd><dt>Checkpoint writes</dt><dd class=\"{}\">{}</dd><dt>Write-ahead log</dt><dd>{}</dd><dt>Listener events dropped</dt><dd>{}</dd></dl>",
        live.checkpoint_dir.as_ref().map_or(
            "none (no recovery after a restart)".to_string(),
            |d| escape(&d.display().to_string())
        ),
        live.last_checkpoint.map_or("–".to_string(), |t| format!(
            "batch of {}",
            escape(&spark_date(t.millis()))
        )),
        if live.checkpoint_failing.is_some() {
            "bad"
        } else {
            "good"
        },
        live.checkpoint_failing
            .as_ref()
            .map_or("ok".to_string(), |e| format!("failing: {}", escape(e))),
        if live.wal {
            format!(
                "on, {}B written",
                short(live.receivers.iter().map(|r| r.wal_bytes).sum::<u64>() as f64)
            )
        } else {
            "off".to_string()
        },
        live.dropped_events,
    );
    section(&mut out, "checkpoint", "Checkpoint and write-ahead log", &c);

    // Batches.
    let active: Vec<&BatchRecord> = snap.active.iter().rev().collect();
    section(
        &mut out,
        "active-batches",
        &format!("Active batches ({})", active.len()),
        &batch_table(&active),
    );
    let pages = snap.completed.len().div_ceil(PAGE_SIZE).max(1);
    let p = q.page.unwrap_or(1).clamp(1, pages);
    let shown: Vec<&BatchRecord> = snap
        .completed
        .iter()
        .rev()
        .skip((p - 1) * PAGE_SIZE)
        .take(PAGE_SIZE)
        .collect();
    let mut nav = format!(r#"<p class="pages">page {p} of {pages}"#);
    if p > 1 {
        let _ = write!(
            nav,
            r#" · <a href="/?page={}#completed-batches-table">newer</a>"#,
            p - 1
        );
    }
    if p < pages {
        let _ = write!(
            nav,
            r#" · <a href="/?page={}#completed-batches-table">older</a>"#,
            p + 1
        );
    }
    nav.push_str("</p>");
    section(
        &mut out,
        "completed-batches-table",
        &format!(
            "Completed batches (last {} of {})",
            snap.completed.len(),
            snap.total_completed
        ),
        &(batch_table(&shown) + &nav),
    );

    // Errors.
    let mut e = String::from("<ol class=\"errors\">");
    for (at, m) in &snap.errors {
        let _ = write!(
            e,
            "<li><time>{}</time> {}</li>",
            escape(&spark_date(at.millis())),
            escape(m)
        );
    }
    if snap.errors.is_empty() {
        e.push_str(r#"<li class="none">no errors</li>"#);
    }
    e.push_str("</ol>");
    section(&mut out, "errors", "Errors (newest first, last 100)", &e);

    // The last day.
    let mins = |f: &dyn Fn(&super::store::Minute) -> f64| -> Vec<(i64, f64)> {
        snap.minutes.iter().map(|m| (m.start, f(m))).collect()
    };
    let avg_delay = mins(&|m| (m.sum_ms[2] / m.batches.max(1)) as f64);
    let max_delay = mins(&|m| m.max_ms[2] as f64);
    let rate = mins(&|m| m.records as f64 / 60.0);
    let day = format!(
        "{}{}",
        chart::timeline(
            "day-total-delay",
            "ms",
            &[
                Line {
                    points: &avg_delay,
                    class: "main",
                    label: "average total delay"
                },
                Line {
                    points: &max_delay,
                    class: "limit",
                    label: "largest total delay"
                },
            ],
        ),
        chart::timeline(
            "day-input-rate",
            "rec/s",
            &[Line {
                points: &rate,
                class: "main",
                label: "records/s"
            }],
        ),
    );
    section(
        &mut out,
        "last-day",
        "The last 24 hours, by minute (total delay: average and largest; input rate)",
        &day,
    );
    out
}

#[derive(Deserialize)]
pub(crate) struct BatchQuery {
    time: Option<i64>,
}

pub(crate) async fn batch(State(app): Shared, Query(q): Query<BatchQuery>) -> Response {
    let Some(time) = q.time else {
        return (
            StatusCode::BAD_REQUEST,
            "say which batch: /batch?time=<batch time in ms>",
        )
            .into_response();
    };
    let b = app
        .store
        .state
        .lock()
        .batches
        .get(&crate::Time::from_millis(time))
        .cloned();
    let Some(b) = b else {
        let body = format!(
            r#"<p class="bad">No retained batch at {time} ({}): only the last spate.streaming.ui.retainedBatches are kept. <a href="/">Back</a></p>"#,
            escape(&spark_date(time))
        );
        return (StatusCode::NOT_FOUND, page(&app, "no such batch", &body)).into_response();
    };
    page(&app, &format!("batch {time}"), &render_batch(&app, &b)).into_response()
}

fn render_batch(app: &App, b: &BatchRecord) -> String {
    let json = api::batch_json(b, app.batch_interval_ms);
    let mut out = String::new();
    let opt = |v: Option<u64>| v.map_or("–".to_string(), |v| format!("{v} ms"));
    let _ = write!(
        out,
        r#"<section id="batch"><h1>Batch of {}</h1><dl class="totals"><dt>Status</dt><dd id="batch-status">{}</dd><dt>Records</dt><dd>{}</dd><dt>Scheduling delay</dt><dd>{}</dd><dt>Processing time</dt><dd>{}</dd><dt>Total delay</dt><dd>{}</dd>"#,
        escape(&json.batch_time),
        json.status,
        json.input_size,
        opt(json.scheduling_delay),
        opt(json.processing_time),
        opt(json.total_delay),
    );
    for (stream, n) in &b.info.stream_records {
        let _ = write!(out, "<dt>{stream}</dt><dd>{n} records</dd>");
    }
    if let Some(w) = b.info.watermark {
        let _ = write!(
            out,
            "<dt>Watermark</dt><dd>{}</dd><dt>Late records dropped</dt><dd>{}</dd>",
            escape(&spark_date(w)),
            b.info.late_records
        );
    }
    out.push_str("</dl></section>");

    let mut t = String::from(
        "<table id=\"operations\"><thead><tr><th>Id</th><th>Output operation</th><th>Duration</th><th>Status</th><th>Jobs</th></tr></thead><tbody>",
    );
    for o in b.ops.values() {
        let jobs: Vec<String> = b
            .jobs
            .values()
            .filter(|j| j.output_op_id == o.id)
            .map(|j| format!("<a href=\"#job-{0}\">{0}</a>", j.job.id.0))
            .collect();
        let status = match (&o.failure_reason, o.end_time, o.start_time) {
            (Some(r), _, _) => format!(r#"<span class="bad">failed: {}</span>"#, escape(r)),
            (None, Some(_), _) => "succeeded".into(),
            (None, None, Some(_)) => "running".into(),
            _ => "waiting".into(),
        };
        let _ = write!(
            t,
            "<tr><td>{}</td><td>{}</td><td class=\"num\">{}</td><td>{status}</td><td>{}</td></tr>",
            o.id,
            escape(&o.description),
            o.duration()
                .map_or("–".to_string(), |d| format!("{} ms", d.as_millis())),
            jobs.join(", ")
        );
    }
    t.push_str("</tbody></table>");
    section(&mut out, "output-operations", "Output operations", &t);

    let mut j = String::from(
        "<table id=\"jobs\"><thead><tr><th>Job</th><th>Output op</th><th>Duration</th><th>Stages: tasks (succeeded/all)</th><th>Status</th></tr></thead><tbody>",
    );
    for job in b.jobs.values() {
        let stages: Vec<String> = job
            .job
            .stages
            .iter()
            .map(|s| {
                let state = if job.end_time.is_none() {
                    String::new()
                } else if s.skipped() {
                    " (skipped)".to_string()
                } else if s.failed_tasks > 0 {
                    format!(" ({} failed attempts)", s.failed_tasks)
                } else {
                    String::new()
                };
                format!(
                    "{}: {} — {}/{}{state}",
                    s.id,
                    escape(&s.name),
                    s.completed_tasks,
                    s.tasks
                )
            })
            .collect();
        let status = match (&job.job.failure, job.end_time) {
            (Some(f), _) => format!(r#"<span class="bad">failed: {}</span>"#, escape(f)),
            (None, Some(_)) => "succeeded".into(),
            (None, None) => "running".into(),
        };
        let _ = write!(
            j,
            "<tr id=\"job-{0}\"><td>{0}</td><td>{1}</td><td class=\"num\">{2}</td><td>{3}</td><td>{status}</td></tr>",
            job.job.id.0,
            job.output_op_id,
            job.end_time.map_or("–".to_string(), |e| format!(
                "{} ms",
                e.since(job.start_time).as_millis()
            )),
            stages.join("<br>"),
        );
    }
    if b.jobs.is_empty() {
        j.push_str(r#"<tr><td colspan="5" class="none">no jobs (an output operation that ran no action, or an empty batch)</td></tr>"#);
    }
    j.push_str("</tbody></table>");
    section(&mut out, "batch-jobs", "Jobs", &j);
    out.push_str(r#"<p><a href="/">Back to the application</a></p>"#);
    out
}

pub(crate) async fn script() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        include_str!("assets/spate.js"),
    )
}

pub(crate) async fn style() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        include_str!("assets/spate.css"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::listener::BatchInfo;

    fn batch(t: i64, sched: u64, proc_: u64) -> BatchRecord {
        let info = BatchInfo {
            batch_time: crate::Time::from_millis(t),
            scheduling_delay: Duration::from_millis(sched),
            processing_time: Duration::from_millis(proc_),
            ..BatchInfo::default()
        };
        BatchRecord {
            info,
            status: BatchStatus::Completed,
            ops: Default::default(),
            jobs: Default::default(),
            receivers: Vec::new(),
        }
    }

    fn judge(batches: &[BatchRecord], queued: usize) -> Verdict {
        verdict(&batches.iter().collect::<Vec<_>>(), 1000, queued)
    }

    #[test]
    fn the_verdict_follows_processing_time_and_the_delay_trend() {
        let fast: Vec<_> = (0..10).map(|i| batch(i * 1000, 2, 300)).collect();
        assert_eq!(judge(&fast, 0).class, "keeping-up");
        let slow: Vec<_> = (0..10)
            .map(|i| batch(i * 1000, i as u64 * 200, 1200))
            .collect();
        assert_eq!(judge(&slow, 3).class, "falling-behind");
        // Behind by 5 s, processing at half the interval, delay shrinking: 5 s to go.
        let recovering: Vec<_> = (0..10)
            .map(|i| batch(i * 1000, 14_000 - i as u64 * 1000, 500))
            .collect();
        let v = judge(&recovering, 0);
        assert_eq!(v.class, "catching-up");
        assert_eq!(v.headline, "Catching up: about 5.0 s to go");
        assert_eq!(judge(&fast[..2], 0).class, "unknown");
    }

    #[test]
    fn text_is_escaped() {
        assert_eq!(
            escape(r#"<a href="x">&'"#),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }
}
