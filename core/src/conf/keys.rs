//! The table of every `spate.*` key spate reads, with its value form, default, bounds and
//! meaning; the bounds check and the nearest key to a typo.

use crate::error::Result;

use super::{Conf, parse_duration, parse_size};

/// The value form a known key takes.
///
/// # Examples
///
/// ```
/// use spate_core::conf::{KNOWN_KEYS, ValueKind};
/// let k = KNOWN_KEYS.iter().find(|k| k.key == "spate.task.maxFailures").unwrap();
/// assert_eq!(k.kind, ValueKind::Count);
/// ```
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ValueKind {
    /// A master URL: `local`, `local[N]`, `local[*]`, `local-cluster[N,C]`, `slurm`.
    Master,
    /// A TCP port, 0 to 65535 (0: any free port).
    Port,
    /// Free text.
    Text,
    /// A whole number >= 1.
    Count,
    /// A duration with a unit, e.g. `200ms`.
    Duration,
    /// A byte size with an optional unit, e.g. `64m`.
    Size,
    /// `true` or `false`.
    Bool,
    /// One of the listed words.
    OneOf(&'static [&'static str]),
}

/// A configuration key spate reads, with its default and meaning.
///
/// # Examples
///
/// ```
/// let k = &spate_core::conf::KNOWN_KEYS[0];
/// assert!(k.key.starts_with("spate."));
/// ```
#[derive(Debug)]
pub struct KeySpec {
    /// The key.
    pub key: &'static str,
    /// Its value form.
    pub kind: ValueKind,
    /// The default, when the key has one.
    pub default: Option<&'static str>,
    /// The smallest value accepted (in the key's own form), when there is a bound.
    pub min: Option<&'static str>,
    /// The largest value accepted (in the key's own form), when there is a bound.
    pub max: Option<&'static str>,
    /// What it controls.
    pub doc: &'static str,
}

macro_rules! keys {
    ($($key:literal, $kind:ident $(($words:expr))?, $default:expr, $min:expr, $max:expr, $doc:literal;)*) => {
        /// Every `spate.*` key spate reads, with its form, default, bounds and meaning.
        pub const KNOWN_KEYS: &[KeySpec] = &[
            $(KeySpec { key: $key, kind: ValueKind::$kind $(($words))?, default: $default, min: $min, max: $max, doc: $doc },)*
        ];
    };
}

