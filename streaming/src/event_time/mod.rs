//! Event time: windows over the time in the data, watermarks, late data and output modes —
//! Structured Streaming's semantics on DStreams.
//!
//! `stream.with_watermark(event_time, delay)` makes an [`EventTimeStream`]; `.window(size,
//! slide)` or `.session_window(gap)` assigns its events to windows; `count_by_key`,
//! `reduce_by_key` or `aggregate_by_key` keeps one aggregate per (window, key) across batches
//! and emits what the [`OutputMode`] says. The watermark batch N is judged by is the largest
//! event time seen in the batches before N, less the delay; it never moves back, and it is
//! checkpointed with the state. A (record, window) pair is late when `window.end <=
//! watermark`: dropped (counted in [`crate::BatchInfo::late_records`]), and an event late in
//! every window it falls in appears in [`WindowedEvents::late_events`]. A window's state is
//! removed once the watermark passes its end (except in Complete mode), so state stays bounded
//! however long the stream runs.

mod aggregate;
mod watermark;

pub(crate) use watermark::KEYS;

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use spate_core::{Data, Key, Show, StorageLevel};

use self::aggregate::{AggregateOp, KeyWindows, LateOp, Merge, Windowing};
use self::watermark::{Input, LateCount, Policy, SavedInput};
use crate::common::Time;
use crate::dstream::DStream;
use crate::error::{Error, Result};

/// An event-time window: `start` inclusive, `end` exclusive, in ms since the epoch. Printed as
/// `[start,end)`.
///
/// # Examples
///
/// ```
/// use spate_core::Show;
/// use spate_streaming::Window;
/// let w = Window { start: 10_000, end: 15_000 };
/// assert_eq!(w.show(), "[10000,15000)");
/// assert!(w < Window { start: 15_000, end: 20_000 });
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Window {
    /// First millisecond in the window.
    pub start: i64,
    /// First millisecond after it.
    pub end: i64,
}

impl Show for Window {
    fn show_into(&self, out: &mut String) {
        use std::fmt::Write;
        let _ = write!(out, "[{},{})", self.start, self.end);
    }
}

impl std::fmt::Display for Window {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "[{},{})", self.start, self.end)
    }
}

/// What a windowed aggregation emits each batch (Structured Streaming's output modes).
///
/// # Examples
///
/// ```
/// use spate_streaming::OutputMode;
/// assert_ne!(OutputMode::Append, OutputMode::Update);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OutputMode {
    /// Each window once, final, in the batch whose watermark closes it (then it is removed).
    Append,
    /// The windows this batch changed; closed windows are removed without a word.
    Update,
    /// The whole table every batch; nothing is late, nothing is removed (state grows).
    Complete,
}

/// A stream whose records carry an event time, with a watermark: made by
/// [`DStream::with_watermark`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use spate_streaming::testing::run_batches;
/// let out = run_batches(vec![vec![(1_000i64, 'a')], vec![(9_000, 'b')]], |s| {
///     s.with_watermark(|e: &(i64, char)| e.0, Duration::from_secs(1)).stream()
/// }, 2);
/// assert_eq!(out, vec![vec![(1_000, 'a')], vec![(9_000, 'b')]]);
/// ```
pub struct EventTimeStream<T> {
    /// Every record with its event time, cached for the batch (read by the watermark's pass
    /// and by the aggregation).
    stamped: DStream<(i64, T)>,
    inputs: Vec<Arc<Input<T>>>,
    policy: Policy,
}

impl<T> Clone for EventTimeStream<T> {
    fn clone(&self) -> Self {
        EventTimeStream {
            stamped: self.stamped.clone(),
            inputs: self.inputs.clone(),
            policy: self.policy,
        }
    }
}

impl<T: Data> DStream<T> {
    /// Gives the records an event time (ms since the epoch) and a watermark `delay` behind
    /// the largest event time seen: windows of an [`EventTimeStream`] wait that long for late
    /// records (Spark's `withWatermark`).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use spate_streaming::{OutputMode, Window, testing::run_batches};
    /// let out = run_batches(vec![vec![(10_000i64, 'a'), (11_000, 'a')], vec![(30_000, 'a')], vec![]], |s| {
    ///     s.with_watermark(|e: &(i64, char)| e.0, Duration::from_secs(10))
    ///         .window(Duration::from_secs(5), Duration::from_secs(5))
    ///         .count_by_key(|e| e.1, OutputMode::Append)
    ///         .unwrap()
    /// }, 3);
    /// // The window [10 s, 15 s) closes when the watermark (30 s - 10 s) passes its end.
    /// assert_eq!(out, vec![vec![], vec![], vec![(Window { start: 10_000, end: 15_000 }, 'a', 2)]]);
    /// ```
    pub fn with_watermark(
        &self,
        event_time: impl Fn(&T) -> i64 + Send + Sync + 'static,
        delay: Duration,
    ) -> EventTimeStream<T> {
        let f = Arc::new(event_time);
        let stamped = self
            .transform_named("with_watermark", move |rdd, _| {
                let f = Arc::clone(&f);
                rdd.map(move |e| (f(&e), e))
            })
            .persist(StorageLevel::Memory);
        let delay_ms = i64::try_from(delay.as_millis()).unwrap_or(i64::MAX);
        let policy = Policy::from_conf(&self.node.graph.conf);
        EventTimeStream {
            inputs: vec![Arc::new(Input::new(stamped.clone(), delay_ms))],
            stamped,
            policy,
        }
    }
}

