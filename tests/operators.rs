//! DStream operators on the manual clock, through `testing::run_batches`: the essence of Spark
//! Streaming's own operator suites (basic and window operations), each with per-batch input and
//! the exact per-batch expected output, plus property tests against recomputing windows from
//! scratch.

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

/// Spark's `largerSlideInput`, for a 4 s window sliding every 2 s.
const LARGER_SLIDE_INPUT: &[&[(&str, i64)]] = &[
    &[("a", 1)],
    &[("a", 2)],
    &[("a", 3)],
    &[("a", 4)],
    &[("a", 5)],
    &[("a", 6)],
    &[],
    &[],
];

const LARGER_SLIDE_OUTPUT: &[&[(&str, i64)]] =
    &[&[("a", 3)], &[("a", 10)], &[("a", 18)], &[("a", 11)]];

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
    reduce_window_case(LARGER_SLIDE_INPUT, LARGER_SLIDE_OUTPUT, 4, 2);
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

fn inv_window_case(
    input: &[&[(&str, i64)]],
    expected: &[&[(&str, i64)]],
    w: u32,
    s: u32,
    drop_zeros: bool,
) {
    let k = s as usize;
    let out = run_batches(
        kv(input),
        |st| {
            let filter = drop_zeros.then_some(|p: &(String, i64)| p.1 != 0);
            st.reduce_by_key_and_window_inv(|a, b| a + b, |a, b| a - b, w * S, s * S, filter)
                .unwrap()
        },
        expected.len() * k,
    );
    assert_eq!(sorted(every(&out, k)), kv(expected));
}

#[test]
fn reduce_by_key_and_window_with_inverse_cases() {
    inv_window_case(&[&[("a", 1), ("a", 3)]], &[&[("a", 4)]], 2, 1, false);
    inv_window_case(
        &[&[("a", 1)], &[("a", 1)]],
        &[&[("a", 1)], &[("a", 2)]],
        2,
        1,
        false,
    );
    inv_window_case(
        &[&[("a", 1)], &[("a", 1), ("b", 1)]],
        &[&[("a", 1)], &[("a", 2), ("b", 1)]],
        2,
        1,
        false,
    );
    // Without a filter a key whose value returns to zero stays (Spark's behaviour).
    inv_window_case(
        &[&[("a", 1)], &[("a", 1)], &[], &[]],
        &[&[("a", 1)], &[("a", 2)], &[("a", 1)], &[("a", 0)]],
        2,
        1,
        false,
    );
    inv_window_case(LARGER_SLIDE_INPUT, LARGER_SLIDE_OUTPUT, 4, 2, false);
    let big_inv_output: &[&[(&str, i64)]] = &[
        &[("a", 1)],
        &[("a", 2), ("b", 1)],
        &[("a", 2), ("b", 2), ("c", 1)],
        &[("a", 2), ("b", 2), ("c", 1)],
        &[("a", 2), ("b", 1), ("c", 0)],
        &[("a", 1), ("b", 0), ("c", 0)],
        &[("a", 1), ("b", 0), ("c", 0)],
        &[("a", 2), ("b", 1), ("c", 0)],
        &[("a", 2), ("b", 2), ("c", 1)],
        &[("a", 2), ("b", 2), ("c", 1)],
        &[("a", 2), ("b", 1), ("c", 0)],
        &[("a", 1), ("b", 0), ("c", 0)],
    ];
    inv_window_case(BIG_INPUT, big_inv_output, 2, 1, false);
    // With a filter dropping zeros it equals the plain windowed reduce.
    inv_window_case(BIG_INPUT, BIG_REDUCE_OUTPUT, 2, 1, true);
    // reduce_by_window_inv: an empty window gives the inverse's identity.
    assert_eq!(
        run_batches(
            ints(&[&[1], &[1], &[1, 2], &[0], &[], &[]]),
            |s| s
                .reduce_by_window_inv(|a, b| a + b, |a, b| a - b, 2 * S, S)
                .unwrap(),
            6
        ),
        vec![vec![1], vec![2], vec![4], vec![3], vec![0], vec![0]]
    );
}

// ---------------------------------------------------------------- state

