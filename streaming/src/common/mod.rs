//! The crate's basic types — batch times, clocks, stream ids, receiver counters, a panic's
//! message — at the bottom
//! of the crate: they import nothing from the folders above them (std, serde, parking_lot
//! only), so every concept can use them without an import circle.

mod clock;
mod ids;
mod panic;
mod stats;
mod time;

pub(crate) use clock::system;
pub use clock::{Clock, ManualClock, SystemClock};
pub use ids::StreamId;
pub(crate) use panic::panic_text;
pub use stats::ReceiverStats;
pub use time::Time;
