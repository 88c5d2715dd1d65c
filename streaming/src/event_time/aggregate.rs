//! Windowed aggregation by key over event time: the state per key, its step per batch, and the
//! stream op that runs it.
//!
//! The state is one record per key: its open windows (sorted), each with its aggregate and
//! two marks for the batch that produced it — changed in this batch (what Update emits),
//! closing in this batch (what Append emits; it is gone from the next batch's state). Each
//! batch: the batch's non-late (key, window, value) pairs are pre-aggregated (sliding windows:
//! map-side, one value per key and window) and cogrouped with the previous state by key, so
//! only new data is shuffled; then windows the watermark has passed are marked closing.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use spate_core::{Data, Key, Rdd};

use super::watermark::LateCount;
use super::{EventTimeStream, OutputMode, Window};
use crate::common::Time;
use crate::dstream::StreamOp;
use crate::dstream::state::{SelfRef, previous};

/// How events are assigned to windows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Windowing {
    /// Fixed-size windows every `slide` ms from the epoch (tumbling when `slide == size`).
    Sliding { size: i64, slide: i64 },
    /// Per key, events less than `gap` ms apart share a session `[first, last + gap)`.
    Session { gap: i64 },
}

impl Windowing {
    /// The windows an event at `ts` falls in, newest first.
    pub(crate) fn windows_of(self, ts: i64) -> impl Iterator<Item = Window> {
        let (size, slide, first) = match self {
            Windowing::Sliding { size, slide } => (size, slide, ts.div_euclid(slide) * slide),
            Windowing::Session { gap } => (gap, gap, ts),
        };
        (0..)
            .map(move |k: i64| first - k * slide)
            .take_while(move |start| start + size > ts)
            .map(move |start| Window {
                start,
                end: start + size,
            })
    }

    /// How many of the windows of an event at `ts` the watermark has closed.
    pub(crate) fn late_pairs(self, ts: i64, watermark: Option<i64>) -> u64 {
        let Some(wm) = watermark else { return 0 };
        self.windows_of(ts).filter(|w| w.end <= wm).count() as u64
    }

    /// Whether every window of an event at `ts` is closed (the event counts nowhere).
    pub(crate) fn all_late(self, ts: i64, watermark: Option<i64>) -> bool {
        // The newest window ends last.
        watermark.is_some_and(|wm| self.windows_of(ts).next().is_none_or(|w| w.end <= wm))
    }

    pub(crate) fn late_counter(self, watermark: Option<i64>) -> LateCount {
        Arc::new(move |ts| self.late_pairs(ts, watermark))
    }
}

/// One window of a key's state.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Slot<A> {
    pub(crate) window: Window,
    pub(crate) agg: A,
    /// Updated by this batch's data.
    pub(crate) changed: bool,
    /// Closed by this batch's watermark: emitted in Append mode, dropped at the next batch.
    pub(crate) closing: bool,
}

/// A key's open windows, sorted by window.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct KeyWindows<A> {
    pub(crate) slots: Vec<Slot<A>>,
}

impl<A> KeyWindows<A> {
    /// What `mode` emits of this batch's state.
    pub(crate) fn emitted(self, mode: OutputMode) -> impl Iterator<Item = (Window, A)> {
        self.slots
            .into_iter()
            .filter(move |s| match mode {
                OutputMode::Append => s.closing,
                OutputMode::Update => s.changed && !s.closing,
                OutputMode::Complete => true,
            })
            .map(|s| (s.window, s.agg))
    }
}

/// How a key's aggregates merge.
pub(crate) struct Merge<A> {
    pub(crate) zero: A,
    pub(crate) comb: Arc<dyn Fn(A, A) -> A + Send + Sync>,
}

