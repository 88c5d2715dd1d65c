//! [`Text`]: a cheap-to-clone, serializable UTF-8 string for received and read lines.
//!
//! A line read from a socket or a file is a slice of a large shared buffer. Splitting it into
//! words must not allocate per word, so [`Text::split`] yields `Text`s that are either a slice of
//! the same buffer (long pieces: one reference-count increment) or an inline copy (pieces of up to
//! [`Text::INLINE_CAPACITY`] bytes: no allocation and no shared state at all). Inline pieces also
//! mean a short key kept in state does not pin a multi-megabyte receive buffer.
//!
//! One of two modules with `unsafe` (with `rdd::combiners`): a UTF-8 invariant established on
//! construction.

use std::borrow::Borrow;
use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A cheap-to-clone UTF-8 string: inline when short, else a slice of a shared buffer.
///
/// Derefs to `&str`; hashes, compares and serializes exactly like the `str` it holds.
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
/// ```
#[derive(Clone)]
pub struct Text(Repr);

#[derive(Clone)]
enum Repr {
    Inline(InlineBuf),
    // Invariant: buf[start..start + len] is valid UTF-8.
    Shared {
        buf: Arc<[u8]>,
        start: u32,
        len: u32,
    },
}

/// Up to 23 bytes of UTF-8, zero-padded, with the length in the last byte. Aligned so that it is
/// built and compared as three `u64` words: byte-wise copies followed by wide loads would stall
/// store-to-load forwarding on the hot path.
#[derive(Clone, Copy)]
#[repr(C, align(8))]
struct InlineBuf([u8; 24]);

impl InlineBuf {
    #[inline]
    fn words(&self) -> [u64; 3] {
        let w =
            |i: usize| u64::from_ne_bytes(self.0[i * 8..i * 8 + 8].try_into().unwrap_or_default());
        [w(0), w(1), w(2)]
    }

    /// Packs `s` (at most 23 bytes) with 8/4/2/1-byte loads and whole-word stores.
    #[inline]
    fn new(s: &[u8]) -> InlineBuf {
        let mut words = [0u64; 3];
        let mut chunks = s.chunks_exact(8);
        for (w, c) in words.iter_mut().zip(&mut chunks) {
            *w = u64::from_le_bytes(c.try_into().unwrap_or_default());
        }
        let rest = chunks.remainder();
        let (mut tail, mut off) = (0u64, 0usize);
        if rest.len() - off >= 4 {
            tail |= u64::from(u32::from_le_bytes(
                rest[off..off + 4].try_into().unwrap_or_default(),
            )) << (off * 8);
            off += 4;
        }
        if rest.len() - off >= 2 {
            tail |= u64::from(u16::from_le_bytes(
                rest[off..off + 2].try_into().unwrap_or_default(),
            )) << (off * 8);
            off += 2;
        }
        if rest.len() - off >= 1 {
            tail |= u64::from(rest[off]) << (off * 8);
        }
        if !rest.is_empty() {
            words[s.len() / 8] = tail;
        }
        words[2] |= (s.len() as u64) << 56;
        let mut buf = [0u8; 24];
        for (i, w) in words.iter().enumerate() {
            buf[i * 8..i * 8 + 8].copy_from_slice(&w.to_le_bytes());
        }
        InlineBuf(buf)
    }

    #[inline]
    fn bytes(&self) -> &[u8] {
        &self.0[..self.0[23] as usize]
    }
}

impl Text {
    /// Strings up to this many bytes are stored inline, without touching any shared buffer.
    pub const INLINE_CAPACITY: usize = 23;

    /// The empty text.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(spate_core::Text::new().is_empty());
    /// ```
    pub const fn new() -> Text {
        Text(Repr::Inline(InlineBuf([0; 24])))
    }

