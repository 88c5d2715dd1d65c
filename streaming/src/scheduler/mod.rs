//! Batch scheduling: the job generator and the job executors.
//!
//! The generator waits on the clock for each batch time (a multiple of the batch interval),
//! allocates the input received since the previous batch, asks every output operation for its
//! job, and queues the batch. Executors (`spate.streaming.concurrentJobs` of them) run queued
//! batches in order, measure them, tell listeners, and then release the batch's RDDs and input
//! blocks so memory stays flat. A batch that cannot start on time waits in the queue: its
//! scheduling delay shows it.
//!
//! The scheduler gets what it needs from its context through [`SchedulerEnv`] (the graph, the
//! inputs, the listeners, the clock, the checkpoints) and tells the context to stop through
//! the [`Stopper`] trait it defines; it never sees the context itself.
//!
//! - `checkpoints`: the driver's record of its batches, written to the checkpoint directory.
//! - `receivers`: in a cluster driver, where receivers run (and run again after a loss).

mod checkpoints;
mod receivers;

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};

pub(crate) use checkpoints::{Checkpoints, Resume};
pub(crate) use receivers::ReceiverTracker;

use crate::common::{Clock, Time, panic_text};
use crate::dstream::{Job, StreamGraph};
use crate::error::Error;
use crate::input::{BatchEnd, Inputs};
use crate::listener::{BATCH_TIME, BatchInfo, Event, OUTPUT_OP_ID, OutputOperationInfo, Reporter};

/// The scheduler's keys.
pub(crate) const KEYS: &[spate_core::conf::KeySpec] = spate_core::key_table! {
    "spate.streaming.concurrentJobs", Count, Some("1"), None, Some("64"), "Batches processed at the same time.";
    "spate.streaming.checkpoint.maxStateFailures", Count, Some("10"), None, Some("1000000"), "State checkpoints that may fail in a row (a full or vanished checkpoint directory) before the context stops: meanwhile the stream goes on, its lineage kept, and each checkpoint interval tries again.";
};

/// How the scheduler tells its context that the stream has to end.
pub(crate) trait Stopper: Send + Sync {
    /// A batch failed: the context remembers why and stops (on another thread: the caller is
    /// the scheduler).
    fn fail(&self, error: Error);
    /// In an executor: the driver's streaming context stopped, so this one has too.
    fn stopped_by_driver(&self);
}

/// What the scheduler gets from its context.
pub(crate) struct SchedulerEnv {
    pub(crate) graph: Arc<StreamGraph>,
    pub(crate) inputs: Arc<Inputs>,
    pub(crate) reporter: Reporter,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) checkpoints: Arc<Checkpoints>,
    pub(crate) stopper: Arc<dyn Stopper>,
    /// `spate.streaming.concurrentJobs`: batches processed at the same time.
    pub(crate) concurrent_jobs: usize,
}

/// The scheduler's threads' shared view: the environment, and how a stop reaches them.
struct Run {
    env: SchedulerEnv,
    /// A graceful stop: the remaining input becomes batches at once, then generation ends.
    draining: AtomicBool,
    /// A stop: no more batches; queued ones are dropped.
    halting: AtomicBool,
}

impl Run {
    fn is_halting(&self) -> bool {
        self.halting.load(Ordering::SeqCst)
    }
    fn is_draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }
}

pub(crate) struct Batch {
    time: Time,
    /// As listeners first hear of it (submitted).
    info: BatchInfo,
    /// Each output operation's job, with what listeners are told of it.
    jobs: Vec<(OutputOperationInfo, Job)>,
}

pub(crate) struct Scheduler {
    run: Arc<Run>,
    generator: Option<JoinHandle<()>>,
    executors: Vec<JoinHandle<()>>,
    /// Disconnected once every executor has exited.
    done: Receiver<()>,
    /// Disconnected once every thread (generator included) has exited.
    alive: Receiver<()>,
}

