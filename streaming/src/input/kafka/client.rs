//! A blocking face over the `rskafka` client: one small tokio runtime per stream and process,
//! connected on first use, every request bounded by `spate.streaming.kafka.requestTimeout`.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use parking_lot::Mutex;
use rskafka::client::error::{Error as ClientError, ProtocolError};
use rskafka::client::partition::{OffsetAt, PartitionClient, UnknownTopicHandling};
use rskafka::client::{Client, ClientBuilder};

use super::ranges::{OffsetRange, TopicPartition};
use super::record::KafkaRecord;

/// Why a request failed.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The broker could not be reached or answered with a passing error: try again later.
    Transient(String),
    /// The offsets asked for are not in the log (deleted by retention, or truncated): asking
    /// again cannot help.
    OutOfRange(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Transient(m) | Failure::OutOfRange(m) => f.write_str(m),
        }
    }
}

fn classify(e: ClientError) -> Failure {
    match e {
        ClientError::ServerError {
            protocol_error: ProtocolError::OffsetOutOfRange,
            ..
        } => Failure::OutOfRange(e.to_string()),
        e => Failure::Transient(e.to_string()),
    }
}

/// A runtime shut down without waiting (dropping a runtime inside another would panic).
struct Runtime(Option<tokio::runtime::Runtime>);

impl Drop for Runtime {
    fn drop(&mut self) {
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

/// The Kafka connection of one direct stream in one process.
pub(crate) struct KafkaClient {
    brokers: Vec<String>,
    security: super::security::Security,
    /// Record fetches (rskafka's own drop aborted-transaction data: see `fetch`).
    fetcher: super::fetch::Fetcher,
    client_id: String,
    timeout: Duration,
    fetch_max_wait: Duration,
    max_fetch_bytes: f64,
    runtime: OnceLock<std::io::Result<Runtime>>,
    client: Mutex<Option<Arc<Client>>>,
    partitions: Mutex<HashMap<TopicPartition, Arc<PartitionClient>>>,
}

impl KafkaClient {
    pub(crate) fn new(
        brokers: Vec<String>,
        security: super::security::Security,
        client_id: String,
        timeout: Duration,
        fetch_max_wait: Duration,
        max_fetch_bytes: u64,
    ) -> KafkaClient {
        KafkaClient {
            fetcher: super::fetch::Fetcher::new(brokers.clone(), &client_id, security.clone()),
            brokers,
            security,
            client_id,
            timeout,
            fetch_max_wait,
            max_fetch_bytes: max_fetch_bytes.clamp(1024, i32::MAX as u64) as f64,
            runtime: OnceLock::new(),
            client: Mutex::new(None),
            partitions: Mutex::new(HashMap::new()),
        }
    }

    pub(crate) fn brokers(&self) -> String {
        self.brokers.join(",")
    }

    /// Runs `f` to completion on this client's runtime (each request in it bounded by
    /// [`KafkaClient::bounded`]).
    fn run<R>(&self, f: impl Future<Output = Result<R, Failure>>) -> Result<R, Failure> {
        let rt = self.runtime.get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .thread_name("spate-kafka")
                .enable_all()
                .build()
                .map(|rt| Runtime(Some(rt)))
        });
        let rt = match rt {
            Ok(Runtime(Some(rt))) => rt,
            Ok(Runtime(None)) => return Err(Failure::Transient("the runtime is gone".into())),
            Err(e) => {
                return Err(Failure::Transient(format!(
                    "cannot start the Kafka client's runtime: {e}"
                )));
            }
        };
        rt.block_on(f)
    }

    /// One request (with the client's own retries), for at most the request timeout.
    async fn bounded<R>(
        &self,
        what: &str,
        f: impl Future<Output = Result<R, Failure>>,
    ) -> Result<R, Failure> {
        let timeout = self.timeout;
        match tokio::time::timeout(timeout, f).await {
            Ok(r) => r,
            Err(_) => Err(Failure::Transient(format!(
                "{what}: no answer from {} within {timeout:?} (spate.streaming.kafka.requestTimeout)",
                self.brokers()
            ))),
        }
    }

    async fn client(&self) -> Result<Arc<Client>, Failure> {
        if let Some(c) = self.client.lock().clone() {
            return Ok(c);
        }
        let backoff = rskafka::BackoffConfig {
            init_backoff: Duration::from_millis(20),
            max_backoff: Duration::from_millis(500),
            base: 2.0,
            // Short of the request timeout: the client's own error (a refused SASL login, a
            // certificate not trusted) arrives before `bounded` gives up without a cause.
            deadline: Some(self.timeout.mul_f64(0.8)),
        };
        let build = async {
            let mut builder = ClientBuilder::new(self.brokers.clone())
                .client_id(self.client_id.as_str())
                .backoff_config(backoff);
            if let Some(tls) = &self.security.tls {
                builder = builder.tls_config(Arc::clone(tls));
            }
            if let Some(sasl) = &self.security.sasl {
                builder = builder.sasl_config(sasl.clone());
            }
            builder.build().await.map_err(|e| {
                Failure::Transient(format!("cannot connect to {}: {e}", self.brokers()))
            })
        };
        let client = self.bounded("connecting", build).await.map_err(|e| match e {
            // A broker that refuses a SASL login may just not answer.
            Failure::Transient(m) if self.security.sasl.is_some() => Failure::Transient(format!(
                "{m}; with SASL, check the user and password in sasl.jaas.config and sasl.mechanism"
            )),
            other => other,
        })?;
        let client = Arc::new(client);
        *self.client.lock() = Some(Arc::clone(&client));
        Ok(client)
    }

