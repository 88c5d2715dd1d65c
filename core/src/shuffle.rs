//! The shuffle store: map outputs' buckets (the typed dependency that writes and reads them is
//! `rdd::shuffle_dep`).
//!
//! The store also serves as the map output tracker: a map output is *registered* once its task
//! finished. A registered output whose blocks are gone (a lost executor, or an injected fault)
//! makes the fetching task fail with [`Error::FetchFailed`], and the scheduler re-runs just the
//! lost map tasks from lineage.

use std::any::Any;
use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;

use crate::data::Data;
use crate::error::{Error, Result};
use crate::ids::ShuffleId;

/// One map output's bucket for one reduce partition, type-erased.
pub(crate) type Block = Arc<dyn Any + Send + Sync>;

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

impl MapBuckets {
    /// A map output's buckets (one per reduce partition), how each is encoded for another
    /// process, and their estimated bytes in memory.
    pub(crate) fn new(
        blocks: Vec<Block>,
        encode: fn(&Block) -> Result<Vec<u8>>,
        size: u64,
    ) -> Self {
        MapBuckets {
            blocks,
            files: Vec::new(),
            encode,
            size,
        }
    }
}

pub(crate) fn encode_bucket<K: Data, V: Data>(block: &Block) -> Result<Vec<u8>> {
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
    pub(crate) fn put(
        &self,
        id: ShuffleId,
        map: usize,
        num_maps: usize,
        buckets: MapBuckets,
    ) -> Result<()> {
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

    pub(crate) fn fetch(&self, id: ShuffleId, map: usize, reduce: usize) -> Option<Block> {
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