keys! {
    "spate.master", Master, Some("local[*]"), None, None, "Where to run: local, local[N] (N worker threads), local[*] (one per core), local-cluster[N,C] (N executor processes of C cores on this host) or slurm (executors are srun steps of the current allocation).";
    "spate.executor.instances", Count, None, None, Some("1024"), "Executors of a slurm master (default: one per node of the allocation); local-cluster[N,C] sets N.";
    "spate.executor.cores", Count, Some("1"), None, Some("256"), "Task slots (threads) of each executor of a slurm master; local-cluster[N,C] sets C.";
    "spate.executor.memory", Size, Some("1g"), Some("16m"), None, "Memory of each executor (`--executor-memory`): srun --mem for slurm; caps each executor's block store.";
    "spate.executor.heartbeatInterval", Duration, Some("500ms"), Some("10ms"), Some("1min"), "How often an executor tells the driver it is alive.";
    "spate.executor.heartbeatTimeout", Duration, Some("5s"), Some("100ms"), None, "Silence after which the driver declares an executor lost and reruns its work elsewhere; also how long a shuffle fetch waits.";
    "spate.executor.registrationTimeout", Duration, Some("60s"), Some("100ms"), None, "Longest a cluster driver waits for its first executor before its jobs fail.";
    "spate.locality.wait", Duration, Some("200ms"), None, None, "How long a cluster task waits for the executor holding its cached input before running elsewhere (and recomputing it).";
    "spate.driver.host", Text, None, None, None, "Address the driver's RPC server binds and executors connect to (default: 127.0.0.1 for local-cluster; for slurm, this host's address facing the allocated nodes).";
    "spate.executor.host", Text, None, None, None, "Address an executor's shuffle service listens on (default: its address facing the driver).";
    "spate.driver.port", Port, Some("0"), None, None, "Port of the driver's RPC server (0: any free port).";
    "spate.app.name", Text, Some("spate"), None, None, "The application's name, shown in logs.";
    "spate.default.parallelism", Count, None, None, Some("100000"), "Partitions of shuffles when none is given (default: the largest parent's count).";
    "spate.task.maxFailures", Count, Some("4"), None, Some("1000"), "Attempts a task gets before its job is aborted.";
    "spate.stage.maxConsecutiveAttempts", Count, Some("4"), None, Some("1000"), "Times a stage is re-run after lost shuffle outputs before its job is aborted.";
    "spate.storage.memory", Size, Some("512m"), Some("1k"), None, "Memory budget of the block store for cached partitions.";
    "spate.local.dir", Text, None, None, None, "Directory for spilled blocks (default: the system temp dir).";
    "spate.ui.enabled", Bool, Some("true"), None, None, "Serve the streaming application's status (Spark's REST API, health) over HTTP from the driver.";
    "spate.ui.host", Text, Some("127.0.0.1"), None, None, "Address the UI binds (loopback unless told otherwise; 0.0.0.0 for every interface).";
    "spate.ui.port", Port, Some("4040"), None, None, "Port of the UI; the next free one when taken (16 tries, then any); 0 = any.";
    "spate.streaming.ui.retainedEvents", Count, Some("1000"), None, Some("1000000"), "Live events (/streaming/events) kept for clients that reconnect or fall behind; a client further behind gets a gap event.";
    "spate.streaming.ui.retainedBatches", Count, Some("1000"), None, Some("1000000"), "Batches the UI keeps in full (the oldest completed ones go first).";
    "spate.streaming.blockInterval", Duration, Some("200ms"), Some("1ms"), Some("1h"), "How often received records are cut into blocks: a block per core, of equal size, one input partition each.";
    "spate.streaming.concurrentJobs", Count, Some("1"), None, Some("64"), "Batches processed at the same time.";
    "spate.streaming.receiver.maxLineBytes", Size, Some("1m"), Some("64"), Some("1g"), "Longest line a socket receiver accepts; longer lines are skipped and counted.";
    "spate.streaming.receiver.maxPendingRecords", Count, Some("10000000"), None, Some("1000000000"), "Records a receiver holds before it stops reading its source (TCP then pushes back on the sender). A socket stream's line costs its bytes (~41 in the benchmark), so 10M bounds a 1 s batch and the next at ~400 MiB. A batch's records stay pending until it completes while the next batch's arrive, so a receiver sustains at most about this bound / (interval + processing time). With backpressure on, a receiver holds half of it until backpressure first sets a rate. Pending lines beyond `spate.storage.memory` spill to disk (slowly, said once in a warning): with lines much longer than ~50 bytes, lower this or raise that.";
    "spate.streaming.receiver.maxReconnectBackoff", Duration, Some("5s"), Some("10ms"), Some("1h"), "Longest wait between reconnection attempts of a socket receiver (the backoff doubles up to it).";
    "spate.streaming.receiver.maxRate", Count, None, None, None, "Records per second each receiver may store (unset: no limit); a limited receiver waits (a socket is then not read, and TCP slows the sender); backpressure never exceeds it. Allowance left unused (a receiver starved of CPU while a batch runs) may be caught up, up to a quarter of a batch interval's worth (100 ms at least).";
    "spate.streaming.backpressure.enabled", Bool, Some("true"), None, None, "Let a rate estimator set each receiver's rate after every batch from processing times, delays and what the receiver stored, so batches stay steady under overload (Spark's default is off: its floods swing between full and empty batches).";
    "spate.streaming.backpressure.rateEstimator", OneOf(&["steady", "pid"]), Some("steady"), None, None, "Backpressure's estimator. `steady`: no limit while processing has room; once loaded (processing at least half the interval, a batch waited, or the receiver was held back), 90% of the processing capacity (less what a delay needs to drain), and at most what the receiver stored since the last batch raised by what would bring processing to 90% of the interval (10-50%), so the limit binds, batches stay even, and a low limit climbs in a few batches. `pid`: Spark's PID controller (P 1.0, I 0.2, D 0, min 100/s).";
    "spate.streaming.backpressure.initialRate", Count, None, None, None, "With backpressure, the rate of the first batches, before the controller has measured any.";
    "spate.streaming.receiver.writeAheadLog.enable", Bool, Some("false"), None, None, "Append every received block to a write-ahead log in the checkpoint directory before acknowledging it, so a restarted driver loses nothing received (needs `ssc.checkpoint(dir)`). Written with `O_DIRECT` where the file system allows, off the receiver's path; lines are logged as they came (one copy); durable stores share one write and sync, and so do the blocks of one cut (group commit). A batch takes the blocks already written: records wait up to one blockInterval longer.";
    "spate.streaming.receiver.writeAheadLog.rollingInterval", Duration, Some("60s"), Some("1s"), None, "How long a write-ahead log segment is appended to before a new one starts (old segments are deleted once no batch needs them).";
    "spate.streaming.fileStream.maxSplitBytes", Size, Some("64m"), Some("1k"), None, "Largest byte range of a file a file stream's task reads (a bigger file is read as several partitions, each a chunk at a time).";
    "spate.streaming.fileStream.allowMissingOnReplay", Bool, Some("false"), None, None, "After a driver restart, replay batches whose files are gone without those files (each loss reported) instead of failing with the file's name.";
    "spate.streaming.kafka.maxRatePerPartition", Count, None, None, None, "Records per second a Kafka direct stream reads from each partition (unset: no limit); backpressure never exceeds it.";
    "spate.streaming.kafka.minRatePerPartition", Count, Some("1"), Some("1"), None, "Records per second a Kafka direct stream reads from each partition with a backlog, whatever the limits say (progress is never stalled).";
    "spate.streaming.kafka.maxRecordsPerTask", Count, Some("1000000"), Some("1"), None, "Largest offset range of one Kafka partition one task reads: a larger batch range is read by several tasks (bounded memory, both cores busy on one partition).";
    "spate.streaming.kafka.requestTimeout", Duration, Some("10s"), Some("10ms"), Some("1h"), "How long a Kafka request retries an unreachable broker before the batch's offsets are looked up again later (driver) or the task fails (reading).";
    "spate.streaming.kafka.maxFetchBytes", Size, Some("4m"), Some("1k"), Some("1g"), "Most bytes one Kafka fetch asks for (fetches are sized to what is left of a range, up to this).";
    "spate.streaming.kafka.fetchMaxWait", Duration, Some("10ms"), Some("0ms"), Some("10s"), "Longest wait of one Kafka fetch for its bytes (ranges end at offsets known to exist, so there is little to wait for).";
    "spate.streaming.multipleWatermarkPolicy", OneOf(&["min", "max"]), Some("min"), None, None, "How the watermarks of unioned event-time streams combine: the slowest input's (min, nothing late is lost) or the fastest's (max, results sooner).";
    "spate.streaming.listenerBus.capacity", Count, Some("10000"), None, Some("10000000"), "Events queued for streaming listeners; past it events are dropped (counted, warned about) rather than slowing the job.";
    "spate.streaming.receiverRestartDelay", Duration, Some("2s"), Some("1ms"), Some("1h"), "Wait before a receiver that asked to restart is started again.";
    "spate.streaming.stopGracefullyOnShutdown", Bool, Some("true"), None, None, "On SIGINT/SIGTERM, stop receiving, process what was received, then exit.";
    "spate.streaming.gracefulStopTimeout", Duration, Some("60s"), Some("1ms"), None, "Longest a graceful stop may take before it gives up with an error.";
}

