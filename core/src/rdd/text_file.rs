//! Text files as RDDs: byte-range splits read in bounded chunks.
//!
//! A file is cut into splits of at most a given size; a split's partition holds the lines that
//! *start* inside its range (as Hadoop's text input). A task reads its split a chunk at a time
//! (1 MiB, more only for a longer line), and each line is a [`Text`] slice of its chunk, so a
//! task holds one chunk plus whatever lines downstream operators keep — never the whole file.
//! Each file is read up to the length it had when it was listed: a file appended to meanwhile
//! still gives the same partitions when lineage recomputes them.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{Dependency, PartitionIter, RddOp};
use crate::error::{Error, Result};
use crate::objects::RangeRead;
use crate::task::TaskContext;
use crate::text::Text;

/// Bytes read at a time by a text-file task.
const CHUNK: usize = 1 << 20;

/// A file to read as text, and the length it had when it was listed (what will be read).
///
/// # Examples
///
/// ```
/// use spate_core::InputFile;
/// let f = InputFile { path: "/tmp/in/a.txt".into(), len: 12 };
/// assert_eq!(f.len, 12);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct InputFile {
    /// Where the file is.
    pub path: PathBuf,
    /// How many bytes of it are read.
    pub len: u64,
}

/// What a text-file RDD does with a file it cannot open when a task reads it: called with the
/// file and the error, then the split reads as empty. Without one, the task fails.
pub type OnUnreadable = Arc<dyn Fn(&Path, &std::io::Error) + Send + Sync>;

/// A byte range of a file: its partition holds the lines that *start* inside the range.
#[derive(Clone)]
struct FileSplit {
    path: PathBuf,
    start: u64,
    end: u64,
    file_len: u64,
    /// An object's reader (`path` is then its URL); `None` for a local file.
    object: Option<Arc<dyn RangeRead>>,
}

pub(crate) struct TextFile {
    splits: Vec<FileSplit>,
    on_unreadable: Option<OnUnreadable>,
    /// `spate.textFile.maxLineBytes`: a longer line is skipped (and counted in the log), so
    /// a task's memory stays bounded whatever the file holds.
    max_line: usize,
}