/// One batch for one key: last batch's closing windows go, this batch's values are merged in,
/// and the windows the watermark has passed are marked closing (never in Complete mode).
pub(crate) fn step<A: Clone>(
    prev: Option<KeyWindows<A>>,
    mut news: Vec<(Window, A)>,
    windowing: Windowing,
    merge: &Merge<A>,
    watermark: Option<i64>,
    mode: OutputMode,
) -> Option<KeyWindows<A>> {
    let mut slots = prev.map_or_else(Vec::new, |p| p.slots);
    slots.retain(|s| !s.closing);
    for s in &mut slots {
        s.changed = false;
    }
    // In window order: the same result however the shuffle ordered the values.
    news.sort_by_key(|(w, _)| *w);
    let comb = &*merge.comb;
    for (mut window, mut agg) in news {
        if let Windowing::Session { .. } = windowing {
            // A session absorbs every session it overlaps or touches (as Spark's: [35,40) and
            // [40,45) are one session); bridging two is possible.
            while let Some(i) = slots
                .iter()
                .position(|s| s.window.start <= window.end && window.start <= s.window.end)
            {
                let old = slots.remove(i);
                agg = if old.window.start <= window.start {
                    comb(old.agg, agg)
                } else {
                    comb(agg, old.agg)
                };
                window = Window {
                    start: old.window.start.min(window.start),
                    end: old.window.end.max(window.end),
                };
            }
        }
        match slots.binary_search_by_key(&window, |s| s.window) {
            Ok(i) => {
                let s = &mut slots[i];
                s.agg = comb(std::mem::replace(&mut s.agg, merge.zero.clone()), agg);
                s.changed = true;
            }
            Err(i) => slots.insert(
                i,
                Slot {
                    window,
                    agg,
                    changed: true,
                    closing: false,
                },
            ),
        }
    }
    if let (Some(wm), false) = (watermark, mode == OutputMode::Complete) {
        for s in &mut slots {
            s.closing = s.window.end <= wm;
        }
    }
    (!slots.is_empty()).then_some(KeyWindows { slots })
}

/// The stream op of a windowed aggregation: the state stream `(key, its windows)`.
pub(crate) struct AggregateOp<T, K, A> {
    pub(crate) events: EventTimeStream<T>,
    pub(crate) windowing: Windowing,
    pub(crate) key: Arc<dyn Fn(&T) -> K + Send + Sync>,
    pub(crate) seq: Arc<dyn Fn(A, &T) -> A + Send + Sync>,
    pub(crate) merge: Arc<Merge<A>>,
    pub(crate) mode: OutputMode,
    pub(crate) me: SelfRef<(K, KeyWindows<A>)>,
    pub(crate) partitions: usize,
}

impl<T: Data, K: Key, A: Data> AggregateOp<T, K, A> {
    /// This batch's non-late `(key, (window, aggregate))` pairs, one per key and window for
    /// sliding windows (combined map-side), one per event for sessions.
    fn pairs(&self, data: Rdd<(i64, T)>, watermark: Option<i64>) -> Rdd<(K, (Window, A))> {
        let drop_late = self.mode != OutputMode::Complete;
        let live = move |w: &Window| !(drop_late && watermark.is_some_and(|wm| w.end <= wm));
        let (key, seq, zero) = (
            Arc::clone(&self.key),
            Arc::clone(&self.seq),
            self.merge.zero.clone(),
        );
        let windowing = self.windowing;
        match windowing {
            Windowing::Sliding { .. } => {
                let comb = Arc::clone(&self.merge.comb);
                data.flat_map(move |(ts, e)| {
                    let (k, a) = (key(&e), seq(zero.clone(), &e));
                    windowing
                        .windows_of(ts)
                        .filter(live)
                        .map(move |w| ((k.clone(), w), a.clone()))
                })
                .reduce_by_key_with_partitions(move |a, b| comb(a, b), self.partitions)
                .map(|((k, w), a)| (k, (w, a)))
            }
            Windowing::Session { .. } => data.flat_map(move |(ts, e)| {
                let (k, a) = (key(&e), seq(zero.clone(), &e));
                windowing
                    .windows_of(ts)
                    .filter(live)
                    .map(move |w| (k.clone(), (w, a.clone())))
            }),
        }
    }
}

impl<T: Data, K: Key, A: Data> StreamOp<(K, KeyWindows<A>)> for AggregateOp<T, K, A> {
    fn compute(&self, time: Time) -> spate_core::Result<Option<Rdd<(K, KeyWindows<A>)>>> {
        let node = &self.events.stamped.node;
        let prev = previous(&self.me, time, node.slide)?;
        let watermark = self.events.watermark_for(time);
        if let Some(wm) = watermark {
            node.graph.note_watermark(time, wm);
        }
        let counting = self.mode != OutputMode::Complete;
        let late = self.events.observe(
            time,
            counting.then(|| self.windowing.late_counter(watermark)),
        )?;
        if late > 0 {
            node.graph.add_late_records(time, late);
        }
        let data = node.rdd_at(time)?.map(|d| self.pairs(d, watermark));
        let (windowing, merge, mode) = (self.windowing, Arc::clone(&self.merge), self.mode);
        let update = move |news: Vec<(Window, A)>, prev: Option<KeyWindows<A>>| {
            step(prev, news, windowing, &merge, watermark, mode)
        };
        Ok(match (data, prev) {
            (Some(data), Some(prev)) => Some(
                data.cogroup_with_partitions(&prev, self.partitions)
                    .flat_map_values(move |(news, prev)| update(news, prev.into_iter().next())),
            ),
            (None, Some(prev)) => Some(prev.flat_map_values(move |p| update(Vec::new(), Some(p)))),
            (Some(data), None) => Some(
                data.group_by_key_with_partitions(self.partitions)
                    .flat_map_values(move |news| update(news, None)),
            ),
            (None, None) => None,
        })
    }

