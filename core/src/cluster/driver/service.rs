//! The `Driver` gRPC service executors call: registration (with the build and graph checks,
//! then the command stream), heartbeats, task results, and the block and map-output lookups.

use super::*;

/// The `Driver` gRPC service.
pub(super) struct DriverService(pub(super) Arc<DriverState>);

type CommandStream =
    Pin<Box<dyn tokio_stream::Stream<Item = std::result::Result<pb::Command, Status>> + Send>>;

#[tonic::async_trait]
impl pb::driver_server::Driver for DriverService {
    type RegisterStream = CommandStream;

    async fn register(
        &self,
        req: Request<pb::RegisterRequest>,
    ) -> std::result::Result<Response<CommandStream>, Status> {
        let peer: Option<SocketAddr> = req.remote_addr();
        let r = req.into_inner();
        let shared = &self.0;
        if r.build_id != shared.build_id {
            let message = format!(
                "executor {} runs another binary than the driver: {} (build {}) on {}, the driver \
                 build {}; start every executor from the driver's binary (the same path on a \
                 shared file system, or the same file copied to every node)",
                r.executor_id, r.executable, r.build_id, r.host, shared.build_id
            );
            eprintln!("spate: refused executor {}: {message}", r.executor_id);
            return Err(Status::failed_precondition(message));
        }
        let (tx, rx) = mpsc::unbounded_channel();
        {
            let mut st = shared.state.lock();
            if st.stopping {
                return Err(Status::unavailable("the driver is stopping"));
            }
            if st.executors.contains_key(&r.executor_id) {
                return Err(Status::already_exists(format!(
                    "executor id {} is already registered; give each executor its own \
                     SPATE_EXECUTOR_ID",
                    r.executor_id
                )));
            }
            st.empty_since = None;
            // The control log so far, before anything newer (same lock as `publish`): all of it
            // for one of the first executors (it replays the program from the start), else its
            // tail, as replayed (a replacement catches up and joins the work in progress).
            let replayed = st.all_registered();
            st.registered = (st.registered + 1).min(st.expected);
            let replacing =
                st.starting.remove(&r.executor_id) && r.executor_id >= st.expected as u32;
            let last = st.control.len().saturating_sub(1);
            for (i, payload) in st.control.iter().enumerate() {
                let payload = payload.clone();
                let kind = match (replayed, i == last) {
                    (false, _) => pb::command::Kind::Control(payload),
                    (true, false) => pb::command::Kind::ReplayedControl(payload),
                    (true, true) => pb::command::Kind::LastReplayedControl(payload),
                };
                let _ = tx.send(Ok(pb::Command { kind: Some(kind) }));
            }
            let cores = (r.cores as usize).max(1);
            st.executors.insert(
                r.executor_id,
                ExecutorEntry {
                    address: r.address.clone(),
                    host: r.host.clone(),
                    cores,
                    free: cores,
                    last_seen: Instant::now(),
                    commands: tx,
                    ready: HashSet::new(),
                    reached: None,
                },
            );
            st.prune(shared.replacement.enabled);
            if replacing {
                eprintln!(
                    "spate: executor {} registered, replacing a lost one: {} of {} executors live",
                    r.executor_id,
                    st.executors.len(),
                    st.expected
                );
            }
            let e = &st.executors[&r.executor_id];
            tracing::info!(
                "executor {} registered: {} cores on {} ({}, pid {}, from {peer:?})",
                r.executor_id,
                e.cores,
                e.host,
                e.address,
                r.pid
            );
        }
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::UnboundedReceiverStream::new(rx),
        )))
    }

    async fn heartbeat(
        &self,
        req: Request<pb::HeartbeatRequest>,
    ) -> std::result::Result<Response<pb::HeartbeatReply>, Status> {
        let id = req.into_inner().executor_id;
        let mut st = self.0.state.lock();
        let known = match st.executors.get_mut(&id) {
            Some(e) => {
                e.last_seen = Instant::now();
                true
            }
            None => false,
        };
        Ok(Response::new(pb::HeartbeatReply { known }))
    }

    async fn job_ready(
        &self,
        req: Request<pb::JobReadyRequest>,
    ) -> std::result::Result<Response<pb::JobReadyReply>, Status> {
        let r = req.into_inner();
        let job = JobId(r.job);
        let mut changed = self.0.changed.subscribe();
        loop {
            {
                let mut st = self.0.state.lock();
                if st.stopping {
                    return Err(Status::cancelled("the driver stopped"));
                }
                if !st.executors.contains_key(&r.executor_id) {
                    return Err(Status::not_found(format!(
                        "executor {} is not registered (lost or refused)",
                        r.executor_id
                    )));
                }
                if job < st.pruned_below && !st.jobs.contains_key(&job) {
                    // Every executor the driver started had passed it: this one joined after.
                    let reason = format!(
                        "executor {} asked about {job}, which every executor had passed and the \
                         driver no longer keeps: it joined too late to follow the program",
                        r.executor_id
                    );
                    drop(st);
                    self.0.refuse(r.executor_id, &reason);
                    return Err(Status::failed_precondition(reason));
                }
                if let Some(j) = st.jobs.get(&job) {
                    if j.fingerprint != r.fingerprint {
                        let reason = format!(
                            "its program built another graph for {job}: the driver's is {} \
                             (fingerprint {}), the executor's {} (fingerprint {}); every process \
                             must run the same binary with the same arguments, and control flow \
                             may depend only on action results",
                            j.description, j.fingerprint, r.description, r.fingerprint
                        );
                        drop(st);
                        self.0.refuse(r.executor_id, &reason);
                        return Err(Status::failed_precondition(reason));
                    }
                    let reply = pb::JobReadyReply {
                        rdd_ids: j.rdd_ids.clone(),
                        shuffle_ids: j.shuffle_ids.clone(),
                        ended: j.ended.clone(),
                    };
                    if let Some(e) = st.executors.get_mut(&r.executor_id) {
                        e.reached = e.reached.max(Some(job));
                        if reply.ended.is_none() {
                            e.ready.insert(job);
                        }
                    }
                    if reply.ended.is_none() {
                        self.0.dispatch(&mut st);
                    } else {
                        st.prune(self.0.replacement.enabled);
                    }
                    // An executor that reaches an ended job gets its result here.
                    if let Some(pb::JobEnded {
                        outcome: Some(pb::job_ended::Outcome::Result(frame)),
                        ..
                    }) = &reply.ended
                    {
                        self.0
                            .result_bytes
                            .fetch_add(frame.len() as u64, std::sync::atomic::Ordering::Relaxed);
                    }
                    return Ok(Response::new(reply));
                }
            }
            if changed.changed().await.is_err() {
                return Err(Status::cancelled("the driver stopped"));
            }
        }
    }

    async fn fetch_input_block(
        &self,
        req: Request<pb::InputBlockRequest>,
    ) -> std::result::Result<Response<pb::InputBlockReply>, Status> {
        let r = req.into_inner();
        let ctx = self
            .0
            .ctx
            .upgrade()
            .ok_or_else(|| Status::unavailable("the driver is stopping"))?;
        let shared = Arc::clone(&self.0);
        let reply = tokio::task::spawn_blocking(move || {
            // Held here only when read back from a write-ahead log; else on executors, which
            // the reply names.
            let block = crate::ids::InputBlockId {
                stream: r.stream,
                seq: r.seq,
            };
            shared.input_reply(&ctx.blocks, block)
        })
        .await
        .map_err(|e| Status::internal(e.to_string()))?;
        reply.map(Response::new)
    }

    async fn report_input(
        &self,
        req: Request<pb::InputReport>,
    ) -> std::result::Result<Response<pb::Ack>, Status> {
        let shared = Arc::clone(&self.0);
        let r = req.into_inner();
        if !shared.state.lock().executors.contains_key(&r.executor_id) {
            // A lost executor's late report: its copies are no copies.
            return Err(Status::failed_precondition(format!(
                "executor {} is not registered",
                r.executor_id
            )));
        }
        tokio::task::spawn_blocking(move || shared.input_reported(r))
            .await
            .map_err(|e| Status::internal(format!("input report: {e}")))?;
        Ok(Response::new(pb::Ack {}))
    }

    async fn task_done(
        &self,
        req: Request<pb::TaskResult>,
    ) -> std::result::Result<Response<pb::Ack>, Status> {
        let shared = Arc::clone(&self.0);
        let r = req.into_inner();
        // The scheduler's completion callback may decode a large result: not on the reactor.
        tokio::task::spawn_blocking(move || shared.task_done(r))
            .await
            .map_err(|e| Status::internal(format!("task report: {e}")))?;
        Ok(Response::new(pb::Ack {}))
    }
}
