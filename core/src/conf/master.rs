//! Masters: where tasks run (`local[N]`, `local-cluster[N,C]`, `slurm`), parsed and bounded.

use crate::error::{Error, Result};

/// Most worker threads `local[N]` (and task slots `local-cluster[N,C]`'s N x C) may ask for:
/// far past any useful count on one host, well short of a thread storm that stalls it.
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
                // All on this host: its task slots are bounded as local[N]'s threads are
                // (local-cluster[64,64] was 4,096 slots and a load average of ~330 on 2 cores).
                (Some(executors), Some(cores)) if executors * cores > MAX_THREADS => Err(too_many(
                    value,
                    format!(
                        "local-cluster[N,C] runs at most {MAX_THREADS} task slots in all (N x C), as local[N] runs at most {MAX_THREADS} worker threads"
                    ),
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
