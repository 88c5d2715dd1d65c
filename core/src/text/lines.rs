//! [`TextLines`]: received lines kept as the buffers they arrived in.
//!
//! A socket receiver reads megabytes of `\n`-terminated lines at a time. Storing each line as a
//! [`Text`] costs 16 bytes a line on top of its bytes — about a third more memory for a word
//! count's lines, held for a whole batch. A `TextLines` keeps only the received buffers (checked
//! once: valid UTF-8, lines within a length limit) and their line counts; a task cuts the lines
//! out as it reads them, each a [`Text`] slice of its buffer.

use std::ops::Range;
use std::sync::Arc;

use serde::ser::SerializeSeq;
use serde::{Serialize, Serializer};

use super::Text;
use crate::error::{Error, Result};

/// One received buffer's complete lines: a text ending with `\n`, and how many lines it holds.
#[derive(Clone, Debug)]
struct Chunk {
    text: Text,
    lines: usize,
}

/// Newline-terminated UTF-8 lines held in the shared buffers they were received in; iterating
/// yields one [`Text`] per line (without its `\n` or `\r\n`), sharing the buffer.
///
/// A receiver hands these to `ReceiverHandle::store_lines` (in `spate-streaming`) instead of a
/// `Vec<Text>`: the block then costs the received bytes and nothing per line. It serializes
/// exactly like the `Vec<Text>` of its lines.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use spate_core::{Text, TextLines};
/// let buf = Arc::new(b"to be\r\nor not\n".to_vec());
/// let mut lines = TextLines::new();
/// assert_eq!(lines.push(&buf, 0..buf.len(), 1024).unwrap(), 2);
/// let v: Vec<Text> = lines.into_iter().collect();
/// assert_eq!(v, [Text::from("to be"), Text::from("or not")]);
/// ```
#[derive(Clone, Debug, Default)]
pub struct TextLines {
    chunks: Vec<Chunk>,
    lines: usize,
}

impl TextLines {
    /// No lines.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(spate_core::TextLines::new().is_empty());
    /// ```
    pub fn new() -> TextLines {
        TextLines::default()
    }

    /// Appends the lines of `buf[range]`, sharing `buf`, and returns how many there are.
    ///
    /// `buf[range]` must be valid UTF-8, end with `\n`, and hold no line longer than
    /// `max_line_bytes` (not counting its `\n` or `\r\n`). Otherwise nothing is appended and
    /// the error says which rule was broken and where; such input goes through
    /// [`TextLines::push_lossy`] instead.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// let mut lines = spate_core::TextLines::new();
    /// let buf = Arc::new(b"a b\nc\nlast, unfinished".to_vec());
    /// assert_eq!(lines.push(&buf, 0..6, 100).unwrap(), 2);
    /// assert!(lines.push(&buf, 0..buf.len(), 100).is_err(), "no final newline");
    /// assert!(lines.push(&buf, 0..6, 2).is_err(), "a line of 3 bytes is over the limit");
    /// assert_eq!(lines.len(), 2);
    /// ```
    ///
    /// # Panics
    ///
    /// Panics if `range` is out of bounds, like slice indexing.
    pub fn push(
        &mut self,
        buf: &Arc<Vec<u8>>,
        range: Range<usize>,
        max_line_bytes: usize,
    ) -> Result<usize> {
        let bytes = &buf[range.clone()];
        if bytes.is_empty() {
            return Ok(0);
        }
        if bytes.last() != Some(&b'\n') {
            return Err(Error::InvalidArgument(
                "received text must end with a newline: keep the unfinished last line for the next read".into(),
            ));
        }
        let mut lines = 0;
        for line in line_ranges(bytes, 0) {
            if line.len() > max_line_bytes {
                return Err(Error::InvalidArgument(format!(
                    "line {} of the text is {} bytes, over the limit of {max_line_bytes}: push it with `push_lossy`, which skips such lines",
                    lines + 1,
                    line.len()
                )));
            }
            lines += 1;
        }
        let (text, replaced) = Text::from_shared(buf, range);
        if replaced {
            let at = std::str::from_utf8(bytes)
                .err()
                .map_or(0, |e| e.valid_up_to());
            return Err(Error::InvalidArgument(format!(
                "received text is not valid UTF-8 (at byte {at}): push it with `push_lossy`, which replaces bad bytes"
            )));
        }
        self.add_chunk(Chunk { text, lines });
        Ok(lines)
    }

