//! Replacing lost executors: the backend starts a new one with the next id, so the application
//! keeps its executor count, within a failure budget against crash loops
//! (`spate.executor.maxFailures` per `spate.executor.failuresValidityInterval`). What a
//! replacement needs to join a running job (the prologue's jobs, the batch in progress, the
//! control log's tail) the driver keeps in `State`; see `State::prune`.

use super::*;

/// `spate.executor.replace`, `maxFailures` and `failuresValidityInterval`.
pub(super) struct Replacement {
    pub(super) enabled: bool,
    pub(super) max_failures: usize,
    pub(super) window: Duration,
}

pub(super) struct Launcher {
    pub(super) backend: Box<dyn ExecutorBackend>,
    pub(super) spec: LaunchSpec,
    pub(super) on_exit: backend::OnExit,
}

impl DriverState {
    /// Executor `executor` exited with status 0 while the driver runs: its program ended
    /// (usually just before the driver's, after the last job). Lost, not replaced.
    pub(super) fn executor_ended(&self, executor: u32) {
        self.state.lock().starting.remove(&executor);
        self.lose_executor_as(executor, "its program ended (exit status 0)", false);
    }

    /// Asks the backend for a new executor in place of lost `executor`, so the application
    /// keeps its executor count — unless replacement is off, the count is kept already, or
    /// more than `spate.executor.maxFailures` executors were lost within
    /// `spate.executor.failuresValidityInterval`: then the application's tasks fail with an
    /// error that says so (a crash loop must end).
    pub(super) fn replace_lost(&self, executor: u32, reason: &str) {
        if !self.replacement.enabled {
            return;
        }
        let id = {
            let mut st = self.state.lock();
            if st.stopping || st.failed.is_some() {
                return;
            }
            if let Some(why) = &st.no_replacement {
                eprintln!(
                    "spate: executor {executor} is not replaced ({why}): the application goes on \
                     with {} executor(s)",
                    st.executors.len()
                );
                return;
            }
            let now = Instant::now();
            st.failures.push_back(now);
            while st
                .failures
                .front()
                .is_some_and(|t| now.duration_since(*t) > self.replacement.window)
            {
                st.failures.pop_front();
            }
            if st.failures.len() > self.replacement.max_failures {
                let why = format!(
                    "{} executors were lost within {:?}, more than spate.executor.maxFailures \
                     ({}) allows; the last, executor {executor}: {reason}. Not replacing any \
                     more: see the executor logs in {}",
                    st.failures.len(),
                    self.replacement.window,
                    self.replacement.max_failures,
                    self.log_dir.display()
                );
                st.failed = Some(why.clone());
                let pending: Vec<RemoteTask> = st.pending.drain(..).collect();
                drop(st);
                tracing::error!("{why}");
                eprintln!("spate: {why}");
                for t in pending {
                    (t.done)(Err(Error::cluster(why.clone())));
                }
                return;
            }
            if st.executors.len() + st.starting.len() >= st.expected {
                return;
            }
            let id = st.next_id;
            st.next_id += 1;
            st.starting.insert(id);
            id
        };
        let started = match self.launcher.lock().as_mut() {
            Some(l) => l
                .backend
                .start_executor(&l.spec, id, true, &l.on_exit)
                .map(|()| l.backend.name()),
            None => return,
        };
        match started {
            Ok(backend) => {
                eprintln!(
                    "spate: starting executor {id} on {backend} to replace executor {executor}"
                )
            }
            Err(e) => {
                eprintln!("spate: cannot start executor {id} to replace executor {executor}: {e}");
                self.state.lock().starting.remove(&id);
                // Counted as another loss: a backend that cannot start executors spends the
                // budget and ends in its error, not in a silent shrink.
                self.replace_lost(id, &e.to_string());
            }
        }
    }
}
