//! Kafka, read as Spark's direct stream reads it: no receiver; each batch is a set of offset
//! ranges, one per partition of the subscribed topics, in the driver checkpoint, so a batch can be
//! rebuilt exactly after any failure.
//!
//! This module holds what a batch's ranges are made of: [`OffsetRange`] and the rate limits
//! that bound them ([`KafkaRateLimits::max_messages`], with Spark's semantics). Reading the
//! ranges from a broker is issue 18's next step.

mod ranges;

pub use ranges::{KafkaRateLimits, OffsetRange, TopicPartition};
