//! The one serialization path: everything that leaves memory (spilled blocks, checkpoint files,
//! and later shuffle blocks and task results sent between processes) is a framed bincode payload.
//!
//! A frame is `magic | format version | type name | payload length | crc32 | payload`, so a
//! truncated, corrupt or mistyped file is reported as exactly that instead of as garbage data.
//!
//! The type name is the type's [`stable_name`]: `std::any::type_name` without module paths
//! (`Vec<(Text, u64)>`), so a checkpoint stays readable after a toolchain upgrade (whose paths
//! may differ: `alloc::vec::Vec` or `std::vec::Vec`) or a moved module. Format 1 frames carried
//! the full path; they are still read, by the same comparison.

use std::fs;
use std::io::Write;
use std::path::Path;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};

const MAGIC: &[u8; 6] = b"SPATE\0";
/// The frame format version this build writes (it also reads [`OLDEST_READABLE`] and later).
pub const FORMAT_VERSION: u16 = 2;

/// The oldest frame format this build reads: 1 named types by their full path.
pub const OLDEST_READABLE: u16 = 1;

/// How frames name a type: `std::any::type_name` with every path cut to its last segment
/// (`alloc::vec::Vec<(spate_core::text::Text, u64)>` → `Vec<(Text, u64)>`). Stable across
/// toolchains and moved modules; two types of the same name in different modules are told apart
/// only by their payload not decoding.
///
/// # Examples
///
/// ```
/// use spate_core::codec::stable_name;
/// assert_eq!(stable_name("alloc::vec::Vec<(spate_core::text::Text, u64)>"), "Vec<(Text, u64)>");
/// assert_eq!(stable_name("std::vec::Vec<(my_app::old::Event, u64)>"), "Vec<(Event, u64)>");
/// assert_eq!(stable_name("&[u8; 4]"), "&[u8; 4]");
/// ```
pub fn stable_name(type_name: &str) -> String {
    let mut out = String::with_capacity(type_name.len());
    let mut path = String::new();
    let flush = |path: &mut String, out: &mut String| {
        out.push_str(path.rsplit("::").next().unwrap_or_default());
        path.clear();
    };
    for c in type_name.chars() {
        if c.is_alphanumeric() || c == '_' || c == ':' {
            path.push(c);
        } else {
            flush(&mut path, &mut out);
            out.push(c);
        }
    }
    flush(&mut path, &mut out);
    out
}

/// Encodes `value` into a self-describing frame.
///
/// # Examples
///
/// ```
/// use spate_core::codec;
/// let bytes = codec::encode(&vec![1u32, 2, 3]).unwrap();
/// let back: Vec<u32> = codec::decode(&bytes, "example").unwrap();
/// assert_eq!(back, [1, 2, 3]);
/// ```
pub fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>> {
    encode_as::<T, T>(value)
}

/// Encodes `value` into `out` (cleared first), as [`encode`] would: a buffer reused for
/// frame after frame keeps its memory, where a new one for each large frame makes the kernel
/// hand out (and zero) fresh pages every time.
///
/// # Examples
///
/// ```
/// use spate_core::codec;
/// let mut buf = Vec::new();
/// codec::encode_into(&vec![1u32, 2], &mut buf).unwrap();
/// assert_eq!(buf, codec::encode(&vec![1u32, 2]).unwrap());
/// codec::encode_into(&vec![3u32], &mut buf).unwrap();
/// assert_eq!(codec::decode::<Vec<u32>>(&buf, "example").unwrap(), [3]);
/// ```
pub fn encode_into<T: Serialize + ?Sized>(value: &T, out: &mut Vec<u8>) -> Result<()> {
    encode_as_into::<T, T>(value, out)
}

/// Encodes `value` as a frame of type `As`, which must serialize to the same bytes (a
/// [`crate::TextLines`] as the `Vec<Text>` of its lines), so [`decode`] reads it back as an `As`.
pub(crate) fn encode_as<As: ?Sized, T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    encode_as_into::<As, T>(value, &mut out)?;
    Ok(out)
}

/// [`encode_as`] into `out`, cleared first.
fn encode_as_into<As: ?Sized, T: Serialize + ?Sized>(value: &T, out: &mut Vec<u8>) -> Result<()> {
    let type_name = stable_name(std::any::type_name::<As>());
    let codec_error = |source| Error::Codec {
        action: "encode",
        what: type_name.clone(),
        source,
    };
    // The payload is serialized straight into the frame (sized first), not copied into it: a
    // received block logged or spilled can be tens of megabytes.
    let size = bincode::serialized_size(value).map_err(codec_error)? as usize;
    let header = MAGIC.len() + 2 + 2 + type_name.len() + 8 + 4;
    out.clear();
    out.reserve(header + size);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&(type_name.len() as u16).to_le_bytes());
    out.extend_from_slice(type_name.as_bytes());
    out.extend_from_slice(&(size as u64).to_le_bytes());
    out.extend_from_slice(&[0; 4]); // the checksum, once the payload is written
    bincode::serialize_into(&mut *out, value).map_err(codec_error)?;
    let crc = crc32fast::hash(&out[header..]);
    out[header - 4..header].copy_from_slice(&crc.to_le_bytes());
    Ok(())
}

