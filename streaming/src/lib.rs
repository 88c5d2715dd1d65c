//! # spate-streaming: discretized streams
//!
//! A [`StreamingContext`] slices live input — TCP sockets, queues of RDDs, custom
//! [`Receiver`]s — into one RDD per batch interval. A [`DStream`] is that sequence of RDDs; every
//! DStream operator is an RDD operator applied to each batch, and output operations (`print`,
//! `foreach_rdd`) become jobs on the core scheduler, batch after batch, on time.
//!
//! ```no_run
//! use spate_core::Conf;
//! use spate_streaming::StreamingContext;
//!
//! let conf = Conf::from_env().set_app_name("NetworkWordCount"); // master defaults to local[*]
//! let ssc = StreamingContext::new(conf, std::time::Duration::from_secs(1))?;
//! let lines = ssc.socket_text_stream("localhost", 9999);
//! let words = lines.flat_map(|line| line.split(' ')); // words share the line's buffer
//! let counts = words.map(|w| (w, 1u64)).reduce_by_key(|a, b| a + b);
//! counts.print(10)?;
//! ssc.start()?;
//! ssc.await_termination()?;
//! # Ok::<(), spate_streaming::Error>(())
//! ```
//!
//! Life of a batch: a receiver stores records into its stream's intake; every block interval
//! they are cut into a block in the core block store; at each batch time the job generator allocates the blocks received
//! since the last batch to the new batch (one input partition per block), asks each output
//! operation for its job, and queues the batch; an executor runs it, reports the batch's
//! scheduling delay and processing time to listeners, and releases its RDDs and blocks.

mod common;
mod context;
mod dstream;
mod error;
mod event_time;
mod input;
mod listener;
mod recovery;
mod scheduler;
mod signals;
pub mod testing;
#[cfg(feature = "ui")]
mod ui;

pub use common::{Clock, ManualClock, ReceiverStats, StreamId, SystemClock, Time};
pub use context::{KEYS, StopOptions, StreamingContext, StreamingState};
pub use dstream::DStream;
pub use dstream::state::{MapWithStateDStream, State, StateSpec};
pub use error::{Error, Result};
pub use event_time::{EventTimeStream, OutputMode, Window, WindowedEvents};
pub use input::RddQueue;
pub use input::kafka;
pub use input::rate::{
    BatchObservation, PidRateEstimator, RateDecision, RateEstimator, SteadyRateEstimator,
};
pub use input::receiver::{Receiver, ReceiverHandle};
pub use listener::{
    BatchInfo, OutputJobInfo, OutputOperationInfo, ReceiverInfo, StreamingListener,
};
