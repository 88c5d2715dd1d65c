//! Shuffles: the map side buckets records by partitioner into the context's shuffle store; the
//! reduce side fetches its bucket from every map output.
//!
//! The store also serves as the map output tracker: a map output is *registered* once its task
//! finished. A registered output whose blocks are gone (a lost executor, or an injected fault)
//! makes the fetching task fail with [`Error::FetchFailed`], and the scheduler re-runs just the
//! lost map tasks from lineage.

use std::any::Any;
use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;

use crate::data::{Data, Key};
use crate::error::{Error, Result};
use crate::ids::ShuffleId;
use crate::partitioner::{HashPartitioner, Partitioner};
use crate::rdd::{Rdd, RddBase};
use crate::task::TaskContext;

type Block = Arc<dyn Any + Send + Sync>;

#[derive(Default)]
struct ShuffleOutputs {
    /// Per map partition: its reduce buckets once registered.
    maps: Vec<MapOutput>,
}

#[derive(Clone)]
enum MapOutput {
    /// Not computed, or unregistered after a failed fetch: the scheduler will run it.
    Missing,
    /// Registered, with one block per reduce partition.
    Ready(Arc<MapBuckets>),
    /// Registered but its data is gone (an injected loss): fetching it fails.
    Lost,
    /// In a cluster driver: registered, its blocks held by this executor.
    Remote(u32),
}

/// One map output's reduce buckets — in memory, or spilled as one encoded file each — and how
/// to encode one for a reducer in another process.
pub(crate) struct MapBuckets {
    blocks: Vec<Block>,
    files: Vec<std::path::PathBuf>,
    encode: fn(&Block) -> Result<Vec<u8>>,
    /// Estimated bytes in memory.
    size: u64,
}

fn encode_bucket<K: Data, V: Data>(block: &Block) -> Result<Vec<u8>> {
    let records = block
        .downcast_ref::<Vec<(K, V)>>()
        .ok_or_else(|| Error::Internal("a shuffle bucket of another type".into()))?;
    crate::codec::encode(records)
}

/// Per-context store of shuffle map outputs.
#[derive(Default)]
pub(crate) struct ShuffleStore {
    shuffles: Mutex<HashMap<ShuffleId, ShuffleOutputs>>,
    /// In an executor: map outputs beyond this many (estimated) bytes in memory are spilled
    /// to `spill_dir`, one encoded file per bucket; `None` keeps everything in memory.
    spill: Option<Spill>,
}

struct Spill {
    budget: u64,
    dir: std::path::PathBuf,
    in_memory: std::sync::atomic::AtomicU64,
    /// Whether the first spill has been logged (on stderr: the executor's log).
    told: std::sync::atomic::AtomicBool,
}

impl Drop for Spill {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl ShuffleStore {
    /// A store that spills map outputs past `budget` bytes into a fresh directory under `dir`
    /// (an executor's: its outputs must outlive the task but not fill its memory).
    pub(crate) fn spilling(budget: u64, dir: &std::path::Path) -> Result<ShuffleStore> {
        let dir = tempfile::Builder::new()
            .prefix("spate-shuffle-")
            .tempdir_in(dir)
            .map_err(|e| Error::io(dir, e))?
            .keep();
        Ok(ShuffleStore {
            shuffles: Mutex::default(),
            spill: Some(Spill {
                budget,
                dir,
                in_memory: Default::default(),
                told: Default::default(),
            }),
        })
    }

    /// The directory spilled outputs go to (an executor removes it when it exits).
    pub(crate) fn spill_dir(&self) -> Option<&std::path::Path> {
        self.spill.as_ref().map(|s| s.dir.as_path())
    }

