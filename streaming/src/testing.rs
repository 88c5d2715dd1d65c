//! Deterministic operator tests: run a stream function over given per-batch inputs on a manual
//! clock and get each batch's output back.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Condvar, Mutex};
use spate_core::{Conf, Context, Data, Rdd};

use crate::common::ManualClock;
use crate::common::Time;
use crate::context::{StopOptions, StreamingContext};
use crate::dstream::StreamGraph;
use crate::dstream::{DStream, StreamOp};
use crate::error::{Error, Result};
use crate::listener::{BatchInfo, StreamingListener};

/// The batch interval of [`run_batches`].
pub const BATCH_INTERVAL: Duration = Duration::from_secs(1);

/// How long [`run_batches`] waits for one batch before giving up.
const BATCH_TIMEOUT: Duration = Duration::from_secs(60);

/// A listener that counts completed batches and wakes a waiter at once (no polling), for tests
/// and benchmarks that drive a manual clock batch by batch.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use spate_streaming::testing::BatchCounter;
/// use spate_streaming::{BatchInfo, StreamingListener};
/// let done = Arc::new(BatchCounter::default());
/// done.on_batch_completed(&BatchInfo::default());
/// assert_eq!(done.completed(), 1);
/// assert!(done.wait_for(1, Duration::ZERO));
/// done.wait(1);
/// ```
#[derive(Default)]
pub struct BatchCounter {
    done: Mutex<usize>,
    cv: Condvar,
}

impl StreamingListener for BatchCounter {
    fn on_batch_completed(&self, _: &BatchInfo) {
        *self.done.lock() += 1;
        self.cv.notify_all();
    }
}

impl BatchCounter {
    /// Batches completed so far.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(spate_streaming::testing::BatchCounter::default().completed(), 0);
    /// ```
    pub fn completed(&self) -> usize {
        *self.done.lock()
    }

    /// Waits until at least `n` batches completed; false if `timeout` passed first.
    ///
    /// # Examples
    ///
    /// ```
    /// let c = spate_streaming::testing::BatchCounter::default();
    /// assert!(!c.wait_for(1, std::time::Duration::from_millis(1)));
    /// ```
    pub fn wait_for(&self, n: usize, timeout: Duration) -> bool {
        let mut done = self.done.lock();
        let deadline = std::time::Instant::now() + timeout;
        while *done < n {
            if self.cv.wait_until(&mut done, deadline).timed_out() {
                return *done >= n;
            }
        }
        true
    }

    /// Waits until at least `n` batches completed.
    ///
    /// # Panics
    ///
    /// Panics, naming the batch, if that takes longer than a minute.
    ///
    /// # Examples
    ///
    /// ```
    /// use spate_streaming::StreamingListener;
    /// let c = spate_streaming::testing::BatchCounter::default();
    /// c.on_batch_completed(&Default::default());
    /// c.wait(1);
    /// ```
    pub fn wait(&self, n: usize) {
        assert!(
            self.wait_for(n, BATCH_TIMEOUT),
            "batch {n} did not complete ({} did)",
            self.completed()
        );
    }
}

/// The test input: batch `i` (at zero time + (i + 1) intervals) is `batches[i]`, whether or not
/// earlier batches were asked for — a window may skip some (a queue would hand them out in the
/// order asked instead).
struct BatchInput<T> {
    batches: Vec<Rdd<T>>,
    empty: Rdd<T>,
    graph: Arc<StreamGraph>,
}

impl<T: Data> StreamOp<T> for BatchInput<T> {
    fn compute(&self, time: Time) -> spate_core::Result<Option<Rdd<T>>> {
        let since = time.millis() - self.graph.zero_time().millis();
        let index = since / BATCH_INTERVAL.as_millis() as i64 - 1;
        let rdd = usize::try_from(index)
            .ok()
            .and_then(|i| self.batches.get(i))
            .unwrap_or(&self.empty);
        Ok(Some(rdd.clone()))
    }
}

