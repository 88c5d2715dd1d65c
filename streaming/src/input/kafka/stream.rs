//! The direct stream: the driver turns each batch time into offset ranges (allocation, on the
//! job generator's thread), the batch's RDD reads them (tasks, wherever they run).

use std::collections::BTreeMap;
use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use spate_core::{Context, PartitionIter, Rdd, Source};

use super::client::{Failure, KafkaClient};
use super::params::{KafkaParams, OnOutOfRange, StartingOffsets};
use super::ranges::{KafkaRateLimits, OffsetRange, TopicPartition};
use super::record::KafkaRecord;
use crate::common::Time;
use crate::common::{ReceiverStats, StreamId};
use crate::dstream::{DStream, StreamOp};
use crate::input::control::InputControl;
use crate::input::rate::{
    BatchObservation, PidRateEstimator, RateDecision, RateEstimator, SteadyRateEstimator,
};
use crate::input::{BatchEnd, EstimatorKind, InputEnv};
use crate::listener::Reporter;

/// What the direct stream reads for each batch, and where it goes on from.
#[derive(Default)]
struct Positions {
    /// The next offset to read of every partition seen (after the last generated batch).
    next: BTreeMap<TopicPartition, i64>,
    /// Each recent batch's ranges (kept for a restart, the executors and the sinks that keep
    /// offsets; pruned as batches are released or checkpointed).
    batches: BTreeMap<Time, Vec<OffsetRange>>,
    /// Batches that cannot be read, and why (the batch fails with it).
    failed: BTreeMap<Time, String>,
    /// After a restore: batches up to this time replay their saved ranges.
    replay_through: Option<Time>,
    /// What each recent batch was offered (for backpressure).
    offered: BTreeMap<Time, Offered>,
    /// Backpressure's rate for the whole stream, records/s.
    rate: Option<f64>,
    records: u64,
    errors: u64,
    /// A broker problem said once, until the broker answers again.
    unreachable: bool,
    /// Topics said to be missing.
    missing: Vec<String>,
    /// Whether the broker was asked for offsets once: partitions that appear after that (new
    /// topics, added partitions) start at their first record whatever the starting offsets.
    looked: bool,
}

/// What a batch could have read, for backpressure.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Offered {
    /// Records in the log past the stream's position when the batch was cut (the lag).
    available: u64,
    /// Whether a rate limit cut the batch's ranges short of it.
    limited: bool,
}

/// What backpressure's estimator is told of a completed batch: its records and times, whether
/// the limit held it back (the direct stream's way of being held back), and as its intake
/// what the log offered (so a backlog lets the limit rise to what processing can do).
fn observation(
    info: &crate::listener::BatchInfo,
    stream: StreamId,
    batch_ms: u64,
    offered: Offered,
) -> BatchObservation {
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    BatchObservation {
        time_ms: info.batch_time.millis(),
        records: info.stream_records.get(&stream).copied().unwrap_or(0),
        processing_ms: ms(info.processing_time),
        scheduling_delay_ms: ms(info.scheduling_delay),
        held_back_ms: if offered.limited {
            batch_ms as f64
        } else {
            0.0
        },
        stored_per_sec: offered.available as f64 * 1000.0 / batch_ms.max(1) as f64,
    }
}

/// The direct stream's part of the driver checkpoint.
#[derive(Serialize, Deserialize)]
struct Saved {
    next: Vec<(TopicPartition, i64)>,
    batches: Vec<(Time, Vec<OffsetRange>)>,
}

/// A Kafka direct stream: its input control (allocation, backpressure) and its RDDs.
pub(crate) struct KafkaInput {
    stream: StreamId,
    reporter: Reporter,
    ctx: Context,
    client: Arc<KafkaClient>,
    topics: Vec<String>,
    starting: StartingOffsets,
    from: BTreeMap<TopicPartition, i64>,
    on_out_of_range: OnOutOfRange,
    group_id: Option<String>,
    limits: KafkaRateLimits,
    max_per_task: u64,
    batch_ms: u64,
    keep_batches: bool,
    initial_rate: Option<f64>,
    estimator: Option<Mutex<Box<dyn RateEstimator>>>,
    state: Mutex<Positions>,
}

impl KafkaInput {
    fn report(&self, message: String) {
        self.reporter.input_error(self.stream, &message);
        self.state.lock().errors += 1;
    }

