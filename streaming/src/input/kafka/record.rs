//! [`KafkaRecord`]: one record of a topic partition, as a direct stream hands it on.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use spate_core::Text;

/// A record read from Kafka: where it was (topic, partition, offset), when (its timestamp,
/// ms since the epoch), its key and its value. Key and value are the client's buffers, shared,
/// never copied: [`KafkaRecord::text`] cuts the value as text without copying it either.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use spate_streaming::kafka::KafkaRecord;
/// let r = KafkaRecord {
///     topic: Arc::from("events"), partition: 0, offset: 7, timestamp_ms: 1_000,
///     key: None, value: Some(Arc::new(b"to be or not".to_vec())),
/// };
/// assert_eq!(r.text().split(' ').count(), 4);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KafkaRecord {
    /// The topic.
    pub topic: Arc<str>,
    /// The partition.
    pub partition: i32,
    /// Its offset in the partition.
    pub offset: i64,
    /// Its timestamp (create or log-append time, as the topic says), ms since the epoch.
    pub timestamp_ms: i64,
    /// Its key, if it has one.
    pub key: Option<Arc<Vec<u8>>>,
    /// Its value (`None`: a tombstone).
    pub value: Option<Arc<Vec<u8>>>,
}

impl KafkaRecord {
    pub(crate) fn new(
        topic: &Arc<str>,
        partition: i32,
        r: rskafka::record::RecordAndOffset,
    ) -> KafkaRecord {
        KafkaRecord {
            topic: Arc::clone(topic),
            partition,
            offset: r.offset,
            timestamp_ms: r.record.timestamp.timestamp_millis(),
            key: r.record.key.map(Arc::new),
            value: r.record.value.map(Arc::new),
        }
    }

    /// The value as text, sharing its buffer (invalid UTF-8 is replaced; a tombstone is
    /// empty).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use spate_streaming::kafka::KafkaRecord;
    /// let r = KafkaRecord { topic: Arc::from("t"), partition: 0, offset: 0, timestamp_ms: 0, key: None, value: None };
    /// assert_eq!(&*r.text(), "");
    /// ```
    pub fn text(&self) -> Text {
        match &self.value {
            Some(v) => Text::from_shared(v, 0..v.len()).0,
            None => Text::from(""),
        }
    }

    /// The key as text, sharing its buffer (`None` without a key).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use spate_streaming::kafka::KafkaRecord;
    /// let r = KafkaRecord { topic: Arc::from("t"), partition: 0, offset: 0, timestamp_ms: 0, key: Some(Arc::new(b"k".to_vec())), value: None };
    /// assert_eq!(r.key_text().as_deref(), Some("k"));
    /// ```
    pub fn key_text(&self) -> Option<Text> {
        self.key
            .as_ref()
            .map(|k| Text::from_shared(k, 0..k.len()).0)
    }
}
