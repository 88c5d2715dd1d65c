//! Fault injection (**testing only**): the means to prove lineage-based recovery.
//!
//! Every fault is scoped to one [`Context`](crate::Context). Injected task failures surface as
//! [`Error::Injected`] inside the task and are retried like any failure.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::Mutex;

use crate::error::{Error, Result};
use crate::ids::{RddId, ShuffleId};
use crate::shuffle::ShuffleStore;
use crate::storage::BlockId;
use crate::storage::BlockStore;

#[derive(Default)]
pub(crate) struct FaultState {
    armed: AtomicBool,
    rules: Mutex<Rules>,
}

#[derive(Default)]
struct Rules {
    fail_attempts: HashSet<(RddId, usize, u32)>,
    fail_always: HashSet<(RddId, usize)>,
    lose_after_map_stage: HashMap<ShuffleId, VecDeque<Vec<usize>>>,
}

impl FaultState {
    /// Called whenever a task computes partition `partition` of `rdd`: fails it if a rule says so.
    #[inline]
    pub(crate) fn on_compute(&self, rdd: RddId, partition: usize, attempt: u32) -> Result<()> {
        if !self.armed.load(Ordering::Relaxed) {
            return Ok(());
        }
        let mut r = self.rules.lock();
        if r.fail_always.contains(&(rdd, partition))
            || r.fail_attempts.remove(&(rdd, partition, attempt))
        {
            return Err(Error::Injected(format!(
                "attempt {attempt} of partition {partition} of {rdd} failed"
            )));
        }
        Ok(())
    }

    /// Called when a map stage has all its outputs: takes the next armed loss, if any.
    pub(crate) fn take_losses_after_map_stage(&self, shuffle: ShuffleId) -> Vec<usize> {
        if !self.armed.load(Ordering::Relaxed) {
            return Vec::new();
        }
        self.rules
            .lock()
            .lose_after_map_stage
            .get_mut(&shuffle)
            .and_then(VecDeque::pop_front)
            .unwrap_or_default()
    }

    fn arm(&self, f: impl FnOnce(&mut Rules)) {
        f(&mut self.rules.lock());
        self.armed.store(true, Ordering::Relaxed);
    }
}

/// Injects faults into one context's jobs (**testing only**). Get one from
/// [`Context::fault_injector`](crate::Context::fault_injector).
///
/// # Examples
///
/// ```
/// use spate_core::Context;
/// let ctx = Context::local(2).unwrap();
/// let pairs = ctx.parallelize((0..100u64).map(|i| (i % 10, 1u64)).collect(), 4);
/// let counts = pairs.reduce_by_key(|a, b| a + b);
/// let before = counts.collect().unwrap();
/// // Lose two map outputs as an executor crash would: the next job recomputes just those.
/// let shuffle = counts.shuffle_ids()[0];
/// assert_eq!(ctx.fault_injector().lose_shuffle_outputs(shuffle, &[0, 3]), 2);
/// assert_eq!(counts.collect().unwrap(), before);
/// ```
#[derive(Clone)]
pub struct FaultInjector {
    faults: Arc<FaultState>,
    shuffles: Arc<ShuffleStore>,
    blocks: Arc<BlockStore>,
}

impl std::fmt::Debug for FaultInjector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaultInjector").finish_non_exhaustive()
    }
}

impl FaultInjector {
    /// An injector into the context whose fault state and stores these are.
    pub(crate) fn new(
        faults: Arc<FaultState>,
        shuffles: Arc<ShuffleStore>,
        blocks: Arc<BlockStore>,
    ) -> FaultInjector {
        FaultInjector {
            faults,
            shuffles,
            blocks,
        }
    }
}

impl FaultInjector {
    /// Fails attempt `attempt` (from 0) of the task that computes `partition` of `rdd`.
    ///
    /// # Examples
    ///
    /// ```
    /// let ctx = spate_core::Context::local(1).unwrap();
    /// let rdd = ctx.parallelize(vec![1, 2], 1);
    /// ctx.fault_injector().fail_task_attempt(rdd.id(), 0, 0);
    /// assert_eq!(rdd.count().unwrap(), 2);
    /// ```
    pub fn fail_task_attempt(&self, rdd: RddId, partition: usize, attempt: u32) {
        self.faults.arm(|r| {
            r.fail_attempts.insert((rdd, partition, attempt));
        });
    }

