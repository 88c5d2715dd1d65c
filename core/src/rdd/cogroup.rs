//! Co-grouping two pair RDDs: the basis of every join. Each side is read through a shuffle, or
//! directly (a narrow dependency) when it is already partitioned by the target partitioner.

use std::sync::Arc;

use super::{Dependency, PartitionIter, Rdd, RddOp};
use crate::data::{Data, Key};
use crate::error::Result;
use crate::hash::FxHashMap;
use crate::partitioner::Partitioner;
use crate::shuffle::{ShuffleDep, ShuffleDepBase};
use crate::task::TaskContext;

enum Side<K, V> {
    Narrow(Rdd<(K, V)>),
    Shuffled(Arc<ShuffleDep<K, V>>),
}

impl<K: Key, V: Data> Side<K, V> {
    fn new(rdd: &Rdd<(K, V)>, partitioner: &Arc<dyn Partitioner<K>>) -> Self {
        if rdd.partitioner().is_some_and(|p| p.same_as(&**partitioner)) {
            Side::Narrow(rdd.clone())
        } else {
            Side::Shuffled(Arc::new(ShuffleDep::new(
                rdd.clone(),
                Arc::clone(partitioner),
            )))
        }
    }

    fn dependency(&self) -> Dependency {
        match self {
            Side::Narrow(r) => Dependency::Narrow(r.base()),
            Side::Shuffled(d) => Dependency::Shuffle(Arc::clone(d) as Arc<dyn ShuffleDepBase>),
        }
    }

    fn read(&self, partition: usize, tc: &TaskContext) -> Result<PartitionIter<(K, V)>> {
        match self {
            Side::Narrow(r) => r.node.iterator(partition, tc),
            Side::Shuffled(d) => Ok(PartitionIter::new(d.read(partition, tc)?)),
        }
    }
}

pub(crate) struct CoGroupOp<K, V, W> {
    left: Side<K, V>,
    right: Side<K, W>,
    partitions: usize,
}

impl<K: Key, V: Data, W: Data> CoGroupOp<K, V, W> {
    pub(crate) fn new(
        left: &Rdd<(K, V)>,
        right: &Rdd<(K, W)>,
        partitioner: Arc<dyn Partitioner<K>>,
    ) -> Self {
        CoGroupOp {
            left: Side::new(left, &partitioner),
            right: Side::new(right, &partitioner),
            partitions: partitioner.num_partitions(),
        }
    }
}

impl<K: Key, V: Data, W: Data> RddOp<(K, (Vec<V>, Vec<W>))> for CoGroupOp<K, V, W> {
    fn num_partitions(&self) -> usize {
        self.partitions
    }
    fn dependencies(&self) -> Vec<Dependency> {
        vec![self.left.dependency(), self.right.dependency()]
    }
    fn compute(
        &self,
        partition: usize,
        tc: &TaskContext,
    ) -> Result<PartitionIter<(K, (Vec<V>, Vec<W>))>> {
        // Fetch both sides before grouping so a lost map output fails fast.
        let (left, right) = (
            self.left.read(partition, tc)?,
            self.right.read(partition, tc)?,
        );
        let mut groups: FxHashMap<K, (Vec<V>, Vec<W>)> = FxHashMap::default();
        for (k, v) in left {
            groups.entry(k).or_default().0.push(v);
        }
        for (k, w) in right {
            groups.entry(k).or_default().1.push(w);
        }
        Ok(PartitionIter::new(groups.into_iter()))
    }
}
