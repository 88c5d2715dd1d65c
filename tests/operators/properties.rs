//! Properties: windowed results against recomputing each window from scratch.

use super::*;

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