/// Decodes a frame written by [`encode`] for the same type; `origin` names the data's source
/// (a path) in errors.
///
/// # Examples
///
/// ```
/// use spate_core::{codec, Error};
/// let mut bytes = codec::encode(&"hello".to_string()).unwrap();
/// let n = bytes.len();
/// bytes[n - 1] ^= 0xff;
/// let err = codec::decode::<String>(&bytes, "x").unwrap_err();
/// assert!(err.to_string().contains("checksum"));
/// ```
pub fn decode<T: DeserializeOwned>(bytes: &[u8], origin: &str) -> Result<T> {
    let payload = &bytes[payload_of::<T>(bytes, origin)?];
    bincode::deserialize(payload).map_err(|e| Error::Corrupt {
        path: origin.into(),
        reason: format!("undecodable payload: {e}"),
    })
}

/// Checks a frame of `T` (magic, version, type, length, checksum) and returns where its
/// bincode payload is.
pub(crate) fn payload_of<T: ?Sized>(bytes: &[u8], origin: &str) -> Result<std::ops::Range<usize>> {
    let corrupt = |reason: String| Error::Corrupt {
        path: origin.into(),
        reason,
    };
    let mut r = Reader { bytes, pos: 0 };
    let magic = r
        .take(MAGIC.len())
        .ok_or_else(|| corrupt("empty or truncated header".into()))?;
    if magic != MAGIC {
        return Err(corrupt("not a spate data file (bad magic bytes)".into()));
    }
    let version = r.u16().ok_or_else(|| corrupt("truncated header".into()))?;
    if !(OLDEST_READABLE..=FORMAT_VERSION).contains(&version) {
        return Err(corrupt(format!(
            "written in format version {version}, this build reads versions \
             {OLDEST_READABLE} to {FORMAT_VERSION}"
        )));
    }
    let name_len = r.u16().ok_or_else(|| corrupt("truncated header".into()))? as usize;
    let name = r
        .take(name_len)
        .ok_or_else(|| corrupt("truncated header".into()))?;
    // Format 1 named the full path; both compare by the stable name.
    let expected = stable_name(std::any::type_name::<T>());
    let held = String::from_utf8_lossy(name);
    if stable_name(&held) != expected {
        return Err(corrupt(format!("holds {held} but was read as {expected}")));
    }
    let len = r.u64().ok_or_else(|| corrupt("truncated header".into()))? as usize;
    let crc = r.u32().ok_or_else(|| corrupt("truncated header".into()))?;
    let payload = &bytes[r.pos..];
    if payload.len() != len {
        return Err(corrupt(format!(
            "truncated: payload should be {len} bytes, found {}",
            payload.len()
        )));
    }
    if crc32fast::hash(payload) != crc {
        return Err(corrupt("checksum mismatch".into()));
    }
    Ok(r.pos..bytes.len())
}

/// Decodes a frame of `Vec<Text>` without a copy per text: every text longer than the inline
/// size is a slice of the frame itself (how an executor reads a received block of lines).
pub(crate) fn decode_texts(frame: Vec<u8>, origin: &str) -> Result<Vec<crate::Text>> {
    let range = payload_of::<Vec<crate::Text>>(&frame, origin)?;
    let corrupt = |reason: &str| Error::Corrupt {
        path: origin.into(),
        reason: reason.to_string(),
    };
    let buf = std::sync::Arc::new(frame);
    let mut r = Reader {
        bytes: &buf[..range.end],
        pos: range.start,
    };
    let n = r.u64().ok_or_else(|| corrupt("truncated length"))? as usize;
    let mut out = Vec::with_capacity(n.min(buf.len() / 8));
    for _ in 0..n {
        let len = r.u64().ok_or_else(|| corrupt("truncated text length"))? as usize;
        let start = r.pos;
        r.take(len).ok_or_else(|| corrupt("truncated text"))?;
        out.push(crate::Text::from_shared(&buf, start..start + len).0);
    }
    Ok(out)
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let s = self.bytes.get(self.pos..self.pos.checked_add(n)?)?;
        self.pos += n;
        Some(s)
    }
    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_le_bytes(self.take(2)?.try_into().ok()?))
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
}

/// Writes `value` to `path` atomically: a temp file in the same directory, fsync, then rename.
///
/// # Examples
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let p = dir.path().join("v");
/// spate_core::codec::write_file(&p, &42u64).unwrap();
/// assert_eq!(spate_core::codec::read_file::<u64>(&p).unwrap(), 42);
/// ```
pub fn write_file<T: Serialize + ?Sized>(path: &Path, value: &T) -> Result<()> {
    let bytes = encode(value)?;
    write_bytes_atomically(path, &bytes)
}

