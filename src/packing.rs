//! Incremental packing, O(1) per record: a batch closes when the next record would
//! break the count or byte limit, or as soon as it is exactly full.

use std::collections::VecDeque;

use crate::limits::Limits;

/// Anything with a Kinesis size (data bytes plus key UTF-8 bytes).
pub trait RecordSize {
    fn size(&self) -> usize;
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch<T> {
    pub records: Vec<T>,
    pub bytes: usize,
}

impl<T> Batch<T> {
    fn new() -> Self {
        Self { records: Vec::new(), bytes: 0 }
    }
}

#[derive(Debug)]
pub struct Packer<T> {
    limits: Limits,
    open: Batch<T>,
    ready: VecDeque<Batch<T>>,
}

impl<T: RecordSize> Packer<T> {
    pub fn new(limits: Limits) -> Self {
        Self { limits, open: Batch::new(), ready: VecDeque::new() }
    }

    /// Adds a record already checked against `Limits::record_ceiling`.
    pub fn push(&mut self, record: T) {
        let size = record.size();
        debug_assert!(size <= self.limits.record_ceiling());
        if self.open.bytes + size > self.limits.max_request_bytes {
            self.close();
        }
        self.open.bytes += size;
        self.open.records.push(record);
        if self.open.records.len() == self.limits.max_batch_size || self.open.bytes == self.limits.max_request_bytes {
            self.close();
        }
    }

    /// New limits for the records pushed from now on (the stream's own, once read).
    pub fn set_limits(&mut self, limits: Limits) {
        self.limits = limits;
    }

    /// Closes the open batch, if it has records.
    pub fn close(&mut self) {
        if !self.open.records.is_empty() {
            self.ready.push_back(std::mem::replace(&mut self.open, Batch::new()));
        }
    }

    pub fn pop_ready(&mut self) -> Option<Batch<T>> {
        self.ready.pop_front()
    }

    pub fn has_ready(&self) -> bool {
        !self.ready.is_empty()
    }

    pub fn open_len(&self) -> usize {
        self.open.records.len()
    }

    pub fn ready_len(&self) -> usize {
        self.ready.len()
    }

    /// Every record not yet taken, open batch last; leaves the packer empty.
    pub fn drain(&mut self) -> impl Iterator<Item = T> + '_ {
        self.close();
        self.ready.drain(..).flat_map(|b| b.records)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    impl RecordSize for usize {
        fn size(&self) -> usize {
            *self
        }
    }

    fn limits(count: usize, request: usize, record: usize) -> Limits {
        Limits { max_batch_size: count, max_request_bytes: request, max_record_bytes: record, ..Limits::default() }
    }

    fn pack(l: Limits, sizes: &[usize]) -> Vec<Batch<usize>> {
        let mut p = Packer::new(l);
        let mut out = Vec::new();
        for &s in sizes {
            p.push(s);
            while let Some(b) = p.pop_ready() {
                out.push(b);
            }
        }
        p.close();
        while let Some(b) = p.pop_ready() {
            out.push(b);
        }
        out
    }

    #[test]
    fn closes_at_exact_count_and_exact_bytes() {
        let b = pack(limits(2, 100, 100), &[1, 1, 1]);
        assert_eq!(b.iter().map(|b| b.records.len()).collect::<Vec<_>>(), [2, 1]);
        let mut p = Packer::new(limits(500, 10, 10));
        p.push(4);
        p.push(6);
        assert!(p.has_ready(), "a batch at exactly max bytes closes at once");
        assert_eq!(p.open_len(), 0);
    }

    #[test]
    fn closes_before_a_record_that_would_overflow() {
        let b = pack(limits(500, 10, 10), &[6, 5, 5, 10]);
        assert_eq!(b.iter().map(|b| b.bytes).collect::<Vec<_>>(), [6, 10, 10]);
    }

    #[test]
    fn drain_returns_everything_in_order() {
        let mut p = Packer::new(limits(2, 100, 100));
        for s in 1..=5 {
            p.push(s);
        }
        assert_eq!(p.drain().collect::<Vec<_>>(), [1, 2, 3, 4, 5]);
        assert!(!p.has_ready());
        assert_eq!(p.open_len(), 0);
    }

    proptest! {
        #[test]
        fn batches_respect_limits_keep_order_and_are_maximal(
            count in 1usize..=20,
            request in 1usize..=5_000,
            sizes in prop::collection::vec(0usize..=5_000, 0..300),
        ) {
            let l = limits(count, request, request);
            let sizes: Vec<usize> = sizes.into_iter().map(|s| s.min(l.record_ceiling())).collect();
            let batches = pack(l, &sizes);
            let flat: Vec<usize> = batches.iter().flat_map(|b| b.records.iter().copied()).collect();
            prop_assert_eq!(&flat, &sizes, "every record once, in order");
            for (i, b) in batches.iter().enumerate() {
                prop_assert!(!b.records.is_empty());
                prop_assert!(b.records.len() <= count);
                prop_assert_eq!(b.bytes, b.records.iter().sum::<usize>());
                prop_assert!(b.bytes <= request);
                if let Some(next) = batches.get(i + 1) {
                    // Greedy: a batch closed only because the next record did not fit.
                    prop_assert!(b.records.len() == count || b.bytes + next.records[0] > request || b.bytes == request);
                }
            }
        }
    }
}
