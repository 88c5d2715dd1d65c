//! # spate
//!
//! Spark Streaming's model — discretized streams over resilient distributed datasets — in Rust.
//! This crate re-exports [`spate_core`] (the RDD layer), [`spate_streaming`] and [`spate_sql`]
//! (exactly-once database sinks); bring what an
//! application needs into scope with `use spate::prelude::*`.
//!
//! ```
//! use spate::prelude::*;
//! let ctx = Context::new(Conf::new().set_master("local[2]"))?;
//! let total = ctx.parallelize((1..=100u64).collect(), 4).reduce(|a, b| a + b)?;
//! assert_eq!(total, Some(5050));
//! # Ok::<(), spate::prelude::Error>(())
//! ```

pub use spate_core as core;

/// Shows spate's warnings and errors on stderr — a failed checkpoint write, a skipped corrupt
/// checkpoint, an unreadable input, a receiver reconnecting — which are otherwise invisible,
/// and the status UI's address.
/// Call it first in `main`; `RUST_LOG` overrides the level (`RUST_LOG=info`,
/// `RUST_LOG=spate_streaming=debug`). Does nothing if the program installed a `tracing`
/// subscriber of its own (returns `false` then).
///
/// # Examples
///
/// ```
/// spate::init_logging();
/// assert!(!spate::init_logging(), "the second call finds the first one's subscriber");
/// ```
pub fn init_logging() -> bool {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        // Warnings and errors, and where the status UI serves.
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,spate_streaming::ui=info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init()
        .is_ok()
}
pub use spate_sql as sql;
pub use spate_streaming as streaming;

/// Everything an application usually needs. `Error` and `Result` are the streaming ones, which
/// wrap every RDD-layer error, so `?` works on both layers' results.
pub mod prelude {
    pub use spate_core::{
        Conf, Context, Data, HashPartitioner, Key, PartitionIter, Partitioner, RangePartitioner,
        Rdd, Show, StorageLevel, Text, TextLines,
    };
    pub use spate_streaming::{
        BatchInfo, DStream, Error, EventTimeStream, MapWithStateDStream, OutputMode, RddQueue,
        Receiver, ReceiverHandle, Result, State, StateSpec, StopOptions, StreamingContext,
        StreamingListener, Time, Window, WindowedEvents,
    };
    pub use std::time::Duration;
}
