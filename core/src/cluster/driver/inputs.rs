//! The driver's record of received blocks. Receivers run on executors: the receiving
//! executor stores each block, copies it to a second one, and reports it here (`ReportInput`)
//! with its holders; the driver keeps only that — ids and holders, never the records — and
//! hands the report to the streaming layer's sink, which allocates the blocks to batches.
//! Tasks are placed where their blocks are (`preferred`); an executor reading a block it does
//! not hold asks `FetchInputBlock`, which answers with the holders' addresses. A lost
//! executor's copies are struck off; a block with none left is remembered as lost, with why,
//! so the task that needs it fails with a message that says what happened.

use std::collections::HashMap;

use super::*;
use crate::context::{InputReport, InputReports, ReportedBlock};
use crate::ids::InputBlockId;

/// Where each tracked received block is.
#[derive(Default)]
pub(super) struct InputTracker {
    holders: HashMap<InputBlockId, Vec<u32>>,
    /// Blocks whose every copy went with lost executors: why.
    lost: HashMap<InputBlockId, String>,
    sink: Option<Arc<dyn InputReports>>,
}

impl InputTracker {
    pub(super) fn len(&self) -> usize {
        self.holders.len() + self.lost.len()
    }

    pub(super) fn holders(&self, id: InputBlockId) -> Option<&[u32]> {
        self.holders.get(&id).map(Vec::as_slice)
    }

    pub(super) fn is_empty(&self) -> bool {
        self.holders.is_empty()
    }

    pub(super) fn set_sink(&mut self, sink: Arc<dyn InputReports>) {
        self.sink = Some(sink);
    }

    pub(super) fn forget(&mut self, ids: &[InputBlockId]) {
        for id in ids {
            self.holders.remove(id);
            self.lost.remove(id);
        }
    }

    /// Strikes `executor`'s copies off; returns how many blocks have none left.
    pub(super) fn lose_executor(&mut self, executor: u32, reason: &str) -> usize {
        let mut gone = Vec::new();
        for (id, holders) in &mut self.holders {
            if let Some(i) = holders.iter().position(|&h| h == executor) {
                holders.remove(i);
                if holders.is_empty() {
                    gone.push(*id);
                }
            }
        }
        for id in &gone {
            self.holders.remove(id);
            self.lost.insert(
                *id,
                format!(
                    "its last copy was on executor {executor}, which was lost ({reason}); a \
                     receiver's blocks survive one lost executor with replication 2 \
                     (spate.streaming.receiver.replication), and a lost driver or both copies \
                     with the write-ahead log (spate.streaming.receiver.writeAheadLog.enable)"
                ),
            );
        }
        gone.len()
    }
}

impl DriverState {
    /// An executor reported received blocks (and news for the streaming layer).
    pub(super) fn input_reported(&self, r: pb::InputReport) {
        let blocks: Vec<ReportedBlock> = r
            .blocks
            .into_iter()
            .map(|b| ReportedBlock {
                id: InputBlockId {
                    stream: r.stream,
                    seq: b.seq,
                },
                records: b.records,
                holders: b.holders,
            })
            .collect();
        let live: std::collections::HashSet<u32> =
            self.state.lock().executors.keys().copied().collect();
        let sink = {
            let mut t = self.inputs.lock();
            for b in &blocks {
                // A copy on an executor lost meanwhile is no copy.
                let holders: Vec<u32> = b
                    .holders
                    .iter()
                    .copied()
                    .filter(|h| live.contains(h))
                    .collect();
                if holders.is_empty() {
                    t.lost.insert(
                        b.id,
                        "every executor holding it was lost before the driver heard of it".into(),
                    );
                } else {
                    t.holders.insert(b.id, holders);
                }
            }
            t.sink.clone()
        };
        if let Some(sink) = sink {
            sink.reported(InputReport {
                executor: r.executor_id,
                stream: r.stream,
                blocks,
                payload: r.payload,
            });
        }
    }

    /// `FetchInputBlock`: the block, if the driver holds it (restored from a write-ahead log
    /// after a restart, or because every copy was lost and the log has it), else who holds
    /// it, or why nobody does.
    pub(super) fn input_reply(
        &self,
        blocks: &crate::storage::BlockStore,
        id: InputBlockId,
    ) -> std::result::Result<pb::InputBlockReply, Status> {
        use crate::cluster::inputs::WireBlock;
        let held = |blocks: &crate::storage::BlockStore| match WireBlock::of(blocks, id) {
            Some(Ok(wire)) => Some(Ok(wire.reply())),
            Some(Err(e)) => Some(Err(Status::internal(e.to_string()))),
            None => None,
        };
        if let Some(reply) = held(blocks) {
            return reply;
        }
        let (holders, lost, sink) = {
            let t = self.inputs.lock();
            (
                t.holders(id).map(<[u32]>::to_vec).unwrap_or_default(),
                t.lost.get(&id).cloned(),
                t.sink.clone(),
            )
        };
        if holders.is_empty()
            && lost.is_some()
            && sink.is_some_and(|s| s.restore_lost(id))
            && let Some(reply) = held(blocks)
        {
            return reply;
        }
        let st = self.state.lock();
        let addresses: Vec<String> = holders
            .iter()
            .filter_map(|h| st.executors.get(h).map(|e| e.address.clone()))
            .collect();
        let reason = match lost {
            Some(why) => why,
            None if addresses.is_empty() => {
                "the driver has no record of it (its batch was released, or it was never reported)"
                    .into()
            }
            None => String::new(),
        };
        Ok(super::super::inputs::missing_reply(addresses, reason))
    }

    /// Executors holding what computing `partition` of `rdd` reads first: a cached partition
    /// of it or of a narrow ancestor, or the received block at the bottom of the chain.
    pub(super) fn preferred(&self, rdd: &Arc<dyn RddBase>, partition: usize) -> Vec<u32> {
        let st = self.state.lock();
        let inputs = self.inputs.lock();
        if st.cached.is_empty() && inputs.is_empty() {
            return Vec::new();
        }
        let mut out = Vec::new();
        let mut stack = vec![(Arc::clone(rdd), partition)];
        let mut seen = HashSet::new();
        while let Some((r, p)) = stack.pop() {
            if !seen.insert((r.id(), p)) {
                continue;
            }
            if let Some(holders) = st.cached.get(&(r.id(), p)) {
                out.extend(holders.iter().copied());
                continue;
            }
            if let Some(block) = r.input_block(p) {
                out.extend(inputs.holders(block).unwrap_or_default());
                continue;
            }
            stack.extend(r.narrow_parents(p));
        }
        out.sort_unstable();
        out.dedup();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_block_is_lost_with_its_last_copy_and_says_why() {
        let mut t = InputTracker::default();
        let (a, b) = (
            InputBlockId { stream: 0, seq: 0 },
            InputBlockId { stream: 0, seq: 1 },
        );
        t.holders.insert(a, vec![0, 1]);
        t.holders.insert(b, vec![0]);
        assert_eq!(t.lose_executor(0, "killed"), 1);
        assert_eq!(t.holders(a), Some(&[1][..]));
        assert!(t.holders(b).is_none());
        assert!(t.lost[&b].contains("executor 0, which was lost (killed)"));
        assert_eq!(t.lose_executor(1, "also killed"), 1);
        assert_eq!(t.len(), 2);
        t.forget(&[a, b]);
        assert_eq!(t.len(), 0);
    }
}