impl<T: Data> EventTimeStream<T> {
    /// Fixed windows of `size` every `slide` (`slide <= size`; equal: tumbling), aligned to
    /// the epoch; an event falls in every window that contains it (Spark's `window`).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use spate_streaming::{OutputMode, Window, testing::run_batches};
    /// let out = run_batches(vec![vec![(12_000i64, 'x')]], |s| {
    ///     s.with_watermark(|e: &(i64, char)| e.0, Duration::ZERO)
    ///         .window(Duration::from_secs(10), Duration::from_secs(5))
    ///         .count_by_key(|e| e.1, OutputMode::Update)
    ///         .unwrap()
    /// }, 1);
    /// let mut got = out[0].clone();
    /// got.sort();
    /// assert_eq!(got, [(Window { start: 5_000, end: 15_000 }, 'x', 1), (Window { start: 10_000, end: 20_000 }, 'x', 1)]);
    /// ```
    pub fn window(&self, size: Duration, slide: Duration) -> WindowedEvents<T> {
        let ms = |d: Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        let windowing = if size.is_zero() || size.as_millis() == 0 {
            Err(("window size", size, "it must be at least 1 ms"))
        } else if slide.as_millis() == 0 {
            Err(("window slide", slide, "it must be at least 1 ms"))
        } else if slide > size {
            Err((
                "window slide",
                slide,
                "it must not exceed the window size (an event would fall in no window)",
            ))
        } else {
            Ok(Windowing::Sliding {
                size: ms(size),
                slide: ms(slide),
            })
        };
        WindowedEvents {
            events: self.clone(),
            windowing,
        }
    }

    /// Session windows per key: events less than `gap` apart share a window `[first, last +
    /// gap)`; a session closes when the watermark passes its end (Spark's `session_window`).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use spate_streaming::{OutputMode, Window, testing::run_batches};
    /// let out = run_batches(vec![vec![(1_000i64, 'u'), (3_000, 'u'), (9_000, 'u')]], |s| {
    ///     s.with_watermark(|e: &(i64, char)| e.0, Duration::ZERO)
    ///         .session_window(Duration::from_secs(4))
    ///         .count_by_key(|e| e.1, OutputMode::Update)
    ///         .unwrap()
    /// }, 1);
    /// let mut got = out[0].clone();
    /// got.sort();
    /// assert_eq!(got, [(Window { start: 1_000, end: 7_000 }, 'u', 2), (Window { start: 9_000, end: 13_000 }, 'u', 1)]);
    /// ```
    pub fn session_window(&self, gap: Duration) -> WindowedEvents<T> {
        let windowing = if gap.as_millis() == 0 {
            Err(("session gap", gap, "it must be at least 1 ms"))
        } else {
            Ok(Windowing::Session {
                gap: i64::try_from(gap.as_millis()).unwrap_or(i64::MAX),
            })
        };
        WindowedEvents {
            events: self.clone(),
            windowing,
        }
    }

    /// Both streams' events; the watermark is the minimum of the inputs' (default) or the
    /// maximum (`spate.streaming.multipleWatermarkPolicy=max`), and never moves back.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use spate_streaming::testing::run_batches;
    /// let out = run_batches(vec![vec![(5i64, 1u8)]], |s| {
    ///     let a = s.with_watermark(|e: &(i64, u8)| e.0, Duration::ZERO);
    ///     let b = s.map(|(t, x)| (t + 1, x + 1)).with_watermark(|e: &(i64, u8)| e.0, Duration::ZERO);
    ///     a.union(&b).stream()
    /// }, 1);
    /// let mut got = out[0].clone();
    /// got.sort();
    /// assert_eq!(got, [(5, 1), (6, 2)]);
    /// ```
    pub fn union(&self, other: &EventTimeStream<T>) -> EventTimeStream<T> {
        let mut inputs = self.inputs.clone();
        for i in &other.inputs {
            if !inputs.iter().any(|mine| Arc::ptr_eq(mine, i)) {
                inputs.push(Arc::clone(i));
            }
        }
        EventTimeStream {
            stamped: self.stamped.union(&other.stamped),
            inputs,
            policy: self.policy,
        }
    }

