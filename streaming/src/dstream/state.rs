//! Stateful operators: `update_state_by_key` and `map_with_state`.
//!
//! A state stream's RDD at `t` is computed from its own RDD at `t - slide` and the parent's
//! batch at `t`, so its lineage grows by a step every batch. That is bounded the Spark way, done
//! right: state RDDs are persisted serialized (a small key never pins a large receive buffer),
//! checkpointed every ~10 s (after which the earlier RDDs, their shuffles and blocks are freed),
//! and forgotten by the stream once the next batch has them. The state stays hash-partitioned,
//! so each batch shuffles only its new data, not the state.

use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use spate_core::{Data, Key, Rdd};

use super::StreamGraph;
use crate::common::Time;
use crate::dstream::{DStream, StreamNode, StreamOp};

/// Reaches the stream's own node from its op (the node owns the op, so the op holds it weakly).
pub(crate) type SelfRef<T> = Arc<OnceLock<Weak<StreamNode<T>>>>;

/// Creates a stream sliding every `slide` whose op can read the stream's own earlier RDDs,
/// persisted serialized and checkpointed (its lineage grows with every batch otherwise).
pub(crate) fn self_referencing<T: Data, O: StreamOp<T>>(
    parent: &DStream<impl Data>,
    kind: &'static str,
    slide: Duration,
    make: impl FnOnce(SelfRef<T>) -> O,
) -> DStream<T> {
    let me: SelfRef<T> = Arc::default();
    let stream = DStream::from_op(&parent.node.graph, kind, slide, make(Arc::clone(&me)));
    let _ = me.set(Arc::downgrade(&stream.node));
    // The previous RDD must still be there when the next one is computed.
    parent.node.graph.remember_at_least(slide);
    stream.must_checkpoint();
    stream
}

/// The stream's RDD of `slide` before `time`, unless `time` is its first (then `None`).
pub(crate) fn previous<T: Data>(
    me: &SelfRef<T>,
    time: Time,
    slide: Duration,
) -> spate_core::Result<Option<Rdd<T>>> {
    match me.get().and_then(Weak::upgrade) {
        Some(node) if !is_first(&node.graph, time, slide) => node.rdd_at(time - slide),
        _ => Ok(None),
    }
}

/// Whether `time` is the first time a stream sliding every `slide` has an RDD.
pub(crate) fn is_first(graph: &StreamGraph, time: Time, slide: Duration) -> bool {
    time - slide <= graph.zero_time()
}

type UpdateFn<V, S> = dyn Fn(&[V], Option<S>) -> Option<S> + Send + Sync;

struct UpdateStateOp<K, V, S> {
    parent: DStream<(K, V)>,
    me: SelfRef<(K, S)>,
    f: Arc<UpdateFn<V, S>>,
    partitions: usize,
    initial: Option<Rdd<(K, S)>>,
}

impl<K: Key, V: Data, S: Data> StreamOp<(K, S)> for UpdateStateOp<K, V, S> {
    fn compute(&self, time: Time) -> spate_core::Result<Option<Rdd<(K, S)>>> {
        let slide = self.parent.node.slide;
        let prev = if is_first(&self.parent.node.graph, time, slide) {
            self.initial.clone()
        } else {
            previous(&self.me, time, slide)?
        };
        let data = self.parent.node.rdd_at(time)?;
        let f = Arc::clone(&self.f);
        // Spark's semantics: every key with state or new values gets a call, every batch.
        Ok(match (data, prev) {
            (Some(data), Some(prev)) => Some(
                data.cogroup_with_partitions(&prev, self.partitions)
                    .flat_map_values(move |(values, states)| f(&values, states.into_iter().next())),
            ),
            (None, Some(prev)) => Some(prev.flat_map_values(move |s| f(&[], Some(s)))),
            (Some(data), None) => Some(
                data.group_by_key_with_partitions(self.partitions)
                    .flat_map_values(move |values| f(&values, None)),
            ),
            (None, None) => None,
        })
    }
}

