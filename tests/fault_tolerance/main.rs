//! Fault tolerance end to end: driver restarts from checkpoints (after `kill -9`, and into a
//! changed program), corrupt checkpoints, the write-ahead log with a resending source, one
//! driver per checkpoint directory, failed checkpoint writes.

mod code_changes;
mod recoverable;
mod wal;

#[path = "../support/mod.rs"]
mod support;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use spate::prelude::*;
use spate::streaming::{Clock, ManualClock, OutputMode, Receiver, ReceiverHandle};
use support::{
    InputErrors, Reaped, alive, children_of, example_path, move_in, sigterm, wait_exit, wait_for,
};

/// The newest complete output directory under `counts` and its totals.
fn latest_totals(counts: &Path) -> Option<(PathBuf, HashMap<String, u64>)> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(counts)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("totals-"))
        })
        .collect();
    dirs.sort();
    let dir = dirs.pop()?;
    let mut totals = HashMap::new();
    for part in std::fs::read_dir(&dir).ok()?.flatten() {
        if !part.file_name().to_string_lossy().starts_with("part-") {
            continue;
        }
        for line in std::fs::read_to_string(part.path()).ok()?.lines() {
            let inner = line.strip_prefix('(')?.strip_suffix(')')?;
            let (w, n) = inner.rsplit_once(',')?;
            totals.insert(w.to_string(), n.parse().ok()?);
        }
    }
    Some((dir, totals))
}

/// Waits until the newest output (`latest` gives its path and content) is newer than `before`
/// — written by this run, whose signal handling is in place by then — and is `want`; then
/// stops the run with SIGTERM, which must end it with exit 0.
fn stop_once_newest_output_is<T: PartialEq + std::fmt::Debug>(
    mut app: Reaped,
    mut latest: impl FnMut() -> Option<(PathBuf, T)>,
    before: Option<PathBuf>,
    want: &T,
    context: &str,
) {
    let mut last = None;
    let reached = wait_for(60, || {
        last = latest();
        last.as_ref()
            .is_some_and(|(path, got)| Some(path) > before.as_ref() && got == want)
    });
    assert!(
        reached,
        "{context}: newest output {last:?}, expected {want:?}"
    );
    sigterm(&app.0);
    assert!(wait_exit(&mut app.0, 30).success());
}