    /// Appends the lines of `bytes` one by one, in a buffer of their own: invalid UTF-8 is
    /// replaced (U+FFFD) and lines longer than `max_line_bytes` (not counting `\n` or `\r\n`)
    /// are skipped; bytes after the last `\n` are a line too. For input that
    /// [`TextLines::push`] refuses; the counts say what was done.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut lines = spate_core::TextLines::new();
    /// let done = lines.push_lossy(b"ok\r\nbad \xff\nfar too long\nend", 8);
    /// assert_eq!((done.lines, done.replaced, done.skipped), (3, 1, 1));
    /// let v: Vec<String> = lines.into_iter().map(String::from).collect();
    /// assert_eq!(v, ["ok", "bad \u{fffd}", "end"]);
    /// ```
    pub fn push_lossy(&mut self, bytes: &[u8], max_line_bytes: usize) -> LossyPush {
        let mut done = LossyPush::default();
        let mut good = Vec::with_capacity(bytes.len() + 1);
        let complete = memchr::memrchr(b'\n', bytes).map_or(0, |nl| nl + 1);
        let unfinished = (complete < bytes.len()).then_some(complete..bytes.len());
        for line in line_ranges(&bytes[..complete], 0).chain(unfinished) {
            if line.len() > max_line_bytes {
                done.skipped += 1;
                continue;
            }
            let line = String::from_utf8_lossy(&bytes[line]);
            done.replaced += usize::from(matches!(line, std::borrow::Cow::Owned(_)));
            done.lines += 1;
            good.extend_from_slice(line.as_bytes());
            good.push(b'\n');
        }
        let good = Arc::new(good);
        // Valid UTF-8 by construction, so nothing is replaced here.
        let (text, _) = Text::from_shared(&good, 0..good.len());
        self.add_chunk(Chunk {
            text,
            lines: done.lines,
        });
        done
    }

    /// Appends all of `other`'s lines after these.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// let buf = Arc::new(b"x\ny\n".to_vec());
    /// let (mut a, mut b) = (spate_core::TextLines::new(), spate_core::TextLines::new());
    /// a.push(&buf, 0..2, 10).unwrap();
    /// b.push(&buf, 2..4, 10).unwrap();
    /// a.append(b);
    /// assert_eq!(a.into_iter().map(|t| t.to_string()).collect::<Vec<_>>(), ["x", "y"]);
    /// ```
    pub fn append(&mut self, mut other: TextLines) {
        if self.chunks.is_empty() {
            *self = other;
            return;
        }
        self.lines += other.lines;
        self.chunks.append(&mut other.chunks);
    }

