//! A consumer group's committed offsets, over Kafka's wire protocol: `FindCoordinator` (v0),
//! `OffsetCommit` (v2, as a standalone consumer: generation -1, no member) and `OffsetFetch`
//! (v1). `rskafka` has no group API; these three requests are all a direct stream needs to keep
//! its offsets in Kafka, as Spark's `commitAsync` does.

use std::collections::BTreeMap;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::client::Failure;
use super::ranges::TopicPartition;

const FIND_COORDINATOR: i16 = 10;
const OFFSET_COMMIT: i16 = 8;
const OFFSET_FETCH: i16 = 9;

/// A request body being written (Kafka's big-endian primitives).
#[derive(Default)]
struct Writer(Vec<u8>);

impl Writer {
    fn i16(&mut self, v: i16) -> &mut Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    fn i32(&mut self, v: i32) -> &mut Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    fn i64(&mut self, v: i64) -> &mut Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    fn string(&mut self, s: &str) -> &mut Self {
        self.i16(s.len().min(i16::MAX as usize) as i16);
        self.0.extend_from_slice(s.as_bytes());
        self
    }
}

/// A response being read; a short or malformed one is a failure, never a panic.
struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], Failure> {
        if self.0.len() < n {
            return Err(Failure::Transient(
                "a malformed response from the group coordinator (too short)".into(),
            ));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }
    fn i16(&mut self) -> Result<i16, Failure> {
        Ok(i16::from_be_bytes(
            self.take(2)?.try_into().unwrap_or_default(),
        ))
    }
    fn i32(&mut self) -> Result<i32, Failure> {
        Ok(i32::from_be_bytes(
            self.take(4)?.try_into().unwrap_or_default(),
        ))
    }
    fn i64(&mut self) -> Result<i64, Failure> {
        Ok(i64::from_be_bytes(
            self.take(8)?.try_into().unwrap_or_default(),
        ))
    }
    fn string(&mut self) -> Result<Option<String>, Failure> {
        let n = self.i16()?;
        if n < 0 {
            return Ok(None);
        }
        Ok(Some(
            String::from_utf8_lossy(self.take(n as usize)?).into_owned(),
        ))
    }
    fn count(&mut self) -> Result<usize, Failure> {
        let n = self.i32()?;
        // An array can never hold more entries than bytes left.
        if n < 0 || n as usize > self.0.len() {
            return Err(Failure::Transient(
                "a malformed response from the group coordinator (bad array length)".into(),
            ));
        }
        Ok(n as usize)
    }
}

/// What a Kafka error code means, for messages.
fn code_name(code: i16) -> String {
    let name = match code {
        3 => "UNKNOWN_TOPIC_OR_PARTITION",
        14 => "COORDINATOR_LOAD_IN_PROGRESS",
        15 => "COORDINATOR_NOT_AVAILABLE",
        16 => "NOT_COORDINATOR",
        22 => "ILLEGAL_GENERATION (the group has active members: use a group id of its own)",
        24 => "INVALID_GROUP_ID",
        25 => "UNKNOWN_MEMBER_ID (the group has active members: use a group id of its own)",
        28 => "INVALID_COMMIT_OFFSET_SIZE",
        29 => "TOPIC_AUTHORIZATION_FAILED",
        30 => "GROUP_AUTHORIZATION_FAILED",
        _ => "",
    };
    format!("Kafka error {code} {name}").trim_end().to_string()
}

/// One request/response on a fresh connection to `address`.
async fn call(
    address: &str,
    api_key: i16,
    api_version: i16,
    client_id: &str,
    body: &Writer,
) -> Result<Vec<u8>, Failure> {
    let mut stream = TcpStream::connect(address)
        .await
        .map_err(|e| Failure::Transient(format!("cannot connect to {address}: {e}")))?;
    let mut header = Writer::default();
    header
        .i16(api_key)
        .i16(api_version)
        .i32(1)
        .string(client_id);
    let len = (header.0.len() + body.0.len()) as i32;
    let mut frame = len.to_be_bytes().to_vec();
    frame.extend_from_slice(&header.0);
    frame.extend_from_slice(&body.0);
    let io = |e: std::io::Error| Failure::Transient(format!("{address}: {e}"));
    stream.write_all(&frame).await.map_err(io)?;
    let mut size = [0u8; 4];
    stream.read_exact(&mut size).await.map_err(io)?;
    let size = i32::from_be_bytes(size);
    if !(4..=64 << 20).contains(&size) {
        return Err(Failure::Transient(format!(
            "{address}: a response of {size} bytes from the group coordinator"
        )));
    }
    let mut response = vec![0u8; size as usize];
    stream.read_exact(&mut response).await.map_err(io)?;
    // The response header: the correlation id.
    Ok(response.split_off(4))
}

