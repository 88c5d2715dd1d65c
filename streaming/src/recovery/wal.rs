//! The receivers' write-ahead log: every received block is appended (and synced) to a log in
//! the checkpoint directory before the receiver is told it is stored, so a restarted driver
//! can read back the blocks of batches that had not completed.
//!
//! A log is a directory of segments `log-<seq>`, a new one every
//! `spate.streaming.receiver.writeAheadLog.rollingInterval`. A segment starts with a
//! 4096-byte header page (`SPATEWAL2`, zero-padded); then records, each
//! `length (u32 LE) | crc32 (u32 LE) | payload`, zero-padded to the next 4096 bytes (the payload
//! is the intake's: a framed block, see `spate_core::codec`, or received lines as they came).
//! The blocks of one cut are written together, with one sync. A torn record at a segment's
//! end — a write the crash interrupted, never acknowledged — ends the scan of that segment. The driver
//! checkpoint refers to records by [`WalRef`] and keeps the segments its metadata refers to;
//! older ones are deleted. (Segments without the header page, from before it, are read as
//! unpadded records from offset 0.)
//!
//! Segments are written with `O_DIRECT` where the file system allows it: a log is written
//! once and read only after a crash, and copying every received byte into the page cache cost
//! more CPU than the rest of the log (on the benchmark's VM, ~3 s of system time per GB
//! against ~0.2 s direct). Hence the page alignment. Where `O_DIRECT` is refused (tmpfs,
//! some network file systems) the same format is written through the page cache.

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

/// The alignment of records (and of `O_DIRECT` I/O).
const PAGE: usize = 4096;
/// What a segment's header page starts with.
const SEGMENT_MAGIC: &[u8] = b"SPATEWAL2";

fn align_up(n: usize) -> usize {
    n.div_ceil(PAGE) * PAGE
}

/// A page-aligned window of `len` bytes into `buf` (grown as needed), without `unsafe`: the
/// buffer is over-allocated by a page and the window starts at its first aligned byte.
fn aligned(buf: &mut Vec<u8>, len: usize) -> &mut [u8] {
    if buf.len() < len + PAGE {
        buf.resize(len + PAGE, 0);
    }
    let skip = (PAGE - buf.as_ptr() as usize % PAGE) % PAGE;
    &mut buf[skip..skip + len]
}

/// The log directory of the stream keyed `key` under checkpoint directory `base` (the same
/// in every process: the driver, or the executor running the receiver, writes it).
pub(crate) fn stream_dir(base: &Path, key: &str) -> PathBuf {
    base.join("wal").join(key.replace(['/', '\\'], "_"))
}

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
    /// Reused for every write (page-aligned windows into it).
    buf: Vec<u8>,
    /// Whether `O_DIRECT` is still worth trying.
    direct: bool,
    /// Buffers the intake encodes a cut's record blocks into, kept from cut to cut (a fresh
    /// buffer for every block had the kernel hand out and zero new pages at each cut).
    pub(crate) frames: Vec<Vec<u8>>,
}

/// Opens `path` for appending, with `O_DIRECT` if `direct` (and the file system takes it).
fn open_append(path: &Path, direct: bool) -> std::io::Result<(File, bool)> {
    use std::os::unix::fs::OpenOptionsExt;
    if direct {
        let opened = OpenOptions::new()
            .create(true)
            .append(true)
            .custom_flags(nix::fcntl::OFlag::O_DIRECT.bits())
            .open(path);
        match opened {
            Ok(f) => return Ok((f, true)),
            Err(e) if e.raw_os_error() == Some(nix::libc::EINVAL) => {}
            Err(e) => return Err(e),
        }
    }
    let f = OpenOptions::new().create(true).append(true).open(path)?;
    Ok((f, false))
}

impl WriteAheadLog {
    /// Opens the log in `dir` (created if missing); appends go to a new segment.
    #[cfg(test)]
    pub(crate) fn open(dir: &Path, rolling: Duration) -> Result<WriteAheadLog> {
        Self::open_from(dir, rolling, 0)
    }

    /// [`WriteAheadLog::open`], its segments numbered from `first` at least: a receiver that
    /// moved to another executor writes the same directory after its earlier run, whose
    /// segments sort before its own and never share a name with them.
    pub(crate) fn open_from(dir: &Path, rolling: Duration, first: u64) -> Result<WriteAheadLog> {
        std::fs::create_dir_all(dir).map_err(|e| spate_core::Error::io(dir, e))?;
        let next_seq = segments(dir).last().map_or(0, |s| s + 1).max(first);
        Ok(WriteAheadLog {
            dir: dir.to_path_buf(),
            rolling,
            current: None,
            next_seq,
            buf: Vec::new(),
            direct: true,
            frames: Vec::new(),
        })
    }

