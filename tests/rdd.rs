//! The RDD API against plain `Vec` computations, and its errors on bad input.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, LazyLock};

use proptest::prelude::*;
use spate::core::Error;
use spate::core::conf::{parse_duration, parse_size};
use spate::core::ids::RddId;
use spate::prelude::*;

/// Lets a `&mut dyn Hasher` be passed where `Hash::hash` wants a sized hasher.
struct HashWrap<'a>(&'a mut dyn std::hash::Hasher);

impl std::hash::Hasher for HashWrap<'_> {
    fn finish(&self) -> u64 {
        self.0.finish()
    }
    fn write(&mut self, bytes: &[u8]) {
        self.0.write(bytes)
    }
}

static CTX: LazyLock<Context> = LazyLock::new(|| Context::local(2).unwrap());

fn rdd<T: Data>(data: &[T], parts: usize) -> Rdd<T> {
    CTX.parallelize(data.to_vec(), parts)
}

fn sorted<T: Ord>(mut v: Vec<T>) -> Vec<T> {
    v.sort();
    v
}

/// Groups `(k, v)` pairs like a reference `group_by_key`, values sorted.
fn grouped(data: &[(u8, i32)]) -> BTreeMap<u8, Vec<i32>> {
    let mut m: BTreeMap<u8, Vec<i32>> = BTreeMap::new();
    for &(k, v) in data {
        m.entry(k).or_default().push(v);
    }
    m.values_mut().for_each(|v| v.sort());
    m
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 32,
        ..ProptestConfig::default()
    }
}

