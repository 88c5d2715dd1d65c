//! # spate-core: the RDD layer of spate
//!
//! A resilient distributed dataset ([`Rdd`]) is an immutable, partitioned collection computed
//! lazily from its *lineage* — the transformations that derive it from its sources. Actions run
//! jobs: the DAG scheduler cuts a job into stages at shuffle dependencies and runs each stage's
//! tasks in parallel on the [`Context`]'s executor pool. A lost partition (an evicted cached
//! block, a lost shuffle output, a failed task) is recomputed from its lineage.
//!
//! ```
//! use spate_core::{Conf, Context};
//!
//! let ctx = Context::new(Conf::new().set_master("local[2]"))?;
//! let lines = ctx.parallelize(vec!["a rose is a rose".to_string()], 2);
//! let counts = lines
//!     .flat_map(|l| l.split(' ').map(str::to_string).collect::<Vec<_>>())
//!     .map(|w| (w, 1u64))
//!     .reduce_by_key(|a, b| a + b)
//!     .collect_as_map()?;
//! assert_eq!(counts["rose"], 2);
//! # Ok::<(), spate_core::Error>(())
//! ```
//!
//! Built for several processes from the first line: closures are never serialized, ids are
//! assigned deterministically per context in construction order, nothing is process-global, and
//! everything that leaves memory goes through one bincode path ([`codec`]).

pub mod codec;
pub mod conf;
mod context;
mod dag;
mod data;
pub mod durable;
mod error;
pub mod fault;
pub mod golden;
pub mod hash;
pub mod ids;
mod objects;
mod partitioner;
mod rdd;
pub mod scheduler;
mod show;
mod start;
mod storage;
mod task;
mod text;

mod checkpoint;
mod cluster;
mod shuffle;

pub use cluster::auth::check_secret_env;
pub use conf::Conf;
pub use context::{
    Context, ControlMessage, ExecutorInfo, InputReport, InputReports, ReportedBlock,
};
pub use data::{Data, Key};
pub use error::{Error, Result};
pub use objects::ObjectInfo;
pub use partitioner::{HashPartitioner, Partitioner, RangePartitioner};
pub use rdd::sources::Source;
pub use rdd::text_file::{InputFile, OnUnreadable};
pub use rdd::{PartitionIter, Rdd};
pub use show::Show;
pub use storage::StorageLevel;
pub use task::TaskContext;
pub use text::{LossyPush, Split, SplitWhitespace, Text, TextLines, TextLinesIter};
