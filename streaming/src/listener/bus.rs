//! The listener bus: events go into a bounded queue and one thread delivers them, so a slow or
//! stuck listener never slows the scheduler (Spark's `LiveListenerBus`). When the queue is full
//! an event is dropped and counted ([`crate::StreamingContext::dropped_listener_events`]), with
//! a warning at most once a minute. Before `start()` and after `stop()` (which delivers what is
//! queued first) events are delivered on the caller's thread.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Weak;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Sender, TrySendError};
use parking_lot::Mutex;

use super::{BatchInfo, OutputJobInfo, OutputOperationInfo, ReceiverInfo, StreamingListener};
use crate::context::Shared;
use crate::dstream::StreamId;
use crate::scheduler::time::Time;

/// Everything a listener hears.
pub(crate) enum Event {
    StreamingStarted(Time),
    BatchSubmitted(BatchInfo),
    BatchStarted(BatchInfo),
    BatchCompleted(BatchInfo),
    OutputStarted(OutputOperationInfo),
    OutputCompleted(OutputOperationInfo),
    JobStarted(OutputJobInfo),
    JobCompleted(OutputJobInfo),
    ReceiverStarted(ReceiverInfo),
    ReceiverStopped(ReceiverInfo),
    ReceiverError(StreamId, String),
    InputError(StreamId, String),
    CheckpointError(Time, String),
}

impl Event {
    fn deliver(&self, l: &dyn StreamingListener) {
        match self {
            Event::StreamingStarted(t) => l.on_streaming_started(*t),
            Event::BatchSubmitted(b) => l.on_batch_submitted(b),
            Event::BatchStarted(b) => l.on_batch_started(b),
            Event::BatchCompleted(b) => l.on_batch_completed(b),
            Event::OutputStarted(o) => l.on_output_operation_started(o),
            Event::OutputCompleted(o) => l.on_output_operation_completed(o),
            Event::JobStarted(j) => l.on_output_job_started(j),
            Event::JobCompleted(j) => l.on_output_job_completed(j),
            Event::ReceiverStarted(r) => l.on_receiver_started(r),
            Event::ReceiverStopped(r) => l.on_receiver_stopped(r),
            Event::ReceiverError(s, m) => l.on_receiver_error(*s, m),
            Event::InputError(s, m) => l.on_input_error(*s, m),
            Event::CheckpointError(t, m) => l.on_checkpoint_error(*t, m),
        }
    }
}

/// Delivers `event` to every listener; a panicking listener is logged, the others still hear it.
pub(crate) fn deliver(shared: &Shared, event: &Event) {
    let listeners = shared.listeners.lock().clone();
    for l in &listeners {
        if catch_unwind(AssertUnwindSafe(|| event.deliver(&**l))).is_err() {
            tracing::error!("a streaming listener panicked; it keeps getting events");
        }
    }
}

/// The queue and its delivery thread.
pub(crate) struct ListenerBus {
    capacity: usize,
    running: Mutex<Option<(Sender<Event>, JoinHandle<()>)>>,
    dropped: AtomicU64,
    last_warning: Mutex<Option<Instant>>,
}

impl ListenerBus {
    pub(crate) fn new(capacity: usize) -> ListenerBus {
        ListenerBus {
            capacity,
            running: Mutex::new(None),
            dropped: AtomicU64::new(0),
            last_warning: Mutex::new(None),
        }
    }

    /// Starts the delivery thread (at `start()`).
    pub(crate) fn start(&self, shared: Weak<Shared>) -> std::io::Result<()> {
        let (tx, rx) = crossbeam_channel::bounded::<Event>(self.capacity);
        let thread = std::thread::Builder::new()
            .name("spate-listener-bus".into())
            .spawn(move || {
                for event in rx {
                    let Some(shared) = shared.upgrade() else {
                        return;
                    };
                    deliver(&shared, &event);
                }
            })?;
        *self.running.lock() = Some((tx, thread));
        Ok(())
    }

    /// Queues `event`, or drops and counts it when the queue is full; delivers it here when no
    /// thread runs.
    pub(crate) fn post(&self, shared: &Shared, event: Event) {
        let event = match &*self.running.lock() {
            Some((tx, _)) => match tx.try_send(event) {
                Ok(()) => return,
                Err(TrySendError::Full(_)) => {
                    let n = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
                    let mut last = self.last_warning.lock();
                    if last.is_none_or(|t| t.elapsed() >= Duration::from_secs(60)) {
                        *last = Some(Instant::now());
                        tracing::warn!(
                            "dropped {n} streaming listener event(s) so far: a listener is slower than the job (queue of {} events, spate.streaming.listenerBus.capacity)",
                            self.capacity
                        );
                    }
                    return;
                }
                Err(TrySendError::Disconnected(e)) => e,
            },
            None => event,
        };
        deliver(shared, &event);
    }

    /// Delivers what is queued, then ends the thread; gives up on a stuck listener after
    /// `timeout` (the thread is left behind).
    pub(crate) fn stop(&self, timeout: Duration) {
        let Some((tx, thread)) = self.running.lock().take() else {
            return;
        };
        drop(tx);
        let deadline = Instant::now() + timeout;
        while !thread.is_finished() {
            if Instant::now() >= deadline {
                tracing::error!(
                    "a streaming listener did not return within {timeout:?}; its remaining events are not delivered"
                );
                return;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        let _ = thread.join();
    }

    /// Events dropped because the queue was full.
    pub(crate) fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}
