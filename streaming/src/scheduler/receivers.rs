//! The driver's receiver tracker in a cluster application (Spark's `ReceiverTracker`): it
//! places every receiver on an executor (`input::placement`), announces the placements on the
//! control log — the executor named starts the receiver, the others do not — and watches the
//! executors: when the one running a receiver is lost, the receiver starts on another within a
//! tick; when a replica is lost, another executor becomes the replica. Executors' reports come
//! back through the core's input sink to the inputs, which allocate the blocks to batches.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{RecvTimeoutError, Sender};

use super::{Announcement, announce};
use crate::dstream::StreamGraph;
use crate::input::Inputs;
use crate::input::placement::{Placement, place};
use crate::listener::Reporter;

/// How often the tracker looks at the executors.
const TICK: Duration = Duration::from_millis(100);

/// The running tracker (a thread).
pub(crate) struct ReceiverTracker {
    stop: Option<Sender<()>>,
    stopping: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl ReceiverTracker {
    /// Starts tracking `inputs`' receivers on the executors of `graph`'s context, keeping
    /// `replication` (1 or 2) copies of each block; executors' reports go to the inputs.
    pub(crate) fn start(
        graph: Arc<StreamGraph>,
        inputs: Arc<Inputs>,
        reporter: Reporter,
        replication: usize,
    ) -> ReceiverTracker {
        let receivers: Vec<_> = inputs
            .all()
            .into_iter()
            .filter(|i| i.placement_wish().is_some())
            .collect();
        for input in &receivers {
            input.run_remotely();
        }
        graph.ctx.set_input_reports(Arc::new(Reports {
            inputs: Arc::clone(&inputs),
            reporter,
        }));
        let (stop, stopped) = crossbeam_channel::bounded::<()>(0);
        let stopping = Arc::new(AtomicBool::new(false));
        let is_stopping = Arc::clone(&stopping);
        let thread = std::thread::Builder::new()
            .name("spate-receiver-tracker".into())
            .spawn(move || {
                let wishes: Vec<_> = receivers
                    .iter()
                    .filter_map(|i| i.placement_wish())
                    .collect();
                let mut current: Vec<Placement> = Vec::new();
                let mut generation = 0;
                loop {
                    let live = graph.ctx.executor_infos();
                    if is_stopping.load(Ordering::SeqCst) {
                        // No more moves: a receiver whose executor is gone has nothing more
                        // to report, so the last batches need not wait for it.
                        for p in &current {
                            if !live.iter().any(|e| e.id == p.executor)
                                && let Some(i) = receivers.iter().find(|i| i.stream().0 == p.stream)
                            {
                                i.remote_gone();
                            }
                        }
                    } else {
                        let next = place(&current, &wishes, &live, replication, &mut generation);
                        if next != current {
                            for p in next.iter().filter(|p| !current.contains(p)) {
                                let replica = p.replica.as_ref().map_or_else(
                                    || "no replica".to_string(),
                                    |(id, _)| format!("blocks copied to executor {id}"),
                                );
                                tracing::info!(
                                    "the receiver of stream {} runs on executor {} ({}); {replica}",
                                    p.stream,
                                    p.executor,
                                    p.host
                                );
                                if let Some(i) = receivers.iter().find(|i| i.stream().0 == p.stream)
                                {
                                    i.placed(p);
                                }
                            }
                            announce(&graph.ctx, &Announcement::Receivers(next.clone()));
                            current = next;
                        }
                    }
                    if stopped.recv_timeout(TICK) != Err(RecvTimeoutError::Timeout) {
                        return;
                    }
                }
            })
            .expect("spawning the receiver tracker");
        ReceiverTracker {
            stop: Some(stop),
            stopping,
            thread: Some(thread),
        }
    }

    /// A stop began: receivers stay where they are, and the executors are told to stop them
    /// (each reports its last blocks).
    pub(crate) fn stop_receivers(&self, graph: &StreamGraph) {
        self.stopping.store(true, Ordering::SeqCst);
        announce(&graph.ctx, &Announcement::StopReceivers);
    }

    /// Ends the tracker's thread.
    pub(crate) fn stop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The driver's side of executors' input reports: each goes to its input.
struct Reports {
    inputs: Arc<Inputs>,
    reporter: Reporter,
}

impl Reports {
    fn input(&self, stream: u32) -> Option<Arc<dyn crate::input::InputControl>> {
        self.inputs
            .all()
            .into_iter()
            .find(|i| i.stream().0 == stream)
    }
}

impl spate_core::InputReports for Reports {
    fn reported(&self, report: spate_core::InputReport) {
        if let Some(input) = self.input(report.stream) {
            input.reported(report, &self.reporter);
        }
    }

    fn restore_lost(&self, block: spate_core::ids::InputBlockId) -> bool {
        self.input(block.stream)
            .is_some_and(|input| input.restore_lost(block))
    }
}

impl Drop for ReceiverTracker {
    fn drop(&mut self) {
        self.stop();
    }
}
