//! The context's own settings (batches at once, stopping, the listener bus) and its parts'
//! (inputs, the status page), read from the configuration once, at creation.

use std::sync::Arc;
use std::time::Duration;

use spate_core::Conf;

use crate::error::Result;
use crate::input::InputSettings;

/// The lifecycle's keys (stopping).
const KEYS_OF_LIFECYCLE: &[spate_core::conf::KeySpec] = spate_core::key_table! {
    "spate.streaming.stopGracefullyOnShutdown", Bool, Some("true"), None, None, "On SIGINT/SIGTERM, stop receiving, process what was received, then exit.";
    "spate.streaming.gracefulStopTimeout", Duration, Some("60s"), Some("1ms"), None, "Longest a graceful stop may take before it gives up with an error.";
};

/// The status page's keys: declared here, in every build, so that a program built without the
/// `ui` feature knows them (and refuses `spate.ui.enabled=true` with the reason).
const UI_KEYS: &[spate_core::conf::KeySpec] = spate_core::key_table! {
    "spate.ui.enabled", Bool, Some("true"), None, None, "Serve the streaming application's status (Spark's REST API, health) over HTTP from the driver.";
    "spate.ui.host", Text, Some("127.0.0.1"), None, None, "Address the UI binds (loopback unless told otherwise; 0.0.0.0 for every interface).";
    "spate.ui.port", Port, Some("4040"), None, None, "Port of the UI; the next free one when taken (16 tries, then any); 0 = any.";
    "spate.ui.headerTimeout", Duration, Some("10s"), Some("10ms"), Some("1h"), "How long the UI waits for a request's header, also between requests on a kept-alive connection; then the connection is closed (a client that sends half a header, or idles, holds nothing for long).";
    "spate.ui.maxConnections", Count, Some("64"), None, Some("65536"), "Connections the UI serves at once; one over it is closed at once, so UI clients can never take the file descriptors the receivers and the checkpoints need.";
    "spate.streaming.ui.retainedEvents", Count, Some("1000"), None, Some("1000000"), "Live events (/streaming/events) kept for clients that reconnect or fall behind; a client further behind gets a gap event.";
    "spate.streaming.ui.retainedBatches", Count, Some("1000"), None, Some("1000000"), "Batches the UI keeps in full (the oldest completed ones go first).";
};

/// Every key spate-streaming declares, a table per concept: inputs, Kafka, event time, the
/// scheduler, the listener bus, the lifecycle, the status page (spate-core's own are
/// `spate_core::conf::KEYS`). A streaming context adds them to its configuration.
///
/// # Examples
///
/// ```
/// let keys = spate_streaming::KEYS.iter().flat_map(|t| t.iter());
/// assert!(keys.clone().any(|k| k.key == "spate.streaming.blockInterval"));
/// assert!(!keys.clone().any(|k| k.key == "spate.master")); // spate-core's
/// ```
pub const KEYS: &[&[spate_core::conf::KeySpec]] = &[
    crate::input::KEYS,
    crate::input::kafka::KEYS,
    crate::event_time::KEYS,
    crate::scheduler::KEYS,
    crate::listener::KEYS,
    KEYS_OF_LIFECYCLE,
    UI_KEYS,
];

/// `conf` with spate-streaming's key tables added.
pub(crate) fn with_streaming_keys(conf: Conf) -> Conf {
    KEYS.iter().fold(conf, |conf, table| conf.with_keys(table))
}

/// Settings read from the configuration once, at creation.
pub(crate) struct Settings {
    pub(crate) input: Arc<InputSettings>,
    pub(crate) concurrent_jobs: usize,
    pub(crate) stop_gracefully_on_shutdown: bool,
    pub(crate) graceful_timeout: Duration,
    pub(crate) listener_bus_capacity: usize,
    /// `spate.streaming.checkpoint.maxStateFailures`.
    pub(crate) max_state_failures: u32,
    #[cfg(feature = "ui")]
    pub(crate) ui: crate::ui::UiSettings,
}

impl Settings {
    pub(crate) fn from_conf(conf: &Conf) -> Result<Settings> {
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
            input: Arc::new(InputSettings::from_conf(conf)?),
            concurrent_jobs: conf.get_count("spate.streaming.concurrentJobs")?,
            stop_gracefully_on_shutdown: conf
                .get_bool("spate.streaming.stopGracefullyOnShutdown")?
                .unwrap_or(true),
            graceful_timeout: conf
                .get_duration("spate.streaming.gracefulStopTimeout")?
                .unwrap_or_default(),
            listener_bus_capacity: conf.get_count("spate.streaming.listenerBus.capacity")?,
            max_state_failures: conf
                .get_count("spate.streaming.checkpoint.maxStateFailures")?
                .clamp(1, u32::MAX as usize) as u32,
            #[cfg(feature = "ui")]
            ui: crate::ui::UiSettings::from_conf(conf)?,
        })
    }
}
