//! File streams: a watched directory whose new files become each batch's input.
//!
//! At every batch the directory is listed; each regular file that appeared since the previous
//! listing is read into that batch, exactly once, whatever its modification time (`mv` keeps
//! old mtimes; Spark ignores such files, spate does not). A file is known by its path and inode:
//! one present when the stream was created is not input, one rewritten in place is not new, one
//! replaced under the same name is. What was seen is remembered while it is in the directory
//! (so the memory is as large as the directory, no larger) and checkpointed.
//!
//! Write files elsewhere (or under a hidden name) and move them in: names starting with `.` or
//! `_` and in-progress copies (`*.tmp`, `*._COPYING_`) are ignored, as are directories, FIFOs,
//! sockets and devices, each logged once with the reason. Listing only `stat`s entries (a
//! FIFO cannot block it); tasks read the files, in splits of at most
//! `spate.streaming.fileStream.maxSplitBytes`, a chunk at a time, each to the length it had
//! when listed. A file that cannot be read (deleted before its task opened it, no permission,
//! a dangling link) is reported to listeners ([`crate::StreamingListener::on_input_error`]),
//! logged, counted ([`crate::StreamingContext::input_errors`]) and skipped; the batch goes on.
//!
//! After a driver restart, the batches since the last checkpoint read the same files again. A
//! file one of them read that is gone (or shorter) now is an error naming the file and the
//! batch, unless `spate.streaming.fileStream.allowMissingOnReplay` is true: then the loss is
//! reported like an unreadable file and the replay goes on without it.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Display;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::SystemTime;

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use spate_core::{Data, InputFile, OnUnreadable, Rdd, Text};

use super::InputEnv;
use crate::common::StreamId;
use crate::common::Time;
use crate::dstream::{DStream, StreamOp};

type Parser<T> = dyn Fn(Text) -> Result<T, String> + Send + Sync;

struct FileStreamOp<T> {
    dir: PathBuf,
    parse: Arc<Parser<T>>,
    env: InputEnv,
    stream: Arc<OnceLock<StreamId>>,
    /// What was seen, and what each batch read (one lock: a checkpoint must never see a file
    /// as seen without the batch that read it).
    seen: Mutex<Seen>,
    /// After a restore: batches up to this time were generated before the restart; any of
    /// them not in `batches` read nothing new.
    replay_through: Mutex<Option<Time>>,
}

/// How a directory entry was when first seen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
enum Entry {
    /// A regular file (read, or present at creation), by device and inode.
    File { dev: u64, ino: u64 },
    /// Not input (a hidden name, a FIFO, a directory, unreadable): said once, then skipped.
    Ignored,
    /// An object under a watched prefix, by a hash of its ETag (or version) and size: written
    /// again under the same key, it is new.
    Object { version: u64 },
}

/// The URL of a watched prefix (`s3://bucket/prefix/`), if the stream watches one.
fn url_of(dir: &Path) -> Option<&str> {
    dir.to_str().filter(|d| d.contains("://"))
}

fn object_entry(o: &spate_core::ObjectInfo) -> Entry {
    Entry::Object {
        version: spate_core::hash::partition_hash(&(o.version.as_str(), o.len)),
    }
}

/// A file stream's part of the driver checkpoint.
#[derive(Serialize, Deserialize)]
struct SavedFiles {
    entries: Vec<(PathBuf, Entry)>,
    batches: Vec<(Time, Vec<InputFile>)>,
}

/// What the directory held, and what recent batches read.
struct Seen {
    /// Every entry of the latest listing, as first seen. Entries gone from the directory are
    /// forgotten, so this is never larger than the directory.
    entries: HashMap<PathBuf, Entry>,
    /// The files each recent batch read, so that a restarted driver replays exactly those
    /// (kept only with a checkpoint directory, pruned by each checkpoint), or for a cluster's
    /// executors.
    batches: BTreeMap<Time, Vec<InputFile>>,
    /// The directory could not be listed last time (said once until it can again).
    unlistable: bool,
}

/// Why a directory entry's name marks a file that is not ready (or not data), if it does.
fn ignored_name(name: &str) -> Option<&'static str> {
    if name.starts_with('.') || name.starts_with('_') {
        Some("a hidden name (starting with '.' or '_')")
    } else if name.ends_with(".tmp") || name.ends_with("._COPYING_") {
        Some("an in-progress copy (*.tmp, *._COPYING_); move the finished file in")
    } else {
        None
    }
}

/// What kind of non-regular entry `meta` is, for the log line.
fn kind_of(meta: &std::fs::Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    let t = meta.file_type();
    if t.is_dir() {
        "a directory (subdirectories are not watched)"
    } else if t.is_fifo() {
        "a FIFO (only regular files are input)"
    } else if t.is_socket() {
        "a socket (only regular files are input)"
    } else if t.is_block_device() || t.is_char_device() {
        "a device (only regular files are input)"
    } else {
        "not a regular file"
    }
}

