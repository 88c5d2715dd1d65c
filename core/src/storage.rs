//! Caching: storage levels and the per-context block store.
//!
//! The store keeps cached partitions within a memory budget (`spate.storage.memory`), evicting
//! the least recently used blocks first. An evicted block whose level allows disk is spilled there
//! (through [`crate::codec`]); any other is dropped and recomputed from lineage when next needed.
//! A spilled block that cannot be read back is likewise treated as lost and recomputed.

use std::any::Any;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use crate::codec;
use crate::data::Data;
use crate::error::{Error, Result};
use crate::ids::{InputBlockId, RddId};
use crate::text::TextLines;

/// Where a persisted RDD's partitions are kept.
///
/// # Examples
///
/// ```
/// use spate_core::{Context, StorageLevel};
/// let ctx = Context::local(2).unwrap();
/// let rdd = ctx.parallelize((0..100).collect::<Vec<u32>>(), 4).persist(StorageLevel::MemoryAndDisk);
/// assert_eq!(rdd.count().unwrap(), 100);
/// assert_eq!(rdd.storage_level(), Some(StorageLevel::MemoryAndDisk));
/// ```
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum StorageLevel {
    /// Deserialized objects in memory; dropped (and recomputed later) when evicted.
    Memory,
    /// Serialized bytes in memory: smaller, slower to read; dropped when evicted.
    MemorySerialized,
    /// Serialized on local disk only.
    Disk,
    /// Objects in memory, spilled to disk when evicted or too large for memory.
    MemoryAndDisk,
}

impl StorageLevel {
    fn uses_disk(self) -> bool {
        matches!(self, StorageLevel::Disk | StorageLevel::MemoryAndDisk)
    }
}

/// Names a stored block: one partition of one RDD, or one block of received records.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum BlockId {
    /// A cached partition.
    Rdd { rdd: RddId, partition: usize },
    /// Records a streaming receiver stored; they have no lineage.
    Input(InputBlockId),
}

impl BlockId {
    pub(crate) fn rdd(rdd: RddId, partition: usize) -> BlockId {
        BlockId::Rdd { rdd, partition }
    }

    fn file_name(&self) -> String {
        match self {
            BlockId::Rdd { rdd, partition } => format!("rdd_{}_{partition}", rdd.0),
            BlockId::Input(id) => format!("input_{}_{}", id.stream, id.seq),
        }
    }
}

#[derive(Clone)]
enum Stored {
    Objects {
        data: Arc<dyn Any + Send + Sync>,
        // Monomorphized encoder, so an evicted block can be spilled without knowing its type.
        encode: fn(&(dyn Any + Send + Sync)) -> Result<Vec<u8>>,
    },
    Bytes(Arc<Vec<u8>>),
    OnDisk(PathBuf),
}

impl Stored {
    /// The block as a codec frame: encoded from memory, or read from its file. Call it with
    /// the store unlocked (a clone of the entry's `Stored` shares its data).
    fn frame(&self) -> Result<Vec<u8>> {
        match self {
            Stored::Objects { data, encode } => encode(&**data),
            Stored::Bytes(b) => Ok(b.to_vec()),
            Stored::OnDisk(path) => std::fs::read(path).map_err(|e| Error::io(path, e)),
        }
    }
}

struct Entry {
    stored: Stored,
    level: StorageLevel,
    mem_size: u64,
    last_use: u64,
    /// The tick it was stored at: tells a spill whether the entry it wrote is still this one.
    born: u64,
}

/// An evicted block being written to disk.
struct Spill {
    id: BlockId,
    born: u64,
    /// The memory it held.
    size: u64,
    /// Its data, shared with the entry (which stays readable until the file is written).
    source: Stored,
}

#[derive(Default)]
struct State {
    blocks: HashMap<BlockId, Entry>,
    lru: BTreeMap<u64, BlockId>,
    tick: u64,
    used: u64,
}

impl State {
    fn touch(&mut self, id: BlockId) {
        self.tick += 1;
        let tick = self.tick;
        if let Some(e) = self.blocks.get_mut(&id) {
            self.lru.remove(&e.last_use);
            e.last_use = tick;
            self.lru.insert(tick, id);
        }
    }

    fn remove(&mut self, id: BlockId) -> Option<Entry> {
        let e = self.blocks.remove(&id)?;
        self.lru.remove(&e.last_use);
        self.used -= e.mem_size;
        Some(e)
    }
}

