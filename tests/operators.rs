//! DStream operators on the manual clock, through `testing::run_batches`: the essence of Spark
//! Streaming's own operator suites (basic and window operations), each with per-batch input and
//! the exact per-batch expected output, plus property tests against recomputing windows from
//! scratch.

use std::collections::BTreeMap;
use std::time::Duration;

use proptest::prelude::*;
use spate::streaming::Error;
use spate::streaming::testing::run_batches;

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

// ---------------------------------------------------------------- basic operations

#[test]
fn basic_operations_per_batch() {
    let input = ints(&[&[1, 2, 3, 4], &[5, 6, 7, 8], &[9, 10, 11, 12]]);
    assert_eq!(
        run_batches(input.clone(), |s| s.map(|x| x.to_string()), 3),
        vec![
            vec!["1", "2", "3", "4"],
            vec!["5", "6", "7", "8"],
            vec!["9", "10", "11", "12"]
        ]
    );
    assert_eq!(
        run_batches(input.clone(), |s| s.flat_map(|x| [x, x * 2]), 1),
        vec![vec![1, 2, 2, 4, 3, 6, 4, 8]]
    );
    assert_eq!(
        run_batches(input.clone(), |s| s.filter(|x| x % 2 == 0), 2),
        vec![vec![2, 4], vec![6, 8]]
    );
    // Input batches have two partitions.
    assert_eq!(
        run_batches(input.clone(), |s| s.glom(), 1),
        vec![vec![vec![1, 2], vec![3, 4]]]
    );
    assert_eq!(
        run_batches(
            input.clone(),
            |s| s.map_partitions(|it| std::iter::once(it.sum::<i64>())),
            2
        ),
        vec![vec![3, 7], vec![11, 15]]
    );
    assert_eq!(
        run_batches(input.clone(), |s| s.reduce(|a, b| a + b), 4),
        vec![vec![10], vec![26], vec![42], vec![]]
    );
    assert_eq!(
        run_batches(input.clone(), |s| s.count(), 4),
        vec![vec![4], vec![4], vec![4], vec![0]]
    );
    let repartitioned = run_batches(input, |s| s.repartition(3).glom(), 1);
    assert_eq!(repartitioned[0].len(), 3);
    let mut all: Vec<i64> = repartitioned[0].concat();
    all.sort();
    assert_eq!(all, [1, 2, 3, 4]);
}

#[test]
fn count_by_value_and_pair_operations() {
    let words = vec![
        vec!["a", "a", "b"].into_iter().map(String::from).collect(),
        vec![],
        vec!["c".to_string()],
    ];
    assert_eq!(
        sorted(run_batches(words, |s| s.count_by_value(), 3)),
        vec![
            vec![("a".to_string(), 2), ("b".to_string(), 1)],
            vec![],
            vec![("c".to_string(), 1)]
        ]
    );
    let input = kv(&[&[("a", 1), ("a", 2), ("b", 3)], &[("a", 4)]]);
    assert_eq!(
        sorted(run_batches(
            input.clone(),
            |s| s.reduce_by_key(|a, b| a + b),
            2
        )),
        kv(&[&[("a", 3), ("b", 3)], &[("a", 4)]])
    );
    let grouped = run_batches(input.clone(), |s| s.group_by_key_with_partitions(3), 2);
    let grouped: Vec<BTreeMap<String, Vec<i64>>> = grouped
        .into_iter()
        .map(|b| {
            b.into_iter()
                .map(|(k, mut v)| {
                    v.sort();
                    (k, v)
                })
                .collect()
        })
        .collect();
    assert_eq!(grouped[0]["a"], [1, 2]);
    assert_eq!(grouped[0]["b"], [3]);
    assert_eq!(grouped[1]["a"], [4]);
    assert_eq!(
        sorted(run_batches(input.clone(), |s| s.map_values(|v| v * 10), 1)),
        kv(&[&[("a", 10), ("a", 20), ("b", 30)]])
    );
    // (sum, count) per key, like Spark's combineByKey average.
    let combined = sorted(run_batches(
        input.clone(),
        |s| {
            s.combine_by_key(
                |v| (v, 1),
                |(s, n), v| (s + v, n + 1),
                |(s1, n1), (s2, n2)| (s1 + s2, n1 + n2),
            )
        },
        1,
    ));
    assert_eq!(
        combined,
        vec![vec![("a".to_string(), (3, 2)), ("b".to_string(), (3, 1))]]
    );
}

