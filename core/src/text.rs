//! [`Text`]: a cheap-to-clone, serializable UTF-8 string for received and read lines.
//!
//! A line read from a socket or a file is a slice of a large shared buffer. Splitting it into
//! words must not allocate per word, so [`Text::split`] yields `Text`s that are either a slice of
//! the same buffer (long pieces: one reference-count increment) or an inline copy (pieces of up to
//! [`Text::INLINE_CAPACITY`] bytes: no allocation and no shared state at all). Inline pieces also
//! mean a short key kept in state does not pin a multi-megabyte receive buffer.
//!
//! A `Text` is 16 bytes, and so is an `Option<Text>`: an iterator hands words over in two
//! registers rather than through memory, and a hash table of `(Text, u64)` has 24-byte buckets —
//! a word count's time is mostly the split and the table probe, and both got faster with the size
//! (see the README's figures). That layout needs `unsafe`, kept to this module: a union of inline
//! bytes and a buffer pointer, told apart by the last byte, with a UTF-8 invariant established
//! on construction.

#![allow(unsafe_code)]

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::mem::ManuallyDrop;
use std::ops::Deref;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

mod lines;
pub use lines::{LossyPush, TextLines, TextLinesIter};

/// A cheap-to-clone UTF-8 string: inline when short, else a slice of a shared buffer.
///
/// Derefs to `&str`; compares, orders and serializes exactly like the `str` it holds. It hashes
/// its own way (faster for short texts), so a map keyed by `Text` is looked up with a `Text`:
/// `map.get(&Text::from("word"))`.
///
/// # Examples
///
/// ```
/// use spate_core::Text;
/// let line = Text::from("to be or not to be");
/// let words: Vec<Text> = line.split(' ').collect();
/// assert_eq!(words.len(), 6);
/// assert_eq!(&*words[1], "be");
/// assert_eq!(words[0].to_string(), "to");
/// assert_eq!(std::mem::size_of::<Option<Text>>(), 16);
/// ```
//
// Layout (16 bytes, little-endian byte order whatever the platform):
// - inline: bytes 0..15 hold up to 15 bytes of UTF-8, zero-padded; byte 15 (`tag`) the length.
// - shared: `head` is an `Arc<Vec<u8>>` from `Arc::into_raw` (one strong count owned by this
//   text); `tail` holds the piece's start (u32) and length (u24, or `LEN_TO_END`); `tag` is
//   `Tag::Shared`.
// Invariant: a text of at most `INLINE_CAPACITY` bytes is always inline, so equal texts have
// the same representation. The tag's unused values give `Option<Text>` its niche.
#[repr(C, align(8))]
pub struct Text {
    head: Head,
    tail: [u8; 7],
    tag: Tag,
}

#[derive(Clone, Copy)]
#[repr(C)]
union Head {
    bytes: [u8; 8],
    buf: *const Vec<u8>,
}

// The length variants are made by `Text::from_words`'s transmute, never by name.
#[allow(dead_code)]
#[derive(Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Tag {
    L0 = 0,
    L1,
    L2,
    L3,
    L4,
    L5,
    L6,
    L7,
    L8,
    L9,
    L10,
    L11,
    L12,
    L13,
    L14,
    L15,
    Shared = 0xFF,
}

/// A shared piece's length field meaning "to the end of the buffer" (pieces of 16 MiB or more).
const LEN_TO_END: usize = 0xFF_FFFF;

// SAFETY: a shared text owns a strong count of an `Arc<Vec<u8>>`, which is Send and Sync; the
// bytes are never mutated while shared.
unsafe impl Send for Text {}
// SAFETY: as above.
unsafe impl Sync for Text {}

/// The little-endian value of the first (up to) 8 bytes of `s`, zero-extended: one 8-byte load,
/// or 4/2/1-byte loads for a shorter slice.
#[inline]
fn load_le(s: &[u8]) -> u64 {
    if s.len() >= 8 {
        return u64::from_le_bytes(s[..8].try_into().unwrap_or_default());
    }
    let (mut v, mut off) = (0u64, 0);
    if s.len() - off >= 4 {
        v |= u64::from(u32::from_le_bytes(
            s[off..off + 4].try_into().unwrap_or_default(),
        ));
        off += 4;
    }
    if s.len() - off >= 2 {
        v |= u64::from(u16::from_le_bytes(
            s[off..off + 2].try_into().unwrap_or_default(),
        )) << (off * 8);
        off += 2;
    }
    if s.len() - off >= 1 {
        v |= u64::from(s[off]) << (off * 8);
    }
    v
}

