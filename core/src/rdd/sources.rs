//! Source RDDs: a driver-side collection, received blocks, object files (text files are in
//! `text_file`).

use std::path::PathBuf;
use std::sync::Arc;

use super::{Dependency, PartitionIter, RddOp, SharedVecIter};
use crate::context::Context;
use crate::data::Data;
use crate::error::{Error, Result};
use crate::ids::InputBlockId;
use crate::storage::BlockId;
use crate::task::TaskContext;

/// A driver-side vector cut into contiguous slices.
pub(crate) struct ParallelCollection<T> {
    slices: Vec<Arc<Vec<T>>>,
}

impl<T: Data> ParallelCollection<T> {
    pub(crate) fn new(mut data: Vec<T>, slices: usize) -> Self {
        let len = data.len();
        let mut out = Vec::with_capacity(slices);
        // Cut from the back so each slice is moved, not copied.
        for i in (0..slices).rev() {
            let start = i * len / slices;
            out.push(Arc::new(data.split_off(start)));
        }
        out.reverse();
        ParallelCollection { slices: out }
    }

    /// One partition per block, sharing the blocks.
    pub(crate) fn from_blocks(blocks: Vec<Arc<Vec<T>>>) -> Self {
        ParallelCollection { slices: blocks }
    }
}

impl<T: Data> RddOp<T> for ParallelCollection<T> {
    fn num_partitions(&self) -> usize {
        self.slices.len()
    }
    fn dependencies(&self) -> Vec<Dependency> {
        Vec::new()
    }
    fn compute(&self, partition: usize, _tc: &TaskContext) -> Result<PartitionIter<T>> {
        Ok(PartitionIter::new(SharedVecIter {
            data: Arc::clone(&self.slices[partition]),
            pos: 0,
        }))
    }
    fn identity(&self) -> String {
        let lens: Vec<usize> = self.slices.iter().map(|s| s.len()).collect();
        format!("records {lens:?}")
    }
}

/// Blocks of received records, read from the block store by id: one partition per block.
pub(crate) struct InputBlocks {
    pub(crate) ids: Vec<InputBlockId>,
    pub(crate) ctx: Context,
}

impl<T: Data> RddOp<T> for InputBlocks {
    fn num_partitions(&self) -> usize {
        self.ids.len()
    }
    fn dependencies(&self) -> Vec<Dependency> {
        Vec::new()
    }
    fn compute(&self, partition: usize, _tc: &TaskContext) -> Result<PartitionIter<T>> {
        let block = self.ids[partition];
        if let Some(data) = self.ctx.inner.blocks.get::<T>(BlockId::Input(block)) {
            return Ok(data.into_iter_boxed());
        }
        // In an executor: received blocks stay on the driver, which serves them.
        match self.ctx.inner.executor() {
            Some(ex) => ex.fetch_input_block::<T>(block),
            None => Err(Error::InputBlockLost { block }),
        }
    }
}

/// A directory written by `save_as_object_file`: one partition per `part-NNNNN` file.
pub(crate) struct ObjectFiles {
    pub(crate) parts: Vec<PathBuf>,
}

impl<T: Data> RddOp<T> for ObjectFiles {
    fn num_partitions(&self) -> usize {
        self.parts.len()
    }
    fn dependencies(&self) -> Vec<Dependency> {
        Vec::new()
    }
    fn compute(&self, partition: usize, _tc: &TaskContext) -> Result<PartitionIter<T>> {
        let records: Vec<T> = crate::codec::read_file(&self.parts[partition])?;
        Ok(PartitionIter::new(records.into_iter()))
    }
}

/// An external system's data as an RDD's partitions: what [`Context::source`] reads. Each
/// process that runs a task calls `compute` itself (an executor, in cluster mode), so a source
/// holds what names its data (offset ranges, keys), never the data.
///
/// # Examples
///
/// ```
/// use spate_core::{Context, PartitionIter, Result, Source};
/// /// Partition `i` holds `i * 10 .. i * 10 + 3`.
/// struct Tens;
/// impl Source<u64> for Tens {
///     fn num_partitions(&self) -> usize { 2 }
///     fn compute(&self, partition: usize) -> Result<PartitionIter<u64>> {
///         let start = partition as u64 * 10;
///         Ok(PartitionIter::new(start..start + 3))
///     }
///     fn identity(&self) -> String { "tens".into() }
/// }
/// let ctx = Context::local(2).unwrap();
/// assert_eq!(ctx.source("tens", Tens).collect().unwrap(), [0, 1, 2, 10, 11, 12]);
/// ```
pub trait Source<T>: Send + Sync + 'static {
    /// How many partitions the RDD has.
    fn num_partitions(&self) -> usize;
    /// Reads partition `partition` (in the task that computes it). An error fails the task
    /// attempt, which is retried up to `spate.task.maxFailures`.
    fn compute(&self, partition: usize) -> Result<PartitionIter<T>>;
    /// What names this source's data, equal in every process that built the same graph (it
    /// is part of a cluster job's fingerprint): e.g. the offset ranges it reads.
    fn identity(&self) -> String;
}

/// A [`Source`] as an RDD operation.
pub(crate) struct External<S>(pub(crate) S);

impl<T: Data, S: Source<T>> RddOp<T> for External<S> {
    fn num_partitions(&self) -> usize {
        self.0.num_partitions()
    }
    fn dependencies(&self) -> Vec<Dependency> {
        Vec::new()
    }
    fn compute(&self, partition: usize, _tc: &TaskContext) -> Result<PartitionIter<T>> {
        self.0.compute(partition)
    }
    fn identity(&self) -> String {
        self.0.identity()
    }
}