impl<K: Key, V: Data> DStream<(K, V)> {
    /// Running state per key: every batch, `f(new values of the key, its previous state)` for
    /// every key with state or new values; `None` removes the key. Into the default number of
    /// partitions. Needs [`StreamingContext::checkpoint`](crate::StreamingContext::checkpoint).
    ///
    /// # Examples
    ///
    /// ```
    /// use spate_streaming::testing::run_batches;
    /// // running totals; a key is dropped once its total passes 10
    /// let out = run_batches(vec![vec![('a', 4), ('b', 1)], vec![('a', 7)], vec![]], |s| {
    ///     s.update_state_by_key(|new: &[i32], total: Option<i32>| {
    ///         let t = total.unwrap_or(0) + new.iter().sum::<i32>();
    ///         (t <= 10).then_some(t)
    ///     })
    /// }, 3);
    /// let sorted: Vec<Vec<(char, i32)>> = out.into_iter().map(|mut b| { b.sort(); b }).collect();
    /// assert_eq!(sorted, vec![vec![('a', 4), ('b', 1)], vec![('b', 1)], vec![('b', 1)]]);
    /// ```
    pub fn update_state_by_key<S: Data>(
        &self,
        f: impl Fn(&[V], Option<S>) -> Option<S> + Send + Sync + 'static,
    ) -> DStream<(K, S)> {
        let n = self.node.graph.ctx.default_parallelism();
        self.update_state_by_key_with_partitions(f, n)
    }

    /// [`DStream::update_state_by_key`] with the state in `partitions` partitions.
    ///
    /// # Examples
    ///
    /// ```
    /// use spate_streaming::testing::run_batches;
    /// let out = run_batches(vec![vec![(1, 1)], vec![(1, 1)]], |s| {
    ///     s.update_state_by_key_with_partitions(|n: &[u32], c: Option<u32>| Some(c.unwrap_or(0) + n.len() as u32), 3)
    /// }, 2);
    /// assert_eq!(out, vec![vec![(1, 1)], vec![(1, 2)]]);
    /// ```
    pub fn update_state_by_key_with_partitions<S: Data>(
        &self,
        f: impl Fn(&[V], Option<S>) -> Option<S> + Send + Sync + 'static,
        partitions: usize,
    ) -> DStream<(K, S)> {
        self.update_state(Arc::new(f), partitions, None)
    }

    /// [`DStream::update_state_by_key_with_partitions`] starting from `initial` state.
    ///
    /// # Examples
    ///
    /// ```
    /// use spate_streaming::testing::run_batches;
    /// let out = run_batches(vec![vec![('a', 1)]], |s| {
    ///     let initial = s.context().parallelize(vec![('a', 100), ('z', 5)], 1);
    ///     s.update_state_by_key_with_initial(|n: &[i32], c: Option<i32>| Some(c.unwrap_or(0) + n.iter().sum::<i32>()), 2, initial)
    /// }, 1);
    /// let mut b = out[0].clone();
    /// b.sort();
    /// assert_eq!(b, [('a', 101), ('z', 5)]);
    /// ```
    pub fn update_state_by_key_with_initial<S: Data>(
        &self,
        f: impl Fn(&[V], Option<S>) -> Option<S> + Send + Sync + 'static,
        partitions: usize,
        initial: Rdd<(K, S)>,
    ) -> DStream<(K, S)> {
        self.update_state(Arc::new(f), partitions, Some(initial))
    }

    fn update_state<S: Data>(
        &self,
        f: Arc<UpdateFn<V, S>>,
        partitions: usize,
        initial: Option<Rdd<(K, S)>>,
    ) -> DStream<(K, S)> {
        self_referencing(self, "update_state_by_key", self.node.slide, |me| {
            UpdateStateOp {
                parent: self.clone(),
                me,
                f,
                partitions,
                initial,
            }
        })
    }

