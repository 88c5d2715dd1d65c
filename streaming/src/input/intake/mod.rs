//! Input streams: where each batch's records come from.
//!
//! A receiver stores records into its stream's [`Intake`]: a current buffer that a block thread
//! cuts into a block every `spate.streaming.blockInterval`. Each block goes into the core block
//! store under an [`InputBlockId`] (stream, sequence number). At each batch time the job
//! generator *allocates* the blocks received since the previous batch (flushing the current
//! buffer too) to the new batch; the batch's input RDD has one partition per block and reads
//! them from the block store by id. When the batch completes its blocks are removed. Records
//! are counted as pending from `store` until their batch completes; while more than
//! `spate.streaming.receiver.maxPendingRecords` are pending, `store` waits — a socket receiver
//! then stops reading, and TCP slows the sender down. Nothing is dropped.
//!
//! Here: buffering, cuts into blocks and their allocation to batches. `received`: what a
//! receiver stored (records, or lines in their buffers) on its way to a block; `pacing`: the
//! pending bound, `maxRate` and backpressure; `log`: the intake's side of the write-ahead log.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::{Condvar, Mutex};
use spate_core::ids::InputBlockId;
use spate_core::{Context, Data, Rdd, TextLines};

use super::rate::{
    BatchObservation, PidRateEstimator, RateDecision, RateEstimator, RateLimiter,
    SteadyRateEstimator,
};
use crate::common::Time;
use crate::common::{ReceiverStats, StreamId};
use crate::dstream::StreamOp;
use crate::recovery::wal::{WalRef, WriteAheadLog};

mod hosted;
mod log;
mod pacing;
mod received;

pub(crate) use hosted::{HostedReport, Hosting, RemoteEvent};

pub(crate) use pacing::{EstimatorKind, RateSettings};
pub(crate) use received::Received;
use serde::{Deserialize, Serialize};
use spate_core::Result;

#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) records: AtomicU64,
    pub(crate) invalid_utf8: AtomicU64,
    pub(crate) oversized: AtomicU64,
    pub(crate) connect_failures: AtomicU64,
    pub(crate) errors: AtomicU64,
    pub(crate) wal_bytes: AtomicU64,
}

/// Blocks cut but not yet allocated, or allocated to one batch: their ids and record count.
impl BlockSet {
    /// Adds a stored block of `n` records (at `at` in the write-ahead log, if logged).
    fn add(&mut self, id: InputBlockId, at: Option<WalRef>, n: usize) {
        self.ids.push(id);
        self.refs.extend(at);
        self.records += n;
        self.pending += n;
    }
}

#[derive(Default)]
struct BlockSet {
    ids: Vec<InputBlockId>,
    /// Where the blocks are in the write-ahead log (when it is on).
    refs: Vec<WalRef>,
    records: usize,
    /// Of `records`, how many still count as pending (all, until the batch is done).
    pending: usize,
    /// How long the receiver was held back (by its rate limit or `maxPendingRecords`) while
    /// these records came in: it had more to store.
    held_back: Duration,
}

struct IntakeState<T> {
    /// Received since the last block was cut.
    current: Received<T>,
    /// Received before `current`, of the other kind (records before lines, or the reverse):
    /// a block holds one kind, so each is a block of its own at the next cut.
    earlier: Vec<Received<T>>,
    /// With the log on: the records stored up to here (a count, as `counters.records`) have
    /// been cut into blocks and written.
    sealed_through: u64,
    /// Log writes that failed so far (a durable store that spans one is not durable).
    log_failures: u64,
    /// Whether blocks are being written to the log (cut, not yet among `blocks`).
    sealing: bool,
    /// The log's directory, when it is on.
    log_dir: Option<PathBuf>,
    /// Since when the receiver has been waiting for pending records to clear, if it is (the
    /// wait counts as held back in the batch it falls in, even before it ends).
    waiting_since: Option<std::time::Instant>,
    next_seq: u64,
    blocks: BlockSet,
    allocated: BTreeMap<Time, BlockSet>,
    pending: usize,
    stopped: bool,
    oversized_reported: u64,
    /// The last record written to the log.
    last_ref: Option<WalRef>,
    /// With the log on: each recent batch's records in the log (kept after its blocks are
    /// released, for as long as a restart may need to replay the batch).
    logged: BTreeMap<Time, (Vec<WalRef>, usize)>,
    /// In a cluster: the receiving executor's side, or the driver's.
    cluster: hosted::ClusterSide,
}

