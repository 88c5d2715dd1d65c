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

use crate::context::Shared;
use crate::dstream::{DStream, StreamOp};
use crate::error::{Error, Result};
use crate::time::Time;

/// The union of the parent's RDDs in `(t - window, t]`.
struct WindowOp<T> {
    parent: DStream<T>,
    window: Duration,
    shared: Arc<Shared>,
}

impl<T: Data> StreamOp<T> for WindowOp<T> {
    fn compute(&self, time: Time) -> spate_core::Result<Option<Rdd<T>>> {
        let step = self.parent.node.slide;
        let mut rdds = Vec::new();
        let mut t = time - self.window + step;
        while t <= time {
            rdds.extend(self.parent.node.rdd_at(t)?);
            t = t + step;
        }
        Ok(Some(self.shared.ctx.union(&rdds)))
    }
}

/// Checks that `d` is a non-zero multiple of `parent_slide`.
fn check_multiple(what: &'static str, d: Duration, parent_slide: Duration) -> Result<()> {
    let (ms, unit) = (d.as_millis(), parent_slide.as_millis().max(1));
    if ms == 0 || ms % unit != 0 || d.subsec_nanos() % 1_000_000 != 0 {
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
        let shared = &self.node.shared;
        shared.remember_at_least(window);
        let op = WindowOp {
            parent: self.clone(),
            window,
            shared: Arc::clone(shared),
        };
        Ok(DStream::from_op(shared, "window", slide, op))
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
        let n = self.node.shared.ctx.default_parallelism();
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
