//! An application's local files on a shared host: its directory is created fresh, readable by
//! its user only (0700), and refused when something else is already there — another user's
//! directory, a symlink planted to redirect the logs, one with loose permissions. Files in it
//! are created 0600, never through a symlink.

use std::fs::{DirBuilder, File, OpenOptions};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::Path;

use crate::error::{Error, Result};

/// Creates `dir` with mode 0700, or accepts it when it already is a directory of this user
/// with no access for others (the same application's, restarted); refuses anything else.
pub(crate) fn private_dir(dir: &Path) -> Result<()> {
    match DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => return Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(Error::io(dir, e)),
    }
    // Not followed: a symlink is refused as itself.
    let meta = std::fs::symlink_metadata(dir).map_err(|e| Error::io(dir, e))?;
    let refuse = |why: String| {
        Err(Error::cluster(format!(
            "{} is already there and {why}: refusing to write the application's logs into it \
             (remove it, or set spate.local.dir to a directory of your own)",
            dir.display()
        )))
    };
    if meta.file_type().is_symlink() {
        return refuse("is a symbolic link".into());
    }
    if !meta.is_dir() {
        return refuse("is not a directory".into());
    }
    let me = nix::unistd::geteuid().as_raw();
    if meta.uid() != me {
        return refuse(format!(
            "belongs to user {}, not to this one ({me})",
            meta.uid()
        ));
    }
    if meta.mode() & 0o077 != 0 {
        return refuse(format!(
            "is open to others (mode {:o})",
            meta.mode() & 0o777
        ));
    }
    Ok(())
}

/// Creates (or truncates) `path` with mode 0600; a symlink there is refused, not followed.
pub(crate) fn private_file(path: &Path) -> Result<File> {
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .custom_flags(nix::libc::O_NOFOLLOW)
        .open(path)
        .map_err(|e| Error::io(path, e))
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn a_fresh_directory_is_private_and_its_files_too() {
        let base = tempfile::tempdir().unwrap();
        let dir = base.path().join("spate-app");
        private_dir(&dir).unwrap();
        assert_eq!(std::fs::metadata(&dir).unwrap().mode() & 0o777, 0o700);
        // The same application again (a restart with its id): accepted.
        private_dir(&dir).unwrap();
        let log = dir.join("executor-0.out");
        private_file(&log).unwrap();
        assert_eq!(std::fs::metadata(&log).unwrap().mode() & 0o777, 0o600);
    }

    #[test]
    fn a_planted_symlink_or_an_open_directory_is_refused() {
        let base = tempfile::tempdir().unwrap();
        let elsewhere = base.path().join("elsewhere");
        std::fs::create_dir(&elsewhere).unwrap();
        let planted = base.path().join("spate-app");
        std::os::unix::fs::symlink(&elsewhere, &planted).unwrap();
        let err = private_dir(&planted).unwrap_err().to_string();
        assert!(err.contains("is a symbolic link"), "{err}");
        assert!(err.contains("spate.local.dir"), "{err}");

        let open = base.path().join("open");
        std::fs::create_dir(&open).unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
        let err = private_dir(&open).unwrap_err().to_string();
        assert!(err.contains("open to others (mode 777)"), "{err}");

        let file = base.path().join("file");
        std::fs::write(&file, b"x").unwrap();
        assert!(
            private_dir(&file)
                .unwrap_err()
                .to_string()
                .contains("not a directory")
        );

        // A log file planted as a symlink is refused, and its target left untouched.
        let dir = base.path().join("app");
        private_dir(&dir).unwrap();
        let target = base.path().join("target");
        std::fs::write(&target, b"keep").unwrap();
        std::os::unix::fs::symlink(&target, dir.join("executor-0.out")).unwrap();
        assert!(private_file(&dir.join("executor-0.out")).is_err());
        assert_eq!(std::fs::read(&target).unwrap(), b"keep");
    }

    #[test]
    fn another_users_directory_is_refused() {
        if nix::unistd::geteuid().as_raw() != 0 {
            // Only root can make a directory owned by someone else: checked where the tests
            // run as root (CI does), and by the mode and symlink checks everywhere.
            return;
        }
        let base = tempfile::tempdir().unwrap();
        let theirs = base.path().join("spate-app");
        std::fs::create_dir(&theirs).unwrap();
        std::fs::set_permissions(&theirs, std::fs::Permissions::from_mode(0o700)).unwrap();
        nix::unistd::chown(&theirs, Some(nix::unistd::Uid::from_raw(65534)), None).unwrap();
        let err = private_dir(&theirs).unwrap_err().to_string();
        assert!(err.contains("belongs to user 65534"), "{err}");
    }
}
