//! The stream graph (its output operations, input controls and streams) and the batches in
//! progress.

use std::sync::{Arc, Weak};

use crate::common::Time;
use crate::dstream::{OutputOp, StreamBase};
use crate::input::InputControl;

#[derive(Default)]
pub(crate) struct Graph {
    pub(crate) outputs: Vec<Arc<dyn OutputOp>>,
    pub(crate) inputs: Vec<Arc<dyn InputControl>>,
    pub(crate) streams: Vec<Weak<dyn StreamBase>>,
    /// How many streams of each kind exist (a stream's ordinal is part of its identity).
    pub(crate) kinds: std::collections::HashMap<&'static str, u32>,
}

/// Which batches have been generated and not completed (for the driver checkpoint).
#[derive(Default)]
pub(crate) struct Progress {
    pub(crate) last_generated: Option<Time>,
    pub(crate) pending: std::collections::BTreeSet<Time>,
}
