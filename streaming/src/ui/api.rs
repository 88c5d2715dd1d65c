//! Spark's streaming REST API — same paths and field names — plus health endpoints.

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::{Deserialize, Serialize};

use super::store::{BatchRecord, BatchStatus, ReceiverRecord, StatusStore};
use crate::listener::OutputOperationInfo;

/// What the handlers read.
pub(crate) struct App {
    pub(crate) id: String,
    pub(crate) name: String,
    /// Wall-clock start, ms since the epoch (the application's `startTime`).
    pub(crate) started_wall_ms: i64,
    pub(crate) batch_interval_ms: u64,
    pub(crate) store: Arc<StatusStore>,
}

/// Spark's REST date format: `2026-12-06T09:00:00.000GMT`.
pub(crate) fn spark_date(ms: i64) -> String {
    let (days, rem) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000));
    // Civil date from days since the epoch (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}GMT",
        rem / 3_600_000,
        rem / 60_000 % 60,
        rem / 1000 % 60,
        rem % 1000
    )
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct StreamingStatistics {
    start_time: String,
    batch_duration: u64,
    num_receivers: usize,
    num_active_receivers: usize,
    num_inactive_receivers: usize,
    num_total_completed_batches: u64,
    num_retained_completed_batches: usize,
    num_active_batches: usize,
    num_processed_records: u64,
    num_received_records: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    avg_input_rate: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    avg_scheduling_delay: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    avg_processing_time: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    avg_total_delay: Option<u64>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ReceiverJson {
    stream_id: u32,
    stream_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    is_active: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    executor_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    executor_host: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_error_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_error_message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    avg_event_rate: Option<f64>,
    event_rates: Vec<(i64, f64)>,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BatchJson {
    pub(crate) batch_id: i64,
    pub(crate) batch_time: String,
    pub(crate) status: &'static str,
    pub(crate) batch_duration: u64,
    pub(crate) input_size: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) scheduling_delay: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) processing_time: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) total_delay: Option<u64>,
    pub(crate) num_active_output_ops: usize,
    pub(crate) num_completed_output_ops: usize,
    pub(crate) num_failed_output_ops: usize,
    pub(crate) num_total_output_ops: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) first_failure_reason: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct OperationJson {
    output_op_id: usize,
    name: String,
    description: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    start_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    end_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    duration: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    failure_reason: Option<String>,
    job_ids: Vec<u64>,
}

fn ms(d: std::time::Duration) -> u64 {
    d.as_millis() as u64
}

fn avg(values: impl Iterator<Item = u64>) -> Option<u64> {
    let (sum, n) = values.fold((0u64, 0u64), |(s, n), v| (s + v, n + 1));
    (n > 0).then(|| sum / n)
}

fn not_found(what: String) -> Response {
    (StatusCode::NOT_FOUND, what).into_response()
}

/// A batch as Spark's REST API shows it.
pub(crate) fn batch_json(b: &BatchRecord, interval_ms: u64) -> BatchJson {
    let done = b.status == BatchStatus::Completed;
    let failed: Vec<&OutputOperationInfo> = b
        .ops
        .values()
        .filter(|o| o.failure_reason.is_some())
        .collect();
    BatchJson {
        batch_id: b.info.batch_time.millis(),
        batch_time: spark_date(b.info.batch_time.millis()),
        status: b.status.spark_name(),
        batch_duration: interval_ms,
        input_size: b.info.records,
        scheduling_delay: (b.status != BatchStatus::Queued).then(|| ms(b.info.scheduling_delay)),
        processing_time: done.then(|| ms(b.info.processing_time)),
        total_delay: done.then(|| ms(b.info.total_delay)),
        num_active_output_ops: b
            .ops
            .values()
            .filter(|o| o.start_time.is_some() && o.end_time.is_none())
            .count(),
        num_completed_output_ops: b
            .ops
            .values()
            .filter(|o| o.end_time.is_some() && o.failure_reason.is_none())
            .count(),
        num_failed_output_ops: failed.len(),
        num_total_output_ops: b.ops.len(),
        first_failure_reason: failed.first().and_then(|o| o.failure_reason.clone()),
    }
}