impl Text {
    /// Strings up to this many bytes are stored inline, without touching any shared buffer.
    pub const INLINE_CAPACITY: usize = 15;

    /// The empty text.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(spate_core::Text::new().is_empty());
    /// ```
    pub const fn new() -> Text {
        Text {
            head: Head { bytes: [0; 8] },
            tail: [0; 7],
            tag: Tag::L0,
        }
    }

    /// A text for `buf[range]`, sharing `buf` when the piece is long.
    ///
    /// Invalid UTF-8 is replaced lossily (U+FFFD); the second value tells whether that happened.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// let buf = Arc::new(b"hello\xffworld".to_vec());
    /// let (t, replaced) = spate_core::Text::from_shared(&buf, 0..buf.len());
    /// assert!(replaced);
    /// assert_eq!(&*t, "hello\u{fffd}world");
    /// ```
    ///
    /// # Panics
    ///
    /// Panics if `range` is out of bounds, like slice indexing.
    pub fn from_shared(buf: &Arc<Vec<u8>>, range: std::ops::Range<usize>) -> (Text, bool) {
        match std::str::from_utf8(&buf[range.clone()]) {
            // SAFETY: `buf[range]` is valid UTF-8 (just checked).
            Ok(_) => (
                unsafe { Text::piece_of(buf, range.start, range.end) },
                false,
            ),
            Err(_) => (
                Text::from(String::from_utf8_lossy(&buf[range]).as_ref()),
                true,
            ),
        }
    }

    /// An inline text from the little-endian words of its (at most 15, zero-padded) bytes.
    ///
    /// # Safety
    ///
    /// `lo` and `hi` must hold `len <= 15` bytes of valid UTF-8 followed by zeros.
    #[inline]
    unsafe fn from_words(lo: u64, hi: u64, len: usize) -> Text {
        debug_assert!(len <= Self::INLINE_CAPACITY && hi >> 56 == 0);
        let words = [lo.to_le(), (hi | (len as u64) << 56).to_le()];
        // SAFETY: `Text` is 16 plain bytes with no padding; byte 15 is `len`, a valid `Tag`,
        // and the bytes are UTF-8 by the caller's promise.
        unsafe { std::mem::transmute::<[u64; 2], Text>(words) }
    }

    /// An inline copy of `s`, which must be at most 15 bytes.
    #[inline]
    fn inline(s: &str) -> Text {
        let b = s.as_bytes();
        let (lo, hi) = if b.len() > 8 {
            (load_le(&b[..8]), load_le(&b[8..]))
        } else {
            (load_le(b), 0)
        };
        // SAFETY: `s` is UTF-8 of at most 15 bytes (the callers' condition, checked in debug).
        unsafe { Text::from_words(lo, hi, b.len()) }
    }

    /// `buf[start..end]`: inline when short, else sharing `buf`.
    ///
    /// # Safety
    ///
    /// `buf[start..end]` must be in bounds and valid UTF-8.
    #[inline]
    unsafe fn piece_of(buf: &Arc<Vec<u8>>, start: usize, end: usize) -> Text {
        let len = end - start;
        if len <= Self::INLINE_CAPACITY {
            // SAFETY: in bounds and UTF-8 by the caller's promise.
            return Text::inline(unsafe { std::str::from_utf8_unchecked(&buf[start..end]) });
        }
        let fits = u32::try_from(start).is_ok() && (len < LEN_TO_END || end == buf.len());
        if !fits {
            // A piece past 4 GiB, or of 16 MiB or more in the middle of its buffer: a copy of
            // its own, which runs to the end of its buffer.
            let own = Arc::new(buf[start..end].to_vec());
            // SAFETY: the same bytes as the caller's piece.
            return unsafe { Text::piece_of(&own, 0, len) };
        }
        let field = if len < LEN_TO_END { len } else { LEN_TO_END };
        let (s, l) = ((start as u32).to_le_bytes(), (field as u32).to_le_bytes());
        Text {
            head: Head {
                buf: Arc::into_raw(Arc::clone(buf)),
            },
            tail: [s[0], s[1], s[2], s[3], l[0], l[1], l[2]],
            tag: Tag::Shared,
        }
    }

    #[inline]
    fn is_inline(&self) -> bool {
        self.tag != Tag::Shared
    }

