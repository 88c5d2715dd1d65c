//! Core benchmarks: each spate job on `local[2]` beside a plain single-threaded Rust loop over the
//! same data (`scripts/bench core` runs them; figures go in the README).

// criterion's macros generate undocumented public functions.
#![allow(missing_docs)]

use std::hint::black_box;
use std::io::Write;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use rand::{Rng, SeedableRng};
use rand_distr::Distribution;
use spate_core::hash::FxHashMap;
use spate_core::{Context, Text};

const PAIRS: usize = 10_000_000;
const KEYS: u64 = 10_000;
const TEXT_BYTES: usize = 100 << 20;

fn pairs(keys: u64) -> Vec<(u64, u64)> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    (0..PAIRS)
        .map(|_| (rng.random_range(0..keys), rng.random_range(0..1000)))
        .collect()
}

fn reduce_by_key(c: &mut Criterion) {
    let data = pairs(KEYS);
    let ctx = Context::local(2).unwrap();
    let mut g = c.benchmark_group("reduce_by_key_10M_pairs_10k_keys");
    g.sample_size(10);
    g.bench_function("plain_loop", |b| {
        b.iter(|| {
            let mut m: FxHashMap<u64, u64> = FxHashMap::default();
            for &(k, v) in &data {
                *m.entry(k).or_insert(0) += v;
            }
            black_box(m.len())
        })
    });
    // Both sides start from data already in memory: the RDD is built once, outside the timing.
    let rdd = ctx.parallelize(data.clone(), 8);
    g.bench_function("spate_local2", |b| {
        b.iter(|| {
            let n = rdd.reduce_by_key(|a, b| a + b).count().unwrap();
            assert_eq!(n, KEYS);
        })
    });
    g.finish();
}

/// 100 MB of lines of 10 words drawn Zipf(1.0) from a 10k-word vocabulary.
fn text_file() -> tempfile::NamedTempFile {
    let vocab: Vec<String> = (0..10_000).map(|i| format!("w{i:x}")).collect();
    let zipf = rand_distr::Zipf::new(10_000.0, 1.0).unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    let mut f = tempfile::NamedTempFile::new().unwrap();
    let mut buf = String::with_capacity(TEXT_BYTES + 1024);
    while buf.len() < TEXT_BYTES {
        for i in 0..10 {
            if i > 0 {
                buf.push(' ');
            }
            buf.push_str(&vocab[zipf.sample(&mut rng) as usize - 1]);
        }
        buf.push('\n');
    }
    f.write_all(buf.as_bytes()).unwrap();
    f
}

fn word_count(c: &mut Criterion) {
    let file = text_file();
    let path = file.path().to_path_buf();
    let ctx = Context::local(2).unwrap();
    let mut g = c.benchmark_group("word_count_100MB");
    g.sample_size(10);
    g.bench_function("plain_loop", |b| {
        b.iter(|| {
            let text = std::fs::read(&path).unwrap();
            let text = std::str::from_utf8(&text).unwrap();
            let mut m: FxHashMap<&str, u64> = FxHashMap::default();
            for line in text.lines() {
                for w in line.split(' ') {
                    *m.entry(w).or_insert(0) += 1;
                }
            }
            black_box(m.len())
        })
    });
    g.bench_function("spate_local2", |b| {
        b.iter(|| {
            let n = ctx
                .text_file(&path, 8)
                .unwrap()
                .flat_map(|line: Text| line.split(' '))
                .map(|w| (w, 1u64))
                .reduce_by_key(|a, b| a + b)
                .count()
                .unwrap();
            black_box(n)
        })
    });
    g.finish();
}

fn sort_by_key(c: &mut Criterion) {
    let data = pairs(u64::MAX);
    let ctx = Context::local(2).unwrap();
    let mut g = c.benchmark_group("sort_by_key_10M_pairs");
    g.sample_size(10);
    g.bench_function("plain_loop", |b| {
        b.iter_batched(
            || data.clone(),
            |mut d| {
                d.sort_by_key(|p| p.0);
                black_box(d.len())
            },
            BatchSize::LargeInput,
        )
    });
    let rdd = ctx.parallelize(data.clone(), 8);
    g.bench_function("spate_local2", |b| {
        b.iter(|| {
            // Count the sorted partitions' records: the sort itself runs in the tasks.
            let n = rdd.sort_by_key(true).unwrap().count().unwrap();
            assert_eq!(n, PAIRS as u64);
        })
    });
    g.finish();
}

criterion_group!(benches, reduce_by_key, word_count, sort_by_key);
criterion_main!(benches);