fn pairs() -> impl Strategy<Value = Vec<(u8, i32)>> {
    prop::collection::vec((0u8..12, -50i32..50), 0..120)
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn text_behaves_like_str(line in "[a-c \u{e9}\u{3b1}\t\u{a0}]{0,60}", sep in prop::sample::select(vec![' ', 'a', '\u{e9}'])) {
        use std::hash::{BuildHasher, Hash, Hasher};
        let buf = std::sync::Arc::new(line.as_bytes().to_vec());
        let (t, replaced) = Text::from_shared(&buf, 0..buf.len());
        prop_assert!(!replaced);
        prop_assert_eq!(&*t, line.as_str());
        let ours: Vec<Text> = t.clone().split(sep).collect();
        let theirs: Vec<&str> = line.split(sep).collect();
        prop_assert_eq!(ours.iter().map(|w| w.as_str()).collect::<Vec<_>>(), theirs.clone());
        let ws: Vec<String> = t.clone().split_whitespace().map(String::from).collect();
        prop_assert_eq!(ws, line.split_whitespace().collect::<Vec<_>>());
        let state = spate::core::hash::FxBuildHasher;
        for (a, b) in ours.iter().zip(&theirs) {
            let owned = Text::from(*b);
            prop_assert!(*a == owned, "{:?} != {:?}", a, owned);
            let h = |x: &dyn Fn(&mut dyn Hasher)| { let mut st = state.build_hasher(); x(&mut st); st.finish() };
            // Equal texts hash alike, however they were made (shared slice or owned copy).
            prop_assert_eq!(h(&|st| a.hash(&mut HashWrap(st))), h(&|st| owned.hash(&mut HashWrap(st))));
        }
        for pair in ours.windows(2) {
            prop_assert_eq!(pair[0] == pair[1], pair[0].as_str() == pair[1].as_str());
            prop_assert_eq!(pair[0].cmp(&pair[1]), pair[0].as_str().cmp(pair[1].as_str()));
        }
    }

    #[test]
    fn narrow_transformations_match_vec(data in prop::collection::vec(-1000i64..1000, 0..200), parts in 1usize..7) {
        let r = rdd(&data, parts);
        prop_assert_eq!(r.collect().unwrap(), data.clone());
        prop_assert_eq!(r.map(|x| x * 3 + 1).collect().unwrap(), data.iter().map(|x| x * 3 + 1).collect::<Vec<_>>());
        prop_assert_eq!(r.filter(|x| x % 3 == 0).collect().unwrap(), data.iter().copied().filter(|x| x % 3 == 0).collect::<Vec<_>>());
        prop_assert_eq!(
            r.flat_map(|x| vec![x; (x.unsigned_abs() % 3) as usize]).collect().unwrap(),
            data.iter().flat_map(|&x| vec![x; (x.unsigned_abs() % 3) as usize]).collect::<Vec<_>>()
        );
        let sums = r.map_partitions(|it| std::iter::once(it.sum::<i64>())).collect().unwrap();
        prop_assert_eq!(sums.len(), parts);
        prop_assert_eq!(sums.iter().sum::<i64>(), data.iter().sum::<i64>());
        let glommed = r.glom().collect().unwrap();
        prop_assert_eq!(glommed.len(), parts);
        prop_assert_eq!(glommed.concat(), data.clone());
        let indexed = r.map_partitions_with_index(|i, it| it.map(move |x| (i, x))).collect().unwrap();
        prop_assert!(indexed.windows(2).all(|w| w[0].0 <= w[1].0));
        prop_assert_eq!(indexed.into_iter().map(|(_, x)| x).collect::<Vec<_>>(), data.clone());
        prop_assert_eq!(r.key_by(|x| x % 7).collect().unwrap(), data.iter().map(|&x| (x % 7, x)).collect::<Vec<_>>());
        let doubled: Vec<i64> = data.iter().chain(&data).copied().collect();
        prop_assert_eq!(r.union(&r).collect().unwrap(), doubled.clone());
        prop_assert_eq!(CTX.union(&[r.clone(), r.clone()]).collect().unwrap(), doubled);
    }

    #[test]
    fn repartitioning_keeps_every_element(data in prop::collection::vec(any::<u16>(), 0..200), parts in 1usize..7, n in 1usize..9) {
        let r = rdd(&data, parts);
        let c = r.coalesce(n);
        prop_assert_eq!(c.num_partitions(), n.min(parts));
        prop_assert_eq!(c.collect().unwrap(), data.clone());
        let rp = r.repartition(n);
        prop_assert_eq!(rp.num_partitions(), n);
        prop_assert_eq!(sorted(rp.collect().unwrap()), sorted(data.clone()));
        let sizes: Vec<usize> = rp.glom().collect().unwrap().iter().map(Vec::len).collect();
        prop_assert!(sizes.iter().max().unwrap() - sizes.iter().min().unwrap() <= parts, "{:?}", sizes);
        let distinct: BTreeSet<u16> = data.iter().copied().collect();
        prop_assert_eq!(sorted(r.distinct().collect().unwrap()), distinct.iter().copied().collect::<Vec<_>>());
        prop_assert_eq!(r.distinct_with_partitions(n).num_partitions(), n);
    }

    #[test]
    fn sampling_is_a_deterministic_sub_multiset(data in prop::collection::vec(0u32..50, 0..200), parts in 1usize..5, seed in any::<u64>()) {
        let r = rdd(&data, parts);
        let s = r.sample(false, 0.5, seed).unwrap().collect().unwrap();
        prop_assert_eq!(&s, &r.sample(false, 0.5, seed).unwrap().collect().unwrap());
        let mut pool: HashMap<u32, usize> = HashMap::new();
        data.iter().for_each(|&x| *pool.entry(x).or_default() += 1);
        for x in &s {
            let n = pool.get_mut(x).unwrap();
            prop_assert!(*n > 0);
            *n -= 1;
        }
        prop_assert_eq!(r.sample(false, 0.0, seed).unwrap().count().unwrap(), 0);
        prop_assert_eq!(r.sample(false, 1.0, seed).unwrap().collect().unwrap(), data.clone());
        let w = r.sample(true, 2.0, seed).unwrap().collect().unwrap();
        prop_assert!(w.iter().all(|x| data.contains(x)));
    }

    #[test]
    fn actions_match_vec(data in prop::collection::vec(-1000i64..1000, 0..200), parts in 1usize..7, n in 0usize..30) {
        let r = rdd(&data, parts);
        prop_assert_eq!(r.count().unwrap(), data.len() as u64);
        prop_assert_eq!(r.reduce(|a, b| a + b).unwrap(), data.iter().copied().reduce(|a, b| a + b));
        prop_assert_eq!(r.fold(0, |a, b| a + b).unwrap(), data.iter().sum::<i64>());
        prop_assert_eq!(
            r.aggregate((0i64, 0usize), |(s, c), x| (s + x, c + 1), |a, b| (a.0 + b.0, a.1 + b.1)).unwrap(),
            (data.iter().sum::<i64>(), data.len())
        );
        prop_assert_eq!(r.take(n).unwrap(), data.iter().copied().take(n).collect::<Vec<_>>());
        prop_assert_eq!(r.first().unwrap(), data.first().copied());
        let total = Arc::new(AtomicI64::new(0));
        let t = Arc::clone(&total);
        r.foreach(move |x| { t.fetch_add(x, Ordering::Relaxed); }).unwrap();
        prop_assert_eq!(total.load(Ordering::Relaxed), data.iter().sum::<i64>());
        let seen = Arc::new(AtomicI64::new(0));
        let s = Arc::clone(&seen);
        r.foreach_partition(move |it| { s.fetch_add(it.count() as i64, Ordering::Relaxed); }).unwrap();
        prop_assert_eq!(seen.load(Ordering::Relaxed), data.len() as i64);
        let mut expected: HashMap<i64, u64> = HashMap::new();
        data.iter().for_each(|&x| *expected.entry(x % 5).or_default() += 1);
        prop_assert_eq!(r.map(|x| x % 5).count_by_value().unwrap(), expected);
    }

    #[test]
    fn aggregations_by_key_match_vec(data in pairs(), parts in 1usize..6, n in 1usize..6) {
        let r = rdd(&data, parts);
        let groups = grouped(&data);
        let sums: BTreeMap<u8, i32> = groups.iter().map(|(k, v)| (*k, v.iter().sum())).collect();
        let as_map = |v: Vec<(u8, i32)>| v.into_iter().collect::<BTreeMap<_, _>>();
        prop_assert_eq!(as_map(r.reduce_by_key(|a, b| a + b).collect().unwrap()), sums.clone());
        let rbk = r.reduce_by_key_with_partitions(|a, b| a + b, n);
        prop_assert_eq!(rbk.num_partitions(), n);
        prop_assert_eq!(as_map(rbk.collect().unwrap()), sums.clone());
        prop_assert_eq!(as_map(r.fold_by_key(0, |a, b| a + b).collect().unwrap()), sums.clone());
        prop_assert_eq!(as_map(r.fold_by_key_with_partitions(0, |a, b| a + b, n).collect().unwrap()), sums.clone());
        let maxes: BTreeMap<u8, i32> = groups.iter().map(|(k, v)| (*k, *v.iter().max().unwrap())).collect();
        prop_assert_eq!(as_map(r.aggregate_by_key(i32::MIN, |a, b| a.max(b), |a, b| a.max(b)).collect().unwrap()), maxes.clone());
        prop_assert_eq!(
            as_map(r.aggregate_by_key_with_partitions(i32::MIN, |a, b| a.max(b), |a, b| a.max(b), n).collect().unwrap()),
            maxes
        );
        let counted = r.combine_by_key_with_partitions(|_| 1usize, |c, _| c + 1, |a, b| a + b, n).collect().unwrap();
        let counts: BTreeMap<u8, usize> = groups.iter().map(|(k, v)| (*k, v.len())).collect();
        prop_assert_eq!(counted.into_iter().collect::<BTreeMap<_, _>>(), counts.clone());
        let g: BTreeMap<u8, Vec<i32>> = r.group_by_key_with_partitions(n).collect().unwrap()
            .into_iter().map(|(k, v)| (k, sorted(v))).collect();
        prop_assert_eq!(&g, &groups);
        let g2: BTreeMap<u8, Vec<i32>> = r.group_by_key().collect().unwrap().into_iter().map(|(k, v)| (k, sorted(v))).collect();
        prop_assert_eq!(&g2, &groups);
        let cbk: BTreeMap<u8, u64> = r.count_by_key().unwrap().into_iter().collect();
        prop_assert_eq!(cbk, counts.iter().map(|(k, v)| (*k, *v as u64)).collect::<BTreeMap<_, _>>());
        // An already hash-partitioned input aggregates without another shuffle.
        let parted = r.partition_by(Arc::new(HashPartitioner::new(n)));
        prop_assert_eq!(sorted(parted.collect().unwrap()), sorted(data.clone()));
        let again = parted.reduce_by_key_with_partitions(|a, b| a + b, n);
        prop_assert_eq!(again.shuffle_ids().len(), 1);
        prop_assert_eq!(as_map(again.collect().unwrap()), sums);
    }

    #[test]
    fn value_and_key_projections_match_vec(data in pairs(), parts in 1usize..6) {
        let r = rdd(&data, parts);
        prop_assert_eq!(r.map_values(|v| v * 2).collect().unwrap(), data.iter().map(|&(k, v)| (k, v * 2)).collect::<Vec<_>>());
        prop_assert_eq!(
            r.flat_map_values(|v| vec![v; (v.unsigned_abs() % 3) as usize]).collect().unwrap(),
            data.iter().flat_map(|&(k, v)| vec![(k, v); (v.unsigned_abs() % 3) as usize]).collect::<Vec<_>>()
        );
        prop_assert_eq!(r.keys().collect().unwrap(), data.iter().map(|p| p.0).collect::<Vec<_>>());
        prop_assert_eq!(r.values().collect().unwrap(), data.iter().map(|p| p.1).collect::<Vec<_>>());
        prop_assert_eq!(
            r.collect_as_map().unwrap(),
            data.iter().copied().collect::<HashMap<_, _>>()
        );
    }

    #[test]
    fn sort_by_key_orders_like_vec(data in prop::collection::vec((any::<u16>(), any::<u8>()), 0..300), parts in 1usize..6, n in 1usize..6) {
        let r = rdd(&data, parts);
        let asc: Vec<u16> = r.sort_by_key_with_partitions(true, n).unwrap().keys().collect().unwrap();
        prop_assert_eq!(asc, sorted(data.iter().map(|p| p.0).collect()));
        let desc: Vec<u16> = r.sort_by_key(false).unwrap().keys().collect().unwrap();
        let mut expected: Vec<u16> = data.iter().map(|p| p.0).collect();
        expected.sort_by(|a, b| b.cmp(a));
        prop_assert_eq!(desc, expected);
        prop_assert_eq!(sorted(r.sort_by_key(true).unwrap().collect().unwrap()), sorted(data.clone()));
    }

    #[test]
    fn joins_match_nested_loops(a in pairs(), b in prop::collection::vec((0u8..12, any::<char>()), 0..60), parts in 1usize..5, n in 1usize..5) {
        let (ra, rb) = (rdd(&a, parts), rdd(&b, parts + 1));
        let inner: Vec<(u8, (i32, char))> = a.iter()
            .flat_map(|&(k, v)| b.iter().filter(move |p| p.0 == k).map(move |&(_, w)| (k, (v, w))))
            .collect();
        prop_assert_eq!(sorted(ra.join(&rb).collect().unwrap()), sorted(inner.clone()));
        prop_assert_eq!(sorted(ra.join_with_partitions(&rb, n).collect().unwrap()), sorted(inner));
        let bkeys: BTreeSet<u8> = b.iter().map(|p| p.0).collect();
        let akeys: BTreeSet<u8> = a.iter().map(|p| p.0).collect();
        let left: Vec<(u8, (i32, Option<char>))> = a.iter().flat_map(|&(k, v)| {
            let ws: Vec<Option<char>> = if bkeys.contains(&k) { b.iter().filter(|p| p.0 == k).map(|p| Some(p.1)).collect() } else { vec![None] };
            ws.into_iter().map(move |w| (k, (v, w)))
        }).collect();
        prop_assert_eq!(sorted(ra.left_outer_join(&rb).collect().unwrap()), sorted(left.clone()));
        prop_assert_eq!(sorted(ra.left_outer_join_with_partitions(&rb, n).collect().unwrap()), sorted(left.clone()));
        let right: Vec<(u8, (Option<i32>, char))> = b.iter().flat_map(|&(k, w)| {
            let vs: Vec<Option<i32>> = if akeys.contains(&k) { a.iter().filter(|p| p.0 == k).map(|p| Some(p.1)).collect() } else { vec![None] };
            vs.into_iter().map(move |v| (k, (v, w)))
        }).collect();
        prop_assert_eq!(sorted(ra.right_outer_join(&rb).collect().unwrap()), sorted(right.clone()));
        prop_assert_eq!(sorted(ra.right_outer_join_with_partitions(&rb, n).collect().unwrap()), sorted(right.clone()));
        let mut full: Vec<(u8, (Option<i32>, Option<char>))> = left.iter().map(|&(k, (v, w))| (k, (Some(v), w))).collect();
        full.extend(right.iter().filter(|(_, (v, _))| v.is_none()).map(|&(k, (_, w))| (k, (None, Some(w)))));
        prop_assert_eq!(sorted(ra.full_outer_join(&rb).collect().unwrap()), sorted(full.clone()));
        prop_assert_eq!(sorted(ra.full_outer_join_with_partitions(&rb, n).collect().unwrap()), sorted(full));
        let cg: BTreeMap<u8, (Vec<i32>, Vec<char>)> = ra.cogroup_with_partitions(&rb, n).collect().unwrap()
            .into_iter().map(|(k, (v, w))| (k, (sorted(v), sorted(w)))).collect();
        let keys: BTreeSet<u8> = akeys.union(&bkeys).copied().collect();
        for k in keys {
            let vs = sorted(a.iter().filter(|p| p.0 == k).map(|p| p.1).collect::<Vec<_>>());
            let ws = sorted(b.iter().filter(|p| p.0 == k).map(|p| p.1).collect::<Vec<_>>());
            prop_assert_eq!(&cg[&k], &(vs, ws));
        }
    }
}

