//! Input: where each batch's records come from.
//!
//! - [`Receiver`]s (`receiver`) run on the receivers' runtime under a supervisor and store
//!   records into their stream's `Intake` (`intake`): blocks in the core block store,
//!   allocated to batches, pending records bounded; `socket` is the text socket receiver.
//! - `rate`: how fast a receiver may store — `maxRate`, and backpressure's rate estimators.
//! - `file`: file streams, which list a directory each batch instead of receiving.
//! - `queue`: `queue_stream`'s queue of RDDs.
//! - `kafka`: Kafka's direct stream (offset ranges and their rate limits so far).
//! - `control`: the control face of an input, the context's inputs, and what an input gets
//!   from its context; `settings`: the inputs' settings.
//! - `placement` (where receivers run in a cluster) and `hosting` (a receiver input on the
//!   executor running it, and on the driver hearing from it).

mod control;
pub(crate) mod file;
mod hosting;
mod intake;
pub mod kafka;
pub(crate) mod placement;
mod queue;
pub(crate) mod rate;
pub(crate) mod receiver;
mod settings;
pub(crate) mod socket;

pub(crate) use control::{BatchEnd, InputControl, InputEnv, Inputs, receiver_stream};
pub(crate) use intake::{EstimatorKind, Intake, IntakeOp, RateSettings};
pub(crate) use queue::QueueOp;
pub use queue::RddQueue;
pub(crate) use settings::{InputSettings, KEYS};
