//! Kafka, read as Spark's direct stream reads it: no receiver; each batch is a set of offset
//! ranges, one per partition of the subscribed topics, in the driver checkpoint, so a batch can
//! be rebuilt exactly after any failure.
//!
//! - `ranges`: [`OffsetRange`] and the rate limits that bound a batch's ranges
//!   ([`KafkaRateLimits::max_messages`], Spark's semantics and test vectors).
//! - `params`: [`KafkaParams`] — brokers, where a stream starts ([`StartingOffsets`], explicit
//!   offsets), what an offset no longer in the log does ([`OnOutOfRange`]).
//! - `client`: a blocking face over `rskafka` (one small runtime per stream and process,
//!   every request bounded by `spate.streaming.kafka.requestTimeout`).
//! - `stream`: [`KafkaStream`] — the driver allocates each batch's ranges (partitions and
//!   their earliest/latest offsets, looked up in parallel; new partitions picked up), the RDD
//!   reads them (one task per range, long ranges cut by `maxRecordsPerTask`, fetches sized to
//!   what is left of the range); backpressure's estimator sets the stream's rate, split by lag.
//! - `record`: [`KafkaRecord`], its key and value the client's buffers, shared.
//! - `group`: a consumer group's committed offsets over Kafka's wire protocol (`rskafka` has
//!   no group API): `FindCoordinator`, `OffsetCommit`, `OffsetFetch`.
//!
//! Where offsets are kept, and what each gives:
//! - **the checkpoint** (`ssc.checkpoint(dir)`): a restarted driver replays the batches it had
//!   generated with the same ranges and goes on from there; outputs must be idempotent (a batch
//!   may be written twice);
//! - **Kafka, as a consumer group's offsets** ([`KafkaParams::group_id`], then
//!   [`KafkaStream::commit_offsets`] after the batch's output): a restarted job starts from the
//!   group's committed offsets; a crash between output and commit repeats that batch's output
//!   (at least once);
//! - **the database, in the results' transaction** (`spate_sql::Sink::keep_kafka_offsets`):
//!   each batch's rows and its ranges' ends commit together; a restarted job starts from the
//!   offsets the database holds (`Sink::committed_kafka_offsets` →
//!   [`KafkaParams::from_offsets`]): exactly once end to end, with or without a checkpoint.

#[cfg(feature = "kafka")]
mod client;
// The fetch with isolation levels (aborted transactions filtered).
#[cfg(feature = "kafka")]
mod fetch;
#[cfg(feature = "kafka")]
mod group;
#[cfg(feature = "kafka")]
mod params;
mod ranges;
#[cfg(feature = "kafka")]
mod record;
// TLS and SASL from Kafka's client properties.
#[cfg(feature = "kafka")]
mod security;
#[cfg(feature = "kafka")]
mod stream;

#[cfg(feature = "kafka")]
use std::time::Duration;

#[cfg(feature = "kafka")]
pub use params::{KafkaParams, OnOutOfRange, StartingOffsets};
pub use ranges::{KafkaRateLimits, OffsetRange, TopicPartition};
#[cfg(feature = "kafka")]
pub use record::KafkaRecord;
#[cfg(feature = "kafka")]
pub use stream::KafkaStream;
#[cfg(feature = "kafka")]
pub(crate) use stream::kafka_direct_stream;

/// Kafka's keys (declared in every build: a program built without the `kafka` feature still knows them).
pub(crate) const KEYS: &[spate_core::conf::KeySpec] = spate_core::key_table! {
    "spate.streaming.kafka.maxRatePerPartition", Count, None, None, None, "Records per second a Kafka direct stream reads from each partition (unset: no limit); backpressure never exceeds it.";
    "spate.streaming.kafka.minRatePerPartition", Count, Some("1"), Some("1"), None, "Records per second a Kafka direct stream reads from each partition with a backlog, whatever the limits say (progress is never stalled).";
    "spate.streaming.kafka.maxRecordsPerTask", Count, Some("1000000"), Some("1"), None, "Largest offset range of one Kafka partition one task reads: a larger batch range is read by several tasks (bounded memory, both cores busy on one partition).";
    "spate.streaming.kafka.requestTimeout", Duration, Some("10s"), Some("10ms"), Some("1h"), "How long a Kafka request retries an unreachable broker before the batch's offsets are looked up again later (driver) or the task fails (reading).";
    "spate.streaming.kafka.maxFetchBytes", Size, Some("4m"), Some("1k"), Some("1g"), "Most bytes one Kafka fetch asks for (fetches are sized to what is left of a range, up to this).";
    "spate.streaming.kafka.fetchMaxWait", Duration, Some("10ms"), Some("0ms"), Some("10s"), "Longest wait of one Kafka fetch for its bytes (ranges end at offsets known to exist, so there is little to wait for).";
};

/// The `spate.streaming.kafka.*` settings, read once with the context's.
#[cfg(feature = "kafka")]
#[derive(Clone, Debug)]
pub(crate) struct KafkaSettings {
    pub(crate) max_rate_per_partition: Option<u64>,
    pub(crate) min_rate_per_partition: u64,
    pub(crate) max_records_per_task: u64,
    pub(crate) request_timeout: Duration,
    pub(crate) fetch_max_wait: Duration,
    pub(crate) max_fetch_bytes: u64,
}

#[cfg(feature = "kafka")]
impl KafkaSettings {
    pub(crate) fn from_conf(conf: &spate_core::Conf) -> crate::Result<KafkaSettings> {
        let dur = |k| conf.get_duration(k).map(|d| d.unwrap_or_default());
        Ok(KafkaSettings {
            max_rate_per_partition: conf
                .get_opt_count("spate.streaming.kafka.maxRatePerPartition")?
                .map(|r| r as u64),
            min_rate_per_partition: conf.get_count("spate.streaming.kafka.minRatePerPartition")?
                as u64,
            max_records_per_task: conf.get_count("spate.streaming.kafka.maxRecordsPerTask")? as u64,
            request_timeout: dur("spate.streaming.kafka.requestTimeout")?,
            fetch_max_wait: dur("spate.streaming.kafka.fetchMaxWait")?,
            max_fetch_bytes: conf.get_size("spate.streaming.kafka.maxFetchBytes")?,
        })
    }
}
