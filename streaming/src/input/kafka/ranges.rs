//! Offset ranges and the per-partition rate limits that bound them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A partition of a topic.
///
/// # Examples
///
/// ```
/// use spate_streaming::kafka::TopicPartition;
/// let p = TopicPartition::new("events", 2);
/// assert_eq!(p.to_string(), "events-2");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct TopicPartition {
    /// The topic.
    pub topic: String,
    /// The partition's number.
    pub partition: i32,
}

impl TopicPartition {
    /// Partition `partition` of `topic`.
    ///
    /// # Examples
    ///
    /// ```
    /// let p = spate_streaming::kafka::TopicPartition::new("t", 0);
    /// assert_eq!(p.partition, 0);
    /// ```
    pub fn new(topic: impl Into<String>, partition: i32) -> TopicPartition {
        TopicPartition {
            topic: topic.into(),
            partition,
        }
    }
}

impl std::fmt::Display for TopicPartition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.topic, self.partition)
    }
}

/// The records of one partition a batch reads: offsets `from` (inclusive) to `until`
/// (exclusive).
///
/// # Examples
///
/// ```
/// use spate_streaming::kafka::OffsetRange;
/// let r = OffsetRange::new("events", 0, 10, 25);
/// assert_eq!(r.count(), 15);
/// assert_eq!(r.to_string(), "events-0 [10, 25)");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OffsetRange {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// The first offset read.
    pub from: i64,
    /// The offset after the last one read.
    pub until: i64,
}

impl OffsetRange {
    /// The range `[from, until)` of partition `partition` of `topic`.
    ///
    /// # Examples
    ///
    /// ```
    /// let r = spate_streaming::kafka::OffsetRange::new("t", 1, 0, 0);
    /// assert_eq!(r.count(), 0);
    /// ```
    pub fn new(topic: impl Into<String>, partition: i32, from: i64, until: i64) -> OffsetRange {
        OffsetRange {
            topic: topic.into(),
            partition,
            from,
            until,
        }
    }

    /// The number of offsets in the range (0 if `until` is not after `from`).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(spate_streaming::kafka::OffsetRange::new("t", 0, 5, 3).count(), 0);
    /// ```
    pub fn count(&self) -> u64 {
        (self.until - self.from).max(0) as u64
    }

    /// The partition the range is of.
    ///
    /// # Examples
    ///
    /// ```
    /// use spate_streaming::kafka::{OffsetRange, TopicPartition};
    /// assert_eq!(OffsetRange::new("t", 3, 0, 1).topic_partition(), TopicPartition::new("t", 3));
    /// ```
    pub fn topic_partition(&self) -> TopicPartition {
        TopicPartition::new(self.topic.clone(), self.partition)
    }
}

impl std::fmt::Display for OffsetRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}-{} [{}, {})",
            self.topic, self.partition, self.from, self.until
        )
    }
}

/// How many records a batch may read from each partition (Spark's
/// `spark.streaming.kafka.maxRatePerPartition`, `minRatePerPartition` and backpressure).
///
/// # Examples
///
/// ```
/// use spate_streaming::kafka::KafkaRateLimits;
/// let limits = KafkaRateLimits { max_rate_per_partition: Some(1000), ..Default::default() };
/// assert_eq!(limits.max_rate_per_partition, Some(1000));
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct KafkaRateLimits {
    /// Records per second each partition may give (unset: no limit).
    pub max_rate_per_partition: Option<u64>,
    /// Per-partition exceptions to `max_rate_per_partition` (Spark's `PerPartitionConfig`).
    pub per_partition: BTreeMap<TopicPartition, u64>,
    /// Records a limited partition gives a batch at least (Spark's default: 1).
    pub min_rate_per_partition: u64,
}

impl Default for KafkaRateLimits {
    fn default() -> Self {
        KafkaRateLimits {
            max_rate_per_partition: None,
            per_partition: BTreeMap::new(),
            min_rate_per_partition: 1,
        }
    }
}

impl KafkaRateLimits {
    /// The most records each limited partition may give a batch of `batch_ms`, given each
    /// partition's lag (latest offset − next offset to read) and, with backpressure, the
    /// estimated rate for the whole stream (records/s). A partition not in the map is not
    /// limited: the batch reads it up to its latest offset.
    ///
    /// With an estimate, each partition gets the share of it that its lag is of the total lag,
    /// capped by its maximum rate; without one, its maximum rate, if it has one (Spark would
    /// hold a partition without a cap to `minRatePerPartition` once another has one; here it
    /// is not limited). A partition's records are `floor(rate × batch seconds)`, never fewer
    /// than `min_rate_per_partition`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::collections::BTreeMap;
    /// use spate_streaming::kafka::{KafkaRateLimits, TopicPartition};
    /// let p0 = TopicPartition::new("t", 0);
    /// let lags = BTreeMap::from([(p0.clone(), 1000)]);
    /// let limits = KafkaRateLimits { max_rate_per_partition: Some(300), ..Default::default() };
    /// // 500 ms batches at 300 records/s: 150 a batch.
    /// assert_eq!(limits.max_messages(&lags, 500, None)[&p0], 150);
    /// assert!(KafkaRateLimits::default().max_messages(&lags, 500, None).is_empty());
    /// ```
    pub fn max_messages(
        &self,
        lags: &BTreeMap<TopicPartition, u64>,
        batch_ms: u64,
        estimated_rate: Option<f64>,
    ) -> BTreeMap<TopicPartition, u64> {
        let cap = |tp: &TopicPartition| {
            self.per_partition
                .get(tp)
                .copied()
                .or(self.max_rate_per_partition)
                .filter(|r| *r > 0)
        };
        let rates: BTreeMap<TopicPartition, f64> = match estimated_rate.filter(|r| *r > 0.0) {
            Some(rate) => {
                let total: u64 = lags.values().sum();
                lags.iter()
                    .map(|(tp, lag)| {
                        let share = if total == 0 {
                            rate / lags.len() as f64
                        } else {
                            *lag as f64 / total as f64 * rate
                        };
                        let limited = cap(tp).map_or(share, |c| share.min(c as f64));
                        (tp.clone(), limited)
                    })
                    .collect()
            }
            None => lags
                .keys()
                .filter_map(|tp| Some((tp.clone(), cap(tp)? as f64)))
                .collect(),
        };
        let secs = batch_ms as f64 / 1000.0;
        rates
            .into_iter()
            .map(|(tp, rate)| {
                let n = (rate * secs).floor() as u64;
                (tp, n.max(self.min_rate_per_partition))
            })
            .collect()
    }

