//! Custom receivers: the [`Receiver`] trait, the [`ReceiverHandle`] a receiver stores records
//! through, and the supervisor that starts, restarts and stops it.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver as Chan, RecvTimeoutError, Sender};
use spate_core::{Data, Text, TextLines};

use super::intake::{Intake, Received};
use crate::common::StreamId;
use crate::common::panic_text;
use crate::listener::{Event, ReceiverInfo, Reporter};

/// A source of records for a stream (Spark's `Receiver`). `on_start` must not block: start a
/// thread (or a task on [`ReceiverHandle::runtime`]) that stores records through the handle,
/// and return. `on_stop` stops it; after it, `handle.is_stopped()` is true.
///
/// # Examples
///
/// ```
/// use spate_streaming::{Receiver, ReceiverHandle};
/// struct Numbers;
/// impl Receiver<u64> for Numbers {
///     fn on_start(&mut self, handle: ReceiverHandle<u64>) {
///         std::thread::spawn(move || {
///             let mut i = 0;
///             while !handle.is_stopped() && i < 100 {
///                 handle.store(i);
///                 i += 1;
///             }
///         });
///     }
///     fn on_stop(&mut self) {}
/// }
/// ```
pub trait Receiver<T: Data>: Send + 'static {
    /// Starts receiving; store records through `handle`.
    fn on_start(&mut self, handle: ReceiverHandle<T>);
    /// Stops receiving (threads started by `on_start` should see `is_stopped()` and end).
    fn on_stop(&mut self);
    /// What it receives from, for people (the UI, listeners): by default its type's name.
    fn name(&self) -> String {
        let full = std::any::type_name::<Self>();
        let base = full.split('<').next().unwrap_or(full);
        base.rsplit("::").next().unwrap_or(base).to_string()
    }
    /// In a cluster application, where it should run: an executor's host name, or its id as
    /// `executor-N` (Spark's `preferredLocation`). Honoured when such an executor is alive;
    /// otherwise, and by default (`None`), receivers are spread over the executors.
    fn preferred_location(&self) -> Option<String> {
        None
    }
}

pub(crate) enum Control {
    Restart(String),
}

/// How a receiver stores records and reports trouble. Cheap to clone; usable from any thread.
///
/// # Examples
///
/// ```no_run
/// # fn f(handle: spate_streaming::ReceiverHandle<String>) {
/// if !handle.store("a record".to_string()) {
///     // the stream was stopped
/// }
/// handle.report_error("upstream hiccup");
/// # }
/// ```
pub struct ReceiverHandle<T> {
    pub(crate) intake: Arc<Intake<T>>,
    /// Set when this run of the receiver is stopped (restart or stop).
    run_stopped: Arc<AtomicBool>,
    control: Sender<Control>,
    runtime: tokio::runtime::Handle,
    reporter: Reporter,
}

impl<T> Clone for ReceiverHandle<T> {
    fn clone(&self) -> Self {
        ReceiverHandle {
            intake: Arc::clone(&self.intake),
            run_stopped: Arc::clone(&self.run_stopped),
            control: self.control.clone(),
            runtime: self.runtime.clone(),
            reporter: self.reporter.clone(),
        }
    }
}

impl<T: Data> ReceiverHandle<T> {
    /// Stores one record; waits while too many records are pending. False once stopped.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn f(h: spate_streaming::ReceiverHandle<u8>) { h.store(1); }
    /// ```
    pub fn store(&self, record: T) -> bool {
        self.store_all(vec![record])
    }

    /// Stores many records at once (cheaper than one by one).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn f(h: spate_streaming::ReceiverHandle<u8>) { h.store_all(vec![1, 2, 3]); }
    /// ```
    pub fn store_all(&self, records: Vec<T>) -> bool {
        !self.is_stopped() && self.intake.push(Received::Records(records))
    }

    /// Stores many records reliably: with the write-ahead log on
    /// (`spate.streaming.receiver.writeAheadLog.enable`), returns only once they are in the
    /// log on disk, so a reliable receiver may then acknowledge them to its source (a driver
    /// restarted after a crash reads them back). False when stopped or when they could not be
    /// logged — then do not acknowledge them. Without the log, the same as
    /// [`ReceiverHandle::store_all`]. Each call makes a block: store batches, not records.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn f(h: spate_streaming::ReceiverHandle<u8>, ack: impl Fn()) {
    /// if h.store_durable(vec![1, 2, 3]) {
    ///     ack(); // tell the source it need not resend them
    /// }
    /// # }
    /// ```
    pub fn store_durable(&self, records: Vec<T>) -> bool {
        !self.is_stopped() && self.intake.push_durable(Received::Records(records))
    }

