//! Combining values by key within one partition: the inner loop of every aggregation
//! (`reduce_by_key`, `combine_by_key`, map-side combine and the reduce side alike).
//!
//! The user's merge function takes the combiner by value (`Fn(C, V) -> C`), so each record moves
//! the key's combiner out of its slot and writes the result back, with one hash lookup. Slots are
//! `ManuallyDrop<C>` rather than `Option<C>`: an `Option<u64>` doubles a `u64` combiner, and the
//! table's size is what decides its cache misses — this loop is most of a word count's time. That
//! needs `unsafe`, kept to this module: while a combiner is inside the merge function its slot
//! holds a stale copy, which must never be dropped. If a user function unwinds, [`Drop`] drops
//! every combiner except that one (the unwind drops the moved-out value itself).

#![allow(unsafe_code)]

use std::collections::{HashMap, hash_map};
use std::hash::Hash;
use std::mem::ManuallyDrop;
use std::ptr;

use crate::hash::HashSeed;

/// Per-key combiners of one partition.
pub(crate) struct Combiners<K, C> {
    map: HashMap<K, ManuallyDrop<C>, HashSeed>,
    /// The slot whose combiner is inside the user's merge function right now, else null.
    moved_out: *const ManuallyDrop<C>,
}

impl<K: Hash + Eq, C> Combiners<K, C> {
    /// Combines `records` by key: `create` makes a key's first combiner, `merge` folds the next
    /// values into it; keys are hashed with the application's `seed`.
    pub(crate) fn combine<V, I, FC, FM>(records: I, seed: HashSeed, create: &FC, merge: &FM) -> Self
    where
        I: Iterator<Item = (K, V)>,
        FC: Fn(V) -> C + ?Sized,
        FM: Fn(C, V) -> C + ?Sized,
    {
        let mut this = Combiners {
            map: HashMap::with_hasher(seed),
            moved_out: ptr::null(),
        };
        // `for_each`, not a `for` loop: a partition's records then arrive in chunks (see
        // `PartitionIter`) rather than through one erased `next` call each.
        records.for_each(|(k, v)| {
            // Look up by reference first: most records hit an existing key, and then the key is
            // neither moved nor hashed twice.
            match this.map.get_mut(&k) {
                Some(slot) => {
                    this.moved_out = slot;
                    // SAFETY: the slot holds a live combiner (every slot is written before it is
                    // read again), and `moved_out` marks its stale copy so that `Drop` skips it
                    // should `merge` unwind; on success the slot is overwritten (assigning a
                    // `ManuallyDrop` drops nothing) before anything else can read it.
                    let c = unsafe { ManuallyDrop::take(slot) };
                    *slot = ManuallyDrop::new(merge(c, v));
                    this.moved_out = ptr::null();
                }
                None => {
                    this.map.insert(k, ManuallyDrop::new(create(v)));
                }
            }
        });
        this
    }

    /// How many distinct keys were combined.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.map.len()
    }
}

impl<K, C> IntoIterator for Combiners<K, C> {
    type Item = (K, C);
    type IntoIter = CombinedIter<K, C>;

    fn into_iter(mut self) -> CombinedIter<K, C> {
        // `self` is dropped with an empty map: every combiner now belongs to the iterator.
        let map = std::mem::take(&mut self.map);
        CombinedIter {
            inner: map.into_iter(),
        }
    }
}

impl<K, C> Drop for Combiners<K, C> {
    fn drop(&mut self) {
        for slot in self.map.values_mut() {
            if !ptr::eq(slot, self.moved_out) {
                // SAFETY: every slot but `moved_out` holds a live combiner, dropped only here.
                unsafe { ManuallyDrop::drop(slot) }
            }
        }
    }
}

/// The combined `(key, combiner)` pairs of a partition, in hash order.
pub(crate) struct CombinedIter<K, C> {
    inner: hash_map::IntoIter<K, ManuallyDrop<C>>,
}

impl<K, C> Iterator for CombinedIter<K, C> {
    type Item = (K, C);

    fn next(&mut self) -> Option<(K, C)> {
        self.inner
            .next()
            .map(|(k, c)| (k, ManuallyDrop::into_inner(c)))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.inner.size_hint()
    }
}

impl<K, C> Drop for CombinedIter<K, C> {
    /// A consumer that stops early (`take(n)`) must not leak the combiners it did not read.
    fn drop(&mut self) {
        for (_, c) in self.inner.by_ref() {
            drop(ManuallyDrop::into_inner(c));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::panic::{AssertUnwindSafe, catch_unwind};
    use std::sync::Arc;

    use super::*;

    #[test]
    fn combines_like_a_plain_hash_map() {
        let records = (0..1000u64).map(|i| (i % 7, i));
        let c = Combiners::combine(records, HashSeed::random(), &|v| v, &|a, b| a + b);
        assert_eq!(c.len(), 7);
        let mut got: Vec<(u64, u64)> = c.into_iter().collect();
        got.sort();
        let mut want = std::collections::HashMap::new();
        for i in 0..1000u64 {
            *want.entry(i % 7).or_insert(0) += i;
        }
        let mut want: Vec<(u64, u64)> = want.into_iter().collect();
        want.sort();
        assert_eq!(got, want);
    }

    /// Every combiner holds a clone of `token`; its strong count tells how many are alive.
    fn combiners_of(token: &Arc<()>, keys: u32) -> Combiners<u32, Vec<Arc<()>>> {
        let records = (0..keys * 3).map(|i| (i % keys, Arc::clone(token)));
        Combiners::combine(records, HashSeed::random(), &|t| vec![t], &|mut c, t| {
            c.push(t);
            c
        })
    }

    #[test]
    fn every_combiner_is_dropped_exactly_once() {
        let token = Arc::new(());
        drop(combiners_of(&token, 50));
        assert_eq!(Arc::strong_count(&token), 1, "dropped unread");

        let mut it = combiners_of(&token, 50).into_iter();
        let first = it.next().unwrap();
        assert_eq!(first.1.len(), 3);
        drop(it);
        assert_eq!(Arc::strong_count(&token), 4, "only the pair taken is alive");
        drop(first);
        assert_eq!(Arc::strong_count(&token), 1, "read partly, then dropped");
    }

    #[test]
    fn a_panicking_merge_drops_every_combiner_once() {
        let token = Arc::new(());
        let records = (0..100u32).map(|i| (i % 10, Arc::clone(&token)));
        let result = catch_unwind(AssertUnwindSafe(|| {
            Combiners::combine(
                records,
                HashSeed::random(),
                &|t| vec![t],
                &|mut c: Vec<Arc<()>>, t| {
                    if c.len() == 5 {
                        panic!("merge failed");
                    }
                    c.push(t);
                    c
                },
            )
        }));
        assert!(result.is_err());
        assert_eq!(Arc::strong_count(&token), 1, "no leak, no double drop");
    }

    #[test]
    fn a_panicking_input_drops_every_combiner_once() {
        let token = Arc::new(());
        let records = (0..100u32).map(|i| {
            assert!(i < 60, "input failed");
            (i % 10, Arc::clone(&token))
        });
        let result = catch_unwind(AssertUnwindSafe(|| {
            Combiners::combine(
                records,
                HashSeed::random(),
                &|t| vec![t],
                &|mut c: Vec<Arc<()>>, t| {
                    c.push(t);
                    c
                },
            )
        }));
        assert!(result.is_err());
        assert_eq!(Arc::strong_count(&token), 1);
    }
}
