//! Durable file output: a file's bytes and a directory's entries reach the disk (fsync) before
//! the output is published, and a directory is published — or replaced — by one atomic rename,
//! so that after a crash or a power loss a reader finds the old output or the new one, whole,
//! and never neither.
//!
//! # Examples
//!
//! ```
//! let dir = tempfile::tempdir().unwrap();
//! let staged = dir.path().join(".out.tmp");
//! std::fs::create_dir(&staged).unwrap();
//! std::fs::write(staged.join("part-00000"), b"a\n").unwrap();
//! let out = dir.path().join("out");
//! let old = spate_core::durable::publish_dir(&staged, &out).unwrap();
//! assert!(old.is_none() && out.join("part-00000").exists());
//! ```

use std::fs::File;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Flushes `file`'s data and metadata to the disk.
///
/// # Examples
///
/// ```
/// let f = tempfile::tempfile().unwrap();
/// spate_core::durable::sync_file(&f, std::path::Path::new("a temp file")).unwrap();
/// ```
pub fn sync_file(file: &File, path: &Path) -> Result<()> {
    file.sync_all().map_err(|e| Error::io(path, e))
}

/// Flushes `dir`'s entries (files created, renamed or removed in it) to the disk.
///
/// # Examples
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// spate_core::durable::sync_dir(dir.path()).unwrap();
/// ```
pub fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io(dir, e))
}

/// Publishes the directory `staged` (its files already synced) at `path`: its entries are
/// synced, then it is renamed into place — exchanged atomically with an output already at
/// `path` (`renameat2(RENAME_EXCHANGE)`), so a reader sees the old directory or the new one,
/// never neither — and the parent is synced. Returns where the replaced output now is (the
/// staged name), for the caller to remove; a crash before that leaves it there, hidden, and
/// the new output in place.
pub fn publish_dir(staged: &Path, path: &Path) -> Result<Option<PathBuf>> {
    sync_dir(staged)?;
    let replaced = if std::fs::symlink_metadata(path).is_ok() {
        exchange(staged, path)?;
        Some(staged.to_path_buf())
    } else {
        std::fs::rename(staged, path).map_err(|e| Error::io(path, e))?;
        None
    };
    sync_dir(&parent_of(path))?;
    Ok(replaced)
}

/// [`publish_dir`] for an output that must be new: a non-empty directory that appeared at
/// `path` meanwhile makes it fail ([`Error::OutputExists`]) instead of being replaced.
///
/// # Examples
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let out = dir.path().join("out");
/// std::fs::create_dir(&out).unwrap();
/// std::fs::write(out.join("part-00000"), b"theirs").unwrap();
/// let staged = dir.path().join(".out.tmp");
/// std::fs::create_dir(&staged).unwrap();
/// assert!(spate_core::durable::publish_new_dir(&staged, &out).is_err());
/// ```
pub fn publish_new_dir(staged: &Path, path: &Path) -> Result<()> {
    sync_dir(staged)?;
    if std::fs::symlink_metadata(path).is_ok() {
        return Err(Error::OutputExists {
            path: path.to_path_buf(),
        });
    }
    // `rename` onto a non-empty directory fails: one created after the check is not replaced.
    std::fs::rename(staged, path).map_err(|e| match e.raw_os_error() {
        Some(code) if code == nix::libc::ENOTEMPTY || code == nix::libc::EEXIST => {
            Error::OutputExists {
                path: path.to_path_buf(),
            }
        }
        _ => Error::io(path, e),
    })?;
    sync_dir(&parent_of(path))
}

fn parent_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Swaps `a` and `b` in one step; where the file system cannot (not Linux, or no support),
/// in two renames through a hidden name.
fn exchange(a: &Path, b: &Path) -> Result<()> {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        use nix::fcntl::{AT_FDCWD, RenameFlags, renameat2};
        match renameat2(AT_FDCWD, a, AT_FDCWD, b, RenameFlags::RENAME_EXCHANGE) {
            Ok(()) => return Ok(()),
            Err(nix::errno::Errno::EINVAL | nix::errno::Errno::ENOSYS) => {}
            Err(e) => return Err(Error::io(b, std::io::Error::from(e))),
        }
    }
    let aside = a.with_extension("spate-aside");
    std::fs::rename(b, &aside).map_err(|e| Error::io(b, e))?;
    std::fs::rename(a, b).map_err(|e| Error::io(b, e))?;
    std::fs::rename(&aside, a).map_err(|e| Error::io(a, e))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

    use super::*;

    fn staged(dir: &Path, name: &str, content: &str) -> PathBuf {
        let s = dir.join(name);
        std::fs::create_dir(&s).unwrap();
        std::fs::write(s.join("part-00000"), content).unwrap();
        std::fs::write(s.join("_SUCCESS"), b"").unwrap();
        s
    }

    /// A reader spinning on the output while it is replaced again and again never finds it
    /// missing or without its marker.
    #[test]
    fn a_replaced_output_is_never_missing() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let first = staged(dir.path(), ".first", "0");
        assert_eq!(publish_dir(&first, &out).unwrap(), None);
        let stop = Arc::new(AtomicBool::new(false));
        let (misses, reads) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let reader = {
            let (out, stop) = (out.clone(), Arc::clone(&stop));
            let (misses, reads) = (Arc::clone(&misses), Arc::clone(&reads));
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    if !out.join("_SUCCESS").exists() {
                        misses.fetch_add(1, Ordering::Relaxed);
                    }
                    reads.fetch_add(1, Ordering::Relaxed);
                }
            })
        };
        for i in 1..=300 {
            let s = staged(dir.path(), &format!(".new-{i}"), &i.to_string());
            let old = publish_dir(&s, &out).unwrap().expect("replaced");
            std::fs::remove_dir_all(old).unwrap();
        }
        stop.store(true, Ordering::Relaxed);
        reader.join().unwrap();
        assert!(reads.load(Ordering::Relaxed) > 0);
        assert_eq!(misses.load(Ordering::Relaxed), 0);
        assert_eq!(
            std::fs::read_to_string(out.join("part-00000")).unwrap(),
            "300"
        );
    }

    /// A crash between the steps: after staging (the old output stays, whole), and after the
    /// exchange but before the old one is removed (the new one is in place, whole; the old one
    /// waits under the hidden staged name).
    #[test]
    fn a_crash_between_the_steps_leaves_one_whole_output() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        publish_dir(&staged(dir.path(), ".a", "old"), &out).unwrap();
        // Staged, not published.
        let s = staged(dir.path(), ".b", "new");
        assert_eq!(
            std::fs::read_to_string(out.join("part-00000")).unwrap(),
            "old"
        );
        // Published, the old one not yet removed.
        let old = publish_dir(&s, &out).unwrap().unwrap();
        assert_eq!(
            std::fs::read_to_string(out.join("part-00000")).unwrap(),
            "new"
        );
        assert!(out.join("_SUCCESS").exists());
        assert_eq!(old, s);
        assert_eq!(
            std::fs::read_to_string(old.join("part-00000")).unwrap(),
            "old"
        );
    }
}