    /// A text for `buf[range]`, sharing `buf` when the piece is long.
    ///
    /// Invalid UTF-8 is replaced lossily (U+FFFD); the second value tells whether that happened.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// let buf: Arc<[u8]> = Arc::from(&b"hello\xffworld"[..]);
    /// let (t, replaced) = spate_core::Text::from_shared(&buf, 0..buf.len());
    /// assert!(replaced);
    /// assert_eq!(&*t, "hello\u{fffd}world");
    /// ```
    pub fn from_shared(buf: &Arc<[u8]>, range: std::ops::Range<usize>) -> (Text, bool) {
        let bytes = &buf[range.clone()];
        match std::str::from_utf8(bytes) {
            Ok(s) if s.len() <= Self::INLINE_CAPACITY => (Text::inline(s), false),
            Ok(_) => match (u32::try_from(range.start), u32::try_from(bytes.len())) {
                (Ok(start), Ok(len)) if range.end <= u32::MAX as usize => (
                    Text(Repr::Shared {
                        buf: Arc::clone(buf),
                        start,
                        len,
                    }),
                    false,
                ),
                // Offsets past 4 GiB do not fit the compact form: keep a copy instead.
                _ => (Text::owned(bytes), false),
            },
            Err(_) => (Text::from(String::from_utf8_lossy(bytes).as_ref()), true),
        }
    }

    #[inline]
    fn inline(s: &str) -> Text {
        Text(Repr::Inline(InlineBuf::new(s.as_bytes())))
    }

    fn owned(bytes: &[u8]) -> Text {
        Text(Repr::Shared {
            buf: Arc::from(bytes),
            start: 0,
            len: bytes.len() as u32,
        })
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
        let bytes = match &self.0 {
            Repr::Inline(b) => b.bytes(),
            Repr::Shared { buf, start, len } => {
                let s = *start as usize;
                &buf[s..s + *len as usize]
            }
        };
        // SAFETY: every constructor stores only bytes that were a `&str` or passed
        // `std::str::from_utf8`, and `slice` cuts only at char boundaries of such a `&str`
        // (checked by `str` indexing). Re-validating here would make `split` quadratic.
        #[allow(unsafe_code)]
        unsafe {
            std::str::from_utf8_unchecked(bytes)
        }
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
        self.piece(range.start, range.end)
    }

    /// The piece `start..end` of this text, which must fall on char boundaries (the caller
    /// guarantees it): inline when short, else a slice of the same shared buffer.
    #[inline]
    fn piece(&self, start: usize, end: usize) -> Text {
        let len = end - start;
        match &self.0 {
            Repr::Shared {
                buf, start: base, ..
            } if len > Self::INLINE_CAPACITY => Text(Repr::Shared {
                buf: Arc::clone(buf),
                start: base + start as u32,
                len: len as u32,
            }),
            // An inline text is at most 23 bytes, and so is any piece of it.
            _ => Text(Repr::Inline(InlineBuf::new(
                &self.as_str().as_bytes()[start..end],
            ))),
        }
    }

