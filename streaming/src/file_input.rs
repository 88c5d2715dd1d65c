//! File streams: a watched directory whose new files become each batch's input.
//!
//! At every batch the directory is listed; each file that appeared since the previous batch is
//! read into that batch, exactly once. Write files elsewhere (or under a hidden name) and move
//! them in: names starting with `.` or `_`, and in-progress copies (`*.tmp`, `*._COPYING_`),
//! are ignored, as are files present when the stream was created and files whose modification
//! time is older than the remember window (so the memory of what was read stays bounded). A
//! file that cannot be read is reported to listeners and skipped; the stream goes on.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Display;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use spate_core::{Data, Rdd, Text};

use crate::context::Shared;
use crate::dstream::{DStream, StreamId, StreamOp};
use crate::time::Time;

/// How long a file's modification time keeps it eligible (and remembered as read).
const REMEMBER: Duration = Duration::from_secs(60);

type Parser<T> = dyn Fn(Text) -> Result<T, String> + Send + Sync;

struct FileStreamOp<T> {
    dir: PathBuf,
    parse: Arc<Parser<T>>,
    shared: Arc<Shared>,
    stream: Arc<OnceLock<StreamId>>,
    /// What was read, and by which batch (one lock: a checkpoint must never see a file as
    /// read without the batch that read it).
    seen: Mutex<Seen>,
    /// After a restore: batches up to this time were generated before the restart; any of
    /// them not in `batches` read nothing new.
    replay_through: Mutex<Option<Time>>,
}

/// A file stream's part of the driver checkpoint.
#[derive(Serialize, Deserialize)]
struct SavedFiles {
    /// Files read (or reported unreadable), with their modification times in ms since the epoch.
    seen: Vec<(PathBuf, u64)>,
    threshold_ms: u64,
    batches: Vec<(Time, Vec<PathBuf>)>,
}

fn epoch_ms(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn from_epoch_ms(ms: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_millis(ms)
}

/// Files already read (or present at creation), by modification time.
struct Seen {
    files: HashMap<PathBuf, SystemTime>,
    /// Files modified before this are ignored (and forgotten).
    threshold: SystemTime,
    /// The files each recent batch read, so that a restarted driver replays exactly those
    /// (kept only with a checkpoint directory, pruned by each checkpoint).
    batches: BTreeMap<Time, Vec<PathBuf>>,
}

/// Whether a directory entry's name marks a file that is not ready (or not data).
fn ignored_name(name: &str) -> bool {
    name.starts_with('.')
        || name.starts_with('_')
        || name.ends_with(".tmp")
        || name.ends_with("._COPYING_")
}

impl<T: Data> FileStreamOp<T> {
    fn report(&self, message: String) {
        tracing::warn!("{message}");
        let stream = self.stream.get().copied().unwrap_or_default();
        self.shared
            .each_listener(|l| l.on_input_error(stream, &message));
    }

    /// The new files, oldest first, recorded as batch `time`'s; unreadable ones are reported
    /// and skipped.
    fn new_files(&self, time: Time) -> Vec<PathBuf> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) => {
                self.report(format!(
                    "cannot list the watched directory {}: {e} (create it, or fix its permissions)",
                    self.dir.display()
                ));
                return Vec::new();
            }
        };
        let mut seen = self.seen.lock();
        let mut found = Vec::new();
        for entry in entries.flatten() {
            let name = entry.file_name();
            if ignored_name(&name.to_string_lossy()) {
                continue;
            }
            let path = entry.path();
            if seen.files.contains_key(&path) {
                continue;
            }
            // Follows links: a dangling one is an unreadable file.
            let modified = std::fs::metadata(&path).and_then(|m| {
                if m.is_dir() {
                    Ok(None)
                } else {
                    std::fs::File::open(&path)?;
                    m.modified().map(Some)
                }
            });
            match modified {
                Ok(Some(t)) if t >= seen.threshold => found.push((t, path)),
                Ok(_) => {}
                Err(e) => {
                    self.report(format!(
                        "skipping {}: it cannot be read ({e})",
                        path.display()
                    ));
                    // Reported once: remember it like a file that was read.
                    seen.files.insert(path, SystemTime::now());
                }
            }
        }
        found.sort();
        for (t, path) in &found {
            seen.files.insert(path.clone(), *t);
        }
        // Forget what is older than the remember window; such files are ignored from now on.
        if let Some(newest) = seen.files.values().max().copied() {
            let threshold = newest.checked_sub(REMEMBER).unwrap_or(seen.threshold);
            if threshold > seen.threshold {
                seen.threshold = threshold;
                seen.files.retain(|_, t| *t >= threshold);
            }
        }
        let found: Vec<PathBuf> = found.into_iter().map(|(_, p)| p).collect();
        // Kept for a restart (with a checkpoint directory) or for the executors (a cluster
        // driver announces, and then forgets, each batch's files).
        if self.shared.checkpoint_base().is_some() || self.shared.ctx.is_cluster_driver() {
            seen.batches.insert(time, found.clone());
        }
        found
    }
}

