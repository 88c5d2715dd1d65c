//! Configuration: a by-value builder of string keys, the table of keys spate knows, and the
//! parsers for the value forms they use (masters, durations, sizes).
//!
//! Keys outside the `spate.` namespace are the application's own and are passed through untouched;
//! a `spate.*` key that spate does not know is an error naming the nearest known key, because a
//! silently ignored typo is worse than a refused start.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::error::{Error, Result};

pub mod reference;

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
fn spec(key: &str) -> Option<&'static KeySpec> {
    KNOWN_KEYS.iter().find(|k| k.key == key)
}

/// Most worker threads `local[N]` (and cores `local-cluster[N,C]`'s C) may ask for: far past any
/// useful count on one host, well short of a thread storm that stalls it.
///
/// # Examples
///
/// ```
/// use spate_core::conf::{MAX_THREADS, Master};
/// assert!(Master::parse(&format!("local[{MAX_THREADS}]")).is_ok());
/// let err = Master::parse("local[999999]").unwrap_err();
/// assert!(err.to_string().contains("at most 256 worker threads"), "{err}");
/// ```
pub const MAX_THREADS: usize = 256;

/// Most executor processes `local-cluster[N,C]` may start on one host.
///
/// # Examples
///
/// ```
/// use spate_core::conf::{MAX_LOCAL_EXECUTORS, Master};
/// assert!(Master::parse(&format!("local-cluster[{},1]", MAX_LOCAL_EXECUTORS + 1)).is_err());
/// ```
pub const MAX_LOCAL_EXECUTORS: usize = 64;

fn too_many(value: &str, bound: String) -> Error {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    Error::InvalidConfValue {
        key: "spate.master".into(),
        value: value.to_string(),
        expected: format!("{bound}; this machine has {cores} core(s)"),
    }
}

/// Where tasks run.
///
/// # Examples
///
/// ```
/// use spate_core::conf::Master;
/// assert_eq!(Master::parse("local[3]").unwrap(), Master::Local { threads: 3 });
/// assert_eq!(Master::parse("local").unwrap(), Master::Local { threads: 1 });
/// assert!(Master::parse("yarn").is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Master {
    /// In this process, on a pool of `threads` worker threads.
    Local {
        /// Number of worker threads.
        threads: usize,
    },
    /// `local-cluster[N,C]`: a driver and `executors` executor processes of `cores` task slots
    /// each, all on this host (as Spark's `local-cluster`): cluster mode without a cluster.
    LocalCluster {
        /// Number of executor processes.
        executors: usize,
        /// Task slots of each executor.
        cores: usize,
    },
    /// `slurm`: executors are `srun` steps on the nodes of the Slurm allocation the driver runs
    /// in (`salloc`/`sbatch`); their number and cores come from `spate.executor.*`.
    Slurm,
}