fn words(batches: &[&[&str]]) -> Vec<Vec<(String, i64)>> {
    batches
        .iter()
        .map(|b| b.iter().map(|w| (w.to_string(), 1)).collect())
        .collect()
}

const STATE_INPUT: &[&[&str]] = &[
    &["a"],
    &["a", "b"],
    &["a", "b", "c"],
    &["a", "b"],
    &["a"],
    &[],
];

#[test]
fn update_state_by_key_keeps_running_counts_and_removes_keys() {
    let out = run_batches(
        words(STATE_INPUT),
        |s| {
            s.update_state_by_key(|new: &[i64], c: Option<i64>| {
                Some(c.unwrap_or(0) + new.len() as i64)
            })
        },
        6,
    );
    assert_eq!(
        sorted(out),
        kv(&[
            &[("a", 1)],
            &[("a", 2), ("b", 1)],
            &[("a", 3), ("b", 2), ("c", 1)],
            &[("a", 4), ("b", 3), ("c", 1)],
            &[("a", 5), ("b", 3), ("c", 1)],
            &[("a", 5), ("b", 3), ("c", 1)],
        ])
    );
    // Returning None removes a key: here, once it has seen no data for a batch.
    let out = run_batches(
        words(STATE_INPUT),
        |s| {
            s.update_state_by_key(|new: &[i64], c: Option<i64>| {
                (!new.is_empty()).then(|| c.unwrap_or(0) + new.len() as i64)
            })
        },
        6,
    );
    assert_eq!(
        sorted(out),
        kv(&[
            &[("a", 1)],
            &[("a", 2), ("b", 1)],
            &[("a", 3), ("b", 2), ("c", 1)],
            &[("a", 4), ("b", 3)],
            &[("a", 5)],
            &[],
        ])
    );
}

#[test]
fn update_state_by_key_starts_from_an_initial_state() {
    let out = run_batches(
        words(&[&["a"], &["b"]]),
        |s| {
            let initial = s.context().parallelize(vec![("a".to_string(), 10i64)], 1);
            s.update_state_by_key_with_initial(
                |new: &[i64], c: Option<i64>| Some(c.unwrap_or(0) + new.len() as i64),
                3,
                initial,
            )
        },
        2,
    );
    assert_eq!(sorted(out), kv(&[&[("a", 11)], &[("a", 11), ("b", 1)]]));
}

#[test]
fn map_with_state_outputs_per_record_and_snapshots_per_batch() {
    let input = words(&[
        &[],
        &["a"],
        &["a", "b"],
        &["a", "b", "c"],
        &["a", "b"],
        &["a"],
        &[],
    ]);
    let spec = || {
        StateSpec::function(|_: &String, v: Option<i64>, state: &mut State<i64>| {
            let n = state.get().copied().unwrap_or(0) + v.unwrap_or(0);
            state.update(n);
            n
        })
    };
    let outputs = run_batches(input.clone(), |s| s.map_with_state(spec()).stream(), 7);
    assert_eq!(
        sorted(outputs),
        vec![
            vec![],
            vec![1],
            vec![1, 2],
            vec![1, 2, 3],
            vec![3, 4],
            vec![5],
            vec![]
        ]
    );
    let snapshots = run_batches(input, |s| s.map_with_state(spec()).state_snapshots(), 7);
    assert_eq!(
        sorted(snapshots),
        kv(&[
            &[],
            &[("a", 1)],
            &[("a", 2), ("b", 1)],
            &[("a", 3), ("b", 2), ("c", 1)],
            &[("a", 4), ("b", 3), ("c", 1)],
            &[("a", 5), ("b", 3), ("c", 1)],
            &[("a", 5), ("b", 3), ("c", 1)],
        ])
    );
}

/// What the timeout test's function reports.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
enum Event {
    Seen(String, i64),
    TimedOut(String, i64),
    Removed(String),
}