    /// The number of lines.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(spate_core::TextLines::new().len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        self.lines
    }

    /// Whether there are no lines.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(spate_core::TextLines::default().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.lines == 0
    }

    /// The bytes the lines take, terminators included (what the lines keep alive, apart from
    /// the unused rest of the buffers they share).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// let buf = Arc::new(b"ab\r\n".to_vec());
    /// let mut lines = spate_core::TextLines::new();
    /// lines.push(&buf, 0..4, 10).unwrap();
    /// assert_eq!(lines.byte_len(), 4);
    /// ```
    pub fn byte_len(&self) -> usize {
        self.chunks.iter().map(|c| c.text.len()).sum()
    }

    /// Cuts these lines into up to `parts` runs of about equal line counts, in order (fewer
    /// when there are fewer lines; none when there are none).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// let buf = Arc::new(b"1\n2\n3\n4\n5\n".to_vec());
    /// let mut lines = spate_core::TextLines::new();
    /// lines.push(&buf, 0..buf.len(), 10).unwrap();
    /// let parts = lines.split_into(2);
    /// assert_eq!(parts.iter().map(|p| p.len()).collect::<Vec<_>>(), [2, 3]);
    /// ```
    pub fn split_into(self, parts: usize) -> Vec<TextLines> {
        let n = self.lines;
        let parts = parts.clamp(1, n.max(1));
        if parts == 1 {
            return if n == 0 { Vec::new() } else { vec![self] };
        }
        let mut out = Vec::with_capacity(parts);
        let mut part = TextLines::new();
        // Line index at which part `out.len()` ends: the same cut points as `Vec::split_off`
        // at `i * n / parts`.
        let end_of = |i: usize| (i + 1) * n / parts;
        let mut taken = 0;
        for chunk in self.chunks {
            let mut chunk = Some(chunk);
            while let Some(c) = chunk.take() {
                let want = end_of(out.len()) - taken;
                if c.lines <= want {
                    taken += c.lines;
                    part.add_chunk(c);
                } else {
                    let (head, tail) = c.cut_after(want);
                    taken += head.lines;
                    part.add_chunk(head);
                    chunk = Some(tail);
                }
                if taken == end_of(out.len()) && out.len() + 1 < parts {
                    out.push(std::mem::take(&mut part));
                }
            }
        }
        out.push(part);
        out
    }

    /// The lines' bytes as received (each line ended by its `\n` or `\r\n`), in pieces: the
    /// buffers they are kept in. [`TextLines::push`] of their concatenation gives the same
    /// lines back — how a write-ahead log keeps them without encoding line by line.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use spate_core::TextLines;
    /// let (a, b) = (Arc::new(b"one\r\ntwo\n".to_vec()), Arc::new(b"three\n".to_vec()));
    /// let mut lines = TextLines::new();
    /// lines.push(&a, 0..a.len(), 100).unwrap();
    /// lines.push(&b, 0..b.len(), 100).unwrap();
    /// let raw: Vec<u8> = lines.chunk_bytes().flatten().copied().collect();
    /// assert_eq!(raw, b"one\r\ntwo\nthree\n");
    /// let mut back = TextLines::new();
    /// let n = raw.len();
    /// assert_eq!(back.push(&Arc::new(raw), 0..n, usize::MAX).unwrap(), 3);
    /// ```
    pub fn chunk_bytes(&self) -> impl Iterator<Item = &[u8]> + '_ {
        self.chunks.iter().map(|c| c.text.as_bytes())
    }

    /// The lines' bytes, each line ended by its newline, as received: what a driver sends an
    /// executor (one copy; the executor pushes them back into a `TextLines`).
    pub(crate) fn raw_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.byte_len());
        for bytes in self.chunk_bytes() {
            out.extend_from_slice(bytes);
        }
        out
    }

    /// The lines as a [`codec`](crate::codec) frame of a `Vec<Text>`: what
    /// [`codec::decode`](crate::codec::decode) reads back as the `Vec<Text>` of these lines (for
    /// a write-ahead log or a spill to disk).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use spate_core::{Text, TextLines, codec};
    /// let buf = Arc::new(b"a\nb\n".to_vec());
    /// let mut lines = TextLines::new();
    /// lines.push(&buf, 0..4, 10).unwrap();
    /// let back: Vec<Text> = codec::decode(&lines.encode().unwrap(), "example").unwrap();
    /// assert_eq!(back, [Text::from("a"), Text::from("b")]);
    /// ```
    pub fn encode(&self) -> Result<Vec<u8>> {
        crate::codec::encode_as::<Vec<Text>, _>(self)
    }

    fn add_chunk(&mut self, chunk: Chunk) {
        if chunk.lines == 0 {
            return;
        }
        self.lines += chunk.lines;
        self.chunks.push(chunk);
    }
}

impl Chunk {
    /// Splits after the `k`-th line (0 < k < lines).
    fn cut_after(self, k: usize) -> (Chunk, Chunk) {
        let bytes = self.text.as_bytes();
        let nl = memchr::memchr_iter(b'\n', bytes)
            .nth(k - 1)
            .expect("a chunk holds `lines` newlines");
        let head = Chunk {
            text: self.text.slice(0..nl + 1),
            lines: k,
        };
        let tail = Chunk {
            text: self.text.slice(nl + 1..bytes.len()),
            lines: self.lines - k,
        };
        (head, tail)
    }
}

/// What [`TextLines::push_lossy`] did.
///
/// # Examples
///
/// ```
/// let done = spate_core::TextLines::new().push_lossy(b"a\n", 10);
/// assert_eq!(done, spate_core::LossyPush { lines: 1, ..Default::default() });
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LossyPush {
    /// Lines appended.
    pub lines: usize,
    /// Of those, lines that had invalid UTF-8 replaced.
    pub replaced: usize,
    /// Lines skipped as longer than the limit.
    pub skipped: usize,
}

