//! # spate
//!
//! Spark Streaming's model — discretized streams over resilient distributed datasets — in Rust.
//! This crate re-exports [`spate_core`] (the RDD layer) and [`spate_streaming`]; bring what an
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
pub use spate_streaming as streaming;

/// Everything an application usually needs. `Error` and `Result` are the streaming ones, which
/// wrap every RDD-layer error, so `?` works on both layers' results.
pub mod prelude {
    pub use spate_core::{
        Conf, Context, Data, HashPartitioner, Key, PartitionIter, Partitioner, RangePartitioner,
        Rdd, Show, StorageLevel, Text, TextLines,
    };
    pub use spate_streaming::{
        BatchInfo, DStream, Error, MapWithStateDStream, RddQueue, Receiver, ReceiverHandle, Result,
        State, StateSpec, StopOptions, StreamingContext, StreamingListener, Time,
    };
    pub use std::time::Duration;
}
