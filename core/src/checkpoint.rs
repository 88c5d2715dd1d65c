//! RDD checkpoint files: one framed bincode file per partition under
//! `<checkpoint dir>/rdd-<id>/part-NNNNN` (see [`crate::codec`] for the frame and its checksum).

use std::path::{Path, PathBuf};

use crate::codec;
use crate::data::Data;
use crate::error::Result;

/// A written checkpoint: where its files are and how many partitions it has.
#[derive(Clone, Debug)]
pub(crate) struct CheckpointFiles {
    pub(crate) dir: PathBuf,
    pub(crate) num_partitions: usize,
    /// Someone else (a streaming checkpoint that refers to them) owns the files now: they
    /// outlive the RDD.
    pub(crate) retained: bool,
}

/// Where the checkpoint of RDD `rdd` (the driver's id) goes under `base`.
pub(crate) fn rdd_dir(base: &Path, rdd: crate::ids::RddId) -> PathBuf {
    base.join(format!("rdd-{}", rdd.0))
}

pub(crate) fn part_path(dir: &Path, partition: usize) -> PathBuf {
    dir.join(format!("part-{partition:05}"))
}

pub(crate) fn write_partition<T: Data>(dir: &Path, partition: usize, data: &Vec<T>) -> Result<()> {
    codec::write_file(&part_path(dir, partition), data)
}

/// Reads one partition; a missing, truncated or corrupt file is [`crate::Error::Corrupt`]
/// naming the file.
pub(crate) fn read_partition<T: Data>(files: &CheckpointFiles, partition: usize) -> Result<Vec<T>> {
    codec::read_file(&part_path(&files.dir, partition))
}
