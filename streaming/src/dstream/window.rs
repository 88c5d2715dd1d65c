//! Windowed operators (processing time), with Spark's semantics.
//!
//! A window of length `w` sliding every `s` has an RDD at every multiple of `s` after the
//! context's zero time (the time before the first batch); at time `t` it holds the parent's RDDs
//! of the batches in `(t - w, t]`. The first windows therefore cover fewer batches than `w`.
//! Both durations must be non-zero multiples of the parent's slide. Every stream's RDDs (and a
//! receiver's blocks) are kept for the longest window of the graph, then released.

use std::sync::Arc;
use std::time::Duration;

use spate_core::{Data, Key, Rdd};

use super::StreamGraph;
use crate::common::Time;
use crate::dstream::state::{SelfRef, previous, self_referencing};
use crate::dstream::{DStream, StreamOp};
use crate::error::{Error, Result};

/// The union of the parent's RDDs in `(t - window, t]`.
struct WindowOp<T> {
    parent: DStream<T>,
    window: Duration,
    graph: Arc<StreamGraph>,
}

impl<T: Data> StreamOp<T> for WindowOp<T> {
    fn compute(&self, time: Time) -> spate_core::Result<Option<Rdd<T>>> {
        let rdds = self.parent.node.rdds_between(time - self.window, time)?;
        Ok(Some(self.graph.ctx.union(&rdds)))
    }
}

type Reduce<V> = dyn Fn(V, V) -> V + Send + Sync;
type KeepPair<K, V> = dyn Fn(&(K, V)) -> bool + Send + Sync;

/// The incremental window: the previous window's result, minus (inverse-reduced) the batches
/// that left, plus the batches that entered.
struct ReducedWindowOp<K, V> {
    /// The parent reduced by key per batch.
    reduced: DStream<(K, V)>,
    me: SelfRef<(K, V)>,
    f: Arc<Reduce<V>>,
    inv_f: Arc<Reduce<V>>,
    filter: Option<Arc<KeepPair<K, V>>>,
    window: Duration,
    slide: Duration,
    partitions: usize,
}

impl<K: Key, V: Data> StreamOp<(K, V)> for ReducedWindowOp<K, V> {
    fn compute(&self, time: Time) -> spate_core::Result<Option<Rdd<(K, V)>>> {
        let (w, s) = (self.window, self.slide);
        // Previous window: (t - s - w, t - s]; current: (t - w, t]. Windows that do not
        // overlap (w <= s) share nothing, and the first has no predecessor: both are reduced
        // from their own batches.
        let prev = if w > s {
            previous(&self.me, time, s)?
        } else {
            None
        };
        let (old, new) = match prev {
            Some(_) => (
                self.reduced.node.rdds_between(time - s - w, time - w)?,
                self.reduced.node.rdds_between(time - s, time)?,
            ),
            None => (Vec::new(), self.reduced.node.rdds_between(time - w, time)?),
        };
        let mut tagged: Vec<Rdd<(K, (u8, V))>> = Vec::with_capacity(1 + old.len() + new.len());
        tagged.extend(prev.map(|p| p.map_values(|v| (PREV, v))));
        tagged.extend(old.iter().map(|r| r.map_values(|v| (OLD, v))));
        tagged.extend(new.iter().map(|r| r.map_values(|v| (NEW, v))));
        let ctx = &self.reduced.node.graph.ctx;
        let (f, inv) = (Arc::clone(&self.f), Arc::clone(&self.inv_f));
        let merged = ctx
            .union(&tagged)
            .group_by_key_with_partitions(self.partitions)
            .flat_map_values(move |values| merge(&*f, &*inv, values));
        Ok(Some(match &self.filter {
            Some(keep) => {
                let keep = Arc::clone(keep);
                merged.filter(move |p| keep(p))
            }
            None => merged,
        }))
    }
}

const PREV: u8 = 0;
const OLD: u8 = 1;
const NEW: u8 = 2;

/// One key's window value from its tagged values: `prev - old + new`. A key that had no value
/// in the previous window (new, or filtered out) starts from the values that entered; one
/// with neither is dropped (Spark throws here instead).
fn merge<V>(f: &Reduce<V>, inv: &Reduce<V>, values: Vec<(u8, V)>) -> Option<V> {
    let (mut prev, mut old, mut new) = (None, None, None);
    for (tag, v) in values {
        let slot = match tag {
            PREV => &mut prev,
            OLD => &mut old,
            _ => &mut new,
        };
        *slot = Some(match slot.take() {
            Some(acc) => f(acc, v),
            None => v,
        });
    }
    let Some(mut acc) = prev else { return new };
    if let Some(o) = old {
        acc = inv(acc, o);
    }
    if let Some(n) = new {
        acc = f(acc, n);
    }
    Some(acc)
}