impl Scheduler {
    pub(crate) fn start(env: SchedulerEnv) -> Scheduler {
        let run = Arc::new(Run {
            env,
            draining: AtomicBool::new(false),
            halting: AtomicBool::new(false),
        });
        let env = &run.env;
        let (tx, rx) = crossbeam_channel::unbounded::<Batch>();
        let (done_tx, done_rx) = crossbeam_channel::bounded::<()>(0);
        let (alive_tx, alive_rx) = crossbeam_channel::bounded::<()>(0);
        // Fix the first batch time now, not in the new thread: a test's manual clock may move
        // before that thread runs. It is the next multiple of the interval.
        let interval = env.graph.batch_interval;
        let ms = interval.as_millis() as i64;
        let (first, again) = match env.checkpoints.take_resume() {
            // A restored context keeps its zero time (windows and checkpoints stay aligned),
            // runs its unfinished batches again, then goes on after the last one generated
            // (batches the downtime skipped are generated at once, as in Spark).
            Some(resume) => {
                env.graph.set_zero_time(resume.zero);
                let last = resume.last_generated.unwrap_or(resume.zero);
                (last + interval, resume.pending)
            }
            None => {
                let first = Time::from_millis((env.clock.now().millis() / ms + 1) * ms);
                env.graph
                    .set_zero_time(Time::from_millis(first.millis() - ms));
                (first, Vec::new())
            }
        };
        // A checkpoint before the first batch: a restart even before it must know which
        // files a file stream found already there (and ignores), and keep the zero time.
        env.checkpoints.write_now(first - interval);
        let gen_run = Arc::clone(&run);
        let gen_alive = alive_tx.clone();
        let generator = std::thread::Builder::new()
            .name("spate-job-generator".into())
            .spawn(move || {
                let _alive = gen_alive;
                for time in again {
                    let batch = generate(&gen_run.env, time);
                    gen_run.env.checkpoints.generated(time);
                    if tx.send(batch).is_err() {
                        return;
                    }
                }
                generate_batches(&gen_run, first, tx)
            })
            .expect("spawning the job generator");
        let executors = (0..env.concurrent_jobs)
            .map(|i| {
                let (run, rx, done) = (Arc::clone(&run), rx.clone(), done_tx.clone());
                let alive = alive_tx.clone();
                std::thread::Builder::new()
                    .name(format!("spate-job-executor-{i}"))
                    .spawn(move || {
                        let _alive = alive;
                        run_batches(&run, rx);
                        drop(done);
                    })
                    .expect("spawning a job executor")
            })
            .collect();
        Scheduler {
            run,
            generator: Some(generator),
            executors,
            done: done_rx,
            alive: alive_rx,
        }
    }

    /// In an executor of a cluster application: builds and runs each batch the driver
    /// announces, with the driver's input allocation, in the driver's order (its jobs then
    /// follow the driver's jobs).
    pub(crate) fn follow(env: SchedulerEnv) -> Scheduler {
        let (done_tx, done_rx) = crossbeam_channel::bounded::<()>(0);
        let (alive_tx, alive_rx) = crossbeam_channel::bounded::<()>(0);
        let run = Arc::new(Run {
            env,
            draining: AtomicBool::new(false),
            halting: AtomicBool::new(false),
        });
        let follower_run = Arc::clone(&run);
        let follower = std::thread::Builder::new()
            .name("spate-batch-follower".into())
            .spawn(move || {
                let _alive = alive_tx;
                follow_batches(&follower_run.env);
                drop(done_tx);
            })
            .expect("spawning the batch follower");
        Scheduler {
            run,
            generator: None,
            executors: vec![follower],
            done: done_rx,
            alive: alive_rx,
        }
    }

    /// A graceful stop: the input received so far becomes batches at once (the clock is not
    /// waited for), and generation ends when every input has given all it received.
    pub(crate) fn drain(&self) {
        self.run.draining.store(true, Ordering::SeqCst);
        self.run.env.clock.wake();
    }

