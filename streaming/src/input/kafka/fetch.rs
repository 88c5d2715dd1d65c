//! Reading a partition with Kafka's isolation levels.
//!
//! rskafka's partition client (0.6) asks for `read_committed` but drops the answer's list of
//! aborted transactions and each batch's producer id, so records of an aborted transaction
//! would be delivered as committed; nor can it read uncommitted. So the fetch is sent here,
//! with rskafka's own protocol types and connection (`Messenger`, exposed by its
//! `unstable-fuzzing` feature: the version is pinned), to the partition's leader, and the
//! records filtered as Kafka's consumer filters them ([`committed`]).

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use parking_lot::Mutex;
use rskafka::messenger::Messenger;
use rskafka::protocol::error::Error as ApiError;
use rskafka::protocol::messages::{
    FetchRequest, FetchRequestPartition, FetchRequestTopic, FetchResponseAbortedTransaction,
    IsolationLevel, MetadataRequest, MetadataRequestTopic,
};
use rskafka::protocol::primitives::{Int32, Int64, String_};
use rskafka::protocol::record::{ControlBatchOrRecords, ControlBatchRecord, RecordBatch};
use rskafka::record::{Record, RecordAndOffset};
use tokio::io::{AsyncRead, AsyncWrite};

use super::client::Failure;
use super::ranges::TopicPartition;
use super::security::Security;

/// A connection's byte stream: TCP, or TLS over it.
pub(crate) trait Io: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}

pub(crate) type Conn = Arc<Messenger<Box<dyn Io>>>;

/// Connections to brokers (one per address: a login costs a SCRAM key derivation), and which
/// broker leads each partition; both forgotten on a failure.
pub(crate) struct Fetcher {
    brokers: Vec<String>,
    client_id: Arc<str>,
    security: Security,
    max_message: usize,
    conns: Mutex<HashMap<String, Conn>>,
    leaders: Mutex<HashMap<TopicPartition, String>>,
}

impl Fetcher {
    pub(crate) fn new(brokers: Vec<String>, client_id: &str, security: Security) -> Fetcher {
        Fetcher {
            brokers,
            client_id: Arc::from(client_id),
            security,
            // Kafka's default fetch.max.bytes is 50 MiB; room for the frame around it.
            max_message: 100 << 20,
            conns: Mutex::new(HashMap::new()),
            leaders: Mutex::new(HashMap::new()),
        }
    }

    /// The leader of `tp` (its address), asked of a bootstrap broker the first time.
    pub(crate) async fn leader(&self, tp: &TopicPartition) -> Result<String, Failure> {
        // Bound first: a guard in an `if let` scrutinee would live through the awaits.
        let known = self.leaders.lock().get(tp).cloned();
        if let Some(addr) = known {
            return Ok(addr);
        }
        let mut last = String::from("no bootstrap broker");
        for broker in &self.brokers {
            let bootstrap = match self.conn(broker).await {
                Ok(c) => c,
                Err(e) => {
                    last = e;
                    continue;
                }
            };
            let metadata = bootstrap
                .request(MetadataRequest {
                    topics: Some(vec![MetadataRequestTopic {
                        name: String_(tp.topic.clone()),
                    }]),
                    allow_auto_topic_creation: None,
                })
                .await;
            let metadata = match metadata {
                Ok(m) => m,
                Err(e) => {
                    self.conns.lock().remove(broker);
                    last = format!("metadata from {broker}: {e}");
                    continue;
                }
            };
            let leader = metadata
                .topics
                .iter()
                .filter(|t| t.name.0 == tp.topic)
                .flat_map(|t| &t.partitions)
                .find(|p| p.partition_index.0 == tp.partition)
                .map(|p| p.leader_id.0)
                .ok_or_else(|| Failure::Transient(format!("{tp} has no leader (yet)")))?;
            let b = metadata
                .brokers
                .iter()
                .find(|b| b.node_id.0 == leader)
                .ok_or_else(|| {
                    Failure::Transient(format!("{tp}: its leader {leader} is unknown"))
                })?;
            let addr = format!("{}:{}", b.host.0, b.port.0);
            self.leaders.lock().insert(tp.clone(), addr.clone());
            return Ok(addr);
        }
        Err(Failure::Transient(last))
    }