/// The records of one receiver stream between `store` and the end of their batch.
pub(crate) struct Intake<T> {
    pub(crate) stream: StreamId,
    state: Mutex<IntakeState<T>>,
    /// The write-ahead log, when on. Its lock is taken before `state`'s and held while blocks
    /// are written and synced, with `state` free: the receiver goes on storing meanwhile, and
    /// whoever holds it writes everything stored so far (group commit of durable stores).
    log: Mutex<Option<WriteAheadLog>>,
    /// Whether the log is on (read without its lock).
    logging: std::sync::atomic::AtomicBool,
    space: Condvar,
    space_async: tokio::sync::Notify,
    max_pending: usize,
    ctx: Context,
    pub(crate) counters: Counters,
    limiter: RateLimiter,
    /// Nanoseconds the receiver waited to store since the last allocation.
    held_back_ns: AtomicU64,
    /// With backpressure: sets the limiter's rate after every batch.
    estimator: Option<Mutex<Box<dyn RateEstimator>>>,
    /// When the estimator last looked, and how many records had been stored then.
    last_observed: Mutex<Option<(std::time::Instant, u64)>>,
    /// Whether backpressure has set this stream a rate (see `must_wait`).
    calibrated: std::sync::atomic::AtomicBool,
}

impl<T: Data> Intake<T> {
    pub(crate) fn new(
        stream: StreamId,
        max_pending: usize,
        ctx: Context,
        rates: RateSettings,
    ) -> Intake<T> {
        let max = rates.max_rate.map(|r| r as f64);
        let initial = if rates.backpressure {
            rates.initial_rate.map(|r| r as f64)
        } else {
            None
        };
        Intake {
            stream,
            state: Mutex::new(IntakeState {
                current: Received::default(),
                earlier: Vec::new(),
                sealed_through: 0,
                log_failures: 0,
                sealing: false,
                log_dir: None,
                waiting_since: None,
                next_seq: 0,
                blocks: BlockSet::default(),
                allocated: BTreeMap::new(),
                pending: 0,
                stopped: false,
                oversized_reported: 0,
                last_ref: None,
                logged: BTreeMap::new(),
                cluster: hosted::ClusterSide::default(),
            }),
            log: Mutex::new(None),
            logging: std::sync::atomic::AtomicBool::new(false),
            space: Condvar::new(),
            space_async: tokio::sync::Notify::new(),
            max_pending,
            ctx,
            counters: Counters::default(),
            // A quarter of a batch interval of unused allowance may be caught up (100 ms at least).
            limiter: RateLimiter::new(
                initial,
                max,
                Duration::from_millis((rates.batch_interval_ms / 4).max(100)),
            ),
            held_back_ns: AtomicU64::new(0),
            last_observed: Mutex::new(None),
            calibrated: std::sync::atomic::AtomicBool::new(false),
            estimator: rates.backpressure.then(|| {
                let ms = rates.batch_interval_ms;
                Mutex::new(match rates.estimator {
                    EstimatorKind::Steady => {
                        Box::new(SteadyRateEstimator::new(ms)) as Box<dyn RateEstimator>
                    }
                    EstimatorKind::Pid => Box::new(PidRateEstimator::new(ms)),
                })
            }),
        }
    }