#[test]
fn co_partitioned_cogroup_needs_no_new_shuffle() {
    let p: Arc<dyn Partitioner<u8>> = Arc::new(HashPartitioner::new(3));
    let a = rdd(&[(1u8, 1), (2, 2)], 2).partition_by(Arc::clone(&p));
    let b = rdd(&[(1u8, 'x')], 1).partition_by(Arc::clone(&p));
    let j = a.join(&b);
    assert_eq!(
        j.shuffle_ids().len(),
        2,
        "only the two partition_by shuffles:\n{}",
        j.lineage()
    );
    assert_eq!(j.collect().unwrap(), [(1, (1, 'x'))]);
}

#[test]
fn text_files_split_at_line_boundaries() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::new();
    for i in 0..2000 {
        text.push_str(&format!("line {i} {}\r\n", "x".repeat(i % 50)));
    }
    text.push_str("last line without newline");
    std::fs::write(dir.path().join("a.txt"), &text).unwrap();
    std::fs::write(dir.path().join("b.txt"), "b1\nb2\n").unwrap();
    std::fs::write(dir.path().join(".hidden"), "nope\n").unwrap();
    std::fs::write(dir.path().join("_SUCCESS"), "").unwrap();
    let expected: Vec<String> = text
        .lines()
        .map(String::from)
        .chain(["b1".into(), "b2".into()])
        .collect();
    for parts in [1, 2, 7, 64] {
        let lines = CTX.text_file(dir.path(), parts).unwrap();
        assert!(lines.num_partitions() >= parts.min(2), "{parts}");
        let got: Vec<String> = lines.map(String::from).collect().unwrap();
        assert_eq!(got, expected, "min partitions {parts}");
    }
    let err = CTX.text_file(dir.path().join("missing"), 1).unwrap_err();
    assert!(
        matches!(err, Error::Io { .. }) && err.to_string().contains("missing"),
        "{err}"
    );
}