/// Checks that `d` is a non-zero multiple of `parent_slide`.
pub(crate) fn check_multiple(
    what: &'static str,
    d: Duration,
    parent_slide: Duration,
) -> Result<()> {
    let (ms, unit) = (d.as_millis(), parent_slide.as_millis().max(1));
    if ms == 0 || ms % unit != 0 || !d.subsec_nanos().is_multiple_of(1_000_000) {
        let multiples = (ms / unit).max(1);
        return Err(Error::InvalidWindow {
            what,
            duration: d,
            parent_slide,
            suggestion: parent_slide * multiples as u32,
        });
    }
    Ok(())
}

impl<T: Data> DStream<T> {
    /// The elements of the last `window` of batches, every `slide`: at time `t`, the union of
    /// this stream's RDDs in `(t - window, t]`. Both must be non-zero multiples of this stream's
    /// slide ([`DStream::slide_duration`]); otherwise [`Error::InvalidWindow`] names both.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use spate_streaming::testing::run_batches;
    /// let s = Duration::from_secs(1);
    /// let out = run_batches(vec![vec![0], vec![1], vec![2]], |st| st.window(2 * s, s).unwrap(), 3);
    /// assert_eq!(out, vec![vec![0], vec![0, 1], vec![1, 2]]);
    /// ```
    pub fn window(&self, window: Duration, slide: Duration) -> Result<DStream<T>> {
        let parent_slide = self.node.slide;
        check_multiple("window duration", window, parent_slide)?;
        check_multiple("slide duration", slide, parent_slide)?;
        let graph = &self.node.graph;
        graph.remember_at_least(window);
        let op = WindowOp {
            parent: self.clone(),
            window,
            graph: Arc::clone(graph),
        };
        Ok(DStream::from_op(graph, "window", slide, op))
    }

    /// The number of elements in each window (one element per window, `0` for an empty one).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use spate_streaming::testing::run_batches;
    /// let s = Duration::from_secs(1);
    /// let out = run_batches(vec![vec!['a'], vec!['b', 'c'], vec![]], |st| st.count_by_window(2 * s, s).unwrap(), 4);
    /// assert_eq!(out, vec![vec![1], vec![3], vec![2], vec![0]]);
    /// ```
    pub fn count_by_window(&self, window: Duration, slide: Duration) -> Result<DStream<u64>> {
        Ok(self.window(window, slide)?.count())
    }

    /// Each window reduced with `f` (associative and commutative) to one element; an empty
    /// window has none. Each batch is reduced once, then the window's partial results.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use spate_streaming::testing::run_batches;
    /// let s = Duration::from_secs(1);
    /// let out = run_batches(vec![vec![1, 2], vec![3], vec![], vec![]], |st| st.reduce_by_window(|a, b| a + b, 2 * s, s).unwrap(), 4);
    /// assert_eq!(out, vec![vec![3], vec![6], vec![3], vec![]]);
    /// ```
    pub fn reduce_by_window(
        &self,
        f: impl Fn(T, T) -> T + Send + Sync + 'static,
        window: Duration,
        slide: Duration,
    ) -> Result<DStream<T>> {
        let f = Arc::new(f);
        let g = Arc::clone(&f);
        Ok(self
            .reduce(move |a, b| f(a, b))
            .window(window, slide)?
            .reduce(move |a, b| g(a, b)))
    }
}

