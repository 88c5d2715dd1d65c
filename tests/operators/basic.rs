//! Basic operations per batch: maps, filters, counts, pair operations, joins.

use super::*;

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