/// Where the line from `start` to the newline at `nl` ends, without a `\r` before the `\n`.
#[inline]
fn line_end(bytes: &[u8], start: usize, nl: usize) -> usize {
    if nl > start && bytes[nl - 1] == b'\r' {
        nl - 1
    } else {
        nl
    }
}

/// The byte ranges of the complete lines of `bytes[from..]` (without their `\n` or `\r\n`),
/// in order; bytes after the last `\n` are not among them.
#[inline]
fn line_ranges(bytes: &[u8], from: usize) -> impl Iterator<Item = Range<usize>> + '_ {
    let mut start = from;
    memchr::memchr_iter(b'\n', &bytes[from..]).map(move |i| {
        let (line_start, nl) = (start, from + i);
        start = nl + 1;
        line_start..line_end(bytes, line_start, nl)
    })
}

impl IntoIterator for TextLines {
    type Item = Text;
    type IntoIter = TextLinesIter;

    fn into_iter(self) -> TextLinesIter {
        TextLinesIter {
            left: self.lines,
            chunks: self.chunks.into_iter(),
            current: None,
            pos: 0,
        }
    }
}

/// The lines of a [`TextLines`], each a [`Text`] sharing its buffer (or inline when short).
///
/// Consuming it whole (`for_each`, `fold`, …) runs one loop per buffer.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// let buf = Arc::new(b"one\ntwo\n".to_vec());
/// let mut lines = spate_core::TextLines::new();
/// lines.push(&buf, 0..buf.len(), 80).unwrap();
/// let mut it = lines.into_iter();
/// assert_eq!(it.next().as_deref(), Some("one"));
/// assert_eq!(it.len(), 1);
/// ```
pub struct TextLinesIter {
    chunks: std::vec::IntoIter<Chunk>,
    /// The chunk being read, and the offset of its next line.
    current: Option<Text>,
    pos: usize,
    left: usize,
}

impl Iterator for TextLinesIter {
    type Item = Text;