    fn accept(&self, st: &mut IntakeState<T>, items: Received<T>) {
        let n = items.len();
        if let Err(items) = st.current.append(items) {
            // Records after lines (or the reverse): a block holds one kind.
            let before = std::mem::replace(&mut st.current, items);
            st.earlier.push(before);
        }
        st.pending += n;
        self.counters.records.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// Stores `items`, waiting while too much is pending. False once stopped (items dropped
    /// only then, and the receiver is told so).
    pub(crate) fn push(&self, items: Received<T>) -> bool {
        self.push_inner(items, false)
    }

    /// [`Intake::push`], returning only once the records are in the write-ahead log (when it
    /// is on): false if they could not be logged.
    pub(crate) fn push_durable(&self, items: Received<T>) -> bool {
        self.push_inner(items, true)
    }

    fn push_inner(&self, items: Received<T>, durable: bool) -> bool {
        for piece in self.paced(items) {
            if !self.push_piece(piece, durable) {
                return false;
            }
        }
        true
    }

    fn push_piece(&self, items: Received<T>, durable: bool) -> bool {
        for pause in self.pauses(items.len()) {
            std::thread::sleep(pause);
        }
        let mut st = self.state.lock();
        if self.must_wait(&st) {
            st.waiting_since = Some(std::time::Instant::now());
            while self.must_wait(&st) && !st.stopped {
                self.space.wait(&mut st);
            }
            if let Some(since) = st.waiting_since.take() {
                self.add_held_back(since.elapsed());
            }
        }
        if st.stopped {
            return false;
        }
        self.accept(&mut st, items);
        if !durable {
            return true;
        }
        let (through, failures) = (self.stored_so_far(), st.log_failures);
        // Durable means logged or, on an executor, copied and reported to the driver.
        let hosted = st.cluster.hosting.is_some();
        drop(st);
        // Group commit: whoever holds the log's lock writes everything stored so far, so
        // durable stores waiting for it meanwhile share one write and one sync.
        let mut log = self.log.lock();
        if log.is_none() && !hosted {
            return true;
        }
        let done =
            |st: &mut IntakeState<T>| st.sealed_through >= through && st.log_failures == failures;
        {
            let mut st = self.state.lock();
            if st.sealed_through >= through {
                return done(&mut st);
            }
        }
        self.seal_with(&mut log, 1, done)
    }

    /// [`Intake::push`] for async receivers: awaits instead of blocking a runtime thread.
    pub(crate) async fn push_async(&self, items: Received<T>) -> bool {
        for piece in self.paced(items) {
            if !self.push_piece_async(piece).await {
                return false;
            }
        }
        true
    }

    async fn push_piece_async(&self, items: Received<T>) -> bool {
        for pause in self.pauses(items.len()) {
            tokio::time::sleep(pause).await;
        }
        loop {
            let notified = self.space_async.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let mut st = self.state.lock();
                if st.stopped {
                    return false;
                }
                if !self.must_wait(&st) {
                    self.accept(&mut st, items);
                    if let Some(since) = st.waiting_since.take() {
                        self.add_held_back(since.elapsed());
                    }
                    return true;
                }
                st.waiting_since.get_or_insert_with(std::time::Instant::now);
            }
            notified.await;
        }
    }

    /// Records stored so far. Written under the state lock (in `accept`), so read under it it
    /// is exact: durable stores compare it with `sealed_through`.
    fn stored_so_far(&self) -> u64 {
        self.counters.records.load(Ordering::Relaxed)
    }

    /// Cuts what was stored since the last cut into blocks (the current buffer into up to
    /// `parts` of about equal size, in order), puts them in the block store, then runs `then`
    /// with the state locked. With the log on, the blocks are first written to it, with only
    /// the log's lock held.
    fn seal_then<R>(&self, parts: usize, then: impl FnOnce(&mut IntakeState<T>) -> R) -> R {
        let mut log = self.log.lock();
        self.seal_with(&mut log, parts, then)
    }

    fn seal_with<R>(
        &self,
        log: &mut Option<WriteAheadLog>,
        parts: usize,
        then: impl FnOnce(&mut IntakeState<T>) -> R,
    ) -> R {
        let mut st = self.state.lock();
        let mut pieces: Vec<Received<T>> = std::mem::take(&mut st.earlier);
        if !st.current.is_empty() {
            pieces.extend(std::mem::take(&mut st.current).split_into(parts));
        }
        let through = self.stored_so_far();
        if st.cluster.hosting.is_some() {
            return self.seal_hosted(st, log, pieces, through, then);
        }
        let Some(wal) = log.as_mut() else {
            for piece in pieces {
                let id = self.next_block_id(&mut st);
                self.store_block(&mut st, id, piece, None);
            }
            return then(&mut st);
        };
        // Ids now, so the blocks keep their order whatever is stored meanwhile.
        let ids: Vec<InputBlockId> = pieces.iter().map(|_| self.next_block_id(&mut st)).collect();
        st.sealing = true;
        drop(st);
        let refs = self.log_blocks(wal, &pieces);
        let mut st = self.state.lock();
        st.sealing = false;
        if refs.iter().any(Option::is_none) {
            st.log_failures += 1;
        }
        for ((id, piece), at) in ids.into_iter().zip(pieces).zip(refs) {
            if at.is_some() {
                st.last_ref = at;
            }
            self.store_block(&mut st, id, piece, at);
        }
        st.sealed_through = st.sealed_through.max(through);
        then(&mut st)
    }

