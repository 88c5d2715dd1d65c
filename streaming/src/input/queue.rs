//! `queue_stream`'s input: a queue of RDDs, one (or all) taken each batch.

use std::collections::VecDeque;
use std::sync::Arc;

use parking_lot::Mutex;
use spate_core::{Context, Data, Rdd, Result};

use crate::common::Time;
use crate::dstream::StreamOp;

/// A queue of RDDs feeding a [`queue_stream`](crate::StreamingContext::queue_stream); push to it
/// from any thread, before or after start.
///
/// # Examples
///
/// ```
/// let ctx = spate_core::Context::local(1).unwrap();
/// let q = spate_streaming::RddQueue::new();
/// q.push(ctx.parallelize(vec![1, 2], 1));
/// assert_eq!(q.len(), 1);
/// ```
pub struct RddQueue<T> {
    inner: Arc<Mutex<VecDeque<Rdd<T>>>>,
}

impl<T> Clone for RddQueue<T> {
    fn clone(&self) -> Self {
        RddQueue {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<T> Default for RddQueue<T> {
    fn default() -> Self {
        RddQueue {
            inner: Arc::new(Mutex::new(VecDeque::new())),
        }
    }
}

impl<T> RddQueue<T> {
    /// An empty queue.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(spate_streaming::RddQueue::<u8>::new().is_empty());
    /// ```
    pub fn new() -> RddQueue<T> {
        RddQueue::default()
    }

    /// Appends an RDD.
    ///
    /// # Examples
    ///
    /// ```
    /// let ctx = spate_core::Context::local(1).unwrap();
    /// let q = spate_streaming::RddQueue::new();
    /// q.push(ctx.parallelize(vec!['x'], 1));
    /// assert!(!q.is_empty());
    /// ```
    pub fn push(&self, rdd: Rdd<T>) {
        self.inner.lock().push_back(rdd);
    }

    /// RDDs waiting.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(spate_streaming::RddQueue::<u8>::new().len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        self.inner.lock().len()
    }

    /// Whether no RDD is waiting.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(spate_streaming::RddQueue::<u8>::new().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.inner.lock().is_empty()
    }
}

pub(crate) struct QueueOp<T> {
    pub(crate) queue: RddQueue<T>,
    pub(crate) one_at_a_time: bool,
    pub(crate) default: Option<Rdd<T>>,
    pub(crate) ctx: Context,
    /// The latest time that took from the queue: an older time asked for again (after its RDD
    /// was forgotten) must not take the next batch's RDD.
    pub(crate) last: Mutex<Option<Time>>,
}

impl<T: Data> StreamOp<T> for QueueOp<T> {
    fn compute(&self, time: Time) -> Result<Option<Rdd<T>>> {
        {
            let mut last = self.last.lock();
            if last.is_some_and(|l| time <= l) {
                return Ok(None);
            }
            *last = Some(time);
        }
        let mut q = self.queue.inner.lock();
        if q.is_empty() {
            return Ok(self.default.clone());
        }
        if self.one_at_a_time {
            return Ok(q.pop_front());
        }
        let all: Vec<Rdd<T>> = q.drain(..).collect();
        Ok(Some(self.ctx.union(&all)))
    }
}
