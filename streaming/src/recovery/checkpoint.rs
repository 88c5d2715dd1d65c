//! Driver checkpoints: what a restarted driver needs to resume where the last one stopped.
//!
//! Layout of a checkpoint directory:
//!
//! ```text
//! <dir>/metadata/checkpoint-<seq>      the last few metadata files (framed, checksummed)
//! <dir>/wal/<stream>/log-<seq>         write-ahead log segments of receiver streams
//! <dir>/<app>-<pid>-<rand>/rdd-<id>/   RDD checkpoint files of one run (state snapshots)
//! <dir>/driver.lock                    flock()ed by the one driver using the directory
//! ```
//!
//! A metadata file is written after every batch is generated and after it completes: the
//! batch interval, the zero time, the last generated batch, the batches generated but not
//! completed, and one [`StreamSnapshot`] per stream with something to restore (a stateful
//! stream's latest checkpointed RDD, a file stream's files per batch, a receiver's log
//! records per batch). Files are written atomically (temp file, fsync, rename) in spate's
//! framed format, so a torn or corrupt file is detected by its checksum and the previous one
//! is used; the last [`KEEP`] are kept. Whatever a kept file refers to (state files, log
//! segments) stays on disk; what none refers to any more is deleted.

use std::collections::{BTreeSet, HashSet, VecDeque};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::common::Time;
use crate::error::{Error, Result};

/// How many metadata files are kept (the newest ones): a torn write falls back to the next.
pub(crate) const KEEP: usize = 4;

/// The version of the metadata this build writes and reads.
pub(crate) const METADATA_VERSION: u32 = 1;

const PREFIX: &str = "checkpoint-";

/// One metadata checkpoint.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Metadata {
    pub(crate) version: u32,
    pub(crate) batch_interval_ms: u64,
    pub(crate) zero_time: Time,
    /// The batch whose generation or completion this was written for.
    pub(crate) time: Time,
    pub(crate) last_generated: Option<Time>,
    /// Generated but not completed: these batches run again after a restart.
    pub(crate) pending: Vec<Time>,
    pub(crate) streams: Vec<StreamSnapshot>,
}

/// What one stream needs restored, under its stable identity.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct StreamSnapshot {
    /// The stream's name (`DStream::name`) or `kind#n`, its position among streams of its kind.
    pub(crate) key: String,
    pub(crate) kind: String,
    /// The stream's record type ([`spate_core::codec::stable_name`]; older checkpoints hold
    /// the full `std::any::type_name`): a changed key or state type shows here.
    pub(crate) item_type: String,
    /// A stateful stream's latest checkpointed RDD: its batch time and files.
    pub(crate) state: Option<(Time, PathBuf)>,
    /// An input stream's own record of its batches (bincode, the op's format).
    pub(crate) input: Option<Vec<u8>>,
    /// Files and directories this snapshot needs kept on disk.
    pub(crate) files: Vec<PathBuf>,
}

impl Metadata {
    fn referenced(&self) -> impl Iterator<Item = &PathBuf> {
        self.streams.iter().flat_map(|s| s.files.iter())
    }
}

fn metadata_dir(dir: &Path) -> PathBuf {
    dir.join("metadata")
}

/// The metadata files in `dir`, newest first, with their sequence numbers.
fn list(dir: &Path) -> Vec<(u64, PathBuf)> {
    let mut files: Vec<(u64, PathBuf)> = std::fs::read_dir(metadata_dir(dir))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let seq = name.strip_prefix(PREFIX)?.parse().ok()?;
            Some((seq, e.path()))
        })
        .collect();
    files.sort_by_key(|f| std::cmp::Reverse(f.0));
    files
}

fn read(path: &Path) -> std::result::Result<Metadata, String> {
    let md: Metadata = spate_core::codec::read_file(path).map_err(|e| e.to_string())?;
    if md.version != METADATA_VERSION {
        return Err(format!(
            "{}: metadata version {} (this build reads {METADATA_VERSION})",
            path.display(),
            md.version
        ));
    }
    Ok(md)
}

