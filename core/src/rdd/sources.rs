//! Source RDDs: a driver-side collection, and text files split into byte ranges.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{Dependency, PartitionIter, RddOp, SharedVecIter};
use crate::context::Context;
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

/// A byte range of a file: its partition holds the lines that *start* inside the range.
#[derive(Clone, Debug)]
struct FileSplit {
    path: PathBuf,
    start: u64,
    end: u64,
    file_len: u64,
}

pub(crate) struct TextFile {
    splits: Vec<FileSplit>,
}

impl TextFile {
    pub(crate) fn new(path: &Path, min_partitions: usize) -> Result<Self> {
        let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
        let files: Vec<PathBuf> = if meta.is_dir() {
            let mut files = Vec::new();
            for entry in std::fs::read_dir(path).map_err(|e| Error::io(path, e))? {
                let entry = entry.map_err(|e| Error::io(path, e))?;
                let name = entry.file_name().to_string_lossy().into_owned();
                let is_file = entry
                    .file_type()
                    .map_err(|e| Error::io(entry.path(), e))?
                    .is_file();
                // Hidden and marker files (`.x`, `_SUCCESS`) are not data, as in Hadoop.
                if is_file && !name.starts_with('.') && !name.starts_with('_') {
                    files.push(entry.path());
                }
            }
            files.sort();
            files
        } else {
            vec![path.to_path_buf()]
        };
        let lens = files
            .iter()
            .map(|f| {
                std::fs::metadata(f)
                    .map(|m| m.len())
                    .map_err(|e| Error::io(f, e))
            })
            .collect::<Result<Vec<u64>>>()?;
        let total: u64 = lens.iter().sum();
        let goal = total.div_ceil(min_partitions as u64).max(1);
        let mut splits = Vec::new();
        for (file, &len) in files.iter().zip(&lens) {
            let mut start = 0;
            // Like Hadoop, allow the last split to be up to 10% larger rather than make a sliver.
            while len - start > goal + goal / 10 {
                splits.push(FileSplit {
                    path: file.clone(),
                    start,
                    end: start + goal,
                    file_len: len,
                });
                start += goal;
            }
            splits.push(FileSplit {
                path: file.clone(),
                start,
                end: len,
                file_len: len,
            });
        }
        Ok(TextFile { splits })
    }
}

impl RddOp<Text> for TextFile {
    fn num_partitions(&self) -> usize {
        self.splits.len()
    }
    fn identity(&self) -> String {
        let mut files: Vec<String> = Vec::new();
        for s in &self.splits {
            let f = format!("{} ({} bytes)", s.path.display(), s.file_len);
            if files.last() != Some(&f) {
                files.push(f);
            }
        }
        files.join(", ")
    }
    fn dependencies(&self) -> Vec<Dependency> {
        Vec::new()
    }
    fn compute(&self, partition: usize, _tc: &TaskContext) -> Result<PartitionIter<Text>> {
        let split = &self.splits[partition];
        let buf = Arc::new(read_split(split).map_err(|e| Error::io(&split.path, e))?);
        let skip_first = split.start > 0;
        let mut pos = 0;
        if skip_first {
            // Byte start-1 was read too: the first line belongs to us only if it follows a '\n'.
            pos = match buf.iter().position(|&b| b == b'\n') {
                Some(i) => i + 1,
                None => buf.len(),
            };
        }
        Ok(PartitionIter::new(std::iter::from_fn(move || {
            if pos >= buf.len() {
                return None;
            }
            let end = buf[pos..]
                .iter()
                .position(|&b| b == b'\n')
                .map_or(buf.len(), |i| pos + i);
            let next = (end + 1).min(buf.len().max(end + 1));
            let line_end = if end > pos && buf[end - 1] == b'\r' {
                end - 1
            } else {
                end
            };
            let (line, _) = Text::from_shared(&buf, pos..line_end);
            pos = next;
            Some(line)
        })))
    }
}

/// Reads `[start - 1, end)` plus the rest of the line crossing `end`.
fn read_split(split: &FileSplit) -> std::io::Result<Vec<u8>> {
    let from = split.start.saturating_sub(1);
    let mut f = File::open(&split.path)?;
    f.seek(SeekFrom::Start(from))?;
    let mut buf = Vec::with_capacity((split.end - from) as usize + 1024);
    (&mut f).take(split.end - from).read_to_end(&mut buf)?;
    if split.end < split.file_len && buf.last() != Some(&b'\n') {
        let mut chunk = [0u8; 8192];
        loop {
            let n = f.read(&mut chunk)?;
            if n == 0 {
                break;
            }
            if let Some(i) = chunk[..n].iter().position(|&b| b == b'\n') {
                buf.extend_from_slice(&chunk[..=i]);
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
        }
    }
    Ok(buf)
}