    /// A stop: no more batches; queued ones are dropped, their input released.
    pub(crate) fn halt(&self) {
        self.run.halting.store(true, Ordering::SeqCst);
        self.run.env.clock.wake();
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

fn generate_batches(run: &Run, first: Time, tx: Sender<Batch>) {
    let env = &run.env;
    let interval = env.graph.batch_interval;
    let mut next = first;
    loop {
        env.clock
            .wait_until(next, &|| run.is_halting() || run.is_draining());
        while run.is_draining() && !run.is_halting() && !env.inputs.drain_ready() {
            // Receivers on executors are reporting their last blocks (the stop's own timeout
            // bounds this).
            std::thread::sleep(Duration::from_millis(5));
        }
        if run.is_halting() {
            return;
        }
        // Draining after a graceful stop does not wait for the clock: the remaining input
        // becomes the next batch at once.
        let batch = generate(env, next);
        env.checkpoints.generated(next);
        env.reporter.post(Event::BatchSubmitted(batch.info.clone()));
        if tx.send(batch).is_err() {
            return;
        }
        if run.is_draining() && env.inputs.all_allocated() {
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
    /// The jobs of batch `time` start now, the first with id `first_job`: executors run
    /// their copy of the batch's jobs with the same ids (one that joined late aligns its ids
    /// here, and adopts the checkpoints written by then).
    JobsStart {
        time: i64,
        first_job: u64,
        states: CheckpointedStates,
    },
    /// Its streaming context stopped (after its last batch).
    Stopped,
    /// Where every receiver runs now (the executor named starts it; see `receivers`).
    Receivers(Vec<crate::input::placement::Placement>),
    /// A graceful stop: executors stop their receivers and report their last blocks.
    StopReceivers,
}

#[derive(serde::Serialize, serde::Deserialize)]
pub(crate) struct AnnouncedBatch {
    time: i64,
    zero: i64,
    /// Per receiver input stream: its id, the batch's blocks, their records.
    inputs: Vec<(u32, Vec<spate_core::ids::InputBlockId>, usize)>,
    /// Per stream that finds its own input (file streams): its id and what it read.
    streams: Vec<(u32, Vec<u8>)>,
    /// Per receiver input stream: the rate backpressure holds it to (the executor running
    /// the receiver applies it).
    rates: Vec<(u32, Option<f64>)>,
}

/// Per stateful stream, its latest RDD whose checkpoint files are written and kept (stream
/// id, batch time, files). A replacement executor's copy of it takes the files, so its state
/// starts where the driver's is and it writes no checkpoint the driver has written. Only the
/// latest: the driver deletes the files of older ones a few batches after a newer one.
type CheckpointedStates = Vec<(u32, i64, std::path::PathBuf)>;

/// In a cluster driver: tells the executors something, in order.
pub(crate) fn announce(ctx: &spate_core::Context, what: &Announcement) {
    match spate_core::codec::encode(what) {
        Ok(frame) => ctx.publish_control_message(frame),
        Err(e) => tracing::error!("cannot announce to the executors: {e}"),
    }
}

/// An executor follows the driver's batches: it builds each announced batch (with the
/// driver's input allocation) and runs its jobs when the driver starts them.
///
/// An executor that joined a running application (a replacement) first reads the tail of the
/// control log, marked replayed: it builds those batches (so windows have their earlier
/// RDDs; streams have no RDD before the first of them) but does not run their jobs — they ran
/// before it joined — except the latest batch whose jobs had started, which may still be
/// running: it follows that one once the replay is over, then every batch after. Before it
/// runs a batch, its stateful streams take the driver's latest checkpoint before that batch
/// as their own (their state starts where the driver's is).
fn follow_batches(env: &SchedulerEnv) {
    let ctx = &env.graph.ctx;
    let mut follow = Following::default();
    while let Some(message) = ctx.next_control_message() {
        if !message.replayed
            && let Some((time, first_job, states)) = follow.in_progress.take()
            && !follow.run(env, time, first_job, states)
        {
            return;
        }
        let announced =
            match spate_core::codec::decode(&message.payload, "an announcement of the driver") {
                Ok(Announcement::Batch(b)) => b,
                Ok(Announcement::JobsStart {
                    time,
                    first_job,
                    states,
                }) => {
                    let time = Time::from_millis(time);
                    if !message.replayed {
                        if !follow.run(env, time, first_job, states) {
                            return;
                        }
                    } else if let Some((earlier, ..)) =
                        follow.in_progress.replace((time, first_job, states))
                    {
                        // Its jobs ended before this executor joined.
                        tracing::debug!(
                            "skipping {earlier}: its jobs ran before this executor joined"
                        );
                        follow.built.remove(&earlier);
                        end_batch(env, earlier, None);
                    }
                    if !follow.caught_up(env, message.replay_ends) {
                        return;
                    }
                    continue;
                }
                Ok(Announcement::Stopped) => {
                    env.stopper.stopped_by_driver();
                    return;
                }
                Ok(Announcement::Receivers(placements)) => {
                    let me = ctx.executor_id().unwrap_or(u32::MAX);
                    let streams = env.graph.live_streams();
                    for input in env.inputs.all() {
                        let Some(wish) = input.placement_wish() else {
                            continue;
                        };
                        let p = placements.iter().find(|p| p.stream == wish.stream);
                        let wal_dir = env.graph.checkpoint_base().and_then(|base| {
                            let s = streams.iter().find(|s| s.id() == input.stream())?;
                            Some(crate::recovery::wal::stream_dir(&base, &s.key()))
                        });
                        input.host(p, me, &env.reporter, wal_dir.as_deref());
                    }
                    if !follow.caught_up(env, message.replay_ends) {
                        return;
                    }
                    continue;
                }
                Ok(Announcement::StopReceivers) => {
                    for input in env.inputs.all() {
                        input.stop_hosting();
                    }
                    if !follow.caught_up(env, message.replay_ends) {
                        return;
                    }
                    continue;
                }
                Err(e) => {
                    tracing::error!("{e}");
                    continue;
                }
            };
        let time = Time::from_millis(announced.time);
        env.graph.set_zero_time(Time::from_millis(announced.zero));
        if message.replayed {
            env.graph.follow_from(time);
            follow.joined_late = true;
        }
        let inputs = env.inputs.all();
        for (stream, ids, records) in announced.inputs {
            if let Some(input) = inputs.iter().find(|i| i.stream().0 == stream) {
                input.follow_allocation(time, ids, records);
            }
        }
        for (stream, rate) in announced.rates {
            if let Some(input) = inputs.iter().find(|i| i.stream().0 == stream) {
                input.follow_rate(rate);
            }
        }
        let streams = env.graph.live_streams();
        for (stream, what) in &announced.streams {
            if let Some(s) = streams.iter().find(|s| s.id().0 == *stream) {
                s.follow_input(time, what);
            }
        }
        follow.built.insert(time, generate(env, time).jobs);
        if !follow.caught_up(env, message.replay_ends) {
            return;
        }
    }
}

/// What an executor following the driver's batches holds between announcements.
#[derive(Default)]
struct Following {
    /// Batches built and waiting for the driver to start their jobs.
    built: BTreeMap<Time, Vec<(OutputOperationInfo, Job)>>,
    /// A replacement's: the latest replayed batch whose jobs had started.
    in_progress: Option<(Time, u64, CheckpointedStates)>,
    /// A replacement that has not run a batch yet: before its first, its stateful streams
    /// adopt the driver's checkpoints.
    joined_late: bool,
}

impl Following {
    /// After the replay's last message: the batch in progress is followed now (its tasks may
    /// be waiting for this executor). False if this executor cannot follow (see `run`).
    fn caught_up(&mut self, env: &SchedulerEnv, replay_ends: bool) -> bool {
        if replay_ends && let Some((time, first_job, states)) = self.in_progress.take() {
            return self.run(env, time, first_job, states);
        }
        true
    }

    /// Runs the executor's copy of batch `time`'s jobs, their ids from `first_job` on (the
    /// driver's), then ends the batch. False if this executor cannot follow the job: it joined
    /// late and cannot take the driver's state (its streaming context is failed then).
    fn run(
        &mut self,
        env: &SchedulerEnv,
        time: Time,
        first_job: u64,
        states: CheckpointedStates,
    ) -> bool {
        let Some(jobs) = self.built.remove(&time) else {
            tracing::warn!(
                "the driver started the jobs of {time}, which this executor never built"
            );
            return true;
        };
        if std::mem::take(&mut self.joined_late) {
            let streams = env.graph.live_streams();
            for (stream, at, dir) in states {
                let at = Time::from_millis(at);
                if let Some(s) = streams.iter().find(|s| s.id().0 == stream)
                    && let Err(e) = s.adopt_checkpoint(at, &dir)
                {
                    // Without the driver's state its copy would start from nothing: wrong
                    // results. It exits instead; the driver starts another replacement, which
                    // is told of a newer checkpoint.
                    let why = format!(
                        "this executor joined a running job and cannot start stream {} from \
                         the driver's checkpoint of {at}: {e}; it stops, and the driver starts \
                         another",
                        s.key()
                    );
                    env.stopper.fail(Error::BatchFailed {
                        time,
                        source: spate_core::Error::cluster(why),
                    });
                    return false;
                }
            }
        }
        env.graph.ctx.align_job_ids(first_job);
        for (_, job) in jobs {
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
        end_batch(env, time, None);
        true
    }
}

/// The end of batch `time` (run, failed, dropped at a stop, or followed in an executor):
/// streams forget the RDDs no batch or window needs any more, and every input hears of it
/// (see [`BatchEnd`]).
fn end_batch(env: &SchedulerEnv, time: Time, info: Option<&BatchInfo>) {
    let horizon = env.graph.horizon(time);
    env.graph.forget_through(horizon);
    env.inputs.on_batch_end(&BatchEnd {
        time,
        info,
        release_through: horizon,
    });
}

fn generate(env: &SchedulerEnv, time: Time) -> Batch {
    let (inputs, outputs) = (env.inputs.all(), env.graph.outputs());
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
        submission_time: env.clock.now(),
        output_jobs: jobs.len(),
        output_operations: jobs.iter().map(|(op, _)| op.clone()).collect(),
        stream_records,
        ..BatchInfo::default()
    };

    if env.graph.ctx.is_cluster_driver() {
        // A cluster driver: its executors build the same batch from the same input (after
        // the outputs computed their RDDs, so file streams have listed their directories).
        let announced = AnnouncedBatch {
            time: time.millis(),
            zero: env.graph.zero_time().millis(),
            inputs: inputs
                .iter()
                .map(|i| {
                    let (ids, records) = i.allocation_of(time);
                    (i.stream().0, ids, records)
                })
                .collect(),
            streams: env
                .graph
                .live_streams()
                .iter()
                .filter_map(|s| Some((s.id().0, s.announce_input(time)?)))
                .collect(),
            rates: inputs
                .iter()
                .filter(|i| i.placement_wish().is_some())
                .map(|i| (i.stream().0, i.rate_limit()))
                .collect(),
        };
        // A replacement executor reads the last announcements first: enough batches to
        // rebuild the longest window (two messages a batch), and a few more for receivers'
        // placements announced meanwhile.
        let interval = env.graph.batch_interval.as_millis().max(1);
        let window = time.since(env.graph.horizon(time)).as_millis() / interval;
        env.graph
            .ctx
            .set_control_replay(2 * (window as usize + 2) + 4);
        announce(&env.graph.ctx, &Announcement::Batch(announced));
    }
    Batch { time, info, jobs }
}

fn run_batches(run: &Run, rx: Receiver<Batch>) {
    let env = &run.env;
    for batch in rx {
        let time = batch.time;
        if run.is_halting() {
            // Stopped without grace: queued batches are dropped, their input released.
            end_batch(env, time, None);
            continue;
        }
        let start = env.clock.now();
        let mut info = batch.info;
        info.scheduling_delay = start.since(time);
        info.processing_start_time = Some(start);
        env.reporter.post(Event::BatchStarted(info.clone()));
        let mut result = Ok(());
        info.output_operations.clear();
        // The jobs each output operation runs are tagged with it (see `listener::jobs`).
        let ctx = &env.graph.ctx;
        if ctx.is_cluster_driver() {
            // Executors run their copy of the batch's jobs now, with the same job ids; the
            // driver keeps these jobs for an executor that joins while they run.
            let first_job = ctx.next_job_id();
            ctx.keep_jobs_from(first_job);
            // Every earlier batch has ended: its checkpoints are written.
            let states = env
                .graph
                .live_streams()
                .iter()
                .filter_map(|s| {
                    let (t, dir) = s.latest_checkpoint()?;
                    Some((s.id().0, t.millis(), dir))
                })
                .collect();
            announce(
                ctx,
                &Announcement::JobsStart {
                    time: time.millis(),
                    first_job,
                    states,
                },
            );
        }
        ctx.set_local_property(BATCH_TIME, Some(&time.millis().to_string()));
        for (mut op, job) in batch.jobs {
            op.start_time = Some(env.clock.now());
            ctx.set_local_property(OUTPUT_OP_ID, Some(&op.id.to_string()));
            env.reporter.post(Event::OutputStarted(op.clone()));
            result = catch_unwind(AssertUnwindSafe(job)).unwrap_or_else(|p| {
                Err(spate_core::Error::Panicked {
                    message: panic_text(&*p),
                })
            });
            op.end_time = Some(env.clock.now());
            op.failure_reason = result.as_ref().err().map(|e| e.to_string());
            env.reporter.post(Event::OutputCompleted(op.clone()));
            info.output_operations.push(op);
            if result.is_err() {
                break;
            }
        }
        ctx.set_local_property(BATCH_TIME, None);
        ctx.set_local_property(OUTPUT_OP_ID, None);
        let end = env.clock.now();
        info.processing_end_time = Some(end);
        info.processing_time = end.since(start);
        info.total_delay = end.since(time);
        info.succeeded = result.is_ok();
        (info.late_records, info.watermark) = env.graph.take_event_time(time);
        // A failed state checkpoint leaves the batch done; too many in a row end the run.
        let given_up = match result {
            Ok(()) => env.checkpoints.state_checkpointed(time).err(),
            Err(_) => None,
        };
        if result.is_ok() {
            // Completed: a restart does not run it again. Recorded before listeners hear of it,
            // so a batch they are told completed is one a restart will not run again; and
            // before its input is released, which a restart would otherwise replay.
            env.checkpoints.completed(time);
        }
        end_batch(env, time, Some(&info));
        env.reporter.post(Event::BatchCompleted(info));
        if let Err(source) = result {
            tracing::error!("batch of {time} failed: {source}");
            env.stopper.fail(Error::BatchFailed { time, source });
        } else if let Some(e) = given_up {
            tracing::error!("{e}");
            env.stopper.fail(e);
        }
    }
}