#[test]
fn word_count_over_text_shares_buffers_and_counts_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("words.txt");
    std::fs::write(&path, "the cat the hat\nthe end\n").unwrap();
    let counts = CTX
        .text_file(&path, 2)
        .unwrap()
        .flat_map(|l: Text| l.split(' '))
        .map(|w| (w, 1u64))
        .reduce_by_key(|a, b| a + b)
        .collect_as_map()
        .unwrap();
    assert_eq!(counts.get(&Text::from("the")), Some(&3));
    assert_eq!(counts.len(), 4);
}

#[test]
fn saved_text_reads_back_and_is_never_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let data: Vec<(String, u64)> = (0..50).map(|i| (format!("w{i}"), i)).collect();
    rdd(&data, 3).save_as_text_file(&out).unwrap();
    assert!(out.join("_SUCCESS").exists());
    let back: Vec<String> = CTX
        .text_file(&out, 1)
        .unwrap()
        .map(String::from)
        .collect()
        .unwrap();
    assert_eq!(
        back,
        data.iter()
            .map(|(w, n)| format!("({w},{n})"))
            .collect::<Vec<_>>()
    );
    let err = rdd(&data, 1).save_as_text_file(&out).unwrap_err();
    assert!(matches!(err, Error::OutputExists { .. }), "{err}");
    let leftovers = std::fs::read_dir(dir.path()).unwrap().count();
    assert_eq!(leftovers, 1, "no temporary directories left behind");
}

