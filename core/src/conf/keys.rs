//! Key tables: what a `spate.*` key takes (its value form, default, bounds and meaning), the
//! table macro each layer declares its keys with, spate-core's own keys; the bounds check and
//! the nearest key to a typo.

use crate::error::Result;

use super::{Conf, parse_duration, parse_size};

/// The value form a known key takes.
///
/// # Examples
///
/// ```
/// use spate_core::conf::{KEYS, ValueKind};
/// let k = KEYS.iter().find(|k| k.key == "spate.task.maxFailures").unwrap();
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
/// let k = &spate_core::conf::KEYS[0];
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

/// A table of [`KeySpec`]s, one row per key: `key, Kind, default, min, max, doc;` (each layer
/// and concept declares its own keys with it, beside the settings it reads).
///
/// # Examples
///
/// ```
/// use spate_core::conf::KeySpec;
/// const MINE: &[KeySpec] = spate_core::key_table! {
///     "spate.myjob.retries", Count, Some("3"), None, Some("10"), "How often to retry.";
/// };
/// let conf = spate_core::Conf::new().with_keys(MINE);
/// assert_eq!(conf.get_count("spate.myjob.retries").unwrap(), 3);
/// ```
#[macro_export]
macro_rules! key_table {
    ($($key:literal, $kind:ident $(($words:expr))?, $default:expr, $min:expr, $max:expr, $doc:literal;)*) => {
        &[
            $($crate::conf::KeySpec {
                key: $key,
                kind: $crate::conf::ValueKind::$kind $(($words))?,
                default: $default,
                min: $min,
                max: $max,
                doc: $doc,
            },)*
        ]
    };
}

