//! The untyped lineage graph: an RDD node and a shuffle dependency as the scheduler, the
//! cluster runtime and the lineage printer see them, whatever their record types. The typed
//! RDDs (`rdd/`) implement these.

use std::sync::Arc;

use crate::error::Result;
use crate::ids::{InputBlockId, RddId, ShuffleId};
use crate::task::TaskContext;

/// An edge of the lineage graph.
#[derive(Clone)]
pub(crate) enum Dependency {
    /// Each partition depends on a bounded set of parent partitions: pipelined in one task.
    Narrow(Arc<dyn RddBase>),
    /// Each partition depends on all parent partitions: a stage boundary.
    Shuffle(Arc<dyn ShuffleDepBase>),
}

/// The untyped view of an RDD node: what the scheduler and the lineage printer need.
pub(crate) trait RddBase: Send + Sync {
    fn id(&self) -> RddId;
    fn num_partitions(&self) -> usize;
    /// The dependencies, or none once the RDD is checkpointed (lineage cut).
    fn dependencies(&self) -> Vec<Dependency>;
    /// Operator and call site, e.g. `reduce_by_key [rdd 3] at src/main.rs:12`.
    fn describe(&self) -> String;
    /// Whether every partition is cached, so the scheduler need not look further up.
    fn fully_cached(&self) -> bool;
    /// Whether `checkpoint()` was called and the files are not written yet.
    fn checkpoint_pending(&self) -> bool;
    /// Writes the checkpoint files (runs a job) and cuts the lineage.
    fn write_checkpoint(self: Arc<Self>) -> Result<()>;
    /// A lineage line suffix: storage level, checkpoint directory.
    fn annotations(&self) -> String;
    /// Operator, call site, partition count and source identity, without ids: equal in every
    /// process that built the same graph.
    fn signature(&self) -> String;
    /// The parent partitions computing `partition` reads first, through narrow dependencies
    /// (where its input is, for task placement): the same partition of a parent of the same
    /// shape, or what the operator says (a union's one parent).
    fn narrow_parents(&self, partition: usize) -> Vec<(Arc<dyn RddBase>, usize)>;
    /// The received block `partition` reads, for an RDD of received blocks.
    fn input_block(&self, _partition: usize) -> Option<InputBlockId> {
        None
    }
}

/// The untyped face of a shuffle dependency, as the scheduler sees it.
pub(crate) trait ShuffleDepBase: Send + Sync {
    fn shuffle_id(&self) -> ShuffleId;
    fn parent(&self) -> Arc<dyn RddBase>;
    fn num_maps(&self) -> usize;
    /// Computes map partition `map` of the parent and stores its buckets.
    fn run_map_task(&self, map: usize, tc: &TaskContext) -> Result<()>;
}
