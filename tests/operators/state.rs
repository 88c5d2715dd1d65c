//! State: update_state_by_key and map_with_state (timeouts, removals, initial state, snapshots).

use super::*;

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
