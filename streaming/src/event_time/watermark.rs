//! Watermarks: how far event time has progressed, per input and combined.
//!
//! Each input of an event-time stream keeps, per batch, the largest event time seen in every
//! batch up to and including it. The watermark a batch uses is that maximum as of the
//! *previous* batch, less the input's delay (Spark's rule: a batch never moves the watermark
//! it is judged by). Several inputs combine by `spate.streaming.multipleWatermarkPolicy`.
//! Maxima are measured by one pass over the batch (a job) when the first operator needs them;
//! the batch's records are cached for the batch, so the aggregation reads them again from memory.

use std::collections::BTreeMap;
use std::sync::Arc;

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use spate_core::Data;

use crate::common::Time;
use crate::dstream::DStream;

/// Event time's keys.
pub(crate) const KEYS: &[spate_core::conf::KeySpec] = spate_core::key_table! {
    "spate.streaming.multipleWatermarkPolicy", OneOf(&["min", "max"]), Some("min"), None, None, "How the watermarks of unioned event-time streams combine: the slowest input's (min, nothing late is lost) or the fastest's (max, results sooner).";
};

/// How the watermarks of several inputs combine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Policy {
    /// The slowest input's: nothing another input still sends is judged late because of a
    /// faster one.
    Min,
    /// The fastest input's: results come sooner, a slower input's data may be late.
    Max,
}

impl Policy {
    pub(crate) fn from_conf(conf: &spate_core::Conf) -> Policy {
        match conf.get("spate.streaming.multipleWatermarkPolicy") {
            Some(v) if v.trim() == "max" => Policy::Max,
            _ => Policy::Min,
        }
    }
}

/// Counts, for one event time, the (record, window) pairs that are late.
pub(crate) type LateCount = Arc<dyn Fn(i64) -> u64 + Send + Sync>;

/// One input of an event-time stream: its timestamped records and how far they have come.
pub(crate) struct Input<T> {
    pub(crate) stamped: DStream<(i64, T)>,
    delay_ms: i64,
    /// The largest event time seen through each batch (`i64::MIN`: none yet), by batch time.
    through: Mutex<BTreeMap<Time, i64>>,
}

/// What a checkpoint keeps of an input: its maxima since the oldest batch a restart replays.
#[derive(Serialize, Deserialize)]
pub(crate) struct SavedInput {
    through: Vec<(Time, i64)>,
}

impl<T: Data> Input<T> {
    pub(crate) fn new(stamped: DStream<(i64, T)>, delay_ms: i64) -> Input<T> {
        Input {
            stamped,
            delay_ms,
            through: Mutex::new(BTreeMap::new()),
        }
    }

    /// The largest event time seen in the batches before `time`.
    fn max_before(&self, time: Time) -> i64 {
        self.through
            .lock()
            .range(..time)
            .next_back()
            .map_or(i64::MIN, |(_, m)| *m)
    }

    /// The watermark batch `time` is judged by: `None` until an event was seen.
    pub(crate) fn watermark_for(&self, time: Time) -> Option<i64> {
        let max = self.max_before(time);
        (max != i64::MIN).then(|| max.saturating_sub(self.delay_ms))
    }

    /// Batch `time`'s pass: records its largest event time (once) and returns how many of its
    /// (record, window) pairs `late` counts. Runs a job unless there is nothing to learn.
    pub(crate) fn observe(&self, time: Time, late: Option<LateCount>) -> spate_core::Result<u64> {
        let known = self.through.lock().contains_key(&time);
        if known && late.is_none() {
            return Ok(0);
        }
        let (max, late_pairs) = match self.stamped.node.rdd_at(time)? {
            None => (i64::MIN, 0),
            Some(rdd) => rdd.aggregate(
                (i64::MIN, 0u64),
                move |(m, n), (ts, _)| (m.max(ts), n + late.as_ref().map_or(0, |l| l(ts))),
                |a, b| (a.0.max(b.0), a.1 + b.1),
            )?,
        };
        if !known {
            let before = self.max_before(time);
            let mut through = self.through.lock();
            through.insert(time, before.max(max));
            if self.stamped.node.graph.checkpoint_base().is_none() {
                // Nothing replays batches without a checkpoint directory: the last few do.
                while through.len() > 4 {
                    through.pop_first();
                }
            }
        }
        Ok(late_pairs)
    }

    /// What a restart needs: the maxima from just before `keep_from` on (older ones are
    /// dropped: no batch before it is replayed).
    pub(crate) fn snapshot(&self, keep_from: Time) -> SavedInput {
        let mut through = self.through.lock();
        // Keep the newest entry at or before keep_from: the watermark of the batch after it.
        if let Some((&floor, _)) = through.range(..=keep_from).next_back() {
            let kept = through.split_off(&floor);
            *through = kept;
        }
        SavedInput {
            through: through.iter().map(|(t, m)| (*t, *m)).collect(),
        }
    }

    pub(crate) fn restore(&self, saved: SavedInput) {
        self.through.lock().extend(saved.through);
    }
}

/// The watermark of several inputs under `policy`: `None` until the policy has one.
pub(crate) fn combined(
    watermarks: impl Iterator<Item = Option<i64>>,
    policy: Policy,
) -> Option<i64> {
    match policy {
        Policy::Min => watermarks
            .collect::<Option<Vec<i64>>>()
            .and_then(|w| w.into_iter().min()),
        Policy::Max => watermarks.flatten().max(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_combine_as_spark_does() {
        let w = |v: &[Option<i64>], p| combined(v.iter().copied(), p);
        assert_eq!(w(&[Some(5), None], Policy::Min), None);
        assert_eq!(w(&[Some(5), None], Policy::Max), Some(5));
        assert_eq!(w(&[Some(5), Some(9)], Policy::Min), Some(5));
        assert_eq!(w(&[Some(5), Some(9)], Policy::Max), Some(9));
        assert_eq!(w(&[], Policy::Max), None);
    }
}
