//! What a receiver stored, as it travels to a block: records, or lines kept in their received
//! buffers; how each is cut into a block per core, written to the log and read back.

use super::*;

/// What a logged block of received lines starts with (a framed block starts with the codec's
/// magic, which differs).
pub(super) const LOGGED_LINES: &[u8] = b"SPLINES1";

/// Records as a receiver hands them over and as a block holds them.
pub(crate) enum Received<T> {
    /// Records, one by one.
    Records(Vec<T>),
    /// Lines in the buffers they were received in (text streams, where `T` is `Text`): no
    /// per-line cost in memory until a task reads them.
    Lines(TextLines),
}

impl<T> Default for Received<T> {
    fn default() -> Self {
        Received::Records(Vec::new())
    }
}

impl<T: Data> Received<T> {
    pub(super) fn len(&self) -> usize {
        match self {
            Received::Records(v) => v.len(),
            Received::Lines(l) => l.len(),
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Appends `more` if it is of the same kind (or this is empty); else gives it back.
    pub(super) fn append(&mut self, more: Received<T>) -> std::result::Result<(), Received<T>> {
        match (self, more) {
            (this, more) if this.is_empty() => *this = more,
            (Received::Records(v), Received::Records(more)) => v.extend(more),
            (Received::Lines(l), Received::Lines(more)) => l.append(more),
            (_, more) => return Err(more),
        }
        Ok(())
    }

    /// Up to `parts` pieces of about equal record counts, in order.
    pub(super) fn split_into(self, parts: usize) -> Vec<Received<T>> {
        match self {
            Received::Records(mut records) => {
                let n = records.len();
                let parts = parts.clamp(1, n.max(1));
                let mut pieces = Vec::with_capacity(parts);
                for i in (1..parts).rev() {
                    pieces.push(Received::Records(records.split_off(i * n / parts)));
                }
                pieces.push(Received::Records(records));
                pieces.reverse();
                pieces
            }
            Received::Lines(lines) => lines
                .split_into(parts)
                .into_iter()
                .map(Received::Lines)
                .collect(),
        }
    }

    /// The block's record in the write-ahead log, in pieces: received lines as they came
    /// after [`LOGGED_LINES`] (one copy into the log's buffer, not a line-by-line encoding;
    /// most of the log's CPU went there), records as a frame encoded into `frame`.
    pub(super) fn log_pieces<'a>(&'a self, frame: &'a mut Vec<u8>) -> Result<Vec<&'a [u8]>> {
        match self {
            Received::Records(v) => {
                spate_core::codec::encode_into(v, frame)?;
                Ok(vec![frame.as_slice()])
            }
            Received::Lines(l) => Ok(std::iter::once(LOGGED_LINES)
                .chain(l.chunk_bytes())
                .collect()),
        }
    }

    /// A block read back from the write-ahead log (see [`Received::log_pieces`]); `origin`
    /// names the log in errors.
    pub(super) fn from_log(bytes: Vec<u8>, origin: &str) -> Result<Received<T>> {
        if bytes.starts_with(LOGGED_LINES) {
            let buf = Arc::new(bytes);
            let mut lines = TextLines::new();
            lines
                .push(&buf, LOGGED_LINES.len()..buf.len(), usize::MAX)
                .map_err(|e| spate_core::Error::Corrupt {
                    path: PathBuf::from(origin),
                    reason: format!("a logged block of lines does not read back: {e}"),
                })?;
            Ok(Received::Lines(lines))
        } else {
            Ok(Received::Records(spate_core::codec::decode(
                &bytes, origin,
            )?))
        }
    }

    /// Puts the block in the block store.
    pub(super) fn store(self, ctx: &Context, id: InputBlockId) -> Result<()> {
        match self {
            Received::Records(mut records) => {
                // A block lives for its whole batch (or window): do not keep the buffer's
                // growth slack (up to half of it) alive with it.
                if records.capacity() > records.len() + records.len() / 8 {
                    records.shrink_to_fit();
                }
                ctx.put_input_block(id, Arc::new(records))
            }
            Received::Lines(lines) => ctx.put_input_lines(id, Arc::new(lines)),
        }
    }
}