#[test]
fn ids_are_deterministic_per_context() {
    let build = |ctx: &Context| {
        let a = ctx.parallelize(vec![(1u32, 1u32)], 2);
        let b = a.map_values(|v| v + 1).reduce_by_key(|x, y| x + y);
        (a.id(), b.id(), b.shuffle_ids())
    };
    let (c1, c2) = (Context::local(1).unwrap(), Context::local(2).unwrap());
    let first = build(&c1);
    assert_eq!(
        first,
        build(&c2),
        "the same program gives the same ids in any context"
    );
    // parallelize, map_values, then map-side combine, shuffle and merge for reduce_by_key.
    assert_eq!((first.0, first.1), (RddId(0), RddId(4)));
    assert_eq!(build(&c1).0, RddId(5), "ids continue in construction order");
}

/// Hash flooding (issue 30, finding 12): keys built to collide under a fixed multiply hash
/// (Fx: `(a, b)` and `(a + d, b - d·K)` hash alike) all landed in one partition and one map
/// bucket chain. Under the application's random seed they spread over every partition, and two
/// applications do not share a seed.
#[test]
fn keys_crafted_to_collide_spread_under_the_application_seed() {
    const K: u64 = 0xf135_7aea_2e62_a9c5;
    let keys: Vec<((u64, u64), u32)> = (0..4000u64)
        .map(|d| ((d, 0u64.wrapping_sub(d.wrapping_mul(K))), 1))
        .collect();
    let sizes: Vec<usize> = rdd(&keys, 2)
        .reduce_by_key_with_partitions(|a, b| a + b, 4)
        .glom()
        .map(|p| p.len())
        .collect()
        .unwrap();
    assert_eq!(sizes.iter().sum::<usize>(), 4000, "every key counted once");
    assert!(sizes.iter().all(|&n| n > 500), "partition sizes {sizes:?}");
    let other = Context::local(1).unwrap();
    assert_ne!(CTX.hash_seed(), other.hash_seed(), "a seed per application");
    assert!(
        !spate::core::Partitioner::<u64>::same_as(
            &CTX.hash_partitioner(4),
            &other.hash_partitioner(4)
        ),
        "partitionings of two applications are not interchangeable"
    );
}