/// Writes `bytes` to `path` atomically (temp file, fsync, rename).
///
/// # Examples
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// spate_core::codec::write_bytes_atomically(&dir.path().join("f"), b"x").unwrap();
/// ```
pub fn write_bytes_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| Error::io(dir, e))?;
    tmp.write_all(bytes).map_err(|e| Error::io(path, e))?;
    tmp.as_file().sync_all().map_err(|e| Error::io(path, e))?;
    tmp.persist(path).map_err(|e| Error::io(path, e.error))?;
    Ok(())
}

/// Reads a value written by [`write_file`]; a missing file is [`Error::Corrupt`] naming it.
///
/// # Examples
///
/// ```
/// let err = spate_core::codec::read_file::<u64>(std::path::Path::new("/no/such/file")).unwrap_err();
/// assert!(err.to_string().contains("/no/such/file"));
/// ```
pub fn read_file<T: DeserializeOwned>(path: &Path) -> Result<T> {
    let bytes = fs::read(path).map_err(|e| Error::Corrupt {
        path: path.into(),
        reason: format!("cannot be read ({e})"),
    })?;
    decode(&bytes, &path.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A format 1 frame, as spate wrote it before frames named types stably: the full path of
    /// its type, in a module that has since moved.
    fn format_1_frame(type_path: &str, payload: &[u8]) -> Vec<u8> {
        let mut f = MAGIC.to_vec();
        f.extend_from_slice(&1u16.to_le_bytes());
        f.extend_from_slice(&(type_path.len() as u16).to_le_bytes());
        f.extend_from_slice(type_path.as_bytes());
        f.extend_from_slice(&(payload.len() as u64).to_le_bytes());
        f.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
        f.extend_from_slice(payload);
        f
    }

    #[test]
    fn frames_name_types_stably_and_old_frames_still_read() {
        let frame = encode(&vec![(7u32, 1u64)]).unwrap();
        // Written as format 2, with the stable name.
        assert_eq!(u16::from_le_bytes([frame[6], frame[7]]), FORMAT_VERSION);
        let name = "Vec<(u32, u64)>";
        assert_eq!(&frame[10..10 + name.len()], name.as_bytes());
        // Format 1, another toolchain's paths: read as the same type.
        let payload = bincode::serialize(&vec![(7u32, 1u64)]).unwrap();
        let old = format_1_frame("std::vec::Vec<(u32, u64)>", &payload);
        assert_eq!(decode::<Vec<(u32, u64)>>(&old, "old").unwrap(), [(7, 1)]);
        // A different type is still refused, named stably.
        let err = decode::<Vec<String>>(&old, "old").unwrap_err().to_string();
        assert!(
            err.contains("holds std::vec::Vec<(u32, u64)> but was read as Vec<String>"),
            "{err}"
        );
        // A version this build does not know.
        let mut future = frame.clone();
        future[6..8].copy_from_slice(&9u16.to_le_bytes());
        let err = decode::<Vec<(u32, u64)>>(&future, "f")
            .unwrap_err()
            .to_string();
        assert!(err.contains("format version 9"), "{err}");
    }

    #[test]
    fn texts_decode_as_slices_of_their_frame() {
        let texts: Vec<crate::Text> = ["", "short", "a line longer than fifteen bytes", "é✓"]
            .iter()
            .map(|s| crate::Text::from(*s))
            .collect();
        let frame = encode(&texts).unwrap();
        assert_eq!(decode_texts(frame.clone(), "t").unwrap(), texts);
        let shared = decode_texts(frame.clone(), "t").unwrap();
        assert!(shared[2].is_shared() && !shared[1].is_shared());
        let mut bad = frame.clone();
        let n = bad.len();
        bad[n - 1] ^= 1;
        assert!(decode_texts(bad, "t").is_err());
        assert!(decode_texts(encode(&vec![1u64]).unwrap(), "t").is_err());
    }

    #[test]
    fn every_kind_of_damage_is_named() {
        let good = encode(&vec![7u64; 100]).unwrap();
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (Vec::new(), "truncated header"),
            (b"garbage-garbage-garbage".to_vec(), "bad magic"),
            (good[..good.len() - 5].to_vec(), "truncated: payload"),
            (
                {
                    let mut g = good.clone();
                    g[6] = 9;
                    g
                },
                "format version 9",
            ),
        ];
        for (bytes, want) in cases {
            let err = decode::<Vec<u64>>(&bytes, "f").unwrap_err().to_string();
            assert!(err.contains(want), "{err} should mention {want}");
        }
        let err = decode::<Vec<u32>>(&good, "f").unwrap_err().to_string();
        assert!(err.contains("was read as"), "{err}");
    }
}
