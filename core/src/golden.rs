//! Tests of files generated from the code and committed (the gRPC code, the configuration
//! page): the committed copy must be what the code generates now. Public for the tests of
//! spate's other crates.

use std::path::Path;

/// Fails unless the file at `path` holds `generated`; with `SPATE_BLESS` set, rewrites it
/// instead. `bless` is the command that does so, for the failure's message.
///
/// # Examples
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("page.md");
/// std::fs::write(&path, "# Page\n").unwrap();
/// spate_core::golden::assert_committed(&path, "# Page\n", "cargo test");
/// ```
pub fn assert_committed(path: &Path, generated: &str, bless: &str) {
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    if generated == committed {
        return;
    }
    if std::env::var_os("SPATE_BLESS").is_some() {
        std::fs::write(path, generated).unwrap();
        return;
    }
    panic!(
        "{} is not what the code generates now: run `SPATE_BLESS=1 {bless}` and commit the result",
        path.display()
    );
}