    /// Spark's `mapWithState`: for every new value of a key, `spec`'s function gets the key,
    /// the value and the key's [`State`], and returns an output element; keys idle longer than
    /// the spec's timeout get one last call (value `None`, [`State::is_timing_out`]) and are
    /// removed. Keys without new data are not touched. The returned stream holds the outputs;
    /// [`MapWithStateDStream::state_snapshots`] has the state after every batch.
    ///
    /// # Examples
    ///
    /// ```
    /// use spate_streaming::{StateSpec, State};
    /// use spate_streaming::testing::run_batches;
    /// let out = run_batches(vec![vec![('a', 1), ('a', 2)], vec![('a', 3)]], |s| {
    ///     let spec = StateSpec::function(|_k: &char, v: Option<i32>, state: &mut State<i32>| {
    ///         let sum = state.get().copied().unwrap_or(0) + v.unwrap_or(0);
    ///         state.update(sum);
    ///         sum
    ///     });
    ///     s.map_with_state(spec).stream()
    /// }, 2);
    /// assert_eq!(out, vec![vec![1, 3], vec![6]]);
    /// ```
    pub fn map_with_state<S: Data, U: Data>(
        &self,
        spec: StateSpec<K, V, S, U>,
    ) -> MapWithStateDStream<K, S, U> {
        let partitions = spec
            .partitions
            .unwrap_or_else(|| self.node.graph.ctx.default_parallelism());
        let cells = self_referencing(self, "map_with_state", self.node.slide, |me| {
            MapWithStateOp {
                parent: self.clone(),
                me,
                f: spec.f,
                timeout: spec.timeout,
                partitions,
                initial: spec.initial,
            }
        });
        let mapped = cells.flat_map(|(_, cell)| match cell {
            Cell::Out(u) => Some(u),
            Cell::State(..) => None,
        });
        let snapshots = cells.flat_map(|(k, cell)| match cell {
            Cell::State(s, _) => Some((k, s)),
            Cell::Out(_) => None,
        });
        MapWithStateDStream { mapped, snapshots }
    }
}

/// A key's state in a [`StateSpec`] function.
///
/// # Examples
///
/// ```
/// use spate_streaming::State;
/// let mut s = State::<u32>::default();
/// assert!(!s.exists());
/// s.update(3);
/// assert_eq!(s.get(), Some(&3));
/// s.remove();
/// assert!(!s.exists());
/// ```
#[derive(Debug)]
pub struct State<S> {
    value: Option<S>,
    timing_out: bool,
    updated: bool,
    removed: bool,
}

impl<S> Default for State<S> {
    fn default() -> Self {
        State {
            value: None,
            timing_out: false,
            updated: false,
            removed: false,
        }
    }
}

impl<S> State<S> {
    /// Whether the key has state.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(!spate_streaming::State::<u8>::default().exists());
    /// ```
    pub fn exists(&self) -> bool {
        self.value.is_some()
    }

    /// The key's state, if it has one.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(spate_streaming::State::<u8>::default().get(), None);
    /// ```
    pub fn get(&self) -> Option<&S> {
        self.value.as_ref()
    }

    /// Sets the key's state. On a key that is timing out this has no effect: the key is
    /// removed after this call whatever it does.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut s = spate_streaming::State::default();
    /// s.update("x");
    /// assert_eq!(s.get(), Some(&"x"));
    /// ```
    pub fn update(&mut self, value: S) {
        if !self.timing_out {
            self.value = Some(value);
            self.updated = true;
            self.removed = false;
        }
    }

    /// Removes the key's state.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut s = spate_streaming::State::default();
    /// s.update(1);
    /// s.remove();
    /// assert_eq!(s.get(), None);
    /// ```
    pub fn remove(&mut self) {
        self.value = None;
        self.removed = true;
    }

    /// Whether this is the key's last call: it was idle longer than the spec's timeout.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(!spate_streaming::State::<u8>::default().is_timing_out());
    /// ```
    pub fn is_timing_out(&self) -> bool {
        self.timing_out
    }
}

type MapFn<K, V, S, U> = dyn Fn(&K, Option<V>, &mut State<S>) -> U + Send + Sync;

/// What [`DStream::map_with_state`] does: the function, and optionally a timeout, an initial
/// state and a partition count.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use spate_streaming::{StateSpec, State};
/// let spec = StateSpec::function(|_k: &String, v: Option<u64>, s: &mut State<u64>| v.unwrap_or(0))
///     .timeout(Duration::from_secs(30))
///     .num_partitions(4);
/// # drop(spec);
/// ```
pub struct StateSpec<K, V, S, U> {
    f: Arc<MapFn<K, V, S, U>>,
    timeout: Option<Duration>,
    initial: Option<Rdd<(K, S)>>,
    partitions: Option<usize>,
}

