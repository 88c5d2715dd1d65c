//! [`StreamGraph`]: what every stream of a context shares — the core context, the batch
//! interval and the time line (zero time, how long RDDs are remembered), the streams and the
//! output operations, where checkpoints go, and the event-time figures of each batch.
//!
//! A DStream holds this and nothing else of its context: the scheduler, the receivers, the
//! listener buses and the lifecycle are out of its reach.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use parking_lot::Mutex;
use spate_core::{Conf, Context};

use super::{OutputOp, StreamBase};
use crate::common::{StreamId, Time};
use crate::error::{Error, Result};

/// Whether outputs may still be added: only before the context starts.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    Defining,
    Running,
    Stopped,
}

struct Members {
    phase: Phase,
    outputs: Vec<Arc<dyn OutputOp>>,
    streams: Vec<Weak<dyn StreamBase>>,
    /// How many streams of each kind exist (a stream's ordinal is part of its identity).
    kinds: HashMap<&'static str, u32>,
}

/// The graph of a streaming context's streams, and the time line they share.
pub(crate) struct StreamGraph {
    pub(crate) ctx: Context,
    /// The context's configuration, with streaming's keys (and their defaults) known.
    pub(crate) conf: Conf,
    pub(crate) batch_interval: Duration,
    members: Mutex<Members>,
    next_stream: AtomicU32,
    /// The time before the first batch, set at start: streams have RDDs only after it, at
    /// multiples of their slide from it (so windows line up as in Spark).
    zero_time: Mutex<Option<Time>>,
    /// How long past its batch an RDD (and its input blocks) must be kept: the longest window.
    remember: Mutex<Duration>,
    /// In an executor that joined a running job, its first batch (see `follow_from`).
    followed_from: Mutex<Option<Time>>,
    /// The directory given to `checkpoint(dir)`: driver metadata, logs and RDD checkpoints.
    checkpoint_base: Mutex<Option<PathBuf>>,
    /// Late (record, window) pairs per batch, for its `BatchInfo`.
    late_records: Mutex<BTreeMap<Time, u64>>,
    /// The (smallest) event-time watermark each batch was judged by, for its `BatchInfo`.
    watermarks: Mutex<BTreeMap<Time, i64>>,
}

impl StreamGraph {
    pub(crate) fn new(ctx: Context, conf: Conf, batch_interval: Duration) -> StreamGraph {
        StreamGraph {
            ctx,
            conf,
            batch_interval,
            members: Mutex::new(Members {
                phase: Phase::Defining,
                outputs: Vec::new(),
                streams: Vec::new(),
                kinds: HashMap::new(),
            }),
            next_stream: AtomicU32::new(0),
            zero_time: Mutex::new(None),
            remember: Mutex::new(Duration::ZERO),
            followed_from: Mutex::new(None),
            checkpoint_base: Mutex::new(None),
            late_records: Mutex::new(BTreeMap::new()),
            watermarks: Mutex::new(BTreeMap::new()),
        }
    }

    /// A new stream's id.
    pub(crate) fn next_stream_id(&self) -> StreamId {
        StreamId(self.next_stream.fetch_add(1, Ordering::Relaxed))
    }

    /// The id the next stream will get (an input names the stream it is about to create).
    pub(crate) fn peek_stream_id(&self) -> StreamId {
        StreamId(self.next_stream.load(Ordering::Relaxed))
    }

    /// Registers a stream of `kind`; returns its ordinal among streams of that kind.
    pub(crate) fn add_stream(&self, kind: &'static str) -> u32 {
        let mut m = self.members.lock();
        let n = m.kinds.entry(kind).or_default();
        *n += 1;
        *n - 1
    }

    pub(crate) fn keep_stream(&self, stream: Weak<dyn StreamBase>) {
        self.members.lock().streams.push(stream);
    }

    /// Adds an output operation; only before the context starts.
    pub(crate) fn add_output(&self, op: Arc<dyn OutputOp>) -> Result<()> {
        let mut m = self.members.lock();
        match m.phase {
            Phase::Defining => {
                m.outputs.push(op);
                Ok(())
            }
            Phase::Running => Err(Error::AlreadyStarted),
            Phase::Stopped => Err(Error::Stopped),
        }
    }

    pub(crate) fn set_phase(&self, phase: Phase) {
        self.members.lock().phase = phase;
    }

    pub(crate) fn outputs(&self) -> Vec<Arc<dyn OutputOp>> {
        self.members.lock().outputs.clone()
    }

    pub(crate) fn live_streams(&self) -> Vec<Arc<dyn StreamBase>> {
        let streams = self.members.lock().streams.clone();
        streams.iter().filter_map(Weak::upgrade).collect()
    }

    /// Drops the outputs and streams (at stop): the graph's reference cycles break, so
    /// everything it held is freed.
    pub(crate) fn clear(&self) {
        let mut m = self.members.lock();
        m.outputs.clear();
        m.streams.clear();
    }

    /// The time before the first batch (the epoch before start).
    pub(crate) fn zero_time(&self) -> Time {
        self.zero_time.lock().unwrap_or(Time::from_millis(0))
    }