/// A cached partition handed back to a reader.
pub(crate) enum Cached<T> {
    Shared(Arc<Vec<T>>),
    Owned(Vec<T>),
    /// Received lines kept in their buffers; only handed out when `T` is
    /// [`Text`](crate::Text) (the reader iterates them as such).
    Lines(TextLines, std::marker::PhantomData<T>),
}

/// Per-context store of cached RDD partitions.
pub(crate) struct BlockStore {
    state: Mutex<State>,
    budget: u64,
    local_dir: Option<PathBuf>,
    disk_dir: OnceLock<std::result::Result<tempfile::TempDir, String>>,
    /// Whether the one warning about received blocks spilling has been given.
    input_spill_warned: AtomicBool,
}

fn encode_lines(data: &(dyn Any + Send + Sync)) -> Result<Vec<u8>> {
    match data.downcast_ref::<TextLines>() {
        Some(lines) => lines.encode(),
        None => Err(Error::InvalidArgument("block type mismatch".into())),
    }
}

/// The lines of a stored [`TextLines`] block, if `data` is one and `T` is
/// [`Text`](crate::Text) (a block's type is fixed by its stream, so any other `T` is a
/// mismatch: the block reads as absent).
fn lines_as<T: Data>(data: &(dyn Any + Send + Sync)) -> Option<Cached<T>> {
    if std::any::TypeId::of::<T>() != std::any::TypeId::of::<crate::text::Text>() {
        return None;
    }
    let lines = data.downcast_ref::<TextLines>()?.clone();
    Some(Cached::Lines(lines, std::marker::PhantomData))
}

fn encode_objects<T: Data>(data: &(dyn Any + Send + Sync)) -> Result<Vec<u8>> {
    match data.downcast_ref::<Vec<T>>() {
        Some(v) => codec::encode(v),
        None => Err(Error::InvalidArgument("block type mismatch".into())),
    }
}

/// Rough in-memory size of `data`: inline size plus a sampled estimate of heap contents
/// (serialized size of up to 32 evenly spaced elements, extrapolated).
pub(crate) fn estimate_size<T: Data>(data: &[T]) -> u64 {
    let inline = std::mem::size_of::<T>() as u64 * data.len() as u64;
    if data.is_empty() {
        return 0;
    }
    let step = (data.len() / 32).max(1);
    let (mut bytes, mut n) = (0u64, 0u64);
    for x in data.iter().step_by(step) {
        bytes += bincode::serialized_size(x).unwrap_or(0);
        n += 1;
    }
    inline + bytes * data.len() as u64 / n
}

impl BlockStore {
    pub(crate) fn new(budget: u64, local_dir: Option<PathBuf>) -> BlockStore {
        BlockStore {
            state: Mutex::new(State::default()),
            budget,
            local_dir,
            disk_dir: OnceLock::new(),
            input_spill_warned: AtomicBool::new(false),
        }
    }

    fn disk_dir(&self) -> Result<PathBuf> {
        let dir = self.disk_dir.get_or_init(|| {
            let base = self.local_dir.clone().unwrap_or_else(std::env::temp_dir);
            std::fs::create_dir_all(&base).map_err(|e| format!("{}: {e}", base.display()))?;
            tempfile::Builder::new()
                .prefix("spate-blocks-")
                .tempdir_in(&base)
                .map_err(|e| format!("{}: {e}", base.display()))
        });
        match dir {
            Ok(d) => Ok(d.path().to_path_buf()),
            Err(msg) => Err(Error::io(
                msg.clone(),
                std::io::Error::other("cannot create spill directory"),
            )),
        }
    }

    /// The block as a codec frame (of `Vec<T>`), for a task in another process; `None` when
    /// not stored.
    pub(crate) fn encoded(&self, id: BlockId) -> Option<Result<Vec<u8>>> {
        let stored = self.state.lock().blocks.get(&id)?.stored.clone();
        Some(stored.frame())
    }

    /// The lines of an input block of received lines held in memory as such.
    pub(crate) fn input_lines(&self, id: BlockId) -> Option<Arc<TextLines>> {
        let st = self.state.lock();
        match &st.blocks.get(&id)?.stored {
            Stored::Objects { data, .. } => Arc::clone(data).downcast::<TextLines>().ok(),
            _ => None,
        }
    }