    /// The ranges of a new batch at `time` (the driver, not replaying). A broker that cannot
    /// be reached gives the batch nothing: positions stay, the next batch reads what it missed.
    fn new_ranges(&self, time: Time) -> Result<Vec<OffsetRange>, String> {
        let (tps, missing) = match self.client.partitions_of(&self.topics) {
            Ok(found) => found,
            Err(e) => return self.unreachable(e),
        };
        let new_missing: Vec<String> = {
            let mut st = self.state.lock();
            let said: Vec<String> = missing
                .iter()
                .filter(|t| !st.missing.contains(t))
                .cloned()
                .collect();
            st.missing = missing;
            said
        };
        for t in new_missing {
            self.report(format!(
                "topic {t:?} does not exist on {} (create it: spate reads it from the batch after it appears)",
                self.client.brokers()
            ));
        }
        let offsets = match self.client.offsets(&tps) {
            Ok(o) => o,
            Err(e) => return self.unreachable(e),
        };
        // At the first look, a consumer group's committed offsets (explicit ones win).
        let committed = match &self.group_id {
            Some(group) if !self.state.lock().looked => {
                let unknown: Vec<TopicPartition> = tps
                    .iter()
                    .filter(|tp| !self.from.contains_key(tp))
                    .cloned()
                    .collect();
                match self.client.group_offsets(group, &unknown) {
                    Ok(c) => c,
                    Err(e) => return self.unreachable(e),
                }
            }
            _ => BTreeMap::new(),
        };
        let mut st = self.state.lock();
        if std::mem::take(&mut st.unreachable) {
            tracing::info!(
                "{}: Kafka at {} answers again; reading from where the stream was",
                self.stream,
                self.client.brokers()
            );
        }
        // Partitions seen for the first time (at start, or added to a topic later).
        let first_look = !std::mem::replace(&mut st.looked, true);
        for (tp, (earliest, latest)) in &offsets {
            if st.next.contains_key(tp) {
                continue;
            }
            let start = match self.from.get(tp).or(committed.get(tp)) {
                Some(o) => *o,
                // A partition added while running starts at its beginning: nothing is lost.
                None if !first_look => *earliest,
                None => match self.starting {
                    StartingOffsets::Earliest => *earliest,
                    StartingOffsets::Latest => *latest,
                },
            };
            st.next.insert(tp.clone(), start);
        }
        // Out of range: the log no longer holds what the stream would read next.
        let mut lost = Vec::new();
        for (tp, (earliest, latest)) in &offsets {
            let from = st.next[tp];
            if from < *earliest || from > *latest {
                match self.on_out_of_range {
                    OnOutOfRange::Fail => {
                        return Err(format!(
                            "{tp}: the stream's next offset {from} is not in the log (it holds [{earliest}, {latest}): deleted by retention, or the topic was truncated or recreated). Restart from a position that exists (KafkaParams::from_offsets), or with KafkaParams::on_out_of_range(OnOutOfRange::SkipToEarliest) to go on and have the loss reported"
                        ));
                    }
                    OnOutOfRange::SkipToEarliest => {
                        lost.push(format!(
                            "{tp}: offsets [{from}, {earliest}) were gone from the log before they were read; going on from {earliest}"
                        ));
                        st.next.insert(tp.clone(), *earliest);
                    }
                }
            }
        }
        let lags: BTreeMap<TopicPartition, u64> = offsets
            .iter()
            .map(|(tp, (_, latest))| (tp.clone(), (latest - st.next[tp]).max(0) as u64))
            .collect();
        let rate = st.rate.or(if self.estimator.is_some() {
            self.initial_rate
        } else {
            None
        });
        let max = self.limits.max_messages(&lags, self.batch_ms, rate);
        let ranges: Vec<OffsetRange> = offsets
            .iter()
            .map(|(tp, (_, latest))| {
                KafkaRateLimits::clamp(tp, st.next[tp], *latest, max.get(tp).copied())
            })
            .collect();
        let offered = Offered {
            available: lags.values().sum(),
            limited: ranges
                .iter()
                .any(|r| r.until < offsets[&r.topic_partition()].1),
        };
        st.offered.insert(time, offered);
        for r in &ranges {
            st.next.insert(r.topic_partition(), r.until);
        }
        drop(st);
        for l in lost {
            self.report(l);
        }
        Ok(ranges)
    }

