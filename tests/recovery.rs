//! Lineage-based recovery: every kind of injected fault leaves results unchanged and recomputes
//! only what was lost; more failures than allowed give a clear error, never a hang.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use spate::core::Error;
use spate::core::ids::RddId;
use spate::prelude::*;

/// Counts how many times each partition of an RDD is computed.
#[derive(Clone, Default)]
struct Computations(Arc<Vec<AtomicUsize>>);

impl Computations {
    fn new(parts: usize) -> Self {
        Computations(Arc::new((0..parts).map(|_| AtomicUsize::new(0)).collect()))
    }
    fn counts(&self) -> Vec<usize> {
        self.0.iter().map(|c| c.load(Ordering::SeqCst)).collect()
    }
    /// `rdd` with each partition's computation counted.
    fn track<T: Data>(&self, rdd: &Rdd<T>) -> Rdd<T> {
        let me = self.clone();
        rdd.map_partitions_with_index(move |i, it| {
            me.0[i].fetch_add(1, Ordering::SeqCst);
            it
        })
    }
}

fn word_pairs(ctx: &Context, parts: usize) -> Rdd<(u64, u64)> {
    ctx.parallelize((0..4000u64).map(|i| (i % 97, i)).collect(), parts)
}

fn sorted<T: Ord>(mut v: Vec<T>) -> Vec<T> {
    v.sort();
    v
}

#[test]
fn failed_attempts_are_retried_with_the_same_result() {
    let ctx = Context::local(2).unwrap();
    let pairs = word_pairs(&ctx, 4);
    let sums = pairs.reduce_by_key(|a, b| a + b);
    let expected = sorted(sums.collect().unwrap());
    let faults = ctx.fault_injector();
    // Map side: partition 2 fails twice; result side: partition 0 fails once.
    faults.fail_task_attempt(pairs.id(), 2, 0);
    faults.fail_task_attempt(pairs.id(), 2, 1);
    let again = pairs.reduce_by_key(|a, b| a + b);
    faults.fail_task_attempt(again.id(), 0, 0);
    assert_eq!(sorted(again.collect().unwrap()), expected);
}

#[test]
fn too_many_failures_abort_with_a_clear_error() {
    let ctx = Context::new(
        Conf::new()
            .set_master("local[2]")
            .set("spate.task.maxFailures", "3"),
    )
    .unwrap();
    let pairs = word_pairs(&ctx, 4);
    let sums = pairs.reduce_by_key(|a, b| a + b);
    ctx.fault_injector().fail_task_always(pairs.id(), 1);
    match sums.collect().unwrap_err() {
        Error::JobAborted {
            partition,
            attempts,
            reason,
            stage_desc,
            ..
        } => {
            assert_eq!((partition, attempts), (1, 3));
            assert!(reason.contains("injected"), "{reason}");
            assert!(stage_desc.starts_with("map_side_combine"), "{stage_desc}");
        }
        other => panic!("{other}"),
    }
}

#[test]
fn panicking_closures_fail_the_task_and_name_it() {
    let ctx = Context::local(2).unwrap();
    let r = ctx.parallelize((0..100).collect::<Vec<i32>>(), 4).map(|x| {
        if x == 77 {
            panic!("bad record {x}");
        }
        x
    });
    let err = r.count().unwrap_err();
    let msg = err.to_string();
    match err {
        Error::JobAborted {
            partition,
            attempts,
            reason,
            stage_desc,
            ..
        } => {
            assert_eq!((partition, attempts), (3, 4));
            assert_eq!(reason, "user code panicked: bad record 77");
            assert!(
                stage_desc.starts_with("map [rdd 1] at tests/recovery.rs:"),
                "{stage_desc}"
            );
        }
        other => panic!("{other}"),
    }
    assert!(
        msg.contains("partition 3") && msg.contains("4 time"),
        "{msg}"
    );

    // A panic on the first attempt only: the retry succeeds.
    let first = Arc::new(AtomicUsize::new(0));
    let f = Arc::clone(&first);
    let flaky = ctx.parallelize(vec![1, 2, 3], 1).map(move |x| {
        if f.fetch_add(1, Ordering::SeqCst) == 0 {
            panic!("transient");
        }
        x
    });
    assert_eq!(flaky.collect().unwrap(), [1, 2, 3]);
}