    async fn partition(&self, tp: &TopicPartition) -> Result<Arc<PartitionClient>, Failure> {
        if let Some(p) = self.partitions.lock().get(tp).cloned() {
            return Ok(p);
        }
        let client = self.client().await?;
        let p = self
            .bounded(&format!("finding the leader of {tp}"), async {
                client
                    .partition_client(tp.topic.clone(), tp.partition, UnknownTopicHandling::Error)
                    .await
                    .map_err(classify)
            })
            .await?;
        let p = Arc::new(p);
        self.partitions.lock().insert(tp.clone(), Arc::clone(&p));
        Ok(p)
    }

    /// The partitions of `topics` that exist, and the topics that do not.
    pub(crate) fn partitions_of(
        &self,
        topics: &[String],
    ) -> Result<(Vec<TopicPartition>, Vec<String>), Failure> {
        self.run(async {
            let client = self.client().await?;
            let listed = self
                .bounded("listing topics", async {
                    client.list_topics().await.map_err(classify)
                })
                .await?;
            let mut found = Vec::new();
            let mut missing = Vec::new();
            for topic in topics {
                match listed.iter().find(|t| &t.name == topic) {
                    Some(t) => found.extend(
                        t.partitions
                            .iter()
                            .map(|p| TopicPartition::new(topic.clone(), *p)),
                    ),
                    None => missing.push(topic.clone()),
                }
            }
            found.sort();
            Ok((found, missing))
        })
    }

    /// Each partition's earliest and latest offsets (latest: the offset the next record gets).
    pub(crate) fn offsets(
        &self,
        tps: &[TopicPartition],
    ) -> Result<BTreeMap<TopicPartition, (i64, i64)>, Failure> {
        self.run(async {
            let lookups = tps.iter().map(|tp| async move {
                let p = self.partition(tp).await?;
                let what = format!("looking up the offsets of {tp}");
                let (earliest, latest) = self
                    .bounded(&what, async {
                        let earliest = p.get_offset(OffsetAt::Earliest).await.map_err(classify)?;
                        let latest = p.get_offset(OffsetAt::Latest).await.map_err(classify)?;
                        Ok((earliest, latest))
                    })
                    .await?;
                Ok::<_, Failure>((tp.clone(), (earliest, latest)))
            });
            futures_util::future::join_all(lookups)
                .await
                .into_iter()
                .collect()
        })
    }

    /// Commits `offsets` (next offsets to read) as consumer group `group`'s.
    pub(crate) fn commit_group(
        &self,
        group: &str,
        offsets: &BTreeMap<TopicPartition, i64>,
    ) -> Result<(), Failure> {
        self.run(self.bounded(
            "committing offsets",
            super::group::commit(&self.brokers, group, &self.client_id, offsets),
        ))
    }

    /// Consumer group `group`'s committed next offsets of `partitions` (where it has one).
    pub(crate) fn group_offsets(
        &self,
        group: &str,
        partitions: &[TopicPartition],
    ) -> Result<BTreeMap<TopicPartition, i64>, Failure> {
        self.run(self.bounded(
            "reading committed offsets",
            super::group::fetch(&self.brokers, group, &self.client_id, partitions),
        ))
    }

    /// Every record of `range`, in offset order. Fetches are sized to what is left of the
    /// range (from the bytes per record seen so far), so a range is a few round trips.
    pub(crate) fn fetch(&self, range: &OffsetRange) -> Result<Vec<KafkaRecord>, Failure> {
        let tp = range.topic_partition();
        let max_wait = self.fetch_max_wait.as_millis().min(i32::MAX as u128) as i32;
        self.run(async {
            // Connecting (TLS, a SASL login) and each fetch are bounded apart, as rskafka's
            // own connection and requests are.
            let leader = self
                .bounded(
                    &format!("finding the leader of {tp}"),
                    self.fetcher.leader(&tp),
                )
                .await?;
            self.bounded(&format!("connecting to {leader}"), async {
                self.fetcher.conn(&leader).await.map_err(Failure::Transient)
            })
            .await?;
            let fetch = |offset: i64, max_bytes: i32| {
                let (what, tp, leader) = (format!("reading {tp} at offset {offset}"), &tp, &leader);
                async move {
                    self.bounded(
                        &what,
                        self.fetcher.fetch(tp, leader, offset, max_bytes, max_wait),
                    )
                    .await
                }
            };
            read_range(range, self.max_fetch_bytes, fetch).await
        })
    }
}