    #[inline]
    fn inline_or_owned(s: &str) -> Text {
        if s.len() <= Self::INLINE_CAPACITY {
            Text::inline(s)
        } else {
            Text::owned(s.as_bytes())
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
        matches!(self.0, Repr::Shared { .. })
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
        match &self.0 {
            Repr::Shared { buf, len, .. } if buf.len() != *len as usize => {
                Text::owned(self.as_str().as_bytes())
            }
            _ => self.clone(),
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

impl Iterator for Split {
    type Item = Text;

    #[inline]
    fn next(&mut self) -> Option<Text> {
        if self.done {
            return None;
        }
        let s = self.text.as_str();
        let rest = &s.as_bytes()[self.pos..];
        // An ASCII separator never occurs inside a multi-byte character, so a byte scan finds
        // exactly the char boundaries `str::find` would (and is faster on short words).
        let found = if self.sep.is_ascii() {
            let b = self.sep as u8;
            rest.iter().position(|&c| c == b)
        } else {
            s[self.pos..].find(self.sep)
        };
        let (end, next) = match found {
            Some(i) => (self.pos + i, self.pos + i + self.sep.len_utf8()),
            None => {
                self.done = true;
                (s.len(), s.len())
            }
        };
        let piece = if self.sep.is_ascii() {
            // Between ASCII separators (or the ends) a piece is whole UTF-8 characters: build
            // it directly, without `slice`'s second lookup and boundary checks.
            self.text.piece(self.pos, end)
        } else {
            self.text.slice(self.pos..end)
        };
        self.pos = next;
        Some(piece)
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

impl Borrow<str> for Text {
    fn borrow(&self) -> &str {
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
        match (&self.0, &other.0) {
            // Inline buffers are zero past their length (stored in the last byte), so equal
            // texts have equal words: three compares instead of a memcmp call.
            (Repr::Inline(a), Repr::Inline(b)) => a.words() == b.words(),
            _ => self.as_str() == other.as_str(),
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
        // Same as str's Hash, so a map keyed by Text can be looked up by &str.
        self.as_str().hash(state)
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
mod tests {
    use super::*;

    #[test]
    fn split_matches_str_split() {
        let long = "alpha beta  gamma-a-rather-long-word-over-thirty-bytes-long  δέλτα ";
        let buf: Arc<[u8]> = Arc::from(long.as_bytes());
        let (t, _) = Text::from_shared(&buf, 0..buf.len());
        assert!(t.is_shared());
        let ours: Vec<String> = t.clone().split(' ').map(String::from).collect();
        let std: Vec<&str> = long.split(' ').collect();
        assert_eq!(ours, std);
        let ws: Vec<String> = t.split_whitespace().map(String::from).collect();
        assert_eq!(ws, long.split_whitespace().collect::<Vec<_>>());
    }

    proptest::proptest! {
        /// Splitting a (shared or inline) text gives exactly `str::split`'s pieces, each
        /// inline when short and a slice of the buffer when long.
        #[test]
        fn split_equals_str_split(
            s in "[ab é,δ😀xyz0-9]{0,80}",
            pad in 0usize..5,
            sep in proptest::sample::select(vec![' ', ',', 'é']),
        ) {
            let padded = format!("{}{s}", "-".repeat(pad));
            let buf: Arc<[u8]> = Arc::from(padded.as_bytes());
            let (t, _) = Text::from_shared(&buf, pad..buf.len());
            let ours: Vec<Text> = t.split(sep).collect();
            let want: Vec<&str> = s.split(sep).collect();
            proptest::prop_assert_eq!(ours.len(), want.len());
            for (piece, w) in ours.iter().zip(&want) {
                proptest::prop_assert_eq!(piece.as_str(), *w);
                proptest::prop_assert_eq!(piece.is_shared(), w.len() > Text::INLINE_CAPACITY);
                proptest::prop_assert_eq!(piece, &Text::from(*w));
            }
        }
    }

    #[test]
    fn long_pieces_share_and_compact_detaches() {
        let line = "x".repeat(100) + " " + &"y".repeat(40);
        let buf: Arc<[u8]> = Arc::from(line.as_bytes());
        let (t, _) = Text::from_shared(&buf, 0..buf.len());
        let pieces: Vec<Text> = t.split(' ').collect();
        assert!(pieces[1].is_shared());
        assert_eq!(Arc::strong_count(&buf), 3);
        let c = pieces[1].compact();
        assert_eq!(c, pieces[1]);
        drop(pieces);
        assert_eq!(Arc::strong_count(&buf), 1);
        assert_eq!(c.len(), 40);
    }

    #[test]
    fn hash_and_serde_agree_with_str() {
        let t = Text::from("word");
        let mut m = std::collections::HashMap::new();
        m.insert(t.clone(), 1);
        assert_eq!(m.get("word"), Some(&1));
        let bytes = bincode::serialize(&t).unwrap();
        assert_eq!(bytes, bincode::serialize("word").unwrap());
        let back: Text = bincode::deserialize(&bytes).unwrap();
        assert_eq!(back, t);
    }
}