    /// Writes `buckets` to files when the memory budget is spent (counting them if kept).
    fn maybe_spill(&self, id: ShuffleId, map: usize, buckets: MapBuckets) -> Result<MapBuckets> {
        use std::sync::atomic::Ordering;
        let Some(spill) = &self.spill else {
            return Ok(buckets);
        };
        let size = buckets.size;
        if spill.in_memory.load(Ordering::Relaxed) + size <= spill.budget {
            spill.in_memory.fetch_add(size, Ordering::Relaxed);
            return Ok(buckets);
        }
        let mut files = Vec::with_capacity(buckets.blocks.len());
        for (reduce, block) in buckets.blocks.iter().enumerate() {
            let path = spill.dir.join(format!("shuffle-{}-{map}-{reduce}", id.0));
            let frame = (buckets.encode)(block)?;
            std::fs::write(&path, frame).map_err(|e| Error::io(&path, e))?;
            files.push(path);
        }
        if !spill.told.swap(true, Ordering::Relaxed) {
            eprintln!(
                "spate: map outputs past spate.storage.memory ({} bytes) spill to {} \
                 (first: {id} map {map}, ~{size} bytes)",
                spill.budget,
                spill.dir.display()
            );
        }
        Ok(MapBuckets {
            blocks: Vec::new(),
            files,
            encode: buckets.encode,
            size: 0,
        })
    }

    fn release(&self, buckets: &MapBuckets) {
        if let Some(spill) = &self.spill {
            spill
                .in_memory
                .fetch_sub(buckets.size, std::sync::atomic::Ordering::Relaxed);
        }
        for f in &buckets.files {
            let _ = std::fs::remove_file(f);
        }
    }
    /// Makes sure the shuffle is known with `num_maps` map outputs.
    pub(crate) fn register(&self, id: ShuffleId, num_maps: usize) {
        self.shuffles
            .lock()
            .entry(id)
            .or_insert_with(|| ShuffleOutputs {
                maps: vec![MapOutput::Missing; num_maps],
            });
    }

    /// Map partitions with no registered output (never computed, or unregistered after a failed
    /// fetch). A `Lost` output is still registered: as with a crashed executor, only the next
    /// fetch discovers the loss.
    pub(crate) fn missing_maps(&self, id: ShuffleId) -> Vec<usize> {
        let s = self.shuffles.lock();
        s.get(&id).map_or_else(Vec::new, |o| {
            (0..o.maps.len())
                .filter(|&m| matches!(o.maps[m], MapOutput::Missing))
                .collect()
        })
    }

    /// Stores map output `map` of shuffle `id`; `num_maps` registers the shuffle if this
    /// store has not seen it (an executor's store learns shuffles from the tasks it runs).
    fn put(&self, id: ShuffleId, map: usize, num_maps: usize, buckets: MapBuckets) -> Result<()> {
        let buckets = self.maybe_spill(id, map, buckets)?;
        let mut s = self.shuffles.lock();
        let o = s.entry(id).or_insert_with(|| ShuffleOutputs {
            maps: vec![MapOutput::Missing; num_maps],
        });
        if let Some(slot) = o.maps.get_mut(map) {
            if let MapOutput::Ready(old) = slot {
                self.release(old);
            }
            *slot = MapOutput::Ready(Arc::new(buckets));
        }
        Ok(())
    }

    /// Bucket `reduce` of map output `map`, as stored (for a reducer in this process).
    pub(crate) fn fetch_local(&self, id: ShuffleId, map: usize, reduce: usize) -> Option<Block> {
        self.fetch(id, map, reduce)
    }

    fn fetch(&self, id: ShuffleId, map: usize, reduce: usize) -> Option<Block> {
        let s = self.shuffles.lock();
        match s.get(&id)?.maps.get(map)? {
            MapOutput::Ready(b) => b.blocks.get(reduce).cloned(),
            _ => None,
        }
    }

    /// Bucket `reduce` of map output `map` as a codec frame, for a reducer in another
    /// process; `None` when this store does not hold it.
    pub(crate) fn fetch_encoded(
        &self,
        id: ShuffleId,
        map: usize,
        reduce: usize,
    ) -> Option<Result<Vec<u8>>> {
        let buckets = {
            let s = self.shuffles.lock();
            match s.get(&id)?.maps.get(map)? {
                MapOutput::Ready(b) => Arc::clone(b),
                _ => return None,
            }
        };
        if let Some(path) = buckets.files.get(reduce) {
            return Some(std::fs::read(path).map_err(|e| Error::io(path, e)));
        }
        let block = buckets.blocks.get(reduce)?;
        Some((buckets.encode)(block))
    }

