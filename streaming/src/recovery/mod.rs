//! Recovery: what a restarted driver needs to go on where the crashed one stopped.
//!
//! - `checkpoint`: the driver metadata (pending batches, each stream's record of its inputs and
//!   state), written atomically after every batch's generation and completion; the directory
//!   lock; reading the newest readable file back.
//! - `wal`: the receivers' write-ahead log, so a restarted driver loses nothing received.

pub(crate) mod checkpoint;
pub(crate) mod wal;
