//! The listener buses: events go into a bounded queue and one thread delivers them, so a slow
//! or stuck listener never slows the scheduler (Spark's `LiveListenerBus`). As in Spark, the
//! UI's status store has a queue and thread of its own: its bookkeeping does not delay the
//! application's listeners, and a stuck application listener does not freeze the UI. When a
//! queue is full an event is dropped and counted
//! ([`crate::StreamingContext::dropped_listener_events`]), with a warning at most once a minute.
//! Before `start()` and after `stop()` (which delivers what is queued first) events are
//! delivered on the caller's thread.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Sender, TrySendError};
use parking_lot::Mutex;

use super::{BatchInfo, OutputJobInfo, OutputOperationInfo, ReceiverInfo, StreamingListener};
use crate::common::StreamId;
use crate::common::Time;

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

/// A bus's listeners, swapped whole when one is added: delivering an event takes a reference,
/// not a copy of the list.
type Listeners = Arc<Mutex<Arc<Vec<Arc<dyn StreamingListener>>>>>;

/// Delivers `event` to every listener; a panicking listener is logged, the others still hear it.
fn deliver(listeners: &[Arc<dyn StreamingListener>], event: &Event) {
    for l in listeners {
        if catch_unwind(AssertUnwindSafe(|| event.deliver(&**l))).is_err() {
            tracing::error!("a streaming listener panicked; it keeps getting events");
        }
    }
}

/// A queue, its delivery thread and the listeners it delivers to.
pub(crate) struct ListenerBus {
    name: &'static str,
    capacity: usize,
    listeners: Listeners,
    running: Mutex<Option<(Sender<Arc<Event>>, JoinHandle<()>)>>,
    dropped: AtomicU64,
    last_warning: Mutex<Option<Instant>>,
}

impl ListenerBus {
    /// A bus whose thread is called `name`, queueing up to `capacity` events.
    pub(crate) fn new(name: &'static str, capacity: usize) -> ListenerBus {
        ListenerBus {
            name,
            capacity,
            listeners: Listeners::default(),
            running: Mutex::new(None),
            dropped: AtomicU64::new(0),
            last_warning: Mutex::new(None),
        }
    }

    /// Adds a listener: it hears the events posted from now on.
    pub(crate) fn add(&self, listener: Arc<dyn StreamingListener>) {
        let mut listeners = self.listeners.lock();
        let mut more = Vec::clone(&listeners);
        more.push(listener);
        *listeners = Arc::new(more);
    }

    /// Starts the delivery thread (at `start()`).
    pub(crate) fn start(&self) -> std::io::Result<()> {
        let (tx, rx) = crossbeam_channel::bounded::<Arc<Event>>(self.capacity);
        let listeners = Arc::clone(&self.listeners);
        let thread = std::thread::Builder::new()
            .name(self.name.into())
            .spawn(move || {
                for event in rx {
                    let now = Arc::clone(&listeners.lock());
                    deliver(&now, &event);
                }
            })?;
        *self.running.lock() = Some((tx, thread));
        Ok(())
    }

    /// Queues `event`, or drops and counts it when the queue is full; delivers it here when no
    /// thread runs. Nothing is queued for a bus without listeners.
    pub(crate) fn post(&self, event: &Arc<Event>) {
        let listeners = Arc::clone(&self.listeners.lock());
        if listeners.is_empty() {
            return;
        }
        if let Some((tx, _)) = &*self.running.lock() {
            match tx.try_send(Arc::clone(event)) {
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
                Err(TrySendError::Disconnected(_)) => {}
            }
        }
        deliver(&listeners, event);
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
