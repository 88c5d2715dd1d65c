//! [`PartitionIter`]: the records of one partition, handed from operator to operator in chunks.
//!
//! Every RDD's partition is computed as an iterator over its parent's, and the parent's iterator
//! type is erased (an RDD knows its parent's record type, not how it was computed). Erased
//! iterators chained record by record cost an indirect call per record per operator — most of a
//! word count's time once the split and the hash table were fast. So a `PartitionIter` also
//! offers its records *in chunks*: [`Iterator::fold`] (and so `for_each`, `count`, `sum`,
//! `map(..).fold`, …) asks the erased iterator to run its own, monomorphized loop and to hand
//! over up to [`CHUNK`] records per indirect call. `next` still works one record at a time, for
//! consumers that stop early (`take`, `find`).

/// Records handed over per indirect call when a partition is consumed by `fold`.
pub(crate) const CHUNK: usize = 256;

/// An erased iterator that can also run itself to the end, chunk by chunk.
trait ChunkedIter<T>: Iterator<Item = T> {
    /// Passes every remaining record to `sink`, [`CHUNK`] at a time; `sink` empties the chunk.
    fn drain_chunks(self: Box<Self>, sink: &mut dyn FnMut(&mut Vec<T>));
}

impl<I: Iterator> ChunkedIter<I::Item> for I {
    fn drain_chunks(self: Box<Self>, sink: &mut dyn FnMut(&mut Vec<I::Item>)) {
        let mut chunk = Vec::with_capacity(CHUNK);
        // The iterator's own `for_each`: a loop the compiler sees whole (a `flat_map` over a
        // `split`, say), instead of one erased `next` per record.
        (*self).for_each(|x| {
            chunk.push(x);
            if chunk.len() == CHUNK {
                sink(&mut chunk);
                chunk.clear();
            }
        });
        if !chunk.is_empty() {
            sink(&mut chunk);
        }
    }
}

/// The records of one partition, as a task iterates them.
///
/// An ordinary [`Iterator`]; consuming it with `for_each`, `fold`, `sum`, `count` or another
/// whole-iterator method is faster than a `for` loop or `next`, because records then cross from
/// operator to operator in chunks.
///
/// # Examples
///
/// ```
/// use spate_core::PartitionIter;
/// let it = PartitionIter::new((1..=4).map(|x| x * 10));
/// assert_eq!(it.sum::<i32>(), 100);
///
/// let ctx = spate_core::Context::local(2).unwrap();
/// let sums = ctx
///     .parallelize(vec![1, 2, 3, 4], 2)
///     .map_partitions(|it: PartitionIter<i32>| std::iter::once(it.sum::<i32>()));
/// assert_eq!(sums.collect().unwrap(), [3, 7]);
/// ```
pub struct PartitionIter<T> {
    inner: Box<dyn ChunkedIter<T>>,
}

impl<T> PartitionIter<T> {
    /// Wraps any iterator.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut it = spate_core::PartitionIter::new(vec!['a', 'b'].into_iter());
    /// assert_eq!(it.next(), Some('a'));
    /// ```
    pub fn new(iter: impl Iterator<Item = T> + 'static) -> PartitionIter<T> {
        PartitionIter {
            inner: Box::new(iter),
        }
    }
}

impl<T> Iterator for PartitionIter<T> {
    type Item = T;

    #[inline]
    fn next(&mut self) -> Option<T> {
        self.inner.next()
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.inner.size_hint()
    }

    fn fold<B, F>(self, init: B, mut f: F) -> B
    where
        F: FnMut(B, T) -> B,
    {
        // The accumulator lives outside the erased call; it is out of its slot only while a
        // chunk is folded into it.
        let mut acc = Some(init);
        self.inner.drain_chunks(&mut |chunk| {
            let mut a = acc
                .take()
                .expect("the accumulator is back after every chunk");
            for x in chunk.drain(..) {
                a = f(a, x);
            }
            acc = Some(a);
        });
        acc.expect("the accumulator is back after every chunk")
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::rc::Rc;

    use super::*;

    #[test]
    fn fold_sees_every_record_in_order_across_chunks() {
        for n in [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 7] {
            let it = PartitionIter::new(PartitionIter::new(0..n).map(|x| x * 2));
            let got: Vec<usize> = it.fold(Vec::new(), |mut v, x| {
                v.push(x);
                v
            });
            assert_eq!(got, (0..n).map(|x| x * 2).collect::<Vec<_>>(), "n = {n}");
        }
    }

    #[test]
    fn next_is_lazy_one_record_at_a_time() {
        let pulled = Rc::new(RefCell::new(0));
        let p = Rc::clone(&pulled);
        let mut it = PartitionIter::new((0..1000).inspect(move |_| *p.borrow_mut() += 1));
        assert_eq!(it.next(), Some(0));
        assert_eq!(it.by_ref().take(2).collect::<Vec<_>>(), [1, 2]);
        assert_eq!(*pulled.borrow(), 3, "take pulls no record ahead");
        assert_eq!(it.count(), 997);
    }

    #[test]
    fn a_record_dropped_unread_is_dropped_once() {
        let token = Rc::new(());
        let records: Vec<Rc<()>> = (0..CHUNK + 5).map(|_| Rc::clone(&token)).collect();
        let it = PartitionIter::new(records.into_iter());
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            it.fold(0, |n, r| {
                assert!(n < CHUNK + 2, "consumer failed");
                drop(r);
                n + 1
            })
        }));
        assert!(result.is_err());
        assert_eq!(Rc::strong_count(&token), 1, "no leak on unwind");
    }
}
