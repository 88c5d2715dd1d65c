//! Stream ids.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Identifies a stream within its streaming context, in construction order.
///
/// # Examples
///
/// ```
/// assert_eq!(spate_streaming::StreamId(3).to_string(), "stream 3");
/// ```
#[derive(
    Copy, Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
pub struct StreamId(pub u32);

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "stream {}", self.0)
    }
}
