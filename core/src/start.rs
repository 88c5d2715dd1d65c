//! Making a [`Context`]: the configuration checked, the executor pool and stores, and — on a
//! cluster master — this process's role (a driver and its executors, or an executor that
//! connects to its driver). The one place that knows both the context and the cluster runtime.

use std::path::PathBuf;
use std::sync::Arc;

use crate::cluster::auth::Secret;
use crate::cluster::{DriverRuntime, ExecutorRuntime};
use crate::conf::Conf;
use crate::context::{ClusterRole, Context, ContextInner};
use crate::error::{Error, Result};
use crate::hash::HashSeed;
use crate::scheduler::{JobEnv, JobFollower, TaskLauncher};
use crate::shuffle::ShuffleStore;
use crate::storage::BlockStore;

impl Context {
    /// Validates `conf` and starts a context: an executor pool of the master's thread count and
    /// empty block and shuffle stores.
    ///
    /// # Examples
    ///
    /// ```
    /// use spate_core::{Conf, Context, Error};
    /// assert!(Context::new(Conf::new().set_master("local[1]")).is_ok());
    /// let err = Context::new(Conf::new().set("spate.task.maxfailures", "2")).unwrap_err();
    /// assert!(matches!(err, Error::UnknownConfKey { .. }));
    /// ```
    pub fn new(conf: Conf) -> Result<Context> {
        conf.validate()?;
        let master = conf.master()?;
        let executor = master.is_cluster() && ExecutorRuntime::requested();
        let (threads, cluster_cores) = if !master.is_cluster() {
            (master.threads(), None)
        } else {
            let total = crate::cluster::total_cores(&conf, &master)?;
            let threads = if executor {
                ExecutorRuntime::cores_from_env(&conf)?
            } else {
                1
            };
            (threads, Some(total))
        };
        // In an executor, connect before building anything: a refusal ends the program early.
        let executor = if executor {
            Some(ExecutorRuntime::start(&conf, threads)?)
        } else {
            None
        };
        // The key hash (see `crate::hash`): derived from the application's secret in a cluster
        // (the same in every process), random in a local context.
        let (hash_seed, driver_secret) = match &executor {
            Some(ex) => (ex.hash_seed(), None),
            None if master.is_cluster() => {
                let secret = Secret::from_env()?.unwrap_or_else(Secret::generate);
                (secret.hash_seed(), Some(secret))
            }
            None => (HashSeed::random(), None),
        };
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("spate-executor-{i}"))
            .build()
            .map_err(|e| Error::InvalidArgument(format!("cannot start executor threads: {e}")))?;
        let count = |key| conf.get_count(key).map(|n| n.min(u32::MAX as usize) as u32);
        // An executor's map outputs wait for reducers of other processes: bounded in memory
        // by the storage budget, spilled to the local dir past it.
        let shuffles = Arc::new(if executor.is_some() {
            let dir = conf
                .get("spate.local.dir")
                .map_or_else(std::env::temp_dir, PathBuf::from);
            ShuffleStore::spilling(conf.get_size("spate.storage.memory")?, &dir)?
        } else {
            ShuffleStore::default()
        });
        let jobs = JobEnv::new(
            pool,
            shuffles,
            Arc::default(),
            count("spate.task.maxFailures")?,
            count("spate.stage.maxConsecutiveAttempts")?,
        );
        let blocks = Arc::new(BlockStore::new(
            conf.get_size("spate.storage.memory")?,
            conf.get("spate.local.dir").map(PathBuf::from),
        ));
        let inner = Arc::new(ContextInner::new(
            conf,
            master.clone(),
            jobs,
            blocks,
            cluster_cores,
            hash_seed,
        )?);
        if let Some(ex) = executor {
            ex.register(Arc::downgrade(&inner))?;
            inner
                .jobs
                .set_follower(Arc::clone(&ex) as Arc<dyn JobFollower>);
            let _ = inner.cluster.set(ClusterRole::Executor(ex));
        } else if let Some(secret) = driver_secret {
            let driver =
                DriverRuntime::start(&inner.conf, &master, secret, Arc::downgrade(&inner))?;
            inner
                .jobs
                .set_launcher(Arc::clone(&driver) as Arc<dyn TaskLauncher>);
            let _ = inner.cluster.set(ClusterRole::Driver(driver));
        }
        Ok(Context { inner })
    }

    /// A context on `local[threads]` with every other setting at its default.
    ///
    /// # Examples
    ///
    /// ```
    /// let ctx = spate_core::Context::local(2).unwrap();
    /// assert_eq!(ctx.default_parallelism(), 2);
    /// ```
    pub fn local(threads: usize) -> Result<Context> {
        Context::new(Conf::new().set_master(format!("local[{threads}]")))
    }
}
