//! Remote shuffle fetch: one shuffle of 2M `(u64, u64)` pairs (32 MB) on `local[2]` (blocks
//! read in memory) and on `local-cluster[2,1]` (two executor processes: about half the blocks
//! fetched from the other executor over gRPC, as checksummed codec frames). `scripts/bench
//! cluster` runs it; the ratio goes in the README.
//!
//! The bench binary is also the executors' program: started as an executor, `main` builds the
//! same RDD and runs the same job for as long as the driver runs it (each run follows one of
//! the driver's), and exits when the driver stops it.

// criterion's macros generate undocumented public functions.
#![allow(missing_docs)]

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, Throughput};
use spate_core::{Conf, Context, HashPartitioner, Rdd};

const PAIRS: u64 = 2_000_000;

fn data(ctx: &Context) -> Rdd<(u64, u64)> {
    ctx.parallelize((0..PAIRS).map(|i| (i, i * 7)).collect(), 4)
}

/// The measured job: every pair crosses the shuffle (no map-side combine).
fn shuffle(rdd: &Rdd<(u64, u64)>) -> u64 {
    rdd.partition_by(Arc::new(HashPartitioner::new(4)))
        .count()
        .expect("the shuffle job")
}

fn main() {
    let cluster = Context::new(
        Conf::new()
            .set_master("local-cluster[2,1]")
            .set_app_name("ShuffleFetchBench"),
    )
    .expect("a local-cluster context");
    let cluster_data = data(&cluster);
    if !cluster.is_driver() {
        // An executor: follow the driver's runs until it stops this process.
        loop {
            shuffle(&cluster_data);
        }
    }
    let local = Context::local(2).expect("a local context");
    let local_data = data(&local);
    let mut c = Criterion::default().configure_from_args();
    let mut g = c.benchmark_group("shuffle_fetch_2M_pairs");
    g.sample_size(10);
    g.throughput(Throughput::Elements(PAIRS));
    g.bench_function("local2_in_memory", |b| {
        b.iter(|| black_box(shuffle(&local_data)))
    });
    g.bench_function("local_cluster_2x1_remote", |b| {
        b.iter(|| black_box(shuffle(&cluster_data)))
    });
    g.finish();
    c.final_summary();
}
