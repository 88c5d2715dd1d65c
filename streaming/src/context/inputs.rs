//! The input streams a context makes: sockets, custom receivers, queues of RDDs, unions,
//! directories of files and Kafka topics. Each is built by `input/` from the narrow
//! [`InputEnv`](crate::input::InputEnv) the context hands it.

use std::fmt::Display;
use std::path::Path;

use parking_lot::Mutex;
use spate_core::{Data, Rdd, Text};

use super::StreamingContext;
use crate::dstream::DStream;
use crate::input::receiver::Receiver;
use crate::input::socket::SocketReceiver;
use crate::input::{QueueOp, RddQueue};

impl StreamingContext {
    /// Lines of text from a TCP server at `host:port` (`\n` or `\r\n` terminated), as [`Text`]
    /// whose `split` pieces share the received buffer. Reconnects with capped exponential
    /// backoff when the server is down or drops the connection.
    ///
    /// # Examples
    ///
    /// ```
    /// let ssc = spate_streaming::StreamingContext::new(spate_core::Conf::new().set_master("local[2]"), std::time::Duration::from_secs(1)).unwrap();
    /// let lines = ssc.socket_text_stream("localhost", 9999); // connects on start()
    /// # drop(lines);
    /// ```
    pub fn socket_text_stream(&self, host: impl Into<String>, port: u16) -> DStream<Text> {
        let s = &self.shared.settings.input;
        let receiver = SocketReceiver::new(host.into(), port, s.max_line_bytes, s.max_backoff);
        self.receiver_stream_named("socket_text_stream", receiver)
    }

    /// A stream fed by a custom [`Receiver`].
    ///
    /// # Examples
    ///
    /// ```
    /// use spate_streaming::{Receiver, ReceiverHandle, StreamingContext};
    /// struct Silent;
    /// impl Receiver<u8> for Silent {
    ///     fn on_start(&mut self, _: ReceiverHandle<u8>) {}
    ///     fn on_stop(&mut self) {}
    /// }
    /// let ssc = StreamingContext::new(spate_core::Conf::new().set_master("local[1]"), std::time::Duration::from_secs(1)).unwrap();
    /// let s = ssc.receiver_stream(Silent);
    /// # drop(s);
    /// ```
    pub fn receiver_stream<T: Data>(&self, receiver: impl Receiver<T>) -> DStream<T> {
        self.receiver_stream_named("receiver_stream", receiver)
    }

    fn receiver_stream_named<T: Data>(
        &self,
        kind: &'static str,
        receiver: impl Receiver<T>,
    ) -> DStream<T> {
        crate::input::receiver_stream(&self.shared.input_env(), kind, receiver)
    }

    /// A stream fed from a queue of RDDs: each batch takes the next RDD (`one_at_a_time`) or
    /// the union of all queued ones; with none queued, `default` (or no RDD).
    ///
    /// # Examples
    ///
    /// ```
    /// use spate_streaming::{RddQueue, StreamingContext};
    /// let ssc = StreamingContext::new(spate_core::Conf::new().set_master("local[1]"), std::time::Duration::from_secs(1)).unwrap();
    /// let q = RddQueue::new();
    /// q.push(ssc.context().parallelize(vec![1, 2, 3], 1));
    /// let s = ssc.queue_stream(q, true, None);
    /// # drop(s);
    /// ```
    pub fn queue_stream<T: Data>(
        &self,
        queue: RddQueue<T>,
        one_at_a_time: bool,
        default: Option<Rdd<T>>,
    ) -> DStream<T> {
        let graph = &self.shared.graph;
        let op = QueueOp {
            queue,
            one_at_a_time,
            default,
            ctx: graph.ctx.clone(),
            last: Mutex::new(None),
        };
        DStream::from_op(graph, "queue_stream", graph.batch_interval, op)
    }

    /// The union of several streams: each batch's RDD is the union of theirs.
    ///
    /// # Examples
    ///
    /// ```
    /// use spate_streaming::testing::run_batches;
    /// let out = run_batches(vec![vec![1], vec![2]], |s| s.union(&s.map(|x| x * 10)), 2);
    /// assert_eq!(out, vec![vec![1, 10], vec![2, 20]]);
    /// ```
    pub fn union<T: Data>(&self, streams: &[DStream<T>]) -> DStream<T> {
        crate::dstream::ops::union_all(&self.shared.graph, streams)
    }