/// The newest readable metadata in `dir`: `None` when there is none at all; an error when
/// there are files but none can be read. Unreadable newer files are logged and skipped.
pub(crate) fn read_latest(dir: &Path) -> Result<Option<Metadata>> {
    let files = list(dir);
    let mut rejected = Vec::new();
    for (_, path) in &files {
        match read(path) {
            Ok(md) => {
                for reason in &rejected {
                    tracing::warn!("skipped an unreadable metadata checkpoint: {reason}");
                }
                return Ok(Some(md));
            }
            Err(reason) => rejected.push(reason),
        }
    }
    if rejected.is_empty() {
        Ok(None)
    } else {
        Err(Error::CheckpointUnreadable {
            dir: dir.to_path_buf(),
            details: rejected.join("; "),
        })
    }
}

/// Writes metadata files and deletes what no kept file refers to any more.
pub(crate) struct Checkpointer {
    dir: PathBuf,
    next_seq: u64,
    /// The kept metadata files, oldest first, and what each refers to.
    kept: VecDeque<(PathBuf, Vec<PathBuf>)>,
    /// Everything a kept file referred to at some point: deleted once none does.
    owned: HashSet<PathBuf>,
}

impl Checkpointer {
    /// Takes over `dir`: continues its numbering and owns what its metadata files refer to.
    pub(crate) fn open(dir: &Path) -> Checkpointer {
        let files = list(dir);
        let next_seq = files.first().map_or(0, |(seq, _)| seq + 1);
        let mut kept = VecDeque::new();
        let mut owned = HashSet::new();
        for (_, path) in files.iter().rev() {
            let refs: Vec<PathBuf> = read(path)
                .map(|md| md.referenced().cloned().collect())
                .unwrap_or_default();
            owned.extend(refs.iter().cloned());
            kept.push_back((path.clone(), refs));
        }
        Checkpointer {
            dir: dir.to_path_buf(),
            next_seq,
            kept,
            owned,
        }
    }

    /// Writes `md` as the newest metadata file, then drops the oldest beyond [`KEEP`] and
    /// whatever only they referred to.
    pub(crate) fn write(&mut self, md: &Metadata) -> Result<()> {
        let path = metadata_dir(&self.dir).join(format!("{PREFIX}{:012}", self.next_seq));
        spate_core::codec::write_file(&path, md)?;
        // The rename must be durable too before anything older is deleted.
        if let Ok(d) = std::fs::File::open(metadata_dir(&self.dir)) {
            let _ = d.sync_all();
        }
        self.next_seq += 1;
        let refs: Vec<PathBuf> = md.referenced().cloned().collect();
        self.owned.extend(refs.iter().cloned());
        self.kept.push_back((path, refs));
        while self.kept.len() > KEEP {
            if let Some((old, _)) = self.kept.pop_front() {
                let _ = std::fs::remove_file(old);
            }
        }
        let live: BTreeSet<&PathBuf> = self.kept.iter().flat_map(|(_, r)| r.iter()).collect();
        let dead: Vec<PathBuf> = self
            .owned
            .iter()
            .filter(|p| !live.contains(p))
            .cloned()
            .collect();
        for p in dead {
            let removed = if p.is_dir() {
                std::fs::remove_dir_all(&p)
            } else {
                std::fs::remove_file(&p)
            };
            if removed.is_ok() || !p.exists() {
                self.owned.remove(&p);
            }
        }
        Ok(())
    }
}

/// The name of the lock file in a checkpoint directory.
pub(crate) const LOCK_FILE: &str = "driver.lock";

/// One driver's hold on a checkpoint directory: an `flock` on `<dir>/driver.lock`, which
/// names the holder (pid, host, since when). The OS releases it when the process dies, however
/// it dies, so a crashed driver never blocks its restart; two live drivers never share a
/// directory (they would write the same metadata names and output directories).
#[derive(Debug)]
pub(crate) struct DirLock {
    dir: PathBuf,
    _file: std::fs::File,
}