impl<T: Data> FileStreamOp<T> {
    fn report(&self, message: String) {
        let stream = self.stream.get().copied().unwrap_or_default();
        self.env.reporter.input_error(stream, &message);
    }

    /// The new objects under a watched prefix, oldest first, recorded as batch `time`'s: seen
    /// by key and ETag, remembered while listed (the listing is paged and bounded).
    fn new_objects(&self, time: Time, url: &str) -> Vec<InputFile> {
        let listed = match self.env.graph.ctx.list_objects(url) {
            Ok(l) => {
                if std::mem::take(&mut self.seen.lock().unlistable) {
                    tracing::info!("the watched prefix {url} can be listed again");
                }
                l
            }
            Err(e) => {
                if !std::mem::replace(&mut self.seen.lock().unlistable, true) {
                    self.report(format!(
                        "cannot list the watched prefix: {e}; no input until it can be listed"
                    ));
                }
                return Vec::new();
            }
        };
        let mut seen = self.seen.lock();
        let mut found: Vec<(i64, InputFile)> = Vec::new();
        let mut present = HashSet::new();
        for o in listed {
            let path = PathBuf::from(&o.url);
            present.insert(path.clone());
            let name = o.url.rsplit('/').next().unwrap_or_default();
            if let Some(why) = ignored_name(name) {
                if seen.entries.insert(path.clone(), Entry::Ignored).is_none() {
                    tracing::info!("{}: not input: {why}", o.url);
                }
                continue;
            }
            let entry = object_entry(&o);
            if seen.entries.get(&path) == Some(&entry) {
                continue;
            }
            seen.entries.insert(path.clone(), entry);
            found.push((o.modified_ms, InputFile { path, len: o.len }));
        }
        seen.entries.retain(|p, _| present.contains(p));
        found.sort_by(|a, b| (a.0, &a.1.path).cmp(&(b.0, &b.1.path)));
        let found: Vec<InputFile> = found.into_iter().map(|(_, f)| f).collect();
        self.record(&mut seen, time, &found);
        found
    }

    /// Keeps batch `time`'s files for a restart (with a checkpoint directory) or for the
    /// executors (a cluster driver announces, and then forgets, each batch's files).
    fn record(&self, seen: &mut Seen, time: Time, found: &[InputFile]) {
        if self.env.graph.checkpoint_base().is_some() || self.env.graph.ctx.is_cluster_driver() {
            seen.batches.insert(time, found.to_vec());
        }
    }