#[test]
fn several_contexts_run_jobs_concurrently() {
    let handles: Vec<_> = (0..3u64)
        .map(|i| {
            std::thread::spawn(move || {
                let ctx = Context::local(2).unwrap();
                let data: Vec<(u64, u64)> = (0..1000).map(|x| (x % 10, i)).collect();
                ctx.parallelize(data, 4)
                    .reduce_by_key(|a, b| a + b)
                    .values()
                    .reduce(|a, b| a + b)
                    .unwrap()
            })
        })
        .collect();
    let sums: Vec<Option<u64>> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(sums, [Some(0), Some(1000), Some(2000)]);
}

#[test]
fn lineage_shows_stage_boundaries_and_call_sites() {
    let counts = rdd(&[1u32, 2, 3], 2)
        .map(|x| (x % 2, x))
        .reduce_by_key(|a, b| a + b)
        .cache();
    let lineage = counts.lineage();
    let lines: Vec<&str> = lineage.lines().collect();
    assert!(lines[0].starts_with("(2) reduce_by_key [rdd "), "{lineage}");
    assert!(
        lines[0].contains("tests/rdd.rs:") && lines[0].ends_with("[Memory]"),
        "{lineage}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with(" +-(2) map_side_combine")),
        "{lineage}"
    );
    assert!(
        lines.last().unwrap().starts_with("    |  parallelize"),
        "{lineage}"
    );
}

