//! The bounds on what an RDD can hold.

use std::hash::Hash;

use serde::Serialize;
use serde::de::DeserializeOwned;

/// What an RDD element must be: cloneable, shareable across worker threads, and serializable so
/// it can be spilled, checkpointed or (in cluster mode) sent to another process.
///
/// Implemented for every type with those properties.
///
/// # Examples
///
/// ```
/// fn takes<T: spate_core::Data>(_: T) {}
/// takes((String::from("a"), 1u64));
/// ```
pub trait Data: Clone + Send + Sync + Serialize + DeserializeOwned + 'static {}

impl<T> Data for T where T: Clone + Send + Sync + Serialize + DeserializeOwned + 'static {}

/// What a key of a pair RDD must be: [`Data`] that can be hashed and compared.
///
/// # Examples
///
/// ```
/// fn takes<K: spate_core::Key>(_: K) {}
/// takes(spate_core::Text::from("word"));
/// ```
pub trait Key: Data + Hash + Eq {}

impl<T> Key for T where T: Data + Hash + Eq {}
