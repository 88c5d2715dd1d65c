//! Source RDDs: a driver-side collection, received blocks, object files (text files are in
//! `text_file`); and the [`Context`] methods that make RDDs (`parallelize`, `text_file`,
//! `union`, …).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::text_file::{InputFile, OnUnreadable, TextFile};
use super::transform::UnionOp;
use super::{Dependency, PartitionIter, Rdd, RddOp, SharedVecIter};
use crate::codec;
use crate::context::{Context, FetchedInput};
use crate::data::Data;
use crate::error::{Error, Result};
use crate::ids::InputBlockId;
use crate::storage::BlockId;
use crate::task::TaskContext;
use crate::text::Text;

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
    fn input_block(&self, partition: usize) -> Option<InputBlockId> {
        self.ids.get(partition).copied()
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
            Some(ex) => records_of(block, ex.fetch_input_block(block)?),
            None => Err(Error::InputBlockLost { block }),
        }
    }
}

/// The records of received block `block` as the driver sent it.
fn records_of<T: Data>(block: InputBlockId, fetched: FetchedInput) -> Result<PartitionIter<T>> {
    let origin = "a received block from another process";
    match fetched {
        FetchedInput::Lines(frame) => {
            // The lines as the driver received them: cut as the task reads, as there.
            let buf = Arc::new(frame);
            let mut lines = crate::TextLines::new();
            lines.push(&buf, 0..buf.len(), usize::MAX)?;
            let iter: Box<dyn std::any::Any> = Box::new(PartitionIter::new(lines.into_iter()));
            iter.downcast::<PartitionIter<T>>()
                .map(|it| *it)
                .map_err(|_| Error::InputBlockLost { block })
        }
        FetchedInput::Frame(frame)
            if std::any::TypeId::of::<T>() == std::any::TypeId::of::<Text>() =>
        {
            // Lines spilled on the driver: slices of the one frame, not a copy each.
            let texts: Box<dyn std::any::Any> = Box::new(codec::decode_texts(frame, origin)?);
            texts
                .downcast::<Vec<T>>()
                .map(|v| PartitionIter::new(v.into_iter()))
                .map_err(|_| Error::Internal("Text is Text".into()))
        }
        FetchedInput::Frame(frame) => Ok(PartitionIter::new(
            codec::decode::<Vec<T>>(&frame, origin)?.into_iter(),
        )),
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

impl Context {
    /// Distributes `data` over `slices` partitions (at least 1) of contiguous, even ranges.
    ///
    /// # Examples
    ///
    /// ```
    /// let ctx = spate_core::Context::local(2).unwrap();
    /// let rdd = ctx.parallelize(vec!['a', 'b', 'c'], 2);
    /// assert_eq!(rdd.num_partitions(), 2);
    /// assert_eq!(rdd.glom().collect().unwrap(), [vec!['a'], vec!['b', 'c']]);
    /// ```
    #[track_caller]
    pub fn parallelize<T: Data>(&self, data: Vec<T>, slices: usize) -> Rdd<T> {
        Rdd::from_op(
            self,
            "parallelize",
            None,
            ParallelCollection::new(data, slices.max(1)),
        )
    }

    /// An RDD read from an external system by `source` (see [`crate::Source`]); `name` is its
    /// operator's name in lineage and UI (e.g. `kafka`).
    ///
    /// # Examples
    ///
    /// ```
    /// use spate_core::{Context, PartitionIter, Result, Source};
    /// struct Letters;
    /// impl Source<char> for Letters {
    ///     fn num_partitions(&self) -> usize { 1 }
    ///     fn compute(&self, _: usize) -> Result<PartitionIter<char>> { Ok(PartitionIter::new(['a', 'b'].into_iter())) }
    ///     fn identity(&self) -> String { "ab".into() }
    /// }
    /// let ctx = Context::local(1).unwrap();
    /// assert_eq!(ctx.source("letters", Letters).count().unwrap(), 2);
    /// ```
    #[track_caller]
    pub fn source<T: Data>(&self, name: &'static str, source: impl crate::Source<T>) -> Rdd<T> {
        Rdd::from_op(self, name, None, crate::rdd::sources::External(source))
    }

    /// An RDD with one partition per block, sharing the blocks without copying them: how
    /// received stream data becomes a batch's input.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// let ctx = spate_core::Context::local(1).unwrap();
    /// let rdd = ctx.from_blocks(vec![Arc::new(vec![1, 2]), Arc::new(vec![3])]);
    /// assert_eq!(rdd.num_partitions(), 2);
    /// assert_eq!(rdd.collect().unwrap(), [1, 2, 3]);
    /// assert_eq!(ctx.from_blocks(Vec::<Arc<Vec<u8>>>::new()).count().unwrap(), 0);
    /// ```
    #[track_caller]
    pub fn from_blocks<T: Data>(&self, blocks: Vec<Arc<Vec<T>>>) -> Rdd<T> {
        Rdd::from_op(
            self,
            "blocks",
            None,
            ParallelCollection::from_blocks(blocks),
        )
    }

    /// An RDD with one partition per received block, read from the block store by id. A block
    /// that is no longer there fails the job with [`Error::InputBlockLost`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use spate_core::{Context, Error, ids::InputBlockId};
    /// let ctx = Context::local(1).unwrap();
    /// let (a, b) = (InputBlockId { stream: 0, seq: 0 }, InputBlockId { stream: 0, seq: 1 });
    /// ctx.put_input_block(a, Arc::new(vec![1, 2])).unwrap();
    /// ctx.put_input_block(b, Arc::new(vec![3])).unwrap();
    /// let rdd = ctx.input_block_rdd::<i32>(vec![a, b]);
    /// assert_eq!(rdd.num_partitions(), 2);
    /// assert_eq!(rdd.collect().unwrap(), [1, 2, 3]);
    /// ctx.remove_input_blocks(&[a]);
    /// assert!(matches!(rdd.collect(), Err(Error::InputBlockLost { .. })));
    /// ```
    #[track_caller]
    pub fn input_block_rdd<T: Data>(&self, ids: Vec<InputBlockId>) -> Rdd<T> {
        let op = InputBlocks {
            ids,
            ctx: self.clone(),
        };
        Rdd::from_op(self, "received blocks", None, op)
    }

    /// The lines of a text file, or of every visible file in a directory, as [`Text`] (shared
    /// buffers, no per-line allocation), in at least `min_partitions` partitions. Lines end at
    /// `\n` or `\r\n`; invalid UTF-8 is replaced with U+FFFD.
    ///
    /// # Examples
    ///
    /// ```
    /// let dir = tempfile::tempdir().unwrap();
    /// let path = dir.path().join("in.txt");
    /// std::fs::write(&path, "a b\r\nc\n").unwrap();
    /// let ctx = spate_core::Context::local(1).unwrap();
    /// let lines = ctx.text_file(&path, 2).unwrap().collect().unwrap();
    /// assert_eq!(lines, ["a b", "c"]);
    /// ```
    #[track_caller]
    pub fn text_file(&self, path: impl AsRef<Path>, min_partitions: usize) -> Result<Rdd<Text>> {
        let (path, max_line) = (path.as_ref(), self.max_line_bytes()?);
        let op = match path.to_str().filter(|p| p.contains("://")) {
            Some(url) => self.object_text(url, min_partitions.max(1), max_line)?,
            None => TextFile::new(path, min_partitions.max(1), max_line)?,
        };
        Ok(Rdd::from_op(self, "text_file", None, op))
    }

    /// The JSON values of a text file (or a directory of them, or `s3://` objects with the
    /// `s3` feature), one per line, as `T` — Spark's `spark.read.json`. Blank lines are
    /// skipped; a malformed line is skipped and counted, one warning per task with the count
    /// and the first reason: never a failed job.
    ///
    /// # Examples
    ///
    /// ```
    /// #[derive(Clone, serde::Serialize, serde::Deserialize)]
    /// struct Event { action: String }
    /// let dir = tempfile::tempdir().unwrap();
    /// let f = dir.path().join("events.json");
    /// std::fs::write(&f, "{\"action\":\"open\"}\nnot json\n\n{\"action\":\"close\"}\n").unwrap();
    /// let ctx = spate_core::Context::local(1).unwrap();
    /// let events = ctx.json_file::<Event>(&f, 1).unwrap().collect().unwrap();
    /// assert_eq!(events.iter().map(|e| e.action.as_str()).collect::<Vec<_>>(), ["open", "close"]);
    /// ```
    pub fn json_file<T: Data>(
        &self,
        path: impl AsRef<Path>,
        min_partitions: usize,
    ) -> Result<Rdd<T>> {
        let shown = path.as_ref().display().to_string();
        let lines = self.text_file(path, min_partitions)?;
        Ok(lines.map_partitions(move |it| JsonLines::<T> {
            lines: it,
            bad: 0,
            first: None,
            source: shown.clone(),
            _t: std::marker::PhantomData,
        }))
    }

    /// The objects `url` names (one, or every one under a prefix), split for `min_partitions`.
    fn object_text(&self, url: &str, min_partitions: usize, max_line: usize) -> Result<TextFile> {
        let sources: Vec<_> = self
            .list_objects_or_fail(url, false)?
            .into_iter()
            .map(|o| {
                let file = InputFile {
                    path: o.url.clone().into(),
                    len: o.len,
                };
                let reader = self.object_reader(&o.url);
                (file, Some(reader))
            })
            .collect();
        let total: u64 = sources.iter().map(|(f, _)| f.len).sum();
        let goal = total.div_ceil(min_partitions as u64).max(1);
        Ok(TextFile::of_sources(&sources, goal, None, max_line))
    }

    /// Every object `url` names (the one object, or every one under it as a prefix: hidden
    /// `_x` and `.x` names skipped), in name order; none is an empty list. Needs the
    /// `object-store` feature (the facade's `s3`).
    ///
    /// # Examples
    ///
    /// ```
    /// let ctx = spate_core::Context::local(1).unwrap();
    /// assert!(ctx.list_objects("ftp://nowhere/x").is_err());
    /// ```
    pub fn list_objects(&self, url: &str) -> Result<Vec<crate::ObjectInfo>> {
        self.list_objects_or_fail(url, true)
    }

    #[cfg(feature = "object-store")]
    fn list_objects_or_fail(&self, url: &str, allow_empty: bool) -> Result<Vec<crate::ObjectInfo>> {
        let (store, key) = self.inner.object_store(url)?;
        Ok(store
            .list(url, &key, allow_empty)?
            .into_iter()
            .map(|(info, _)| info)
            .collect())
    }

    #[cfg(not(feature = "object-store"))]
    fn list_objects_or_fail(&self, url: &str, _: bool) -> Result<Vec<crate::ObjectInfo>> {
        Err(Error::InvalidArgument(format!(
            "{url}: reading object storage needs spate's `s3` cargo feature"
        )))
    }

    /// A reader of the object at `url`; one that fails with the reason if its store cannot be
    /// opened (the task then fails saying so).
    fn object_reader(&self, url: &str) -> Arc<dyn crate::objects::RangeRead> {
        #[cfg(feature = "object-store")]
        {
            match self.inner.object_store(url) {
                Ok((store, key)) => Arc::new(crate::objects::ObjectReader::new(
                    &store,
                    key,
                    url.to_string(),
                )),
                Err(e) => Arc::new(crate::objects::Unopenable(e.to_string())),
            }
        }
        #[cfg(not(feature = "object-store"))]
        {
            Arc::new(crate::objects::Unopenable(format!(
                "{url}: reading object storage needs spate's `s3` cargo feature"
            )))
        }
    }

    /// The lines of `files`, each read to its given length, in splits of about `split_bytes`
    /// (each task reads its split a chunk at a time, so memory does not grow with file size).
    /// A file that cannot be opened when its task runs is handed to `on_unreadable` and reads
    /// as empty; without it, the task fails. What a file stream reads each batch.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::{Arc, atomic::{AtomicUsize, Ordering}};
    /// use spate_core::InputFile;
    /// let dir = tempfile::tempdir().unwrap();
    /// let a = dir.path().join("a.txt");
    /// std::fs::write(&a, "one\ntwo\nthree\n").unwrap();
    /// let files = [
    ///     InputFile { path: a, len: 8 }, // the length when listed: "three" came later
    ///     InputFile { path: dir.path().join("gone.txt"), len: 5 },
    /// ];
    /// let missing = Arc::new(AtomicUsize::new(0));
    /// let seen = Arc::clone(&missing);
    /// let ctx = spate_core::Context::local(1).unwrap();
    /// let lines = ctx.text_files(&files, 1 << 20, Some(Arc::new(move |_, _| {
    ///     seen.fetch_add(1, Ordering::Relaxed);
    /// })));
    /// assert_eq!(lines.collect().unwrap(), ["one", "two"]);
    /// assert_eq!(missing.load(Ordering::Relaxed), 1);
    /// ```
    #[track_caller]
    pub fn text_files(
        &self,
        files: &[InputFile],
        split_bytes: u64,
        on_unreadable: Option<OnUnreadable>,
    ) -> Rdd<Text> {
        // Validated with the configuration when the context was made.
        let max_line = self.max_line_bytes().unwrap_or(usize::MAX);
        // Objects (`s3://…` paths, as a file stream on a prefix lists them) read through readers.
        let sources: Vec<_> = files
            .iter()
            .map(|f| {
                let object = f
                    .path
                    .to_str()
                    .filter(|p| p.contains("://"))
                    .map(|url| self.object_reader(url));
                (f.clone(), object)
            })
            .collect();
        let op = TextFile::of_sources(&sources, split_bytes, on_unreadable, max_line);
        Rdd::from_op(self, "text_files", None, op)
    }

    /// `spate.textFile.maxLineBytes`.
    fn max_line_bytes(&self) -> Result<usize> {
        Ok(self.conf().get_size("spate.textFile.maxLineBytes")? as usize)
    }

    /// Reads a directory written by [`Rdd::save_as_object_file`]: one partition per
    /// `part-NNNNN` file, in order. A missing directory is an I/O error naming it; a corrupt
    /// or truncated part file is [`Error::Corrupt`] naming the file when it is read.
    ///
    /// # Examples
    ///
    /// ```
    /// let dir = tempfile::tempdir().unwrap();
    /// let ctx = spate_core::Context::local(1).unwrap();
    /// ctx.parallelize(vec!["x".to_string()], 1).save_as_object_file(dir.path().join("o")).unwrap();
    /// assert_eq!(ctx.object_file::<String>(dir.path().join("o")).unwrap().collect().unwrap(), ["x"]);
    /// assert!(ctx.object_file::<String>(dir.path().join("missing")).is_err());
    /// ```
    #[track_caller]
    pub fn object_file<T: Data>(&self, path: impl AsRef<Path>) -> Result<Rdd<T>> {
        let path = path.as_ref();
        let mut parts: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(|e| Error::io(path, e))?
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("part-"))
            })
            .collect();
        parts.sort();
        Ok(Rdd::from_op(
            self,
            "object_file",
            None,
            ObjectFiles { parts },
        ))
    }

    /// The union of several RDDs: their partitions one after another.
    ///
    /// # Examples
    ///
    /// ```
    /// let ctx = spate_core::Context::local(1).unwrap();
    /// let a = ctx.parallelize(vec![1], 1);
    /// let b = ctx.parallelize(vec![2, 3], 2);
    /// let u = ctx.union(&[a, b]);
    /// assert_eq!(u.num_partitions(), 3);
    /// assert_eq!(u.collect().unwrap(), [1, 2, 3]);
    /// ```
    #[track_caller]
    pub fn union<T: Data>(&self, rdds: &[Rdd<T>]) -> Rdd<T> {
        Rdd::from_op(self, "union", None, UnionOp::new(rdds.to_vec()))
    }
}

/// A task's JSON records; the malformed lines counted and logged once when it is done.
struct JsonLines<T> {
    lines: PartitionIter<Text>,
    bad: u64,
    first: Option<String>,
    source: String,
    _t: std::marker::PhantomData<fn() -> T>,
}

impl<T: Data> Iterator for JsonLines<T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        for line in self.lines.by_ref() {
            if line.trim().is_empty() {
                continue;
            }
            match serde_json::from_str::<T>(&line) {
                Ok(x) => return Some(x),
                Err(e) => {
                    self.bad += 1;
                    self.first.get_or_insert_with(|| e.to_string());
                }
            }
        }
        None
    }
}

impl<T> Drop for JsonLines<T> {
    fn drop(&mut self) {
        if self.bad > 0 {
            tracing::warn!(
                "{}: skipped {} malformed JSON line(s) in a task (the first: {})",
                self.source,
                self.bad,
                self.first.as_deref().unwrap_or_default()
            );
        }
    }
}
