//! The inputs' settings — blocks, receivers, rates and backpressure, the write-ahead log, file
//! streams and Kafka — read from the configuration once, when the context is made.

use std::time::Duration;

use spate_core::Conf;

use super::EstimatorKind;
use super::RateSettings;
use super::receiver::SupervisorSettings;
use crate::error::Result;

/// The inputs' keys: blocks, receivers, rates and backpressure, the write-ahead log, file streams.
pub(crate) const KEYS: &[spate_core::conf::KeySpec] = spate_core::key_table! {
    "spate.streaming.blockInterval", Duration, Some("200ms"), Some("1ms"), Some("1h"), "How often received records are cut into blocks: a block per core, of equal size, one input partition each.";
    "spate.streaming.receiver.maxLineBytes", Size, Some("1m"), Some("64"), Some("1g"), "Longest line a socket receiver accepts; longer lines are skipped and counted.";
    "spate.streaming.receiver.maxPendingRecords", Count, Some("10000000"), None, Some("1000000000"), "Records a receiver holds before it stops reading its source (TCP then pushes back on the sender). A socket stream's line costs its bytes (~41 in the benchmark), so 10M bounds a 1 s batch and the next at ~400 MiB. A batch's records stay pending until it completes while the next batch's arrive, so a receiver sustains at most about this bound / (interval + processing time). With backpressure on, a receiver holds half of it until backpressure first sets a rate. Pending lines beyond `spate.storage.memory` spill to disk (slowly, said once in a warning): with lines much longer than ~50 bytes, lower this or raise that.";
    "spate.streaming.receiver.maxReconnectBackoff", Duration, Some("5s"), Some("10ms"), Some("1h"), "Longest wait between reconnection attempts of a socket receiver (the backoff doubles up to it).";
    "spate.streaming.receiver.maxRate", Count, None, None, None, "Records per second each receiver may store (unset: no limit); a limited receiver waits (a socket is then not read, and TCP slows the sender); backpressure never exceeds it. Allowance left unused (a receiver starved of CPU while a batch runs) may be caught up, up to a quarter of a batch interval's worth (100 ms at least).";
    "spate.streaming.backpressure.enabled", Bool, Some("true"), None, None, "Let a rate estimator set each receiver's rate after every batch from processing times, delays and what the receiver stored, so batches stay steady under overload (Spark's default is off: its floods swing between full and empty batches).";
    "spate.streaming.backpressure.rateEstimator", OneOf(&["steady", "pid"]), Some("steady"), None, None, "Backpressure's estimator. `steady`: no limit while processing has room; once loaded (processing at least half the interval, a batch waited, or the receiver was held back), 90% of the processing capacity (less what a delay needs to drain), and at most what the receiver stored since the last batch raised by what would bring processing to 90% of the interval (10-50%), so the limit binds, batches stay even, and a low limit climbs in a few batches. `pid`: Spark's PID controller (P 1.0, I 0.2, D 0, min 100/s).";
    "spate.streaming.backpressure.initialRate", Count, None, None, None, "With backpressure, the rate of the first batches, before the controller has measured any.";
    "spate.streaming.receiver.writeAheadLog.enable", Bool, Some("false"), None, None, "Append every received block to a write-ahead log in the checkpoint directory before acknowledging it, so a restarted driver loses nothing received (needs `ssc.checkpoint(dir)`). Written with `O_DIRECT` where the file system allows, off the receiver's path; lines are logged as they came (one copy); durable stores share one write and sync, and so do the blocks of one cut (group commit). A batch takes the blocks already written: records wait up to one blockInterval longer. In a cluster the executor running the receiver writes it (the checkpoint directory must be one every host sees), and a block whose every copy is lost is read back from it.";
    "spate.streaming.receiver.writeAheadLog.rollingInterval", Duration, Some("60s"), Some("1s"), None, "How long a write-ahead log segment is appended to before a new one starts (old segments are deleted once no batch needs them).";
    "spate.streaming.fileStream.maxSplitBytes", Size, Some("64m"), Some("1k"), None, "Largest byte range of a file a file stream's task reads (a bigger file is read as several partitions, each a chunk at a time).";
    "spate.streaming.fileStream.allowMissingOnReplay", Bool, Some("false"), None, None, "After a driver restart, replay batches whose files are gone without those files (each loss reported) instead of failing with the file's name.";
    "spate.streaming.receiver.placement", OneOf(&["executors", "driver"]), Some("executors"), None, None, "In a cluster application, where receivers run. `executors`: each on an executor (spread over them; `Receiver::preferred_location` honoured), which stores its blocks and copies them to a second one: received data never passes through the driver, and a receiver whose executor is lost starts again on another. `driver`: on the driver, as in local mode, for a source only the submit host can reach; executors then fetch every block from the driver. The write-ahead log, when on, is written where the receiver runs.";
    "spate.streaming.receiver.replication", Count, Some("2"), Some("1"), Some("2"), "In a cluster application: copies of each received block, on different executors (Spark's `MEMORY_AND_DISK_SER_2` for receivers). The receiving executor stores a block, copies it to a second executor, then reports it to the driver (a durable store returns after that), so a batch reads the copy when the receiving executor is lost. 1: one copy (a lost executor loses the blocks no batch has finished). With one executor alive, blocks have one copy until another registers.";
    "spate.streaming.receiverRestartDelay", Duration, Some("2s"), Some("1ms"), Some("1h"), "Wait before a receiver that asked to restart is started again.";
};

