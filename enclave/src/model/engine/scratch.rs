//! Working buffers the forward pass hands back for the next layer, page
//! and miner to reuse.
//!
//! A fresh allocation of megabytes is fresh pages from the kernel, each
//! faulted in and zeroed on first touch: the matrix products of a 1-thread
//! GPT-2 `bench eval` wrote into 214 000 such pages (the head's logits
//! about 50 000 a page), 4 500 with this pool.
//!
//! Nothing a page computes may depend on the page before it, so a loan is
//! a copy of a slice, an empty buffer its user fills, or a buffer its user
//! overwrites in full before reading it (a product's output). Zero-filling
//! those first would only repeat stores. The evaluator's determinism tests
//! compute the same pages again on a pool full of other values.
//!
//! A loan is a prefix of its buffer: the buffer keeps every value it has
//! ever held, so lending it short and later long costs nothing. It used to
//! be truncated to the loan, which made the next longer loan zero-fill the
//! rest again: at 2 threads the layers borrowed the head's 51 MB logit
//! blocks, and the head then refilled them (its loans took 57-58 ms of a
//! gpt2-124m `bench eval --tokens 8192`, 33-36 ms now).

use std::ops::{Deref, DerefMut};
use std::sync::{Mutex, PoisonError};

/// Buffers kept at most: two threads' worth of every kind in flight, and
/// attention's packed keys and values (two per KV head, twelve heads in
/// GPT-2).
const KEPT: usize = 48;

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
    /// `len` values for a caller that writes every one of them before it
    /// reads any (a matrix product's output started from zero or a bias,
    /// attention's output), so it is not zero-filled first. Until written
    /// it holds an earlier loan's values: never memory the process did not
    /// write itself.
    pub(crate) fn to_overwrite(&self, len: usize) -> Buf<'_> {
        let mut v = self.take(len);
        // Only values past every earlier loan's length are zero-filled.
        if v.len() < len {
            v.resize(len, 0.0);
        }
        Buf { v, len, pool: self }
    }

    /// A copy of `src` (no zero-fill first: every value is overwritten).
    pub(crate) fn copy_of(&self, src: &[f32]) -> Buf<'_> {
        let len = src.len();
        let mut v = self.take(len);
        match v.get_mut(..len) {
            Some(prefix) => prefix.copy_from_slice(src),
            // Shorter than the copy: nothing past it to keep.
            None => {
                v.clear();
                v.extend_from_slice(src);
            }
        }
        Buf { v, len, pool: self }
    }

    /// An empty buffer with room for `len` values (for a structure that
    /// owns its storage, such as attention's packed keys); hand it back
    /// with [`Self::give`]. Its user writes every value it reads.
    pub(crate) fn room(&self, len: usize) -> Vec<f32> {
        let mut v = self.take(len);
        v.clear();
        v
    }

    /// A kept buffer for `len` values, with its earlier contents: the
    /// shortest already holding `len` values, else the smallest with room
    /// for them, else the largest (grown by the caller), else a new one.
    fn take(&self, len: usize) -> Vec<f32> {
        let mut free = self.free.lock().unwrap_or_else(PoisonError::into_inner);
        let smallest = |enough: fn(&Vec<f32>, usize) -> bool| {
            free.iter()
                .enumerate()
                .filter(|(_, b)| enough(b, len))
                .min_by_key(|(_, b)| b.capacity())
                .map(|(i, _)| i)
        };
        let fit = smallest(|b, len| b.len() >= len)
            .or_else(|| smallest(|b, len| b.capacity() >= len))
            .or_else(|| {
                free.iter()
                    .enumerate()
                    .max_by_key(|(_, b)| b.capacity())
                    .map(|(i, _)| i)
            });
        fit.map(|i| free.swap_remove(i)).unwrap_or_default()
    }

    /// Takes back a buffer (from [`Self::room`], or a dropped loan).
    pub(crate) fn give(&self, v: Vec<f32>) {
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

/// A buffer on loan from a [`Scratch`]: its first `len` values. Returned
/// whole when dropped.
#[derive(Debug)]
pub(crate) struct Buf<'a> {
    v: Vec<f32>,
    len: usize,
    pool: &'a Scratch,
}

