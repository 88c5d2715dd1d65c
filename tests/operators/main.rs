//! DStream operators on the manual clock, through `testing::run_batches`: the essence of Spark
//! Streaming's own operator suites (basic and window operations), each with per-batch input and
//! the exact per-batch expected output, plus property tests against recomputing windows from
//! scratch.

mod basic;
mod event_time;
mod properties;
mod state;
mod windows;

use std::collections::BTreeMap;
use std::time::Duration;

use proptest::prelude::*;
use spate::core::Data;
use spate::prelude::{
    BatchInfo, Conf, Context, DStream, RddQueue, StopOptions, StreamingContext, StreamingListener,
    Time,
};
use spate::streaming::testing::run_batches;
use spate::streaming::{Error, OutputMode, State, StateSpec};

const S: Duration = Duration::from_secs(1);

/// Every batch sorted, so hash-partitioned outputs compare as sets.
fn sorted<T: Ord>(out: Vec<Vec<T>>) -> Vec<Vec<T>> {
    out.into_iter()
        .map(|mut b| {
            b.sort();
            b
        })
        .collect()
}

/// The outputs at a stream's own times: with a slide of `k` batches, batches k, 2k, … (Spark's
/// suites list only those).
fn every<T: Clone>(out: &[Vec<T>], k: usize) -> Vec<Vec<T>> {
    out.iter().skip(k - 1).step_by(k).cloned().collect()
}

fn kv(batches: &[&[(&str, i64)]]) -> Vec<Vec<(String, i64)>> {
    batches
        .iter()
        .map(|b| b.iter().map(|(k, v)| (k.to_string(), *v)).collect())
        .collect()
}

fn ints(batches: &[&[i64]]) -> Vec<Vec<i64>> {
    batches.iter().map(|b| b.to_vec()).collect()
}
