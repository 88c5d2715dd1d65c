//! A probe of cluster mode (used by `tests/cluster.rs`; also handy to watch a cluster work).
//!
//! ```text
//! cluster_probe shuffle <marker-dir> <maps> <reduces> <task-ms>
//! cluster_probe cached <marker-dir> <maps> <reduces> <task-ms>
//! cluster_probe faults <marker-dir> <checkpoint-dir>
//! cluster_probe sizes <out-dir> <batches>
//! cluster_probe results
//! cluster_probe crash-executors
//! spate-submit --master 'local-cluster[2,1]' target/debug/examples/cluster_probe shuffle /tmp/m 8 4 200
//! ```
//!
//! Every task leaves a marker file `<kind>-<partition>-e<executor>-p<pid>-<nanos>` in the
//! marker directory, so a test can see where tasks ran (and kill the process running them).
//! `shuffle` runs a two-stage job whose tasks take `task-ms` each and prints its result;
//! `cached` caches a shuffled RDD, then runs a job over it whose tasks take `task-ms` each
//! (`after` markers) — a test kills an executor holding cached partitions meanwhile;
//! `faults` runs the core's recovery scenarios (injected task failures, lost shuffle outputs,
//! dropped cached blocks, a panicking closure, checkpoints) and prints what each one gave, so
//! the output under `local[2]` and under a cluster master can be compared line by line.
//! `sizes` runs `<batches>` batches of a streaming word count (a shuffle, a cached stream, a
//! result collected) as fast as they complete, and every process writes what its context keeps
//! (`Context::internal_sizes`) after batch 2,000 and after the last to `<out-dir>`, so a test can
//! see that nothing grows with the number of batches. `results` collects ~1 MB with `collect`
//! and then with `collect_on_driver`, and prints the bytes of results the driver sent its
//! executors for each. `crash-executors` runs a small job whose executors all exit as they
//! start (a crash loop): the driver replaces them until `spate.executor.maxFailures` is spent.
//! The program is the same under every master; only the driver prints.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use spate::prelude::*;

fn main() -> ExitCode {
    spate::init_logging();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result: std::result::Result<(), Box<dyn std::error::Error>> = match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["shuffle", dir, maps, reduces, ms] => match (maps.parse(), reduces.parse(), ms.parse()) {
            (Ok(m), Ok(r), Ok(ms)) => shuffle(PathBuf::from(dir), m, r, ms).map_err(Into::into),
            _ => return usage("maps, reduces and task-ms are numbers"),
        },
        ["cached", dir, maps, reduces, ms] => match (maps.parse(), reduces.parse(), ms.parse()) {
            (Ok(m), Ok(r), Ok(ms)) => cached(PathBuf::from(dir), m, r, ms).map_err(Into::into),
            _ => return usage("maps, reduces and task-ms are numbers"),
        },
        ["faults", dir, checkpoints] => {
            faults(PathBuf::from(dir), Path::new(checkpoints)).map_err(Into::into)
        }
        ["results"] => results().map_err(Into::into),
        ["crash-executors"] => crash_executors().map_err(Into::into),
        ["sizes", dir, batches] => match batches.parse() {
            Ok(n) => sizes(PathBuf::from(dir), n),
            Err(_) => return usage("batches is a number"),
        },
        _ => return usage("unknown mode or arguments"),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cluster_probe: {e}");
            ExitCode::from(2)
        }
    }
}

fn usage(problem: &str) -> ExitCode {
    eprintln!(
        "cluster_probe: {problem}\nUsage: cluster_probe shuffle <marker-dir> <maps> <reduces> \
         <task-ms>\n       cluster_probe faults <marker-dir> <checkpoint-dir>\n       cluster_probe sizes \
         <out-dir> <batches>"
    );
    ExitCode::from(1)
}

/// Leaves a marker for a task of `kind` on partition `i` (in whatever process runs it).
fn mark(dir: &Path, kind: &str, i: usize) {
    let executor = std::env::var("SPATE_EXECUTOR_ID").unwrap_or_else(|_| "local".into());
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let name = format!("{kind}-{i}-e{executor}-p{}-{nanos}", std::process::id());
    let _ = std::fs::write(dir.join(name), b"");
}