    /// The new files, oldest first, recorded as batch `time`'s. Only `stat`s: nothing a
    /// listing finds can block it.
    fn new_files(&self, time: Time) -> Vec<InputFile> {
        if let Some(url) = url_of(&self.dir) {
            return self.new_objects(time, url);
        }
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(e) => {
                let mut seen = self.seen.lock();
                if std::mem::take(&mut seen.unlistable) {
                    tracing::info!(
                        "the watched directory {} can be listed again",
                        self.dir.display()
                    );
                }
                e
            }
            Err(e) => {
                let mut seen = self.seen.lock();
                if !std::mem::replace(&mut seen.unlistable, true) {
                    drop(seen);
                    self.report(format!(
                        "cannot list the watched directory {}: {e} (create it, or fix its permissions); no input until it can be listed",
                        self.dir.display()
                    ));
                }
                return Vec::new();
            }
        };
        let mut seen = self.seen.lock();
        let mut found: Vec<(SystemTime, InputFile)> = Vec::new();
        let mut present = HashSet::new();
        for entry in entries.flatten() {
            let path = entry.path();
            present.insert(path.clone());
            let name = entry.file_name();
            if let Some(why) = ignored_name(&name.to_string_lossy()) {
                if seen.entries.insert(path.clone(), Entry::Ignored).is_none() {
                    tracing::info!("{}: not input: {why}", path.display());
                }
                continue;
            }
            // `stat` follows links (a dangling one is unreadable) and never opens the file.
            let meta = std::fs::metadata(&path);
            let entry = match &meta {
                Ok(m) if m.is_file() => Entry::File {
                    dev: m.dev(),
                    ino: m.ino(),
                },
                _ => Entry::Ignored,
            };
            match seen.entries.get(&path) {
                // Known: the same file, or a non-file already said. (A regular file replacing
                // an ignored entry, or another file under the same name, is new.)
                Some(known) if *known == entry || entry == Entry::Ignored => continue,
                _ => {}
            }
            seen.entries.insert(path.clone(), entry);
            match meta {
                Ok(m) if m.is_file() => found.push((
                    m.modified().unwrap_or(SystemTime::UNIX_EPOCH),
                    InputFile { path, len: m.len() },
                )),
                Ok(m) => {
                    let kind = kind_of(&m);
                    if m.is_dir() {
                        tracing::info!("{}: not input: {kind}", path.display());
                    } else {
                        tracing::warn!("{}: not input: {kind}", path.display());
                    }
                }
                Err(e) => {
                    drop(seen);
                    self.report(format!(
                        "skipping {}: it cannot be read ({e})",
                        path.display()
                    ));
                    seen = self.seen.lock();
                }
            }
        }
        // What left the directory is forgotten (and new again if it comes back).
        seen.entries.retain(|p, _| present.contains(p));
        found.sort_by(|a, b| (a.0, &a.1.path).cmp(&(b.0, &b.1.path)));
        let found: Vec<InputFile> = found.into_iter().map(|(_, f)| f).collect();
        self.record(&mut seen, time, &found);
        found
    }

    /// Before a replayed batch reads its files again: each must still be there, at least as
    /// long as it was read. A gone one is an error, or with `allowMissingOnReplay` a loss
    /// reported and left out.
    fn check_replay(
        &self,
        time: Time,
        files: Vec<InputFile>,
    ) -> spate_core::Result<Vec<InputFile>> {
        let mut kept = Vec::with_capacity(files.len());
        for file in files {
            let problem = match url_of(&file.path) {
                Some(url) => match self.env.graph.ctx.list_objects(url) {
                    Ok(l) => match l.iter().find(|o| o.url == url) {
                        Some(o) if o.len >= file.len => None,
                        Some(o) => Some(format!("it is now {} bytes, was {}", o.len, file.len)),
                        None => Some("no such object".into()),
                    },
                    Err(e) => Some(e.to_string()),
                },
                None => match std::fs::metadata(&file.path) {
                    Ok(m) if m.is_file() && m.len() >= file.len => None,
                    Ok(m) => Some(format!("it is now {} bytes, was {}", m.len(), file.len)),
                    Err(e) => Some(e.to_string()),
                },
            };
            let Some(problem) = problem else {
                kept.push(file);
                continue;
            };
            if self.env.settings.allow_missing_on_replay {
                self.report(format!(
                    "lost input: {} was read by the batch of {time} before the restart and cannot be read again ({problem}); that batch is replayed without its lines (spate.streaming.fileStream.allowMissingOnReplay=true)",
                    file.path.display()
                ));
            } else {
                return Err(spate_core::Error::Io {
                    path: file.path.clone(),
                    source: std::io::Error::new(
                        std::io::ErrorKind::NotFound,
                        format!(
                            "the batch of {time} read this file before the driver restarted, and replaying that batch needs it again ({problem}): restore the file, or restart with spate.streaming.fileStream.allowMissingOnReplay=true to go on without its lines (the loss is reported)"
                        ),
                    ),
                });
            }
        }
        Ok(kept)
    }
}

impl<T: Data> StreamOp<T> for FileStreamOp<T> {
    fn compute(&self, time: Time) -> spate_core::Result<Option<Rdd<T>>> {
        let ctx = &self.env.graph.ctx;
        let recorded = if ctx.is_driver() {
            self.seen.lock().batches.get(&time).cloned()
        } else {
            // An executor: what the driver announced, needed once.
            self.seen.lock().batches.remove(&time)
        };
        let replaying = self.replay_through.lock().is_some_and(|t| time <= t);
        let files = match recorded {
            Some(files) if replaying && ctx.is_driver() => self.check_replay(time, files)?,
            Some(files) => files,
            None if replaying => Vec::new(),
            None => self.new_files(time),
        };
        // A file gone before its task opens it is reported and skipped, in whichever process
        // the task runs (an executor's report is its log line and count).
        let (reporter, stream) = (self.env.reporter.clone(), Arc::clone(&self.stream));
        let on_unreadable: OnUnreadable = Arc::new(move |path, e| {
            reporter.input_error(
                stream.get().copied().unwrap_or_default(),
                &format!("skipping {}: it cannot be read ({e})", path.display()),
            );
        });
        let lines = ctx.text_files(
            &files,
            self.env.settings.file_split_bytes,
            Some(on_unreadable),
        );
        let parse = Arc::clone(&self.parse);
        let dir = self.dir.display().to_string();
        let (reporter, stream) = (self.env.reporter.clone(), Arc::clone(&self.stream));
        // One report per task with the count, never one per line: a file of garbage must not
        // flood the log or the listeners.
        let report: Arc<dyn Fn(u64, String) + Send + Sync> = Arc::new(move |n, first| {
            reporter.input_error(
                stream.get().copied().unwrap_or_default(),
                &format!(
                    "{dir}: skipped {n} malformed line(s) of the batch of {time} (the first: {first})"
                ),
            );
        });
        Ok(Some(lines.map_partitions(move |it| Parsed {
            lines: it,
            parse: Arc::clone(&parse),
            report: Arc::clone(&report),
            bad: 0,
            first: None,
        })))
    }