/// spate-core's keys (where it runs, jobs, tasks and storage), with their form, default,
/// bounds and meaning. The layers above declare their own (`spate_streaming::KEYS`).
pub const KEYS: &[KeySpec] = key_table! {
    "spate.master", Master, Some("local[*]"), None, None, "Where to run: local, local[N] (N worker threads), local[*] (one per core), local-cluster[N,C] (N executor processes of C cores on this host) or slurm (executors are srun steps of the current allocation).";
    "spate.executor.instances", Count, None, None, Some("1024"), "Executors of a slurm master (default: one per node of the allocation); local-cluster[N,C] sets N.";
    "spate.executor.cores", Count, Some("1"), None, Some("256"), "Task slots (threads) of each executor of a slurm master; local-cluster[N,C] sets C.";
    "spate.executor.memory", Size, Some("1g"), Some("16m"), None, "Memory of each executor (`--executor-memory`): srun --mem for slurm; caps each executor's block store.";
    "spate.executor.heartbeatInterval", Duration, Some("500ms"), Some("10ms"), Some("1min"), "How often an executor tells the driver it is alive.";
    "spate.executor.heartbeatTimeout", Duration, Some("5s"), Some("100ms"), None, "Silence after which the driver declares an executor lost and reruns its work elsewhere; also how long a shuffle fetch waits.";
    "spate.executor.replace", Bool, Some("true"), None, None, "Whether a lost executor is replaced through the cluster manager (a new process for local-cluster, a new srun step in the allocation for slurm), keeping the executor count; the replacement joins the running streaming job at its next batch.";
    "spate.executor.maxFailures", Count, None, None, Some("1000000"), "Executor losses tolerated within spate.executor.failuresValidityInterval; one more and no executor is replaced and the application's jobs fail with this key's name (default: twice the executor count, at least 3, as Spark's spark.executor.maxNumFailures).";
    "spate.executor.failuresValidityInterval", Duration, Some("1h"), Some("1s"), None, "How long an executor loss counts against spate.executor.maxFailures (a job that runs for weeks loses an executor now and then).";
    "spate.executor.registrationTimeout", Duration, Some("60s"), Some("100ms"), None, "Longest a cluster driver waits for its first executor before its jobs fail.";
    "spate.locality.wait", Duration, Some("200ms"), None, None, "How long a cluster task waits for the executor holding its cached input before running elsewhere (and recomputing it).";
    "spate.driver.host", Text, None, None, None, "Address the driver's RPC server binds and executors connect to (default: 127.0.0.1 for local-cluster; for slurm, this host's address facing the allocated nodes).";
    "spate.executor.host", Text, None, None, None, "Address an executor's shuffle service listens on (default: its address facing the driver).";
    "spate.rpc.message.maxSize", Size, Some("256m"), Some("1m"), Some("2g"), "Largest message a cluster process decodes (a task's result, a received block, a shuffle block, a job's result sent to the executors): a larger claim is refused before anything is allocated, failing that call with this key's name. Raise it for actions that collect more at once.";
    "spate.s3.endpoint", Text, None, None, None, "The S3 endpoint (an S3-compatible store's URL, e.g. http://127.0.0.1:8333); default: AWS_ENDPOINT_URL, else AWS's for the region.";
    "spate.s3.region", Text, None, None, None, "The S3 region; default: AWS_REGION / AWS_DEFAULT_REGION, else us-east-1.";
    "spate.s3.accessKeyId", Text, None, None, None, "The access key (as Spark's fs.s3a.access.key); default: AWS_ACCESS_KEY_ID, a profile or the instance's role. Prefer the environment.";
    "spate.s3.secretAccessKey", Text, None, None, None, "The secret key of spate.s3.accessKeyId; never shown in errors. Prefer AWS_SECRET_ACCESS_KEY.";
    "spate.s3.pathStyle", Bool, Some("false"), None, None, "Address buckets in the path (http://host/bucket/key), as most S3-compatible stores want, instead of the host name (http://bucket.host/key).";
    "spate.s3.allowHttp", Bool, Some("false"), None, None, "Allow a plain-HTTP endpoint (a local store); otherwise only HTTPS.";
    "spate.s3.maxRetries", Count, Some("3"), None, Some("100"), "Retries of a failed S3 request (throttling, 5xx, a dropped connection), with backoff, before the read fails (and its task is retried).";
    "spate.s3.requestTimeout", Duration, Some("30s"), Some("100ms"), Some("1h"), "Longest an S3 request and its retries may take.";
    "spate.rpc.idleTimeout", Duration, Some("60s"), Some("3s"), Some("1h"), "How long a cluster RPC server keeps a connection whose peer sends nothing (servers ping their peers at a third of it, so live peers always answer): a socket that connects and goes silent gives its file descriptor back.";
    "spate.rpc.tls.enabled", Bool, Some("true"), None, None, "Whether cluster RPC is TLS 1.3 with a certificate on both ends (keys derived from the application secret unless the files below are set). false: plain HTTP/2, for a trusted network only.";
    "spate.rpc.tls.caFile", Text, None, None, None, "PEM file of the CA that signs every process's certificate (your own PKI; set with certFile and keyFile).";
    "spate.rpc.tls.certFile", Text, None, None, None, "PEM certificate chain every process of the application presents (your own PKI).";
    "spate.rpc.tls.keyFile", Text, None, None, None, "PEM private key of spate.rpc.tls.certFile.";
    "spate.rpc.tls.serverName", Text, Some("spate"), None, None, "The name clients verify in the server's certificate (a DNS name of spate.rpc.tls.certFile): hosts change, the application does not.";
    "spate.driver.port", Port, Some("0"), None, None, "Port of the driver's RPC server (0: any free port).";
    "spate.app.name", Text, Some("spate"), None, None, "The application's name, shown in logs.";
    "spate.default.parallelism", Count, None, None, Some("100000"), "Partitions of shuffles when none is given (default: the largest parent's count).";
    "spate.task.maxFailures", Count, Some("4"), None, Some("1000"), "Attempts a task gets before its job is aborted.";
    "spate.stage.maxConsecutiveAttempts", Count, Some("4"), None, Some("1000"), "Times a stage is re-run after lost shuffle outputs before its job is aborted.";
    "spate.textFile.maxLineBytes", Size, Some("64m"), Some("1"), None, "Longest line `text_file`, `text_files` and file streams keep; a longer one is skipped as it is read (never held whole) and counted in the log, so a task's memory stays bounded by this and a read chunk whatever a file holds (a file without newlines is not one huge record).";
    "spate.storage.memory", Size, Some("512m"), Some("1k"), None, "Memory budget of the block store for cached partitions.";
    "spate.local.dir", Text, None, None, None, "Directory for spilled blocks (default: the system temp dir).";
};

/// The namespace a key belongs to: `spate.<name>` for keys with more segments
/// (`spate.streaming.blockInterval` → `spate.streaming`), else `spate` itself.
pub(super) fn namespace(key: &str) -> &str {
    match key.match_indices('.').nth(1) {
        Some((i, _)) => &key[..i],
        None => "spate",
    }
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
pub(super) fn nearest_key<'a>(
    key: &str,
    known: impl Iterator<Item = &'a KeySpec>,
) -> Option<String> {
    known
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
