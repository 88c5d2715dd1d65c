//! The receivers' write-ahead log: every received block is appended (and synced) to a log in
//! the checkpoint directory before the receiver is told it is stored, so a restarted driver
//! can read back the blocks of batches that had not completed.
//!
//! A log is a directory of segments `log-<seq>`, a new one every
//! `spate.streaming.receiver.writeAheadLog.rollingInterval`. A record is
//! `length (u32 LE) | crc32 (u32 LE) | payload` (the payload a framed block, see
//! `spate_core::codec`); a torn record at a segment's end — a write the crash interrupted,
//! never acknowledged — ends the scan of that segment. The driver checkpoint refers to records
//! by [`WalRef`] and keeps the segments its metadata refers to; older ones are deleted.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::error::Result;

/// Where one record is: segment number, byte offset of the record, payload length.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub(crate) struct WalRef {
    pub(crate) segment: u64,
    pub(crate) offset: u64,
    pub(crate) len: u32,
}

pub(crate) const HEADER: u64 = 8;

fn segment_path(dir: &Path, seq: u64) -> PathBuf {
    dir.join(format!("log-{seq:010}"))
}

/// The segments in `dir`, oldest first.
pub(crate) fn segments(dir: &Path) -> Vec<u64> {
    let mut seqs: Vec<u64> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            e.file_name()
                .to_string_lossy()
                .strip_prefix("log-")?
                .parse()
                .ok()
        })
        .collect();
    seqs.sort_unstable();
    seqs
}

/// One receiver stream's log, appended to by its block generator.
pub(crate) struct WriteAheadLog {
    dir: PathBuf,
    rolling: Duration,
    current: Option<(u64, File, u64, Instant)>,
    next_seq: u64,
}

impl WriteAheadLog {
    /// Opens the log in `dir` (created if missing); appends go to a new segment.
    pub(crate) fn open(dir: &Path, rolling: Duration) -> Result<WriteAheadLog> {
        std::fs::create_dir_all(dir).map_err(|e| spate_core::Error::io(dir, e))?;
        let next_seq = segments(dir).last().map_or(0, |s| s + 1);
        Ok(WriteAheadLog {
            dir: dir.to_path_buf(),
            rolling,
            current: None,
            next_seq,
        })
    }

    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// The segment being appended to, if any.
    pub(crate) fn current_segment(&self) -> Option<u64> {
        self.current.as_ref().map(|c| c.0)
    }

    /// Appends `payload` and syncs it to disk: once this returns, a crash does not lose it.
    pub(crate) fn append(&mut self, payload: &[u8]) -> Result<WalRef> {
        let roll = self
            .current
            .as_ref()
            .is_none_or(|c| c.3.elapsed() >= self.rolling);
        if roll {
            let seq = self.next_seq;
            let path = segment_path(&self.dir, seq);
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .map_err(|e| spate_core::Error::io(&path, e))?;
            // The new segment's name must survive a crash too.
            if let Ok(d) = File::open(&self.dir) {
                let _ = d.sync_all();
            }
            self.next_seq += 1;
            self.current = Some((seq, file, 0, Instant::now()));
        }
        let (seq, file, len, _) = self.current.as_mut().expect("a segment is open");
        let path = segment_path(&self.dir, *seq);
        let mut header = [0u8; HEADER as usize];
        header[..4].copy_from_slice(&(payload.len() as u32).to_le_bytes());
        header[4..].copy_from_slice(&crc32fast::hash(payload).to_le_bytes());
        // Header and payload written apart: a block's payload is not copied once more.
        let written = file
            .write_all(&header)
            .and_then(|()| file.write_all(payload))
            .and_then(|()| file.sync_data());
        if let Err(e) = written {
            // The segment may now end in a torn record: later records go to a new one, so
            // their offsets stay true (the scan of this one stops at the tear).
            self.current = None;
            return Err(spate_core::Error::io(&path, e).into());
        }
        let at = WalRef {
            segment: *seq,
            offset: *len,
            len: payload.len() as u32,
        };
        *len += HEADER + payload.len() as u64;
        Ok(at)
    }
}

/// Reads back the record at `at`.
pub(crate) fn read(dir: &Path, at: WalRef) -> Result<Vec<u8>> {
    let path = segment_path(dir, at.segment);
    let bytes = std::fs::read(&path).map_err(|e| spate_core::Error::Corrupt {
        path: path.clone(),
        reason: format!("a write-ahead log segment the checkpoint needs cannot be read ({e})"),
    })?;
    let start = at.offset as usize;
    match parse(&bytes, start) {
        Some((payload, _)) if payload.len() == at.len as usize => Ok(payload.to_vec()),
        _ => Err(spate_core::Error::Corrupt {
            path,
            reason: format!("no intact record at offset {}", at.offset),
        }
        .into()),
    }
}