#[test]
fn joins_between_two_streams_of_the_same_batches() {
    let input = kv(&[&[("a", 1), ("b", 2)], &[("b", 3), ("c", 4)], &[]]);
    let evens = |s: &spate::streaming::DStream<(String, i64)>| s.filter(|p| p.1 % 2 == 0);
    let joined = sorted(run_batches(input.clone(), |s| s.join(&evens(&s)), 3));
    assert_eq!(
        joined,
        vec![
            vec![("b".to_string(), (2, 2))],
            vec![("c".to_string(), (4, 4))],
            vec![]
        ]
    );
    let left = sorted(run_batches(
        input.clone(),
        |s| s.left_outer_join(&evens(&s)),
        2,
    ));
    assert_eq!(
        left[0],
        [
            ("a".to_string(), (1, None)),
            ("b".to_string(), (2, Some(2)))
        ]
    );
    let right = sorted(run_batches(
        input.clone(),
        |s| evens(&s).right_outer_join(&s),
        2,
    ));
    assert_eq!(
        right[1],
        [
            ("b".to_string(), (None, 3)),
            ("c".to_string(), (Some(4), 4))
        ]
    );
    let full = sorted(run_batches(
        input.clone(),
        |s| {
            s.filter(|p| p.0 != "c")
                .full_outer_join(&s.filter(|p| p.0 != "b"))
        },
        2,
    ));
    assert_eq!(
        full[1],
        [
            ("b".to_string(), (Some(3), None)),
            ("c".to_string(), (None, Some(4)))
        ]
    );
    let cogrouped = sorted(run_batches(input, |s| s.cogroup(&evens(&s)), 1));
    assert_eq!(
        cogrouped[0],
        [
            ("a".to_string(), (vec![1], vec![])),
            ("b".to_string(), (vec![2], vec![2]))
        ]
    );
}

// ---------------------------------------------------------------- windows (Spark's suite)

fn window_case(window: Duration, slide: Duration, expected: &[&[i64]]) {
    let input = ints(&[&[0], &[1], &[2], &[3], &[4], &[5]]);
    let k = (slide.as_secs()) as usize;
    let out = run_batches(
        input,
        |s| s.window(window, slide).unwrap(),
        expected.len() * k,
    );
    assert_eq!(
        sorted(every(&out, k)),
        ints(expected),
        "window {window:?} slide {slide:?}"
    );
}

#[test]
fn window_basic_tumbling_larger_and_non_overlapping() {
    window_case(
        2 * S,
        S,
        &[&[0], &[0, 1], &[1, 2], &[2, 3], &[3, 4], &[4, 5]],
    );
    window_case(2 * S, 2 * S, &[&[0, 1], &[2, 3], &[4, 5]]);
    window_case(
        4 * S,
        2 * S,
        &[&[0, 1], &[0, 1, 2, 3], &[2, 3, 4, 5], &[4, 5]],
    );
    window_case(2 * S, 3 * S, &[&[1, 2], &[4, 5]]);
}

fn reduce_window_case(input: &[&[(&str, i64)]], expected: &[&[(&str, i64)]], w: u32, s: u32) {
    let k = s as usize;
    let out = run_batches(
        kv(input),
        |st| {
            st.reduce_by_key_and_window(|a, b| a + b, w * S, s * S)
                .unwrap()
        },
        expected.len() * k,
    );
    assert_eq!(sorted(every(&out, k)), kv(expected));
}

