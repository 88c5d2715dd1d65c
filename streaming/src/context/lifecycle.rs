//! A streaming context's life: `start` (checkpoint directory, write-ahead logs, the UI, the
//! listener buses, receivers, signals, the scheduler, in that order), `stop` (graceful or not)
//! and waiting for the end.

use super::*;

impl StreamingContext {
    /// Starts receiving and generating batches. Errors: already started, stopped, or no output
    /// operation defined. With `spate.streaming.stopGracefullyOnShutdown` (default true),
    /// SIGINT and SIGTERM stop the context gracefully.
    ///
    /// # Examples
    ///
    /// ```
    /// use spate_streaming::{Error, RddQueue, StopOptions, StreamingContext};
    /// let conf = spate_core::Conf::new().set_master("local[1]").set("spate.streaming.stopGracefullyOnShutdown", "false");
    /// let ssc = StreamingContext::new(conf, std::time::Duration::from_millis(100)).unwrap();
    /// ssc.queue_stream(RddQueue::<u8>::new(), true, None).foreach_rdd(|_, _| Ok(())).unwrap();
    /// ssc.start().unwrap();
    /// assert!(matches!(ssc.start(), Err(Error::AlreadyStarted)));
    /// ssc.stop(StopOptions::default()).unwrap();
    /// ```
    pub fn start(&self) -> Result<()> {
        let shared = &self.shared;
        let mut state = shared.state.lock();
        match *state {
            StreamingState::Active => return Err(Error::AlreadyStarted),
            StreamingState::Stopped => return Err(Error::Stopped),
            StreamingState::Initialized => {}
        }
        let inputs = shared.inputs.all();
        if shared.graph.outputs().is_empty() {
            return Err(Error::NoOutputOperations);
        }
        if !shared.ctx().is_driver() {
            // An executor of a cluster application: receivers, the clock, checkpoints and
            // signals are the driver's; this process builds and runs the batches it announces.
            let scheduler = Scheduler::follow(shared.scheduler_env());
            *shared.running.lock() = Some(Running {
                scheduler,
                #[cfg(feature = "ui")]
                ui: None,
                runtime: None,
                signals: None,
                receivers: None,
            });
            *state = StreamingState::Active;
            shared.graph.set_phase(Phase::Running);
            shared.state_changed.notify_all();
            return Ok(());
        }
        if shared.ctx().checkpoint_dir().is_none()
            && let Some(stream) = shared
                .graph
                .live_streams()
                .iter()
                .find_map(|s| s.needs_checkpoint_dir())
        {
            return Err(Error::CheckpointDirRequired { stream });
        }
        // In a cluster, receivers run on executors (unless told to run here), which write the
        // write-ahead log too; the driver keeps where each block is.
        let input = &shared.settings.input;
        let remote = shared.ctx().is_cluster_driver() && input.on_executors;
        if remote {
            for i in inputs.iter().filter(|i| i.placement_wish().is_some()) {
                i.run_remotely();
            }
        }
        if shared.settings.input.wal && !inputs.is_empty() {
            let Some(base) = shared.graph.checkpoint_base() else {
                return Err(Error::CheckpointDirRequired {
                    stream: "the write-ahead log (spate.streaming.receiver.writeAheadLog.enable)"
                        .into(),
                });
            };
            let keys: std::collections::HashMap<StreamId, String> = shared
                .graph
                .live_streams()
                .iter()
                .map(|s| (s.id(), s.key()))
                .collect();
            for input in &inputs {
                let key = keys.get(&input.stream()).cloned().unwrap_or_default();
                let dir = crate::recovery::wal::stream_dir(&base, &key);
                input.enable_wal(&dir, shared.settings.input.wal_rolling)?;
            }
        }
        if let Some(base) = shared.graph.checkpoint_base() {
            unique_keys(&shared.graph.live_streams())?;
            crate::recovery::checkpoint::sweep_orphans(
                &base,
                shared.ctx().checkpoint_dir().as_deref(),
            );
            shared
                .checkpoints
                .open(crate::recovery::checkpoint::Checkpointer::open(&base));
        }
        #[cfg(feature = "ui")]
        let ui = if shared.settings.ui.enabled {
            let app_name = shared.ctx().conf().get("spate.app.name").unwrap_or("spate");
            let interval_ms = shared.batch_interval().as_millis() as u64;
            let metrics = Arc::new(crate::ui::Metrics::new(app_name, interval_ms));
            let store = Arc::new(crate::ui::StatusStore::new(
                &shared.settings.ui,
                interval_ms,
                metrics,
                live_probe(Arc::downgrade(shared)),
            ));
            shared.reporter.add_status_listener(store.clone());
            let ui = crate::ui::Ui::start(&shared.settings.ui, app_name, interval_ms, store)?;
            *shared.ui_url.lock() = Some(ui.url().to_string());
            Some(ui)
        } else {
            None
        };
        crate::listener::bridge(
            shared.ctx(),
            Arc::clone(&shared.clock),
            shared.reporter.clone(),
        );
        shared.reporter.start().map_err(|source| Error::Startup {
            what: "the listener bus",
            source,
        })?;
        shared
            .reporter
            .post(crate::listener::Event::StreamingStarted(shared.clock.now()));
        let receivers =
            (remote && inputs.iter().any(|i| i.placement_wish().is_some())).then(|| {
                crate::scheduler::ReceiverTracker::start(
                    Arc::clone(&shared.graph),
                    Arc::clone(&shared.inputs),
                    shared.reporter.clone(),
                    input.replication,
                )
            });
        let runtime = if inputs.is_empty() || remote {
            None
        } else {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(inputs.len().clamp(1, 2))
                .thread_name("spate-receiver-io")
                .enable_all()
                .build()
                .map_err(|source| Error::Startup {
                    what: "the receivers' runtime",
                    source,
                })?;
            for input in &inputs {
                input.start(&shared.reporter, rt.handle().clone());
            }
            Some(rt)
        };
        let signals = if shared.settings.stop_gracefully_on_shutdown {
            let weak = Arc::downgrade(shared);
            Some(crate::signals::GracefulSignals::install(move || {
                // The context may be gone by the time a signal comes.
                weak.upgrade().map(|shared| {
                    StreamingContext { shared }.stop(StopOptions {
                        stop_context: true,
                        graceful: true,
                    })
                })
            })?)
        } else {
            None
        };
        let scheduler = Scheduler::start(shared.scheduler_env());
        *shared.running.lock() = Some(Running {
            scheduler,
            #[cfg(feature = "ui")]
            ui,
            runtime,
            signals,
            receivers,
        });
        *state = StreamingState::Active;
        shared.graph.set_phase(Phase::Running);
        shared.state_changed.notify_all();
        Ok(())
    }