    /// In a cluster driver: map output `map` of shuffle `id` was written by `executor`.
    pub(crate) fn put_remote(&self, id: ShuffleId, map: usize, executor: u32) {
        if let Some(slot) = self
            .shuffles
            .lock()
            .get_mut(&id)
            .and_then(|o| o.maps.get_mut(map))
        {
            *slot = MapOutput::Remote(executor);
        }
    }

    /// In a cluster driver: which executor holds each map output of shuffle `id` (`None`:
    /// not computed, or lost).
    pub(crate) fn locations(&self, id: ShuffleId) -> Vec<Option<u32>> {
        let s = self.shuffles.lock();
        s.get(&id).map_or_else(Vec::new, |o| {
            o.maps
                .iter()
                .map(|m| match m {
                    MapOutput::Remote(e) => Some(*e),
                    _ => None,
                })
                .collect()
        })
    }

    /// In a cluster driver: every map output `executor` held is gone. Returns how many.
    pub(crate) fn lose_executor(&self, executor: u32) -> usize {
        let mut n = 0;
        for o in self.shuffles.lock().values_mut() {
            for slot in &mut o.maps {
                if matches!(slot, MapOutput::Remote(e) if *e == executor) {
                    *slot = MapOutput::Missing;
                    n += 1;
                }
            }
        }
        n
    }

    /// After a failed fetch of `map`'s output: unregisters every lost output of the shuffle
    /// (as Spark drops all outputs of a dead executor) — in a cluster driver, every output of
    /// the executor that held `map` — so one resubmission recomputes them all. Returns how
    /// many outputs were newly unregistered (0 when another task already reported the loss).
    pub(crate) fn unregister_lost(&self, id: ShuffleId, map: usize) -> usize {
        let mut s = self.shuffles.lock();
        let Some(o) = s.get_mut(&id) else { return 0 };
        let holder = match o.maps.get(map) {
            Some(MapOutput::Remote(e)) => Some(*e),
            _ => None,
        };
        let mut n = 0;
        for slot in &mut o.maps {
            let lost = match slot {
                MapOutput::Lost => true,
                MapOutput::Remote(e) => Some(*e) == holder,
                _ => false,
            };
            if lost {
                *slot = MapOutput::Missing;
                n += 1;
            }
        }
        n
    }

    /// Drops a map output's data but leaves it registered, as a lost executor would: the next
    /// fetch fails and triggers recomputation. Returns how many outputs were dropped.
    pub(crate) fn lose(&self, id: ShuffleId, maps: &[usize]) -> usize {
        let mut s = self.shuffles.lock();
        let Some(o) = s.get_mut(&id) else { return 0 };
        let mut n = 0;
        for &m in maps {
            if let Some(slot @ (MapOutput::Ready(_) | MapOutput::Remote(_))) = o.maps.get_mut(m) {
                *slot = MapOutput::Lost;
                n += 1;
            }
        }
        n
    }

    /// Forgets a shuffle entirely (its dependency was dropped), spilled files too.
    pub(crate) fn remove(&self, id: ShuffleId) {
        if let Some(o) = self.shuffles.lock().remove(&id) {
            for m in &o.maps {
                if let MapOutput::Ready(b) = m {
                    self.release(b);
                }
            }
        }
    }

    /// Number of shuffles with stored state.
    pub(crate) fn len(&self) -> usize {
        self.shuffles.lock().len()
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
                ex.read_shuffle::<K, V>(self.id, self.num_maps(), reduce, placement)?
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
        let buckets = MapBuckets {
            blocks: buckets.into_iter().map(|b| Arc::new(b) as Block).collect(),
            files: Vec::new(),
            encode: encode_bucket::<K, V>,
            size,
        };
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