impl Master {
    /// Parses `local`, `local[N]` (N >= 1), `local[*]` (one thread per core),
    /// `local-cluster[N,C]` (N, C >= 1) or `slurm`.
    ///
    /// # Examples
    ///
    /// ```
    /// use spate_core::conf::Master;
    /// assert!(Master::parse("local[*]").unwrap().threads() >= 1);
    /// assert_eq!(
    ///     Master::parse("local-cluster[2,1]").unwrap(),
    ///     Master::LocalCluster { executors: 2, cores: 1 }
    /// );
    /// assert_eq!(Master::parse("slurm").unwrap(), Master::Slurm);
    /// assert!(Master::parse("local-cluster[0,1]").is_err());
    /// ```
    pub fn parse(value: &str) -> Result<Master> {
        let bad = || Error::InvalidMaster {
            value: value.to_string(),
        };
        let v = value.trim();
        if v == "local" {
            return Ok(Master::Local { threads: 1 });
        }
        if v == "slurm" {
            return Ok(Master::Slurm);
        }
        if let Some(inner) = v
            .strip_prefix("local-cluster[")
            .and_then(|r| r.strip_suffix(']'))
        {
            let (n, c) = inner.split_once(',').ok_or_else(bad)?;
            let count = |s: &str| s.trim().parse::<usize>().ok().filter(|&n| n >= 1);
            return match (count(n), count(c)) {
                (Some(executors), _) if executors > MAX_LOCAL_EXECUTORS => Err(too_many(
                    value,
                    format!(
                        "local-cluster[N,C] starts at most {MAX_LOCAL_EXECUTORS} executor processes on this host"
                    ),
                )),
                (_, Some(cores)) if cores > MAX_THREADS => Err(too_many(
                    value,
                    format!("local-cluster[N,C] gives each executor at most {MAX_THREADS} cores"),
                )),
                (Some(executors), Some(cores)) => Ok(Master::LocalCluster { executors, cores }),
                _ => Err(bad()),
            };
        }
        let inner = v
            .strip_prefix("local[")
            .and_then(|r| r.strip_suffix(']'))
            .ok_or_else(bad)?;
        let threads = if inner == "*" {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        } else {
            inner
                .parse::<usize>()
                .ok()
                .filter(|&n| n >= 1)
                .ok_or_else(bad)?
        };
        // local[*] is the machine's own count, whatever it is; only an explicit N is capped.
        if inner != "*" && threads > MAX_THREADS {
            return Err(too_many(
                value,
                format!(
                    "local[N] runs at most {MAX_THREADS} worker threads (local[*] runs one per core)"
                ),
            ));
        }
        Ok(Master::Local { threads })
    }

    /// The number of worker threads (or cores) this master provides in this process: for a
    /// cluster master, the driver's one thread (its tasks run in the executors).
    ///
    /// # Examples
    ///
    /// ```
    /// use spate_core::conf::Master;
    /// assert_eq!(Master::parse("local[2]").unwrap().threads(), 2);
    /// assert_eq!(Master::parse("local-cluster[2,3]").unwrap().threads(), 1);
    /// ```
    pub fn threads(&self) -> usize {
        match self {
            Master::Local { threads } => *threads,
            Master::LocalCluster { .. } | Master::Slurm => 1,
        }
    }

    /// Whether tasks run in executor processes (`local-cluster`, `slurm`).
    ///
    /// # Examples
    ///
    /// ```
    /// use spate_core::conf::Master;
    /// assert!(Master::parse("slurm").unwrap().is_cluster());
    /// assert!(!Master::parse("local[2]").unwrap().is_cluster());
    /// ```
    pub fn is_cluster(&self) -> bool {
        !matches!(self, Master::Local { .. })
    }
}

/// Parses a duration such as `100us`, `200ms`, `1s`, `5m`/`5min`, `2h`, `1d`.
///
/// A unit is required: a bare number is ambiguous and refused with a message saying so.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use spate_core::conf::parse_duration;
/// assert_eq!(parse_duration("200ms").unwrap(), Duration::from_millis(200));
/// assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
/// assert!(parse_duration("200").is_err());
/// ```
pub fn parse_duration(input: &str) -> Result<Duration> {
    let bad = || Error::InvalidDuration {
        input: input.to_string(),
    };
    let s = input.trim().to_ascii_lowercase();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .ok_or_else(bad)?;
    let (num, unit) = s.split_at(split);
    let value: f64 = num.parse().map_err(|_| bad())?;
    let unit_secs = match unit.trim() {
        "us" => 1e-6,
        "ms" => 1e-3,
        "s" | "sec" | "secs" => 1.0,
        "m" | "min" | "mins" => 60.0,
        "h" => 3600.0,
        "d" => 86400.0,
        _ => return Err(bad()),
    };
    let secs = value * unit_secs;
    if !secs.is_finite() || secs < 0.0 {
        return Err(bad());
    }
    Ok(Duration::from_secs_f64(secs))
}