impl DirLock {
    /// Takes the lock of `dir` (created if missing), or says who holds it.
    pub(crate) fn acquire(dir: &Path) -> Result<DirLock> {
        use std::io::{Read, Seek, Write};
        let path = dir.join(LOCK_FILE);
        let io = |e: std::io::Error| -> Error { spate_core::Error::io(&path, e).into() };
        if dir.exists() && !dir.is_dir() {
            // Else create_dir_all's "File exists" on the lock file's path, which says nothing.
            return Err(spate_core::Error::io(
                dir,
                std::io::Error::new(
                    std::io::ErrorKind::NotADirectory,
                    "the checkpoint directory is a file, not a directory: choose another path",
                ),
            )
            .into());
        }
        std::fs::create_dir_all(dir).map_err(io)?;
        let mut file = std::fs::File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = (&file).take(4096).read_to_string(&mut holder);
                let holder = holder.trim();
                return Err(Error::CheckpointLocked {
                    dir: dir.to_path_buf(),
                    holder: if holder.is_empty() {
                        "a driver that has not written its name yet".into()
                    } else {
                        holder.to_string()
                    },
                });
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io(e)),
        }
        let host = nix::unistd::gethostname()
            .map(|h| h.to_string_lossy().into_owned())
            .unwrap_or_else(|_| "an unknown host".into());
        let since = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        file.set_len(0).map_err(io)?;
        file.rewind().map_err(io)?;
        writeln!(
            file,
            "pid {} on host {host} (since {since} s after the epoch)",
            std::process::id()
        )
        .map_err(io)?;
        Ok(DirLock {
            dir: dir.to_path_buf(),
            _file: file,
        })
    }

    /// The directory locked.
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }
}

