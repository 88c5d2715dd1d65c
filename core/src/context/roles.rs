//! This process's role in a cluster application, as the layers below `cluster/` see it: two
//! traits the cluster runtime implements (`cluster/driver`, `cluster/executor`), so that the
//! context, the RDDs and the shuffle read reach it without knowing it. What an executor
//! fetches comes back as bytes or erased blocks; the typed caller decodes them.

use std::sync::Arc;

use crate::error::Result;
use crate::ids::{InputBlockId, RddId, ShuffleId};
use crate::shuffle::Block;
use crate::task::TaskPlacement;

/// A cluster driver.
pub(crate) trait DriverRole: Send + Sync {
    /// The application id, shared by all its processes.
    fn app_id(&self) -> &str;
    /// Where executors reach the driver.
    fn url(&self) -> &str;
    /// The executors registered and alive.
    fn live_executors(&self) -> Vec<u32>;
    /// Sends a control message to every executor, in order.
    fn publish(&self, payload: Vec<u8>);
    /// Keeps the log's last `messages` messages for executors that join later.
    fn set_control_replay(&self, messages: usize);
    /// Keeps every job from `job` on for executors that join later.
    fn keep_jobs_from(&self, job: crate::ids::JobId);
    /// Whether some executor holds partition `partition` of `rdd` cached.
    fn has_block(&self, rdd: RddId, partition: usize) -> bool;
    /// Stops the executors and the driver's services.
    fn shutdown(&self);
    /// RDD `rdd` was dropped: where its partitions were cached is no longer needed.
    fn forget_rdd(&self, rdd: RddId);
    /// The sizes of what the driver keeps, by collection.
    fn sizes(&self) -> Vec<(&'static str, usize)>;
    /// Bytes of job results sent to executors so far (each copy counted).
    fn result_bytes_sent(&self) -> u64;
    /// The live executors, with hosts and addresses.
    fn executor_infos(&self) -> Vec<super::ExecutorInfo>;
    /// Where input reports from executors go (and lost blocks are asked for).
    fn set_input_sink(&self, sink: Arc<dyn super::InputReports>);
    /// Received blocks no batch needs any more: where they were is no longer tracked.
    fn forget_input_blocks(&self, ids: &[InputBlockId]);
}

/// A received input block as the driver sent it.
pub(crate) enum FetchedInput {
    /// Lines as they were received (checksum verified): cut as the task reads.
    Lines(Vec<u8>),
    /// A codec frame of the block's records.
    Frame(Vec<u8>),
}

/// One map output's bucket for a reduce partition, as an executor got it.
pub(crate) enum ShufflePiece {
    /// From this executor's own store, as stored.
    Local(Block),
    /// A codec frame: spilled to this executor's disk, or fetched from another executor.
    Frame(Vec<u8>, &'static str),
}

/// A cluster executor.
pub(crate) trait ExecutorRole: Send + Sync {
    /// Its executor id.
    fn id(&self) -> u32;
    /// The application id the driver gave it.
    fn app_id(&self) -> Option<String>;
    /// The driver's next control message, in order (`None` once the driver stopped).
    fn next_control(&self) -> Option<crate::context::ControlMessage>;
    /// The driver's id of this process's shuffle `local`, once a job paired them.
    fn driver_shuffle_id(&self, local: ShuffleId) -> Option<ShuffleId>;
    /// Forgets shuffle `local` (its RDDs were dropped); returns its driver id.
    fn forget_shuffle(&self, local: ShuffleId) -> Option<ShuffleId>;
    /// The driver's id of this process's RDD `local`, once a job paired them.
    fn driver_rdd_id(&self, local: RddId) -> Option<RddId>;
    /// Forgets RDD `local` (dropped): its pairing with the driver's id.
    fn forget_rdd(&self, local: RddId);
    /// The sizes of what the executor keeps, by collection.
    fn sizes(&self) -> Vec<(&'static str, usize)>;
    /// Received block `block`, from an executor holding a copy (the driver knows which).
    fn fetch_input_block(&self, block: InputBlockId) -> Result<FetchedInput>;
    /// Copies received block `block`, stored here, to the executor serving at `address`.
    fn replicate_input_block(&self, block: InputBlockId, address: &str) -> Result<()>;
    /// Reports received blocks of stream `stream` (and a payload) to the driver.
    fn report_input(
        &self,
        stream: u32,
        blocks: Vec<super::ReportedBlock>,
        payload: Vec<u8>,
    ) -> Result<()>;
    /// Reduce partition `reduce` of this process's shuffle `local` (of `num_maps` map
    /// outputs, placed as `placement` says): one piece per map output, in map order, and the
    /// driver's id of the shuffle.
    fn read_shuffle(
        &self,
        local: ShuffleId,
        num_maps: usize,
        reduce: usize,
        placement: &TaskPlacement,
    ) -> Result<(ShuffleId, Vec<ShufflePiece>)>;
}

/// This process's cluster role, set once at start (none in local mode).
pub(crate) enum ClusterRole {
    Driver(Arc<dyn DriverRole>),
    Executor(Arc<dyn ExecutorRole>),
}
