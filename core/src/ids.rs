//! Plain, serializable ids that name everything a task needs.
//!
//! Ids are assigned per [`Context`](crate::Context) in construction order, so two processes that
//! run the same program build the same graph with the same ids: a task travels as ids, never as a
//! closure.

use std::fmt;

use serde::{Deserialize, Serialize};

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $label:literal) => {
        $(#[$doc])*
        #[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub struct $name(pub u32);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!($label, " {}"), self.0)
            }
        }
    };
}

id_type!(
    /// Identifies an RDD within its context.
    ///
    /// # Examples
    ///
    /// ```
    /// let ctx = spate_core::Context::local(1).unwrap();
    /// let a = ctx.parallelize(vec![1, 2], 1);
    /// let b = a.map(|x| x + 1);
    /// assert_eq!(b.id().0, a.id().0 + 1);
    /// assert_eq!(a.id().to_string(), "rdd 0");
    /// ```
    RddId,
    "rdd"
);
id_type!(
    /// Identifies a shuffle (one shuffle dependency) within its context.
    ///
    /// # Examples
    ///
    /// ```
    /// let s = spate_core::ids::ShuffleId(2);
    /// assert_eq!(s.to_string(), "shuffle 2");
    /// ```
    ShuffleId,
    "shuffle"
);
id_type!(
    /// Identifies a stage: the tasks of one job between shuffle boundaries.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(spate_core::ids::StageId(1).to_string(), "stage 1");
    /// ```
    StageId,
    "stage"
);
id_type!(
    /// Identifies a job: one action on an RDD.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(spate_core::ids::JobId(7).to_string(), "job 7");
    /// ```
    JobId,
    "job"
);

/// Everything that names one task attempt: what a driver sends an executor.
///
/// # Examples
///
/// ```
/// use spate_core::ids::{JobId, StageId, TaskId};
/// let t = TaskId { job: JobId(0), stage: StageId(1), partition: 3, attempt: 0 };
/// assert_eq!(t.to_string(), "task 3.0 of stage 1 (job 0)");
/// ```
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TaskId {
    /// The job the task belongs to.
    pub job: JobId,
    /// The stage the task belongs to.
    pub stage: StageId,
    /// The partition the task computes.
    pub partition: usize,
    /// The attempt number, from 0.
    pub attempt: u32,
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "task {}.{} of {} ({})",
            self.partition, self.attempt, self.stage, self.job
        )
    }
}

/// Names one block of received records: the input stream that received it and its sequence
/// number within that stream. Every process derives the same name for the same block, so a
/// task can ask for a received block by id wherever it runs.
///
/// # Examples
///
/// ```
/// use spate_core::ids::InputBlockId;
/// let id = InputBlockId { stream: 0, seq: 7 };
/// assert_eq!(id.to_string(), "input-0-7");
/// // A receiver running on an executor numbers its blocks after its placement's generation.
/// let id = InputBlockId { stream: 0, seq: (2 << InputBlockId::GENERATION_SHIFT) | 5 };
/// assert_eq!(id.to_string(), "input-0-g2.5");
/// ```
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct InputBlockId {
    /// The input stream's id.
    pub stream: u32,
    /// The block's sequence number within its stream, from 0 (from `generation <<
    /// GENERATION_SHIFT` for a receiver placed on an executor).
    pub seq: u64,
}

impl InputBlockId {
    /// Where a receiver placed on an executor puts its placement's generation in `seq`, so a
    /// receiver started again elsewhere never reuses a block id.
    pub const GENERATION_SHIFT: u32 = 40;
}

impl fmt::Display for InputBlockId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let generation = self.seq >> Self::GENERATION_SHIFT;
        if generation == 0 {
            write!(f, "input-{}-{}", self.stream, self.seq)
        } else {
            let n = self.seq & ((1 << Self::GENERATION_SHIFT) - 1);
            write!(f, "input-{}-g{generation}.{n}", self.stream)
        }
    }
}