    fn announce_input(&self, time: Time) -> Option<Vec<u8>> {
        let mut seen = self.seen.lock();
        let files = if self.env.graph.checkpoint_base().is_some() {
            seen.batches.get(&time).cloned()
        } else {
            seen.batches.remove(&time)
        };
        spate_core::codec::encode(&files.unwrap_or_default()).ok()
    }

    fn follow_input(&self, time: Time, announced: &[u8]) {
        match spate_core::codec::decode::<Vec<InputFile>>(announced, "a batch's files") {
            Ok(files) => {
                self.seen.lock().batches.insert(time, files);
            }
            Err(e) => tracing::error!("{e}"),
        }
    }

    fn snapshot_input(&self, keep_from: Time) -> Option<(Vec<u8>, Vec<PathBuf>)> {
        let saved = {
            let mut seen = self.seen.lock();
            let keep = seen
                .batches
                .split_off(&(keep_from + std::time::Duration::from_millis(1)));
            seen.batches = keep;
            SavedFiles {
                entries: seen.entries.iter().map(|(p, e)| (p.clone(), *e)).collect(),
                batches: seen.batches.iter().map(|(t, f)| (*t, f.clone())).collect(),
            }
        };
        match spate_core::codec::encode(&saved) {
            Ok(bytes) => Some((bytes, Vec::new())),
            Err(e) => {
                tracing::error!(
                    "could not checkpoint the file stream of {}: {e}",
                    self.dir.display()
                );
                None
            }
        }
    }

    fn restore_input(&self, saved: &[u8], last_generated: Time) -> crate::Result<()> {
        let saved: SavedFiles = spate_core::codec::decode(saved, "the file stream's checkpoint")?;
        {
            let mut seen = self.seen.lock();
            seen.entries = saved.entries.into_iter().collect();
            seen.batches = saved.batches.into_iter().collect();
        }
        *self.replay_through.lock() = Some(last_generated);
        Ok(())
    }
}

/// A task's records: its lines parsed, the malformed ones counted (and the first kept) and
/// reported once when the task is done with them.
struct Parsed<T> {
    lines: spate_core::PartitionIter<Text>,
    parse: Arc<Parser<T>>,
    report: Arc<dyn Fn(u64, String) + Send + Sync>,
    bad: u64,
    first: Option<String>,
}

impl<T> Iterator for Parsed<T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        for line in self.lines.by_ref() {
            match (self.parse)(line) {
                Ok(x) => return Some(x),
                Err(e) => {
                    self.bad += 1;
                    self.first.get_or_insert(e);
                }
            }
        }
        None
    }
}

impl<T> Drop for Parsed<T> {
    fn drop(&mut self) {
        if self.bad > 0 {
            (self.report)(self.bad, self.first.take().unwrap_or_default());
        }
    }
}

/// The entries of a local directory as they are now.
fn local_entries(dir: &Path) -> HashMap<PathBuf, Entry> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| {
                    let entry = match std::fs::metadata(e.path()) {
                        Ok(m) if m.is_file() => Entry::File {
                            dev: m.dev(),
                            ino: m.ino(),
                        },
                        _ => Entry::Ignored,
                    };
                    (e.path(), entry)
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A stream of the records `parse` makes of the lines of new files in `dir`
/// ([`crate::StreamingContext::file_stream`]).
pub(crate) fn file_stream<T: Data, E: Display>(
    env: &InputEnv,
    dir: &Path,
    parse: impl Fn(Text) -> Result<T, E> + Send + Sync + 'static,
) -> DStream<T> {
    let dir = dir.to_path_buf();
    // Entries already there belong to no batch.
    let entries: HashMap<PathBuf, Entry> = match url_of(&dir) {
        Some(url) => env
            .graph
            .ctx
            .list_objects(url)
            .unwrap_or_default()
            .iter()
            .map(|o| (PathBuf::from(&o.url), object_entry(o)))
            .collect(),
        None => local_entries(&dir),
    };
    if !entries.is_empty() {
        tracing::info!(
            "{}: {} entries already there are not input (only what appears after the stream is created is)",
            dir.display(),
            entries.len()
        );
    }
    let id = Arc::new(OnceLock::new());
    let op = FileStreamOp {
        dir,
        parse: Arc::new(move |line| parse(line).map_err(|e| e.to_string())),
        env: env.clone(),
        stream: Arc::clone(&id),
        seen: Mutex::new(Seen {
            entries,
            batches: BTreeMap::new(),
            unlistable: false,
        }),
        replay_through: Mutex::new(None),
    };
    let stream = DStream::from_op(&env.graph, "file_stream", env.graph.batch_interval, op);
    let _ = id.set(stream.id());
    stream
}