    /// The events as a plain stream.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use spate_streaming::testing::run_batches;
    /// let out = run_batches(vec![vec![(1i64, 'a')]], |s| s.with_watermark(|e: &(i64, char)| e.0, Duration::ZERO).stream(), 1);
    /// assert_eq!(out, vec![vec![(1, 'a')]]);
    /// ```
    pub fn stream(&self) -> DStream<T> {
        self.stamped
            .transform_named("event_time_records", |rdd, _| rdd.map(|(_, e)| e))
    }

    /// The watermark batch `time` is judged by.
    fn watermark_for(&self, time: Time) -> Option<i64> {
        watermark::combined(
            self.inputs.iter().map(|i| i.watermark_for(time)),
            self.policy,
        )
    }

    /// Every input's pass over batch `time`: their maxima, and the late pairs `late` counts.
    fn observe(&self, time: Time, late: Option<LateCount>) -> spate_core::Result<u64> {
        let mut n = 0;
        for input in &self.inputs {
            n += input.observe(time, late.clone())?;
        }
        Ok(n)
    }

    fn snapshot(&self, keep_from: Time) -> Option<Vec<u8>> {
        let saved: Vec<SavedInput> = self.inputs.iter().map(|i| i.snapshot(keep_from)).collect();
        match spate_core::codec::encode(&saved) {
            Ok(bytes) => Some(bytes),
            Err(e) => {
                tracing::error!("could not checkpoint a watermark: {e}");
                None
            }
        }
    }

    fn restore(&self, saved: &[u8]) -> Result<()> {
        let saved: Vec<SavedInput> = spate_core::codec::decode(saved, "a watermark checkpoint")?;
        if saved.len() != self.inputs.len() {
            return Err(Error::CheckpointIncompatible {
                stream: "an event-time aggregation".into(),
                reason: format!(
                    "it had {} watermarked inputs and now has {}",
                    saved.len(),
                    self.inputs.len()
                ),
            });
        }
        for (input, s) in self.inputs.iter().zip(saved) {
            input.restore(s);
        }
        Ok(())
    }
}

/// An [`EventTimeStream`] assigned to windows: aggregate it by key, or take its late events.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use spate_streaming::{OutputMode, testing::run_batches};
/// let out = run_batches(vec![vec![(1_000i64, 2u64), (2_000, 3)]], |s| {
///     s.with_watermark(|e: &(i64, u64)| e.0, Duration::ZERO)
///         .window(Duration::from_secs(10), Duration::from_secs(10))
///         .reduce_by_key(|_| 0u8, |e| e.1, |a, b| a + b, OutputMode::Complete)
///         .unwrap()
/// }, 1);
/// assert_eq!(out[0][0].2, 5);
/// ```
pub struct WindowedEvents<T> {
    events: EventTimeStream<T>,
    /// The windows, or why the durations given are unusable (an error at aggregation).
    windowing: std::result::Result<Windowing, (&'static str, Duration, &'static str)>,
}

impl<T: Data> WindowedEvents<T> {
    fn windowing(&self) -> Result<Windowing> {
        self.windowing
            .map_err(|(what, duration, reason)| Error::InvalidEventTimeWindow {
                what,
                duration,
                reason,
            })
    }

    /// Counts per (window, key): `(window, key, count)` as `mode` says. Needs a checkpoint
    /// directory (the counts are state).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use spate_streaming::{OutputMode, Window, testing::run_batches};
    /// let out = run_batches(vec![vec![(1_000i64, 'a'), (1_500, 'a')]], |s| {
    ///     s.with_watermark(|e: &(i64, char)| e.0, Duration::ZERO)
    ///         .window(Duration::from_secs(5), Duration::from_secs(5))
    ///         .count_by_key(|e| e.1.to_string(), OutputMode::Update)
    ///         .unwrap()
    /// }, 1);
    /// assert_eq!(out, vec![vec![(Window { start: 0, end: 5_000 }, "a".to_string(), 2)]]);
    /// ```
    pub fn count_by_key<K: Key>(
        &self,
        key: impl Fn(&T) -> K + Send + Sync + 'static,
        mode: OutputMode,
    ) -> Result<DStream<(Window, K, u64)>> {
        self.aggregate_by_key(key, 0u64, |n, _| n + 1, |a, b| a + b, mode)
    }