impl TextFile {
    /// A file, or the data files of a directory, in `min_partitions` splits or more.
    pub(crate) fn new(path: &Path, min_partitions: usize, max_line: usize) -> Result<Self> {
        let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
        let paths: Vec<PathBuf> = if meta.is_dir() {
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
        let files = paths
            .into_iter()
            .map(|f| match std::fs::metadata(&f) {
                Ok(m) => Ok(InputFile {
                    path: f,
                    len: m.len(),
                }),
                Err(e) => Err(Error::io(&f, e)),
            })
            .collect::<Result<Vec<InputFile>>>()?;
        let total: u64 = files.iter().map(|f| f.len).sum();
        let goal = total.div_ceil(min_partitions as u64).max(1);
        Ok(Self::of_files(&files, goal, None, max_line))
    }

    /// Splits of at most about `split_bytes` of each of `files` (read to their given lengths).
    pub(crate) fn of_files(
        files: &[InputFile],
        split_bytes: u64,
        on_unreadable: Option<OnUnreadable>,
        max_line: usize,
    ) -> Self {
        let files: Vec<_> = files.iter().map(|f| (f.clone(), None)).collect();
        Self::of_sources(&files, split_bytes, on_unreadable, max_line)
    }

    /// [`TextFile::of_files`] where a file may be an object, read through its reader.
    pub(crate) fn of_sources(
        files: &[(InputFile, Option<Arc<dyn RangeRead>>)],
        split_bytes: u64,
        on_unreadable: Option<OnUnreadable>,
        max_line: usize,
    ) -> Self {
        let goal = split_bytes.max(1);
        let mut splits = Vec::new();
        for (file, object) in files {
            let len = file.len;
            let mut start = 0;
            // Like Hadoop, allow the last split to be up to 10% larger rather than make a sliver.
            while len - start > goal + goal / 10 {
                splits.push(FileSplit {
                    path: file.path.clone(),
                    start,
                    end: start + goal,
                    file_len: len,
                    object: object.clone(),
                });
                start += goal;
            }
            splits.push(FileSplit {
                path: file.path.clone(),
                start,
                end: len,
                file_len: len,
                object: object.clone(),
            });
        }
        TextFile {
            splits,
            on_unreadable,
            max_line: max_line.max(1),
        }
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
        if split.start >= split.end {
            return Ok(PartitionIter::new(std::iter::empty()));
        }
        let file = match split.object.clone() {
            // A file stream's object gone before its task: reported and skipped, as a file.
            Some(object) if self.on_unreadable.is_some() => match object.missing() {
                Some(e) => Err(e),
                None => Ok(Source::Object(object)),
            },
            Some(object) => Ok(Source::Object(object)),
            None => File::open(&split.path).map(Source::File),
        };
        let file = match file {
            Ok(f) => f,
            Err(e) => match &self.on_unreadable {
                Some(report) => {
                    report(&split.path, &e);
                    return Ok(PartitionIter::new(std::iter::empty()));
                }
                None => return Err(Error::io(&split.path, e)),
            },
        };
        let lines = SplitLines::open(file, split, CHUNK, self.max_line)
            .map_err(|e| Error::io(&split.path, e))?;
        let path = split.path.clone();
        let mut lines = lines;
        Ok(PartitionIter::new(std::iter::from_fn(move || {
            match lines.next_line() {
                Ok(line) => line,
                // A read error mid-split (EIO) cannot travel through an iterator of lines: it
                // fails the task (caught and retried by the scheduler like any task failure),
                // never a silently short partition.
                Err(e) => std::panic::panic_any(Error::io(&path, e).to_string()),
            }
        })))
    }
}

/// What a split is read from.
enum Source {
    File(File),
    Object(Arc<dyn RangeRead>),
}

/// The lines of one split, read a chunk at a time.
struct SplitLines {
    file: Source,
    /// File offset of the next read.
    next_read: u64,
    /// Never read past this (the length the file had when listed).
    limit: u64,
    /// Lines starting at or past this belong to the next split.
    stop: u64,
    /// The current chunk and the file offset of its first byte.
    buf: Arc<Vec<u8>>,
    buf_start: u64,
    pos: usize,
    /// Still skipping the line that began in the previous split (or one too long).
    skipping: bool,
    done: bool,
    chunk: usize,
    /// Longest line kept; longer ones are skipped and counted.
    max_line: usize,
    oversized: u64,
    path: PathBuf,
}

impl SplitLines {
    fn open(
        mut file: Source,
        split: &FileSplit,
        chunk: usize,
        max_line: usize,
    ) -> std::io::Result<Self> {
        // Byte start-1 is read too: the first line belongs to this split only if it follows '\n'.
        let from = split.start.saturating_sub(1);
        if let Source::File(f) = &mut file {
            f.seek(SeekFrom::Start(from))?;
        }
        Ok(SplitLines {
            file,
            next_read: from,
            limit: split.file_len,
            stop: split.end,
            buf: Arc::new(Vec::new()),
            buf_start: from,
            pos: 0,
            skipping: split.start > 0,
            done: false,
            chunk,
            max_line,
            oversized: 0,
            path: split.path.clone(),
        })
    }

