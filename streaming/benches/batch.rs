//! The fixed cost of one batch: an empty batch with one output operation, generated, run and
//! reported, on a manual clock — with the UI (its store, live events, metrics) on and off. The
//! difference is what the UI costs per batch; it does no per-record work.

#![allow(missing_docs)]

use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use spate_core::{Conf, Context};
use spate_streaming::testing::BatchCounter;
use spate_streaming::{ManualClock, RddQueue, StopOptions, StreamingContext, Time};

fn empty_batches(c: &mut Criterion) {
    let mut group = c.benchmark_group("empty_batch");
    for ui in [false, true] {
        let conf = Conf::new()
            .set_master("local[2]")
            .set("spate.ui.enabled", if ui { "true" } else { "false" })
            .set("spate.ui.port", "0")
            .set("spate.streaming.stopGracefullyOnShutdown", "false");
        let ctx = Context::new(conf).unwrap();
        let clock = Arc::new(ManualClock::new(Time::from_millis(0)));
        let ssc =
            StreamingContext::with_clock(ctx.clone(), Duration::from_millis(1), clock.clone())
                .unwrap();
        let empty = ctx.parallelize(Vec::<u8>::new(), 1);
        ssc.queue_stream(RddQueue::new(), true, Some(empty))
            .foreach_rdd(|_, _| Ok(()))
            .unwrap();
        let done = Arc::new(BatchCounter::default());
        ssc.add_streaming_listener(done.clone());
        ssc.start().unwrap();
        let mut n = 0;
        group.bench_function(if ui { "ui_on" } else { "ui_off" }, |b| {
            b.iter(|| {
                n += 1;
                clock.advance(Duration::from_millis(1));
                done.wait(n);
            })
        });
        ssc.stop(StopOptions::default()).unwrap();
    }
    group.finish();
}

criterion_group!(benches, empty_batches);
criterion_main!(benches);