/// Settings of a context's inputs.
pub(crate) struct InputSettings {
    pub(crate) block_interval: Duration,
    pub(crate) max_line_bytes: usize,
    pub(crate) max_pending: usize,
    pub(crate) max_backoff: Duration,
    pub(crate) restart_delay: Duration,
    pub(crate) max_rate: Option<usize>,
    pub(crate) backpressure: bool,
    pub(crate) estimator: EstimatorKind,
    pub(crate) initial_rate: Option<usize>,
    pub(crate) wal: bool,
    pub(crate) wal_rolling: Duration,
    pub(crate) file_split_bytes: u64,
    pub(crate) allow_missing_on_replay: bool,
    pub(crate) replication: usize,
    /// `spate.streaming.receiver.placement` is `executors`.
    pub(crate) on_executors: bool,
    #[cfg(feature = "kafka")]
    pub(crate) kafka: super::kafka::KafkaSettings,
}

impl InputSettings {
    pub(crate) fn from_conf(conf: &Conf) -> Result<InputSettings> {
        let dur = |k| conf.get_duration(k).map(|d| d.unwrap_or_default());
        Ok(InputSettings {
            block_interval: dur("spate.streaming.blockInterval")?,
            max_line_bytes: conf.get_size("spate.streaming.receiver.maxLineBytes")? as usize,
            max_pending: conf.get_count("spate.streaming.receiver.maxPendingRecords")?,
            max_backoff: dur("spate.streaming.receiver.maxReconnectBackoff")?,
            restart_delay: dur("spate.streaming.receiverRestartDelay")?,
            max_rate: conf.get_opt_count("spate.streaming.receiver.maxRate")?,
            backpressure: conf
                .get_bool("spate.streaming.backpressure.enabled")?
                .unwrap_or(true),
            estimator: match conf.get("spate.streaming.backpressure.rateEstimator") {
                Some("pid") => EstimatorKind::Pid,
                _ => EstimatorKind::Steady,
            },
            initial_rate: conf.get_opt_count("spate.streaming.backpressure.initialRate")?,
            wal: conf
                .get_bool("spate.streaming.receiver.writeAheadLog.enable")?
                .unwrap_or(false),
            wal_rolling: dur("spate.streaming.receiver.writeAheadLog.rollingInterval")?,
            file_split_bytes: conf.get_size("spate.streaming.fileStream.maxSplitBytes")?,
            allow_missing_on_replay: conf
                .get_bool("spate.streaming.fileStream.allowMissingOnReplay")?
                .unwrap_or(false),
            replication: conf.get_count("spate.streaming.receiver.replication")?,
            on_executors: conf.get("spate.streaming.receiver.placement") != Some("driver"),
            #[cfg(feature = "kafka")]
            kafka: super::kafka::KafkaSettings::from_conf(conf)?,
        })
    }

    /// How fast a receiver of a context with batches of `batch_interval` may store.
    pub(crate) fn rates(&self, batch_interval: Duration) -> RateSettings {
        RateSettings {
            max_rate: self.max_rate,
            backpressure: self.backpressure,
            estimator: self.estimator,
            initial_rate: self.initial_rate,
            batch_interval_ms: batch_interval.as_millis() as u64,
        }
    }

    /// The timing a receiver's supervisor runs by.
    pub(crate) fn supervisor(&self, batch_interval: Duration) -> SupervisorSettings {
        SupervisorSettings {
            restart_delay: self.restart_delay,
            block_interval: self.block_interval,
            batch_interval,
        }
    }
}