    /// Fails every attempt of the task that computes `partition` of `rdd`.
    ///
    /// # Examples
    ///
    /// ```
    /// let ctx = spate_core::Context::local(1).unwrap();
    /// let rdd = ctx.parallelize(vec![1, 2], 2);
    /// ctx.fault_injector().fail_task_always(rdd.id(), 1);
    /// assert!(matches!(rdd.count(), Err(spate_core::Error::JobAborted { attempts: 4, .. })));
    /// ```
    pub fn fail_task_always(&self, rdd: RddId, partition: usize) {
        self.faults.arm(|r| {
            r.fail_always.insert((rdd, partition));
        });
    }

    /// Loses the given map outputs of `shuffle` now (they stay registered, as with a crashed
    /// executor, so the next reader's fetch fails). Returns how many were present and lost.
    ///
    /// # Examples
    ///
    /// ```
    /// let ctx = spate_core::Context::local(1).unwrap();
    /// let g = ctx.parallelize(vec![(1, 'a')], 1).group_by_key();
    /// assert_eq!(ctx.fault_injector().lose_shuffle_outputs(g.shuffle_ids()[0], &[0]), 0); // not computed yet
    /// ```
    pub fn lose_shuffle_outputs(&self, shuffle: ShuffleId, maps: &[usize]) -> usize {
        self.shuffles.lose(shuffle, maps)
    }

    /// Loses the given map outputs of `shuffle` right after its map stage next completes, before
    /// the reduce stage reads them: recovery then happens inside one job. Each call arms one
    /// loss; several calls lose the outputs again each time the stage completes anew.
    ///
    /// # Examples
    ///
    /// ```
    /// let ctx = spate_core::Context::local(2).unwrap();
    /// let counts = ctx.parallelize(vec![('a', 1), ('b', 1), ('a', 1)], 3).reduce_by_key(|a, b| a + b);
    /// ctx.fault_injector().lose_shuffle_outputs_after_map_stage(counts.shuffle_ids()[0], &[1]);
    /// let mut got = counts.collect().unwrap();
    /// got.sort();
    /// assert_eq!(got, [('a', 2), ('b', 1)]);
    /// ```
    pub fn lose_shuffle_outputs_after_map_stage(&self, shuffle: ShuffleId, maps: &[usize]) {
        self.faults.arm(|r| {
            r.lose_after_map_stage
                .entry(shuffle)
                .or_default()
                .push_back(maps.to_vec())
        });
    }

    /// Drops cached blocks of `rdd` (memory and disk), as eviction or a lost executor would.
    /// Returns how many were present.
    ///
    /// # Examples
    ///
    /// ```
    /// let ctx = spate_core::Context::local(1).unwrap();
    /// let rdd = ctx.parallelize(vec![1, 2, 3], 3).cache();
    /// rdd.count().unwrap();
    /// assert_eq!(ctx.fault_injector().drop_cached_blocks(rdd.id(), &[0, 2]), 2);
    /// assert_eq!(rdd.collect().unwrap(), [1, 2, 3]);
    /// ```
    pub fn drop_cached_blocks(&self, rdd: RddId, partitions: &[usize]) -> usize {
        partitions
            .iter()
            .filter(|&&partition| self.blocks.remove(BlockId::rdd(rdd, partition)))
            .count()
    }

    /// Where a cached block lives now: `Some("memory")`, `Some("disk")`, or `None`.
    ///
    /// # Examples
    ///
    /// ```
    /// let ctx = spate_core::Context::local(1).unwrap();
    /// let rdd = ctx.parallelize(vec![1], 1).persist(spate_core::StorageLevel::Disk);
    /// rdd.count().unwrap();
    /// assert_eq!(ctx.fault_injector().cached_block_location(rdd.id(), 0), Some("disk"));
    /// ```
    pub fn cached_block_location(&self, rdd: RddId, partition: usize) -> Option<&'static str> {
        self.blocks.location(BlockId::rdd(rdd, partition))
    }
}