    /// Reduces `value`s per (window, key) with `f` (associative): `(window, key, reduced)`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use spate_streaming::{OutputMode, testing::run_batches};
    /// let out = run_batches(vec![vec![(1i64, 4u32), (2, 9)]], |s| {
    ///     s.with_watermark(|e: &(i64, u32)| e.0, Duration::ZERO)
    ///         .window(Duration::from_secs(1), Duration::from_secs(1))
    ///         .reduce_by_key(|_| (), |e| e.1, u32::max, OutputMode::Update)
    ///         .unwrap()
    /// }, 1);
    /// assert_eq!(out[0][0].2, 9);
    /// ```
    pub fn reduce_by_key<K: Key, V: Data>(
        &self,
        key: impl Fn(&T) -> K + Send + Sync + 'static,
        value: impl Fn(&T) -> V + Send + Sync + 'static,
        f: impl Fn(V, V) -> V + Send + Sync + 'static,
        mode: OutputMode,
    ) -> Result<DStream<(Window, K, V)>> {
        let f = Arc::new(f);
        let g = Arc::clone(&f);
        let reduced = self.aggregate_by_key(
            key,
            None::<V>,
            move |acc, e| {
                let v = value(e);
                Some(match acc {
                    Some(a) => f(a, v),
                    None => v,
                })
            },
            move |a, b| match (a, b) {
                (Some(a), Some(b)) => Some(g(a, b)),
                (a, b) => a.or(b),
            },
            mode,
        )?;
        Ok(reduced.flat_map(|(w, k, v)| v.map(|v| (w, k, v))))
    }

    /// Folds each (window, key)'s events into an `A` with `seq` from `zero`; partial results
    /// (from several batches, partitions or merged sessions) merge with `comb`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use spate_streaming::{OutputMode, testing::run_batches};
    /// // (sum, count) per window for an average
    /// let out = run_batches(vec![vec![(1i64, 2.0f64), (2, 4.0)]], |s| {
    ///     s.with_watermark(|e: &(i64, f64)| e.0, Duration::ZERO)
    ///         .window(Duration::from_secs(1), Duration::from_secs(1))
    ///         .aggregate_by_key(|_| 0u8, (0.0, 0u32), |(s, n), e| (s + e.1, n + 1), |a, b| (a.0 + b.0, a.1 + b.1), OutputMode::Update)
    ///         .unwrap()
    /// }, 1);
    /// assert_eq!(out[0][0].2, (6.0, 2));
    /// ```
    pub fn aggregate_by_key<K: Key, A: Data>(
        &self,
        key: impl Fn(&T) -> K + Send + Sync + 'static,
        zero: A,
        seq: impl Fn(A, &T) -> A + Send + Sync + 'static,
        comb: impl Fn(A, A) -> A + Send + Sync + 'static,
        mode: OutputMode,
    ) -> Result<DStream<(Window, K, A)>> {
        let state = self.state(key, zero, seq, comb, mode)?;
        Ok(state.flat_map(move |(k, windows): (K, KeyWindows<A>)| {
            windows.emitted(mode).map(move |(w, a)| (w, k.clone(), a))
        }))
    }

    /// The state stream behind an aggregation: per key, its open windows.
    pub(crate) fn state<K: Key, A: Data>(
        &self,
        key: impl Fn(&T) -> K + Send + Sync + 'static,
        zero: A,
        seq: impl Fn(A, &T) -> A + Send + Sync + 'static,
        comb: impl Fn(A, A) -> A + Send + Sync + 'static,
        mode: OutputMode,
    ) -> Result<DStream<(K, KeyWindows<A>)>> {
        let windowing = self.windowing()?;
        let stamped = &self.events.stamped;
        let partitions = stamped.node.graph.ctx.default_parallelism();
        let events = self.events.clone();
        Ok(crate::dstream::state::self_referencing(
            stamped,
            "event_time_aggregate",
            stamped.node.slide,
            move |me| AggregateOp {
                events,
                windowing,
                key: Arc::new(key),
                seq: Arc::new(seq),
                merge: Arc::new(Merge {
                    zero,
                    comb: Arc::new(comb),
                }),
                mode,
                me,
                partitions,
            },
        ))
    }

    /// The events dropped as late from every window they fall in (Flink's late side output;
    /// Spark only counts them). In Complete mode aggregations keep such events anyway.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use spate_streaming::testing::run_batches;
    /// let out = run_batches(vec![vec![(20_000i64, 'a')], vec![(1_000, 'b'), (19_000, 'c')]], |s| {
    ///     s.with_watermark(|e: &(i64, char)| e.0, Duration::from_secs(5))
    ///         .window(Duration::from_secs(5), Duration::from_secs(5))
    ///         .late_events()
    ///         .unwrap()
    /// }, 2);
    /// // Batch 2 is judged by 20 s - 5 s: [0,5) is closed, [15,20) is not.
    /// assert_eq!(out, vec![vec![], vec![(1_000, 'b')]]);
    /// ```
    pub fn late_events(&self) -> Result<DStream<T>> {
        let windowing = self.windowing()?;
        let stamped = &self.events.stamped;
        Ok(DStream::from_op(
            &stamped.node.graph,
            "late_events",
            stamped.node.slide,
            LateOp {
                events: self.events.clone(),
                windowing,
            },
        ))
    }
}