/// Spark's `bigInput`: keys come and go over twelve batches.
const BIG_INPUT: &[&[(&str, i64)]] = &[
    &[("a", 1)],
    &[("a", 1), ("b", 1)],
    &[("a", 1), ("b", 1), ("c", 1)],
    &[("a", 1), ("b", 1)],
    &[("a", 1)],
    &[],
    &[("a", 1)],
    &[("a", 1), ("b", 1)],
    &[("a", 1), ("b", 1), ("c", 1)],
    &[("a", 1), ("b", 1)],
    &[("a", 1)],
    &[],
];

const BIG_REDUCE_OUTPUT: &[&[(&str, i64)]] = &[
    &[("a", 1)],
    &[("a", 2), ("b", 1)],
    &[("a", 2), ("b", 2), ("c", 1)],
    &[("a", 2), ("b", 2), ("c", 1)],
    &[("a", 2), ("b", 1)],
    &[("a", 1)],
    &[("a", 1)],
    &[("a", 2), ("b", 1)],
    &[("a", 2), ("b", 2), ("c", 1)],
    &[("a", 2), ("b", 2), ("c", 1)],
    &[("a", 2), ("b", 1)],
    &[("a", 1)],
];

#[test]
fn reduce_by_key_and_window_cases() {
    reduce_window_case(&[&[("a", 1), ("a", 3)]], &[&[("a", 4)]], 2, 1);
    // key already in window and new value added into window
    reduce_window_case(
        &[&[("a", 1)], &[("a", 1)]],
        &[&[("a", 1)], &[("a", 2)]],
        2,
        1,
    );
    // new key added into window
    reduce_window_case(
        &[&[("a", 1)], &[("a", 1), ("b", 1)]],
        &[&[("a", 1)], &[("a", 2), ("b", 1)]],
        2,
        1,
    );
    // key removed from window
    reduce_window_case(
        &[&[("a", 1)], &[("a", 1)], &[], &[]],
        &[&[("a", 1)], &[("a", 2)], &[("a", 1)], &[]],
        2,
        1,
    );
    // larger slide time
    reduce_window_case(
        &[
            &[("a", 1)],
            &[("a", 2)],
            &[("a", 3)],
            &[("a", 4)],
            &[("a", 5)],
            &[("a", 6)],
            &[],
            &[],
        ],
        &[&[("a", 3)], &[("a", 10)], &[("a", 18)], &[("a", 11)]],
        4,
        2,
    );
    reduce_window_case(BIG_INPUT, BIG_REDUCE_OUTPUT, 2, 1);
}

#[test]
fn count_reduce_and_count_by_value_over_windows() {
    let input = ints(&[&[1], &[1], &[1, 2], &[0], &[], &[]]);
    assert_eq!(
        run_batches(input.clone(), |s| s.count_by_window(2 * S, S).unwrap(), 6),
        vec![vec![1], vec![2], vec![3], vec![3], vec![1], vec![0]]
    );
    assert_eq!(
        run_batches(
            input,
            |s| s.reduce_by_window(|a, b| a + b, 2 * S, S).unwrap(),
            6
        ),
        vec![vec![1], vec![2], vec![4], vec![3], vec![0], vec![]]
    );
    let words: Vec<Vec<String>> = vec![vec!["a"], vec!["b", "b"], vec!["a", "b"]]
        .into_iter()
        .map(|b| b.into_iter().map(String::from).collect())
        .collect();
    assert_eq!(
        sorted(run_batches(
            words,
            |s| s.count_by_value_and_window(2 * S, S).unwrap(),
            3
        )),
        vec![
            vec![("a".to_string(), 1)],
            vec![("a".to_string(), 1), ("b".to_string(), 2)],
            vec![("a".to_string(), 1), ("b".to_string(), 3)]
        ]
    );
}