/// The record at `pos` and the position after it, if it is whole and intact.
fn parse(bytes: &[u8], pos: usize) -> Option<(&[u8], usize)> {
    let header = bytes.get(pos..pos + HEADER as usize)?;
    let len = u32::from_le_bytes(header[..4].try_into().ok()?) as usize;
    let crc = u32::from_le_bytes(header[4..].try_into().ok()?);
    let start = pos + HEADER as usize;
    let payload = bytes.get(start..start.checked_add(len)?)?;
    (crc32fast::hash(payload) == crc).then_some((payload, start + len))
}

/// Every intact record written after `after` (or from the start of the log), in order.
pub(crate) fn records_after(dir: &Path, after: Option<WalRef>) -> Vec<(WalRef, Vec<u8>)> {
    let mut out = Vec::new();
    for seq in segments(dir) {
        if after.is_some_and(|a| seq < a.segment) {
            continue;
        }
        let Ok(bytes) = std::fs::read(segment_path(dir, seq)) else {
            continue;
        };
        let mut pos = 0;
        while let Some((payload, next)) = parse(&bytes, pos) {
            let at = WalRef {
                segment: seq,
                offset: pos as u64,
                len: payload.len() as u32,
            };
            if after.is_none_or(|a| at > a) {
                out.push((at, payload.to_vec()));
            }
            pos = next;
        }
        if pos < bytes.len() {
            tracing::warn!(
                "write-ahead log segment {} ends in a torn record ({} bytes ignored: a write the crash interrupted, never acknowledged)",
                segment_path(dir, seq).display(),
                bytes.len() - pos
            );
        }
    }
    out
}

/// The paths of the segments numbered `from` or later.
pub(crate) fn segment_paths_from(dir: &Path, from: u64) -> Vec<PathBuf> {
    segments(dir)
        .into_iter()
        .filter(|s| *s >= from)
        .map(|s| segment_path(dir, s))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_write_sends_later_records_to_a_new_segment() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = WriteAheadLog::open(dir.path(), Duration::from_secs(60)).unwrap();
        let a = log.append(b"first").unwrap();
        // The segment's file handle can no longer write (as on a full disk).
        let path = segment_path(dir.path(), a.segment);
        log.current.as_mut().unwrap().1 = File::open(&path).unwrap();
        assert!(log.append(b"lost").is_err());
        let b = log.append(b"second").unwrap();
        assert_eq!((b.segment, b.offset), (a.segment + 1, 0));
        assert_eq!(read(dir.path(), a).unwrap(), b"first");
        assert_eq!(read(dir.path(), b).unwrap(), b"second");
    }

    #[test]
    fn records_round_trip_roll_and_survive_a_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = WriteAheadLog::open(dir.path(), Duration::ZERO).unwrap();
        let a = log.append(b"first").unwrap();
        let b = log.append(b"second").unwrap();
        assert_ne!(
            a.segment, b.segment,
            "a zero rolling interval rolls every time"
        );
        assert_eq!(read(dir.path(), b).unwrap(), b"second");
        let mut log = WriteAheadLog::open(dir.path(), Duration::from_secs(60)).unwrap();
        let c = log.append(b"third").unwrap();
        let d = log.append(b"fourth").unwrap();
        assert_eq!((c.segment, d.segment), (2, 2));
        // A crash in the middle of a write leaves a torn record: ignored, the rest is read.
        let path = segment_path(dir.path(), 2);
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(&[99, 0, 0, 0, 1, 2]).unwrap();
        let all: Vec<Vec<u8>> = records_after(dir.path(), None)
            .into_iter()
            .map(|r| r.1)
            .collect();
        assert_eq!(all, [&b"first"[..], b"second", b"third", b"fourth"]);
        let after: Vec<WalRef> = records_after(dir.path(), Some(b))
            .into_iter()
            .map(|r| r.0)
            .collect();
        assert_eq!(after, [c, d]);
        // A damaged record is reported, not returned.
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[HEADER as usize] ^= 1;
        std::fs::write(&path, bytes).unwrap();
        assert!(
            read(dir.path(), c)
                .unwrap_err()
                .to_string()
                .contains("no intact record")
        );
        assert_eq!(segment_paths_from(dir.path(), 1).len(), 2);
    }
}