    /// Reads the next chunk after the unconsumed tail of the current one; false at the end.
    fn refill(&mut self) -> std::io::Result<bool> {
        let left = self.limit - self.next_read;
        if left == 0 {
            return Ok(false);
        }
        let tail = &self.buf[self.pos..];
        // At least the tail's size again: a line longer than a chunk is copied O(1) times.
        let want = (self.chunk.max(tail.len()) as u64).min(left) as usize;
        let mut next = Vec::with_capacity(tail.len() + want);
        next.extend_from_slice(tail);
        let got = match &mut self.file {
            Source::File(f) => f.take(want as u64).read_to_end(&mut next)?,
            Source::Object(o) => o.read_range(self.next_read, want, &mut next)?,
        };
        self.buf_start += self.pos as u64;
        self.pos = 0;
        self.buf = Arc::new(next);
        if got == 0 {
            // Shorter than when listed (truncated since): what is there is all there is.
            self.limit = self.next_read;
            return Ok(false);
        }
        self.next_read += got as u64;
        Ok(true)
    }

    fn next_line(&mut self) -> std::io::Result<Option<Text>> {
        let line = self.next_kept_line();
        if matches!(line, Ok(None)) && self.oversized > 0 {
            tracing::warn!(
                "{}: skipped {} line(s) longer than spate.textFile.maxLineBytes ({} bytes)",
                self.path.display(),
                std::mem::take(&mut self.oversized),
                self.max_line
            );
        }
        line
    }

    fn next_kept_line(&mut self) -> std::io::Result<Option<Text>> {
        'lines: loop {
            if let Some(line) = self.next_any_line()? {
                if line.len() > self.max_line {
                    self.oversized += 1;
                    continue 'lines;
                }
                return Ok(Some(line));
            }
            return Ok(None);
        }
    }

    fn next_any_line(&mut self) -> std::io::Result<Option<Text>> {
        while self.skipping {
            match memchr::memchr(b'\n', &self.buf[self.pos..]) {
                Some(i) => {
                    self.pos += i + 1;
                    self.skipping = false;
                }
                None => {
                    self.pos = self.buf.len();
                    if !self.refill()? {
                        self.done = true;
                        return Ok(None);
                    }
                }
            }
        }
        if self.done {
            return Ok(None);
        }
        loop {
            if self.buf_start + self.pos as u64 >= self.stop {
                self.done = true;
                return Ok(None);
            }
            if let Some(i) = memchr::memchr(b'\n', &self.buf[self.pos..]) {
                let (start, end) = (self.pos, self.pos + i);
                self.pos = end + 1;
                return Ok(Some(line_of(&self.buf, start, end)));
            }
            if self.buf.len() - self.pos > self.max_line {
                // Too long already: dropped as it is read, never held whole (a 1 GiB file
                // without a newline once became one 1 GiB record).
                self.oversized += 1;
                self.pos = self.buf.len();
                self.skipping = true;
                return self.next_any_line();
            }
            if !self.refill()? {
                // The last line, without a newline.
                self.done = true;
                let (start, end) = (self.pos, self.buf.len());
                if start == end {
                    return Ok(None);
                }
                self.pos = end;
                return Ok(Some(line_of(&self.buf, start, end)));
            }
        }
    }
}