    /// Puts a cut block in the block store and adds it to the blocks awaiting a batch.
    fn store_block(
        &self,
        st: &mut IntakeState<T>,
        id: InputBlockId,
        records: Received<T>,
        at: Option<WalRef>,
    ) {
        let n = records.len();
        if let Err(e) = records.store(&self.ctx, id) {
            // Only a failed spill to disk can get here; the records are gone, so say so loudly.
            self.counters.errors.fetch_add(1, Ordering::Relaxed);
            tracing::error!(
                "{}: could not store block {id} of {n} records: {e}",
                self.stream
            );
            st.pending -= n;
            return;
        }
        st.blocks.add(id, at, n);
    }

    fn next_block_id(&self, st: &mut IntakeState<T>) -> InputBlockId {
        st.next_seq += 1;
        InputBlockId {
            stream: self.stream.0,
            seq: st.next_seq - 1,
        }
    }

    /// Cuts the current buffer into blocks (the block interval's tick): one per core, of about
    /// equal size. A batch's tasks are its blocks, so a block per tick gave one core a block
    /// more than the other at the end of most batches (five blocks on two cores at 1 s batches).
    pub(crate) fn cut_block(&self) {
        self.seal_then(self.ctx.default_parallelism(), |_| ());
    }

    /// Gives batch `time` every block received so far, including the current buffer.
    /// Returns the number of records.
    ///
    /// With the write-ahead log on, the batch takes only the blocks already written (until the
    /// receiver stops): writing and syncing the rest of the buffer here would hold the batch
    /// up, and the block thread writes it within a block interval for the next batch.
    pub(crate) fn allocate(&self, time: Time) -> u64 {
        let logging = self.logging.load(Ordering::Acquire);
        if logging && !self.is_stopped() {
            let mut st = self.state.lock();
            if let Some(restored) = st.allocated.get(&time) {
                return restored.records as u64;
            }
            return self.take_blocks(&mut st, time, true);
        }
        let mut log = self.log.lock();
        let parts = {
            let st = self.state.lock();
            // A batch restored from the log after a restart keeps exactly its blocks.
            if let Some(restored) = st.allocated.get(&time) {
                return restored.records as u64;
            }
            // A batch's input partitions are its blocks, one task each: with batches shorter
            // than a few block intervals, cut the rest of the buffer so every core gets a share.
            let cores = self.ctx.default_parallelism();
            cores.saturating_sub(st.blocks.ids.len()).max(1)
        };
        self.seal_with(&mut log, parts, |st| self.take_blocks(st, time, logging))
    }

    /// Gives batch `time` the blocks cut so far; returns their records.
    fn take_blocks(&self, st: &mut IntakeState<T>, time: Time, logging: bool) -> u64 {
        if let Some(since) = st.waiting_since.as_mut() {
            // Still waiting: this batch's share of the wait is held back too.
            self.add_held_back(since.elapsed());
            *since = std::time::Instant::now();
        }
        let mut blocks = std::mem::take(&mut st.blocks);
        blocks.held_back = Duration::from_nanos(self.held_back_ns.swap(0, Ordering::Relaxed));
        let n = blocks.records;
        if logging {
            st.logged.insert(time, (blocks.refs.clone(), n));
        }
        st.allocated.insert(time, blocks);
        let skipped = self.counters.oversized.load(Ordering::Relaxed);
        if skipped > st.oversized_reported {
            tracing::warn!(
                "{}: skipped {} line(s) longer than spate.streaming.receiver.maxLineBytes in the batch of {time}",
                self.stream,
                skipped - st.oversized_reported
            );
            st.oversized_reported = skipped;
        }
        n as u64
    }

    /// In an executor of a cluster application: batch `time` reads blocks `ids` (held by the
    /// driver, fetched by the tasks), as the driver allocated them.
    pub(crate) fn follow_allocation(&self, time: Time, ids: Vec<InputBlockId>, records: usize) {
        let mut st = self.state.lock();
        // On the executor that received them, they stop counting as pending with the batch.
        let pending = self.pending_of_hosted(&mut st, &ids);
        st.allocated.insert(
            time,
            BlockSet {
                ids,
                records,
                pending,
                ..BlockSet::default()
            },
        );
    }

    /// The blocks and records allocated to `time`.
    pub(crate) fn allocation_of(&self, time: Time) -> (Vec<InputBlockId>, usize) {
        self.state
            .lock()
            .allocated
            .get(&time)
            .map(|b| (b.ids.clone(), b.records))
            .unwrap_or_default()
    }