impl<K, V, S, U> StateSpec<K, V, S, U> {
    /// A spec calling `f(key, value, state)` for every new value (and once with `None` for a
    /// key timing out).
    ///
    /// # Examples
    ///
    /// ```
    /// use spate_streaming::{StateSpec, State};
    /// let spec = StateSpec::function(|k: &char, _v: Option<u8>, _s: &mut State<u8>| *k);
    /// # drop(spec);
    /// ```
    pub fn function(f: impl Fn(&K, Option<V>, &mut State<S>) -> U + Send + Sync + 'static) -> Self {
        StateSpec {
            f: Arc::new(f),
            timeout: None,
            initial: None,
            partitions: None,
        }
    }

    /// Keys without new data for longer than `idle` time out.
    ///
    /// # Examples
    ///
    /// ```
    /// use spate_streaming::{StateSpec, State};
    /// let spec = StateSpec::function(|_: &u8, _: Option<u8>, _: &mut State<u8>| ()).timeout(std::time::Duration::from_secs(5));
    /// # drop(spec);
    /// ```
    pub fn timeout(mut self, idle: Duration) -> Self {
        self.timeout = Some(idle);
        self
    }

    /// The state to start from.
    ///
    /// # Examples
    ///
    /// ```
    /// use spate_streaming::{StateSpec, State};
    /// let ctx = spate_core::Context::local(1).unwrap();
    /// let spec = StateSpec::function(|_: &u8, _: Option<u8>, _: &mut State<u8>| ())
    ///     .initial_state(ctx.parallelize(vec![(1u8, 0u8)], 1));
    /// # drop(spec);
    /// ```
    pub fn initial_state(mut self, rdd: Rdd<(K, S)>) -> Self {
        self.initial = Some(rdd);
        self
    }

    /// How many partitions the state is kept in (default: the default parallelism).
    ///
    /// # Examples
    ///
    /// ```
    /// use spate_streaming::{StateSpec, State};
    /// let spec = StateSpec::function(|_: &u8, _: Option<u8>, _: &mut State<u8>| ()).num_partitions(8);
    /// # drop(spec);
    /// ```
    pub fn num_partitions(mut self, n: usize) -> Self {
        self.partitions = Some(n.max(1));
        self
    }
}

/// One record of a map-with-state batch: a key's state (with the time of its last update), or
/// an output of the function.
#[derive(Clone, Serialize, Deserialize)]
enum Cell<S, U> {
    State(S, i64),
    Out(U),
}

struct MapWithStateOp<K, V, S, U> {
    parent: DStream<(K, V)>,
    me: SelfRef<(K, Cell<S, U>)>,
    f: Arc<MapFn<K, V, S, U>>,
    timeout: Option<Duration>,
    partitions: usize,
    initial: Option<Rdd<(K, S)>>,
}

impl<K: Key, V: Data, S: Data, U: Data> StreamOp<(K, Cell<S, U>)> for MapWithStateOp<K, V, S, U> {
    fn compute(&self, time: Time) -> spate_core::Result<Option<Rdd<(K, Cell<S, U>)>>> {
        let graph = &self.parent.node.graph;
        let ctx = &graph.ctx;
        let slide = self.parent.node.slide;
        let prev: Rdd<(K, (S, i64))> = if is_first(graph, time, slide) {
            let zero = graph.zero_time().millis();
            match &self.initial {
                Some(initial) => initial.map_values(move |s| (s, zero)),
                None => ctx.union(&[]),
            }
        } else {
            match previous(&self.me, time, slide)? {
                // Keeps the hash partitioning: the next cogroup reads the state narrowly.
                Some(cells) => cells.flat_map_values(|cell| match cell {
                    Cell::State(s, t) => Some((s, t)),
                    Cell::Out(_) => None,
                }),
                None => ctx.union(&[]),
            }
        };
        let data = self
            .parent
            .node
            .rdd_at(time)?
            .unwrap_or_else(|| ctx.union(&[]));
        let (f, timeout, now) = (Arc::clone(&self.f), self.timeout, time.millis());
        let cells = data
            .cogroup_with_partitions(&prev, self.partitions)
            .flat_map_with_key(move |k, (values, states)| {
                step(&*f, k, values, states.into_iter().next(), timeout, now)
            });
        Ok(Some(cells))
    }
}

