//! A stream fed from a queue of RDDs — Spark's QueueStream example: every batch takes the next
//! RDD of the numbers 1..=1000, counts them by last digit, prints the counts, and after the
//! queue is drained the program stops gracefully.
//!
//! ```text
//! spate-submit --master 'local[2]' --example queue_stream [BATCHES] [BATCH_MS]
//! ```

use std::process::ExitCode;
use std::time::Duration;

use spate::prelude::*;

fn main() -> ExitCode {
    spate::init_logging();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let number = |i: usize, default: u64| match args.get(i) {
        None => Ok(default),
        Some(s) => s
            .parse::<u64>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| format!("expected a positive number, got {s:?}")),
    };
    let (batches, batch_ms) = match (number(0, 5), number(1, 1000)) {
        (Ok(b), Ok(ms)) if args.len() <= 2 => (b, ms),
        (Err(e), _) | (_, Err(e)) => return usage(&e),
        _ => return usage("too many arguments"),
    };
    match run(batches as usize, Duration::from_millis(batch_ms)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("queue_stream: {e}");
            ExitCode::from(2)
        }
    }
}

fn usage(problem: &str) -> ExitCode {
    eprintln!("queue_stream: {problem}\nUsage: queue_stream [BATCHES] [BATCH_MS]");
    ExitCode::from(1)
}

fn run(batches: usize, interval: Duration) -> Result<()> {
    let ssc = StreamingContext::new(Conf::from_env().set_app_name("QueueStream"), interval)?;
    let queue = RddQueue::new();
    for _ in 0..batches {
        queue.push(ssc.context().parallelize((1..=1000u32).collect(), 4));
    }
    let by_digit = ssc
        .queue_stream(queue.clone(), true, None)
        .map(|x| (x % 10, 1u32))
        .reduce_by_key(|a, b| a + b);
    by_digit.print(10)?;
    ssc.start()?;
    // Every queued RDD is taken by one batch: wait until the queue is empty and its last
    // batch has run, then stop (gracefully: nothing taken is left unprocessed).
    while !queue.is_empty() {
        if ssc.await_termination_timeout(interval)? {
            return Ok(());
        }
    }
    ssc.await_termination_timeout(interval * 2)?;
    ssc.stop(StopOptions {
        stop_context: true,
        graceful: true,
    })
}