#[test]
fn lost_map_outputs_are_recomputed_alone() {
    let ctx = Context::local(2).unwrap();
    let computed = Computations::new(4);
    let pairs = computed.track(&word_pairs(&ctx, 4));
    let sums = pairs.reduce_by_key_with_partitions(|a, b| a + b, 3);
    let expected = sorted(sums.collect().unwrap());
    assert_eq!(computed.counts(), [1, 1, 1, 1]);
    // The shuffle outputs are reused by the next job...
    assert_eq!(sorted(sums.collect().unwrap()), expected);
    assert_eq!(computed.counts(), [1, 1, 1, 1]);
    // ...until two are lost: then exactly those two map tasks run again.
    let lost = ctx
        .fault_injector()
        .lose_shuffle_outputs(sums.shuffle_ids()[0], &[1, 3]);
    assert_eq!(lost, 2);
    assert_eq!(sorted(sums.collect().unwrap()), expected);
    assert_eq!(computed.counts(), [1, 2, 1, 2]);
}

#[test]
fn map_outputs_lost_mid_job_are_recomputed_within_the_job() {
    let ctx = Context::local(2).unwrap();
    let computed = Computations::new(4);
    let pairs = computed.track(&word_pairs(&ctx, 4));
    let groups = pairs.group_by_key().map_values(|v| v.len());
    ctx.fault_injector()
        .lose_shuffle_outputs_after_map_stage(groups.shuffle_ids()[0], &[0]);
    let got = sorted(groups.collect().unwrap());
    assert_eq!(got.len(), 97);
    assert!(got.iter().all(|(_, n)| (41..=42).contains(n)));
    assert_eq!(computed.counts(), [2, 1, 1, 1]);
}

#[test]
fn upstream_shuffle_loss_in_a_two_shuffle_job() {
    let ctx = Context::local(2).unwrap();
    let computed = Computations::new(4);
    let pairs = computed.track(&word_pairs(&ctx, 4));
    let by_mod = pairs
        .reduce_by_key(|a, b| a + b)
        .map(|(k, v)| (k % 5, v))
        .reduce_by_key_with_partitions(|a, b| a + b, 2);
    let expected = sorted(by_mod.collect().unwrap());
    let shuffles = by_mod.shuffle_ids(); // nearest first: [downstream, upstream]
    assert_eq!(shuffles.len(), 2);
    // Lose the *downstream* shuffle's outputs and the *upstream* one's: both stages recover.
    let faults = ctx.fault_injector();
    assert_eq!(faults.lose_shuffle_outputs(shuffles[0], &[0, 1]), 2);
    assert_eq!(faults.lose_shuffle_outputs(shuffles[1], &[2]), 1);
    assert_eq!(sorted(by_mod.collect().unwrap()), expected);
    assert_eq!(computed.counts(), [1, 1, 2, 1]);
}

#[test]
fn persistent_loss_of_map_outputs_aborts_instead_of_looping() {
    let ctx = Context::new(
        Conf::new()
            .set_master("local[2]")
            .set("spate.stage.maxConsecutiveAttempts", "2"),
    )
    .unwrap();
    let sums = word_pairs(&ctx, 2).reduce_by_key(|a, b| a + b);
    let shuffle = sums.shuffle_ids()[0];
    // Lose map output 0 every time the map stage completes: the reduce stage can never read it.
    for _ in 0..5 {
        ctx.fault_injector()
            .lose_shuffle_outputs_after_map_stage(shuffle, &[0]);
    }
    let err = sums.count().unwrap_err();
    assert!(matches!(err, Error::JobAborted { .. }), "{err}");
    assert!(err.to_string().contains("kept being lost"), "{err}");
}

#[test]
fn dropped_cached_blocks_are_recomputed_alone() {
    for level in [
        StorageLevel::Memory,
        StorageLevel::MemorySerialized,
        StorageLevel::Disk,
        StorageLevel::MemoryAndDisk,
    ] {
        let ctx = Context::local(2).unwrap();
        let computed = Computations::new(4);
        let cached = computed.track(&word_pairs(&ctx, 4)).persist(level);
        let expected = cached.collect().unwrap();
        assert_eq!(cached.collect().unwrap(), expected, "{level:?}");
        assert_eq!(
            computed.counts(),
            [1, 1, 1, 1],
            "{level:?}: second job reads the cache"
        );
        let where_ = ctx.fault_injector().cached_block_location(cached.id(), 0);
        let expected_location = if level == StorageLevel::Disk {
            "disk"
        } else {
            "memory"
        };
        assert_eq!(where_, Some(expected_location), "{level:?}");
        assert_eq!(
            ctx.fault_injector().drop_cached_blocks(cached.id(), &[2]),
            1
        );
        assert_eq!(cached.collect().unwrap(), expected, "{level:?}");
        assert_eq!(computed.counts(), [1, 1, 2, 1], "{level:?}");
    }
}