impl App {
    fn receiver_json(&self, r: &ReceiverRecord) -> ReceiverJson {
        let per_sec = |n: u64| n as f64 * 1000.0 / self.batch_interval_ms.max(1) as f64;
        let rates: Vec<(i64, f64)> = r
            .rates
            .iter()
            .map(|(t, n)| (t.millis(), per_sec(*n)))
            .collect();
        ReceiverJson {
            stream_id: r.info.stream.0,
            stream_name: r.info.name.clone(),
            is_active: Some(r.info.active),
            executor_id: Some(r.info.executor_id.clone()).filter(|e| !e.is_empty()),
            executor_host: Some(r.info.host.clone()).filter(|h| !h.is_empty()),
            last_error_time: r.last_error.as_ref().map(|(t, _)| spark_date(t.millis())),
            last_error_message: r.last_error.as_ref().map(|(_, m)| m.clone()),
            last_error: r.last_error.as_ref().map(|(_, m)| m.clone()),
            avg_event_rate: (!rates.is_empty())
                .then(|| rates.iter().map(|(_, r)| r).sum::<f64>() / rates.len() as f64),
            event_rates: rates,
        }
    }
}

fn op_json(o: &OutputOperationInfo, b: &BatchRecord) -> OperationJson {
    OperationJson {
        output_op_id: o.id,
        name: o.name.clone(),
        description: o.description.clone(),
        start_time: o.start_time.map(|t| spark_date(t.millis())),
        end_time: o.end_time.map(|t| spark_date(t.millis())),
        duration: o.duration().map(ms),
        failure_reason: o.failure_reason.clone(),
        job_ids: b
            .jobs
            .values()
            .filter(|j| j.output_op_id == o.id)
            .map(|j| u64::from(j.job.id.0))
            .collect(),
    }
}

pub(crate) type Shared = State<Arc<App>>;

/// The 404 for a path naming another application, if it does.
pub(crate) fn wrong_app(app: &App, id: &str) -> Option<Response> {
    (id != app.id).then(|| {
        not_found(format!(
            "no such application: {id} (this one is {})",
            app.id
        ))
    })
}

async fn version() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "spark": concat!("spate-", env!("CARGO_PKG_VERSION")) }))
}

async fn applications(State(app): Shared) -> Json<serde_json::Value> {
    Json(serde_json::json!([{
        "id": app.id,
        "name": app.name,
        "attempts": [{
            "startTime": spark_date(app.started_wall_ms),
            "endTime": spark_date(-1),
            "lastUpdated": spark_date(app.started_wall_ms),
            "duration": 0,
            "sparkUser": std::env::var("USER").unwrap_or_default(),
            "completed": false,
            "appSparkVersion": concat!("spate-", env!("CARGO_PKG_VERSION")),
            "startTimeEpoch": app.started_wall_ms,
            "endTimeEpoch": -1,
            "lastUpdatedEpoch": app.started_wall_ms,
        }]
    }]))
}

async fn statistics(State(app): Shared, Path(id): Path<String>) -> Response {
    if let Some(r) = wrong_app(&app, &id) {
        return r;
    }
    let s = app.store.state.lock();
    let completed: Vec<&BatchRecord> = s
        .batches
        .values()
        .filter(|b| b.status == BatchStatus::Completed)
        .collect();
    let active = s.receivers.values().filter(|r| r.info.active).count();
    let records: u64 = completed.iter().map(|b| b.info.records).sum();
    Json(StreamingStatistics {
        start_time: spark_date(s.start_time.map_or(0, |t| t.millis())),
        batch_duration: app.batch_interval_ms,
        num_receivers: s.receivers.len(),
        num_active_receivers: active,
        num_inactive_receivers: s.receivers.len() - active,
        num_total_completed_batches: s.total_completed,
        num_retained_completed_batches: completed.len(),
        num_active_batches: s.batches.len() - completed.len(),
        num_processed_records: s.total_processed_records,
        num_received_records: s.total_received_records,
        avg_input_rate: (!completed.is_empty()).then(|| {
            records as f64 * 1000.0 / (completed.len() as f64 * app.batch_interval_ms.max(1) as f64)
        }),
        avg_scheduling_delay: avg(completed.iter().map(|b| ms(b.info.scheduling_delay))),
        avg_processing_time: avg(completed.iter().map(|b| ms(b.info.processing_time))),
        avg_total_delay: avg(completed.iter().map(|b| ms(b.info.total_delay))),
    })
    .into_response()
}