    /// Stops the context. Gracefully: stop receiving, process every record already received
    /// (within `spate.streaming.gracefulStopTimeout`), then stop. Otherwise: stop now; queued
    /// batches are dropped. Stopping a stopped context does nothing.
    ///
    /// # Examples
    ///
    /// ```
    /// use spate_streaming::{StopOptions, StreamingContext};
    /// let ssc = StreamingContext::new(spate_core::Conf::new().set_master("local[1]"), std::time::Duration::from_secs(1)).unwrap();
    /// ssc.stop(StopOptions { stop_context: false, graceful: true }).unwrap();
    /// assert!(!ssc.context().is_stopped());
    /// ```
    pub fn stop(&self, options: StopOptions) -> Result<()> {
        let shared = &self.shared;
        {
            let mut state = shared.state.lock();
            if *state == StreamingState::Initialized {
                *state = StreamingState::Stopped;
                shared.graph.set_phase(Phase::Stopped);
                shared.state_changed.notify_all();
                *shared.checkpoint_lock.lock() = None;
                shared
                    .reporter
                    .stop_by(std::time::Instant::now() + Duration::from_secs(1));
                if options.stop_context {
                    shared.ctx().stop();
                }
                return Ok(());
            }
        }
        if shared.stopping.swap(true, Ordering::SeqCst) {
            // Another thread is stopping it: wait for that to finish.
            let mut state = shared.state.lock();
            while *state != StreamingState::Stopped {
                shared.state_changed.wait(&mut state);
            }
            return Ok(());
        }
        let running = shared.running.lock().take();
        if let Some(tracker) = running.as_ref().and_then(|r| r.receivers.as_ref()) {
            // Executors stop their receivers and report what those stored.
            tracker.stop_receivers(&shared.graph);
        }
        let inputs = shared.inputs.all();
        // Stop receiving first: from here on, nothing new enters.
        for input in &inputs {
            input.stop();
        }
        let mut result = Ok(());
        let executor = !shared.ctx().is_driver();
        let deadline = std::time::Instant::now() + shared.settings.graceful_timeout;
        if let Some(mut running) = running {
            // An executor follows the driver's batches until the driver stops.
            if options.graceful && shared.failure.lock().is_none() && !executor {
                running.scheduler.drain();
                if !running
                    .scheduler
                    .wait_done(shared.settings.graceful_timeout)
                {
                    result = Err(shared.stop_timed_out());
                }
            }
            running.scheduler.halt();
            // Bounded too: a thread stuck in a closure or a blocking call must not hold the stop
            // (or the process) past spate.streaming.gracefulStopTimeout.
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if !running
                .scheduler
                .join_within(left.max(Duration::from_millis(100)))
            {
                result = Err(shared.stop_timed_out());
            }
            if let Some(mut tracker) = running.receivers.take() {
                tracker.stop();
            }
            if shared.ctx().is_cluster_driver() {
                crate::scheduler::announce(shared.ctx(), &crate::scheduler::Announcement::Stopped);
            }
            if let Some(rt) = running.runtime.take() {
                rt.shutdown_background();
            }
            if let Some(signals) = running.signals.take() {
                signals.close();
            }
            #[cfg(feature = "ui")]
            if let Some(ui) = running.ui.take() {
                ui.stop();
            }
            *shared.ui_url.lock() = None;
        }
        if let Some(failed) = shared.checkpoints.take_failure() {
            // A restart would not resume from where this run ended: not a clean stop, for
            // `stop()` and for `await_termination` (so the program does not exit 0).
            let again = failed.checkpoint_failure_copy();
            shared.failure.lock().get_or_insert(failed);
            if result.is_ok()
                && let Some(again) = again
            {
                result = Err(again);
            }
        }
        *shared.checkpoint_lock.lock() = None;
        // Listeners hear everything that happened before stop() returns (bounded, too).
        shared.reporter.stop_by(deadline);
        shared.forget_everything();
        // Break the graph's reference cycles so everything it held is freed.
        shared.graph.clear();
        if options.stop_context {
            shared.ctx().stop();
        }
        shared.graph.set_phase(Phase::Stopped);
        *shared.state.lock() = StreamingState::Stopped;
        shared.state_changed.notify_all();
        result
    }