// ---- bad input: each a documented, typed error ----

#[test]
fn bad_masters_are_typed_errors() {
    for master in ["", "local[0]", "local[x]", "spark://h:7077", "local[2"] {
        let err = Context::new(Conf::new().set_master(master)).unwrap_err();
        assert!(
            matches!(err, Error::InvalidMaster { .. }),
            "{master}: {err}"
        );
        assert!(err.to_string().contains("local[N]"), "{err}");
    }
}

#[test]
fn unknown_and_malformed_settings_are_typed_errors() {
    let err = Context::new(Conf::new().set("spate.storage.memmory", "1g")).unwrap_err();
    match &err {
        Error::UnknownConfKey { key, suggestion } => {
            assert_eq!(key, "spate.storage.memmory");
            assert_eq!(suggestion.as_deref(), Some("spate.storage.memory"));
        }
        other => panic!("{other}"),
    }
    assert!(
        err.to_string()
            .contains("did you mean \"spate.storage.memory\""),
        "{err}"
    );
    for (key, value) in [
        ("spate.storage.memory", "lots"),
        ("spate.task.maxFailures", "0"),
        ("spate.default.parallelism", "-3"),
    ] {
        let err = Context::new(Conf::new().set(key, value)).unwrap_err();
        assert!(
            matches!(err, Error::InvalidConfValue { .. }),
            "{key}={value}: {err}"
        );
        assert!(err.to_string().contains(key), "{err}");
    }
    assert!(Context::new(Conf::new().set("myapp.anything", "goes")).is_ok());
    for bad in ["5", "5 parsecs", "ms", "-1s"] {
        assert!(
            matches!(parse_duration(bad), Err(Error::InvalidDuration { .. })),
            "{bad}"
        );
    }
    let err = Conf::new()
        .set("myapp.poll", "soon")
        .get_duration("myapp.poll")
        .unwrap_err();
    assert!(err.to_string().contains("\"200ms\""), "{err}");
    assert!(matches!(parse_size("12q"), Err(Error::InvalidSize { .. })));
}

#[test]
fn invalid_arguments_and_stopped_contexts_are_errors() {
    assert!(matches!(
        rdd(&[1], 1).sample(false, -0.1, 1),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        rdd(&[1], 1).checkpoint(),
        Err(Error::CheckpointDirNotSet)
    ));
    let ctx = Context::local(1).unwrap();
    let r = ctx.parallelize(vec![1], 1);
    ctx.stop();
    assert!(matches!(r.collect(), Err(Error::ContextStopped)));
}

#[test]
fn an_action_inside_a_task_is_refused_not_deadlocked() {
    let ctx = Context::local(1).unwrap();
    let inner = ctx.parallelize(vec![1, 2], 1);
    let outer = ctx
        .parallelize(vec![0], 1)
        .map(move |_| inner.count().map_err(|e| e.to_string()));
    let got = outer.collect().unwrap();
    assert!(
        got[0].as_ref().unwrap_err().contains("inside a task"),
        "{got:?}"
    );
}