    /// The two words of an inline text (its bytes, zero-padded, and its length on top).
    #[inline]
    fn inline_words(&self) -> [u64; 2] {
        debug_assert!(self.is_inline());
        // SAFETY: an inline text is 16 initialized bytes (no pointer is read as an integer).
        let w = unsafe { std::mem::transmute_copy::<Text, [u64; 2]>(self) };
        [u64::from_le(w[0]), u64::from_le(w[1])]
    }

    /// The shared buffer, the piece's start in it and its length.
    #[inline]
    fn shared_parts(&self) -> (&Vec<u8>, usize, usize) {
        debug_assert!(!self.is_inline());
        let t = self.tail;
        let start = u32::from_le_bytes([t[0], t[1], t[2], t[3]]) as usize;
        let field = u32::from_le_bytes([t[4], t[5], t[6], 0]) as usize;
        // SAFETY: a shared text's head is a pointer from `Arc::into_raw` whose strong count it
        // owns, so the buffer lives at least as long as `self`.
        let buf = unsafe { &*self.head.buf };
        let len = if field == LEN_TO_END {
            buf.len() - start
        } else {
            field
        };
        (buf, start, len)
    }

    /// The text as a `&str`.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(spate_core::Text::from("x").as_str(), "x");
    /// ```
    #[inline]
    pub fn as_str(&self) -> &str {
        let bytes = if self.is_inline() {
            // SAFETY: an inline text's first `tag` bytes are its content.
            unsafe {
                std::slice::from_raw_parts(std::ptr::from_ref(self).cast::<u8>(), self.tag as usize)
            }
        } else {
            let (buf, start, len) = self.shared_parts();
            &buf[start..start + len]
        };
        // SAFETY: every constructor stores only bytes that were a `&str` or passed
        // `std::str::from_utf8`, and pieces are cut only at char boundaries of such a `&str`
        // (checked by `str` indexing, or at ASCII separators). Re-validating here would make
        // `split` quadratic.
        unsafe { std::str::from_utf8_unchecked(bytes) }
    }

    /// The sub-text at byte range `range` (which must fall on char boundaries), sharing the
    /// buffer when long.
    ///
    /// # Examples
    ///
    /// ```
    /// let t = spate_core::Text::from("hello world");
    /// assert_eq!(&*t.slice(6..11), "world");
    /// ```
    ///
    /// # Panics
    ///
    /// Panics if the range is out of bounds or not on char boundaries, like `&str` indexing.
    #[inline]
    pub fn slice(&self, range: std::ops::Range<usize>) -> Text {
        // `str` indexing checks the bounds and char boundaries (and panics as documented).
        let _ = &self.as_str()[range.clone()];
        // SAFETY: just checked.
        unsafe { self.piece(range.start, range.end) }
    }

    /// The piece `start..end` of this text: inline when short, else a slice of the same
    /// shared buffer.
    ///
    /// # Safety
    ///
    /// `start..end` must be in bounds and fall on char boundaries.
    #[inline]
    unsafe fn piece(&self, start: usize, end: usize) -> Text {
        if self.is_inline() {
            // An inline text is at most 15 bytes, and so is any piece of it.
            return Text::inline(unsafe { self.as_str().get_unchecked(start..end) });
        }
        let (_, base, _) = self.shared_parts();
        // SAFETY: the head came from `Arc::into_raw`; `ManuallyDrop` leaves this text's count
        // alone (`piece_of` takes a count of its own if it shares).
        let buf = ManuallyDrop::new(unsafe { Arc::from_raw(self.head.buf) });
        // SAFETY: within this text's piece of `buf`, on char boundaries (caller's promise).
        unsafe { Text::piece_of(&buf, base + start, base + end) }
    }

    #[inline]
    fn inline_or_owned(s: &str) -> Text {
        if s.len() <= Self::INLINE_CAPACITY {
            Text::inline(s)
        } else {
            let own = Arc::new(s.as_bytes().to_vec());
            // SAFETY: the bytes of a `&str`.
            unsafe { Text::piece_of(&own, 0, s.len()) }
        }
    }

    /// Splits on `sep` like [`str::split`] (empty pieces included), yielding `Text`s that share
    /// this text's buffer or are inline. Takes `self` by value so the iterator owns what it splits.
    ///
    /// # Examples
    ///
    /// ```
    /// let t = spate_core::Text::from("a  b");
    /// let v: Vec<String> = t.split(' ').map(|w| w.to_string()).collect();
    /// assert_eq!(v, ["a", "", "b"]);
    /// ```
    pub fn split(self, sep: char) -> Split {
        Split {
            text: self,
            pos: 0,
            sep,
            done: false,
        }
    }

