//! Batch outputs as files: each batch's RDD saved to its own directory (`prefix-<ms>[.suffix]`),
//! written beside it and swapped in, so a re-run batch replaces its output.

use std::path::{Path, PathBuf};

use spate_core::{Data, Show};

use crate::common::Time;
use crate::dstream::DStream;
use crate::error::Result;

/// The directory of batch `time`: `prefix-<ms>` or `prefix-<ms>.suffix`.
fn batch_output_path(prefix: &str, suffix: &str, time: Time) -> PathBuf {
    if suffix.is_empty() {
        PathBuf::from(format!("{prefix}-{}", time.millis()))
    } else {
        PathBuf::from(format!("{prefix}-{}.{suffix}", time.millis()))
    }
}

/// Writes with `save` (which refuses an existing path) beside `path`, then swaps it in: a
/// re-run of the same batch replaces its output instead of failing or duplicating it.
fn replace_dir(
    ctx: &spate_core::Context,
    path: &Path,
    save: impl FnOnce(&Path) -> spate_core::Result<()>,
) -> spate_core::Result<()> {
    let name = path
        .file_name()
        .map_or_else(|| "output".into(), |n| n.to_string_lossy().into_owned());
    // The same in every process of a cluster application (tasks write there).
    let unique = ctx.unique_token();
    let fresh = path.with_file_name(format!(".{name}.spate-new-{unique}"));
    save(&fresh)?;
    if !ctx.is_driver() {
        return Ok(());
    }
    // `save` published `fresh` durably; swapping it with the old output is one atomic step
    // (a reader sees one or the other), then the old one goes.
    if let Some(old) = spate_core::durable::publish_dir(&fresh, path)? {
        let _ = std::fs::remove_dir_all(&old);
    }
    Ok(())
}

impl<T: Data> DStream<T> {
    /// Saves every batch as text, one directory per batch: `prefix-<batch ms>[.suffix]` with a
    /// `part-NNNNN` file per partition (one element per line, Spark's format) and `_SUCCESS`.
    /// Each directory is written under a temporary name and renamed into place; re-running a
    /// batch replaces its directory.
    ///
    /// # Examples
    ///
    /// ```
    /// use spate_streaming::testing::run_batches;
    /// let dir = tempfile::tempdir().unwrap();
    /// let prefix = dir.path().join("counts").display().to_string();
    /// let p = prefix.clone();
    /// run_batches(vec![vec![('a', 1)]], move |s| { s.save_as_text_files(&p, "txt").unwrap(); s }, 1);
    /// let out = std::path::PathBuf::from(format!("{prefix}-1000.txt"));
    /// assert!(out.join("_SUCCESS").exists());
    /// let text: String = (0..2).map(|i| std::fs::read_to_string(out.join(format!("part-{i:05}"))).unwrap()).collect();
    /// assert_eq!(text, "(a,1)\n");
    /// ```
    #[track_caller]
    pub fn save_as_text_files(&self, prefix: &str, suffix: &str) -> Result<()>
    where
        T: Show,
    {
        let (prefix, suffix) = (prefix.to_string(), suffix.to_string());
        self.output_named("saveAsTextFiles", move |rdd, time| {
            let path = batch_output_path(&prefix, &suffix, time);
            replace_dir(rdd.context(), &path, |tmp| rdd.save_as_text_file(tmp))
        })
    }

    /// Saves every batch as checksummed bincode files, one directory per batch named like
    /// [`DStream::save_as_text_files`]; read one back with
    /// [`StreamingContext::object_file`](crate::StreamingContext::object_file).
    ///
    /// # Examples
    ///
    /// ```
    /// use spate_streaming::testing::run_batches;
    /// let dir = tempfile::tempdir().unwrap();
    /// let prefix = dir.path().join("objs").display().to_string();
    /// let p = prefix.clone();
    /// run_batches(vec![vec![1u32, 2]], move |s| { s.save_as_object_files(&p, "").unwrap(); s }, 1);
    /// let ctx = spate_core::Context::local(1).unwrap();
    /// let back = ctx.object_file::<u32>(format!("{prefix}-1000")).unwrap();
    /// assert_eq!(back.collect().unwrap(), [1, 2]);
    /// ```
    #[track_caller]
    pub fn save_as_object_files(&self, prefix: &str, suffix: &str) -> Result<()> {
        let (prefix, suffix) = (prefix.to_string(), suffix.to_string());
        self.output_named("saveAsObjectFiles", move |rdd, time| {
            let path = batch_output_path(&prefix, &suffix, time);
            replace_dir(rdd.context(), &path, |tmp| rdd.save_as_object_file(tmp))
        })
    }
}