/// `buf[start..end]` as a line, without a trailing `\r`.
fn line_of(buf: &Arc<Vec<u8>>, start: usize, end: usize) -> Text {
    let end = if end > start && buf[end - 1] == b'\r' {
        end - 1
    } else {
        end
    };
    Text::from_shared(buf, start..end).0
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Every line of every split of `text`, read `chunk` bytes at a time.
    fn read_all(text: &[u8], split_bytes: u64, chunk: usize) -> Vec<String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.txt");
        std::fs::write(&path, text).unwrap();
        let files = [InputFile {
            path: path.clone(),
            len: text.len() as u64,
        }];
        let op = TextFile::of_files(&files, split_bytes, None, usize::MAX);
        let mut out = Vec::new();
        for split in &op.splits {
            if split.start >= split.end {
                continue;
            }
            let mut lines = SplitLines::open(
                Source::File(File::open(&path).unwrap()),
                split,
                chunk,
                usize::MAX,
            )
            .unwrap();
            while let Some(l) = lines.next_line().unwrap() {
                out.push(l.to_string());
            }
        }
        out
    }

    fn expected(text: &[u8]) -> Vec<String> {
        let s = String::from_utf8_lossy(text);
        let mut lines: Vec<String> = s
            .split('\n')
            .map(|l| l.strip_suffix('\r').unwrap_or(l).to_string())
            .collect();
        if s.ends_with('\n') || s.is_empty() {
            lines.pop();
        }
        lines
    }

    /// Issue 30, finding 9: a file without a newline became one record as large as the file.
    #[test]
    fn over_long_lines_are_skipped_as_they_are_read_and_memory_stays_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.txt");
        let mut text = b"short\n".to_vec();
        text.extend(std::iter::repeat_n(b'x', 5000));
        text.extend_from_slice(b"\nafter\nmid ");
        text.extend(std::iter::repeat_n(b'y', 300));
        text.extend_from_slice(b"\nlast ");
        text.extend(std::iter::repeat_n(b'z', 3000)); // no newline at the end
        std::fs::write(&path, &text).unwrap();
        let file = [InputFile {
            path: path.clone(),
            len: text.len() as u64,
        }];
        for split_bytes in [64, 1000, 1 << 20] {
            let op = TextFile::of_files(&file, split_bytes, None, 100);
            let mut out = Vec::new();
            for split in &op.splits {
                let f = Source::File(File::open(&path).unwrap());
                let mut lines = SplitLines::open(f, split, 64, 100).unwrap();
                while let Some(l) = lines.next_line().unwrap() {
                    // Never more than a line's bound and a chunk or two held.
                    assert!(lines.buf.len() <= 100 + 2 * 64, "{}", lines.buf.len());
                    out.push(l.to_string());
                }
                assert!(lines.buf.len() <= 100 + 2 * 64);
            }
            assert_eq!(out, ["short", "after"], "split {split_bytes}");
        }
    }

    #[test]
    fn lines_cross_chunks_and_splits_exactly_once() {
        let text = b"alpha\r\nbeta\n\ngamma delta epsilon\nz";
        for split in 1..text.len() as u64 + 2 {
            for chunk in 1..12 {
                assert_eq!(
                    read_all(text, split, chunk),
                    expected(text),
                    "split {split} chunk {chunk}"
                );
            }
        }
    }

    #[test]
    fn a_file_read_to_its_listed_length_ignores_what_came_later() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.txt");
        std::fs::write(&path, "one\ntwo\nthree\n").unwrap();
        let split = FileSplit {
            path: path.clone(),
            start: 0,
            end: 8,
            file_len: 8,
            object: None,
        };
        let mut lines = SplitLines::open(
            Source::File(File::open(&path).unwrap()),
            &split,
            3,
            usize::MAX,
        )
        .unwrap();
        let mut got = Vec::new();
        while let Some(l) = lines.next_line().unwrap() {
            got.push(l.to_string());
        }
        assert_eq!(got, ["one", "two"]);
        // Truncated since it was listed: what is there is read, nothing is invented.
        let split = FileSplit {
            path: path.clone(),
            start: 0,
            end: 100,
            file_len: 100,
            object: None,
        };
        let mut lines = SplitLines::open(
            Source::File(File::open(&path).unwrap()),
            &split,
            4,
            usize::MAX,
        )
        .unwrap();
        let mut n = 0;
        while lines.next_line().unwrap().is_some() {
            n += 1;
        }
        assert_eq!(n, 3);
    }

    proptest! {
        #[test]
        fn any_text_any_split_any_chunk(
            lines in proptest::collection::vec("[a-c \r]{0,9}", 0..12),
            trailing in any::<bool>(),
            split in 1u64..40,
            chunk in 1usize..16,
        ) {
            let mut text = lines.join("\n");
            if trailing { text.push('\n'); }
            prop_assert_eq!(read_all(text.as_bytes(), split, chunk), expected(text.as_bytes()));
        }
    }
}
