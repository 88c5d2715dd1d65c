//! [`KafkaParams`]: where the brokers are and where a direct stream starts reading.

use std::collections::BTreeMap;

use super::ranges::TopicPartition;

/// Where a partition without a known position starts: its earliest record still in the log,
/// or the end of the log (only records produced from now on).
///
/// # Examples
///
/// ```
/// use spate_streaming::kafka::StartingOffsets;
/// assert_eq!(StartingOffsets::default(), StartingOffsets::Latest);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum StartingOffsets {
    /// The earliest offset still in the log (Kafka's `auto.offset.reset=earliest`).
    Earliest,
    /// The latest offset: records produced after the stream first looks (Spark's default).
    #[default]
    Latest,
}

/// What a batch whose range starts before the log's earliest offset does (records deleted by
/// retention, or the topic truncated, before they were read).
///
/// # Examples
///
/// ```
/// use spate_streaming::kafka::OnOutOfRange;
/// assert_eq!(OnOutOfRange::default(), OnOutOfRange::Fail);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OnOutOfRange {
    /// The batch fails with an error naming the partition, the offsets asked for and the
    /// earliest one left: nothing is skipped silently.
    #[default]
    Fail,
    /// Go on from the earliest offset left; the lost records are reported as an input error
    /// (listeners, log, [`crate::StreamingContext::input_errors`]).
    SkipToEarliest,
}

/// How a direct stream reaches Kafka: the bootstrap brokers, its client id, where it starts.
///
/// # Examples
///
/// ```
/// use spate_streaming::kafka::{KafkaParams, StartingOffsets};
/// let p = KafkaParams::new("127.0.0.1:9092").starting_offsets(StartingOffsets::Earliest);
/// assert_eq!(p.brokers(), ["127.0.0.1:9092"]);
/// ```
#[derive(Clone)]
pub struct KafkaParams {
    pub(crate) brokers: Vec<String>,
    /// Kafka client properties ([`KafkaParams::set`]): TLS and SASL.
    pub(crate) props: BTreeMap<String, String>,
    pub(crate) client_id: String,
    pub(crate) starting: StartingOffsets,
    pub(crate) from: BTreeMap<TopicPartition, i64>,
    pub(crate) on_out_of_range: OnOutOfRange,
    pub(crate) group_id: Option<String>,
}

impl KafkaParams {
    /// Brokers as Kafka's `bootstrap.servers` lists them: `host:port[,host:port…]`.
    ///
    /// # Examples
    ///
    /// ```
    /// let p = spate_streaming::kafka::KafkaParams::new("a:9092, b:9092");
    /// assert_eq!(p.brokers(), ["a:9092", "b:9092"]);
    /// ```
    pub fn new(bootstrap_servers: &str) -> KafkaParams {
        KafkaParams {
            brokers: bootstrap_servers
                .split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect(),
            client_id: "spate".into(),
            props: BTreeMap::new(),
            starting: StartingOffsets::default(),
            from: BTreeMap::new(),
            on_out_of_range: OnOutOfRange::default(),
            group_id: None,
        }
    }

    /// The bootstrap brokers.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(spate_streaming::kafka::KafkaParams::new("").brokers().is_empty());
    /// ```
    pub fn brokers(&self) -> &[String] {
        &self.brokers
    }

    /// Where partitions without a given offset start (default: latest).
    ///
    /// # Examples
    ///
    /// ```
    /// use spate_streaming::kafka::{KafkaParams, StartingOffsets};
    /// let _ = KafkaParams::new("h:9092").starting_offsets(StartingOffsets::Earliest);
    /// ```
    pub fn starting_offsets(mut self, start: StartingOffsets) -> KafkaParams {
        self.starting = start;
        self
    }

    /// Explicit positions: each listed partition starts at its offset (the next record to
    /// read) — e.g. what a database sink committed ([`crate::kafka::KafkaStream`] docs).
    /// Partitions not listed start as [`KafkaParams::starting_offsets`] says.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::collections::BTreeMap;
    /// use spate_streaming::kafka::{KafkaParams, TopicPartition};
    /// let _ = KafkaParams::new("h:9092").from_offsets(BTreeMap::from([(TopicPartition::new("t", 0), 42)]));
    /// ```
    pub fn from_offsets(mut self, offsets: BTreeMap<TopicPartition, i64>) -> KafkaParams {
        self.from = offsets;
        self
    }

    /// What to do when a batch's records are no longer in the log (default: fail).
    ///
    /// # Examples
    ///
    /// ```
    /// use spate_streaming::kafka::{KafkaParams, OnOutOfRange};
    /// let _ = KafkaParams::new("h:9092").on_out_of_range(OnOutOfRange::SkipToEarliest);
    /// ```
    pub fn on_out_of_range(mut self, policy: OnOutOfRange) -> KafkaParams {
        self.on_out_of_range = policy;
        self
    }

