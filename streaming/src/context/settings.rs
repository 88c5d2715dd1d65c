//! The streaming settings, read from the configuration once, at creation.

use std::time::Duration;

use spate_core::Conf;

use crate::error::Result;

/// Settings read from the configuration once, at creation.
pub(crate) struct Settings {
    pub(crate) block_interval: Duration,
    pub(crate) concurrent_jobs: usize,
    pub(crate) max_line_bytes: usize,
    pub(crate) max_pending: usize,
    pub(crate) max_backoff: Duration,
    pub(crate) restart_delay: Duration,
    pub(crate) stop_gracefully_on_shutdown: bool,
    pub(crate) graceful_timeout: Duration,
    pub(crate) max_rate: Option<usize>,
    pub(crate) backpressure: bool,
    pub(crate) estimator: crate::input::EstimatorKind,
    pub(crate) initial_rate: Option<usize>,
    pub(crate) wal: bool,
    pub(crate) wal_rolling: Duration,
    pub(crate) file_split_bytes: u64,
    pub(crate) allow_missing_on_replay: bool,
    pub(crate) listener_bus_capacity: usize,
    #[cfg(feature = "ui")]
    pub(crate) ui: crate::ui::UiSettings,
    #[cfg(feature = "kafka")]
    pub(crate) kafka: crate::input::kafka::KafkaSettings,
}

impl Settings {
    pub(crate) fn from_conf(conf: &Conf) -> Result<Settings> {
        let dur = |k| conf.get_duration(k).map(|d| d.unwrap_or_default());
        #[cfg(not(feature = "ui"))]
        if conf.get_bool("spate.ui.enabled")? == Some(true) {
            // Asked for explicitly (the default is quietly off in such a build).
            return Err(spate_core::Error::InvalidConfValue {
                key: "spate.ui.enabled".into(),
                value: "true".into(),
                expected: "false: this program was built without spate's `ui` feature \
                           (add it to the `spate` dependency's features)"
                    .into(),
            }
            .into());
        }
        Ok(Settings {
            block_interval: dur("spate.streaming.blockInterval")?,
            concurrent_jobs: conf.get_count("spate.streaming.concurrentJobs")?,
            max_line_bytes: conf.get_size("spate.streaming.receiver.maxLineBytes")? as usize,
            max_pending: conf.get_count("spate.streaming.receiver.maxPendingRecords")?,
            max_backoff: dur("spate.streaming.receiver.maxReconnectBackoff")?,
            restart_delay: dur("spate.streaming.receiverRestartDelay")?,
            stop_gracefully_on_shutdown: conf
                .get_bool("spate.streaming.stopGracefullyOnShutdown")?
                .unwrap_or(true),
            graceful_timeout: dur("spate.streaming.gracefulStopTimeout")?,
            max_rate: conf.get_opt_count("spate.streaming.receiver.maxRate")?,
            backpressure: conf
                .get_bool("spate.streaming.backpressure.enabled")?
                .unwrap_or(true),
            estimator: match conf.get("spate.streaming.backpressure.rateEstimator") {
                Some("pid") => crate::input::EstimatorKind::Pid,
                _ => crate::input::EstimatorKind::Steady,
            },
            initial_rate: conf.get_opt_count("spate.streaming.backpressure.initialRate")?,
            wal: conf
                .get_bool("spate.streaming.receiver.writeAheadLog.enable")?
                .unwrap_or(false),
            wal_rolling: dur("spate.streaming.receiver.writeAheadLog.rollingInterval")?,
            file_split_bytes: conf.get_size("spate.streaming.fileStream.maxSplitBytes")?,
            allow_missing_on_replay: conf
                .get_bool("spate.streaming.fileStream.allowMissingOnReplay")?
                .unwrap_or(false),
            listener_bus_capacity: conf.get_count("spate.streaming.listenerBus.capacity")?,
            #[cfg(feature = "ui")]
            ui: crate::ui::UiSettings {
                enabled: conf.get_bool("spate.ui.enabled")?.unwrap_or(true),
                host: conf.get("spate.ui.host").unwrap_or("127.0.0.1").to_string(),
                port: conf.get_port("spate.ui.port")?.unwrap_or(4040),
                retained_batches: conf.get_count("spate.streaming.ui.retainedBatches")?,
                retained_events: conf.get_count("spate.streaming.ui.retainedEvents")?,
            },
            #[cfg(feature = "kafka")]
            kafka: crate::input::kafka::KafkaSettings {
                max_rate_per_partition: conf
                    .get_opt_count("spate.streaming.kafka.maxRatePerPartition")?
                    .map(|r| r as u64),
                min_rate_per_partition: conf
                    .get_count("spate.streaming.kafka.minRatePerPartition")?
                    as u64,
                max_records_per_task: conf.get_count("spate.streaming.kafka.maxRecordsPerTask")?
                    as u64,
                request_timeout: dur("spate.streaming.kafka.requestTimeout")?,
                fetch_max_wait: dur("spate.streaming.kafka.fetchMaxWait")?,
                max_fetch_bytes: conf.get_size("spate.streaming.kafka.maxFetchBytes")?,
            },
        })
    }
}
