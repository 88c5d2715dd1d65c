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
use super::store::{BatchRecord, BatchStatus};
use super::{Live, api};

mod index;

use index::{Snapshot, render_index};

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

pub(crate) async fn index(State(app): Shared, Query(q): Query<IndexQuery>) -> Html<String> {
    let snap = Snapshot::take(&app.store.state.lock());
    let live = app.store.live();
    page(&app, &app.name, &render_index(&app, &snap, &live, &q))
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
        include_str!("../assets/spate.js"),
    )
}

pub(crate) async fn style() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        include_str!("../assets/spate.css"),
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