async fn receivers(State(app): Shared, Path(id): Path<String>) -> Response {
    if let Some(r) = wrong_app(&app, &id) {
        return r;
    }
    let s = app.store.state.lock();
    let all: Vec<ReceiverJson> = s.receivers.values().map(|r| app.receiver_json(r)).collect();
    Json(all).into_response()
}

async fn receiver(State(app): Shared, Path((id, stream)): Path<(String, u32)>) -> Response {
    if let Some(r) = wrong_app(&app, &id) {
        return r;
    }
    let s = app.store.state.lock();
    match s.receivers.get(&crate::StreamId(stream)) {
        Some(r) => Json(app.receiver_json(r)).into_response(),
        None => not_found(format!("no receiver for stream {stream}")),
    }
}

#[derive(Deserialize)]
struct StatusFilter {
    status: Option<String>,
}

async fn batches(
    State(app): Shared,
    Path(id): Path<String>,
    Query(filter): Query<StatusFilter>,
) -> Response {
    if let Some(r) = wrong_app(&app, &id) {
        return r;
    }
    let wanted = match filter
        .status
        .as_deref()
        .map(str::to_ascii_uppercase)
        .as_deref()
    {
        None => None,
        Some("COMPLETED") => Some(BatchStatus::Completed),
        Some("QUEUED") => Some(BatchStatus::Queued),
        Some("PROCESSING") => Some(BatchStatus::Processing),
        Some(other) => {
            return (
                StatusCode::BAD_REQUEST,
                format!("unknown status {other:?}: use COMPLETED, QUEUED or PROCESSING"),
            )
                .into_response();
        }
    };
    let s = app.store.state.lock();
    let list: Vec<BatchJson> = s
        .batches
        .values()
        .rev()
        .filter(|b| wanted.is_none_or(|w| b.status == w))
        .map(|b| batch_json(b, app.batch_interval_ms))
        .collect();
    Json(list).into_response()
}

fn with_batch(
    app: &App,
    id: &str,
    batch: i64,
    f: impl FnOnce(&BatchRecord) -> Response,
) -> Response {
    if let Some(r) = wrong_app(app, id) {
        return r;
    }
    let s = app.store.state.lock();
    match s.batches.get(&crate::Time::from_millis(batch)) {
        Some(b) => f(b),
        None => not_found(format!("no retained batch {batch}")),
    }
}

async fn batch(State(app): Shared, Path((id, batch)): Path<(String, i64)>) -> Response {
    with_batch(&app, &id, batch, |b| {
        Json(batch_json(b, app.batch_interval_ms)).into_response()
    })
}

async fn operations(State(app): Shared, Path((id, batch)): Path<(String, i64)>) -> Response {
    with_batch(&app, &id, batch, |b| {
        Json(b.ops.values().map(|o| op_json(o, b)).collect::<Vec<_>>()).into_response()
    })
}

async fn operation(
    State(app): Shared,
    Path((id, batch, op)): Path<(String, i64, usize)>,
) -> Response {
    with_batch(&app, &id, batch, |b| match b.ops.get(&op) {
        Some(o) => Json(op_json(o, b)).into_response(),
        None => not_found(format!("batch {batch} has no output operation {op}")),
    })
}

/// One minute of roll-ups (spate's own endpoint: Spark keeps no history past its batches).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct MinuteJson {
    minute: String,
    minute_epoch: i64,
    batches: u64,
    failed_batches: u64,
    input_records: u64,
    avg_input_rate: f64,
    avg_scheduling_delay: u64,
    max_scheduling_delay: u64,
    avg_processing_time: u64,
    max_processing_time: u64,
    avg_total_delay: u64,
    max_total_delay: u64,
}

