//! Batch scheduling: the job generator and the job executors.
//!
//! The generator waits on the clock for each batch time (a multiple of the batch interval),
//! allocates the input received since the previous batch, asks every output operation for its
//! job, and queues the batch. Executors (`spate.streaming.concurrentJobs` of them) run queued
//! batches in order, measure them, tell listeners, and then release the batch's RDDs and input
//! blocks so memory stays flat. A batch that cannot start on time waits in the queue: its
//! scheduling delay shows it.
//!
//! - `clock`: the system clock and the manual clock tests drive.
//! - `time`: [`Time`], batch times in ms.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};

use crate::common::{Time, panic_text};
use crate::context::Shared;
use crate::error::Error;
use crate::listener::{BATCH_TIME, BatchInfo, Event, OUTPUT_OP_ID, OutputOperationInfo};

/// One output operation's work for one batch.
pub(crate) type Job = Box<dyn FnOnce() -> spate_core::Result<()> + Send>;

pub(crate) struct Batch {
    time: Time,
    /// As listeners first hear of it (submitted).
    info: BatchInfo,
    /// Each output operation's job, with what listeners are told of it.
    jobs: Vec<(OutputOperationInfo, Job)>,
}

pub(crate) struct Scheduler {
    generator: Option<JoinHandle<()>>,
    executors: Vec<JoinHandle<()>>,
    /// Disconnected once every executor has exited.
    done: Receiver<()>,
    /// Disconnected once every thread (generator included) has exited.
    alive: Receiver<()>,
}

impl Scheduler {
    pub(crate) fn start(shared: &Arc<Shared>) -> Scheduler {
        let (tx, rx) = crossbeam_channel::unbounded::<Batch>();
        let (done_tx, done_rx) = crossbeam_channel::bounded::<()>(0);
        let (alive_tx, alive_rx) = crossbeam_channel::bounded::<()>(0);
        // Fix the first batch time now, not in the new thread: a test's manual clock may move
        // before that thread runs. It is the next multiple of the interval.
        let ms = shared.batch_interval.as_millis() as i64;
        let restored_zero = shared.restored_zero.lock().take();
        let (first, again) = match restored_zero {
            // A restored context keeps its zero time (windows and checkpoints stay aligned),
            // runs its unfinished batches again, then goes on after the last one generated
            // (batches the downtime skipped are generated at once, as in Spark).
            Some(zero) => {
                shared.set_zero_time(zero);
                let p = shared.progress.lock();
                let last = p.last_generated.unwrap_or(zero);
                let again: Vec<Time> = p.pending.iter().copied().collect();
                (last + shared.batch_interval, again)
            }
            None => {
                let first = Time::from_millis((shared.clock.now().millis() / ms + 1) * ms);
                shared.set_zero_time(Time::from_millis(first.millis() - ms));
                (first, Vec::new())
            }
        };
        // A checkpoint before the first batch: a restart even before it must know which
        // files a file stream found already there (and ignores), and keep the zero time.
        shared.checkpoint_now(first - shared.batch_interval);
        let gen_shared = Arc::clone(shared);
        let gen_alive = alive_tx.clone();
        let generator = std::thread::Builder::new()
            .name("spate-job-generator".into())
            .spawn(move || {
                let _alive = gen_alive;
                for time in again {
                    let batch = generate(&gen_shared, time);
                    gen_shared.batch_progress(time, false);
                    if tx.send(batch).is_err() {
                        return;
                    }
                }
                generate_batches(&gen_shared, first, tx)
            })
            .expect("spawning the job generator");
        let executors = (0..shared.settings.concurrent_jobs)
            .map(|i| {
                let (shared, rx, done) = (Arc::clone(shared), rx.clone(), done_tx.clone());
                let alive = alive_tx.clone();
                std::thread::Builder::new()
                    .name(format!("spate-job-executor-{i}"))
                    .spawn(move || {
                        let _alive = alive;
                        run_batches(&shared, rx);
                        drop(done);
                    })
                    .expect("spawning a job executor")
            })
            .collect();
        Scheduler {
            generator: Some(generator),
            executors,
            done: done_rx,
            alive: alive_rx,
        }
    }

    /// In an executor of a cluster application: builds and runs each batch the driver
    /// announces, with the driver's input allocation, in the driver's order (its jobs then
    /// follow the driver's jobs).
    pub(crate) fn follow(shared: &Arc<Shared>) -> Scheduler {
        let (done_tx, done_rx) = crossbeam_channel::bounded::<()>(0);
        let (alive_tx, alive_rx) = crossbeam_channel::bounded::<()>(0);
        let shared = Arc::clone(shared);
        let follower = std::thread::Builder::new()
            .name("spate-batch-follower".into())
            .spawn(move || {
                let _alive = alive_tx;
                follow_batches(&shared);
                drop(done_tx);
            })
            .expect("spawning the batch follower");
        Scheduler {
            generator: None,
            executors: vec![follower],
            done: done_rx,
            alive: alive_rx,
        }
    }