    /// Whether the block is stored anywhere.
    pub(crate) fn contains(&self, id: BlockId) -> bool {
        self.state.lock().blocks.contains_key(&id)
    }

    /// The block's data, if stored and readable. An unreadable spilled block is dropped (so the
    /// caller recomputes it from lineage) and logged.
    pub(crate) fn get<T: Data>(&self, id: BlockId) -> Option<Cached<T>> {
        let source = {
            let mut st = self.state.lock();
            st.touch(id);
            match &st.blocks.get(&id)?.stored {
                Stored::Objects { data, .. } => {
                    let data = Arc::clone(data);
                    return match data.downcast::<Vec<T>>() {
                        Ok(v) => Some(Cached::Shared(v)),
                        Err(other) => lines_as::<T>(&*other),
                    };
                }
                Stored::Bytes(b) => Err(Arc::clone(b)),
                Stored::OnDisk(p) => Ok(p.clone()),
            }
        };
        let decoded = match source {
            Err(bytes) => codec::decode::<Vec<T>>(&bytes, &id.file_name()),
            Ok(path) => codec::read_file::<Vec<T>>(&path),
        };
        match decoded {
            Ok(v) => Some(Cached::Owned(v)),
            Err(e) => {
                tracing::warn!(
                    "cached block {} lost ({e}); recomputing from lineage",
                    id.file_name()
                );
                self.remove(id);
                None
            }
        }
    }

    /// Stores `data` at `level`, evicting least recently used blocks as needed. Returns the data
    /// for the caller to iterate. Failing to cache is never an error: the data is still returned.
    pub(crate) fn put<T: Data>(&self, id: BlockId, data: Vec<T>, level: StorageLevel) -> Cached<T> {
        match self.try_put(id, data, level) {
            Ok(c) => c,
            Err((c, e)) => {
                tracing::warn!("could not cache block {}: {e}", id.file_name());
                c
            }
        }
    }

    fn try_put<T: Data>(
        &self,
        id: BlockId,
        data: Vec<T>,
        level: StorageLevel,
    ) -> std::result::Result<Cached<T>, (Cached<T>, Error)> {
        match level {
            StorageLevel::Memory | StorageLevel::MemoryAndDisk => {
                let size = estimate_size(&data);
                let data = Arc::new(data);
                let stored = Stored::Objects {
                    data: Arc::clone(&data) as Arc<dyn Any + Send + Sync>,
                    encode: encode_objects::<T>,
                };
                if !self.insert_in_memory(id, stored, size, level) && level.uses_disk() {
                    self.write_to_disk(id, &*data, level)
                        .map_err(|e| (Cached::Shared(Arc::clone(&data)), e))?;
                }
                Ok(Cached::Shared(data))
            }
            StorageLevel::MemorySerialized => match codec::encode(&data) {
                Ok(bytes) => {
                    let size = bytes.len() as u64;
                    self.insert_in_memory(id, Stored::Bytes(Arc::new(bytes)), size, level);
                    Ok(Cached::Owned(data))
                }
                Err(e) => Err((Cached::Owned(data), e)),
            },
            StorageLevel::Disk => match self.write_to_disk(id, &data, level) {
                Ok(()) => Ok(Cached::Owned(data)),
                Err(e) => Err((Cached::Owned(data), e)),
            },
        }
    }

    fn write_to_disk<T: Data>(
        &self,
        id: BlockId,
        data: &Vec<T>,
        level: StorageLevel,
    ) -> Result<()> {
        let bytes = codec::encode(data)?;
        self.write_bytes_to_disk(id, &bytes, level)
    }

    /// Writes `bytes` as block `id`'s spill file; the store is not touched.
    fn write_file(&self, id: BlockId, bytes: &[u8]) -> Result<PathBuf> {
        let path = self.disk_dir()?.join(id.file_name());
        codec::write_bytes_atomically(&path, bytes)?;
        Ok(path)
    }

    fn write_bytes_to_disk(&self, id: BlockId, bytes: &[u8], level: StorageLevel) -> Result<()> {
        let path = self.write_file(id, bytes)?;
        let mut st = self.state.lock();
        st.remove(id);
        st.tick += 1;
        let tick = st.tick;
        st.blocks.insert(
            id,
            Entry {
                stored: Stored::OnDisk(path),
                level,
                mem_size: 0,
                last_use: tick,
                born: tick,
            },
        );
        st.lru.insert(tick, id);
        Ok(())
    }