    /// Splits on runs of ASCII or Unicode whitespace like [`str::split_whitespace`].
    ///
    /// # Examples
    ///
    /// ```
    /// let t = spate_core::Text::from("  a \t b\n");
    /// assert_eq!(t.split_whitespace().count(), 2);
    /// ```
    pub fn split_whitespace(self) -> SplitWhitespace {
        SplitWhitespace { text: self, pos: 0 }
    }

    /// Whether this text is a slice of a shared buffer (rather than inline).
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(!spate_core::Text::from("short").is_shared());
    /// ```
    pub fn is_shared(&self) -> bool {
        !self.is_inline()
    }

    /// A copy that shares nothing (so it does not keep a large buffer alive).
    ///
    /// # Examples
    ///
    /// ```
    /// let long = spate_core::Text::from("a fairly long line that will be shared later on");
    /// let word = long.slice(0..40);
    /// assert_eq!(word.compact(), word);
    /// ```
    pub fn compact(&self) -> Text {
        if self.is_inline() {
            return self.clone();
        }
        let (buf, _, len) = self.shared_parts();
        if buf.len() == len {
            self.clone()
        } else {
            Text::inline_or_owned(self.as_str())
        }
    }
}

impl Clone for Text {
    #[inline]
    fn clone(&self) -> Text {
        if !self.is_inline() {
            // SAFETY: a shared text's head came from `Arc::into_raw` and its count is alive;
            // the copy below owns the new count.
            unsafe { Arc::increment_strong_count(self.head.buf) }
        }
        Text {
            head: self.head,
            tail: self.tail,
            tag: self.tag,
        }
    }
}

impl Drop for Text {
    #[inline]
    fn drop(&mut self) {
        if !self.is_inline() {
            // SAFETY: this text owns one strong count of the buffer, released exactly once.
            unsafe { Arc::decrement_strong_count(self.head.buf) }
        }
    }
}

/// Iterator of [`Text::split`].
///
/// # Examples
///
/// ```
/// let mut it = spate_core::Text::from("x,y").split(',');
/// assert_eq!(it.next().unwrap(), "x");
/// ```
pub struct Split {
    text: Text,
    pos: usize,
    sep: char,
    done: bool,
}

impl Split {
    /// The piece at `pos` of `text` (whose bytes are `bytes`) before the ASCII separator `sep`,
    /// and where the next piece starts (`None` for the last piece).
    #[inline(always)]
    fn ascii_step(text: &Text, bytes: &[u8], pos: usize, sep: u8) -> (Text, Option<usize>) {
        // Words are mostly shorter than 8 bytes: load 8 at once, find the separator among them
        // with word arithmetic, and the word's inline text is the loaded bytes masked.
        if let Some(chunk) = bytes.get(pos..pos + 8) {
            let w = load_le(chunk);
            let x = w ^ (u64::from(sep) * 0x0101_0101_0101_0101);
            // The lowest byte of `x` that is zero gets its high bit set (bits above the first
            // zero byte can be false positives, the lowest set one never is).
            let zero = x.wrapping_sub(0x0101_0101_0101_0101) & !x & 0x8080_8080_8080_8080;
            if zero != 0 {
                let len = (zero.trailing_zeros() / 8) as usize;
                let word = w & ((1u64 << (len * 8)) - 1);
                // SAFETY: the `len` bytes before an ASCII separator, cut at ASCII bytes of a
                // `str`, are whole UTF-8 characters; the rest is masked to zero.
                return (
                    unsafe { Text::from_words(word, 0, len) },
                    Some(pos + len + 1),
                );
            }
        }
        // An ASCII separator never occurs inside a multi-byte character, so a byte scan finds
        // exactly the char boundaries `str::find` would.
        let (end, next) = match bytes[pos..].iter().position(|&b| b == sep) {
            Some(i) => (pos + i, Some(pos + i + 1)),
            None => (bytes.len(), None),
        };
        // SAFETY: between ASCII separators (or the ends) lie whole UTF-8 characters.
        (unsafe { text.piece(pos, end) }, next)
    }
}

impl Iterator for Split {
    type Item = Text;

    #[inline]
    fn next(&mut self) -> Option<Text> {
        if self.done {
            return None;
        }
        let s = self.text.as_str();
        let pos = self.pos;
        let (piece, next) = if self.sep.is_ascii() {
            Split::ascii_step(&self.text, s.as_bytes(), pos, self.sep as u8)
        } else {
            match s[pos..].find(self.sep) {
                Some(i) => (
                    self.text.slice(pos..pos + i),
                    Some(pos + i + self.sep.len_utf8()),
                ),
                None => (self.text.slice(pos..s.len()), None),
            }
        };
        match next {
            Some(n) => self.pos = n,
            None => self.done = true,
        }
        Some(piece)
    }

