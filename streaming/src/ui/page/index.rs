//! The index page's sections, each rendered from one snapshot of the status store: the
//! application and its totals, "keeping up?", timelines and histograms, receivers, checkpoint
//! and write-ahead log, batches, errors, the last day.

use std::fmt::Write;
use std::time::Duration;

use super::*;
use crate::ui::chart::{self, Line, short};
use crate::ui::store::{BatchRecord, BatchStatus, State as Store};

/// Everything `/` shows, copied out of the store so the lock is held briefly.
pub(super) struct Snapshot {
    completed: Vec<BatchRecord>,
    active: Vec<BatchRecord>,
    total_completed: u64,
    received: u64,
    processed: u64,
    start: Option<crate::Time>,
    receivers: Vec<crate::ui::store::ReceiverRecord>,
    errors: Vec<(crate::Time, String)>,
    minutes: Vec<crate::ui::store::Minute>,
}

impl Snapshot {
    pub(super) fn take(s: &Store) -> Snapshot {
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

pub(super) fn render_index(app: &App, snap: &Snapshot, live: &Live, q: &IndexQuery) -> String {
    let mut out = String::new();
    summary(&mut out, app, snap);
    keeping_up(&mut out, app, snap);
    timelines(&mut out, app, snap, q);
    receivers(&mut out, app, snap, live);
    checkpoint(&mut out, live);
    batches(&mut out, snap, q);
    errors(&mut out, snap);
    last_day(&mut out, snap);
    out
}

/// The page's section: the application and its totals.
fn summary(out: &mut String, app: &App, snap: &Snapshot) {
    let interval = app.batch_interval_ms;
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
}

/// The page's section: keeping up?
fn keeping_up(out: &mut String, app: &App, snap: &Snapshot) {
    let interval = app.batch_interval_ms;
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
    section(out, "keeping-up", "Keeping up?", &inner);
}

/// The page's section: timelines and histograms.
fn timelines(out: &mut String, app: &App, snap: &Snapshot, q: &IndexQuery) {
    let interval = app.batch_interval_ms;
    let per_sec = |n: u64| n as f64 * 1000.0 / interval.max(1) as f64;
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
    section(out, "timelines", "Timelines", &charts);
}

/// The page's section: receivers.
fn receivers(out: &mut String, app: &App, snap: &Snapshot, live: &Live) {
    let interval = app.batch_interval_ms;
    let per_sec = |n: u64| n as f64 * 1000.0 / interval.max(1) as f64;
    let mut t = String::from(
        "<table><thead><tr><th>Stream</th><th>Receiver</th><th>Runs on</th><th>Status</th><th>Avg rate</th><th>Rate limit</th><th>Pending / max</th><th>Write-ahead log</th><th>Invalid UTF-8</th><th>Last error</th></tr></thead><tbody>",
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
            r#"<tr><td><a href="/?receiver={}#timelines">{}</a></td><td>{}</td><td>{}</td><td class="{}">{}</td><td class="num">{avg}</td><td class="num">{limit}</td><td>{pending}</td><td class="num">{wal}</td><td class="num">{invalid}</td><td>{}</td></tr>"#,
            r.info.stream.0,
            r.info.stream,
            escape(&r.info.name),
            escape(&runs_on(&r.info)),
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
        t.push_str(r#"<tr><td colspan="10" class="none">no receivers (queue or file streams only)</td></tr>"#);
    }
    t.push_str("</tbody></table>");
    section(out, "receivers", "Receivers", &t);
}

/// Where a receiver runs, for people: `driver (host)` or `executor N (host)`.
fn runs_on(info: &crate::ReceiverInfo) -> String {
    match info.executor_id.as_str() {
        "" => "–".into(),
        "driver" => format!("driver ({})", info.host),
        id => format!("executor {id} ({})", info.host),
    }
}

/// The page's section: checkpoint and write-ahead log.
fn checkpoint(out: &mut String, live: &Live) {
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
    section(out, "checkpoint", "Checkpoint and write-ahead log", &c);
}

/// The page's section: batches.
fn batches(out: &mut String, snap: &Snapshot, q: &IndexQuery) {
    let active: Vec<&BatchRecord> = snap.active.iter().rev().collect();
    section(
        out,
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
        out,
        "completed-batches-table",
        &format!(
            "Completed batches (last {} of {})",
            snap.completed.len(),
            snap.total_completed
        ),
        &(batch_table(&shown) + &nav),
    );
}

/// The page's section: errors.
fn errors(out: &mut String, snap: &Snapshot) {
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
    section(out, "errors", "Errors (newest first, last 100)", &e);
}

/// The page's section: the last day.
fn last_day(out: &mut String, snap: &Snapshot) {
    let mins = |f: &dyn Fn(&crate::ui::store::Minute) -> f64| -> Vec<(i64, f64)> {
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
        out,
        "last-day",
        "The last 24 hours, by minute (total delay: average and largest; input rate)",
        &day,
    );
}