async fn minutes(State(app): Shared, Path(id): Path<String>) -> Response {
    if let Some(r) = wrong_app(&app, &id) {
        return r;
    }
    let s = app.store.state.lock();
    let list: Vec<MinuteJson> = s
        .minutes
        .iter()
        .map(|m| {
            let n = m.batches.max(1);
            MinuteJson {
                minute: spark_date(m.start),
                minute_epoch: m.start,
                batches: m.batches,
                failed_batches: m.failed,
                input_records: m.records,
                avg_input_rate: m.records as f64 * 1000.0
                    / (n as f64 * app.batch_interval_ms.max(1) as f64),
                avg_scheduling_delay: m.sum_ms[0] / n,
                max_scheduling_delay: m.max_ms[0],
                avg_processing_time: m.sum_ms[1] / n,
                max_processing_time: m.max_ms[1],
                avg_total_delay: m.sum_ms[2] / n,
                max_total_delay: m.max_ms[2],
            }
        })
        .collect();
    Json(list).into_response()
}

async fn metrics(State(app): Shared) -> Response {
    let body = app.store.metrics.encode(&app.store.live());
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        body,
    )
        .into_response()
}

async fn healthz() -> &'static str {
    "ok\n"
}

/// Not ready when the job falls behind (scheduling delay grew over the last batches and
/// exceeds an interval) or a receiver is down.
async fn readyz(State(app): Shared) -> Response {
    let s = app.store.state.lock();
    if let Some(r) = s.receivers.values().find(|r| !r.info.active) {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: receiver of {} is down\n", r.info.stream),
        )
            .into_response();
    }
    let delays: Vec<u64> = s
        .batches
        .values()
        .filter(|b| b.status == BatchStatus::Completed)
        .rev()
        .take(READY_WINDOW)
        .map(|b| ms(b.info.scheduling_delay))
        .collect();
    let growing = delays.len() == READY_WINDOW && delays.windows(2).all(|w| w[0] > w[1]);
    if growing && delays[0] > app.batch_interval_ms {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "not ready: falling behind, scheduling delay grew over the last {READY_WINDOW} batches to {} ms (batch interval {} ms)\n",
                delays[0], app.batch_interval_ms
            ),
        )
            .into_response();
    }
    "ready\n".into_response()
}

/// Batches `/readyz` looks back over.
const READY_WINDOW: usize = 5;

pub(crate) fn router(app: Arc<App>) -> Router {
    let base = "/api/v1/applications/{app}/streaming";
    Router::new()
        .route("/api/v1/version", get(version))
        .route("/api/v1/applications", get(applications))
        .route(&format!("{base}/statistics"), get(statistics))
        .route(&format!("{base}/receivers"), get(receivers))
        .route(&format!("{base}/receivers/{{stream}}"), get(receiver))
        .route(&format!("{base}/batches"), get(batches))
        .route(&format!("{base}/batches/{{batch}}"), get(batch))
        .route(
            &format!("{base}/batches/{{batch}}/operations"),
            get(operations),
        )
        .route(
            &format!("{base}/batches/{{batch}}/operations/{{op}}"),
            get(operation),
        )
        .route(&format!("{base}/minutes"), get(minutes))
        .route(&format!("{base}/events"), get(super::events::events))
        .route("/", get(super::page::index))
        .route("/batch", get(super::page::batch))
        .route("/static/spate.js", get(super::page::script))
        .route("/static/spate.css", get(super::page::style))
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(app)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_in_sparks_format() {
        assert_eq!(spark_date(0), "1970-01-01T00:00:00.000GMT");
        assert_eq!(spark_date(1_796_544_482_123), "2026-12-06T08:08:02.123GMT");
        assert_eq!(spark_date(951_782_400_000), "2000-02-29T00:00:00.000GMT");
    }
}