/// Parses a byte size such as `1024`, `512k`, `64m`, `1g`, `2t` (binary multiples, optional `b`).
///
/// # Examples
///
/// ```
/// use spate_core::conf::parse_size;
/// assert_eq!(parse_size("64m").unwrap(), 64 << 20);
/// assert_eq!(parse_size("1kb").unwrap(), 1024);
/// assert_eq!(parse_size("100").unwrap(), 100);
/// assert!(parse_size("lots").is_err());
/// ```
pub fn parse_size(input: &str) -> Result<u64> {
    let bad = || Error::InvalidSize {
        input: input.to_string(),
    };
    let s = input.trim().to_ascii_lowercase();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let value: u64 = num.parse().map_err(|_| bad())?;
    let shift = match unit.trim() {
        "" | "b" => 0,
        "k" | "kb" => 10,
        "m" | "mb" => 20,
        "g" | "gb" => 30,
        "t" | "tb" => 40,
        _ => return Err(bad()),
    };
    value.checked_mul(1u64 << shift).ok_or_else(bad)
}

/// Application configuration: a by-value builder of string settings.
///
/// # Examples
///
/// ```
/// use spate_core::Conf;
/// let conf = Conf::new()
///     .set_master("local[2]")
///     .set_app_name("demo")
///     .set("spate.storage.memory", "64m");
/// assert_eq!(conf.get_size("spate.storage.memory").unwrap(), 64 << 20);
/// assert_eq!(conf.get("spate.app.name"), Some("demo"));
/// conf.validate().unwrap();
/// ```
#[derive(Clone, Debug, Default)]
pub struct Conf {
    settings: BTreeMap<String, String>,
}

impl Conf {
    /// An empty configuration: every key at its default.
    ///
    /// # Examples
    ///
    /// ```
    /// let c = spate_core::Conf::new();
    /// assert_eq!(c.get("spate.master"), Some("local[*]"));
    /// ```
    pub fn new() -> Conf {
        Conf::default()
    }

    /// Reads what a launcher such as `spate-submit` passes: `SPATE_MASTER`, `SPATE_APP_NAME`, and
    /// `SPATE_CONF_<key>` for any key. `<key>` is either the key itself
    /// (`SPATE_CONF_spate.storage.memory`) or, for shells that refuse dots, the known key in
    /// upper case with `_` for `.` (`SPATE_CONF_SPATE_STORAGE_MEMORY`).
    ///
    /// # Examples
    ///
    /// ```
    /// // With no SPATE_* variables set, this is the same as Conf::new().
    /// let c = spate_core::Conf::from_env();
    /// assert!(c.get("spate.master").is_some());
    /// ```
    pub fn from_env() -> Conf {
        Conf::from_vars(std::env::vars())
    }

    /// [`Conf::from_env`] over any list of variables (what it uses; handy in tests).
    ///
    /// # Examples
    ///
    /// ```
    /// let c = spate_core::Conf::from_vars([
    ///     ("SPATE_MASTER".to_string(), "local[2]".to_string()),
    ///     ("SPATE_CONF_SPATE_TASK_MAXFAILURES".to_string(), "2".to_string()),
    /// ]);
    /// assert_eq!(c.get("spate.master"), Some("local[2]"));
    /// assert_eq!(c.get_count("spate.task.maxFailures").unwrap(), 2);
    /// ```
    pub fn from_vars(vars: impl IntoIterator<Item = (String, String)>) -> Conf {
        let mut conf = Conf::new();
        for (name, value) in vars {
            if name == "SPATE_MASTER" {
                conf = conf.set_master(value);
            } else if name == "SPATE_APP_NAME" {
                conf = conf.set_app_name(value);
            } else if let Some(key) = name.strip_prefix("SPATE_CONF_") {
                let key = if key.contains('.') {
                    key.to_string()
                } else {
                    KNOWN_KEYS
                        .iter()
                        .find(|k| k.key.replace('.', "_").eq_ignore_ascii_case(key))
                        .map_or_else(|| key.to_string(), |k| k.key.to_string())
                };
                conf = conf.set(key, value);
            }
        }
        conf
    }