    /// Puts a block in memory if it fits the budget after evicting older blocks; spills evicted
    /// blocks whose level allows disk. Returns whether the block is now in memory.
    fn insert_in_memory(
        &self,
        id: BlockId,
        stored: Stored,
        size: u64,
        level: StorageLevel,
    ) -> bool {
        let (admitted, spills) = self.admit(id, stored, size, level);
        // Outside the lock: encoding and writing may be slow.
        self.spill(spills);
        admitted
    }

    /// The locked half of [`BlockStore::insert_in_memory`]: evicts what the block needs room
    /// for and admits it. Evicted blocks that go to disk stay in the map, readable from memory
    /// (their memory no longer counted) until [`BlockStore::spill`] has written them: a task
    /// reading a received block while it is being spilled must find it — it has no lineage.
    fn admit(
        &self,
        id: BlockId,
        stored: Stored,
        size: u64,
        level: StorageLevel,
    ) -> (bool, Vec<Spill>) {
        if size > self.budget {
            return (false, Vec::new());
        }
        let mut spills = Vec::new();
        let mut st = self.state.lock();
        st.remove(id);
        while st.used + size > self.budget {
            let Some((_, &victim)) = st
                .lru
                .iter()
                .find(|(_, b)| st.blocks.get(b).is_some_and(|e| e.mem_size > 0))
            else {
                break;
            };
            let e = st.blocks.get_mut(&victim).expect("an LRU entry is stored");
            if !e.level.uses_disk() {
                tracing::debug!(
                    "evicted block {} (will be recomputed if needed)",
                    victim.file_name()
                );
                st.remove(victim);
                continue;
            }
            let freed = std::mem::take(&mut e.mem_size);
            spills.push(Spill {
                id: victim,
                born: e.born,
                size: freed,
                source: e.stored.clone(),
            });
            st.used -= freed;
        }
        if st.used + size > self.budget {
            return (false, spills);
        }
        st.tick += 1;
        let tick = st.tick;
        st.used += size;
        st.blocks.insert(
            id,
            Entry {
                stored,
                level,
                mem_size: size,
                last_use: tick,
                born: tick,
            },
        );
        st.lru.insert(tick, id);
        (true, spills)
    }

    /// Writes evicted blocks to disk, then points their entries at the files — unless an entry
    /// was removed (its batch completed) or replaced meanwhile: then the file goes.
    fn spill(&self, spills: Vec<Spill>) {
        for spill in spills {
            if matches!(spill.id, BlockId::Input(_)) {
                self.warn_input_spill();
            }
            let written = spill
                .source
                .frame()
                .and_then(|b| self.write_file(spill.id, &b));
            let path = match written {
                Ok(path) => path,
                Err(err) => {
                    self.spill_failed(&spill, &err);
                    continue;
                }
            };
            let mut st = self.state.lock();
            match st.blocks.get_mut(&spill.id) {
                Some(e) if e.born == spill.born => e.stored = Stored::OnDisk(path),
                _ => {
                    drop(st);
                    let _ = std::fs::remove_file(&path);
                }
            }
        }
    }

    /// A spill could not be written. A received block stays in memory, counted again (over
    /// the budget: it has no lineage, and the pending bound still limits how many there are);
    /// a cached partition is dropped, to be recomputed from lineage when next needed.
    fn spill_failed(&self, spill: &Spill, err: &Error) {
        let name = spill.id.file_name();
        let mut st = self.state.lock();
        let Some(e) = st
            .blocks
            .get_mut(&spill.id)
            .filter(|e| e.born == spill.born)
        else {
            return; // removed meanwhile: nothing to keep
        };
        if matches!(spill.id, BlockId::Input(_)) {
            tracing::error!(
                "could not spill received block {name} ({err}); it stays in memory, over spate.storage.memory"
            );
            e.mem_size = spill.size;
            st.used += spill.size;
        } else {
            tracing::warn!("could not spill block {name} ({err}); it will be recomputed if needed");
            st.remove(spill.id);
        }
    }