#[test]
fn windows_of_windows_and_slices_line_up() {
    // A 4 s window sliding 2 s, windowed again over 4 s sliding 4 s: at 4 s, 8 s.
    let input: Vec<Vec<i64>> = (0..8).map(|i| vec![i]).collect();
    let out = run_batches(
        input,
        |s| {
            s.window(4 * S, 2 * S)
                .unwrap()
                .window(4 * S, 4 * S)
                .unwrap()
        },
        8,
    );
    // At 4 s: windows at 2 s ({0,1}) and 4 s ({0..3}); at 8 s: 6 s ({2..5}) and 8 s ({4..7}).
    assert_eq!(
        sorted(every(&out, 4)),
        vec![vec![0, 0, 1, 1, 2, 3], vec![2, 3, 4, 4, 5, 5, 6, 7]]
    );
}

#[test]
fn window_durations_must_be_multiples_of_the_parent_slide() {
    let out = run_batches(
        vec![vec![1]],
        |s| {
            let e = s.window(Duration::from_millis(1500), S).unwrap_err();
            assert!(matches!(e, Error::InvalidWindow { .. }), "{e}");
            let msg = e.to_string();
            assert!(
                msg.contains("window duration 1.5s") && msg.contains("1s"),
                "{msg}"
            );
            let e = s.window(2 * S, Duration::ZERO).unwrap_err();
            assert!(e.to_string().contains("slide duration 0ns"), "{e}");
            // A windowed stream slides every 2 s: a 3 s window over it is refused.
            let w = s.window(2 * S, 2 * S).unwrap();
            let e = w.count_by_window(3 * S, 2 * S).unwrap_err();
            assert!(e.to_string().contains("slide interval 2s"), "{e}");
            s
        },
        1,
    );
    assert_eq!(out, vec![vec![1]]);
}

// ---------------------------------------------------------------- properties

/// `(window, slide)` in batches, and per-batch input.
fn window_setup() -> impl Strategy<Value = (u32, u32, Vec<Vec<(u8, i64)>>)> {
    // Any window and slide (a window may be shorter than its slide: batches are skipped).
    let batches = prop::collection::vec(prop::collection::vec((0u8..5, -3i64..10), 0..6), 1..9);
    (1u32..=6, 1u32..=3, batches)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Every windowed operator equals recomputing its window from the input batches.
    #[test]
    fn windowed_operators_equal_recomputing_the_window((w, s, input) in window_setup()) {
        let n = input.len() + w as usize;
        // Batch i (0-based) is at (i + 1) s; a window at t covers batches in (t - w, t].
        let expected_window = |t: usize| -> Vec<(u8, i64)> {
            let lo = t.saturating_sub(w as usize);
            (lo..t).flat_map(|i| input.get(i).cloned().unwrap_or_default()).collect()
        };
        let windows = run_batches(input.clone(), |st| st.window(w * S, s * S).unwrap(), n);
        let sums = run_batches(
            input.clone(),
            |st| st.reduce_by_key_and_window(|a, b| a + b, w * S, s * S).unwrap(),
            n,
        );
        let counts = run_batches(input.clone(), |st| st.count_by_window(w * S, s * S).unwrap(), n);
        for t in 1..=n {
            let (win, sum, count) = (&windows[t - 1], &sums[t - 1], &counts[t - 1]);
            if t % s as usize != 0 {
                prop_assert!(win.is_empty() && sum.is_empty() && count.is_empty());
                continue;
            }
            let mut want = expected_window(t);
            want.sort();
            let mut got = win.clone();
            got.sort();
            prop_assert_eq!(&got, &want, "window at {} s", t);
            let mut want_sums: BTreeMap<u8, i64> = BTreeMap::new();
            for (k, v) in &want {
                *want_sums.entry(*k).or_default() += v;
            }
            let got_sums: BTreeMap<u8, i64> = sum.iter().cloned().collect();
            prop_assert_eq!(got_sums, want_sums, "sums at {} s", t);
            prop_assert_eq!(count.clone(), vec![want.len() as u64]);
        }
    }
}