    fn snapshot_input(&self, keep_from: Time) -> Option<(Vec<u8>, Vec<std::path::PathBuf>)> {
        self.events.snapshot(keep_from).map(|b| (b, Vec::new()))
    }

    fn restore_input(&self, saved: &[u8], _last_generated: Time) -> crate::Result<()> {
        self.events.restore(saved)
    }
}

/// The stream op of `late_events()`: the events whose every window was closed.
pub(crate) struct LateOp<T> {
    pub(crate) events: EventTimeStream<T>,
    pub(crate) windowing: Windowing,
}

impl<T: Data> StreamOp<T> for LateOp<T> {
    fn compute(&self, time: Time) -> spate_core::Result<Option<Rdd<T>>> {
        let watermark = self.events.watermark_for(time);
        if let Some(wm) = watermark {
            self.events.stamped.node.graph.note_watermark(time, wm);
        }
        self.events.observe(time, None)?;
        let windowing = self.windowing;
        Ok(self.events.stamped.node.rdd_at(time)?.map(|d| {
            d.filter(move |(ts, _)| windowing.all_late(*ts, watermark))
                .map(|(_, e)| e)
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(start: i64, end: i64) -> Window {
        Window { start, end }
    }

    #[test]
    fn an_event_falls_in_every_window_that_contains_it() {
        let sliding = Windowing::Sliding { size: 10, slide: 5 };
        assert_eq!(
            sliding.windows_of(12).collect::<Vec<_>>(),
            [w(10, 20), w(5, 15)]
        );
        assert_eq!(
            sliding.windows_of(10).collect::<Vec<_>>(),
            [w(10, 20), w(5, 15)]
        );
        assert_eq!(
            sliding.windows_of(-1).collect::<Vec<_>>(),
            [w(-5, 5), w(-10, 0)]
        );
        let tumbling = Windowing::Sliding { size: 5, slide: 5 };
        assert_eq!(tumbling.windows_of(14).collect::<Vec<_>>(), [w(10, 15)]);
        let session = Windowing::Session { gap: 3 };
        assert_eq!(session.windows_of(7).collect::<Vec<_>>(), [w(7, 10)]);
        // Late per window: with the watermark at 15, ts 12 is late in [5,15) only.
        assert_eq!(sliding.late_pairs(12, Some(15)), 1);
        assert!(!sliding.all_late(12, Some(15)));
        assert!(sliding.all_late(12, Some(20)));
        assert!(!sliding.all_late(12, None));
    }

    #[test]
    fn sessions_merge_when_they_overlap_and_bridge() {
        let merge = Merge {
            zero: 0u64,
            comb: Arc::new(|a, b| a + b),
        };
        let s = Windowing::Session { gap: 10 };
        let got = step(
            None,
            vec![(w(0, 10), 1), (w(30, 40), 1)],
            s,
            &merge,
            None,
            OutputMode::Update,
        )
        .unwrap();
        assert_eq!(got.slots.len(), 2);
        // 15 joins neither ([15,25) overlaps nothing); 8 bridges [0,10) and [15,25)? No: [8,18)
        // overlaps both, so all three become [0,25).
        let got = step(
            Some(got),
            vec![(w(15, 25), 1), (w(8, 18), 1)],
            s,
            &merge,
            None,
            OutputMode::Update,
        )
        .unwrap();
        let windows: Vec<(Window, u64, bool)> = got
            .slots
            .iter()
            .map(|s| (s.window, s.agg, s.changed))
            .collect();
        assert_eq!(windows, [(w(0, 25), 3, true), (w(30, 40), 1, false)]);
    }
}
