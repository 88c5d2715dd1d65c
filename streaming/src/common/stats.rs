//! What a receiver has done so far, as listeners and the status page see it.

use super::StreamId;

/// Counters of one receiver stream.
///
/// # Examples
///
/// ```
/// let s = spate_streaming::ReceiverStats::default();
/// assert_eq!(s.records, 0);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReceiverStats {
    /// The input stream.
    pub stream: StreamId,
    /// Records stored so far.
    pub records: u64,
    /// Lines that were not valid UTF-8 and were stored with U+FFFD replacements.
    pub invalid_utf8_lines: u64,
    /// Lines longer than `spate.streaming.receiver.maxLineBytes`, skipped.
    pub oversized_lines_skipped: u64,
    /// Failed connection attempts (socket receivers).
    pub connect_failures: u64,
    /// Errors reported by the receiver.
    pub errors: u64,
    /// The rate (records/s) the receiver is held to by `spate.streaming.receiver.maxRate` or
    /// backpressure, if any.
    pub rate_limit: Option<u64>,
    /// Records stored and not yet processed (their batch has not completed).
    pub pending_records: u64,
    /// `spate.streaming.receiver.maxPendingRecords`: past it the receiver waits.
    pub max_pending_records: u64,
    /// Bytes appended to the write-ahead log (0 with the log off).
    pub wal_bytes: u64,
}
