//! An intake in a cluster application, on both sides. On the executor its receiver runs on
//! (*hosted*): each cut's blocks are stored in this executor's block store, copied to a second
//! executor (the replica the driver chose), then reported to the driver — a durable store
//! returns only after that — with the receiver's statistics and events. On the driver
//! (*remote*): nothing is received; reported blocks (ids and record counts, never the records)
//! wait for a batch as locally received ones do, and the executor's statistics stand in for
//! the intake's own.

use super::*;
use crate::recovery::wal::{WalRef, WriteAheadLog};
use spate_core::ReportedBlock;

/// Where a hosted receiver's blocks go: set by the driver's placement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Hosting {
    /// The placement's generation: block ids start at `generation << GENERATION_SHIFT`, so a
    /// receiver restarted elsewhere never reuses an id.
    pub(crate) generation: u64,
    /// This executor.
    pub(crate) me: u32,
    /// The executor that keeps a copy of every block (id, service address), if any.
    pub(crate) replica: Option<(u32, String)>,
}

/// A hosted receiver's news for the driver's listeners.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) enum RemoteEvent {
    Started(String),
    Stopped(String),
    Error(String),
}

/// The streaming layer's part of an input report.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct HostedReport {
    pub(crate) generation: u64,
    pub(crate) stats: RemoteStats,
    pub(crate) events: Vec<RemoteEvent>,
    /// The receiver stopped here and everything it stored has been reported.
    pub(crate) finished: bool,
    /// With the write-ahead log on: where each reported block is in it, in order.
    pub(crate) logged: Vec<Option<WalRef>>,
}

/// The receiving executor's counters, as the driver shows them.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize)]
pub(crate) struct RemoteStats {
    pub(crate) records: u64,
    pub(crate) invalid_utf8: u64,
    pub(crate) oversized: u64,
    pub(crate) connect_failures: u64,
    pub(crate) errors: u64,
    pub(crate) wal_bytes: u64,
    pub(crate) rate_limit: Option<u64>,
    /// Nanoseconds the receiver was held back since the last report (backpressure's input).
    pub(crate) held_back_ns: u64,
}

/// The cluster side of an intake's state.
#[derive(Default)]
pub(super) struct ClusterSide {
    /// On an executor running the receiver.
    pub(super) hosting: Option<Hosting>,
    /// Hosted: blocks reported and not yet allocated by the driver (seq → records), so the
    /// batch that takes them releases their pending records here.
    pub(super) unallocated: BTreeMap<u64, usize>,
    /// Hosted: events not yet sent.
    pub(super) events: Vec<RemoteEvent>,
    /// Hosted: the next report is the last of this run.
    pub(super) finishing: bool,
    /// On the driver: the receiver runs on an executor; its statistics and whether it has
    /// finished (or its executor is gone, during a stop).
    pub(super) remote: Option<RemoteSide>,
}

#[derive(Default)]
pub(super) struct RemoteSide {
    pub(super) stats: RemoteStats,
    pub(super) finished: bool,
    /// With the write-ahead log on: where each block not yet released is in the log (read
    /// back when every copy of it is lost).
    pub(super) logged_at: std::collections::HashMap<InputBlockId, WalRef>,
}

impl<T: Data> Intake<T> {
    /// On an executor: the receiver runs here from now on, as placement `hosting` says.
    pub(crate) fn start_hosting(&self, hosting: Hosting) {
        let mut st = self.state.lock();
        let first = hosting.generation << InputBlockId::GENERATION_SHIFT;
        st.next_seq = st.next_seq.max(first);
        st.cluster.finishing = false;
        st.cluster.hosting = Some(hosting);
    }

    /// On an executor: the replica changed (the old one was lost, or a second executor came).
    pub(crate) fn set_replica(&self, replica: Option<(u32, String)>) {
        if let Some(h) = self.state.lock().cluster.hosting.as_mut() {
            h.replica = replica;
        }
    }

    pub(crate) fn hosting(&self) -> Option<Hosting> {
        self.state.lock().cluster.hosting.clone()
    }

    /// On an executor whose receiver was stopped: what it stored goes into a last cut, reported
    /// as this run's last; then the intake no longer hosts.
    pub(crate) fn finish_hosting(&self) {
        {
            let mut st = self.state.lock();
            if st.cluster.hosting.is_none() {
                return;
            }
            st.cluster.finishing = true;
        }
        self.seal_then(self.ctx.default_parallelism(), |st| {
            st.cluster.hosting = None;
        });
    }