    /// The connection to `addr` (`host:port`): made the first time — TCP, then TLS and SASL as
    /// configured, API versions agreed.
    pub(crate) async fn conn(&self, addr: &str) -> Result<Conn, String> {
        let known = self.conns.lock().get(addr).cloned();
        if let Some(c) = known {
            return Ok(c);
        }
        let (host, _) = addr
            .rsplit_once(':')
            .ok_or_else(|| format!("{addr} is not host:port"))?;
        let tcp = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
        let _ = tcp.set_nodelay(true);
        let io: Box<dyn Io> = match &self.security.tls {
            Some(config) => {
                let name = rustls::pki_types::ServerName::try_from(host.to_string())
                    .map_err(|e| format!("{host}: {e}"))?;
                let tls = tokio_rustls::TlsConnector::from(Arc::clone(config))
                    .connect(name, tcp)
                    .await
                    .map_err(|e| format!("TLS to {addr}: {e}"))?;
                Box::new(tls)
            }
            None => Box::new(tcp),
        };
        let mut messenger = Messenger::new(io, self.max_message, Arc::clone(&self.client_id));
        messenger
            .sync_versions()
            .await
            .map_err(|e| format!("{addr}: {e}"))?;
        if let Some(sasl) = &self.security.sasl {
            messenger
                .do_sasl(sasl.clone())
                .await
                .map_err(|e| format!("SASL login to {addr} refused: {e}"))?;
        }
        let conn = Arc::new(messenger);
        self.conns
            .lock()
            .insert(addr.to_string(), Arc::clone(&conn));
        Ok(conn)
    }

    /// The records of `tp` from `offset` on (at most about `max_bytes`) from its leader at
    /// `leader`, filtered by the isolation level, and the log's high watermark. A failed
    /// request forgets the connection and the leader: the next asks again.
    pub(crate) async fn fetch(
        &self,
        tp: &TopicPartition,
        leader: &str,
        offset: i64,
        max_bytes: i32,
        max_wait_ms: i32,
    ) -> Result<(Vec<RecordAndOffset>, i64), Failure> {
        let forget = |why: String| {
            self.leaders.lock().remove(tp);
            self.conns.lock().remove(leader);
            Failure::Transient(format!("reading {tp} at offset {offset}: {why}"))
        };
        let conn = self.conn(leader).await.map_err(forget)?;
        let isolation = if self.security.read_committed {
            IsolationLevel::ReadCommitted
        } else {
            IsolationLevel::ReadUncommitted
        };
        let request = FetchRequest {
            replica_id: Int32(-1),
            max_wait_ms: Int32(max_wait_ms),
            min_bytes: Int32(1),
            max_bytes: Some(Int32(max_bytes)),
            isolation_level: Some(isolation),
            topics: vec![FetchRequestTopic {
                topic: String_(tp.topic.clone()),
                partitions: vec![FetchRequestPartition {
                    partition: Int32(tp.partition),
                    fetch_offset: Int64(offset),
                    partition_max_bytes: Int32(max_bytes),
                }],
            }],
        };
        let response = conn
            .request(request)
            .await
            .map_err(|e| forget(e.to_string()))?;
        let partition = response
            .responses
            .into_iter()
            .flat_map(|t| t.partitions)
            .find(|p| p.partition_index.0 == tp.partition)
            .ok_or_else(|| forget("the broker's answer has no such partition".into()))?;
        match partition.error_code {
            None => {}
            Some(ApiError::OffsetOutOfRange) => {
                return Err(Failure::OutOfRange(format!(
                    "{tp}: offset {offset} is not in the log (OffsetOutOfRange)"
                )));
            }
            Some(e) => return Err(forget(format!("the broker answered {e:?}"))),
        }
        let records = if self.security.read_committed {
            committed(partition.records.0, &partition.aborted_transactions)
        } else {
            partition
                .records
                .0
                .into_iter()
                .flat_map(data_records)
                .collect()
        };
        Ok((
            records.into_iter().filter(|r| r.offset >= offset).collect(),
            partition.high_watermark.0,
        ))
    }
}