    /// Says once that received blocks are going to disk: intake slows down to the disk's pace,
    /// and what to change.
    fn warn_input_spill(&self) {
        if !self.input_spill_warned.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                "received blocks no longer fit in spate.storage.memory ({} MiB) and are spilled to \
                 disk, which slows the intake down; lower \
                 spate.streaming.receiver.maxPendingRecords or raise spate.storage.memory",
                self.budget >> 20
            );
        }
    }

    /// Stores a block of received records, shared with the caller. Memory first; what does not
    /// fit (now, or later when evicted) goes to disk, never dropped — it has no lineage.
    pub(crate) fn put_input<T: Data>(&self, id: InputBlockId, data: Arc<Vec<T>>) -> Result<()> {
        let id = BlockId::Input(id);
        let level = StorageLevel::MemoryAndDisk;
        let size = estimate_size(&data);
        let stored = Stored::Objects {
            data: Arc::clone(&data) as Arc<dyn Any + Send + Sync>,
            encode: encode_objects::<T>,
        };
        if !self.insert_in_memory(id, stored, size, level) {
            self.warn_input_spill();
            self.write_to_disk(id, &*data, level)?;
        }
        Ok(())
    }

    /// Stores a block of received lines, like [`BlockStore::put_input`]; it reads back as
    /// `Text` records.
    pub(crate) fn put_input_lines(&self, id: InputBlockId, lines: Arc<TextLines>) -> Result<()> {
        let id = BlockId::Input(id);
        let level = StorageLevel::MemoryAndDisk;
        let size = lines.byte_len() as u64;
        let stored = Stored::Objects {
            data: Arc::clone(&lines) as Arc<dyn Any + Send + Sync>,
            encode: encode_lines,
        };
        if !self.insert_in_memory(id, stored, size, level) {
            self.warn_input_spill();
            self.write_bytes_to_disk(id, &lines.encode()?, level)?;
        }
        Ok(())
    }

    /// Stores a received block as a codec frame of its records (a replica from another
    /// executor, whose record type this layer does not know): decoded when a task reads it.
    /// Kept like [`BlockStore::put_input`]: memory first, then disk, never dropped.
    pub(crate) fn put_input_frame(&self, id: InputBlockId, frame: Vec<u8>) -> Result<()> {
        let id = BlockId::Input(id);
        let level = StorageLevel::MemoryAndDisk;
        let size = frame.len() as u64;
        let frame = Arc::new(frame);
        if !self.insert_in_memory(id, Stored::Bytes(Arc::clone(&frame)), size, level) {
            self.warn_input_spill();
            self.write_bytes_to_disk(id, &frame, level)?;
        }
        Ok(())
    }

    /// Removes one block (memory and disk).
    pub(crate) fn remove(&self, id: BlockId) -> bool {
        let e = self.state.lock().remove(id);
        if let Some(Entry {
            stored: Stored::OnDisk(p),
            ..
        }) = &e
        {
            let _ = std::fs::remove_file(p);
        }
        e.is_some()
    }

    /// Removes every block of `rdd`.
    pub(crate) fn remove_rdd(&self, rdd: RddId) {
        let ids: Vec<BlockId> = {
            let st = self.state.lock();
            st.blocks
                .keys()
                .filter(|b| matches!(b, BlockId::Rdd { rdd: r, .. } if *r == rdd))
                .copied()
                .collect()
        };
        for id in ids {
            self.remove(id);
        }
    }

    /// Where the block is: memory, disk, or nowhere (for tests and the lineage display).
    pub(crate) fn location(&self, id: BlockId) -> Option<&'static str> {
        let st = self.state.lock();
        st.blocks.get(&id).map(|e| match e.stored {
            Stored::OnDisk(_) => "disk",
            _ => "memory",
        })
    }

    /// Bytes of memory in use.
    pub(crate) fn memory_used(&self) -> u64 {
        self.state.lock().used
    }

    /// Number of stored blocks.
    pub(crate) fn num_blocks(&self) -> usize {
        self.state.lock().blocks.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(seq: u64) -> BlockId {
        BlockId::Input(InputBlockId { stream: 0, seq })
    }

    fn objects(data: Vec<u64>) -> (Stored, u64) {
        let size = estimate_size(&data);
        let stored = Stored::Objects {
            data: Arc::new(data),
            encode: encode_objects::<u64>,
        };
        (stored, size)
    }

    fn read(store: &BlockStore, id: BlockId) -> Option<Vec<u64>> {
        Some(match store.get::<u64>(id)? {
            Cached::Shared(v) => v.to_vec(),
            Cached::Owned(v) => v,
            Cached::Lines(..) => panic!("not a block of lines"),
        })
    }

    /// A store that holds one of the test's blocks in memory, with a spill directory.
    fn store_of_one(dir: &tempfile::TempDir) -> BlockStore {
        let (_, size) = objects((0..1000).collect());
        BlockStore::new(size + size / 2, Some(dir.path().to_path_buf()))
    }

    #[test]
    fn an_evicted_received_block_stays_readable_until_it_is_on_disk() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_of_one(&dir);
        let (a, size) = objects((0..1000).collect());
        assert!(store.insert_in_memory(input(0), a, size, StorageLevel::MemoryAndDisk));
        let (b, size_b) = objects((1000..2000).collect());
        let (admitted, spills) = store.admit(input(1), b, size_b, StorageLevel::MemoryAndDisk);
        assert!(admitted);
        assert_eq!(spills.len(), 1);
        // Evicted, not yet written: still there, read from memory, its memory no longer counted.
        assert_eq!(store.memory_used(), size_b);
        assert_eq!(store.location(input(0)), Some("memory"));
        assert_eq!(read(&store, input(0)), Some((0..1000).collect()));
        store.spill(spills);
        assert_eq!(store.location(input(0)), Some("disk"));
        assert_eq!(read(&store, input(0)), Some((0..1000).collect()));
        assert_eq!(read(&store, input(1)), Some((1000..2000).collect()));
    }

    #[test]
    fn a_block_removed_while_it_was_being_spilled_leaves_no_file_behind() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_of_one(&dir);
        let (a, size) = objects((0..1000).collect());
        assert!(store.insert_in_memory(input(0), a, size, StorageLevel::MemoryAndDisk));
        let (b, size_b) = objects((1000..2000).collect());
        let (_, spills) = store.admit(input(1), b, size_b, StorageLevel::MemoryAndDisk);
        assert!(store.remove(input(0)), "its batch completed meanwhile");
        store.spill(spills);
        assert!(
            !store.contains(input(0)),
            "a spill must not bring a removed block back"
        );
        let files: Vec<_> = std::fs::read_dir(store.disk_dir().unwrap())
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert!(files.is_empty(), "left behind: {files:?}");
    }

    #[test]
    fn a_failed_spill_keeps_a_received_block_and_drops_a_cached_one() {
        let dir = tempfile::tempdir().unwrap();
        // The spill directory cannot be created: its parent is a file.
        let file = dir.path().join("not-a-dir");
        std::fs::write(&file, b"").unwrap();
        let (_, size) = objects((0..1000).collect());
        let store = BlockStore::new(size + size / 2, Some(file.join("spill")));
        let cached = BlockId::rdd(RddId(1), 0);
        for victim in [input(0), cached] {
            let (a, size) = objects((0..1000).collect());
            assert!(store.insert_in_memory(victim, a, size, StorageLevel::MemoryAndDisk));
            let (b, size_b) = objects((1000..2000).collect());
            let next = BlockId::Input(InputBlockId { stream: 1, seq: 0 });
            store.remove(next);
            assert!(store.insert_in_memory(next, b, size_b, StorageLevel::MemoryAndDisk));
            if victim == cached {
                assert!(
                    !store.contains(cached),
                    "recomputed from lineage when needed"
                );
                assert_eq!(store.memory_used(), size_b);
            } else {
                assert_eq!(
                    read(&store, victim),
                    Some((0..1000).collect()),
                    "no lineage: kept"
                );
                assert_eq!(
                    store.memory_used(),
                    size + size_b,
                    "and counted, over the budget"
                );
                store.remove(victim);
            }
        }
    }

    #[test]
    fn an_evicted_memory_only_block_is_dropped_for_recomputation() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_of_one(&dir);
        let (a, size) = objects((0..1000).collect());
        assert!(store.insert_in_memory(BlockId::rdd(RddId(1), 0), a, size, StorageLevel::Memory));
        let (b, size_b) = objects((1000..2000).collect());
        let (admitted, spills) = store.admit(input(1), b, size_b, StorageLevel::MemoryAndDisk);
        assert!(admitted && spills.is_empty());
        assert!(!store.contains(BlockId::rdd(RddId(1), 0)));
    }
}