#[test]
fn driver_side_panics_are_errors() {
    let err = rdd(&[1, 2, 3], 3).reduce(|a, b| {
        if a + b > 4 {
            panic!("too big: {}", a + b)
        } else {
            a + b
        }
    });
    let err = err.unwrap_err();
    assert!(
        matches!(err, Error::JobAborted { .. } | Error::Panicked { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("too big"), "{err}");
}

/// Records every job event it hears.
#[derive(Default)]
struct JobLog {
    started: std::sync::Mutex<Vec<spate::core::scheduler::JobInfo>>,
    ended: std::sync::Mutex<Vec<spate::core::scheduler::JobInfo>>,
    tasks: std::sync::Mutex<Vec<spate::core::scheduler::TaskEnd>>,
}

impl spate::core::scheduler::JobListener for JobLog {
    fn on_job_start(&self, job: &spate::core::scheduler::JobInfo) {
        self.started.lock().unwrap().push(job.clone());
    }
    fn on_task_end(&self, task: &spate::core::scheduler::TaskEnd) {
        self.tasks.lock().unwrap().push(task.clone());
    }
    fn on_job_end(&self, job: &spate::core::scheduler::JobInfo) {
        self.ended.lock().unwrap().push(job.clone());
    }
}

struct PanickingJobListener;

impl spate::core::scheduler::JobListener for PanickingJobListener {
    fn on_job_start(&self, _: &spate::core::scheduler::JobInfo) {
        panic!("a broken job listener");
    }
}

#[test]
fn job_listeners_hear_jobs_stages_and_tasks_with_the_threads_properties() {
    let ctx = Context::local(2).unwrap();
    let log = Arc::new(JobLog::default());
    ctx.add_job_listener(Arc::new(PanickingJobListener));
    ctx.add_job_listener(log.clone());
    let failed_once = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = failed_once.clone();
    let sums = ctx
        .parallelize((0..40u32).map(|i| (i % 4, 1u32)).collect(), 4)
        .reduce_by_key(|a, b| a + b)
        .map(move |kv| {
            // The first attempt of one result task fails: counted, retried.
            if kv.0 == 2 && !flag.swap(true, std::sync::atomic::Ordering::SeqCst) {
                panic!("once");
            }
            kv
        });
    ctx.set_local_property("spate.streaming.batchTime", Some("1000"));
    let got = sorted(sums.collect().unwrap());
    ctx.set_local_property("spate.streaming.batchTime", None);
    assert_eq!(got, [(0, 10), (1, 10), (2, 10), (3, 10)]);
    // Its map outputs are there: a second job skips the map stage.
    assert_eq!(sums.count().unwrap(), 4);

    let started = log.started.lock().unwrap().clone();
    let ended = log.ended.lock().unwrap().clone();
    assert_eq!(started.len(), 2);
    assert_eq!(ended.len(), 2);
    let first = &ended[0];
    assert_eq!(first.id, started[0].id);
    assert!(first.succeeded());
    assert_eq!(
        first
            .properties
            .get("spate.streaming.batchTime")
            .map(String::as_str),
        Some("1000")
    );
    assert!(
        ended[1].properties.is_empty(),
        "removed before the second job"
    );
    let [map, result] = &first.stages[..] else {
        panic!("two stages: {first:?}")
    };
    assert!(!map.result && result.result);
    assert_eq!(
        (map.tasks, map.launched_tasks, map.completed_tasks),
        (4, 4, 4)
    );
    assert_eq!(result.failed_tasks, 1);
    assert_eq!(result.completed_tasks, result.tasks);
    assert!(
        result.name.starts_with("map ") && result.name.contains("tests/rdd.rs"),
        "{}",
        result.name
    );
    let second = &ended[1];
    assert!(second.stages[0].skipped(), "{second:?}");
    assert!(!second.stages[1].skipped());
    let tasks = log.tasks.lock().unwrap();
    let failures: Vec<_> = tasks.iter().filter(|t| t.failure.is_some()).collect();
    assert_eq!(failures.len(), 1);
    assert!(failures[0].failure.as_ref().unwrap().contains("once"));
    assert_eq!(
        tasks.iter().filter(|t| t.task.job == first.id).count(),
        4 + result.tasks + 1
    );
}

#[test]
fn a_failed_job_ends_with_its_reason() {
    let ctx = Context::local(1).unwrap();
    let log = Arc::new(JobLog::default());
    ctx.add_job_listener(log.clone());
    let err = ctx
        .parallelize(vec![1u32], 1)
        .map(|_| -> u32 { panic!("always") })
        .count()
        .unwrap_err();
    let ended = log.ended.lock().unwrap();
    assert_eq!(ended.len(), 1);
    assert_eq!(ended[0].failure.as_deref(), Some(err.to_string().as_str()));
    assert_eq!(
        ended[0].stages[0].failed_tasks, 4,
        "spate.task.maxFailures attempts"
    );
}
