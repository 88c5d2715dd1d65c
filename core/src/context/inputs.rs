//! Received input in a cluster application: receivers run on executors, which store their
//! blocks, copy each to a second executor and report it to the driver; the driver keeps only
//! where each block is. The API the streaming layer uses for it, and its types.

use std::sync::Arc;

use super::Context;
use crate::error::Result;
use crate::ids::InputBlockId;

/// An executor of a cluster application, as its driver knows it.
///
/// # Examples
///
/// ```
/// use spate_core::ExecutorInfo;
/// let e = ExecutorInfo { id: 0, host: "node1".into(), address: "10.0.0.1:4100".into() };
/// assert_eq!(e.to_string(), "executor 0 on node1");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExecutorInfo {
    /// Its executor id.
    pub id: u32,
    /// The host name it reported.
    pub host: String,
    /// Where its `Executor` service listens (`ip:port`).
    pub address: String,
}

impl std::fmt::Display for ExecutorInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "executor {} on {}", self.id, self.host)
    }
}

/// A received block an executor stored: its id, records, and the executors holding a copy
/// (the receiving one first).
///
/// # Examples
///
/// ```
/// use spate_core::{ReportedBlock, ids::InputBlockId};
/// let b = ReportedBlock { id: InputBlockId { stream: 0, seq: 1 }, records: 10, holders: vec![0, 1] };
/// assert_eq!(b.holders.len(), 2);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReportedBlock {
    /// The block.
    pub id: InputBlockId,
    /// Its records.
    pub records: u64,
    /// Executors holding a copy, the receiving one first.
    pub holders: Vec<u32>,
}

/// What an executor running a receiver tells its driver: blocks stored, and the streaming
/// layer's own news (`payload`: events, statistics), which this layer passes on unread.
///
/// # Examples
///
/// ```
/// use spate_core::InputReport;
/// let r = InputReport { executor: 1, stream: 0, blocks: Vec::new(), payload: Vec::new() };
/// assert!(r.blocks.is_empty());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InputReport {
    /// The executor that sent it.
    pub executor: u32,
    /// The input stream.
    pub stream: u32,
    /// Blocks stored since its last report, in order.
    pub blocks: Vec<ReportedBlock>,
    /// The streaming layer's part.
    pub payload: Vec<u8>,
}

/// What a cluster driver does with received input it does not hold (the streaming layer's
/// part, set with [`Context::set_input_reports`]).
///
/// # Examples
///
/// ```
/// use spate_core::{InputReport, InputReports, ids::InputBlockId};
/// struct Log;
/// impl InputReports for Log {
///     fn reported(&self, report: InputReport) {
///         println!("{} block(s) from executor {}", report.blocks.len(), report.executor);
///     }
/// }
/// assert!(!Log.restore_lost(InputBlockId { stream: 0, seq: 0 }));
/// ```
pub trait InputReports: Send + Sync {
    /// An executor's report, on an RPC thread, in the order each executor sent them.
    fn reported(&self, report: InputReport);
    /// Block `block` has no copy left on any executor: put it back in this process's block
    /// store if it can be (read from a write-ahead log); whether it did. The driver then
    /// serves it.
    fn restore_lost(&self, block: InputBlockId) -> bool {
        let _ = block;
        false
    }
}

impl Context {
    /// In a cluster driver: the executors registered and not lost, with their hosts and
    /// service addresses (empty in local mode and in executors).
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(spate_core::Context::local(1).unwrap().executor_infos().is_empty());
    /// ```
    pub fn executor_infos(&self) -> Vec<ExecutorInfo> {
        self.inner
            .driver()
            .map_or_else(Vec::new, |d| d.executor_infos())
    }

    /// In a cluster driver: every [`InputReport`] an executor sends from now on goes to
    /// `reports`, which is also asked for a received block whose every copy is lost. Does
    /// nothing elsewhere.
    ///
    /// # Examples
    ///
    /// ```
    /// use spate_core::{InputReport, InputReports};
    /// struct Ignore;
    /// impl InputReports for Ignore {
    ///     fn reported(&self, _: InputReport) {}
    /// }
    /// let ctx = spate_core::Context::local(1).unwrap();
    /// ctx.set_input_reports(std::sync::Arc::new(Ignore));
    /// ```
    pub fn set_input_reports(&self, reports: Arc<dyn InputReports>) {
        if let Some(d) = self.inner.driver() {
            d.set_input_sink(reports);
        }
    }

    /// In an executor: copies received block `id` (stored here) into the block store of the
    /// executor whose service is at `address`. Errors: the block is not stored here, or the
    /// copy failed (the peer is unreachable, refused it, or did not answer in time). Does
    /// nothing in other processes.
    ///
    /// # Examples
    ///
    /// ```
    /// use spate_core::ids::InputBlockId;
    /// let ctx = spate_core::Context::local(1).unwrap();
    /// ctx.replicate_input_block(InputBlockId { stream: 0, seq: 0 }, "127.0.0.1:1").unwrap();
    /// ```
    pub fn replicate_input_block(&self, id: InputBlockId, address: &str) -> Result<()> {
        match self.inner.executor() {
            Some(e) => e.replicate_input_block(id, address),
            None => Ok(()),
        }
    }

    /// In an executor: reports received blocks (and the streaming layer's `payload`) of
    /// stream `stream` to the driver, which learns where they are; returns once the driver
    /// has them. Does nothing in other processes.
    ///
    /// # Examples
    ///
    /// ```
    /// let ctx = spate_core::Context::local(1).unwrap();
    /// ctx.report_input(0, Vec::new(), Vec::new()).unwrap();
    /// ```
    pub fn report_input(
        &self,
        stream: u32,
        blocks: Vec<ReportedBlock>,
        payload: Vec<u8>,
    ) -> Result<()> {
        match self.inner.executor() {
            Some(e) => e.report_input(stream, blocks, payload),
            None => Ok(()),
        }
    }
}