#[test]
fn memory_budget_evicts_lru_and_spills_where_allowed() {
    let conf = Conf::new()
        .set_master("local[1]")
        .set("spate.storage.memory", "256k");
    let data: Vec<u64> = (0..40_000).collect(); // 8 partitions of ~80 KB each: only ~3 fit
    for (level, recomputes) in [
        (StorageLevel::Memory, true),
        (StorageLevel::MemoryAndDisk, false),
    ] {
        let ctx = Context::new(conf.clone()).unwrap();
        let computed = Computations::new(8);
        let cached = computed
            .track(&ctx.parallelize(data.clone(), 8))
            .persist(level);
        assert_eq!(cached.collect().unwrap(), data);
        let (used, blocks) = ctx.storage_usage();
        assert!(used <= 256 << 10, "{level:?}: {used} bytes over budget");
        assert_eq!(cached.collect().unwrap(), data);
        let total: usize = computed.counts().iter().sum();
        if recomputes {
            assert!(blocks < 8, "{level:?}: only some blocks fit in memory");
            assert!(total > 8, "{level:?}: evicted blocks are recomputed");
        } else {
            assert_eq!(blocks, 8, "{level:?}: evicted blocks are spilled");
            assert_eq!(
                total, 8,
                "{level:?}: spilled blocks are read back, not recomputed"
            );
            let on_disk = (0..8)
                .filter(|&p| {
                    ctx.fault_injector().cached_block_location(cached.id(), p) == Some("disk")
                })
                .count();
            assert!(on_disk >= 4, "{level:?}: {on_disk} blocks on disk");
        }
        drop(cached);
        assert_eq!(
            ctx.storage_usage(),
            (0, 0),
            "dropping the RDD frees its blocks"
        );
    }
}

#[test]
fn received_line_blocks_spill_to_disk_and_read_back_as_text() {
    use spate::core::ids::InputBlockId;
    use spate::core::{Text, TextLines};
    let conf = Conf::new()
        .set_master("local[2]")
        .set("spate.storage.memory", "256k");
    let ctx = Context::new(conf).unwrap();
    // 8 blocks of ~100 KB of lines: most must go to disk, none may be lost.
    let mut expected = Vec::new();
    let ids: Vec<InputBlockId> = (0..8)
        .map(|seq| {
            let text: String = (0..4000)
                .map(|i| format!("block {seq} line {i}\r\n"))
                .collect();
            expected.extend(text.lines().map(Text::from));
            let buf = Arc::new(text.into_bytes());
            let mut lines = TextLines::new();
            assert_eq!(lines.push(&buf, 0..buf.len(), 100).unwrap(), 4000);
            let id = InputBlockId { stream: 0, seq };
            ctx.put_input_lines(id, Arc::new(lines)).unwrap();
            id
        })
        .collect();
    let (used, blocks) = ctx.storage_usage();
    assert_eq!(blocks, 8, "spilled, not dropped");
    assert!(used <= 256 << 10, "{used} bytes over budget");
    let rdd = ctx.input_block_rdd::<Text>(ids.clone());
    assert_eq!(rdd.collect().unwrap(), expected);
    assert_eq!(rdd.count().unwrap(), 32_000);
    // Read as another type, a line block is a lost block, not a panic.
    let wrong = ctx.input_block_rdd::<u64>(vec![ids[7]]);
    assert!(matches!(wrong.collect(), Err(Error::InputBlockLost { .. })));
    ctx.remove_input_blocks(&ids);
    assert_eq!(ctx.storage_usage(), (0, 0));
}

#[test]
fn a_received_block_stays_readable_while_it_is_being_spilled() {
    use spate::core::ids::InputBlockId;
    use spate::core::{Text, TextLines};
    // Room for about two blocks: every block stored evicts an older one to disk. Tasks read
    // the newest blocks meanwhile; one caught between eviction and the spill file must still
    // be found (received records have no lineage: a miss fails the batch).
    let conf = Conf::new()
        .set_master("local[2]")
        .set("spate.storage.memory", "256k");
    let ctx = Context::new(conf).unwrap();
    let stored = Arc::new(AtomicUsize::new(0));
    let block = |seq: u64| {
        let text: String = (0..4000)
            .map(|i| format!("block {seq} line {i}\n"))
            .collect();
        let buf = Arc::new(text.into_bytes());
        let mut lines = TextLines::new();
        lines.push(&buf, 0..buf.len(), 100).unwrap();
        lines
    };
    const BLOCKS: u64 = 150;
    std::thread::scope(|s| {
        s.spawn(|| {
            for seq in 0..BLOCKS {
                let id = InputBlockId { stream: 0, seq };
                ctx.put_input_lines(id, Arc::new(block(seq))).unwrap();
                stored.store(seq as usize + 1, Ordering::Release);
            }
        });
        let mut reads = 0;
        while stored.load(Ordering::Acquire) < BLOCKS as usize {
            let newest = stored.load(Ordering::Acquire) as u64;
            let ids: Vec<InputBlockId> = (newest.saturating_sub(3)..newest)
                .map(|seq| InputBlockId { stream: 0, seq })
                .collect();
            let n = ids.len();
            let counted = ctx.input_block_rdd::<Text>(ids).count();
            assert_eq!(counted.unwrap(), 4000 * n as u64, "after {reads} reads");
            reads += 1;
        }
    });
    let (used, blocks) = ctx.storage_usage();
    assert_eq!(blocks, BLOCKS as usize, "spilled, not dropped");
    assert!(used <= 256 << 10, "{used} bytes over budget");
}