    /// Appends `payload` and syncs it to disk: once this returns, a crash does not lose it.
    #[cfg(test)]
    pub(crate) fn append(&mut self, payload: &[u8]) -> Result<WalRef> {
        Ok(self.append_all(&[vec![payload]])?[0])
    }

    /// Appends `records` — each the concatenation of its pieces, gathered straight into the
    /// write — as consecutive records with one write and one sync (group commit: the blocks
    /// of one cut cost one sync together); once this returns, a crash loses none of them. On
    /// an error none counts as written.
    pub(crate) fn append_all(&mut self, records: &[Vec<&[u8]>]) -> Result<Vec<WalRef>> {
        let roll = self
            .current
            .as_ref()
            .is_none_or(|c| c.3.elapsed() >= self.rolling);
        if roll {
            let seq = self.next_seq;
            let path = segment_path(&self.dir, seq);
            let header = aligned(&mut self.buf, PAGE);
            header.fill(0);
            header[..SEGMENT_MAGIC.len()].copy_from_slice(SEGMENT_MAGIC);
            let file = self
                .write_page_aligned(&path, None, PAGE)
                .map_err(|e| spate_core::Error::io(&path, e))?;
            // The new segment's name must survive a crash too.
            if let Ok(d) = File::open(&self.dir) {
                let _ = d.sync_all();
            }
            self.next_seq += 1;
            self.current = Some((seq, file, PAGE as u64, Instant::now()));
        }
        let (seq, file, len, opened) = self.current.take().expect("a segment is open");
        let path = segment_path(&self.dir, seq);
        let lens: Vec<usize> = records
            .iter()
            .map(|pieces| pieces.iter().map(|p| p.len()).sum())
            .collect();
        let total: usize = lens.iter().map(|n| align_up(HEADER as usize + n)).sum();
        let window = aligned(&mut self.buf, total);
        let mut refs = Vec::with_capacity(records.len());
        let mut at = 0;
        for (pieces, &n) in records.iter().zip(&lens) {
            let size = align_up(HEADER as usize + n);
            let record = &mut window[at..at + size];
            // Each piece is checksummed right after it is copied, while it is in the cache.
            let mut crc = crc32fast::Hasher::new();
            let mut pos = HEADER as usize;
            for piece in pieces {
                let dst = &mut record[pos..pos + piece.len()];
                dst.copy_from_slice(piece);
                crc.update(dst);
                pos += piece.len();
            }
            record[..4].copy_from_slice(&(n as u32).to_le_bytes());
            record[4..8].copy_from_slice(&crc.finalize().to_le_bytes());
            record[pos..].fill(0);
            refs.push(WalRef {
                segment: seq,
                offset: len + at as u64,
                len: n as u32,
            });
            at += size;
        }
        match self.write_page_aligned(&path, Some(file), total) {
            Ok(file) => {
                self.current = Some((seq, file, len + total as u64, opened));
                Ok(refs)
            }
            // The segment may now end in a torn record: later records go to a new one, so
            // their offsets stay true (the scan of this one stops at the tear).
            Err(e) => Err(spate_core::Error::io(&path, e).into()),
        }
    }