    /// One loop over the line (`flat_map` runs this): the bytes are looked up once, not per word.
    fn fold<B, F>(mut self, init: B, mut f: F) -> B
    where
        F: FnMut(B, Text) -> B,
    {
        let mut acc = init;
        if !self.sep.is_ascii() {
            // `next` one piece at a time (a `for` loop, not `fold`, which would be this method).
            for piece in self.by_ref() {
                acc = f(acc, piece);
            }
            return acc;
        }
        if self.done {
            return acc;
        }
        let (sep, mut pos) = (self.sep as u8, self.pos);
        let bytes = self.text.as_str().as_bytes();
        loop {
            let (piece, next) = Split::ascii_step(&self.text, bytes, pos, sep);
            acc = f(acc, piece);
            match next {
                Some(n) => pos = n,
                None => return acc,
            }
        }
    }
}

/// Iterator of [`Text::split_whitespace`].
///
/// # Examples
///
/// ```
/// let v: Vec<_> = spate_core::Text::from(" p  q ").split_whitespace().collect();
/// assert_eq!(v, ["p", "q"]);
/// ```
pub struct SplitWhitespace {
    text: Text,
    pos: usize,
}

/// Whether the character starting at `bytes[i]` is whitespace, and its length in bytes.
#[inline]
fn whitespace_at(s: &str, i: usize) -> (bool, usize) {
    let b = s.as_bytes()[i];
    if b < 0x80 {
        // char::is_whitespace for ASCII: space, \t, \n, \x0B, \x0C, \r.
        (matches!(b, b' ' | b'\t'..=b'\r'), 1)
    } else {
        let c = s[i..].chars().next().unwrap_or(' ');
        (c.is_whitespace(), c.len_utf8())
    }
}

impl Iterator for SplitWhitespace {
    type Item = Text;

    #[inline]
    fn next(&mut self) -> Option<Text> {
        let s = self.text.as_str();
        let mut i = self.pos;
        while i < s.len() {
            let (ws, n) = whitespace_at(s, i);
            if !ws {
                break;
            }
            i += n;
        }
        if i >= s.len() {
            self.pos = s.len();
            return None;
        }
        let start = i;
        while i < s.len() {
            let (ws, n) = whitespace_at(s, i);
            if ws {
                break;
            }
            i += n;
        }
        self.pos = i;
        Some(self.text.slice(start..i))
    }
}

impl Default for Text {
    fn default() -> Text {
        Text::new()
    }
}

impl Deref for Text {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for Text {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl From<&str> for Text {
    fn from(s: &str) -> Text {
        Text::inline_or_owned(s)
    }
}

impl From<String> for Text {
    fn from(s: String) -> Text {
        Text::inline_or_owned(&s)
    }
}

impl From<Text> for String {
    fn from(t: Text) -> String {
        t.as_str().to_string()
    }
}

impl PartialEq for Text {
    #[inline]
    fn eq(&self, other: &Text) -> bool {
        // Short texts are always inline and zero-padded with the length on top, so two inline
        // texts are equal exactly when their words are; an inline and a shared one never are.
        match (self.is_inline(), other.is_inline()) {
            (true, true) => self.inline_words() == other.inline_words(),
            (false, false) => self.as_str() == other.as_str(),
            _ => false,
        }
    }
}
impl Eq for Text {}

impl PartialEq<str> for Text {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}
impl PartialEq<&str> for Text {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialOrd for Text {
    fn partial_cmp(&self, other: &Text) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Text {
    fn cmp(&self, other: &Text) -> Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl Hash for Text {
    #[inline]
    fn hash<H: Hasher>(&self, state: &mut H) {
        // An inline text hashes as its two words: no branching on the length, which varies
        // unpredictably from word to word (a `str` hash spent a fifth of a word count's time
        // there). Consistent with `Eq`, which compares those words; a shared text (never equal
        // to an inline one) hashes its bytes. Hence no `Borrow<str>`: look up by `Text`.
        if self.is_inline() {
            let [lo, hi] = self.inline_words();
            state.write_u64(lo);
            state.write_u64(hi);
        } else {
            self.as_str().hash(state)
        }
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl Serialize for Text {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Text, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Text;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Text, E> {
                Ok(Text::from(v))
            }
        }
        d.deserialize_str(V)
    }
}

#[cfg(test)]
mod tests;
