//! A job's lineage as every process sees it: the walk that gives the graph fingerprint the
//! driver checks and the order in which driver and executor ids are paired.
//!
//! RDD and shuffle ids come from construction order, which threads can interleave differently
//! in two processes (a streaming job generator builds batch `t + 1` while batch `t` runs). So
//! an executor never assumes its ids equal the driver's: both walk the job's lineage in the
//! same order, the driver sends its ids in that order, and the executor pairs them with its
//! own. The fingerprint hashes everything but the ids.

use std::collections::HashSet;
use std::hash::Hasher;
use std::sync::Arc;

use crate::dag::ShuffleDepBase;
use crate::dag::{Dependency, RddBase};
use crate::ids::{RddId, ShuffleId};

/// One job's lineage, walked depth-first from its final RDD, parents in dependency order.
pub(crate) struct JobLineage {
    pub(crate) rdds: Vec<RddId>,
    pub(crate) shuffles: Vec<Arc<dyn ShuffleDepBase>>,
    /// A hash of the RDDs' signatures and the graph's shape, as hex.
    pub(crate) fingerprint: String,
    /// The final RDD's signature and the graph's size, for error messages.
    pub(crate) description: String,
}

impl JobLineage {
    pub(crate) fn walk(final_rdd: &Arc<dyn RddBase>) -> JobLineage {
        let mut rdds = Vec::new();
        let mut shuffles: Vec<Arc<dyn ShuffleDepBase>> = Vec::new();
        let mut seen = HashSet::new();
        let mut seen_shuffles = HashSet::new();
        let mut hasher = rustc_hash::FxHasher::default();
        let mut stack = vec![Arc::clone(final_rdd)];
        while let Some(rdd) = stack.pop() {
            if !seen.insert(rdd.id()) {
                // A diamond: the shape is part of the graph.
                hasher.write_u64(u64::MAX);
                hasher.write_usize(rdds.iter().position(|&r| r == rdd.id()).unwrap_or(0));
                continue;
            }
            rdds.push(rdd.id());
            hasher.write(rdd.signature().as_bytes());
            let deps = rdd.dependencies();
            hasher.write_usize(deps.len());
            // Pushed in reverse so the first dependency is walked first.
            for dep in deps.into_iter().rev() {
                match dep {
                    Dependency::Narrow(p) => {
                        hasher.write_u8(1);
                        stack.push(p);
                    }
                    Dependency::Shuffle(s) => {
                        hasher.write_u8(2);
                        if seen_shuffles.insert(s.shuffle_id()) {
                            stack.push(s.parent());
                            shuffles.push(s);
                        }
                    }
                }
            }
        }
        let description = format!("{} ({} RDDs)", final_rdd.signature(), rdds.len());
        JobLineage {
            rdds,
            shuffles,
            fingerprint: format!("{:016x}", hasher.finish()),
            description,
        }
    }

    pub(crate) fn shuffle_ids(&self) -> Vec<ShuffleId> {
        self.shuffles.iter().map(|s| s.shuffle_id()).collect()
    }
}