    /// A stream of the lines of new files in `dir` (see the file streams' guide for what
    /// counts as new). Files present now are not read.
    ///
    /// # Examples
    ///
    /// ```
    /// use spate_streaming::StreamingContext;
    /// let dir = tempfile::tempdir().unwrap();
    /// let ssc = StreamingContext::new(spate_core::Conf::new().set_master("local[1]"), std::time::Duration::from_secs(1)).unwrap();
    /// let lines = ssc.text_file_stream(dir.path());
    /// lines.print(10).unwrap();
    /// ```
    pub fn text_file_stream(&self, dir: impl AsRef<Path>) -> DStream<Text> {
        self.file_stream(dir, Ok::<Text, std::convert::Infallible>)
    }

    /// A stream of the records `parse` makes of the lines of new files in `dir`. A line it
    /// rejects is skipped and logged with the file's name and the reason.
    ///
    /// # Examples
    ///
    /// ```
    /// use spate_streaming::StreamingContext;
    /// let dir = tempfile::tempdir().unwrap();
    /// let ssc = StreamingContext::new(spate_core::Conf::new().set_master("local[1]"), std::time::Duration::from_secs(1)).unwrap();
    /// let numbers = ssc.file_stream(dir.path(), |line| line.trim().parse::<i64>());
    /// numbers.print(10).unwrap();
    /// ```
    pub fn file_stream<T: Data, E: Display>(
        &self,
        dir: impl AsRef<Path>,
        parse: impl Fn(Text) -> Result<T, E> + Send + Sync + 'static,
    ) -> DStream<T> {
        crate::input::file::file_stream(&self.shared.input_env(), dir.as_ref(), parse)
    }

    /// A stream of the JSON values of new files in `dir` (a directory, or an `s3://` prefix with
    /// the `s3` feature), one value per line — Spark's `readStream.json`. A blank line is
    /// skipped; a malformed one is skipped and counted: one input error per task with the count
    /// and the first reason (listeners, the status page, `input_errors`), never a failed batch.
    ///
    /// # Examples
    ///
    /// ```
    /// #[derive(Clone, serde::Serialize, serde::Deserialize)]
    /// struct Event { action: String, time: i64 }
    /// let dir = tempfile::tempdir().unwrap();
    /// let ssc = spate_streaming::StreamingContext::new(spate_core::Conf::new().set_master("local[1]"), std::time::Duration::from_secs(1)).unwrap();
    /// let events = ssc.json_file_stream::<Event>(dir.path());
    /// events.map(|e| (e.action, 1u64)).reduce_by_key(|a, b| a + b).print(10).unwrap();
    /// ```
    pub fn json_file_stream<T: Data>(&self, dir: impl AsRef<Path>) -> DStream<T> {
        self.file_stream(dir, parse_json_line::<T>).flat_map(|x| x)
    }

    #[cfg(feature = "kafka")]
    /// A direct stream of `topics` (Spark's `KafkaUtils.createDirectStream`): no receiver;
    /// each batch reads, for every partition of the topics, the offsets produced since the
    /// previous batch (bounded by `spate.streaming.kafka.maxRatePerPartition` and
    /// backpressure), one RDD partition per range, read by the task that computes it. The
    /// ranges are in the driver checkpoint, so a restarted driver rebuilds identical batches.
    /// Nothing is asked of the brokers until the first batch.
    ///
    /// # Examples
    ///
    /// ```
    /// use spate_streaming::StreamingContext;
    /// use spate_streaming::kafka::KafkaParams;
    /// let ssc = StreamingContext::new(spate_core::Conf::new().set_master("local[1]"), std::time::Duration::from_secs(1)).unwrap();
    /// let words = ssc.kafka_direct_stream(KafkaParams::new("127.0.0.1:9092"), &["events"]).unwrap()
    ///     .flat_map(|r| r.text().split(' ')).map(|w| (w, 1)).reduce_by_key(|a, b| a + b);
    /// assert!(ssc.kafka_direct_stream(KafkaParams::new("no-port"), &["events"]).is_err());
    /// ```
    pub fn kafka_direct_stream(
        &self,
        params: crate::input::kafka::KafkaParams,
        topics: &[&str],
    ) -> crate::Result<crate::input::kafka::KafkaStream> {
        crate::input::kafka::kafka_direct_stream(&self.shared.input_env(), params, topics)
    }
}

/// A JSON line as `T`; a blank line is `None` (not a record, not an error).
fn parse_json_line<T: Data>(line: Text) -> Result<Option<T>, String> {
    if line.trim().is_empty() {
        return Ok(None);
    }
    serde_json::from_str::<T>(&line)
        .map(Some)
        .map_err(|e| e.to_string())
}