#[test]
fn map_with_state_times_out_idle_keys_and_removes_on_request() {
    // "a" is seen at 1 s and 2 s, then idle; with a 2 s timeout it times out at 5 s (its last
    // update, 2 s, is more than 2 s before). "z" asks to be removed.
    let input = words(&[&["a", "z"], &["a"], &[], &[], &[], &[]]);
    let spec = || {
        StateSpec::function(|k: &String, v: Option<i64>, state: &mut State<i64>| {
            if state.is_timing_out() {
                return Event::TimedOut(k.clone(), *state.get().unwrap());
            }
            if k == "z" {
                state.remove();
                return Event::Removed(k.clone());
            }
            let n = state.get().copied().unwrap_or(0) + v.unwrap_or(0);
            state.update(n);
            Event::Seen(k.clone(), n)
        })
        .timeout(2 * S)
        .num_partitions(3)
    };
    let events = run_batches(input.clone(), |s| s.map_with_state(spec()).stream(), 6);
    assert_eq!(
        sorted(events),
        vec![
            vec![Event::Seen("a".into(), 1), Event::Removed("z".into())],
            vec![Event::Seen("a".into(), 2)],
            vec![],
            vec![],
            vec![Event::TimedOut("a".into(), 2)],
            vec![],
        ]
    );
    let snapshots = run_batches(input, |s| s.map_with_state(spec()).state_snapshots(), 6);
    assert_eq!(
        sorted(snapshots),
        kv(&[&[("a", 1)], &[("a", 2)], &[("a", 2)], &[("a", 2)], &[], &[]])
    );
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
        // Incremental: unfiltered (keys stay at 0) over any values, and filtered over
        // positive values (where 0 means "no values", so dropping it is exact).
        let inv = run_batches(
            input.clone(),
            |st| st.reduce_by_key_and_window_inv(|a, b| a + b, |a, b| a - b, w * S, s * S, None::<fn(&(u8, i64)) -> bool>).unwrap(),
            n,
        );
        let positive = |v: i64| v.abs() + 1;
        let inv_filtered = run_batches(
            input.clone(),
            |st| {
                st.map_values(positive)
                    .reduce_by_key_and_window_inv(|a, b| a + b, |a, b| a - b, w * S, s * S, Some(|p: &(u8, i64)| p.1 != 0))
                    .unwrap()
            },
            n,
        );
        let mut seen_keys = std::collections::BTreeSet::new();
        for t in 1..=n {
            let (win, sum, count) = (&windows[t - 1], &sums[t - 1], &counts[t - 1]);
            if t % s as usize != 0 {
                prop_assert!(win.is_empty() && sum.is_empty() && count.is_empty());
                prop_assert!(inv[t - 1].is_empty() && inv_filtered[t - 1].is_empty());
                continue;
            }
            let mut want_inv: BTreeMap<u8, i64> = BTreeMap::new();
            let mut want_positive: BTreeMap<u8, i64> = BTreeMap::new();
            for (k, v) in expected_window(t) {
                seen_keys.insert(k);
                *want_inv.entry(k).or_default() += v;
                *want_positive.entry(k).or_default() += positive(v);
            }
            // Keys linger at 0 in overlapping windows, which are computed from the previous.
            if w > s {
                for k in &seen_keys {
                    want_inv.entry(*k).or_default();
                }
            }
            let got_inv: BTreeMap<u8, i64> = inv[t - 1].iter().cloned().collect();
            prop_assert_eq!(got_inv, want_inv, "incremental sums at {} s", t);
            let got_positive: BTreeMap<u8, i64> = inv_filtered[t - 1].iter().cloned().collect();
            prop_assert_eq!(got_positive, want_positive, "filtered incremental sums at {} s", t);
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

// ---------------------------------------------------------------- event time

/// Event-time counts of one key: batches of event seconds in, `(window start s, count)` out
/// per batch (sorted), for 5 s windows (sliding every `slide` s) and a 10 s watermark delay.
fn event_counts(mode: OutputMode, slide: u64, batches: &[&[i64]]) -> Vec<Vec<(i64, u64)>> {
    let input: Vec<Vec<(i64, char)>> = batches
        .iter()
        .map(|b| b.iter().map(|s| (s * 1000, 'k')).collect())
        .collect();
    let n = input.len();
    let out = run_batches(
        input,
        |s| {
            s.with_watermark(|e: &(i64, char)| e.0, Duration::from_secs(10))
                .window(Duration::from_secs(5), Duration::from_secs(slide))
                .count_by_key(|e| e.1, mode)
                .unwrap()
        },
        n,
    );
    sorted(
        out.into_iter()
            .map(|b| b.into_iter().map(|(w, _, c)| (w.start / 1000, c)).collect())
            .collect(),
    )
}

#[test]
fn event_time_append_mode_emits_each_window_once_when_the_watermark_closes_it() {
    // Spark's EventTimeWatermarkSuite, "append mode".
    let out = event_counts(
        OutputMode::Append,
        5,
        &[&[10, 11, 12, 13, 14, 15], &[25], &[], &[10]],
    );
    assert_eq!(out, [vec![], vec![], vec![(10, 5)], vec![]]);
}

#[test]
fn event_time_update_mode_emits_changed_windows_and_drops_late_pairs() {
    // Spark's EventTimeWatermarkSuite, "update mode".
    let out = event_counts(
        OutputMode::Update,
        5,
        &[&[10, 11, 12, 13, 14, 15], &[25], &[], &[10, 25], &[10]],
    );
    assert_eq!(
        out,
        [
            vec![(10, 5), (15, 1)],
            vec![(25, 1)],
            vec![],
            vec![(25, 2)],
            vec![]
        ]
    );
}

#[test]
fn event_time_complete_mode_emits_the_whole_table_and_drops_nothing() {
    let out = event_counts(
        OutputMode::Complete,
        5,
        &[&[10, 11, 12], &[25], &[25], &[10], &[25]],
    );
    assert_eq!(
        out,
        [
            vec![(10, 3)],
            vec![(10, 3), (25, 1)],
            vec![(10, 3), (25, 2)],
            vec![(10, 4), (25, 2)],
            vec![(10, 4), (25, 3)]
        ]
    );
}

#[test]
fn event_time_sliding_windows_judge_lateness_per_window() {
    // 5 s windows every 1 s (plus the 10 s delay). Batch 2's watermark is 12 - 10 = 2: every
    // window of event 1 ([-3,2) .. [1,6)) but [-3,2) is open, so event 1 counts in four.
    let out = event_counts(OutputMode::Update, 1, &[&[12], &[1], &[20], &[1, 11]]);
    assert_eq!(
        out,
        [
            vec![(8, 1), (9, 1), (10, 1), (11, 1), (12, 1)],
            vec![(-2, 1), (-1, 1), (0, 1), (1, 1)],
            vec![(16, 1), (17, 1), (18, 1), (19, 1), (20, 1)],
            // Watermark 20 - 10 = 10: event 1 is late everywhere; event 11 is counted in the
            // windows ending after 10 ([7,12) .. [11,16)), four of them with event 12 already.
            vec![(7, 1), (8, 2), (9, 2), (10, 2), (11, 2)]
        ]
    );
}

#[test]
fn event_time_sessions_merge_close_and_drop_late_events() {
    // 5 s gap, 10 s delay, Append: a session is emitted once the watermark passes its end.
    let input: Vec<Vec<(i64, char)>> = vec![
        vec![(1_000, 'u'), (3_000, 'u'), (20_000, 'v')],
        vec![(6_000, 'u')],  // extends u's session to [1 s, 11 s)
        vec![(30_000, 'v')], // watermark 20 - 10 = 10: nothing closed yet
        vec![],              // watermark 30 - 10 = 20: u's [1,11) closes
        vec![(2_000, 'u')],  // late: [2,7) ends before the watermark of 20
        vec![(45_000, 'w')],
        vec![], // watermark 45 - 10 = 35: v's [20,25) and [30,35) close
    ];
    let out = run_batches(
        input,
        |s| {
            s.with_watermark(|e: &(i64, char)| e.0, Duration::from_secs(10))
                .session_window(Duration::from_secs(5))
                .count_by_key(|e| e.1.to_string(), OutputMode::Append)
                .unwrap()
        },
        7,
    );
    let out: Vec<Vec<(i64, i64, String, u64)>> = sorted(
        out.into_iter()
            .map(|b| {
                b.into_iter()
                    .map(|(w, k, n)| (w.start / 1000, w.end / 1000, k, n))
                    .collect()
            })
            .collect(),
    );
    let s = |v: &[(i64, i64, &str, u64)]| -> Vec<(i64, i64, String, u64)> {
        v.iter()
            .map(|(a, b, k, n)| (*a, *b, k.to_string(), *n))
            .collect()
    };
    assert_eq!(
        out,
        [
            s(&[]),
            s(&[]),
            s(&[]),
            s(&[(1, 11, "u", 3)]),
            s(&[]),
            s(&[]),
            s(&[(20, 25, "v", 1), (30, 35, "v", 1)]),
        ]
    );
}

/// Runs per-batch inputs of two streams through `f` on the manual clock (with
/// `spate.streaming.multipleWatermarkPolicy=policy`): each batch's sorted output and its
/// `BatchInfo` (watermark, late records).
fn run_two<T: Data, U: Data + Ord>(
    policy: &str,
    batches: Vec<(Vec<T>, Vec<T>)>,
    f: impl FnOnce(DStream<T>, DStream<T>) -> DStream<U>,
) -> Vec<(Vec<U>, BatchInfo)> {
    use spate::streaming::ManualClock;
    use std::sync::{Arc, Mutex};
    struct Infos(Mutex<Vec<BatchInfo>>);
    impl StreamingListener for Infos {
        fn on_batch_completed(&self, info: &BatchInfo) {
            self.0.lock().unwrap().push(info.clone());
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let conf = Conf::new()
        .set_master("local[2]")
        .set("spate.streaming.stopGracefullyOnShutdown", "false")
        .set("spate.streaming.multipleWatermarkPolicy", policy);
    let ctx = Context::new(conf).unwrap();
    let clock = Arc::new(ManualClock::new(Time::from_millis(0)));
    let ssc =
        StreamingContext::with_clock(ctx.clone(), Duration::from_secs(1), clock.clone()).unwrap();
    ssc.checkpoint(dir.path()).unwrap();
    let (qa, qb) = (RddQueue::new(), RddQueue::new());
    let n = batches.len();
    for (a, b) in batches {
        qa.push(ctx.parallelize(a, 1));
        qb.push(ctx.parallelize(b, 1));
    }
    let out = f(
        ssc.queue_stream(qa, true, None),
        ssc.queue_stream(qb, true, None),
    );
    let got: Arc<Mutex<Vec<Vec<U>>>> = Arc::default();
    let sink = Arc::clone(&got);
    out.foreach_rdd(move |rdd, _| {
        let mut b = rdd.collect()?;
        b.sort();
        sink.lock().unwrap().push(b);
        Ok(())
    })
    .unwrap();
    let infos = Arc::new(Infos(Mutex::new(Vec::new())));
    ssc.add_streaming_listener(infos.clone());
    ssc.start().unwrap();
    for i in 1..=n {
        clock.advance(Duration::from_secs(1));
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while infos.0.lock().unwrap().len() < i {
            assert!(
                std::time::Instant::now() < deadline,
                "batch {i} did not run"
            );
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    ssc.stop(StopOptions::default()).unwrap();
    let got = got.lock().unwrap().clone();
    let infos = infos.0.lock().unwrap().clone();
    got.into_iter().zip(infos).collect()
}

/// Spark's steps on one input: each step's data as a batch, then an empty batch (spate's stand-in
/// for Spark's no-data batch); the two batches' outputs together.
fn spark_steps<U: Data + Ord>(
    steps: &[&[i64]],
    f: impl FnOnce(DStream<i64>) -> DStream<U>,
) -> Vec<Vec<U>> {
    let batches = steps
        .iter()
        .flat_map(|s| {
            [
                (s.iter().map(|v| v * 1000).collect(), vec![]),
                (vec![], vec![]),
            ]
        })
        .collect();
    let out = run_two("min", batches, |a, _| f(a));
    out.chunks(2)
        .map(|pair| {
            let mut v: Vec<U> = pair.iter().flat_map(|(o, _)| o.clone()).collect();
            v.sort();
            v
        })
        .collect()
}

/// Spark's session test query: sessions of 5 s, watermark 10 s, `key` of the value (s),
/// count and sum: `(key, start s, end s, count, sum)`.
fn sessions(
    mode: OutputMode,
    key: fn(i64) -> i64,
) -> impl FnOnce(DStream<i64>) -> DStream<(i64, i64, i64, u64, i64)> {
    move |s| {
        s.with_watermark(|v: &i64| *v, Duration::from_secs(10))
            .session_window(Duration::from_secs(5))
            .aggregate_by_key(
                move |v| key(v / 1000),
                (0u64, 0i64),
                |(c, sum), v| (c + 1, sum + v / 1000),
                |a, b| (a.0 + b.0, a.1 + b.1),
                mode,
            )
            .unwrap()
            .map(|(w, k, (c, sum))| (k, w.start / 1000, w.end / 1000, c, sum))
    }
}

const SESSION_STEPS: &[&[i64]] = &[&[10, 11], &[17], &[25], &[35], &[10], &[40]];

#[test]
fn event_time_sessions_match_sparks_append_and_update_vectors() {
    // EventTimeWatermarkSuite: "append mode - session".
    let out = spark_steps(SESSION_STEPS, sessions(OutputMode::Append, |v| v / 10));
    assert_eq!(
        out,
        [
            vec![],
            vec![],
            vec![],
            vec![(1, 10, 16, 2, 21), (1, 17, 22, 1, 17)],
            vec![],
            vec![(2, 25, 30, 1, 25)]
        ]
    );
    // "update mode - session".
    let out = spark_steps(SESSION_STEPS, sessions(OutputMode::Update, |v| v / 10));
    assert_eq!(
        out,
        [
            vec![(1, 10, 16, 2, 21)],
            vec![(1, 17, 22, 1, 17)],
            vec![(2, 25, 30, 1, 25)],
            vec![(3, 35, 40, 1, 35)],
            vec![],
            vec![(4, 40, 45, 1, 40)]
        ]
    );
    // "update mode - session - no key": [35,40) and 40's [40,45) touch, so they merge.
    let out = spark_steps(SESSION_STEPS, sessions(OutputMode::Update, |_| 0));
    assert_eq!(
        out,
        [
            vec![(0, 10, 16, 2, 21)],
            vec![(0, 17, 22, 1, 17)],
            vec![(0, 25, 30, 1, 25)],
            vec![(0, 35, 40, 1, 35)],
            vec![],
            vec![(0, 35, 45, 2, 75)]
        ]
    );
    // "update mode - session - keys overlapped with sessions".
    let out = spark_steps(
        &[&[10, 11, 12, 13], &[17], &[25], &[35], &[27], &[10], &[40]],
        sessions(OutputMode::Update, |v| v % 2),
    );
    assert_eq!(
        out,
        [
            vec![(0, 10, 17, 2, 22), (1, 11, 18, 2, 24)],
            vec![(1, 11, 22, 3, 41)],
            vec![(1, 25, 30, 1, 25)],
            vec![(1, 35, 40, 1, 35)],
            vec![(1, 25, 32, 2, 52)],
            vec![],
            vec![(0, 40, 45, 1, 40)]
        ]
    );
}

/// Two inputs with watermark delays of `delays` s, unioned; per step `(first, second)` event
/// seconds, the watermark (s; 0 before there is one, as Spark reports it) of the batch after.
fn union_watermarks(policy: &str, delays: (u64, u64), steps: &[(&[i64], &[i64])]) -> Vec<i64> {
    let ms = |v: &[i64]| v.iter().map(|s| s * 1000).collect::<Vec<_>>();
    let batches = steps
        .iter()
        .flat_map(|(a, b)| [(ms(a), ms(b)), (vec![], vec![])])
        .collect();
    let out = run_two(policy, batches, |a, b| {
        let wm = |s: DStream<i64>, d| s.with_watermark(|v: &i64| *v, Duration::from_secs(d));
        wm(a, delays.0)
            .union(&wm(b, delays.1))
            .window(Duration::from_secs(5), Duration::from_secs(5))
            .count_by_key(|_| (), OutputMode::Update)
            .unwrap()
    });
    out.chunks(2)
        .map(|pair| pair[1].1.watermark.unwrap_or(0) / 1000)
        .collect()
}

#[test]
fn event_time_union_watermarks_match_sparks_two_stream_vectors() {
    // EventTimeWatermarkSuite: "watermark with 2 streams" (delays 10 s and 5 s, min policy):
    // 0 until both inputs have data, the slower side's after, never moving back.
    let steps: &[(&[i64], &[i64])] = &[
        (&[11], &[]),
        (&[], &[6]),
        (&[], &[8]),
        (&[21], &[]),
        (&[], &[17, 28, 39]),
        (&[31], &[]),
        (&[41], &[]),
        (&[51], &[]),
        (&[100], &[100]),
        (&[120], &[110]),
        (&[130], &[125]),
        (&[100], &[100]),
        (&[140], &[100]),
        (&[100], &[135]),
        (&[200], &[190]),
    ];
    assert_eq!(
        union_watermarks("min", (10, 5), steps),
        [0, 1, 1, 3, 11, 21, 31, 34, 90, 105, 120, 120, 120, 130, 185]
    );
    // "MultipleWatermarkPolicy: max" and ": min" (delays 10 s and 15 s).
    let steps: &[(&[i64], &[i64])] = &[(&[20], &[30]), (&[120], &[130]), (&[150], &[])];
    assert_eq!(union_watermarks("max", (10, 15), steps), [15, 115, 140]);
    let steps: &[(&[i64], &[i64])] = &[(&[20], &[30]), (&[120], &[130]), (&[], &[150])];
    assert_eq!(union_watermarks("min", (10, 15), steps), [10, 110, 110]);
}

#[test]
fn event_time_union_judges_lateness_by_the_min_or_the_max_watermark() {
    // `a` sees event 30 s in batch 1, `b` only 12 s; 5 s windows, 10 s delay; batch 3 brings 13 s
    // on `b`. min: the watermark is min(30, 12) - 10 = 2, so 13 (window [10,15)) still counts.
    let batches = || {
        vec![
            (vec![30_000i64], vec![12_000i64]),
            (vec![], vec![]),
            (vec![], vec![13_000]),
        ]
    };
    let count = |a: DStream<i64>, b: DStream<i64>| {
        let wm = |s: DStream<i64>| s.with_watermark(|t: &i64| *t, Duration::from_secs(10));
        wm(a)
            .union(&wm(b))
            .window(Duration::from_secs(5), Duration::from_secs(5))
            .count_by_key(|_| (), OutputMode::Update)
            .unwrap()
            .map(|(w, _, n)| (w.start / 1000, n))
    };
    let outs = |policy| -> Vec<(Vec<(i64, u64)>, u64)> {
        run_two(policy, batches(), count)
            .into_iter()
            .map(|(o, info)| (o, info.late_records))
            .collect()
    };
    assert_eq!(
        outs("min"),
        [(vec![(10, 1), (30, 1)], 0), (vec![], 0), (vec![(10, 2)], 0)]
    );
    // max: 30 - 10 = 20 closes [10,15): event 13 is late, and counted as such.
    assert_eq!(
        outs("max"),
        [(vec![(10, 1), (30, 1)], 0), (vec![], 0), (vec![], 1)]
    );
}

#[test]
fn event_time_windows_that_cannot_work_are_typed_errors() {
    run_batches(
        vec![vec![(0i64, 0u8)]],
        |s| {
            let e = s.with_watermark(|e: &(i64, u8)| e.0, Duration::ZERO);
            let err = e
                .window(Duration::from_secs(5), Duration::from_secs(6))
                .count_by_key(|e| e.1, OutputMode::Append)
                .unwrap_err();
            assert!(
                matches!(
                    err,
                    Error::InvalidEventTimeWindow {
                        what: "window slide",
                        ..
                    }
                ),
                "{err}"
            );
            let err = e
                .window(Duration::ZERO, Duration::ZERO)
                .late_events()
                .unwrap_err();
            assert!(err.to_string().contains("at least 1 ms"), "{err}");
            let err = e
                .session_window(Duration::from_micros(10))
                .count_by_key(|e| e.1, OutputMode::Update)
                .unwrap_err();
            assert!(err.to_string().contains("session gap"), "{err}");
            e.stream()
        },
        1,
    );
}