    /// A receiver's event: to the listeners here, or, hosted, to the driver's with the next
    /// report.
    pub(crate) fn post(&self, reporter: &crate::listener::Reporter, event: crate::listener::Event) {
        use crate::listener::Event;
        let mut st = self.state.lock();
        if st.cluster.hosting.is_none() {
            drop(st);
            // Received here, in the driver (local mode, or with the write-ahead log on).
            let here = |mut info: crate::listener::ReceiverInfo| {
                info.executor_id = "driver".into();
                info.host = nix::unistd::gethostname()
                    .ok()
                    .and_then(|h| h.into_string().ok())
                    .unwrap_or_else(|| "localhost".into());
                info
            };
            reporter.post(match event {
                Event::ReceiverStarted(info) => Event::ReceiverStarted(here(info)),
                Event::ReceiverStopped(info) => Event::ReceiverStopped(here(info)),
                other => other,
            });
            return;
        }
        let remote = match event {
            Event::ReceiverStarted(info) => RemoteEvent::Started(info.name),
            Event::ReceiverStopped(info) => RemoteEvent::Stopped(info.name),
            Event::ReceiverError(_, message) => RemoteEvent::Error(message),
            _ => return,
        };
        // Bounded: a receiver reporting errors in a loop while reports fail keeps the last.
        if st.cluster.events.len() >= 100 {
            st.cluster.events.remove(0);
        }
        st.cluster.events.push(remote);
    }

    /// The hosted side of a cut (see [`Intake::seal_with`]): `pieces` are stored here,
    /// copied to the replica and reported to the driver, with only the log's lock held.
    pub(super) fn seal_hosted<R>(
        &self,
        mut st: parking_lot::MutexGuard<'_, IntakeState<T>>,
        log: &mut Option<WriteAheadLog>,
        pieces: Vec<Received<T>>,
        through: u64,
        then: impl FnOnce(&mut IntakeState<T>) -> R,
    ) -> R {
        let hosting = st.cluster.hosting.clone().expect("hosted");
        let ids: Vec<InputBlockId> = pieces.iter().map(|_| self.next_block_id(&mut st)).collect();
        // Awaiting their batch from now on: the driver may allocate them (and this executor
        // follow that) as soon as it has the report, before this thread runs again.
        for (id, piece) in ids.iter().zip(&pieces) {
            st.cluster.unallocated.insert(id.seq, piece.len());
        }
        let events = std::mem::take(&mut st.cluster.events);
        let finished = st.cluster.finishing;
        st.sealing = true;
        drop(st);
        // With the log on, the cut is written (one write, one sync) before anything else.
        let refs = match log.as_mut() {
            Some(wal) => self.log_blocks(wal, &pieces),
            None => vec![None; pieces.len()],
        };
        let log_failed = log.is_some() && refs.iter().any(Option::is_none);
        let mut blocks = Vec::with_capacity(pieces.len());
        let mut logged = Vec::with_capacity(pieces.len());
        let mut dropped = Vec::new();
        for ((id, piece), at) in ids.into_iter().zip(pieces).zip(refs) {
            let n = piece.len();
            if let Err(e) = piece.store(&self.ctx, id) {
                self.counters.errors.fetch_add(1, Ordering::Relaxed);
                tracing::error!(
                    "{}: could not store block {id} of {n} records: {e}",
                    self.stream
                );
                dropped.push(id);
                continue;
            }
            let mut holders = vec![hosting.me];
            if let Some((peer, address)) = &hosting.replica {
                match self.ctx.replicate_input_block(id, address) {
                    Ok(()) => holders.push(*peer),
                    Err(e) => {
                        // One copy is still a copy: the batch reads it while this executor
                        // lives.
                        self.counters.errors.fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(
                            "{}: block {id} has one copy: copying it to executor {peer} failed: {e}",
                            self.stream
                        );
                    }
                }
            }
            blocks.push(ReportedBlock {
                id,
                records: n as u64,
                holders,
            });
            logged.push(at);
        }
        let report = HostedReport {
            generation: hosting.generation,
            stats: self.remote_stats(),
            events,
            finished,
            logged,
        };
        let sent = spate_core::codec::encode(&report).and_then(|payload| {
            self.ctx
                .report_input(self.stream.0, blocks.clone(), payload)
        });
        let mut st = self.state.lock();
        st.sealing = false;
        if log_failed {
            st.log_failures += 1;
        }
        if let Err(e) = sent {
            // The driver never heard of them: no batch will take them. A durable store
            // spanning them returns false, so its source sends them again.
            let n: u64 = blocks.iter().map(|b| b.records).sum();
            self.counters.errors.fetch_add(1, Ordering::Relaxed);
            tracing::error!(
                "{}: could not report {} block(s) of {n} records to the driver: {e}",
                self.stream,
                blocks.len()
            );
            st.log_failures += 1;
            let ids: Vec<InputBlockId> = blocks.iter().map(|b| b.id).collect();
            self.ctx.remove_input_blocks(&ids);
            dropped.extend(ids);
        }
        // Never a batch's: they no longer count as pending.
        for id in dropped {
            let n = st.cluster.unallocated.remove(&id.seq).unwrap_or(0);
            st.pending -= n;
        }
        st.sealed_through = st.sealed_through.max(through);
        then(&mut st)
    }

