//! The hot paths of a streaming word count, one at a time (`scripts/bench core` runs them):
//! checking received bytes into a block of lines and reading its lines back, splitting lines
//! into words, map-side combine, and a shuffle's write and read. Throughput is reported per
//! element.

// criterion's macros generate undocumented public functions.
#![allow(missing_docs)]

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rand::{Rng, SeedableRng};
use rand_distr::Distribution;
use spate_core::ids::InputBlockId;
use spate_core::{Context, HashPartitioner, Rdd, Text, TextLines};

/// `lines` lines of 10 words drawn Zipf(1.0) from a 10k-word vocabulary, as one buffer.
fn received(lines: usize) -> Arc<Vec<u8>> {
    let zipf = rand_distr::Zipf::new(10_000.0, 1.0).unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(3);
    let mut buf = Vec::with_capacity(lines * 60);
    for _ in 0..lines {
        for i in 0..10 {
            if i > 0 {
                buf.push(b' ');
            }
            buf.extend_from_slice(format!("w{:x}", zipf.sample(&mut rng) as u64 - 1).as_bytes());
        }
        buf.push(b'\n');
    }
    Arc::new(buf)
}

/// A buffer's lines as a block, the way the socket receiver stores them.
fn block_of(buf: &Arc<Vec<u8>>) -> TextLines {
    let mut lines = TextLines::new();
    lines.push(buf, 0..buf.len(), usize::MAX).unwrap();
    lines
}

/// A word count task's narrow chain as a user writes it: lines → split → (w, 1) → map-side
/// combine into one partition.
fn word_count_chain(lines: &Rdd<Text>) -> u64 {
    lines
        .flat_map(|l| l.split(' '))
        .map(|w| (w, 1u64))
        .reduce_by_key_with_partitions(|a, b| a + b, 1)
        .count()
        .unwrap()
}

fn hot_paths(c: &mut Criterion) {
    const LINES: usize = 100_000;
    let buf = received(LINES);
    let mut g = c.benchmark_group("hot_paths");
    g.sample_size(20);

    g.throughput(Throughput::Elements(LINES as u64));
    g.bench_function("block_generation_lines_from_1_buffer", |b| {
        b.iter(|| black_box(block_of(&buf).len()))
    });
    let block = block_of(&buf);
    g.bench_function("block_read_lines", |b| {
        b.iter(|| black_box(block.clone().into_iter().map(|l| l.len()).sum::<usize>()))
    });

    let lines: Vec<Text> = block.clone().into_iter().collect();
    g.throughput(Throughput::Elements(10 * LINES as u64));
    g.bench_function("line_splitting_words", |b| {
        b.iter(|| {
            let mut n = 0usize;
            for line in &lines {
                n += line.clone().split(' ').count();
            }
            black_box(n)
        })
    });

    let ctx = Context::local(1).unwrap();
    let words: Vec<Text> = lines.iter().flat_map(|l| l.clone().split(' ')).collect();
    let rdd = ctx.parallelize(words, 1);
    g.bench_function("map_side_combine_words", |b| {
        b.iter(|| {
            let n = rdd
                .map(|w| (w, 1u64))
                .reduce_by_key_with_partitions(|a, b| a + b, 1)
                .count()
                .unwrap();
            black_box(n)
        })
    });

    // The whole narrow chain of a word count task, as a user writes it: lines → split → (w, 1)
    // → map-side combine, beside the same work as one hand-written loop over the same `Text`s.
    let line_rdd = ctx.parallelize(lines.clone(), 1);
    g.bench_function("word_count_chain_lines_to_combined", |b| {
        b.iter(|| black_box(word_count_chain(&line_rdd)))
    });
    // The same chain reading a received block of lines, as a streaming batch does.
    let id = InputBlockId { stream: 0, seq: 0 };
    ctx.put_input_lines(id, Arc::new(block)).unwrap();
    let block_rdd = ctx.input_block_rdd::<Text>(vec![id]);
    g.bench_function("word_count_chain_line_block_to_combined", |b| {
        b.iter(|| black_box(word_count_chain(&block_rdd)))
    });
    g.bench_function("word_count_chain_hand_written", |b| {
        b.iter(|| {
            let mut m = spate_core::hash::FxHashMap::<Text, u64>::default();
            for l in &lines {
                for w in l.clone().split(' ') {
                    *m.entry(w).or_default() += 1;
                }
            }
            black_box(m.len())
        })
    });

    let mut rng = rand::rngs::StdRng::seed_from_u64(5);
    let pairs: Vec<(u64, u64)> = (0..1_000_000)
        .map(|_| (rng.random_range(0..100_000), 1))
        .collect();
    let pairs = ctx.parallelize(pairs, 4);
    g.throughput(Throughput::Elements(1_000_000));
    g.bench_function("shuffle_write_read_pairs", |b| {
        b.iter(|| {
            let n = pairs
                .partition_by(Arc::new(HashPartitioner::new(4)))
                .count()
                .unwrap();
            black_box(n)
        })
    });
    g.finish();
}

/// The per-application hash seed's cost (`scripts/bench seed`): the map-side combine loop and
/// the partition hash over a word count's words, with the fixed Fx hash spate used before and
/// with the application's keyed, seeded hash, in one run.
fn hash_seed(c: &mut Criterion) {
    use std::hash::{BuildHasher, Hash};
    const LINES: usize = 100_000;
    let buf = received(LINES);
    let words: Vec<Text> = block_of(&buf)
        .into_iter()
        .flat_map(|l| l.split(' '))
        .collect();
    let seed = spate_core::hash::HashSeed::random();
    let mut g = c.benchmark_group("hash_seed");
    g.sample_size(30);
    g.throughput(Throughput::Elements(words.len() as u64));
    fn combine<S: BuildHasher>(words: &[Text], state: S) -> usize {
        let mut m = std::collections::HashMap::<Text, u64, S>::with_hasher(state);
        for w in words {
            match m.get_mut(w) {
                Some(n) => *n += 1,
                None => {
                    m.insert(w.clone(), 1);
                }
            }
        }
        m.len()
    }
    g.bench_function("combine_fx_fixed", |b| {
        b.iter(|| black_box(combine(&words, spate_core::hash::FxBuildHasher)))
    });
    g.bench_function("combine_seeded", |b| {
        b.iter(|| black_box(combine(&words, seed)))
    });
    fn partition<F: Fn(&Text) -> u64>(words: &[Text], hash: F) -> usize {
        let mut counts = [0usize; 8];
        for w in words {
            counts[((hash(w) as u128 * 8) >> 64) as usize] += 1;
        }
        counts[0]
    }
    let fx = |w: &Text| {
        // The partition hash before the seed: Fx over (fixed seed, key), rotated.
        let mut h = rustc_hash::FxHasher::default();
        0x51_7c_c1_b7_27_22_0a_95usize.hash(&mut h);
        w.hash(&mut h);
        std::hash::Hasher::finish(&h).rotate_left(26)
    };
    g.bench_function("partition_fx_fixed", |b| {
        b.iter(|| black_box(partition(&words, fx)))
    });
    g.bench_function("partition_seeded", |b| {
        b.iter(|| black_box(partition(&words, |w| seed.partition_hash(w))))
    });
    g.finish();
}

criterion_group!(benches, hot_paths, hash_seed);
criterion_main!(benches);