    /// Sets the master (`spate.master`).
    ///
    /// # Examples
    ///
    /// ```
    /// let c = spate_core::Conf::new().set_master("local[4]");
    /// assert_eq!(c.master().unwrap().threads(), 4);
    /// ```
    pub fn set_master(self, master: impl Into<String>) -> Conf {
        self.set("spate.master", master)
    }

    /// Sets the application name (`spate.app.name`).
    ///
    /// # Examples
    ///
    /// ```
    /// let c = spate_core::Conf::new().set_app_name("wc");
    /// assert_eq!(c.app_name(), "wc");
    /// ```
    pub fn set_app_name(self, name: impl Into<String>) -> Conf {
        self.set("spate.app.name", name)
    }

    /// Sets any key. Validation happens in [`Conf::validate`] (which `Context::new` calls), so a
    /// chain of `set`s reads cleanly.
    ///
    /// # Examples
    ///
    /// ```
    /// let c = spate_core::Conf::new().set("myapp.threshold", "3");
    /// assert_eq!(c.get("myapp.threshold"), Some("3"));
    /// ```
    pub fn set(mut self, key: impl Into<String>, value: impl Into<String>) -> Conf {
        self.settings.insert(key.into(), value.into());
        self
    }

    /// The value of `key`: the one set, else its default, else `None`.
    ///
    /// # Examples
    ///
    /// ```
    /// let c = spate_core::Conf::new();
    /// assert_eq!(c.get("spate.task.maxFailures"), Some("4"));
    /// assert_eq!(c.get("not.set"), None);
    /// ```
    pub fn get(&self, key: &str) -> Option<&str> {
        self.settings
            .get(key)
            .map(String::as_str)
            .or_else(|| spec(key).and_then(|s| s.default))
    }

    /// Whether `key` was set explicitly (not just defaulted).
    ///
    /// # Examples
    ///
    /// ```
    /// let c = spate_core::Conf::new().set("spate.task.maxFailures", "2");
    /// assert!(c.contains("spate.task.maxFailures"));
    /// assert!(!c.contains("spate.storage.memory"));
    /// ```
    pub fn contains(&self, key: &str) -> bool {
        self.settings.contains_key(key)
    }