/// Finds a known key's spec.
pub(super) fn spec(key: &str) -> Option<&'static KeySpec> {
    KNOWN_KEYS.iter().find(|k| k.key == key)
}

/// Refuses a value outside its key's bounds, naming the bound (values already parse).
pub(super) fn check_bounds(spec: &KeySpec, value: &str) -> Result<()> {
    // Both sides in one comparable unit: nanoseconds, bytes or the count itself.
    let measure = |v: &str| -> Option<u128> {
        match spec.kind {
            ValueKind::Duration => parse_duration(v).ok().map(|d| d.as_nanos()),
            ValueKind::Size => parse_size(v).ok().map(u128::from),
            ValueKind::Count => v.trim().parse::<u128>().ok(),
            _ => None,
        }
    };
    let Some(given) = measure(value) else {
        return Ok(());
    };
    if let Some(min) = spec.min
        && measure(min).is_some_and(|m| given < m)
    {
        return Err(Conf::invalid(
            spec.key,
            value,
            &format!("must be at least {min}"),
        ));
    }
    if let Some(max) = spec.max
        && measure(max).is_some_and(|m| given > m)
    {
        return Err(Conf::invalid(
            spec.key,
            value,
            &format!("must be at most {max}"),
        ));
    }
    Ok(())
}

/// The known key closest to `key`, if any is close enough to be a likely typo.
pub(super) fn nearest_key(key: &str) -> Option<String> {
    KNOWN_KEYS
        .iter()
        .map(|k| {
            (
                strsim::jaro_winkler(&key.to_ascii_lowercase(), &k.key.to_ascii_lowercase()),
                k.key,
            )
        })
        .filter(|(score, _)| *score > 0.85)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, k)| k.to_string())
}