    /// A consumer group (Kafka's `group.id`) whose committed offsets the stream starts from
    /// (partitions it has none for start as [`KafkaParams::starting_offsets`] says; explicit
    /// offsets win), and to which [`crate::kafka::KafkaStream::commit_offsets`] commits. The
    /// stream is the group's only consumer: use a group of its own.
    ///
    /// # Examples
    ///
    /// ```
    /// let _ = spate_streaming::kafka::KafkaParams::new("h:9092").group_id("word-count");
    /// ```
    pub fn group_id(mut self, group: &str) -> KafkaParams {
        self.group_id = Some(group.to_string());
        self
    }

    /// The client id the brokers see (default `spate`).
    ///
    /// # Examples
    ///
    /// ```
    /// let _ = spate_streaming::kafka::KafkaParams::new("h:9092").client_id("word-count");
    /// ```
    pub fn client_id(mut self, id: &str) -> KafkaParams {
        self.client_id = id.to_string();
        self
    }

    /// A Kafka client property, as Spark passes them (with or without its `kafka.` prefix):
    /// `security.protocol` (`PLAINTEXT`, `SSL`, `SASL_PLAINTEXT`, `SASL_SSL`),
    /// `ssl.truststore.type` (`PEM`), `ssl.truststore.location` (a PEM file of CA
    /// certificates; default: the system's), `ssl.truststore.certificates` (the PEM itself),
    /// `sasl.mechanism` (`PLAIN`, `SCRAM-SHA-256`, `SCRAM-SHA-512`) and `sasl.jaas.config`
    /// (`… required username="…" password="…";`). Anything else is refused when the stream is
    /// made, naming what is understood.
    ///
    /// # Examples
    ///
    /// ```
    /// let p = spate_streaming::kafka::KafkaParams::new("broker:9093")
    ///     .set("kafka.security.protocol", "SASL_SSL")
    ///     .set("kafka.sasl.mechanism", "SCRAM-SHA-512")
    ///     .set("kafka.sasl.jaas.config", "org.apache.kafka.common.security.scram.ScramLoginModule required username=\"app\" password=\"s3cret\";");
    /// assert!(!format!("{p:?}").contains("s3cret"));
    /// ```
    pub fn set(mut self, key: &str, value: &str) -> KafkaParams {
        self.props.insert(key.to_string(), value.to_string());
        self
    }

    /// Checks what can be checked without a broker.
    pub(crate) fn validate(&self, topics: &[&str]) -> Result<(), String> {
        if self.brokers.is_empty() {
            return Err(
                "no bootstrap brokers: KafkaParams::new(\"host:port[,host:port…]\")".into(),
            );
        }
        if let Some(b) = self.brokers.iter().find(|b| {
            b.rsplit_once(':')
                .is_none_or(|(host, port)| host.is_empty() || port.parse::<u16>().is_err())
        }) {
            return Err(format!(
                "bootstrap broker {b:?} is not host:port (e.g. 127.0.0.1:9092)"
            ));
        }
        if topics.is_empty() {
            return Err("no topics: name at least one topic to read".into());
        }
        if let Some(t) = topics
            .iter()
            .find(|t| t.is_empty() || t.len() > 249 || t.contains(['/', ' ']))
        {
            return Err(format!(
                "{t:?} is not a topic name (1 to 249 of letters, digits, '.', '_', '-')"
            ));
        }
        if self
            .group_id
            .as_ref()
            .is_some_and(|g| g.is_empty() || g.len() > 255)
        {
            return Err("a group id has 1 to 255 bytes".into());
        }
        if let Some((tp, o)) = self.from.iter().find(|(_, o)| **o < 0) {
            return Err(format!("starting offset {o} of {tp} is negative"));
        }
        Ok(())
    }
}

impl std::fmt::Debug for KafkaParams {
    // The JAAS line holds a password: shown as its key only.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let props: Vec<(&str, &str)> = self
            .props
            .iter()
            .map(|(k, v)| {
                let shown = if k.ends_with("jaas.config") {
                    "…"
                } else {
                    v.as_str()
                };
                (k.as_str(), shown)
            })
            .collect();
        f.debug_struct("KafkaParams")
            .field("brokers", &self.brokers)
            .field("client_id", &self.client_id)
            .field("props", &props)
            .field("starting", &self.starting)
            .field("from", &self.from)
            .field("on_out_of_range", &self.on_out_of_range)
            .field("group_id", &self.group_id)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_params_are_refused_with_what_to_do() {
        let e = |p: KafkaParams, topics: &[&str]| p.validate(topics).unwrap_err();
        assert!(e(KafkaParams::new(" , "), &["t"]).contains("no bootstrap brokers"));
        assert!(e(KafkaParams::new("localhost"), &["t"]).contains("not host:port"));
        assert!(e(KafkaParams::new("h:99999"), &["t"]).contains("not host:port"));
        assert!(e(KafkaParams::new("h:9092"), &[]).contains("no topics"));
        assert!(e(KafkaParams::new("h:9092"), &["a b"]).contains("not a topic name"));
        let negative = BTreeMap::from([(TopicPartition::new("t", 0), -1)]);
        assert!(e(KafkaParams::new("h:9092").from_offsets(negative), &["t"]).contains("negative"));
        assert!(KafkaParams::new("h:9092").validate(&["t"]).is_ok());
    }
}