impl Deref for Buf<'_> {
    type Target = [f32];

    fn deref(&self) -> &[f32] {
        &self.v[..self.len]
    }
}

impl DerefMut for Buf<'_> {
    fn deref_mut(&mut self) -> &mut [f32] {
        &mut self.v[..self.len]
    }
}

impl Drop for Buf<'_> {
    fn drop(&mut self) {
        self.pool.give(std::mem::take(&mut self.v));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_are_reused() {
        let pool = Scratch::default();
        let first = pool.copy_of(&[7.0; 1000]).as_ptr();
        let b = pool.to_overwrite(600);
        assert_eq!(b.len(), 600);
        assert_eq!(b.as_ptr(), first, "the kept buffer is lent again");
        // A second loan while the first is out gets its own buffer.
        let c = pool.to_overwrite(10);
        assert_ne!(c.as_ptr(), first);
        drop((b, c));
        // A larger request grows the largest kept buffer.
        assert_eq!(pool.to_overwrite(5000).len(), 5000);
        // A copy holds the source and nothing of the buffer's past.
        let src: Vec<f32> = (0..700).map(|i| i as f32).collect();
        assert_eq!(&pool.copy_of(&src)[..], &src[..]);
        // Room is empty, whatever the buffer held.
        let mut v = pool.room(3000);
        assert!(v.is_empty() && v.capacity() >= 3000);
        v.extend([1.0; 3000]);
        pool.give(v);
        assert!(pool.room(10).is_empty());
    }

    #[test]
    fn a_loan_to_overwrite_has_the_length_asked_and_only_earlier_values() {
        let pool = Scratch::default();
        drop(pool.copy_of(&[5.0; 100]));
        let b = pool.to_overwrite(60);
        assert_eq!(&b[..], &[5.0; 60][..]);
        drop(b);
        // A longer loan sees what the short one left untouched: the
        // buffer kept all 100 values. Growing past them adds zeros, never
        // memory the pool has not written.
        let mut c = pool.to_overwrite(150);
        assert_eq!(&c[..100], &[5.0; 100][..]);
        assert!(c[100..].iter().all(|&x| x == 0.0));
        c.fill(2.0);
        drop(c);
        // A short copy, then a long loan: the copy wrote its prefix only.
        drop(pool.copy_of(&[3.0; 10]));
        let d = pool.to_overwrite(150);
        assert_eq!(&d[..10], &[3.0; 10][..]);
        assert_eq!(&d[10..], &[2.0; 140][..]);
    }

    #[test]
    fn a_buffer_already_holding_a_loan_is_preferred_to_one_with_room_only() {
        let pool = Scratch::default();
        // A: room for 600 values, holding 10. B: holding 1000.
        let mut a = Vec::with_capacity(600);
        a.extend([1.0; 10]);
        let b = pool.to_overwrite(1000).as_ptr();
        pool.give(a);
        // 400 values: A is the smaller, but B needs no zero-fill.
        assert_eq!(pool.to_overwrite(400).as_ptr(), b);
        // 2000: neither holds them; the larger is grown.
        assert_eq!(pool.to_overwrite(2000).len(), 2000);
    }

    #[test]
    fn the_pool_keeps_a_bounded_number_of_buffers() {
        let pool = Scratch::default();
        let loans: Vec<Buf<'_>> = (1..=KEPT + 5).map(|n| pool.to_overwrite(n * 10)).collect();
        drop(loans);
        let free = pool.free.lock().unwrap_or_else(PoisonError::into_inner);
        assert_eq!(free.len(), KEPT);
        // The largest ones were kept.
        assert!(free.iter().all(|b| b.capacity() >= 60));
    }
}
