//! Prometheus metrics (`/metrics`, OpenMetrics text): names `spate_streaming_*`, the application
//! a label (never part of a name, so series aggregate across restarts), histogram buckets scaled
//! to the batch interval. Updated by the status store's listener, read at scrape time.

use prometheus_client::encoding::{EncodeLabelSet, text::encode};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::family::MetricConstructor;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use super::Live;
use crate::listener::BatchInfo;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AppLabel {
    app: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    app: String,
    result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StreamLabels {
    app: String,
    stream: String,
}

/// A label value as the exposition format needs it: prometheus-client writes values verbatim,
/// so a `"` or `\` in an application's name would otherwise break the whole scrape.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Histograms with fixed buckets.
#[derive(Clone)]
struct Buckets(Vec<f64>);

impl MetricConstructor<Histogram> for Buckets {
    fn new_metric(&self) -> Histogram {
        Histogram::new(self.0.iter().copied())
    }
}

type Seconds = Family<AppLabel, Histogram, Buckets>;

/// Every metric of one application.
pub(crate) struct Metrics {
    registry: Registry,
    app: AppLabel,
    batches: Family<ResultLabels, Counter>,
    received: Family<StreamLabels, Counter>,
    processed: Family<AppLabel, Counter>,
    receiver_errors: Family<StreamLabels, Counter>,
    input_errors: Family<AppLabel, Counter>,
    checkpoint_errors: Family<AppLabel, Counter>,
    late: Family<AppLabel, Counter>,
    scheduling_delay: Seconds,
    processing_time: Seconds,
    total_delay: Seconds,
    records_per_batch: Family<AppLabel, Histogram, Buckets>,
    waiting: Family<AppLabel, Gauge>,
    running: Family<AppLabel, Gauge>,
    last_scheduling_delay: Family<AppLabel, Gauge<f64, std::sync::atomic::AtomicU64>>,
    last_processing_time: Family<AppLabel, Gauge<f64, std::sync::atomic::AtomicU64>>,
    last_total_delay: Family<AppLabel, Gauge<f64, std::sync::atomic::AtomicU64>>,
    dropped_events: Family<AppLabel, Gauge>,
    invalid_utf8: Family<StreamLabels, Counter>,
    wal_bytes: Family<StreamLabels, Counter>,
    rate_limit: Family<StreamLabels, Gauge>,
    pending: Family<StreamLabels, Gauge>,
    max_pending: Family<StreamLabels, Gauge>,
}

impl Metrics {
    pub(crate) fn new(app: &str, batch_interval_ms: u64) -> Metrics {
        let interval = batch_interval_ms.max(1) as f64 / 1000.0;
        // From a tenth of the interval to 16 intervals: "keeping up" sits in the middle.
        let delays = Buckets(
            [0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 4.0, 8.0, 16.0]
                .iter()
                .map(|f| f * interval)
                .collect(),
        );
        let seconds = || Seconds::new_with_constructor(delays.clone());
        let mut m = Metrics {
            registry: Registry::default(),
            app: AppLabel { app: escape(app) },
            batches: Family::default(),
            received: Family::default(),
            processed: Family::default(),
            receiver_errors: Family::default(),
            input_errors: Family::default(),
            checkpoint_errors: Family::default(),
            late: Family::default(),
            scheduling_delay: seconds(),
            processing_time: seconds(),
            total_delay: seconds(),
            records_per_batch: Family::new_with_constructor(Buckets(
                (0..=8).map(|e| 10f64.powi(e)).collect(),
            )),
            waiting: Family::default(),
            running: Family::default(),
            last_scheduling_delay: Family::default(),
            last_processing_time: Family::default(),
            last_total_delay: Family::default(),
            dropped_events: Family::default(),
            invalid_utf8: Family::default(),
            wal_bytes: Family::default(),
            rate_limit: Family::default(),
            pending: Family::default(),
            max_pending: Family::default(),
        };
        let r = &mut m.registry;
        r.register(
            "spate_streaming_batches_completed",
            "Batches completed, by result (succeeded, failed)",
            m.batches.clone(),
        );
        r.register(
            "spate_streaming_records_received",
            "Records received, per input stream",
            m.received.clone(),
        );
        r.register(
            "spate_streaming_records_processed",
            "Records in completed batches",
            m.processed.clone(),
        );
        r.register(
            "spate_streaming_receiver_errors",
            "Errors reported by receivers, per input stream",
            m.receiver_errors.clone(),
        );
        r.register(
            "spate_streaming_input_errors",
            "Inputs skipped as unreadable (files)",
            m.input_errors.clone(),
        );
        r.register(
            "spate_streaming_checkpoint_errors",
            "Driver checkpoint writes that failed",
            m.checkpoint_errors.clone(),
        );
        r.register(
            "spate_streaming_late_records",
            "(record, window) pairs dropped as late by event-time operators",
            m.late.clone(),
        );
        r.register(
            "spate_streaming_scheduling_delay_seconds",
            "From batch time to the start of its first job",
            m.scheduling_delay.clone(),
        );
        r.register(
            "spate_streaming_processing_time_seconds",
            "From the start of a batch's first job to the end of its last",
            m.processing_time.clone(),
        );
        r.register(
            "spate_streaming_total_delay_seconds",
            "From batch time to the end of its last job",
            m.total_delay.clone(),
        );
        r.register(
            "spate_streaming_records_per_batch",
            "Records in each completed batch",
            m.records_per_batch.clone(),
        );
        r.register(
            "spate_streaming_batches_waiting",
            "Batches generated and not yet started",
            m.waiting.clone(),
        );
        r.register(
            "spate_streaming_batches_running",
            "Batches being processed",
            m.running.clone(),
        );
        r.register(
            "spate_streaming_last_scheduling_delay_seconds",
            "Scheduling delay of the last completed batch",
            m.last_scheduling_delay.clone(),
        );
        r.register(
            "spate_streaming_last_processing_time_seconds",
            "Processing time of the last completed batch",
            m.last_processing_time.clone(),
        );
        r.register(
            "spate_streaming_last_total_delay_seconds",
            "Total delay of the last completed batch",
            m.last_total_delay.clone(),
        );
        r.register(
            "spate_streaming_listener_events_dropped",
            "Listener events dropped because listeners fell behind",
            m.dropped_events.clone(),
        );
        r.register(
            "spate_streaming_invalid_utf8_lines",
            "Received lines that were not valid UTF-8 (stored with replacements), per input stream",
            m.invalid_utf8.clone(),
        );
        r.register(
            "spate_streaming_write_ahead_log_bytes",
            "Bytes appended to the receivers' write-ahead log, per input stream",
            m.wal_bytes.clone(),
        );
        r.register(
            "spate_streaming_receiver_rate_limit",
            "Records/s a receiver is held to (maxRate or backpressure), when limited",
            m.rate_limit.clone(),
        );
        r.register(
            "spate_streaming_receiver_pending_records",
            "Records a receiver stored that no completed batch has processed yet",
            m.pending.clone(),
        );
        r.register(
            "spate_streaming_receiver_max_pending_records",
            "The pending records past which a receiver waits (maxPendingRecords)",
            m.max_pending.clone(),
        );
        let interval_gauge: Family<AppLabel, Gauge<f64, std::sync::atomic::AtomicU64>> =
            Family::default();
        interval_gauge.get_or_create(&m.app).set(interval);
        r.register(
            "spate_streaming_batch_interval_seconds",
            "The batch interval",
            interval_gauge,
        );
        m
    }

    fn stream(&self, stream: crate::StreamId) -> StreamLabels {
        StreamLabels {
            app: self.app.app.clone(),
            stream: escape(&stream.to_string()),
        }
    }

    pub(crate) fn batch_submitted(&self, info: &BatchInfo) {
        self.waiting.get_or_create(&self.app).inc();
        for (stream, n) in &info.stream_records {
            self.received
                .get_or_create(&self.stream(*stream))
                .inc_by(*n);
        }
    }

    pub(crate) fn batch_started(&self) {
        self.waiting.get_or_create(&self.app).dec();
        self.running.get_or_create(&self.app).inc();
    }

    pub(crate) fn batch_completed(&self, info: &BatchInfo) {
        self.running.get_or_create(&self.app).dec();
        let result = if info.succeeded {
            "succeeded"
        } else {
            "failed"
        };
        self.batches
            .get_or_create(&ResultLabels {
                app: self.app.app.clone(),
                result: result.into(),
            })
            .inc();
        self.processed.get_or_create(&self.app).inc_by(info.records);
        self.late.get_or_create(&self.app).inc_by(info.late_records);
        for (all, last, d) in [
            (
                &self.scheduling_delay,
                &self.last_scheduling_delay,
                info.scheduling_delay,
            ),
            (
                &self.processing_time,
                &self.last_processing_time,
                info.processing_time,
            ),
            (&self.total_delay, &self.last_total_delay, info.total_delay),
        ] {
            all.get_or_create(&self.app).observe(d.as_secs_f64());
            last.get_or_create(&self.app).set(d.as_secs_f64());
        }
        self.records_per_batch
            .get_or_create(&self.app)
            .observe(info.records as f64);
    }

    pub(crate) fn receiver_error(&self, stream: crate::StreamId) {
        self.receiver_errors
            .get_or_create(&self.stream(stream))
            .inc();
    }

    pub(crate) fn input_error(&self) {
        self.input_errors.get_or_create(&self.app).inc();
    }

    pub(crate) fn checkpoint_error(&self) {
        self.checkpoint_errors.get_or_create(&self.app).inc();
    }

    /// The OpenMetrics text, with what the context reports now (`live`): dropped listener
    /// events and the receivers' counters and gauges.
    pub(crate) fn encode(&self, live: &Live) -> String {
        let gauge = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        self.dropped_events
            .get_or_create(&self.app)
            .set(gauge(live.dropped_events));
        for r in &live.receivers {
            let labels = self.stream(r.stream);
            // Counters kept by the receivers: catch up to their totals.
            for (family, total) in [
                (&self.invalid_utf8, r.invalid_utf8_lines),
                (&self.wal_bytes, r.wal_bytes),
            ] {
                let c = family.get_or_create(&labels);
                c.inc_by(total.saturating_sub(c.get()));
            }
            self.pending
                .get_or_create(&labels)
                .set(gauge(r.pending_records));
            self.max_pending
                .get_or_create(&labels)
                .set(gauge(r.max_pending_records));
            match r.rate_limit {
                Some(l) => {
                    self.rate_limit.get_or_create(&labels).set(gauge(l));
                }
                None => {
                    self.rate_limit.remove(&labels);
                }
            }
        }
        let mut out = String::new();
        if let Err(e) = encode(&mut out, &self.registry) {
            tracing::error!("could not encode the metrics: {e}");
        }
        out
    }
}