    fn unreachable(&self, e: Failure) -> Result<Vec<OffsetRange>, String> {
        let first = !std::mem::replace(&mut self.state.lock().unreachable, true);
        let message = format!(
            "Kafka at {} cannot be asked for offsets ({e}); this batch reads nothing and the next batches read what it missed once the broker answers",
            self.client.brokers()
        );
        if first {
            self.report(message);
        } else {
            tracing::warn!("{}: {message}", self.stream);
        }
        Ok(Vec::new())
    }

    fn ranges_of(&self, time: Time) -> Option<Vec<OffsetRange>> {
        self.state.lock().batches.get(&time).cloned()
    }

    /// How batch `info` went, for backpressure.
    fn observe(&self, info: &crate::listener::BatchInfo) {
        let Some(estimator) = &self.estimator else {
            return;
        };
        let (offered, rate) = {
            let st = self.state.lock();
            (
                st.offered
                    .get(&info.batch_time)
                    .copied()
                    .unwrap_or_default(),
                st.rate,
            )
        };
        let observed = observation(info, self.stream, self.batch_ms, offered);
        let decision = estimator.lock().observe(&observed, rate);
        let mut st = self.state.lock();
        match decision {
            RateDecision::Keep => {}
            RateDecision::Limit(r) => st.rate = Some(r),
            RateDecision::Unlimited => st.rate = None,
        }
    }
}

impl InputControl for KafkaInput {
    fn start(&self, _reporter: &Reporter, _runtime: tokio::runtime::Handle) {}

    fn stop(&self) {}

    fn allocate(&self, time: Time) -> u64 {
        let count = |r: &[OffsetRange]| r.iter().map(OffsetRange::count).sum();
        {
            let st = self.state.lock();
            let replaying = st.replay_through.is_some_and(|t| time <= t);
            if !self.ctx.is_driver() || replaying {
                return st.batches.get(&time).map_or(0, |r| count(r));
            }
            if let Some(r) = st.batches.get(&time) {
                return count(r);
            }
        }
        let ranges = match self.new_ranges(time) {
            Ok(r) => r,
            Err(why) => {
                tracing::error!("{}: {why}", self.stream);
                self.state.lock().failed.insert(time, why);
                Vec::new()
            }
        };
        let n = count(&ranges);
        let mut st = self.state.lock();
        st.records += n;
        st.batches.insert(time, ranges);
        n
    }

    fn on_batch_end(&self, end: &BatchEnd<'_>) {
        if let Some(info) = end.info {
            self.observe(info);
        }
        let mut st = self.state.lock();
        let time = end.release_through;
        let after = time + Duration::from_millis(1);
        st.offered = st.offered.split_off(&after);
        st.failed = st.failed.split_off(&after);
        if !self.keep_batches {
            st.batches = st.batches.split_off(&after);
        }
    }

    fn all_allocated(&self) -> bool {
        true
    }

    fn stats(&self) -> ReceiverStats {
        let st = self.state.lock();
        ReceiverStats {
            stream: self.stream,
            records: st.records,
            errors: st.errors,
            rate_limit: st.rate.map(|r| r as u64),
            ..ReceiverStats::default()
        }
    }

    fn stream(&self) -> StreamId {
        self.stream
    }

    fn enable_wal(&self, _dir: &std::path::Path, _rolling: Duration) -> crate::Result<()> {
        // Kafka keeps the records: a batch is replayed from its ranges, no log needed.
        Ok(())
    }

    fn allocation_of(&self, time: Time) -> (Vec<spate_core::ids::InputBlockId>, usize) {
        let n = self
            .ranges_of(time)
            .map_or(0, |r| r.iter().map(OffsetRange::count).sum::<u64>());
        (Vec::new(), n as usize)
    }

    fn follow_allocation(
        &self,
        _time: Time,
        _ids: Vec<spate_core::ids::InputBlockId>,
        _records: usize,
    ) {
    }
}

/// The stream op: a batch's RDD reads its ranges.
struct KafkaOp {
    input: Arc<KafkaInput>,
}

/// A batch's ranges as RDD partitions: one per range, a range longer than
/// `maxRecordsPerTask` cut into several.
struct KafkaRead {
    client: Arc<KafkaClient>,
    parts: Vec<OffsetRange>,
}

impl Source<KafkaRecord> for KafkaRead {
    fn num_partitions(&self) -> usize {
        self.parts.len()
    }

