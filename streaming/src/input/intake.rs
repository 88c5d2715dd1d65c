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
use serde::{Deserialize, Serialize};
use spate_core::Result;

/// The time each piece of a rate-limited store stands for (see `Intake::paced`).
const PACING_SLICE_SECS: f64 = 0.02;

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

/// What a logged block of received lines starts with (a framed block starts with the codec's
/// magic, which differs).
const LOGGED_LINES: &[u8] = b"SPLINES1";

/// Records as a receiver hands them over and as a block holds them.
pub(crate) enum Received<T> {
    /// Records, one by one.
    Records(Vec<T>),
    /// Lines in the buffers they were received in (text streams, where `T` is `Text`): no
    /// per-line cost in memory until a task reads them.
    Lines(TextLines),
}

impl<T> Default for Received<T> {
    fn default() -> Self {
        Received::Records(Vec::new())
    }
}

impl<T: Data> Received<T> {
    fn len(&self) -> usize {
        match self {
            Received::Records(v) => v.len(),
            Received::Lines(l) => l.len(),
        }
    }

    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Appends `more` if it is of the same kind (or this is empty); else gives it back.
    fn append(&mut self, more: Received<T>) -> std::result::Result<(), Received<T>> {
        match (self, more) {
            (this, more) if this.is_empty() => *this = more,
            (Received::Records(v), Received::Records(more)) => v.extend(more),
            (Received::Lines(l), Received::Lines(more)) => l.append(more),
            (_, more) => return Err(more),
        }
        Ok(())
    }

    /// Up to `parts` pieces of about equal record counts, in order.
    fn split_into(self, parts: usize) -> Vec<Received<T>> {
        match self {
            Received::Records(mut records) => {
                let n = records.len();
                let parts = parts.clamp(1, n.max(1));
                let mut pieces = Vec::with_capacity(parts);
                for i in (1..parts).rev() {
                    pieces.push(Received::Records(records.split_off(i * n / parts)));
                }
                pieces.push(Received::Records(records));
                pieces.reverse();
                pieces
            }
            Received::Lines(lines) => lines
                .split_into(parts)
                .into_iter()
                .map(Received::Lines)
                .collect(),
        }
    }

    /// The block's record in the write-ahead log, in pieces: received lines as they came
    /// after [`LOGGED_LINES`] (one copy into the log's buffer, not a line-by-line encoding;
    /// most of the log's CPU went there), records as a frame encoded into `frame`.
    fn log_pieces<'a>(&'a self, frame: &'a mut Vec<u8>) -> Result<Vec<&'a [u8]>> {
        match self {
            Received::Records(v) => {
                spate_core::codec::encode_into(v, frame)?;
                Ok(vec![frame.as_slice()])
            }
            Received::Lines(l) => Ok(std::iter::once(LOGGED_LINES)
                .chain(l.chunk_bytes())
                .collect()),
        }
    }

    /// A block read back from the write-ahead log (see [`Received::log_pieces`]); `origin`
    /// names the log in errors.
    fn from_log(bytes: Vec<u8>, origin: &str) -> Result<Received<T>> {
        if bytes.starts_with(LOGGED_LINES) {
            let buf = Arc::new(bytes);
            let mut lines = TextLines::new();
            lines
                .push(&buf, LOGGED_LINES.len()..buf.len(), usize::MAX)
                .map_err(|e| spate_core::Error::Corrupt {
                    path: PathBuf::from(origin),
                    reason: format!("a logged block of lines does not read back: {e}"),
                })?;
            Ok(Received::Lines(lines))
        } else {
            Ok(Received::Records(spate_core::codec::decode(
                &bytes, origin,
            )?))
        }
    }

    /// Puts the block in the block store.
    fn store(self, ctx: &Context, id: InputBlockId) -> Result<()> {
        match self {
            Received::Records(mut records) => {
                // A block lives for its whole batch (or window): do not keep the buffer's
                // growth slack (up to half of it) alive with it.
                if records.capacity() > records.len() + records.len() / 8 {
                    records.shrink_to_fit();
                }
                ctx.put_input_block(id, Arc::new(records))
            }
            Received::Lines(lines) => ctx.put_input_lines(id, Arc::new(lines)),
        }
    }
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
}

/// A receiver stream's part of the driver checkpoint (with the write-ahead log on).
#[derive(Serialize, Deserialize)]
struct SavedLog {
    dir: PathBuf,
    batches: Vec<(Time, Vec<WalRef>, usize)>,
    /// Logged blocks not yet allocated to a batch.
    unallocated: Vec<WalRef>,
    last_ref: Option<WalRef>,
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

/// Which rate estimator backpressure uses (`spate.streaming.backpressure.rateEstimator`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum EstimatorKind {
    /// [`SteadyRateEstimator`].
    #[default]
    Steady,
    /// [`PidRateEstimator`], Spark's.
    Pid,
}