/// One key's turn in a batch at `now` (ms): its outputs, then its state if it keeps one.
fn step<K, V, S, U>(
    f: &MapFn<K, V, S, U>,
    key: &K,
    values: Vec<V>,
    prev: Option<(S, i64)>,
    timeout: Option<Duration>,
    now: i64,
) -> Vec<Cell<S, U>> {
    let last = prev.as_ref().map(|p| p.1);
    let mut state = State {
        value: prev.map(|p| p.0),
        ..State::default()
    };
    let mut out = Vec::new();
    if values.is_empty() {
        let Some(last) = last else { return out };
        let idle_too_long = timeout.is_some_and(|t| last < now - t.as_millis() as i64);
        if idle_too_long {
            state.timing_out = true;
            out.push(Cell::Out(f(key, None, &mut state)));
            return out;
        }
        // Untouched: the state goes on as it was.
        if let Some(s) = state.value {
            out.push(Cell::State(s, last));
        }
        return out;
    }
    for v in values {
        out.push(Cell::Out(f(key, Some(v), &mut state)));
    }
    if let Some(s) = state.value {
        // With a timeout, new data counts as activity even if the state was not updated.
        let touched = state.updated || timeout.is_some();
        out.push(Cell::State(
            s,
            if touched { now } else { last.unwrap_or(now) },
        ));
    }
    out
}

/// The outputs of [`DStream::map_with_state`] (it derefs to that stream), and its state.
///
/// # Examples
///
/// ```
/// use spate_streaming::{StateSpec, State};
/// use spate_streaming::testing::run_batches;
/// let out = run_batches(vec![vec![('a', 1)], vec![('b', 2)]], |s| {
///     let spec = StateSpec::function(|_: &char, v: Option<i32>, st: &mut State<i32>| st.update(v.unwrap_or(0)));
///     s.map_with_state(spec).state_snapshots()
/// }, 2);
/// let mut second = out[1].clone();
/// second.sort();
/// assert_eq!(second, [('a', 1), ('b', 2)]);
/// ```
pub struct MapWithStateDStream<K, S, U> {
    mapped: DStream<U>,
    snapshots: DStream<(K, S)>,
}

impl<K: Key, S: Data, U: Data> MapWithStateDStream<K, S, U> {
    /// The stream of outputs of the function.
    ///
    /// # Examples
    ///
    /// ```
    /// use spate_streaming::{StateSpec, State};
    /// use spate_streaming::testing::run_batches;
    /// let out = run_batches(vec![vec![('a', 1)]], |s| {
    ///     s.map_with_state(StateSpec::function(|k: &char, _: Option<i32>, _: &mut State<()>| *k)).stream()
    /// }, 1);
    /// assert_eq!(out, vec![vec!['a']]);
    /// ```
    pub fn stream(&self) -> DStream<U> {
        self.mapped.clone()
    }

    /// Every key's state after each batch.
    ///
    /// # Examples
    ///
    /// ```
    /// use spate_streaming::{StateSpec, State};
    /// use spate_streaming::testing::run_batches;
    /// let out = run_batches(vec![vec![('a', 5)]], |s| {
    ///     s.map_with_state(StateSpec::function(|_: &char, v: Option<i32>, st: &mut State<i32>| st.update(v.unwrap_or(0)))).state_snapshots()
    /// }, 1);
    /// assert_eq!(out, vec![vec![('a', 5)]]);
    /// ```
    pub fn state_snapshots(&self) -> DStream<(K, S)> {
        self.snapshots.clone()
    }
}

impl<K, S, U> std::ops::Deref for MapWithStateDStream<K, S, U> {
    type Target = DStream<U>;

    fn deref(&self) -> &DStream<U> {
        &self.mapped
    }
}