    fn compute(&self, partition: usize) -> spate_core::Result<PartitionIter<KafkaRecord>> {
        let range = &self.parts[partition];
        match self.client.fetch(range) {
            Ok(records) => Ok(PartitionIter::new(records.into_iter())),
            Err(e) => Err(spate_core::Error::Input {
                source_name: format!("kafka {range}"),
                fatal: matches!(e, Failure::OutOfRange(_)),
                message: match e {
                    Failure::OutOfRange(m) => format!(
                        "these records are no longer in the log ({m}): they were deleted by retention or the topic was truncated before the batch read them"
                    ),
                    Failure::Transient(m) => m,
                },
            }),
        }
    }

    fn identity(&self) -> String {
        let parts: Vec<String> = self.parts.iter().map(|r| r.to_string()).collect();
        parts.join(" ")
    }
}

/// `ranges` with each longer than `max` records cut into pieces of at most `max`.
fn split(ranges: &[OffsetRange], max: u64) -> Vec<OffsetRange> {
    let max = max.max(1) as i64;
    let mut out = Vec::new();
    for r in ranges.iter().filter(|r| r.count() > 0) {
        let mut from = r.from;
        while from < r.until {
            let until = r.until.min(from.saturating_add(max));
            out.push(OffsetRange::new(r.topic.clone(), r.partition, from, until));
            from = until;
        }
    }
    out
}

impl StreamOp<KafkaRecord> for KafkaOp {
    fn compute(&self, time: Time) -> spate_core::Result<Option<Rdd<KafkaRecord>>> {
        let input = &self.input;
        let (ranges, failed) = {
            let st = input.state.lock();
            (
                st.batches.get(&time).cloned().unwrap_or_default(),
                st.failed.get(&time).cloned(),
            )
        };
        if let Some(why) = failed {
            return Err(spate_core::Error::Input {
                source_name: format!("kafka {}", input.topics.join(",")),
                message: why,
                fatal: true,
            });
        }
        let read = KafkaRead {
            client: Arc::clone(&input.client),
            parts: split(&ranges, input.max_per_task),
        };
        Ok(Some(input.ctx.source("kafka", read)))
    }

    fn announce_input(&self, time: Time) -> Option<Vec<u8>> {
        let st = self.input.state.lock();
        let batch = (
            st.batches.get(&time).cloned().unwrap_or_default(),
            st.failed.get(&time).cloned(),
        );
        spate_core::codec::encode(&batch).ok()
    }

    fn follow_input(&self, time: Time, announced: &[u8]) {
        match spate_core::codec::decode::<(Vec<OffsetRange>, Option<String>)>(
            announced,
            "a batch's Kafka offset ranges",
        ) {
            Ok((ranges, failed)) => {
                let mut st = self.input.state.lock();
                st.batches.insert(time, ranges);
                if let Some(why) = failed {
                    st.failed.insert(time, why);
                }
            }
            Err(e) => tracing::error!("{e}"),
        }
    }

    fn snapshot_input(&self, keep_from: Time) -> Option<(Vec<u8>, Vec<std::path::PathBuf>)> {
        let saved = {
            let mut st = self.input.state.lock();
            let keep = st
                .batches
                .split_off(&(keep_from + Duration::from_millis(1)));
            st.batches = keep;
            Saved {
                next: st.next.iter().map(|(tp, o)| (tp.clone(), *o)).collect(),
                batches: st.batches.iter().map(|(t, r)| (*t, r.clone())).collect(),
            }
        };
        match spate_core::codec::encode(&saved) {
            Ok(bytes) => Some((bytes, Vec::new())),
            Err(e) => {
                tracing::error!("could not checkpoint the Kafka stream's offsets: {e}");
                None
            }
        }
    }

    fn restore_input(&self, saved: &[u8], last_generated: Time) -> crate::Result<()> {
        let saved: Saved = spate_core::codec::decode(saved, "the Kafka stream's checkpoint")?;
        let mut st = self.input.state.lock();
        st.next = saved.next.into_iter().collect();
        st.batches = saved.batches.into_iter().collect();
        st.replay_through = Some(last_generated);
        st.looked = true;
        Ok(())
    }
}