/// A marking, optionally slow, identity step named `kind`.
fn marked<T: Data>(rdd: &Rdd<T>, dir: &Path, kind: &'static str, ms: u64) -> Rdd<T> {
    let dir = dir.to_path_buf();
    rdd.map_partitions_with_index(move |i, it| {
        mark(&dir, kind, i);
        std::thread::sleep(Duration::from_millis(ms));
        it
    })
}

fn pairs(ctx: &Context, parts: usize) -> Rdd<(u64, u64)> {
    ctx.parallelize((0..4000u64).map(|i| (i % 97, i)).collect(), parts)
}

fn sorted<T: Ord>(mut v: Vec<T>) -> Vec<T> {
    v.sort();
    v
}

fn shuffle(dir: PathBuf, maps: usize, reduces: usize, ms: u64) -> Result<()> {
    let ctx = Context::new(Conf::from_env().set_app_name("ClusterProbe"))?;
    let data = ctx.parallelize((0..maps as u64 * 1000).collect(), maps);
    let keyed = marked(&data, &dir, "map", ms).map(|x| (x % 97, x));
    let sums = keyed.reduce_by_key_with_partitions(|a, b| a + b, reduces);
    let result = sorted(marked(&sums, &dir, "reduce", ms).collect()?);
    if ctx.is_driver() {
        let total: u64 = result.iter().map(|(_, v)| v).sum();
        println!("keys {} total {total}", result.len());
        println!("{result:?}");
    }
    Ok(())
}

/// A shuffled RDD cached by a first job, then a second job over it whose tasks take `ms` each
/// (`after` markers). An executor killed during the second job takes cached partitions and the
/// first shuffle's map outputs with it: the partitions are recomputed through the stage behind
/// the cache.
fn cached(dir: PathBuf, maps: usize, reduces: usize, ms: u64) -> Result<()> {
    let ctx = Context::new(Conf::from_env().set_app_name("ClusterProbe"))?;
    let data = ctx.parallelize((0..maps as u64 * 1000).collect(), maps);
    let sums = data
        .map(|x| (x % 97, x))
        .reduce_by_key_with_partitions(|a, b| a + b, reduces)
        .cache();
    let keys = sums.count()?;
    let again = marked(&sums, &dir, "after", ms)
        .map(|(k, v)| (k % 7, v))
        .reduce_by_key_with_partitions(|a, b| a + b, 2);
    let result = sorted(again.collect()?);
    if ctx.is_driver() {
        println!("{keys} keys cached");
        println!("{result:?}");
    }
    Ok(())
}

/// One line per scenario, printed by the driver.
fn say(ctx: &Context, line: String) {
    if ctx.is_driver() {
        println!("{line}");
    }
}

/// An error in a form that is the same wherever the task ran.
fn outcome<T: std::fmt::Debug>(r: spate::core::Result<T>) -> String {
    match r {
        Ok(v) => format!("ok {v:?}"),
        Err(spate::core::Error::JobAborted {
            partition,
            attempts,
            reason,
            ..
        }) => format!(
            "aborted partition {partition} after {attempts} attempts (injected: {}, panic: {})",
            reason.contains("injected"),
            reason.contains("panicked: bad record 77")
        ),
        Err(e) => format!("error {}", e.to_string().split(':').next().unwrap_or("")),
    }
}