    pub(crate) fn set_zero_time(&self, zero: Time) {
        *self.zero_time.lock() = Some(zero);
    }

    /// Whether a stream sliding every `slide` has an RDD at `time`. Before start (no zero time
    /// yet) times are counted from the epoch.
    pub(crate) fn is_valid_time(&self, time: Time, slide: Duration) -> bool {
        let zero = self.zero_time();
        time > zero
            && Time::from_millis(time.millis() - zero.millis()).is_multiple_of(slide)
            && self.followed_from.lock().is_none_or(|from| time >= from)
    }

    /// In an executor that joined a running job: streams have no RDDs before `time`, the
    /// first batch it was told of (a stateful stream starts there, then takes the driver's
    /// checkpoint; without this, its first RDD would reach back through every batch since the
    /// start).
    pub(crate) fn follow_from(&self, time: Time) {
        let mut from = self.followed_from.lock();
        if from.is_none() {
            *from = Some(time);
        }
    }

    /// `time` rounded down to a multiple of `slide` from the zero time (the epoch before start).
    pub(crate) fn floor_time(&self, time: Time, slide: Duration) -> Time {
        let zero = self.zero_time().millis();
        let slide = slide.as_millis().max(1) as i64;
        Time::from_millis(zero + (time.millis() - zero).div_euclid(slide) * slide)
    }

    /// Keeps every stream's RDDs (and input blocks) for at least `d` past their batch.
    pub(crate) fn remember_at_least(&self, d: Duration) {
        let mut r = self.remember.lock();
        *r = (*r).max(d);
    }

    /// The oldest batch still needed once batch `time` is over: batches up to here are
    /// released.
    pub(crate) fn horizon(&self, time: Time) -> Time {
        time - *self.remember.lock()
    }

    /// Every stream forgets its RDDs of batches up to `time`, and the event-time figures of
    /// those batches go (a driver takes each batch's for its `BatchInfo`; an executor, which
    /// reports none, would otherwise keep one per batch forever).
    pub(crate) fn forget_through(&self, time: Time) {
        for s in self.live_streams() {
            s.forget_through(time);
        }
        self.late_records.lock().retain(|t, _| *t > time);
        self.watermarks.lock().retain(|t, _| *t > time);
    }

    pub(crate) fn checkpoint_base(&self) -> Option<PathBuf> {
        self.checkpoint_base.lock().clone()
    }

    pub(crate) fn set_checkpoint_base(&self, dir: PathBuf) {
        *self.checkpoint_base.lock() = Some(dir);
    }

    pub(crate) fn add_late_records(&self, time: Time, n: u64) {
        *self.late_records.lock().entry(time).or_default() += n;
    }

    pub(crate) fn note_watermark(&self, time: Time, watermark: i64) {
        let mut w = self.watermarks.lock();
        let e = w.entry(time).or_insert(watermark);
        *e = (*e).min(watermark);
    }

    /// What the graph keeps, by collection: the RDDs its streams remember, and the event-time
    /// figures of batches not yet reported.
    pub(crate) fn sizes(&self) -> Vec<(&'static str, usize)> {
        vec![
            (
                "streaming.rdds",
                self.live_streams().iter().map(|s| s.remembered()).sum(),
            ),
            ("streaming.late_records", self.late_records.lock().len()),
            ("streaming.watermarks", self.watermarks.lock().len()),
        ]
    }

    /// Batch `time`'s late records and watermark; also forgets older entries (of replayed
    /// batches).
    pub(crate) fn take_event_time(&self, time: Time) -> (u64, Option<i64>) {
        fn take<V>(m: &mut BTreeMap<Time, V>, time: Time) -> Option<V> {
            let v = m.remove(&time);
            *m = m.split_off(&time);
            v
        }
        (
            take(&mut self.late_records.lock(), time).unwrap_or(0),
            take(&mut self.watermarks.lock(), time),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn figures(g: &StreamGraph) -> (usize, usize) {
        let sizes: HashMap<_, _> = g.sizes().into_iter().collect();
        (
            sizes["streaming.late_records"],
            sizes["streaming.watermarks"],
        )
    }

    /// An executor follows batches without reporting them (nobody takes their figures): the
    /// batches its graph forgets take their figures with them, or it keeps one per batch.
    #[test]
    fn forgotten_batches_take_their_event_time_figures_with_them() {
        let ctx = Context::local(1).unwrap();
        let g = StreamGraph::new(ctx, Conf::new(), Duration::from_secs(1));
        let at = |s: i64| Time::from_millis(s * 1000);
        for s in 1..=100 {
            g.note_watermark(at(s), s);
            g.add_late_records(at(s), 2);
        }
        assert_eq!(figures(&g), (100, 100));
        g.forget_through(at(60));
        assert_eq!(figures(&g), (40, 40));
        // The driver's way: a batch's figures taken as it is reported (and older ones go).
        assert_eq!(g.take_event_time(at(70)), (2, Some(70)));
        assert_eq!(figures(&g), (30, 30));
    }
}
