//! A typed shuffle dependency: the map side buckets a parent RDD's records by partitioner into
//! the context's shuffle store; the reduce side fetches its bucket from every map output.

use std::sync::Arc;

use super::Rdd;
use crate::codec;
use crate::context::ShufflePiece;
use crate::dag::{RddBase, ShuffleDepBase};
use crate::data::{Data, Key};
use crate::error::{Error, Result};
use crate::ids::ShuffleId;
use crate::partitioner::{HashPartitioner, Partitioner};
use crate::shuffle::{Block, MapBuckets, encode_bucket};
use crate::task::TaskContext;

/// Reduce-side buckets as read, local or fetched.
pub(crate) type Buckets<K, V> = Vec<Arc<Vec<(K, V)>>>;

/// A typed shuffle of `(K, V)` records by `partitioner`.
pub(crate) struct ShuffleDep<K, V> {
    id: ShuffleId,
    parent: Rdd<(K, V)>,
    partitioner: Arc<dyn Partitioner<K>>,
}

impl<K: Key, V: Data> ShuffleDep<K, V> {
    pub(crate) fn new(parent: Rdd<(K, V)>, partitioner: Arc<dyn Partitioner<K>>) -> Self {
        let ctx = parent.context();
        let id = ctx.inner.next_shuffle_id();
        // An executor's store is keyed by the driver's shuffle ids (see `cluster::lineage`).
        if ctx.inner.executor().is_none() {
            ctx.inner.shuffles.register(id, parent.num_partitions());
        }
        ShuffleDep {
            id,
            parent,
            partitioner,
        }
    }

    pub(crate) fn num_reduces(&self) -> usize {
        self.partitioner.num_partitions()
    }

    /// All records for reduce partition `reduce`, or `FetchFailed` naming the first missing map
    /// output. Blocks are shared; records are cloned out as they are iterated. In an executor,
    /// outputs of other executors are fetched from them.
    pub(crate) fn read(
        &self,
        reduce: usize,
        tc: &TaskContext,
    ) -> Result<impl Iterator<Item = (K, V)> + use<K, V>> {
        let inner = &self.parent.context().inner;
        let blocks = match (inner.executor(), &tc.placement) {
            (Some(ex), Some(placement)) => {
                let (shuffle, pieces) =
                    ex.read_shuffle(self.id, self.num_maps(), reduce, placement)?;
                pieces
                    .into_iter()
                    .enumerate()
                    .map(|(map, piece)| match piece {
                        ShufflePiece::Local(b) => {
                            b.downcast::<Vec<(K, V)>>().map_err(|_| Error::FetchFailed {
                                shuffle,
                                map,
                                reduce,
                            })
                        }
                        ShufflePiece::Frame(frame, origin) => {
                            codec::decode::<Vec<(K, V)>>(&frame, origin).map(Arc::new)
                        }
                    })
                    .collect::<Result<Buckets<K, V>>>()?
            }
            _ => {
                let mut blocks = Vec::with_capacity(self.num_maps());
                for map in 0..self.num_maps() {
                    let block = inner
                        .shuffles
                        .fetch(self.id, map, reduce)
                        .and_then(|b| b.downcast::<Vec<(K, V)>>().ok())
                        .ok_or(Error::FetchFailed {
                            shuffle: self.id,
                            map,
                            reduce,
                        })?;
                    blocks.push(block);
                }
                blocks
            }
        };
        Ok(blocks
            .into_iter()
            .flat_map(|b| (0..b.len()).map(move |i| b[i].clone())))
    }
}

impl<K: Key, V: Data> ShuffleDepBase for ShuffleDep<K, V> {
    fn shuffle_id(&self) -> ShuffleId {
        self.id
    }

    fn parent(&self) -> Arc<dyn RddBase> {
        self.parent.base()
    }

    fn num_maps(&self) -> usize {
        self.parent.num_partitions()
    }

    fn run_map_task(&self, map: usize, tc: &TaskContext) -> Result<()> {
        let n = self.partitioner.num_partitions();
        let mut buckets: Vec<Vec<(K, V)>> = (0..n).map(|_| Vec::new()).collect();
        let records = self.parent.node.iterator(map, tc)?;
        // The common hash partitioner is called statically rather than through the trait object.
        let hash = self
            .partitioner
            .as_any()
            .downcast_ref::<HashPartitioner>()
            .copied();
        // `for_each` rather than `for` or `extend`: records then arrive in chunks (see
        // `PartitionIter`), not through an erased `next` call each.
        match (n, hash) {
            (1, _) => records.for_each(|r| buckets[0].push(r)),
            (_, Some(h)) => records.for_each(|(k, v)| {
                buckets[Partitioner::<K>::partition(&h, &k)].push((k, v));
            }),
            (_, None) => records.for_each(|(k, v)| {
                buckets[self.partitioner.partition(&k)].push((k, v));
            }),
        }
        let inner = &self.parent.context().inner;
        // Sizes matter only to a store that spills (an executor's): no sampling elsewhere.
        let size = if inner.shuffles.spill_dir().is_some() {
            buckets
                .iter()
                .map(|b| crate::storage::estimate_size(b))
                .sum()
        } else {
            0
        };
        let buckets = MapBuckets::new(
            buckets.into_iter().map(|b| Arc::new(b) as Block).collect(),
            encode_bucket::<K, V>,
            size,
        );
        // An executor keys its outputs by the driver's shuffle id.
        let id = inner
            .executor()
            .map_or(Some(self.id), |ex| ex.driver_shuffle_id(self.id))
            .ok_or_else(|| Error::Internal(format!("{} has no driver id", self.id)))?;
        inner.shuffles.put(id, map, self.num_maps(), buckets)
    }
}

impl<K, V> Drop for ShuffleDep<K, V> {
    fn drop(&mut self) {
        // RAII cleanup: once no RDD refers to this shuffle, its outputs can never be read.
        let inner = &self.parent.node.meta.ctx.inner;
        match inner.executor() {
            Some(ex) => {
                if let Some(id) = ex.forget_shuffle(self.id) {
                    inner.shuffles.remove(id);
                }
            }
            None => inner.shuffles.remove(self.id),
        }
    }
}