/// The data records of `batches` a `read_committed` consumer sees: control batches (commit and
/// abort markers) dropped, and the batches of aborted transactions — a producer's transactional
/// batches from the first offset the broker lists for an aborted transaction of it up to that
/// transaction's abort marker.
pub(crate) fn committed(
    batches: Vec<RecordBatch>,
    aborted: &[FetchResponseAbortedTransaction],
) -> Vec<RecordAndOffset> {
    let mut pending: Vec<(i64, i64)> = aborted
        .iter()
        .map(|a| (a.first_offset.0, a.producer_id.0))
        .collect();
    pending.sort_unstable();
    let mut pending = pending.into_iter().peekable();
    let mut aborting: BTreeSet<i64> = BTreeSet::new();
    let mut out = Vec::new();
    for batch in batches {
        let last = batch.base_offset + batch.last_offset_delta as i64;
        // Aborted transactions that started at or before this batch's end.
        while let Some(&(first, producer)) = pending.peek() {
            if first > last {
                break;
            }
            aborting.insert(producer);
            pending.next();
        }
        match &batch.records {
            ControlBatchOrRecords::ControlBatch(ControlBatchRecord::Abort) => {
                aborting.remove(&batch.producer_id);
            }
            ControlBatchOrRecords::ControlBatch(ControlBatchRecord::Commit) => {}
            ControlBatchOrRecords::Records(_) => {
                if !(batch.is_transactional && aborting.contains(&batch.producer_id)) {
                    out.extend(data_records(batch));
                }
            }
        }
    }
    out
}

/// A batch's data records with their offsets (none for a control batch).
fn data_records(batch: RecordBatch) -> Vec<RecordAndOffset> {
    let ControlBatchOrRecords::Records(records) = batch.records else {
        return Vec::new();
    };
    records
        .into_iter()
        .map(|r| RecordAndOffset {
            offset: batch.base_offset + r.offset_delta as i64,
            record: Record {
                key: r.key,
                value: r.value,
                headers: r.headers.into_iter().map(|h| (h.key, h.value)).collect(),
                timestamp: rskafka::chrono::DateTime::from_timestamp_millis(
                    batch.first_timestamp.saturating_add(r.timestamp_delta),
                )
                .unwrap_or_default(),
            },
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use rskafka::protocol::record::{
        Record as WireRecord, RecordBatchCompression, RecordBatchTimestampType,
    };

    use super::*;

    fn batch(base: i64, producer: i64, transactional: bool, n: i32) -> RecordBatch {
        RecordBatch {
            base_offset: base,
            partition_leader_epoch: 0,
            last_offset_delta: n - 1,
            first_timestamp: 0,
            max_timestamp: 0,
            producer_id: producer,
            producer_epoch: 0,
            base_sequence: 0,
            records: ControlBatchOrRecords::Records(
                (0..n)
                    .map(|i| WireRecord {
                        timestamp_delta: 0,
                        offset_delta: i,
                        key: None,
                        value: Some(format!("{producer}@{}", base + i as i64).into_bytes()),
                        headers: Vec::new(),
                    })
                    .collect(),
            ),
            compression: RecordBatchCompression::NoCompression,
            is_transactional: transactional,
            timestamp_type: RecordBatchTimestampType::CreateTime,
        }
    }

    fn marker(base: i64, producer: i64, kind: ControlBatchRecord) -> RecordBatch {
        RecordBatch {
            records: ControlBatchOrRecords::ControlBatch(kind),
            last_offset_delta: 0,
            ..batch(base, producer, true, 1)
        }
    }

    fn aborted(producer: i64, first: i64) -> FetchResponseAbortedTransaction {
        FetchResponseAbortedTransaction {
            producer_id: Int64(producer),
            first_offset: Int64(first),
        }
    }

    /// Issue 30, finding 11: records of aborted transactions were delivered as committed.
    /// Producer 7 commits 0..2, aborts 3..4, commits 6; producer 8 (interleaved, not
    /// transactional) is always read; markers never are.
    #[test]
    fn read_committed_drops_markers_and_aborted_transactions_only() {
        let batches = || {
            vec![
                batch(0, 7, true, 2),
                marker(2, 7, ControlBatchRecord::Commit),
                batch(3, 7, true, 1),
                batch(4, 8, false, 1),
                batch(5, 7, true, 1),
                marker(6, 7, ControlBatchRecord::Abort),
                batch(7, 7, true, 1),
                marker(8, 7, ControlBatchRecord::Commit),
            ]
        };
        let offsets = |rs: Vec<RecordAndOffset>| rs.iter().map(|r| r.offset).collect::<Vec<_>>();
        assert_eq!(
            offsets(committed(batches(), &[aborted(7, 3)])),
            [0, 1, 4, 7]
        );
        // read_uncommitted: every data record, markers still not.
        let all: Vec<RecordAndOffset> = batches().into_iter().flat_map(data_records).collect();
        assert_eq!(offsets(all), [0, 1, 3, 4, 5, 7]);
    }
}
