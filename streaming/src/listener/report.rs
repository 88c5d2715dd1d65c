//! [`Reporter`]: how the parts of a streaming context tell listeners what happened. Every event
//! goes to two buses, the application's listeners and the status page's store, each on its own
//! thread, so that posting never blocks (see `bus`).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::{Event, ListenerBus, StreamingListener};
use crate::common::StreamId;

struct Buses {
    app: ListenerBus,
    status: ListenerBus,
    /// Inputs reported unreadable (files skipped), for `StreamingContext::input_errors`.
    input_errors: AtomicU64,
}

/// A handle on a context's listener buses (cheap to clone).
#[derive(Clone)]
pub(crate) struct Reporter(Arc<Buses>);

impl Reporter {
    /// Buses queueing up to `capacity` events each (`spate.streaming.listenerBus.capacity`).
    pub(crate) fn new(capacity: usize) -> Reporter {
        Reporter(Arc::new(Buses {
            app: ListenerBus::new("spate-listener-bus", capacity),
            status: ListenerBus::new("spate-status-bus", capacity),
            input_errors: AtomicU64::new(0),
        }))
    }

    /// Hands `event` to both buses (never blocks).
    pub(crate) fn post(&self, event: Event) {
        let event = Arc::new(event);
        self.0.status.post(&event);
        self.0.app.post(&event);
    }

    /// Reports an unreadable input: a warning, the listeners, the count.
    pub(crate) fn input_error(&self, stream: StreamId, message: &str) {
        tracing::warn!("{stream}: {message}");
        self.0.input_errors.fetch_add(1, Ordering::Relaxed);
        self.post(Event::InputError(stream, message.to_string()));
    }

    pub(crate) fn input_errors(&self) -> u64 {
        self.0.input_errors.load(Ordering::Relaxed)
    }

    /// An application's listener.
    pub(crate) fn add_listener(&self, listener: Arc<dyn StreamingListener>) {
        self.0.app.add(listener);
    }

    /// The status page's store.
    #[cfg(feature = "ui")]
    pub(crate) fn add_status_listener(&self, listener: Arc<dyn StreamingListener>) {
        self.0.status.add(listener);
    }

    /// Starts both buses' delivery threads.
    pub(crate) fn start(&self) -> std::io::Result<()> {
        self.0.app.start()?;
        self.0.status.start()
    }

    /// Delivers what is queued and ends the threads, each given until `deadline` (and at least
    /// 100 ms).
    pub(crate) fn stop_by(&self, deadline: Instant) {
        for bus in [&self.0.app, &self.0.status] {
            let left = deadline.saturating_duration_since(Instant::now());
            bus.stop(left.max(Duration::from_millis(100)));
        }
    }

    /// Events dropped because a listener fell behind.
    pub(crate) fn dropped(&self) -> u64 {
        self.0.app.dropped() + self.0.status.dropped()
    }
}