/// How fast a receiver may store: a fixed cap, and whether backpressure adjusts it.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct RateSettings {
    pub(crate) max_rate: Option<usize>,
    pub(crate) backpressure: bool,
    pub(crate) estimator: EstimatorKind,
    pub(crate) initial_rate: Option<usize>,
    pub(crate) batch_interval_ms: u64,
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

    /// Whether the receiver must wait to store more: `maxPendingRecords` are pending, or half
    /// of them until backpressure first sets a rate. A batch's records stay pending while the
    /// next batch's arrive, so at the limit each holds about half; a first loaded batch (which
    /// has no rate limit yet) that took all of the bound left the second empty and the limit
    /// climbing back for several batches. (Until a rate, not merely until the first batch
    /// completes: with the log on the first batch is often empty, and the second then took the
    /// whole bound. Nor half of what is not yet a batch's: the first two batches then both
    /// came full, and the scheduling delay they left took several batches to drain.)
    fn must_wait(&self, st: &IntakeState<T>) -> bool {
        let bound = if self.estimator.is_some() && !self.calibrated.load(Ordering::Relaxed) {
            (self.max_pending / 2).max(1)
        } else {
            self.max_pending
        };
        st.pending >= bound
    }

    /// Backpressure: batch `info` of this stream completed; let the controller set the rate.
    pub(crate) fn batch_completed(&self, info: &crate::listener::BatchInfo) {
        let Some(estimator) = &self.estimator else {
            return;
        };
        let (records, held_back, accepted) = {
            let st = self.state.lock();
            let (records, held_back) = st
                .allocated
                .get(&info.batch_time)
                .map_or((0, Duration::ZERO), |b| (b.records, b.held_back));
            (records, held_back, self.stored_so_far())
        };
        let now = std::time::Instant::now();
        let stored_per_sec = match self.last_observed.lock().replace((now, accepted)) {
            Some((then, before)) if now > then => {
                accepted.saturating_sub(before) as f64 / (now - then).as_secs_f64()
            }
            _ => 0.0,
        };
        let ms = |d: std::time::Duration| d.as_secs_f64() * 1000.0;
        let observed = BatchObservation {
            time_ms: info.batch_time.millis(),
            records: records as u64,
            processing_ms: ms(info.processing_time),
            scheduling_delay_ms: ms(info.scheduling_delay),
            held_back_ms: ms(held_back),
            stored_per_sec,
        };
        tracing::debug!("{}: backpressure observes {observed:?}", self.stream);
        let decision = estimator.lock().observe(&observed, self.limiter.rate());
        match decision {
            RateDecision::Keep => {}
            RateDecision::Limit(rate) => self.limiter.set_rate(rate),
            RateDecision::Unlimited => self.limiter.unlimit(),
        }
        if decision != RateDecision::Keep {
            tracing::debug!(
                "{}: backpressure sets the rate to {:?} records/s",
                self.stream,
                self.limiter.rate()
            );
        }
        if self.limiter.rate().is_some() && !self.calibrated.swap(true, Ordering::Relaxed) {
            // Waiting under the half bound: the full one applies from now. (The lock: a
            // receiver between its check and its wait would miss the notification.)
            drop(self.state.lock());
            self.space.notify_all();
            self.space_async.notify_waiters();
        }
    }

    /// The rate this receiver is held to, if any (records/s).
    pub(crate) fn rate(&self) -> Option<f64> {
        self.limiter.rate()
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

    /// Under a rate limit, `items` cut into pieces of about 20 ms worth each: each piece waits
    /// for its own share of time, so a large read (a socket buffer that filled while the
    /// receiver waited) is stored at the rate, not as one burst after a long wait — which
    /// would give batches of thousands of records between empty ones.
    fn paced(&self, items: Received<T>) -> Vec<Received<T>> {
        match self.limiter.rate() {
            Some(rate) => {
                let piece = ((rate * PACING_SLICE_SECS).ceil() as usize).max(1);
                let parts = items.len().div_ceil(piece);
                items.split_into(parts)
            }
            None => vec![items],
        }
    }

    fn push_inner(&self, items: Received<T>, durable: bool) -> bool {
        for piece in self.paced(items) {
            if !self.push_piece(piece, durable) {
                return false;
            }
        }
        true
    }

    /// The pauses storing `n` records takes under the rate limit (counted as held back), in
    /// slices of at most 50 ms that end once the intake stops: a stop is not held up by a long
    /// wait at a low rate.
    fn pauses(&self, n: usize) -> impl Iterator<Item = Duration> + '_ {
        let mut left = self.limiter.reserve(n);
        self.add_held_back(left);
        std::iter::from_fn(move || {
            if left.is_zero() || self.is_stopped() {
                return None;
            }
            let slice = left.min(Duration::from_millis(50));
            left -= slice;
            Some(slice)
        })
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
        drop(st);
        // Group commit: whoever holds the log's lock writes everything stored so far, so
        // durable stores waiting for it meanwhile share one write and one sync.
        let mut log = self.log.lock();
        if log.is_none() {
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

    /// The receiver waits `d` to store: it is held back (backpressure's estimator is told).
    fn add_held_back(&self, d: Duration) {
        if !d.is_zero() {
            self.held_back_ns
                .fetch_add(d.as_nanos() as u64, Ordering::Relaxed);
        }
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

    /// Appends the blocks of one cut to the log with one write and one sync; all None if they
    /// could not be written (reported).
    fn log_blocks(&self, wal: &mut WriteAheadLog, pieces: &[Received<T>]) -> Vec<Option<WalRef>> {
        // The frames' buffers are the log's, reused cut after cut.
        let mut frames = std::mem::take(&mut wal.frames);
        frames.resize_with(pieces.len(), Vec::new);
        let logged = pieces
            .iter()
            .zip(frames.iter_mut())
            .map(|(piece, frame)| piece.log_pieces(frame))
            .collect::<Result<Vec<Vec<&[u8]>>>>()
            .map_err(crate::Error::from)
            .and_then(|records| {
                let refs = wal.append_all(&records)?;
                let written: u64 = refs
                    .iter()
                    .map(|r| u64::from(r.len) + crate::recovery::wal::HEADER)
                    .sum();
                self.counters
                    .wal_bytes
                    .fetch_add(written, Ordering::Relaxed);
                Ok(refs)
            });
        wal.frames = frames;
        match logged {
            Ok(refs) => refs.into_iter().map(Some).collect(),
            Err(e) => {
                self.counters.errors.fetch_add(1, Ordering::Relaxed);
                let records: usize = pieces.iter().map(Received::len).sum();
                tracing::error!(
                    "{}: could not write {} block(s) of {records} records to the write-ahead log: {e}",
                    self.stream,
                    pieces.len()
                );
                vec![None; pieces.len()]
            }
        }
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

    /// Whether the write-ahead log is on.
    pub(crate) fn is_logging(&self) -> bool {
        self.logging.load(Ordering::Acquire)
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
        self.state.lock().allocated.insert(
            time,
            BlockSet {
                ids,
                records,
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
        }
        drop(st);
        self.space.notify_all();
        self.space_async.notify_waiters();
    }

    /// Stops accepting records; waiting producers return.
    /// Turns the write-ahead log on: blocks sealed from now on are logged in `dir`.
    pub(crate) fn enable_wal(&self, dir: &Path, rolling: Duration) -> crate::Result<()> {
        let wal = WriteAheadLog::open(dir, rolling)?;
        *self.log.lock() = Some(wal);
        self.state.lock().log_dir = Some(dir.to_path_buf());
        self.logging.store(true, Ordering::Release);
        Ok(())
    }

    /// The log's part of the driver checkpoint. Reads the state only, not the log itself: a
    /// block being written meanwhile is found after `last_ref` on a restart.
    fn snapshot_log(&self, keep_from: Time) -> Option<(Vec<u8>, Vec<PathBuf>)> {
        let mut st = self.state.lock();
        let after = keep_from + Duration::from_millis(1);
        let keep = st.logged.split_off(&after);
        st.logged = keep;
        let dir = st.log_dir.clone()?;
        let saved = SavedLog {
            dir: dir.clone(),
            batches: st
                .logged
                .iter()
                .map(|(t, (refs, n))| (*t, refs.clone(), *n))
                .collect(),
            unallocated: st.blocks.refs.clone(),
            last_ref: st.last_ref,
        };
        let oldest = saved
            .batches
            .iter()
            .flat_map(|b| b.1.iter())
            .chain(&saved.unallocated)
            .map(|r| r.segment)
            .min()
            .or(saved.last_ref.map(|r| r.segment));
        let files = oldest.map_or_else(Vec::new, |seg| {
            crate::recovery::wal::segment_paths_from(&dir, seg)
        });
        match spate_core::codec::encode(&saved) {
            Ok(bytes) => Some((bytes, files)),
            Err(e) => {
                tracing::error!(
                    "{}: could not checkpoint the log's records: {e}",
                    self.stream
                );
                None
            }
        }
    }

    /// Reads back the logged blocks of the saved batches, and every logged block written
    /// after them (received, maybe acknowledged, not yet in a batch: it goes to the next).
    fn restore_log(&self, saved: &[u8]) -> crate::Result<()> {
        let saved: SavedLog = spate_core::codec::decode(saved, "a receiver's checkpoint")?;
        let origin = saved.dir.display().to_string();
        let read_block = |at: WalRef| -> crate::Result<Received<T>> {
            let bytes = crate::recovery::wal::read(&saved.dir, at)?;
            Ok(Received::from_log(bytes, &origin)?)
        };
        let mut st = self.state.lock();
        for (time, refs, _) in &saved.batches {
            let mut blocks = BlockSet::default();
            for at in refs {
                let records = read_block(*at)?;
                let n = records.len();
                let id = self.put_restored(&mut st, records)?;
                blocks.add(id, Some(*at), n);
            }
            st.pending += blocks.pending;
            st.logged.insert(*time, (refs.clone(), blocks.records));
            st.allocated.insert(*time, blocks);
        }
        let mut later: Vec<(WalRef, Received<T>)> = Vec::new();
        for at in &saved.unallocated {
            later.push((*at, read_block(*at)?));
        }
        for (at, bytes) in crate::recovery::wal::records_after(&saved.dir, saved.last_ref) {
            later.push((at, Received::from_log(bytes, &origin)?));
        }
        for (at, records) in later {
            let n = records.len();
            let id = self.put_restored(&mut st, records)?;
            st.blocks.add(id, Some(at), n);
            st.pending += n;
            st.last_ref = Some(at);
        }
        st.last_ref = st.last_ref.max(saved.last_ref);
        Ok(())
    }

    fn put_restored(
        &self,
        st: &mut IntakeState<T>,
        records: Received<T>,
    ) -> crate::Result<InputBlockId> {
        let id = self.next_block_id(st);
        records.store(&self.ctx, id)?;
        Ok(id)
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
        st.current.is_empty() && st.earlier.is_empty() && !st.sealing && st.blocks.ids.is_empty()
    }

    pub(crate) fn stats(&self) -> ReceiverStats {
        let c = &self.counters;
        ReceiverStats {
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
        }
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
mod tests {
    use super::*;
    use spate_core::Text;

    fn lines(n: usize) -> Received<Text> {
        let text: String = (0..n).map(|i| format!("line {i}\n")).collect();
        let buf = Arc::new(text.into_bytes());
        let mut l = TextLines::new();
        l.push(&buf, 0..buf.len(), 100).unwrap();
        Received::Lines(l)
    }

    fn texts(v: &[&str]) -> Vec<Text> {
        v.iter().map(|s| Text::from(*s)).collect()
    }

    fn read(intake: &Intake<Text>, ctx: &Context, time: Time) -> Vec<Text> {
        let rdd = ctx.input_block_rdd::<Text>(intake.blocks_of(time));
        rdd.collect().unwrap()
    }

    #[test]
    fn logged_lines_and_records_read_back_the_same_after_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = Context::local(2).unwrap();
        let intake = Intake::<Text>::new(StreamId(0), 1000, ctx.clone(), RateSettings::default());
        intake
            .enable_wal(dir.path(), Duration::from_secs(60))
            .unwrap();
        let buf = Arc::new("ä b\r\n\nc d e\n".as_bytes().to_vec());
        let mut l = TextLines::new();
        l.push(&buf, 0..buf.len(), 100).unwrap();
        assert!(intake.push(Received::Lines(l)));
        intake.cut_block();
        let t1 = Time::from_millis(1000);
        assert_eq!(intake.allocate(t1), 3);
        assert!(intake.push(Received::Records(texts(&["r1", "r2"]))));
        intake.cut_block();
        let (saved, files) = intake.snapshot_log(Time::from_millis(0)).unwrap();
        assert_eq!(files.len(), 1);
        // A restarted driver, in a new context, reads both back from the log: the batch as
        // it was, and the records not yet in a batch for the next one.
        let ctx2 = Context::local(2).unwrap();
        let back = Intake::<Text>::new(StreamId(0), 1000, ctx2.clone(), RateSettings::default());
        back.restore_log(&saved).unwrap();
        assert_eq!(read(&back, &ctx2, t1), texts(&["ä b", "", "c d e"]));
        assert_eq!(read(&back, &ctx2, t1), read(&intake, &ctx, t1));
        let t2 = Time::from_millis(2000);
        assert_eq!(back.allocate(t2), 2);
        assert_eq!(read(&back, &ctx2, t2), texts(&["r1", "r2"]));
    }

    #[test]
    fn a_damaged_block_of_logged_lines_is_named_not_read() {
        let bad = [LOGGED_LINES, b"no final newline"].concat();
        let err = match Received::<Text>::from_log(bad, "/ck/wal/0") {
            Err(e) => e.to_string(),
            Ok(_) => panic!("read back"),
        };
        assert!(
            err.contains("/ck/wal/0") && err.contains("newline"),
            "{err}"
        );
    }

    #[test]
    fn until_backpressure_sets_a_rate_a_receiver_holds_half_the_pending_bound() {
        let ctx = Context::local(2).unwrap();
        let rates = RateSettings {
            backpressure: true,
            batch_interval_ms: 1000,
            ..RateSettings::default()
        };
        let intake = Arc::new(Intake::<Text>::new(StreamId(0), 10, ctx, rates));
        assert!(intake.push(lines(5)));
        // A sixth line waits: half of 10 is pending.
        let pusher = {
            let intake = Arc::clone(&intake);
            std::thread::spawn(move || intake.push(lines(1)))
        };
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(intake.stats().records, 5, "still waiting");
        // An empty batch completes (with the log on the first often is): no rate yet.
        intake.batch_completed(&crate::listener::BatchInfo {
            batch_time: Time::from_millis(500),
            ..Default::default()
        });
        std::thread::sleep(Duration::from_millis(20));
        assert!(
            !pusher.is_finished(),
            "an empty batch does not lift the half bound"
        );
        // A loaded batch completes and backpressure sets a rate: the whole bound applies, the
        // line goes in although the batch's five are still pending.
        let t = Time::from_millis(1000);
        assert_eq!(intake.allocate(t), 5);
        intake.batch_completed(&crate::listener::BatchInfo {
            batch_time: t,
            processing_time: Duration::from_millis(900),
            ..Default::default()
        });
        assert!(intake.rate().is_some());
        assert!(pusher.join().unwrap());
        assert!(intake.push(lines(3)), "nine pending: under the whole bound");
        assert!(!intake.must_wait(&intake.state.lock()));
        assert!(intake.push(lines(1)));
        assert!(
            intake.must_wait(&intake.state.lock()),
            "ten pending: at the whole bound"
        );
        // Without backpressure the bound is whole from the start.
        let plain = Intake::<Text>::new(
            StreamId(1),
            10,
            Context::local(1).unwrap(),
            RateSettings::default(),
        );
        assert!(plain.push(lines(9)));
        assert!(!plain.must_wait(&plain.state.lock()));
    }

    fn block_sizes(intake: &Intake<Text>, ctx: &Context, time: Time) -> Vec<usize> {
        let rdd = ctx.input_block_rdd::<Text>(intake.blocks_of(time));
        rdd.glom().collect().unwrap().iter().map(Vec::len).collect()
    }

    #[test]
    fn a_cut_is_a_block_per_core_of_equal_size_logged_with_one_write() {
        let ctx = Context::local(3).unwrap();
        let intake = Intake::<Text>::new(StreamId(0), 1000, ctx.clone(), RateSettings::default());
        // Without the log: the tick's cut, then what came after it flushed at allocation (one
        // block: every core has one already).
        assert!(intake.push(lines(10)));
        intake.cut_block();
        assert!(intake.push(lines(2)));
        let t1 = Time::from_millis(1000);
        assert_eq!(intake.allocate(t1), 12);
        assert_eq!(block_sizes(&intake, &ctx, t1), [3, 3, 4, 2]);

        // With the log: the three blocks of a cut are consecutive records of one write.
        let dir = tempfile::tempdir().unwrap();
        intake
            .enable_wal(dir.path(), Duration::from_secs(60))
            .unwrap();
        assert!(intake.push(lines(7)));
        intake.cut_block();
        let t2 = Time::from_millis(2000);
        assert_eq!(intake.allocate(t2), 7);
        assert_eq!(block_sizes(&intake, &ctx, t2), [2, 2, 3]);
        let logged = crate::recovery::wal::records_after(dir.path(), None);
        assert_eq!(logged.len(), 3);
        let offsets: Vec<u64> = logged.iter().map(|(at, _)| at.offset).collect();
        assert_eq!(
            offsets,
            [4096, 8192, 12288],
            "one page each, one after another"
        );
    }
}