    /// Waits up to `timeout` for the executors to finish the queued batches.
    pub(crate) fn wait_done(&self, timeout: Duration) -> bool {
        !matches!(
            self.done.recv_timeout(timeout),
            Err(RecvTimeoutError::Timeout)
        )
    }

    /// Joins the threads if they all end within `timeout`; else leaves them behind (stuck in a
    /// user's closure or a blocking call: nothing can interrupt a thread) and returns false, so
    /// a stop always ends on time.
    pub(crate) fn join_within(&mut self, timeout: Duration) -> bool {
        if let Err(RecvTimeoutError::Timeout) = self.alive.recv_timeout(timeout) {
            let stuck = self.executors.len() + usize::from(self.generator.is_some());
            tracing::error!(
                "the streaming scheduler's threads did not end within {timeout:?}; leaving them behind (of {stuck} threads, some are stuck in an output operation or a blocking call)"
            );
            self.generator = None;
            self.executors.clear();
            return false;
        }
        self.join();
        true
    }

    pub(crate) fn join(&mut self) {
        if let Some(g) = self.generator.take() {
            let _ = g.join();
        }
        for e in self.executors.drain(..) {
            let _ = e.join();
        }
    }
}

fn generate_batches(shared: &Arc<Shared>, first: Time, tx: Sender<Batch>) {
    let interval = shared.batch_interval;
    let mut next = first;
    loop {
        shared
            .clock
            .wait_until(next, &|| shared.is_halting() || shared.is_draining());
        if shared.is_halting() {
            return;
        }
        // Draining after a graceful stop does not wait for the clock: the remaining input
        // becomes the next batch at once.
        let batch = generate(shared, next);
        shared.batch_progress(next, false);
        shared.post(Event::BatchSubmitted(batch.info.clone()));
        if tx.send(batch).is_err() {
            return;
        }
        if shared.is_draining() && shared.inputs_all_allocated() {
            return;
        }
        next = next + interval;
    }
}

/// What a cluster driver tells its executors, in order, on the core's control log.
#[derive(serde::Serialize, serde::Deserialize)]
pub(crate) enum Announcement {
    /// A batch it generated.
    Batch(AnnouncedBatch),
    /// Its streaming context stopped (after its last batch).
    Stopped,
}

#[derive(serde::Serialize, serde::Deserialize)]
pub(crate) struct AnnouncedBatch {
    time: i64,
    zero: i64,
    /// Per receiver input stream: its id, the batch's blocks, their records.
    inputs: Vec<(u32, Vec<spate_core::ids::InputBlockId>, usize)>,
    /// Per stream that finds its own input (file streams): its id and what it read.
    streams: Vec<(u32, Vec<u8>)>,
}

/// In a cluster driver: tells the executors something, in order.
pub(crate) fn announce(shared: &Shared, what: &Announcement) {
    match spate_core::codec::encode(what) {
        Ok(frame) => shared.ctx.publish_control_message(frame),
        Err(e) => tracing::error!("cannot announce to the executors: {e}"),
    }
}

fn follow_batches(shared: &Arc<Shared>) {
    while let Some(message) = shared.ctx.next_control_message() {
        let announced: AnnouncedBatch =
            match spate_core::codec::decode(&message, "an announcement of the driver") {
                Ok(Announcement::Batch(b)) => b,
                Ok(Announcement::Stopped) => {
                    shared.stopped_by_driver();
                    return;
                }
                Err(e) => {
                    tracing::error!("{e}");
                    continue;
                }
            };
        let time = Time::from_millis(announced.time);
        shared.set_zero_time(Time::from_millis(announced.zero));
        let inputs = shared.graph.lock().inputs.clone();
        for (stream, ids, records) in announced.inputs {
            if let Some(input) = inputs.iter().find(|i| i.stream().0 == stream) {
                input.follow_allocation(time, ids, records);
            }
        }
        let streams = shared.live_streams();
        for (stream, what) in &announced.streams {
            if let Some(s) = streams.iter().find(|s| s.id().0 == *stream) {
                s.follow_input(time, what);
            }
        }
        let batch = generate(shared, time);
        for (_, job) in batch.jobs {
            let result = catch_unwind(AssertUnwindSafe(job)).unwrap_or_else(|p| {
                Err(spate_core::Error::Panicked {
                    message: panic_text(&*p),
                })
            });
            if let Err(e) = result {
                // The driver fails the same way and decides what happens next.
                tracing::warn!("batch of {time} failed here as on the driver: {e}");
                break;
            }
        }
        shared.finish_batch(time);
    }
}