/// Removes the RDD checkpoint files of earlier runs that no metadata refers to (a crashed run
/// cannot clean up after itself).
pub(crate) fn sweep_orphans(dir: &Path, current_run: Option<&Path>) {
    let referenced: Vec<PathBuf> = list(dir)
        .iter()
        .filter_map(|(_, p)| read(p).ok())
        .flat_map(|md| md.referenced().cloned().collect::<Vec<_>>())
        .collect();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for run in entries.flatten().map(|e| e.path()) {
        let name = run.file_name().map(|n| n.to_string_lossy().into_owned());
        if matches!(name.as_deref(), Some("metadata" | "wal" | LOCK_FILE))
            || Some(run.as_path()) == current_run
        {
            continue;
        }
        let Ok(rdds) = std::fs::read_dir(&run) else {
            continue;
        };
        for rdd in rdds.flatten().map(|e| e.path()) {
            if !referenced.iter().any(|r| r.starts_with(&rdd)) {
                let _ = std::fs::remove_dir_all(&rdd);
            }
        }
        // Only succeeds once the run directory is empty.
        let _ = std::fs::remove_dir(&run);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn md(time: i64, files: Vec<PathBuf>) -> Metadata {
        Metadata {
            version: METADATA_VERSION,
            batch_interval_ms: 1000,
            zero_time: Time::from_millis(0),
            time: Time::from_millis(time),
            last_generated: Some(Time::from_millis(time)),
            pending: vec![],
            streams: vec![StreamSnapshot {
                key: "s#0".into(),
                kind: "s".into(),
                item_type: "u8".into(),
                state: None,
                input: None,
                files,
            }],
        }
    }

    /// Issue 30, finding 10: once `…/driver.lock: File exists (os error 17)`.
    #[test]
    fn a_checkpoint_path_that_is_a_file_is_refused_as_not_a_directory() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("ck");
        std::fs::write(&file, b"not a directory").unwrap();
        let Err(err) = DirLock::acquire(&file) else {
            panic!("a file as the checkpoint directory was accepted")
        };
        let err = err.to_string();
        assert!(err.contains("not a directory"), "{err}");
        assert!(!err.contains("driver.lock"), "{err}");
    }

    /// A checkpoint written by spate's format 1 (frames named by full type paths), committed
    /// as written: a build whose frames name types stably still reads it.
    #[test]
    fn a_checkpoint_of_frame_format_1_is_still_read() {
        let dir = tempfile::tempdir().unwrap();
        let metadata = dir.path().join("metadata");
        std::fs::create_dir_all(&metadata).unwrap();
        std::fs::copy(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("src/recovery/testdata/checkpoint-format1"),
            metadata.join("checkpoint-000000000000"),
        )
        .unwrap();
        let md = read_latest(dir.path())
            .unwrap()
            .expect("the checkpoint is read");
        assert_eq!(md.batch_interval_ms, 1000);
        assert_eq!(md.zero_time, Time::from_millis(5000));
        assert_eq!(md.pending, [Time::from_millis(9000)]);
        let s = &md.streams[0];
        assert_eq!(
            (s.key.as_str(), s.kind.as_str()),
            ("totals", "update_state_by_key")
        );
        // Saved with the full path; compared by the stable name.
        assert_eq!(
            spate_core::codec::stable_name(&s.item_type),
            spate_core::codec::stable_name(std::any::type_name::<(String, u64)>())
        );
    }

    #[test]
    fn keeps_the_newest_few_and_what_they_refer_to() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = Checkpointer::open(dir.path());
        let data: Vec<PathBuf> = (0..8).map(|i| dir.path().join(format!("d{i}"))).collect();
        for (i, d) in data.iter().enumerate() {
            std::fs::create_dir_all(d).unwrap();
            c.write(&md(i as i64 * 1000, vec![d.clone()])).unwrap();
        }
        assert_eq!(list(dir.path()).len(), KEEP);
        for (i, d) in data.iter().enumerate() {
            assert_eq!(d.exists(), i >= 8 - KEEP, "{}", d.display());
        }
        assert_eq!(
            read_latest(dir.path()).unwrap().unwrap().time.millis(),
            7000
        );
        // A reopened checkpointer continues the numbering and owns the kept references.
        let mut c = Checkpointer::open(dir.path());
        c.write(&md(8000, vec![])).unwrap();
        assert!(!data[4].exists() && data[5].exists());
        assert_eq!(list(dir.path())[0].0, 8);
    }

    #[test]
    fn a_torn_newest_file_falls_back_and_all_torn_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = Checkpointer::open(dir.path());
        c.write(&md(1000, vec![])).unwrap();
        c.write(&md(2000, vec![])).unwrap();
        let files = list(dir.path());
        let newest = &files[0].1;
        let bytes = std::fs::read(newest).unwrap();
        std::fs::write(newest, &bytes[..bytes.len() / 2]).unwrap();
        assert_eq!(
            read_latest(dir.path()).unwrap().unwrap().time.millis(),
            1000
        );
        std::fs::write(&files[1].1, b"garbage").unwrap();
        let err = read_latest(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("truncated") && err.contains("bad magic"),
            "{err}"
        );
        assert!(err.contains("start fresh"), "{err}");
        assert!(read_latest(&dir.path().join("none")).unwrap().is_none());
    }

    #[test]
    fn orphaned_run_files_are_swept() {
        let dir = tempfile::tempdir().unwrap();
        let kept = dir.path().join("app-1-aa/rdd-3");
        let orphan = dir.path().join("app-1-aa/rdd-2");
        let dead_run = dir.path().join("app-2-bb/rdd-1");
        for d in [&kept, &orphan, &dead_run] {
            std::fs::create_dir_all(d).unwrap();
        }
        Checkpointer::open(dir.path())
            .write(&md(1000, vec![kept.clone()]))
            .unwrap();
        sweep_orphans(dir.path(), None);
        assert!(kept.exists() && !orphan.exists() && !dead_run.exists());
        assert!(!dir.path().join("app-2-bb").exists());
        assert!(dir.path().join("metadata").exists());
    }
}