    /// The batch's range of a partition: from `from` to at most `latest`, and at most
    /// `max_messages` records when limited.
    ///
    /// # Examples
    ///
    /// ```
    /// use spate_streaming::kafka::{KafkaRateLimits, TopicPartition};
    /// let tp = TopicPartition::new("t", 0);
    /// assert_eq!(KafkaRateLimits::clamp(&tp, 10, 100, Some(5)).until, 15);
    /// assert_eq!(KafkaRateLimits::clamp(&tp, 10, 12, Some(5)).until, 12);
    /// assert_eq!(KafkaRateLimits::clamp(&tp, 10, 100, None).until, 100);
    /// ```
    pub fn clamp(
        tp: &TopicPartition,
        from: i64,
        latest: i64,
        max_messages: Option<u64>,
    ) -> OffsetRange {
        let until = match max_messages {
            Some(n) => latest.min(from.saturating_add(n.min(i64::MAX as u64) as i64)),
            None => latest,
        };
        OffsetRange::new(tp.topic.clone(), tp.partition, from, until.max(from))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lags(pairs: &[(i32, u64)]) -> BTreeMap<TopicPartition, u64> {
        pairs
            .iter()
            .map(|(p, lag)| (TopicPartition::new("t", *p), *lag))
            .collect()
    }

    fn of(m: BTreeMap<TopicPartition, u64>) -> Vec<u64> {
        m.into_values().collect()
    }

    #[test]
    fn spark_direct_kafka_stream_vectors_hold() {
        // 100 ms batches, backpressure estimates 1000 records/s, per-partition caps 50 and 100,
        // lag 1000 each: each would get 500/s by lag, capped to 50 and 100 → 5 and 10.
        let limits = KafkaRateLimits {
            per_partition: BTreeMap::from([
                (TopicPartition::new("t", 0), 50),
                (TopicPartition::new("t", 1), 100),
            ]),
            ..Default::default()
        };
        assert_eq!(
            of(limits.max_messages(&lags(&[(0, 1000), (1, 1000)]), 100, Some(1000.0))),
            [5, 10]
        );
        // 500 ms batches, maxRatePerPartition 1000, initial rate 500 (the estimate before any
        // batch): 250. And maxRatePerPartition 300 with an initial rate of 1000: 150.
        let capped = |max| KafkaRateLimits {
            max_rate_per_partition: Some(max),
            ..Default::default()
        };
        assert_eq!(
            of(capped(1000).max_messages(&lags(&[(0, 1000)]), 500, Some(500.0))),
            [250]
        );
        assert_eq!(
            of(capped(300).max_messages(&lags(&[(0, 1000)]), 500, Some(1000.0))),
            [150]
        );
    }

    #[test]
    fn limits_split_by_lag_keep_a_minimum_and_may_be_absent() {
        let none = KafkaRateLimits::default();
        assert!(none.max_messages(&lags(&[(0, 10)]), 1000, None).is_empty());
        // Backpressure alone: shares by lag (3:1).
        assert_eq!(
            of(none.max_messages(&lags(&[(0, 300), (1, 100)]), 1000, Some(400.0))),
            [300, 100]
        );
        // No lag anywhere: an even split.
        assert_eq!(
            of(none.max_messages(&lags(&[(0, 0), (1, 0)]), 1000, Some(10.0))),
            [5, 5]
        );
        // A tiny rate still reads the minimum per batch.
        let min3 = KafkaRateLimits {
            max_rate_per_partition: Some(1),
            min_rate_per_partition: 3,
            ..Default::default()
        };
        assert_eq!(of(min3.max_messages(&lags(&[(0, 50)]), 100, None)), [3]);
        // A cap on only some partitions limits only those (without an estimate).
        let some = KafkaRateLimits {
            per_partition: BTreeMap::from([(TopicPartition::new("t", 0), 5)]),
            ..Default::default()
        };
        let limited = some.max_messages(&lags(&[(0, 1), (1, 1)]), 1000, None);
        assert_eq!(limited, BTreeMap::from([(TopicPartition::new("t", 0), 5)]));
        // Ranges never run past the latest offset nor backwards.
        let tp = TopicPartition::new("t", 0);
        assert_eq!(KafkaRateLimits::clamp(&tp, 7, 3, Some(10)).count(), 0);
        assert_eq!(
            KafkaRateLimits::clamp(&tp, i64::MAX - 1, i64::MAX, Some(u64::MAX)).count(),
            1
        );
    }
}
