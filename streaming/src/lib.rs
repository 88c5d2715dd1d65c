//! # spate-streaming
//!
//! Discretized streams on top of [`spate_core`]: a `StreamingContext` slices live input into one
//! RDD per batch interval. The streaming engine arrives with the streaming issue; this crate
//! currently re-exports the core types it builds on.

pub use spate_core::{Conf, Context, Rdd, Text};