impl<T: Data> StreamOp<T> for FileStreamOp<T> {
    fn compute(&self, time: Time) -> spate_core::Result<Option<Rdd<T>>> {
        let ctx = &self.shared.ctx;
        let recorded = if ctx.is_driver() {
            self.seen.lock().batches.get(&time).cloned()
        } else {
            // An executor: what the driver announced, needed once.
            self.seen.lock().batches.remove(&time)
        };
        let files = match recorded {
            Some(files) => files,
            None if self.replay_through.lock().is_some_and(|t| time <= t) => Vec::new(),
            None => self.new_files(time),
        };
        let mut rdds = Vec::new();
        for path in files {
            match ctx.text_file(&path, 1) {
                Ok(lines) => {
                    let parse = Arc::clone(&self.parse);
                    let name = path.display().to_string();
                    rdds.push(lines.flat_map(move |line| match parse(line) {
                        Ok(x) => Some(x),
                        Err(e) => {
                            tracing::warn!("{name}: skipping a malformed line: {e}");
                            None
                        }
                    }));
                }
                Err(e) => self.report(format!("skipping {}: {e}", path.display())),
            }
        }
        Ok(Some(ctx.union(&rdds)))
    }

    fn announce_input(&self, time: Time) -> Option<Vec<u8>> {
        let mut seen = self.seen.lock();
        let files = if self.shared.checkpoint_base().is_some() {
            seen.batches.get(&time).cloned()
        } else {
            seen.batches.remove(&time)
        };
        spate_core::codec::encode(&files.unwrap_or_default()).ok()
    }

    fn follow_input(&self, time: Time, announced: &[u8]) {
        match spate_core::codec::decode::<Vec<PathBuf>>(announced, "a batch's files") {
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
                .split_off(&(keep_from + Duration::from_millis(1)));
            seen.batches = keep;
            let batches = seen.batches.iter().map(|(t, f)| (*t, f.clone())).collect();
            SavedFiles {
                seen: seen
                    .files
                    .iter()
                    .map(|(p, t)| (p.clone(), epoch_ms(*t)))
                    .collect(),
                threshold_ms: epoch_ms(seen.threshold),
                batches,
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
            seen.files = saved
                .seen
                .into_iter()
                .map(|(p, t)| (p, from_epoch_ms(t)))
                .collect();
            seen.threshold = from_epoch_ms(saved.threshold_ms);
            seen.batches = saved.batches.into_iter().collect();
        }
        *self.replay_through.lock() = Some(last_generated);
        Ok(())
    }
}

impl crate::StreamingContext {
    /// A stream of the lines of new files in `dir` (see the module docs for what counts as
    /// new). Files present now are not read.
    ///
    /// # Examples
    ///
    /// ```
    /// use spate_streaming::StreamingContext;
    /// let dir = tempfile::tempdir().unwrap();
    /// let ssc = StreamingContext::new(spate_core::Conf::new().set_master("local[1]"), std::time::Duration::from_secs(1)).unwrap();
    /// let lines = ssc.text_file_stream(dir.path());
    /// lines.print(10).unwrap();
    /// ```
    pub fn text_file_stream(&self, dir: impl AsRef<Path>) -> DStream<Text> {
        self.file_stream(dir, Ok::<Text, std::convert::Infallible>)
    }

    /// A stream of the records `parse` makes of the lines of new files in `dir`. A line it
    /// rejects is skipped and logged with the file's name and the reason.
    ///
    /// # Examples
    ///
    /// ```
    /// use spate_streaming::StreamingContext;
    /// let dir = tempfile::tempdir().unwrap();
    /// let ssc = StreamingContext::new(spate_core::Conf::new().set_master("local[1]"), std::time::Duration::from_secs(1)).unwrap();
    /// let numbers = ssc.file_stream(dir.path(), |line| line.trim().parse::<i64>());
    /// numbers.print(10).unwrap();
    /// ```
    pub fn file_stream<T: Data, E: Display>(
        &self,
        dir: impl AsRef<Path>,
        parse: impl Fn(Text) -> Result<T, E> + Send + Sync + 'static,
    ) -> DStream<T> {
        let dir = dir.as_ref().to_path_buf();
        let now = SystemTime::now();
        // Files already there belong to no batch.
        let files: HashMap<PathBuf, SystemTime> = std::fs::read_dir(&dir)
            .map(|entries| entries.flatten().map(|e| (e.path(), now)).collect())
            .unwrap_or_default();
        let id = Arc::new(OnceLock::new());
        let op = FileStreamOp {
            dir,
            parse: Arc::new(move |line| parse(line).map_err(|e| e.to_string())),
            shared: Arc::clone(&self.shared),
            stream: Arc::clone(&id),
            seen: Mutex::new(Seen {
                files,
                threshold: now.checked_sub(REMEMBER).unwrap_or(now),
                batches: BTreeMap::new(),
            }),
            replay_through: Mutex::new(None),
        };
        let stream = DStream::from_op(&self.shared, "file_stream", self.shared.batch_interval, op);
        let _ = id.set(stream.id());
        stream
    }
}
