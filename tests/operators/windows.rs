//! Windows (Spark's suite): window, reduce_by_key_and_window with and without an inverse, windows of windows, slices.

use super::*;

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