/// Where `group`'s coordinator is (`host:port`), asked of the first broker that answers.
async fn coordinator(brokers: &[String], group: &str, client_id: &str) -> Result<String, Failure> {
    let mut last = Failure::Transient("no bootstrap broker".into());
    for broker in brokers {
        let mut body = Writer::default();
        body.string(group);
        let response = match call(broker, FIND_COORDINATOR, 0, client_id, &body).await {
            Ok(r) => r,
            Err(e) => {
                last = e;
                continue;
            }
        };
        let mut r = Reader(&response);
        let code = r.i16()?;
        let _node = r.i32()?;
        let host = r.string()?.unwrap_or_default();
        let port = r.i32()?;
        if code != 0 {
            last = Failure::Transient(format!(
                "finding the coordinator of group {group:?}: {}",
                code_name(code)
            ));
            continue;
        }
        return Ok(format!("{host}:{port}"));
    }
    Err(last)
}

/// Commits `offsets` (each partition's next offset to read) for `group`.
pub(crate) async fn commit(
    brokers: &[String],
    group: &str,
    client_id: &str,
    offsets: &BTreeMap<TopicPartition, i64>,
) -> Result<(), Failure> {
    let address = coordinator(brokers, group, client_id).await?;
    let mut by_topic: BTreeMap<&str, Vec<(i32, i64)>> = BTreeMap::new();
    for (tp, o) in offsets {
        by_topic
            .entry(&tp.topic)
            .or_default()
            .push((tp.partition, *o));
    }
    let mut body = Writer::default();
    // A standalone consumer: no generation, no member, the broker's retention.
    body.string(group).i32(-1).string("").i64(-1);
    body.i32(by_topic.len() as i32);
    for (topic, parts) in &by_topic {
        body.string(topic).i32(parts.len() as i32);
        for (p, o) in parts {
            body.i32(*p).i64(*o).i16(-1);
        }
    }
    let response = call(&address, OFFSET_COMMIT, 2, client_id, &body).await?;
    let mut r = Reader(&response);
    for _ in 0..r.count()? {
        let topic = r.string()?.unwrap_or_default();
        for _ in 0..r.count()? {
            let partition = r.i32()?;
            let code = r.i16()?;
            if code != 0 {
                return Err(Failure::Transient(format!(
                    "committing group {group:?}'s offset of {topic}-{partition}: {}",
                    code_name(code)
                )));
            }
        }
    }
    Ok(())
}

/// `group`'s committed next offsets of `partitions` (those without one are left out).
pub(crate) async fn fetch(
    brokers: &[String],
    group: &str,
    client_id: &str,
    partitions: &[TopicPartition],
) -> Result<BTreeMap<TopicPartition, i64>, Failure> {
    let address = coordinator(brokers, group, client_id).await?;
    let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for tp in partitions {
        by_topic.entry(&tp.topic).or_default().push(tp.partition);
    }
    let mut body = Writer::default();
    body.string(group).i32(by_topic.len() as i32);
    for (topic, parts) in &by_topic {
        body.string(topic).i32(parts.len() as i32);
        for p in parts {
            body.i32(*p);
        }
    }
    let response = call(&address, OFFSET_FETCH, 1, client_id, &body).await?;
    let mut r = Reader(&response);
    let mut out = BTreeMap::new();
    for _ in 0..r.count()? {
        let topic = r.string()?.unwrap_or_default();
        for _ in 0..r.count()? {
            let partition = r.i32()?;
            let offset = r.i64()?;
            let _metadata = r.string()?;
            let code = r.i16()?;
            if code != 0 && code != 3 {
                return Err(Failure::Transient(format!(
                    "reading group {group:?}'s offset of {topic}-{partition}: {}",
                    code_name(code)
                )));
            }
            if offset >= 0 {
                out.insert(TopicPartition::new(topic.clone(), partition), offset);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_kafka_primitives_and_short_responses_are_failures() {
        let mut w = Writer::default();
        w.string("g").i32(-1).i64(2).i16(-1);
        assert_eq!(
            w.0,
            [
                0, 1, b'g', 255, 255, 255, 255, 0, 0, 0, 0, 0, 0, 0, 2, 255, 255
            ]
        );
        let mut r = Reader(&[0, 0, 0, 9]);
        assert!(r.count().is_err(), "an array longer than the bytes left");
        let mut r = Reader(&[0, 5, b'a']);
        assert!(r.string().is_err());
        let mut r = Reader(&[255, 255]);
        assert_eq!(r.string().unwrap(), None);
        assert!(code_name(16).contains("NOT_COORDINATOR"));
        assert_eq!(code_name(999), "Kafka error 999");
    }
}