impl<T: Data> DStream<T> {
    /// [`DStream::reduce_by_window`], computed incrementally: the previous window's value,
    /// `inv_f`-reduced by the batches that left and `f`-reduced with those that entered (`inv_f`
    /// must undo `f`). An empty window gives the identity the inverse leads to (e.g. `0`), as
    /// in Spark. Needs [`StreamingContext::checkpoint`](crate::StreamingContext::checkpoint).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use spate_streaming::testing::run_batches;
    /// let s = Duration::from_secs(1);
    /// let out = run_batches(vec![vec![1, 2], vec![3], vec![], vec![]], |st| st.reduce_by_window_inv(|a, b| a + b, |a, b| a - b, 2 * s, s).unwrap(), 4);
    /// assert_eq!(out, vec![vec![3], vec![6], vec![3], vec![0]]);
    /// ```
    pub fn reduce_by_window_inv(
        &self,
        f: impl Fn(T, T) -> T + Send + Sync + 'static,
        inv_f: impl Fn(T, T) -> T + Send + Sync + 'static,
        window: Duration,
        slide: Duration,
    ) -> Result<DStream<T>> {
        Ok(self
            .map(|x| (0u8, x))
            .reduce_by_key_and_window_inv_with_partitions(
                f,
                inv_f,
                window,
                slide,
                1,
                None::<fn(&(u8, T)) -> bool>,
            )?
            .map(|(_, v)| v))
    }
}

impl<T: Key> DStream<T> {
    /// How often each distinct element occurs in each window.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use spate_streaming::testing::run_batches;
    /// let s = Duration::from_secs(1);
    /// let out = run_batches(vec![vec!['a'], vec!['b', 'b'], vec!['a', 'b']], |st| st.count_by_value_and_window(2 * s, s).unwrap(), 3);
    /// let sorted: Vec<Vec<(char, u64)>> = out.into_iter().map(|mut b| { b.sort(); b }).collect();
    /// assert_eq!(sorted, vec![vec![('a', 1)], vec![('a', 1), ('b', 2)], vec![('a', 1), ('b', 3)]]);
    /// ```
    pub fn count_by_value_and_window(
        &self,
        window: Duration,
        slide: Duration,
    ) -> Result<DStream<(T, u64)>> {
        self.map(|x| (x, 1u64))
            .reduce_by_key_and_window(|a, b| a + b, window, slide)
    }
}

impl<K: Key, V: Data> DStream<(K, V)> {
    /// [`DStream::reduce_by_key`] over each window: each batch is reduced by key once, the
    /// window's partial results are reduced again. Into the default number of partitions.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use spate_streaming::testing::run_batches;
    /// let s = Duration::from_secs(1);
    /// let input = vec![vec![("a", 1)], vec![("a", 1), ("b", 1)], vec![]];
    /// let input: Vec<Vec<(String, i32)>> = input.into_iter().map(|b| b.into_iter().map(|(k, v)| (k.to_string(), v)).collect()).collect();
    /// let out = run_batches(input, |st| st.reduce_by_key_and_window(|a, b| a + b, 2 * s, s).unwrap(), 3);
    /// let sorted: Vec<Vec<(String, i32)>> = out.into_iter().map(|mut b| { b.sort(); b }).collect();
    /// assert_eq!(sorted[1], [("a".to_string(), 2), ("b".to_string(), 1)]);
    /// assert_eq!(sorted[2], [("a".to_string(), 1), ("b".to_string(), 1)]); // batch 1 left the window
    /// ```
    pub fn reduce_by_key_and_window(
        &self,
        f: impl Fn(V, V) -> V + Send + Sync + 'static,
        window: Duration,
        slide: Duration,
    ) -> Result<DStream<(K, V)>> {
        let n = self.node.graph.ctx.default_parallelism();
        self.reduce_by_key_and_window_with_partitions(f, window, slide, n)
    }

    /// [`DStream::reduce_by_key_and_window`] into `partitions` partitions.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use spate_streaming::testing::run_batches;
    /// let s = Duration::from_secs(1);
    /// let out = run_batches(vec![vec![(1, 1)], vec![(1, 2)], vec![(1, 4)]], |st| st.reduce_by_key_and_window_with_partitions(|a, b| a + b, 2 * s, s, 3).unwrap(), 3);
    /// assert_eq!(out, vec![vec![(1, 1)], vec![(1, 3)], vec![(1, 6)]]);
    /// ```
    pub fn reduce_by_key_and_window_with_partitions(
        &self,
        f: impl Fn(V, V) -> V + Send + Sync + 'static,
        window: Duration,
        slide: Duration,
        partitions: usize,
    ) -> Result<DStream<(K, V)>> {
        let f = Arc::new(f);
        let g = Arc::clone(&f);
        Ok(self
            .reduce_by_key_with_partitions(move |a, b| f(a, b), partitions)
            .window(window, slide)?
            .reduce_by_key_with_partitions(move |a, b| g(a, b), partitions))
    }
}