fn generate(shared: &Arc<Shared>, time: Time) -> Batch {
    let (inputs, outputs) = {
        let g = shared.graph.lock();
        (g.inputs.clone(), g.outputs.clone())
    };
    let stream_records: std::collections::BTreeMap<_, u64> = inputs
        .iter()
        .map(|i| (i.stream(), i.allocate(time)))
        .collect();
    let mut jobs: Vec<(OutputOperationInfo, Job)> = Vec::with_capacity(outputs.len());
    for (id, out) in outputs.iter().enumerate() {
        let job: Job = match catch_unwind(AssertUnwindSafe(|| out.job(time))) {
            Ok(Ok(Some(job))) => job,
            Ok(Ok(None)) => continue,
            Ok(Err(e)) => Box::new(move || Err(e)),
            Err(p) => {
                let message = format!("while defining the batch's jobs: {}", panic_text(&*p));
                Box::new(move || Err(spate_core::Error::Panicked { message }))
            }
        };
        let (name, description) = out.describe();
        let op = OutputOperationInfo {
            batch_time: time,
            id,
            name: name.to_string(),
            description: description.to_string(),
            ..OutputOperationInfo::default()
        };
        jobs.push((op, job));
    }
    let info = BatchInfo {
        batch_time: time,
        records: stream_records.values().sum(),
        submission_time: shared.clock.now(),
        output_jobs: jobs.len(),
        output_operations: jobs.iter().map(|(op, _)| op.clone()).collect(),
        stream_records,
        ..BatchInfo::default()
    };

    if shared.ctx.is_cluster_driver() {
        // A cluster driver: its executors build the same batch from the same input (after
        // the outputs computed their RDDs, so file streams have listed their directories).
        let announced = AnnouncedBatch {
            time: time.millis(),
            zero: shared.zero_time().millis(),
            inputs: inputs
                .iter()
                .map(|i| {
                    let (ids, records) = i.allocation_of(time);
                    (i.stream().0, ids, records)
                })
                .collect(),
            streams: shared
                .live_streams()
                .iter()
                .filter_map(|s| Some((s.id().0, s.announce_input(time)?)))
                .collect(),
        };
        announce(shared, &Announcement::Batch(announced));
    }
    Batch { time, info, jobs }
}

fn run_batches(shared: &Arc<Shared>, rx: Receiver<Batch>) {
    for batch in rx {
        let time = batch.time;
        if shared.is_halting() {
            // Stopped without grace: queued batches are dropped, their input released.
            shared.finish_batch(time);
            continue;
        }
        let start = shared.clock.now();
        let mut info = batch.info;
        info.scheduling_delay = start.since(time);
        info.processing_start_time = Some(start);
        shared.post(Event::BatchStarted(info.clone()));
        let mut result = Ok(());
        info.output_operations.clear();
        // The jobs each output operation runs are tagged with it (see `listener::jobs`).
        let ctx = &shared.ctx;
        ctx.set_local_property(BATCH_TIME, Some(&time.millis().to_string()));
        for (mut op, job) in batch.jobs {
            op.start_time = Some(shared.clock.now());
            ctx.set_local_property(OUTPUT_OP_ID, Some(&op.id.to_string()));
            shared.post(Event::OutputStarted(op.clone()));
            result = catch_unwind(AssertUnwindSafe(job)).unwrap_or_else(|p| {
                Err(spate_core::Error::Panicked {
                    message: panic_text(&*p),
                })
            });
            op.end_time = Some(shared.clock.now());
            op.failure_reason = result.as_ref().err().map(|e| e.to_string());
            shared.post(Event::OutputCompleted(op.clone()));
            info.output_operations.push(op);
            if result.is_err() {
                break;
            }
        }
        ctx.set_local_property(BATCH_TIME, None);
        ctx.set_local_property(OUTPUT_OP_ID, None);
        let end = shared.clock.now();
        info.processing_end_time = Some(end);
        info.processing_time = end.since(start);
        info.total_delay = end.since(time);
        info.succeeded = result.is_ok();
        (info.late_records, info.watermark) = shared.take_event_time(time);
        let inputs = shared.graph.lock().inputs.clone();
        for input in &inputs {
            input.batch_completed(&info);
        }
        if result.is_ok() {
            // Completed: a restart does not run it again. Recorded before listeners hear of it,
            // so a batch they are told completed is one a restart will not run again.
            shared.batch_progress(time, true);
        }
        shared.post(Event::BatchCompleted(info));
        shared.finish_batch(time);
        if let Err(source) = result {
            tracing::error!("batch of {time} failed: {source}");
            shared.fail(Error::BatchFailed { time, source });
        }
    }
}
