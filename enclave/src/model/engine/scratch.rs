//! Working buffers the forward pass hands back for the next layer, page
//! and miner to reuse.
//!
//! A fresh allocation of megabytes is fresh pages from the kernel, each
//! faulted in and zeroed on first touch: the matrix products of a 1-thread
//! GPT-2 `bench eval` wrote into 214 000 such pages (the head's logits
//! about 50 000 a page), 4 500 with this pool. A loan is either zeros,
//! exactly as a fresh `vec![0.0; len]`, or a copy of a slice, so nothing a
//! page computes can depend on the page before it.

use std::ops::{Deref, DerefMut};
use std::sync::{Mutex, PoisonError};

/// Buffers kept at most: two threads' worth of every kind in flight.
const KEPT: usize = 16;

/// A pool of `f32` buffers.
#[derive(Debug, Default)]
pub(crate) struct Scratch {
    free: Mutex<Vec<Vec<f32>>>,
}

impl Clone for Scratch {
    /// A clone starts with an empty pool: buffers are not weights.
    fn clone(&self) -> Self {
        Self::default()
    }
}

impl Scratch {
    /// `len` zeros.
    pub(crate) fn zeros(&self, len: usize) -> Buf<'_> {
        let mut v = self.take(len);
        v.resize(len, 0.0);
        Buf { v, pool: self }
    }

    /// A copy of `src` (no zero-fill first: every value is overwritten).
    pub(crate) fn copy_of(&self, src: &[f32]) -> Buf<'_> {
        let mut v = self.take(src.len());
        v.extend_from_slice(src);
        Buf { v, pool: self }
    }

    /// An empty kept buffer for `len` values: the smallest that holds them,
    /// else the largest (grown by the caller), else a new one.
    fn take(&self, len: usize) -> Vec<f32> {
        let mut free = self.free.lock().unwrap_or_else(PoisonError::into_inner);
        let fit = free
            .iter()
            .enumerate()
            .filter(|(_, b)| b.capacity() >= len)
            .min_by_key(|(_, b)| b.capacity())
            .or_else(|| free.iter().enumerate().max_by_key(|(_, b)| b.capacity()))
            .map(|(i, _)| i);
        let mut v = fit.map(|i| free.swap_remove(i)).unwrap_or_default();
        v.clear();
        v
    }

    fn put(&self, v: Vec<f32>) {
        let mut free = self.free.lock().unwrap_or_else(PoisonError::into_inner);
        if free.len() < KEPT {
            free.push(v);
        } else if let Some(small) = free.iter_mut().min_by_key(|b| b.capacity()) {
            // Keep the larger of the two: large buffers are the costly ones.
            if small.capacity() < v.capacity() {
                *small = v;
            }
        }
    }
}

/// A buffer on loan from a [`Scratch`]; returned when dropped.
#[derive(Debug)]
pub(crate) struct Buf<'a> {
    v: Vec<f32>,
    pool: &'a Scratch,
}

impl Deref for Buf<'_> {
    type Target = [f32];

    fn deref(&self) -> &[f32] {
        &self.v
    }
}

impl DerefMut for Buf<'_> {
    fn deref_mut(&mut self) -> &mut [f32] {
        &mut self.v
    }
}

impl Drop for Buf<'_> {
    fn drop(&mut self) {
        self.pool.put(std::mem::take(&mut self.v));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_come_back_zeroed_and_are_reused() {
        let pool = Scratch::default();
        let first = {
            let mut b = pool.zeros(1000);
            b.fill(7.0);
            b.as_ptr()
        };
        let b = pool.zeros(600);
        assert_eq!(b.len(), 600);
        assert!(b.iter().all(|&x| x == 0.0));
        assert_eq!(b.as_ptr(), first, "the kept buffer is lent again");
        // A second loan while the first is out gets its own buffer.
        let c = pool.zeros(10);
        assert_ne!(c.as_ptr(), first);
        drop((b, c));
        // A larger request grows the largest kept buffer.
        let d = pool.zeros(5000);
        assert_eq!(d.len(), 5000);
        assert!(d.iter().all(|&x| x == 0.0));
        drop(d);
        // A copy holds the source and nothing of the buffer's past.
        let src: Vec<f32> = (0..700).map(|i| i as f32).collect();
        let e = pool.copy_of(&src);
        assert_eq!(&e[..], &src[..]);
    }

    #[test]
    fn the_pool_keeps_a_bounded_number_of_buffers() {
        let pool = Scratch::default();
        let loans: Vec<Buf<'_>> = (1..=KEPT + 5).map(|n| pool.zeros(n * 10)).collect();
        drop(loans);
        let free = pool.free.lock().unwrap_or_else(PoisonError::into_inner);
        assert_eq!(free.len(), KEPT);
        // The largest ones were kept.
        assert!(free.iter().all(|b| b.capacity() >= 60));
    }
}