#[test]
fn checkpoints_cut_lineage_and_survive_cache_loss() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = Context::local(2).unwrap();
    ctx.set_checkpoint_dir(dir.path()).unwrap();
    let computed = Computations::new(3);
    let sums = computed
        .track(&word_pairs(&ctx, 3))
        .reduce_by_key(|a, b| a + b)
        .cache();
    sums.checkpoint().unwrap();
    let expected = sorted(sums.collect().unwrap());
    assert!(sums.is_checkpointed());
    assert!(
        sums.shuffle_ids().is_empty(),
        "lineage cut:\n{}",
        sums.lineage()
    );
    assert!(
        sums.lineage().contains("checkpoint files (3 partitions)"),
        "{}",
        sums.lineage()
    );
    // The cut lineage is let go: the upstream shuffle's outputs are freed.
    assert_eq!(ctx.active_shuffles(), 0);
    // Lose the cache and every upstream output: the checkpoint alone serves the data.
    sums.unpersist();
    assert_eq!(sorted(sums.collect().unwrap()), expected);
    assert_eq!(computed.counts(), [1, 1, 1]);
    // Dropping the last handle removes the checkpoint files.
    let files = ctx
        .checkpoint_dir()
        .unwrap()
        .join(format!("rdd-{}", sums.id().0));
    assert!(files.exists());
    drop(sums);
    assert!(!files.exists());
}

fn checkpointed(ctx: &Context) -> (Rdd<(u64, u64)>, std::path::PathBuf) {
    let r = word_pairs(ctx, 2).map_values(|v| v * 2);
    r.checkpoint().unwrap();
    r.count().unwrap();
    let dir = ctx
        .checkpoint_dir()
        .unwrap()
        .join(format!("rdd-{}", r.id().0));
    (r, dir)
}

#[test]
fn corrupt_or_missing_checkpoint_files_are_named() {
    let tmp = tempfile::tempdir().unwrap();
    let ctx = Context::local(2).unwrap();
    ctx.set_checkpoint_dir(tmp.path()).unwrap();

    let (r, dir) = checkpointed(&ctx);
    let part = dir.join("part-00001");
    let mut bytes = std::fs::read(&part).unwrap();
    let n = bytes.len();
    bytes[n - 3] ^= 0x55;
    std::fs::write(&part, &bytes).unwrap();
    match r.collect().unwrap_err() {
        Error::Corrupt { path, reason } => {
            assert_eq!(path, part);
            assert!(reason.contains("checksum"), "{reason}");
        }
        other => panic!("{other}"),
    }

    let (r, dir) = checkpointed(&ctx);
    std::fs::write(
        dir.join("part-00000"),
        &std::fs::read(dir.join("part-00000")).unwrap()[..20],
    )
    .unwrap();
    let err = r.count().unwrap_err();
    assert!(
        matches!(err, Error::Corrupt { .. }) && err.to_string().contains("part-00000"),
        "{err}"
    );

    let (r, dir) = checkpointed(&ctx);
    std::fs::remove_file(dir.join("part-00001")).unwrap();
    let err = r.count().unwrap_err();
    assert!(
        err.to_string().contains("part-00001") && err.to_string().contains("cannot be read"),
        "{err}"
    );
}

#[test]
fn shuffles_and_blocks_are_released_with_their_rdds() {
    let ctx = Context::local(2).unwrap();
    for _ in 0..50 {
        let sums = word_pairs(&ctx, 2).reduce_by_key(|a, b| a + b).cache();
        sums.count().unwrap();
    }
    assert_eq!(ctx.active_shuffles(), 0);
    assert_eq!(ctx.storage_usage(), (0, 0));
    let _ = RddId(0);
}