/// Reads `range` with `fetch(offset, max_bytes)` (records from `offset` on, and the log's high
/// watermark), in offset order.
///
/// An answer without records, from a broker whose log reaches past the range, means what is
/// left at that offset holds no data record: transaction markers (control batches, which the
/// client drops), or records compacted away. After one more try with the largest fetch (a big
/// data batch behind a marker may not have fit), the rest of the range is done: a range that
/// ends on a commit marker — every transactional producer's last offset — is read whole instead
/// of failing its batch. A log that does not reach the range's end yet is waited for (three
/// empty answers in a row fail the read).
pub(crate) async fn read_range<F, Fut>(
    range: &OffsetRange,
    max_fetch_bytes: f64,
    fetch: F,
) -> Result<Vec<KafkaRecord>, Failure>
where
    F: Fn(i64, i32) -> Fut,
    Fut: Future<Output = Result<(Vec<rskafka::record::RecordAndOffset>, i64), Failure>>,
{
    let tp = range.topic_partition();
    let topic: Arc<str> = Arc::from(range.topic.as_str());
    let mut out = Vec::with_capacity(range.count().min(1 << 20) as usize);
    let mut offset = range.from;
    let mut bytes_per_record = 256.0f64;
    let (mut empty, mut past_markers) = (0, false);
    while offset < range.until {
        let left = (range.until - offset) as f64;
        let max = max_fetch_bytes;
        let want = if past_markers {
            max
        } else {
            (left * bytes_per_record * 1.1 + 1024.0).clamp(max.min(64.0 * 1024.0), max)
        } as i32;
        let (records, high_watermark) = fetch(offset, want).await?;
        let (before, mut bytes) = (out.len(), 0usize);
        for r in records {
            if r.offset < offset {
                continue;
            }
            if r.offset >= range.until {
                break;
            }
            offset = r.offset + 1;
            bytes += r.record.approximate_size();
            out.push(KafkaRecord::new(&topic, range.partition, r));
        }
        let got = out.len() - before;
        if got > 0 {
            (empty, past_markers) = (0, false);
            bytes_per_record = (bytes as f64 / got as f64).max(16.0);
            continue;
        }
        if high_watermark >= range.until {
            if past_markers {
                // Nothing but markers (or compacted records) from here to the range's end.
                tracing::debug!(
                    "{tp}: offsets {offset}..{} hold no data record",
                    range.until
                );
                break;
            }
            past_markers = true;
            continue;
        }
        empty += 1;
        if empty >= 3 {
            return Err(Failure::Transient(format!(
                "{tp}: the broker returned no records at offset {offset} three times (its high watermark is {high_watermark}); the range {range} cannot be read whole"
            )));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(offset: i64) -> rskafka::record::RecordAndOffset {
        rskafka::record::RecordAndOffset {
            record: rskafka::record::Record {
                key: None,
                value: Some(format!("v{offset}").into_bytes()),
                headers: BTreeMap::new(),
                timestamp: chrono_now(),
            },
            offset,
        }
    }

    fn chrono_now() -> rskafka::chrono::DateTime<rskafka::chrono::Utc> {
        rskafka::chrono::DateTime::from_timestamp_millis(0).unwrap()
    }

    /// Issue 30, finding 11: a transactional producer's range ends on its commit marker, which
    /// the client drops. Data at offsets 0..3, markers at 3 and 4, high watermark 5: the range
    /// 0..5 is read whole (it failed every batch, "no records … three times").
    #[test]
    fn a_range_that_ends_on_transaction_markers_is_read_whole() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let range = OffsetRange::new("t", 0, 0, 5);
        let calls = std::cell::Cell::new(0);
        let got = rt
            .block_on(read_range(&range, 1e6, |offset, _| {
                calls.set(calls.get() + 1);
                let records = (offset..3).map(record).collect();
                async move { Ok((records, 5)) }
            }))
            .unwrap();
        assert_eq!(got.iter().map(|r| r.offset).collect::<Vec<_>>(), [0, 1, 2]);
        assert_eq!(
            calls.get(),
            3,
            "one read, one empty answer, one with the largest fetch"
        );

        // A log that has not reached the range's end is an error after three empty answers.
        let e = rt
            .block_on(read_range(&range, 1e6, |_, _| async {
                Ok((Vec::new(), 2))
            }))
            .unwrap_err();
        assert!(e.to_string().contains("three times"), "{e}");
    }

    #[test]
    fn an_unreachable_broker_is_a_bounded_transient_failure() {
        // A port nothing listens on: refused at once, retried until the timeout.
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let c = KafkaClient::new(
            vec![format!("127.0.0.1:{port}")],
            super::super::security::Security::default(),
            "test".into(),
            Duration::from_millis(300),
            Duration::from_millis(10),
            4 << 20,
        );
        let started = std::time::Instant::now();
        let e = c.partitions_of(&["t".into()]).unwrap_err();
        assert!(matches!(e, Failure::Transient(_)), "{e}");
        assert!(e.to_string().contains(&port.to_string()), "{e}");
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}
