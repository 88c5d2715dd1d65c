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