/// Runs `f` over a stream whose batch `i` holds `input[i]` (in 2 partitions; batches past the
/// input's end are empty), for `num_batches` batches of [`BATCH_INTERVAL`] on a manual clock,
/// and returns each batch's output collected in partition order. A checkpoint directory is set
/// to a fresh temporary directory.
///
/// # Panics
///
/// Panics if the streaming job fails or a batch takes longer than a minute (use
/// [`try_run_batches`] to get the error instead).
///
/// # Examples
///
/// ```
/// use spate_streaming::testing::run_batches;
/// let out = run_batches(vec![vec![1, 2, 3], vec![4]], |s| s.filter(|x| x % 2 == 1), 3);
/// assert_eq!(out, vec![vec![1, 3], vec![], vec![]]);
/// ```
pub fn run_batches<T: Data, U: Data>(
    input: Vec<Vec<T>>,
    f: impl FnOnce(DStream<T>) -> DStream<U>,
    num_batches: usize,
) -> Vec<Vec<U>> {
    try_run_batches(input, f, num_batches).unwrap_or_else(|e| panic!("run_batches: {e}"))
}

/// [`run_batches`], returning errors instead of panicking.
///
/// # Examples
///
/// ```
/// use spate_streaming::testing::try_run_batches;
/// let err = try_run_batches(vec![vec![1]], |s| s.map(|x: i32| -> i32 { panic!("boom {x}") }), 1).unwrap_err();
/// assert!(err.to_string().contains("boom 1"));
/// ```
pub fn try_run_batches<T: Data, U: Data>(
    input: Vec<Vec<T>>,
    f: impl FnOnce(DStream<T>) -> DStream<U>,
    num_batches: usize,
) -> Result<Vec<Vec<U>>> {
    let conf = Conf::new()
        .set_master("local[2]")
        .set_app_name("spate-testing")
        .set("spate.streaming.stopGracefullyOnShutdown", "false")
        .set("spate.task.maxFailures", "1");
    let ctx = Context::new(conf)?;
    let dir = tempfile::tempdir().map_err(|e| spate_core::Error::io(std::env::temp_dir(), e))?;
    ctx.set_checkpoint_dir(dir.path())?;
    let clock = Arc::new(ManualClock::new(Time::from_millis(0)));
    let ssc = StreamingContext::with_clock(ctx.clone(), BATCH_INTERVAL, clock.clone())?;
    let op = BatchInput {
        batches: input.into_iter().map(|b| ctx.parallelize(b, 2)).collect(),
        empty: ctx.parallelize(Vec::new(), 2),
        graph: Arc::clone(&ssc.shared.graph),
    };
    let stream = DStream::from_op(&ssc.shared.graph, "test_input", BATCH_INTERVAL, op);
    let output = f(stream);
    let results: Arc<Mutex<BTreeMap<Time, Vec<U>>>> = Arc::default();
    let sink = Arc::clone(&results);
    output.foreach_rdd(move |rdd, time| {
        let v = rdd.collect()?;
        sink.lock().insert(time, v);
        Ok(())
    })?;
    let progress = Arc::new(BatchCounter::default());
    ssc.add_streaming_listener(progress.clone());
    ssc.start()?;
    for i in 1..=num_batches {
        clock.advance(BATCH_INTERVAL);
        let deadline = std::time::Instant::now() + BATCH_TIMEOUT;
        // A failed batch stops the context, after which no batch completes: wake up now and
        // then to see whether it has stopped, rather than wait out the timeout.
        while !progress.wait_for(i, Duration::from_millis(20)) {
            if ssc.await_termination_timeout(Duration::ZERO)? {
                return Err(Error::Stopped);
            }
            if std::time::Instant::now() >= deadline {
                let _ = ssc.stop(StopOptions::default());
                return Err(Error::StopTimeout(BATCH_TIMEOUT));
            }
        }
    }
    ssc.stop(StopOptions::default())?;
    ssc.await_termination()?;
    let mut results = results.lock();
    Ok((1..=num_batches)
        .map(|i| {
            results
                .remove(&Time::from_millis(i as i64 * 1000))
                .unwrap_or_default()
        })
        .collect())
}
