//! A receiver input in a cluster application: on the executor the driver placed it on, its
//! receiver runs under a supervisor as in local mode, on a runtime of its own, its intake
//! hosted (blocks stored here, copied to the replica, reported); on the driver, reports become
//! blocks waiting for a batch and events for the listeners, named with the executor.

use std::sync::Arc;

use spate_core::{Data, InputReport};

use super::control::ReceiverInput;
use super::intake::{HostedReport, Hosting};
use super::placement::Placement;
use super::receiver::Supervisor;
use crate::listener::{Event, ReceiverInfo, Reporter};

impl<T: Data> ReceiverInput<T> {
    /// On an executor: starts, keeps, moves or stops the receiver as `placement` says.
    pub(super) fn host_here(
        &self,
        placement: Option<&Placement>,
        me: u32,
        reporter: &Reporter,
        wal_dir: Option<&std::path::Path>,
    ) {
        let here = placement.filter(|p| p.executor == me);
        let running = self.supervisor.lock().is_some();
        let current = self.intake.hosting();
        match (here, current) {
            (Some(p), Some(h)) if running && h.generation == p.generation => {
                // Only the replica changed.
                if h.replica != p.replica {
                    self.intake.set_replica(p.replica.clone());
                }
            }
            (Some(p), _) => {
                self.stop_here();
                self.intake.start_hosting(Hosting {
                    generation: p.generation,
                    me,
                    replica: p.replica.clone(),
                });
                if let Some(rolling) = self.wal_rolling {
                    // The log in the checkpoint directory, which every host sees, after the
                    // segments of the receiver's earlier runs.
                    let enabled = match wal_dir {
                        Some(dir) => self.intake.enable_wal(dir, rolling),
                        None => Err(crate::Error::CheckpointDirRequired {
                            stream: "the write-ahead log on this executor".into(),
                        }),
                    };
                    if let Err(e) = enabled {
                        // Unlogged blocks would break the log's promise: the receiver stays off
                        // (its errors reach the driver's listeners through the next report).
                        tracing::error!("{}: {e}", self.intake.stream);
                        self.intake.post(
                            reporter,
                            Event::ReceiverError(
                                self.intake.stream,
                                format!("cannot open the write-ahead log here: {e}"),
                            ),
                        );
                        self.intake.finish_hosting();
                        return;
                    }
                }
                let Some(receiver) = self.receiver.lock().take() else {
                    tracing::error!(
                        "{}: the receiver was not given back by its last run; it cannot start here",
                        self.intake.stream
                    );
                    return;
                };
                let runtime = match self.runtime() {
                    Ok(rt) => rt,
                    Err(e) => {
                        tracing::error!("{}: {e}", self.intake.stream);
                        *self.receiver.lock() = Some(receiver);
                        return;
                    }
                };
                let supervisor = Supervisor::start(
                    receiver,
                    Arc::clone(&self.intake),
                    reporter.clone(),
                    self.settings,
                    runtime,
                );
                *self.supervisor.lock() = Some(supervisor);
                *self.placement.lock() = Some(p.clone());
                tracing::info!(
                    "{}: the receiver runs on this executor (replica: {})",
                    self.intake.stream,
                    p.replica
                        .as_ref()
                        .map_or_else(|| "none".to_string(), |(id, _)| format!("executor {id}"))
                );
            }
            (None, _) => self.stop_here(),
        }
    }

    /// On an executor: stops the receiver if it runs here, and reports what it stored.
    pub(super) fn stop_here(&self) {
        let stopped = self.supervisor.lock().take().map(|mut s| s.stop());
        if let Some(receiver) = stopped.flatten() {
            *self.receiver.lock() = Some(receiver);
        }
        self.intake.finish_hosting();
    }

    fn runtime(&self) -> std::io::Result<tokio::runtime::Handle> {
        if let Some(rt) = self.runtime.get() {
            return Ok(rt.handle().clone());
        }
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("spate-receiver-io")
            .enable_all()
            .build()?;
        Ok(self.runtime.get_or_init(|| rt).handle().clone())
    }

    /// On a cluster driver: an executor's report.
    pub(super) fn remote_report(&self, report: InputReport, reporter: &Reporter) {
        let hosted: HostedReport =
            match spate_core::codec::decode(&report.payload, "an executor's input report") {
                Ok(h) => h,
                Err(e) => {
                    tracing::error!("{}: {e}", self.intake.stream);
                    return;
                }
            };
        self.intake.reported(&report.blocks, &hosted);
        let host = self
            .placement
            .lock()
            .as_ref()
            .filter(|p| p.executor == report.executor)
            .map(|p| p.host.clone())
            .unwrap_or_default();
        let info = |name: String, active: bool| ReceiverInfo {
            stream: self.intake.stream,
            name,
            active,
            executor_id: report.executor.to_string(),
            host: host.clone(),
        };
        for event in hosted.events {
            reporter.post(match event {
                super::intake::RemoteEvent::Started(name) => {
                    Event::ReceiverStarted(info(name, true))
                }
                super::intake::RemoteEvent::Stopped(name) => {
                    Event::ReceiverStopped(info(name, false))
                }
                super::intake::RemoteEvent::Error(message) => Event::ReceiverError(
                    self.intake.stream,
                    format!("on executor {}: {message}", report.executor),
                ),
            });
        }
    }
}