    /// The explicitly set keys and values, in key order.
    ///
    /// # Examples
    ///
    /// ```
    /// let c = spate_core::Conf::new().set_app_name("x");
    /// assert_eq!(c.entries().collect::<Vec<_>>(), vec![("spate.app.name", "x")]);
    /// ```
    pub fn entries(&self) -> impl Iterator<Item = (&str, &str)> {
        self.settings.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The parsed master.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(spate_core::Conf::new().set_master("mesos").master().is_err());
    /// ```
    pub fn master(&self) -> Result<Master> {
        Master::parse(self.get("spate.master").unwrap_or("local[*]"))
    }

    /// The application name.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(spate_core::Conf::new().app_name(), "spate");
    /// ```
    pub fn app_name(&self) -> &str {
        self.get("spate.app.name").unwrap_or("spate")
    }

    fn invalid(key: &str, value: &str, expected: &str) -> Error {
        Error::InvalidConfValue {
            key: key.to_string(),
            value: value.to_string(),
            expected: expected.to_string(),
        }
    }

    /// `key` as a duration (see [`parse_duration`]); `None` when unset with no default.
    ///
    /// # Examples
    ///
    /// ```
    /// let c = spate_core::Conf::new().set("myapp.poll", "250ms");
    /// assert_eq!(c.get_duration("myapp.poll").unwrap(), Some(std::time::Duration::from_millis(250)));
    /// ```
    pub fn get_duration(&self, key: &str) -> Result<Option<Duration>> {
        self.get(key)
            .map(|v| {
                parse_duration(v).map_err(|_| {
                    Self::invalid(
                        key,
                        v,
                        "expected a duration with a unit, e.g. \"200ms\" or \"1s\"",
                    )
                })
            })
            .transpose()
    }

    /// `key` as a byte size (see [`parse_size`]).
    ///
    /// # Examples
    ///
    /// ```
    /// let c = spate_core::Conf::new().set("spate.storage.memory", "2g");
    /// assert_eq!(c.get_size("spate.storage.memory").unwrap(), 2 << 30);
    /// ```
    pub fn get_size(&self, key: &str) -> Result<u64> {
        let v = self.get(key).unwrap_or("0");
        parse_size(v)
            .map_err(|_| Self::invalid(key, v, "expected a size such as \"64m\" or \"1g\""))
    }

    /// `key` as a TCP port (0 to 65535); `None` when unset with no default.
    ///
    /// # Examples
    ///
    /// ```
    /// let c = spate_core::Conf::new().set("spate.driver.port", "7077");
    /// assert_eq!(c.get_port("spate.driver.port").unwrap(), Some(7077));
    /// assert!(spate_core::Conf::new().set("spate.driver.port", "70000").validate().is_err());
    /// ```
    pub fn get_port(&self, key: &str) -> Result<Option<u16>> {
        self.get(key)
            .map(|v| {
                v.trim()
                    .parse::<u16>()
                    .map_err(|_| Self::invalid(key, v, "expected a port from 0 to 65535"))
            })
            .transpose()
    }

    /// `key` as a whole number >= 1; `None` when unset with no default.
    ///
    /// # Examples
    ///
    /// ```
    /// let c = spate_core::Conf::new();
    /// assert_eq!(c.get_count("spate.task.maxFailures").unwrap(), 4);
    /// assert!(c.clone().set("spate.task.maxFailures", "0").get_count("spate.task.maxFailures").is_err());
    /// ```
    pub fn get_count(&self, key: &str) -> Result<usize> {
        self.get_opt_count(key)?
            .ok_or_else(|| Self::invalid(key, "", "expected a whole number >= 1"))
    }

    /// `key` as a whole number >= 1, `None` when unset with no default.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(spate_core::Conf::new().get_opt_count("spate.default.parallelism").unwrap(), None);
    /// ```
    pub fn get_opt_count(&self, key: &str) -> Result<Option<usize>> {
        self.get(key)
            .map(|v| {
                v.trim()
                    .parse::<usize>()
                    .ok()
                    .filter(|&n| n >= 1)
                    .ok_or_else(|| {
                        Self::invalid(key, v, "expected a whole number >= 1, e.g. \"4\"")
                    })
            })
            .transpose()
    }

    /// `key` as a boolean (`true`/`false`); `None` when unset with no default.
    ///
    /// # Examples
    ///
    /// ```
    /// let c = spate_core::Conf::new().set("myapp.verbose", "true");
    /// assert_eq!(c.get_bool("myapp.verbose").unwrap(), Some(true));
    /// ```
    pub fn get_bool(&self, key: &str) -> Result<Option<bool>> {
        self.get(key)
            .map(|v| match v.trim() {
                "true" => Ok(true),
                "false" => Ok(false),
                _ => Err(Self::invalid(key, v, "expected \"true\" or \"false\"")),
            })
            .transpose()
    }

    /// Checks every setting: `spate.*` keys must be known and every known key's value must parse.
    ///
    /// # Examples
    ///
    /// ```
    /// use spate_core::{Conf, Error};
    /// let err = Conf::new().set("spate.task.maxFailure", "3").validate().unwrap_err();
    /// match err {
    ///     Error::UnknownConfKey { suggestion, .. } => {
    ///         assert_eq!(suggestion.as_deref(), Some("spate.task.maxFailures"))
    ///     }
    ///     other => panic!("{other}"),
    /// }
    /// ```
    pub fn validate(&self) -> Result<()> {
        for (key, value) in &self.settings {
            if key.trim().is_empty() {
                return Err(Self::invalid(
                    key,
                    value,
                    "a setting needs a key: write KEY=VALUE, e.g. spate.storage.memory=1g",
                ));
            }
            let Some(spec) = spec(key) else {
                if key.starts_with("spate.") {
                    return Err(Error::UnknownConfKey {
                        key: key.clone(),
                        suggestion: nearest_key(key),
                    });
                }
                continue;
            };
            match spec.kind {
                ValueKind::Master => Master::parse(value).map(drop)?,
                ValueKind::Text => {}
                ValueKind::Port => self.get_port(key).map(drop)?,
                ValueKind::Count => self.get_count(key).map(drop)?,
                ValueKind::Duration => self.get_duration(key).map(drop)?,
                ValueKind::Size => self.get_size(key).map(drop)?,
                ValueKind::Bool => self.get_bool(key).map(drop)?,
                ValueKind::OneOf(words) => {
                    if !words.contains(&value.trim()) {
                        return Err(Error::InvalidConfValue {
                            key: key.to_string(),
                            value: value.to_string(),
                            expected: format!("one of {}", words.join(", ")),
                        });
                    }
                }
            }
            check_bounds(spec, value)?;
        }
        let interval = self.get_duration("spate.executor.heartbeatInterval")?;
        let timeout = self.get_duration("spate.executor.heartbeatTimeout")?;
        if let (Some(interval), Some(timeout)) = (interval, timeout)
            && timeout < interval * 2
        {
            return Err(Self::invalid(
                "spate.executor.heartbeatTimeout",
                self.get("spate.executor.heartbeatTimeout")
                    .unwrap_or_default(),
                &format!(
                    "must be at least twice spate.executor.heartbeatInterval ({interval:?}), or every executor is lost between two heartbeats"
                ),
            ));
        }
        Ok(())
    }
}

/// Refuses a value outside its key's bounds, naming the bound (values already parse).
fn check_bounds(spec: &KeySpec, value: &str) -> Result<()> {
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
fn nearest_key(key: &str) -> Option<String> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_sizes() {
        assert_eq!(parse_duration("1min").unwrap(), Duration::from_secs(60));
        assert_eq!(parse_duration(" 10 ms").unwrap(), Duration::from_millis(10));
        for bad in ["", "ms", "1x", "-1s", "1..2s", "200"] {
            assert!(
                matches!(parse_duration(bad), Err(Error::InvalidDuration { .. })),
                "{bad}"
            );
        }
        for bad in ["", "1.5g", "k", "99999999999999t"] {
            assert!(
                matches!(parse_size(bad), Err(Error::InvalidSize { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn masters() {
        for bad in [
            "",
            "local[]",
            "local[0]",
            "local[-1]",
            "local[2",
            "spark://x:7077",
        ] {
            assert!(
                matches!(Master::parse(bad), Err(Error::InvalidMaster { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn unknown_keys_get_suggestions_or_none() {
        let err = Conf::new()
            .set("spate.storage.memroy", "1g")
            .validate()
            .unwrap_err();
        assert!(err.to_string().contains("spate.storage.memory"), "{err}");
        let err = Conf::new().set("spate.zzz", "1").validate().unwrap_err();
        assert!(
            matches!(
                err,
                Error::UnknownConfKey {
                    suggestion: None,
                    ..
                }
            ),
            "{err}"
        );
        let err = Conf::new()
            .set("spate.storage.memory", "lots")
            .validate()
            .unwrap_err();
        assert!(matches!(err, Error::InvalidConfValue { .. }), "{err}");
    }

    #[test]
    fn env_names_map_to_keys() {
        let c = Conf::from_vars([
            ("SPATE_CONF_spate.storage.memory".into(), "1m".into()),
            ("SPATE_CONF_SPATE_DEFAULT_PARALLELISM".into(), "3".into()),
            ("SPATE_APP_NAME".into(), "n".into()),
            ("PATH".into(), "/bin".into()),
        ]);
        assert_eq!(c.get_size("spate.storage.memory").unwrap(), 1 << 20);
        assert_eq!(
            c.get_opt_count("spate.default.parallelism").unwrap(),
            Some(3)
        );
        assert_eq!(c.app_name(), "n");
    }
}