/// A Kafka direct stream: a [`DStream`] of [`KafkaRecord`]s (it derefs to one) that also
/// tells each batch's [`OffsetRange`]s — to commit them with the results
/// (`spate_sql::Sink::keep_kafka_offsets`) or to log them.
///
/// # Examples
///
/// ```no_run
/// use spate_streaming::StreamingContext;
/// use spate_streaming::kafka::KafkaParams;
/// let ssc = StreamingContext::new(spate_core::Conf::new().set_master("local[2]"), std::time::Duration::from_secs(1))?;
/// let stream = ssc.kafka_direct_stream(KafkaParams::new("127.0.0.1:9092"), &["events"])?;
/// let ranges = stream.clone();
/// stream.foreach_rdd(move |rdd, t| {
///     println!("{t}: {} records from {:?}", rdd.count()?, ranges.offset_ranges(t));
///     Ok(())
/// })?;
/// # Ok::<(), spate_streaming::Error>(())
/// ```
#[derive(Clone)]
pub struct KafkaStream {
    stream: DStream<KafkaRecord>,
    input: Arc<KafkaInput>,
}

impl Deref for KafkaStream {
    type Target = DStream<KafkaRecord>;
    fn deref(&self) -> &DStream<KafkaRecord> {
        &self.stream
    }
}

impl KafkaStream {
    /// The ranges batch `time` reads (`None`: not a batch of this stream, or long released).
    ///
    /// # Examples
    ///
    /// ```
    /// use spate_streaming::{StreamingContext, Time};
    /// use spate_streaming::kafka::KafkaParams;
    /// let ssc = StreamingContext::new(spate_core::Conf::new().set_master("local[1]"), std::time::Duration::from_secs(1)).unwrap();
    /// let s = ssc.kafka_direct_stream(KafkaParams::new("127.0.0.1:9092"), &["t"]).unwrap();
    /// assert_eq!(s.offset_ranges(Time::from_millis(1000)), None);
    /// ```
    pub fn offset_ranges(&self, time: Time) -> Option<Vec<OffsetRange>> {
        self.input.ranges_of(time)
    }

    /// Commits batch `time`'s range ends as the consumer group's offsets
    /// ([`KafkaParams::group_id`]) — Spark's `commitAsync`: call it in the batch's last output
    /// operation, after the output, so a restarted job starts after what was output. A crash
    /// between output and commit repeats the batch's output (at least once). In an executor of
    /// a cluster application it does nothing (the driver commits).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use spate_streaming::StreamingContext;
    /// use spate_streaming::kafka::KafkaParams;
    /// let ssc = StreamingContext::new(spate_core::Conf::new().set_master("local[2]"), std::time::Duration::from_secs(1))?;
    /// let stream = ssc.kafka_direct_stream(KafkaParams::new("127.0.0.1:9092").group_id("counts"), &["events"])?;
    /// let commit = stream.clone();
    /// stream.foreach_rdd(move |rdd, t| {
    ///     rdd.count()?; // the output
    ///     commit.commit_offsets(t).map_err(|e| spate_core::Error::Output(Box::new(e)))
    /// })?;
    /// # Ok::<(), spate_streaming::Error>(())
    /// ```
    pub fn commit_offsets(&self, time: Time) -> crate::Result<()> {
        let input = &self.input;
        if !input.ctx.is_driver() {
            return Ok(());
        }
        let Some(group) = &input.group_id else {
            return Err(crate::Error::Kafka {
                message: "commit_offsets needs a consumer group: KafkaParams::group_id(\"...\")"
                    .into(),
            });
        };
        let Some(ranges) = input.ranges_of(time) else {
            return Err(crate::Error::Kafka {
                message: format!(
                    "the batch of {time} is not known (any more): commit from the batch's own output operation"
                ),
            });
        };
        let offsets: BTreeMap<TopicPartition, i64> = ranges
            .iter()
            .map(|r| (r.topic_partition(), r.until))
            .collect();
        if offsets.is_empty() {
            return Ok(());
        }
        input
            .client
            .commit_group(group, &offsets)
            .map_err(|e| crate::Error::Kafka {
                message: format!(
                    "cannot commit the offsets of the batch of {time} for group {group:?} ({e}); the next commit covers them"
                ),
            })
    }

    /// The stream as a plain [`DStream`].
    ///
    /// # Examples
    ///
    /// ```
    /// use spate_streaming::StreamingContext;
    /// use spate_streaming::kafka::KafkaParams;
    /// let ssc = StreamingContext::new(spate_core::Conf::new().set_master("local[1]"), std::time::Duration::from_secs(1)).unwrap();
    /// let s = ssc.kafka_direct_stream(KafkaParams::new("127.0.0.1:9092"), &["t"]).unwrap();
    /// let values = s.stream().map(|r| r.text());
    /// ```
    pub fn stream(&self) -> &DStream<KafkaRecord> {
        &self.stream
    }
}