impl<K: Key, V: Data> DStream<(K, V)> {
    /// [`DStream::reduce_by_key_and_window`], computed incrementally: each window is the
    /// previous one, minus (with `inv_f`, which must undo `f`) the batches that left, plus the
    /// batches that entered — cheap for long windows with short slides. Keys whose value
    /// becomes the identity stay (e.g. `("a", 0)`) unless `filter` rejects them. (A window
    /// no longer than its slide shares nothing with the previous one and is reduced afresh.) The result is
    /// persisted and checkpointed; needs [`StreamingContext::checkpoint`](crate::StreamingContext::checkpoint).
    /// Without a filter, pass `None::<fn(&(K, V)) -> bool>`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use spate_streaming::testing::run_batches;
    /// let s = Duration::from_secs(1);
    /// let out = run_batches(vec![vec![('a', 1)], vec![('a', 1)], vec![], vec![]], |st| {
    ///     st.reduce_by_key_and_window_inv(|a, b| a + b, |a, b| a - b, 2 * s, s, Some(|p: &(char, i32)| p.1 != 0)).unwrap()
    /// }, 4);
    /// assert_eq!(out, vec![vec![('a', 1)], vec![('a', 2)], vec![('a', 1)], vec![]]);
    /// ```
    pub fn reduce_by_key_and_window_inv<P>(
        &self,
        f: impl Fn(V, V) -> V + Send + Sync + 'static,
        inv_f: impl Fn(V, V) -> V + Send + Sync + 'static,
        window: Duration,
        slide: Duration,
        filter: Option<P>,
    ) -> Result<DStream<(K, V)>>
    where
        P: Fn(&(K, V)) -> bool + Send + Sync + 'static,
    {
        let n = self.node.graph.ctx.default_parallelism();
        self.reduce_by_key_and_window_inv_with_partitions(f, inv_f, window, slide, n, filter)
    }

    /// [`DStream::reduce_by_key_and_window_inv`] into `partitions` partitions.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use spate_streaming::testing::run_batches;
    /// let s = Duration::from_secs(1);
    /// let out = run_batches(vec![vec![('a', 1)], vec![], vec![]], |st| {
    ///     st.reduce_by_key_and_window_inv_with_partitions(|a, b| a + b, |a, b| a - b, 2 * s, s, 3, None::<fn(&(char, i32)) -> bool>).unwrap()
    /// }, 3);
    /// assert_eq!(out, vec![vec![('a', 1)], vec![('a', 1)], vec![('a', 0)]]);
    /// ```
    #[allow(clippy::too_many_arguments)]
    pub fn reduce_by_key_and_window_inv_with_partitions<P>(
        &self,
        f: impl Fn(V, V) -> V + Send + Sync + 'static,
        inv_f: impl Fn(V, V) -> V + Send + Sync + 'static,
        window: Duration,
        slide: Duration,
        partitions: usize,
        filter: Option<P>,
    ) -> Result<DStream<(K, V)>>
    where
        P: Fn(&(K, V)) -> bool + Send + Sync + 'static,
    {
        let filter = filter.map(|p| Arc::new(p) as Arc<KeepPair<K, V>>);
        let parent_slide = self.node.slide;
        check_multiple("window duration", window, parent_slide)?;
        check_multiple("slide duration", slide, parent_slide)?;
        let f: Arc<Reduce<V>> = Arc::new(f);
        let g = Arc::clone(&f);
        let reduced = self.reduce_by_key_with_partitions(move |a, b| g(a, b), partitions);
        // The batches that leave the window are read one slide after the window has passed.
        self.node.graph.remember_at_least(window + slide);
        Ok(self_referencing(
            self,
            "reduce_by_key_and_window_inv",
            slide,
            |me| ReducedWindowOp {
                reduced,
                me,
                f,
                inv_f: Arc::new(inv_f),
                filter,
                window,
                slide,
                partitions,
            },
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_must_be_multiples_of_the_parent_slide() {
        let s = Duration::from_secs(1);
        assert!(check_multiple("window duration", 3 * s, s).is_ok());
        let e = check_multiple("window duration", Duration::from_millis(1500), s).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("window duration 1.5s"), "{msg}");
        assert!(msg.contains("slide interval 1s"), "{msg}");
        assert!(msg.contains("e.g. 1s"), "{msg}");
        assert!(check_multiple("slide duration", Duration::ZERO, s).is_err());
        assert!(check_multiple("slide duration", Duration::from_nanos(2_000_000_001), s).is_err());
    }
}