    #[inline]
    fn next(&mut self) -> Option<Text> {
        loop {
            if let Some(text) = &self.current {
                let bytes = text.as_bytes();
                if let Some(i) = memchr::memchr(b'\n', &bytes[self.pos..]) {
                    let (start, nl) = (self.pos, self.pos + i);
                    self.pos = nl + 1;
                    self.left -= 1;
                    return Some(text.slice(start..line_end(bytes, start, nl)));
                }
            }
            self.current = Some(self.chunks.next()?.text);
            self.pos = 0;
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }

    fn fold<B, F: FnMut(B, Text) -> B>(self, init: B, mut f: F) -> B {
        let mut acc = init;
        let rest = self.current.map(|t| (t, self.pos));
        for (text, from) in rest.into_iter().chain(self.chunks.map(|c| (c.text, 0))) {
            for line in line_ranges(text.as_bytes(), from) {
                acc = f(acc, text.slice(line));
            }
        }
        acc
    }
}

impl ExactSizeIterator for TextLinesIter {}

impl Serialize for TextLines {
    /// As the sequence of its lines — the same bytes as the `Vec<Text>` of them.
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.lines))?;
        for chunk in &self.chunks {
            let text = chunk.text.as_str();
            for line in line_ranges(text.as_bytes(), 0) {
                seq.serialize_element(&text[line])?;
            }
        }
        seq.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn lines_of(parts: &[&str]) -> TextLines {
        let mut lines = TextLines::new();
        for p in parts {
            let buf = Arc::new(p.as_bytes().to_vec());
            lines.push(&buf, 0..buf.len(), 1 << 20).unwrap();
        }
        lines
    }

    fn strings(it: impl IntoIterator<Item = Text>) -> Vec<String> {
        it.into_iter().map(String::from).collect()
    }

    #[test]
    fn raw_bytes_push_back_into_the_same_lines() {
        let lines = lines_of(&["one\ntwo is longer than fifteen\r\n", "\nthree\n"]);
        let raw = Arc::new(lines.raw_bytes());
        let mut back = TextLines::new();
        assert_eq!(back.push(&raw, 0..raw.len(), usize::MAX).unwrap(), 4);
        assert_eq!(strings(back), strings(lines));
    }

    #[test]
    fn long_lines_share_the_buffer_and_crlf_is_stripped() {
        let buf = Arc::new(b"a line long enough to be shared\r\nshort\n\n".to_vec());
        let mut lines = TextLines::new();
        assert_eq!(lines.push(&buf, 0..buf.len(), 100).unwrap(), 3);
        let v: Vec<Text> = lines.into_iter().collect();
        assert_eq!(
            strings(v.clone()),
            ["a line long enough to be shared", "short", ""]
        );
        assert!(v[0].is_shared());
        assert_eq!(
            v[0].as_ptr(),
            buf.as_ptr(),
            "a slice of the received buffer"
        );
    }

    #[test]
    fn bad_input_is_refused_whole_with_what_to_do() {
        let mut lines = TextLines::new();
        let bad = Arc::new(b"ok\nnot \xff utf8\n".to_vec());
        let e = lines.push(&bad, 0..bad.len(), 100).unwrap_err().to_string();
        assert!(e.contains("UTF-8 (at byte 7)"), "{e}");
        let long = Arc::new(b"ok\nfar too long\r\n".to_vec());
        let e = lines
            .push(&long, 0..long.len(), 11)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("line 2 of the text is 12 bytes, over the limit of 11"),
            "{e}"
        );
        assert_eq!(
            lines.push(&long, 0..long.len(), 12).unwrap(),
            2,
            "\\r not counted"
        );
        let unfinished = Arc::new(b"no newline".to_vec());
        assert!(lines.push(&unfinished, 0..10, 100).is_err());
        assert_eq!((lines.len(), lines.byte_len()), (2, long.len()));
    }

    #[test]
    fn lossy_pushes_count_what_they_replace_and_skip() {
        let mut lines = TextLines::new();
        assert_eq!(lines.push_lossy(b"", 10), LossyPush::default());
        let done = lines.push_lossy(b"much too long\r\n", 10);
        assert_eq!((done.lines, done.skipped), (0, 1));
        assert!(lines.is_empty() && lines.chunks.is_empty());
        let done = lines.push_lossy(b"\xffa\r\n\nlast", 10);
        assert_eq!((done.lines, done.replaced, done.skipped), (3, 1, 0));
        assert_eq!(strings(lines), ["\u{fffd}a", "", "last"]);
    }

    #[test]
    fn serializes_like_the_vec_of_its_lines() {
        let lines = lines_of(&["x\r\ny\n", "a longer line than fifteen bytes\n"]);
        let as_vec: Vec<Text> = lines.clone().into_iter().collect();
        assert_eq!(
            lines.encode().unwrap(),
            crate::codec::encode(&as_vec).unwrap()
        );
    }

    proptest! {
        #[test]
        fn next_fold_and_split_agree_with_str_lines(
            bufs in prop::collection::vec(prop::collection::vec("[a-z ]{0,20}", 1..6), 0..5),
            parts in 1usize..6,
            skip in 0usize..4,
        ) {
            let texts: Vec<String> = bufs.iter().map(|b| b.iter().map(|l| format!("{l}\n")).collect()).collect();
            let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
            let expected: Vec<String> = texts.iter().flat_map(|t| t.lines().map(String::from)).collect();
            let lines = lines_of(&refs);
            prop_assert_eq!(lines.len(), expected.len());
            prop_assert_eq!(strings(lines.clone()), expected.clone());
            // `fold` after some `next`s picks up where they stopped.
            let mut it = lines.clone().into_iter();
            let mut got: Vec<String> = it.by_ref().take(skip).map(String::from).collect();
            prop_assert_eq!(it.len(), expected.len() - got.len());
            got.extend(it.fold(Vec::new(), |mut v, t| { v.push(String::from(t)); v }));
            prop_assert_eq!(&got, &expected);
            // Parts: in order, none empty, as even as `Vec::split_off` would cut them.
            let split = lines.split_into(parts);
            let sizes: Vec<usize> = split.iter().map(TextLines::len).collect();
            let n = expected.len();
            let want: Vec<usize> = (0..parts.min(n.max(1)))
                .map(|i| (i + 1) * n / parts.min(n.max(1)) - i * n / parts.min(n.max(1)))
                .filter(|&s| s > 0)
                .collect();
            prop_assert_eq!(sizes, want);
            prop_assert_eq!(strings(split.into_iter().flatten()), expected);
        }
    }
}