/// A direct stream of `topics` ([`crate::StreamingContext::kafka_direct_stream`]).
pub(crate) fn kafka_direct_stream(
    env: &InputEnv,
    params: KafkaParams,
    topics: &[&str],
) -> crate::Result<KafkaStream> {
    params
        .validate(topics)
        .map_err(|message| crate::Error::Kafka { message })?;
    let security = super::security::Security::from_props(&params.props)
        .map_err(|message| crate::Error::Kafka { message })?;
    let s = &env.settings;
    let batch_ms = env.graph.batch_interval.as_millis() as u64;
    let stream = env.graph.peek_stream_id();
    let input = Arc::new(KafkaInput {
        stream,
        reporter: env.reporter.clone(),
        ctx: env.graph.ctx.clone(),
        client: Arc::new(KafkaClient::new(
            params.brokers,
            security,
            params.client_id,
            s.kafka.request_timeout,
            s.kafka.fetch_max_wait,
            s.kafka.max_fetch_bytes,
        )),
        topics: topics.iter().map(|t| t.to_string()).collect(),
        starting: params.starting,
        from: params.from,
        on_out_of_range: params.on_out_of_range,
        group_id: params.group_id,
        limits: KafkaRateLimits {
            max_rate_per_partition: s.kafka.max_rate_per_partition,
            per_partition: BTreeMap::new(),
            min_rate_per_partition: s.kafka.min_rate_per_partition,
        },
        max_per_task: s.kafka.max_records_per_task,
        batch_ms,
        keep_batches: env.graph.checkpoint_base().is_some(),
        initial_rate: s.initial_rate.map(|r| r as f64),
        estimator: s.backpressure.then(|| {
            Mutex::new(match s.estimator {
                EstimatorKind::Steady => {
                    Box::new(SteadyRateEstimator::new(batch_ms)) as Box<dyn RateEstimator>
                }
                EstimatorKind::Pid => Box::new(PidRateEstimator::new(batch_ms)),
            })
        }),
        state: Mutex::new(Positions::default()),
    });
    env.inputs.add(Arc::clone(&input) as _);
    let op = KafkaOp {
        input: Arc::clone(&input),
    };
    let stream = DStream::from_op(&env.graph, "kafka", env.graph.batch_interval, op);
    Ok(KafkaStream { stream, input })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backpressure_hears_the_lag_as_intake_and_a_cut_batch_as_held_back() {
        let stream = StreamId(3);
        let info = crate::listener::BatchInfo {
            batch_time: Time::from_millis(2000),
            processing_time: Duration::from_millis(900),
            stream_records: BTreeMap::from([(stream, 500)]),
            ..Default::default()
        };
        let cut = Offered {
            available: 20_000,
            limited: true,
        };
        let o = observation(&info, stream, 1000, cut);
        assert_eq!((o.records, o.processing_ms), (500, 900.0));
        assert_eq!((o.held_back_ms, o.stored_per_sec), (1000.0, 20_000.0));
        // Loaded (900 ms of 1 s) and held back with a backlog: the limit goes to 90% of what
        // processing did (500 records in 0.9 s), not to what the limit let through.
        let mut e = SteadyRateEstimator::new(1000);
        let RateDecision::Limit(r) = e.observe(&o, Some(500.0)) else {
            panic!("a loaded, held-back stream is limited")
        };
        assert!((r - 0.9 * 500.0 / 0.9).abs() < 1.0, "{r}");
        let all = observation(
            &info,
            stream,
            1000,
            Offered {
                available: 500,
                limited: false,
            },
        );
        assert_eq!(all.held_back_ms, 0.0);
    }

    #[test]
    fn long_ranges_are_read_by_several_tasks_and_empty_ones_by_none() {
        let ranges = vec![
            OffsetRange::new("t", 0, 0, 25),
            OffsetRange::new("t", 1, 7, 7),
            OffsetRange::new("t", 2, 3, 9),
        ];
        let parts = split(&ranges, 10);
        let shown: Vec<String> = parts.iter().map(|r| r.to_string()).collect();
        assert_eq!(
            shown,
            ["t-0 [0, 10)", "t-0 [10, 20)", "t-0 [20, 25)", "t-2 [3, 9)"]
        );
    }
}