    fn remote_stats(&self) -> RemoteStats {
        let c = &self.counters;
        RemoteStats {
            records: c.records.load(Ordering::Relaxed),
            invalid_utf8: c.invalid_utf8.load(Ordering::Relaxed),
            oversized: c.oversized.load(Ordering::Relaxed),
            connect_failures: c.connect_failures.load(Ordering::Relaxed),
            errors: c.errors.load(Ordering::Relaxed),
            wal_bytes: c.wal_bytes.load(Ordering::Relaxed),
            rate_limit: self.rate().map(|r| r.round() as u64),
            held_back_ns: self.held_back_ns.swap(0, Ordering::Relaxed),
        }
    }

    /// Hosted: batch `time` takes these of the blocks this executor reported; their records
    /// stop counting as pending when it is done.
    pub(super) fn pending_of_hosted(&self, st: &mut IntakeState<T>, ids: &[InputBlockId]) -> usize {
        if st.cluster.unallocated.is_empty() {
            return 0;
        }
        ids.iter()
            .filter(|id| id.stream == self.stream.0)
            .filter_map(|id| st.cluster.unallocated.remove(&id.seq))
            .sum()
    }

    /// On a cluster driver: the receiver runs on an executor, which reports its blocks.
    pub(crate) fn run_remotely(&self) {
        self.state
            .lock()
            .cluster
            .remote
            .get_or_insert_with(RemoteSide::default);
    }

    /// On a cluster driver: executor blocks and news. Returns the events to post.
    pub(crate) fn reported(&self, blocks: &[ReportedBlock], report: &HostedReport) {
        let mut st = self.state.lock();
        for (i, b) in blocks.iter().enumerate() {
            let n = b.records as usize;
            let at = report.logged.get(i).copied().flatten();
            st.blocks.add(b.id, at, n);
            st.pending += n;
            if let Some(at) = at {
                st.last_ref = st.last_ref.max(Some(at));
                if let Some(remote) = st.cluster.remote.as_mut() {
                    remote.logged_at.insert(b.id, at);
                }
            }
        }
        if let Some(remote) = st.cluster.remote.as_mut() {
            remote.stats = report.stats;
            remote.finished |= report.finished;
        }
        drop(st);
        // The batch that takes these blocks was held back this long (backpressure reads it).
        self.add_held_back(Duration::from_nanos(report.stats.held_back_ns));
    }

    /// On a cluster driver: records the receiver's executor has stored so far (for the
    /// estimator), if the receiver runs on one.
    pub(super) fn remote_records(&self) -> Option<u64> {
        self.state
            .lock()
            .cluster
            .remote
            .as_ref()
            .map(|r| r.stats.records)
    }

    /// On the executor running the receiver: the rate backpressure set on the driver.
    pub(crate) fn follow_rate(&self, rate: Option<f64>) {
        if self.state.lock().cluster.hosting.is_none() {
            return;
        }
        match rate {
            Some(r) => self.limiter.set_rate(r),
            None => self.limiter.unlimit(),
        }
        if rate.is_some() && !self.calibrated.swap(true, Ordering::Relaxed) {
            // Waiting under the half bound: the full one applies from now.
            drop(self.state.lock());
            self.space.notify_all();
            self.space_async.notify_waiters();
        }
    }

    /// On a cluster driver, stopping: the receiver's executor is gone, so nothing more will
    /// come (a graceful stop need not wait for its last report).
    pub(crate) fn remote_gone(&self) {
        if let Some(remote) = self.state.lock().cluster.remote.as_mut() {
            remote.finished = true;
        }
    }

    /// On a cluster driver: whether the receiver's executor has reported all it received.
    pub(super) fn remote_finished(&self, st: &IntakeState<T>) -> bool {
        st.cluster.remote.as_ref().is_none_or(|r| r.finished)
    }

    /// On a cluster driver: the executor's statistics in place of the intake's own.
    pub(super) fn remote_stats_into(&self, st: &IntakeState<T>, stats: &mut ReceiverStats) {
        if let Some(r) = &st.cluster.remote {
            let s = r.stats;
            stats.records = s.records;
            stats.invalid_utf8_lines = s.invalid_utf8;
            stats.oversized_lines_skipped = s.oversized;
            stats.connect_failures = s.connect_failures;
            stats.errors = s.errors;
            stats.wal_bytes = s.wal_bytes;
            stats.rate_limit = s.rate_limit;
        }
    }
}