    /// [`ReceiverHandle::store_all`] for async code: awaits instead of blocking.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn f(h: spate_streaming::ReceiverHandle<u8>) { h.store_all_async(vec![1]).await; }
    /// ```
    pub async fn store_all_async(&self, records: Vec<T>) -> bool {
        !self.is_stopped() && self.intake.push_async(Received::Records(records)).await
    }

    /// Whether the stream was stopped (receivers should then end their work).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn f(h: spate_streaming::ReceiverHandle<u8>) { while !h.is_stopped() { /* receive */ } }
    /// ```
    pub fn is_stopped(&self) -> bool {
        self.run_stopped.load(Ordering::SeqCst) || self.intake.is_stopped()
    }

    /// Asks the supervisor to stop and restart this receiver after
    /// `spate.streaming.receiverRestartDelay`; the reason is logged and reported to listeners.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn f(h: spate_streaming::ReceiverHandle<u8>) { h.restart("lost the upstream session"); }
    /// ```
    pub fn restart(&self, reason: impl Into<String>) {
        let _ = self.control.send(Control::Restart(reason.into()));
    }

    /// Reports an error to the log and to listeners; the receiver keeps running.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn f(h: spate_streaming::ReceiverHandle<u8>) { h.report_error("bad frame skipped"); }
    /// ```
    pub fn report_error(&self, message: impl AsRef<str>) {
        let message = message.as_ref();
        self.intake
            .counters
            .errors
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        tracing::warn!("receiver of {}: {message}", self.intake.stream);
        self.intake.post(
            &self.reporter,
            Event::ReceiverError(self.intake.stream, message.to_string()),
        );
    }

    /// Tells listeners the receiver (called `name`) started or stopped.
    fn announce(&self, active: bool, name: &str) {
        let info = ReceiverInfo {
            stream: self.intake.stream,
            name: name.to_string(),
            active,
            ..ReceiverInfo::default()
        };
        let event = if active {
            Event::ReceiverStarted(info)
        } else {
            Event::ReceiverStopped(info)
        };
        self.intake.post(&self.reporter, event);
    }

    /// The tokio runtime receivers run on (for async receivers).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn f(h: spate_streaming::ReceiverHandle<u8>) { h.runtime().spawn(async {}); }
    /// ```
    pub fn runtime(&self) -> &tokio::runtime::Handle {
        &self.runtime
    }

    /// The stream this receiver feeds.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn f(h: spate_streaming::ReceiverHandle<u8>) { println!("{}", h.stream_id()); }
    /// ```
    pub fn stream_id(&self) -> StreamId {
        self.intake.stream
    }
}

impl ReceiverHandle<Text> {
    /// Stores received lines kept in their buffers: the cheapest way to store text, since
    /// nothing per line is kept until a task reads them (see [`TextLines`]). Waits while too
    /// many records are pending; false once stopped. Each line counts as one record.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use std::sync::Arc;
    /// use spate_core::{Text, TextLines};
    /// # fn f(h: spate_streaming::ReceiverHandle<Text>) {
    /// let read = Arc::new(b"one line\nanother\n".to_vec());
    /// let mut lines = TextLines::new();
    /// lines.push(&read, 0..read.len(), 1 << 20).expect("UTF-8 lines");
    /// h.store_lines(lines);
    /// # }
    /// ```
    pub fn store_lines(&self, lines: TextLines) -> bool {
        !self.is_stopped() && self.intake.push(Received::Lines(lines))
    }

    /// [`ReceiverHandle::store_lines`] for async code: awaits instead of blocking.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn f(h: spate_streaming::ReceiverHandle<spate_core::Text>) {
    /// h.store_lines_async(spate_core::TextLines::new()).await;
    /// # }
    /// ```
    pub async fn store_lines_async(&self, lines: TextLines) -> bool {
        !self.is_stopped() && self.intake.push_async(Received::Lines(lines)).await
    }
}

/// The timing a receiver's supervisor runs by.
#[derive(Copy, Clone, Debug)]
pub(crate) struct SupervisorSettings {
    /// `spate.streaming.receiverRestartDelay`.
    pub(crate) restart_delay: Duration,
    /// `spate.streaming.blockInterval`.
    pub(crate) block_interval: Duration,
    pub(crate) batch_interval: Duration,
}

/// Runs a receiver: starts it, restarts it on request (or after a panic), stops it; and cuts
/// its intake into blocks every block interval.
pub(crate) struct Supervisor<T> {
    stop: Option<Sender<()>>,
    blocks: Option<std::thread::JoinHandle<()>>,
    /// Gives the receiver back when it ends (it may be started again elsewhere later).
    supervisor: Option<std::thread::JoinHandle<Box<dyn Receiver<T>>>>,
}