    /// Blocks until the context stops. Returns the error that stopped it, if one did (a failed
    /// batch), once.
    ///
    /// # Examples
    ///
    /// ```
    /// use spate_streaming::{StopOptions, StreamingContext};
    /// let ssc = StreamingContext::new(spate_core::Conf::new().set_master("local[1]"), std::time::Duration::from_secs(1)).unwrap();
    /// ssc.stop(StopOptions::default()).unwrap();
    /// ssc.await_termination().unwrap();
    /// ```
    pub fn await_termination(&self) -> Result<()> {
        let mut state = self.shared.state.lock();
        while *state != StreamingState::Stopped {
            self.shared.state_changed.wait(&mut state);
        }
        drop(state);
        self.shared.failure.lock().take().map_or(Ok(()), Err)
    }

    /// [`StreamingContext::await_termination`] for at most `timeout`: `Ok(true)` if stopped.
    ///
    /// # Examples
    ///
    /// ```
    /// let ssc = spate_streaming::StreamingContext::new(spate_core::Conf::new().set_master("local[1]"), std::time::Duration::from_secs(1)).unwrap();
    /// assert!(!ssc.await_termination_timeout(std::time::Duration::from_millis(10)).unwrap());
    /// ```
    pub fn await_termination_timeout(&self, timeout: Duration) -> Result<bool> {
        let deadline = std::time::Instant::now() + timeout;
        let mut state = self.shared.state.lock();
        while *state != StreamingState::Stopped {
            if self
                .shared
                .state_changed
                .wait_until(&mut state, deadline)
                .timed_out()
            {
                return Ok(false);
            }
        }
        drop(state);
        self.shared.failure.lock().take().map_or(Ok(true), Err)
    }
}