    /// The ids of the blocks allocated to `time` (they stay stored until the batch is released).
    pub(crate) fn blocks_of(&self, time: Time) -> Vec<InputBlockId> {
        self.state
            .lock()
            .allocated
            .get(&time)
            .map(|b| b.ids.clone())
            .unwrap_or_default()
    }

    /// Batch `time` has been processed (or dropped): its records no longer count as pending,
    /// so a held-back receiver may go on, even while a window still keeps its blocks.
    pub(crate) fn batch_done(&self, time: Time) {
        let mut st = self.state.lock();
        if let Some(blocks) = st.allocated.get_mut(&time) {
            st.pending -= std::mem::take(&mut blocks.pending);
        }
        drop(st);
        self.space.notify_all();
        self.space_async.notify_waiters();
    }

    /// No batch or window needs the blocks of batches up to `time` any more: they leave the
    /// block store.
    pub(crate) fn release_through(&self, time: Time) {
        let mut st = self.state.lock();
        let keep = st
            .allocated
            .split_off(&(time + std::time::Duration::from_millis(1)));
        let released = std::mem::replace(&mut st.allocated, keep);
        for blocks in released.values() {
            st.pending -= blocks.pending;
            self.ctx.remove_input_blocks(&blocks.ids);
            if let Some(remote) = st.cluster.remote.as_mut() {
                for id in &blocks.ids {
                    remote.logged_at.remove(id);
                }
            }
        }
        drop(st);
        self.space.notify_all();
        self.space_async.notify_waiters();
    }

    pub(crate) fn stop(&self) {
        self.state.lock().stopped = true;
        self.space.notify_all();
        self.space_async.notify_waiters();
    }

    pub(crate) fn is_stopped(&self) -> bool {
        self.state.lock().stopped
    }

    /// Whether every record received has been allocated to a batch.
    pub(crate) fn all_allocated(&self) -> bool {
        let st = self.state.lock();
        st.current.is_empty()
            && st.earlier.is_empty()
            && !st.sealing
            && st.blocks.ids.is_empty()
            && self.remote_finished(&st)
    }

    /// Whether it holds records no batch has taken (in its buffer, being cut, or cut).
    pub(crate) fn has_unallocated(&self) -> bool {
        let st = self.state.lock();
        !st.current.is_empty() || !st.earlier.is_empty() || st.sealing || !st.blocks.ids.is_empty()
    }

    /// On a cluster driver, stopping: whether its receiver's executor has yet to report its
    /// last blocks.
    pub(crate) fn awaiting_last_report(&self) -> bool {
        !self.remote_finished(&self.state.lock())
    }

    pub(crate) fn stats(&self) -> ReceiverStats {
        let c = &self.counters;
        let mut stats = ReceiverStats {
            stream: self.stream,
            records: c.records.load(Ordering::Relaxed),
            invalid_utf8_lines: c.invalid_utf8.load(Ordering::Relaxed),
            oversized_lines_skipped: c.oversized.load(Ordering::Relaxed),
            connect_failures: c.connect_failures.load(Ordering::Relaxed),
            errors: c.errors.load(Ordering::Relaxed),
            rate_limit: self.rate().map(|r| r.round() as u64),
            pending_records: self.state.lock().pending as u64,
            max_pending_records: self.max_pending as u64,
            wal_bytes: c.wal_bytes.load(Ordering::Relaxed),
        };
        self.remote_stats_into(&self.state.lock(), &mut stats);
        stats
    }
}

/// The input RDD of a receiver stream for a batch: its allocated blocks.
pub(crate) struct IntakeOp<T> {
    pub(crate) intake: Arc<Intake<T>>,
}

impl<T: Data> StreamOp<T> for IntakeOp<T> {
    fn compute(&self, time: Time) -> Result<Option<Rdd<T>>> {
        let ids = self.intake.blocks_of(time);
        Ok(Some(self.intake.ctx.input_block_rdd(ids)))
    }

    fn snapshot_input(&self, keep_from: Time) -> Option<(Vec<u8>, Vec<PathBuf>)> {
        self.intake.snapshot_log(keep_from)
    }

    fn restore_input(&self, saved: &[u8], _last_generated: Time) -> crate::Result<()> {
        self.intake.restore_log(saved)
    }
}

#[cfg(test)]
mod tests;