impl<T: Data> Supervisor<T> {
    pub(crate) fn start(
        mut receiver: Box<dyn Receiver<T>>,
        intake: Arc<Intake<T>>,
        reporter: Reporter,
        settings: SupervisorSettings,
        runtime: tokio::runtime::Handle,
    ) -> Supervisor<T> {
        let (control_tx, control_rx) = crossbeam_channel::unbounded::<Control>();
        let (stop_tx, stop_rx) = crossbeam_channel::bounded::<()>(0);
        let handle = ReceiverHandle {
            intake: Arc::clone(&intake),
            run_stopped: Arc::new(AtomicBool::new(false)),
            control: control_tx,
            runtime,
            reporter,
        };
        let SupervisorSettings {
            restart_delay,
            block_interval,
            batch_interval,
        } = settings;
        // Batches no longer than a block interval are cut at allocation, a block per core of
        // equal size: a cut in between would give one core a larger block than the other (at
        // 100 ms batches, a 200 ms cut left a core idle for an eighth of each batch on
        // average). With the write-ahead log on, cuts are how records reach the log. On an
        // executor, cuts are how blocks reach the driver: at least two per batch.
        let hosted = intake.hosting().is_some();
        let cut_between_batches = batch_interval > block_interval || hosted;
        let block_interval = if hosted {
            block_interval
                .min(batch_interval / 2)
                .max(Duration::from_millis(1))
        } else {
            block_interval
        };
        let stop_for_blocks = stop_rx.clone();
        let blocks_intake = Arc::clone(&intake);
        let blocks = std::thread::Builder::new()
            .name(format!("spate-blocks-{}", intake.stream.0))
            .spawn(move || {
                // Cut blocks every interval until stopped (the sender is dropped), on a fixed
                // schedule: a cut that takes a while (writing the log) does not shift the next,
                // so every batch gets the same number of cuts.
                let mut next = Instant::now() + block_interval;
                while let Err(RecvTimeoutError::Timeout) = stop_for_blocks.recv_deadline(next) {
                    if cut_between_batches || blocks_intake.is_logging() {
                        blocks_intake.cut_block();
                    }
                    next += block_interval;
                    // Fallen behind by more than an interval: start again from now, no burst.
                    let now = Instant::now();
                    if next < now {
                        next = now + block_interval;
                    }
                }
            })
            .expect("spawning the block thread");
        let supervisor = std::thread::Builder::new()
            .name(format!("spate-receiver-{}", intake.stream.0))
            .spawn(move || {
                supervise(&mut *receiver, handle, control_rx, stop_rx, restart_delay);
                receiver
            })
            .expect("spawning the receiver supervisor");
        Supervisor {
            stop: Some(stop_tx),
            blocks: Some(blocks),
            supervisor: Some(supervisor),
        }
    }

    /// Stops the receiver and the block thread, and waits for both; gives the receiver back
    /// (`None` if its thread panicked).
    pub(crate) fn stop(&mut self) -> Option<Box<dyn Receiver<T>>> {
        drop(self.stop.take());
        if let Some(t) = self.blocks.take() {
            let _ = t.join();
        }
        self.supervisor.take().and_then(|t| t.join().ok())
    }
}

fn supervise<T: Data>(
    receiver: &mut dyn Receiver<T>,
    mut handle: ReceiverHandle<T>,
    control: Chan<Control>,
    stop: Chan<()>,
    restart_delay: Duration,
) {
    loop {
        let started = catch_unwind(AssertUnwindSafe(|| receiver.on_start(handle.clone())));
        match started {
            Ok(()) => handle.announce(true, &receiver.name()),
            Err(p) => handle.restart(format!(
                "receiver panicked in on_start: {}",
                panic_text(&*p)
            )),
        }
        let stop_run = |handle: &ReceiverHandle<T>, receiver: &mut dyn Receiver<T>| {
            handle.run_stopped.store(true, Ordering::SeqCst);
            handle.announce(false, &receiver.name());
            if let Err(p) = catch_unwind(AssertUnwindSafe(|| receiver.on_stop())) {
                handle.report_error(format!("receiver panicked in on_stop: {}", panic_text(&*p)));
            }
        };
        crossbeam_channel::select! {
            recv(stop) -> _ => {
                stop_run(&handle, receiver);
                return;
            }
            recv(control) -> msg => {
                let Ok(Control::Restart(reason)) = msg else { return };
                handle.report_error(format!("restarting receiver: {reason}"));
                stop_run(&handle, receiver);
                if stop.recv_timeout(restart_delay) != Err(RecvTimeoutError::Timeout) {
                    return;
                }
                // A fresh run flag: threads of the old run stay stopped.
                handle = ReceiverHandle {
                    run_stopped: Arc::new(AtomicBool::new(false)),
                    ..handle
                };
            }
        }
    }
}