    /// Writes the first `len` bytes of the aligned window of `buf` to `path` (to `file`, if
    /// open) and syncs them; returns the file. A direct write the file system refuses is
    /// written again through the page cache, and later ones go that way.
    fn write_page_aligned(
        &mut self,
        path: &Path,
        file: Option<File>,
        len: usize,
    ) -> std::io::Result<File> {
        let mut file = match file {
            Some(f) => f,
            None => open_append(path, self.direct)?.0,
        };
        let mut written = file.write_all(aligned(&mut self.buf, len));
        if self.direct && matches!(&written, Err(e) if e.raw_os_error() == Some(nix::libc::EINVAL))
        {
            self.direct = false;
            file = open_append(path, false)?.0;
            written = file.write_all(aligned(&mut self.buf, len));
        }
        written?;
        file.sync_data()?;
        Ok(file)
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
    let (_, padded) = first_record(&bytes);
    match parse(&bytes, start, padded) {
        Some((payload, _)) if payload.len() == at.len as usize => Ok(payload.to_vec()),
        _ => Err(spate_core::Error::Corrupt {
            path,
            reason: format!("no intact record at offset {}", at.offset),
        }
        .into()),
    }
}

/// The record at `pos` and the position of the next one (after its padding, in a padded
/// segment), if it is whole and intact. An empty record is never written: zeros end the scan.
fn parse(bytes: &[u8], pos: usize, padded: bool) -> Option<(&[u8], usize)> {
    let header = bytes.get(pos..pos + HEADER as usize)?;
    let len = u32::from_le_bytes(header[..4].try_into().ok()?) as usize;
    let crc = u32::from_le_bytes(header[4..].try_into().ok()?);
    if len == 0 {
        return None;
    }
    let start = pos + HEADER as usize;
    let payload = bytes.get(start..start.checked_add(len)?)?;
    let next = if padded {
        align_up(start + len)
    } else {
        start + len
    };
    (crc32fast::hash(payload) == crc).then_some((payload, next.min(bytes.len())))
}

/// Where a segment's records start, and whether they are padded (see the module's notes).
fn first_record(bytes: &[u8]) -> (usize, bool) {
    if bytes.starts_with(SEGMENT_MAGIC) {
        (PAGE, true)
    } else {
        (0, false)
    }
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
        let (mut pos, padded) = first_record(&bytes);
        while let Some((payload, next)) = parse(&bytes, pos, padded) {
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
        assert_eq!((b.segment, b.offset), (a.segment + 1, PAGE as u64));
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
        bytes[(c.offset + HEADER) as usize] ^= 1;
        std::fs::write(&path, bytes).unwrap();
        assert!(
            read(dir.path(), c)
                .unwrap_err()
                .to_string()
                .contains("no intact record")
        );
        assert_eq!(segment_paths_from(dir.path(), 1).len(), 2);
    }

    #[test]
    fn a_group_is_one_write_of_consecutive_records_gathered_from_pieces() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = WriteAheadLog::open(dir.path(), Duration::from_secs(60)).unwrap();
        let big = vec![5u8; PAGE + 1];
        let refs = log
            .append_all(&[
                vec![b"one"],
                vec![&big[..10], &big[10..]],
                vec![b"th", b"", b"ree"],
            ])
            .unwrap();
        let offsets: Vec<u64> = refs.iter().map(|r| r.offset).collect();
        let p = PAGE as u64;
        assert_eq!(offsets, [p, 2 * p, 4 * p]);
        assert_eq!(read(dir.path(), refs[1]).unwrap(), big);
        assert_eq!(read(dir.path(), refs[2]).unwrap(), b"three");
        let after = log.append(b"four").unwrap();
        assert_eq!(after.offset, 5 * p);
        let all: Vec<Vec<u8>> = records_after(dir.path(), Some(refs[0]))
            .into_iter()
            .map(|r| r.1)
            .collect();
        assert_eq!(all, [big, b"three".to_vec(), b"four".to_vec()]);
    }

    #[test]
    fn records_are_page_aligned_and_unpadded_segments_still_read() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = WriteAheadLog::open(dir.path(), Duration::from_secs(60)).unwrap();
        let big = vec![7u8; 3 * PAGE + 5];
        let a = log.append(b"x").unwrap();
        let b = log.append(&big).unwrap();
        let c = log.append(b"y").unwrap();
        assert_eq!(a.offset, PAGE as u64, "after the header page");
        assert_eq!(b.offset, 2 * PAGE as u64);
        assert_eq!(
            c.offset,
            6 * PAGE as u64,
            "8 + 3 pages + 5 bytes take 4 pages"
        );
        assert_eq!(read(dir.path(), b).unwrap(), big);
        let size = std::fs::metadata(segment_path(dir.path(), a.segment))
            .unwrap()
            .len();
        assert_eq!(size, 7 * PAGE as u64);
        // A segment of the earlier format (no header page, records back to back).
        let old = segment_path(dir.path(), 9);
        let mut bytes = Vec::new();
        for payload in [&b"old one"[..], b"old two"] {
            bytes.extend_from_slice(&(payload.len() as u32).to_le_bytes());
            bytes.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
            bytes.extend_from_slice(payload);
        }
        std::fs::write(&old, bytes).unwrap();
        let all: Vec<Vec<u8>> = records_after(dir.path(), Some(c))
            .into_iter()
            .map(|r| r.1)
            .collect();
        assert_eq!(all, [&b"old one"[..], b"old two"]);
    }
}
