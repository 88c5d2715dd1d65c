//! Cutting a job's lineage into stages at shuffle dependencies.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use super::JobEnv;
use crate::dag::ShuffleDepBase;
use crate::dag::{Dependency, RddBase};
use crate::ids::{ShuffleId, StageId};

pub(crate) enum StageKind {
    /// Computes the parent side of a shuffle and writes its buckets.
    ShuffleMap(Arc<dyn ShuffleDepBase>),
    /// Computes the job's final RDD and applies the action's function.
    Result,
}

pub(crate) struct Stage {
    pub(crate) id: StageId,
    /// The last RDD computed by the stage's tasks.
    pub(crate) rdd: Arc<dyn RddBase>,
    pub(crate) kind: StageKind,
    /// Indices of the stages this one reads shuffle outputs of.
    pub(crate) parents: Vec<usize>,
}

impl Stage {
    pub(crate) fn describe(&self) -> String {
        self.rdd.describe()
    }
}

/// A job's stages, parents before children; the result stage is last.
pub(crate) struct StageGraph {
    pub(crate) stages: Vec<Stage>,
}

impl StageGraph {
    pub(crate) fn build(ctx: &JobEnv, final_rdd: Arc<dyn RddBase>) -> StageGraph {
        let mut g = Builder {
            ctx,
            stages: Vec::new(),
            by_shuffle: HashMap::new(),
        };
        let parents = g.parent_stages(&final_rdd);
        let id = ctx.next_stage_id();
        g.stages.push(Stage {
            id,
            rdd: final_rdd,
            kind: StageKind::Result,
            parents,
        });
        StageGraph { stages: g.stages }
    }
}

impl StageGraph {
    /// A task of stage `child` found map outputs of `shuffle` missing, and the job has no stage
    /// for it: the shuffle is behind an RDD that was fully cached when the job started, and the
    /// task recomputes a partition of it that went with a lost executor. Adds the shuffle's
    /// map stage (with what it needs) as a parent of `child`, so its lost outputs are computed
    /// again first — as Spark resubmits the map stage of a failed fetch. Stages behind a cache
    /// run only when a fetch fails like this, not whenever an output is missing. Returns the
    /// new stage's index, or `None` if `child` does not read `shuffle`.
    pub(crate) fn add_stage_behind_cache(
        &mut self,
        ctx: &JobEnv,
        child: usize,
        shuffle: ShuffleId,
    ) -> Option<usize> {
        let dep = read_behind_cache(&self.stages[child].rdd, shuffle)?;
        let by_shuffle = self
            .stages
            .iter()
            .enumerate()
            .filter_map(|(i, s)| match &s.kind {
                StageKind::ShuffleMap(d) => Some((d.shuffle_id(), i)),
                StageKind::Result => None,
            })
            .collect();
        let mut b = Builder {
            ctx,
            stages: std::mem::take(&mut self.stages),
            by_shuffle,
        };
        let idx = b.map_stage(dep);
        self.stages = b.stages;
        if !self.stages[child].parents.contains(&idx) {
            self.stages[child].parents.push(idx);
        }
        Some(idx)
    }
}

/// The dependency on `shuffle` that a task computing `rdd` reads: through narrow dependencies
/// (cached RDDs included: their lost partitions are recomputed), up to the stage boundaries.
fn read_behind_cache(
    rdd: &Arc<dyn RddBase>,
    shuffle: ShuffleId,
) -> Option<Arc<dyn ShuffleDepBase>> {
    let mut seen = HashSet::new();
    let mut stack = vec![Arc::clone(rdd)];
    while let Some(r) = stack.pop() {
        if !seen.insert(r.id()) {
            continue;
        }
        for dep in r.dependencies() {
            match dep {
                Dependency::Narrow(p) => stack.push(p),
                Dependency::Shuffle(s) if s.shuffle_id() == shuffle => return Some(s),
                Dependency::Shuffle(_) => {}
            }
        }
    }
    None
}

struct Builder<'a> {
    ctx: &'a JobEnv,
    stages: Vec<Stage>,
    by_shuffle: HashMap<ShuffleId, usize>,
}

impl Builder<'_> {
    /// The map stages whose outputs the tasks computing `rdd` read: found by walking narrow
    /// dependencies (pipelined into the same task) up to shuffle boundaries. Fully cached RDDs
    /// stop the walk — their tasks read the cache, not their parents.
    fn parent_stages(&mut self, rdd: &Arc<dyn RddBase>) -> Vec<usize> {
        let mut parents = Vec::new();
        let mut seen = HashSet::new();
        let mut stack = vec![Arc::clone(rdd)];
        while let Some(r) = stack.pop() {
            if !seen.insert(r.id()) || r.fully_cached() {
                continue;
            }
            for dep in r.dependencies() {
                match dep {
                    Dependency::Narrow(p) => stack.push(p),
                    Dependency::Shuffle(s) => {
                        let idx = self.map_stage(s);
                        if !parents.contains(&idx) {
                            parents.push(idx);
                        }
                    }
                }
            }
        }
        parents
    }

    fn map_stage(&mut self, dep: Arc<dyn ShuffleDepBase>) -> usize {
        if let Some(&i) = self.by_shuffle.get(&dep.shuffle_id()) {
            return i;
        }
        let rdd = dep.parent();
        self.ctx.shuffles.register(dep.shuffle_id(), dep.num_maps());
        let parents = self.parent_stages(&rdd);
        let id = self.ctx.next_stage_id();
        self.stages.push(Stage {
            id,
            rdd,
            kind: StageKind::ShuffleMap(Arc::clone(&dep)),
            parents,
        });
        let idx = self.stages.len() - 1;
        self.by_shuffle.insert(dep.shuffle_id(), idx);
        idx
    }
}