fn faults(dir: PathBuf, checkpoints: &Path) -> Result<()> {
    let ctx = Context::new(
        Conf::from_env()
            .set_app_name("ClusterFaults")
            .set("spate.task.maxFailures", "3")
            .set("spate.stage.maxConsecutiveAttempts", "3"),
    )?;
    let faults = ctx.fault_injector();
    // The test checks that tasks ran in every executor: on a loaded machine the second one
    // may register after the first jobs ran, so the driver waits for all (no job is run
    // meanwhile, so executors follow the same program).
    let wanted: usize = std::env::var("SPATE_MASTER")
        .ok()
        .and_then(|m| {
            let n = m.strip_prefix("local-cluster[")?.split(',').next()?;
            n.parse().ok()
        })
        .unwrap_or(0);
    if ctx.is_driver() {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while ctx.executors().len() < wanted && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    // Failed attempts (map and result side) are retried with the same result.
    let p = pairs(&ctx, 4);
    let expected = sorted(p.reduce_by_key(|a, b| a + b).collect()?);
    faults.fail_task_attempt(p.id(), 2, 0);
    faults.fail_task_attempt(p.id(), 2, 1);
    let again = p.reduce_by_key(|a, b| a + b);
    faults.fail_task_attempt(again.id(), 0, 0);
    let got = sorted(again.collect()?);
    say(&ctx, format!("retried: {}", got == expected));

    // Too many failures abort with the partition and attempts.
    let p2 = pairs(&ctx, 4);
    faults.fail_task_always(p2.id(), 1);
    say(
        &ctx,
        format!("abort: {}", outcome(p2.reduce_by_key(|a, b| a + b).count())),
    );

    // A panicking closure fails its task and, after the retries, the job.
    let bad = ctx.parallelize((0..100).collect::<Vec<i32>>(), 4).map(|x| {
        if x == 77 {
            panic!("bad record {x}");
        }
        x
    });
    say(&ctx, format!("panic: {}", outcome(bad.count())));

    // Lost map outputs are recomputed (only those), also within a job and upstream.
    let tracked = marked(&pairs(&ctx, 4), &dir, "lost", 0);
    let sums = tracked.reduce_by_key_with_partitions(|a, b| a + b, 3);
    let expected = sorted(sums.collect()?);
    faults.lose_shuffle_outputs(sums.shuffle_ids()[0], &[1, 3]);
    say(
        &ctx,
        format!("lost outputs: {}", sorted(sums.collect()?) == expected),
    );
    let groups = pairs(&ctx, 4).group_by_key().map_values(|v| v.len());
    faults.lose_shuffle_outputs_after_map_stage(groups.shuffle_ids()[0], &[0]);
    let g = sorted(groups.collect()?);
    say(
        &ctx,
        format!("lost mid-job: {} groups {:?}", g.len(), g.first()),
    );
    let by_mod = pairs(&ctx, 4)
        .reduce_by_key(|a, b| a + b)
        .map(|(k, v)| (k % 5, v))
        .reduce_by_key_with_partitions(|a, b| a + b, 2);
    let expected = sorted(by_mod.collect()?);
    let shuffles = by_mod.shuffle_ids();
    faults.lose_shuffle_outputs(shuffles[0], &[0, 1]);
    faults.lose_shuffle_outputs(shuffles[1], &[2]);
    say(
        &ctx,
        format!("two shuffles: {}", sorted(by_mod.collect()?) == expected),
    );
    let never = pairs(&ctx, 2).reduce_by_key(|a, b| a + b);
    for _ in 0..5 {
        faults.lose_shuffle_outputs_after_map_stage(never.shuffle_ids()[0], &[0]);
    }
    let lost = match never.count() {
        Err(spate::core::Error::JobAborted { reason, .. }) => reason.contains("kept being lost"),
        _ => false,
    };
    say(&ctx, format!("persistent loss aborts: {lost}"));

    // Cached partitions are read back; a dropped one is recomputed.
    let cached = marked(&pairs(&ctx, 4), &dir, "cached", 0).cache();
    let expected = cached.collect()?;
    let second = cached.collect()?;
    faults.drop_cached_blocks(cached.id(), &[2]);
    let third = cached.collect()?;
    say(
        &ctx,
        format!("cache: {} {}", second == expected, third == expected),
    );

    // Checkpoints cut the lineage and serve the data alone (a shared directory).
    ctx.set_checkpoint_dir(checkpoints)?;
    let summed = pairs(&ctx, 3).reduce_by_key(|a, b| a + b).cache();
    summed.checkpoint()?;
    let expected = sorted(summed.collect()?);
    summed.unpersist();
    say(
        &ctx,
        format!(
            "checkpoint: {} {} {}",
            summed.is_checkpointed(),
            summed.shuffle_ids().is_empty(),
            sorted(summed.collect()?) == expected
        ),
    );

    // Control flow that depends on an action takes the same path in every process.
    let mut rounds = 0;
    let mut value = ctx.parallelize((1..=64u64).collect(), 4);
    while value.count()? > 1 {
        value = value.map(|x| (x / 2, ())).reduce_by_key(|a, _| a).keys();
        rounds += 1;
    }
    say(
        &ctx,
        format!("loop: {rounds} rounds, {:?}", value.collect()?),
    );
    Ok(())
}

/// `batches` batches on a manual clock the driver moves as soon as each completes; every
/// process writes its context's sizes after batch 2,000 and after the last.
fn sizes(dir: PathBuf, batches: usize) -> std::result::Result<(), Box<dyn std::error::Error>> {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use spate::streaming::testing::BatchCounter;
    use spate::streaming::{ManualClock, RddQueue};

    let ctx =
        Context::new(Conf::from_env().set("spate.streaming.stopGracefullyOnShutdown", "false"))?;
    let clock = Arc::new(ManualClock::new(Time::from_millis(0)));
    let ssc = StreamingContext::with_clock(ctx.clone(), Duration::from_millis(10), clock.clone())?;
    let words = ctx.parallelize((0..400u64).map(|i| format!("w{}", i % 37)).collect(), 4);
    let seen = Arc::new(AtomicUsize::new(0));
    let who = std::env::var("SPATE_EXECUTOR_ID")
        .map_or("driver".to_string(), |e| format!("executor-{e}"));
    {
        let (seen, ssc2, dir) = (Arc::clone(&seen), ssc.clone(), dir.clone());
        ssc.queue_stream(RddQueue::new(), true, Some(words))
            .cache()
            .map(|w| (w, 1u64))
            .reduce_by_key(|a, b| a + b)
            .foreach_rdd(move |rdd, _| {
                let counts = rdd.collect()?;
                assert_eq!(counts.len(), 37);
                let n = seen.fetch_add(1, Ordering::SeqCst) + 1;
                if n == 2_000 || n == batches {
                    let sizes: Vec<String> = ssc2
                        .internal_sizes()
                        .iter()
                        .map(|(what, size)| format!("{what}={size}"))
                        .collect();
                    let _ = std::fs::write(dir.join(format!("sizes-{who}-{n}")), sizes.join("\n"));
                }
                Ok(())
            })?;
    }
    let done = Arc::new(BatchCounter::default());
    ssc.add_streaming_listener(done.clone());
    ssc.start()?;
    if ctx.is_driver() {
        for n in 1..=batches {
            clock.advance(Duration::from_millis(10));
            done.wait(n);
        }
        ssc.stop(StopOptions::default())?;
        println!("sizes: {batches} batches");
    } else {
        ssc.await_termination()?;
    }
    Ok(())
}

/// ~1 MB of rows collected with `collect`, then with `collect_on_driver`: the bytes of results
/// the driver sent its executors for each (printed by the driver).
fn results() -> Result<()> {
    let conf = Conf::from_env();
    let ctx = Context::new(conf.clone())?;
    let rows = ctx.parallelize((0..20_000u64).map(|i| format!("row {i:>40}")).collect(), 4);
    let sent = || ctx.result_bytes_to_executors().unwrap_or(0);
    if ctx.is_driver() {
        // Every executor there first, so each copy is counted by the end.
        let expected = executors(&conf)?;
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while ctx.executors().len() < expected && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    let on_driver = rows.collect_on_driver()?;
    let by_collect_on_driver = sent();
    let all = rows.collect()?;
    if ctx.is_driver() {
        assert_eq!(on_driver.as_deref(), Some(&all[..]));
        // An executor that reached the job after it ended gets its copy then: wait for it.
        let copies = executors(&conf)? as u64;
        let bytes: usize = all.iter().map(String::len).sum();
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while sent() - by_collect_on_driver < copies * bytes as u64
            && std::time::Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(10));
        }
        println!("rows: {bytes} bytes");
        println!(
            "collect: {} bytes to executors",
            sent() - by_collect_on_driver
        );
        println!("collect_on_driver: {by_collect_on_driver} bytes to executors");
    } else {
        assert!(on_driver.is_none());
    }
    Ok(())
}

/// How many executors the master starts (1 where it starts none).
fn executors(conf: &Conf) -> Result<usize> {
    Ok(match conf.master()? {
        spate::core::conf::Master::LocalCluster { executors, .. } => executors,
        _ => 1,
    })
}

/// Every executor exits as it starts; the driver's job fails once the replacements have spent
/// the failure budget.
fn crash_executors() -> Result<()> {
    if std::env::var_os("SPATE_EXECUTOR_ID").is_some() {
        eprintln!("cluster_probe: this executor crashes on purpose");
        std::process::exit(3);
    }
    let ctx = Context::new(Conf::from_env().set_app_name("crash-executors"))?;
    let n = ctx.parallelize((0..100).collect::<Vec<u32>>(), 4).count()?;
    println!("count: {n}");
    Ok(())
}
