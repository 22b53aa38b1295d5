//! Matrix products `C = init + A · Wᵀ` over packed weights.
//!
//! Every output element is one fused multiply-add chain over `k` in
//! ascending order, started from its initial value (zero, a bias, or the
//! value already in `C`). SIMD lanes only ever hold *different* output
//! columns, and threads only ever take *different* rows, so an element's
//! rounding does not depend on the vector width (AVX2 or AVX-512), on the
//! thread count, on the tile sizes or on where its row sits in a batch: a
//! loss is fixed by the weights and tokens alone, which is what lets an
//! auditor on another machine reproduce an enclave's scores bit for bit.

use pulp::{Simd, WithSimd};
use rayon::prelude::*;

/// Output columns per packed panel: two AVX-512 vectors, four AVX2 ones.
pub const NR: usize = 32;
/// Depth of one pass over a panel: `KC x NR` floats (32 KiB) stay in L1
/// while a row block streams past them.
const KC: usize = 256;
/// Depth of A packed at once (`ROW_BLOCK x KS` floats, 1 MiB, in L2):
/// within it each panel runs through all its k blocks before the next, so
/// a tile of C is loaded and stored once per stretch rather than once per
/// k block (measured 5-8 % on GPT-2 shapes against k-block-outer order).
const KS: usize = 8 * KC;
/// Up to this many panels of output columns, `A` is read in place rather
/// than packed.
const DIRECT_PANELS: usize = 2;
/// Rows a parallel task owns, about: at most this plus [`TASK_ROWS`] (see
/// [`row_blocks`]). Each panel of a weight comes from L3 once per task and
/// serves all its rows: 132 rows measured 3-6 % faster than 66 on GPT-2's
/// layer shapes. The split depends on `m` alone, never on the thread count
/// (results would not either, but work balance would).
pub const ROW_BLOCK: usize = 132;
/// Task boundaries fall on multiples of this (every tile height divides it).
const TASK_ROWS: usize = 6;

/// The rows past `m` of a partial register tile read these.
static ZEROS: [f32; KS] = [0.0; KS];

thread_local! {
    /// Packed rows of A, kept for the thread's next product.
    static APACK: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Row counts of the parallel tasks over `m` rows: `m / ROW_BLOCK`
/// rounded up tasks, as even as [`TASK_ROWS`] allows. Rayon hands each
/// thread a run of neighbouring tasks, so fixed 132-row tasks with a short
/// last one left one of two threads 6 % more rows (1024 rows: 528 against
/// 496) and the other waiting at every layer's join.
pub fn row_blocks(m: usize) -> Vec<usize> {
    let tasks = m.div_ceil(ROW_BLOCK).max(1);
    let edge = |i: usize| match i {
        i if i == tasks => m,
        i => (i * m / tasks) / TASK_ROWS * TASK_ROWS,
    };
    (0..tasks).map(|i| edge(i + 1) - edge(i)).collect()
}

/// `buf` (rows of `width`) cut into consecutive blocks of `rows[i]` rows.
pub fn split_rows<'a>(buf: &'a [f32], width: usize, rows: &[usize]) -> Vec<&'a [f32]> {
    let mut rest = buf;
    rows.iter()
        .map(|&r| {
            let (block, tail) = rest.split_at((r * width).min(rest.len()));
            rest = tail;
            block
        })
        .collect()
}

/// [`split_rows`] for a mutable buffer.
pub fn split_rows_mut<'a>(buf: &'a mut [f32], width: usize, rows: &[usize]) -> Vec<&'a mut [f32]> {
    let mut rest = buf;
    rows.iter()
        .map(|&r| {
            let at = (r * width).min(rest.len());
            let (block, tail) = std::mem::take(&mut rest).split_at_mut(at);
            rest = tail;
            block
        })
        .collect()
}

/// Asks the memory system for lines the kernel will read soon, without
/// waiting for them. The hardware prefetchers stop at every 4 KiB page
/// and a weight panel's block spans eight, so without this the first row
/// group of each block stalls on every page of it. Through pulp's safe
/// `Sse` token: the enclave forbids `unsafe`.
#[derive(Clone, Copy)]
struct Prefetch {
    #[cfg(target_arch = "x86_64")]
    sse: Option<pulp::core_arch::x86::Sse>,
}

impl Prefetch {
    fn new() -> Self {
        Self {
            #[cfg(target_arch = "x86_64")]
            sse: pulp::core_arch::x86::Sse::try_new(),
        }
    }

    /// Share `i` of `shares` of `data`'s 64-byte lines, towards L2: one
    /// share per row group spreads a block's requests over the block
    /// before it.
    #[inline(always)]
    fn share(self, data: &[f32], i: usize, shares: usize) {
        #[cfg(target_arch = "x86_64")]
        if let Some(sse) = self.sse {
            use std::arch::x86_64::_MM_HINT_T1;
            let lines = data.len().div_ceil(16);
            let (from, to) = (i * lines / shares, (i + 1) * lines / shares);
            for line in data.chunks(16).take(to).skip(from) {
                sse._mm_prefetch::<_MM_HINT_T1>(line.as_ptr().cast());
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = (data, i, shares);
    }
}

/// A weight `W [n, k]` (PyTorch `Linear` layout, `y = x Wᵀ`) stored as
/// panels of [`NR`] output columns, each `k x NR` contiguous, zero-padded
/// past `n`. The kernel then reads each panel sequentially.
#[derive(Debug, Clone, PartialEq)]
pub struct Packed {
    n: usize,
    k: usize,
    data: Vec<f32>,
}

impl Packed {
    /// A zero weight of `n` outputs by `k` inputs.
    pub fn zeros(n: usize, k: usize) -> Self {
        Self {
            n,
            k,
            data: vec![0.0; Self::storage(n, k)],
        }
    }

    /// Floats a packed `n x k` weight holds: whole panels, `n` padded.
    pub fn storage(n: usize, k: usize) -> usize {
        n.div_ceil(NR) * k * NR
    }

    /// Outputs.
    pub fn n(&self) -> usize {
        self.n
    }

    /// Inputs.
    pub fn k(&self) -> usize {
        self.k
    }

    /// Writes rows `row0..` of `W` from `rows` (row-major, `k` wide).
    pub fn set_rows(&mut self, row0: usize, rows: &[f32]) {
        self.set_strided_rows(row0, rows, self.k, 0, rows.len() / self.k.max(1));
    }

    /// Writes rows `row0..row0 + rows` of `W` from a strided source: source
    /// row `i` is `src[i * stride + offset..][..k]` (attention keys sit in
    /// the fused projection output).
    pub fn set_strided_rows(
        &mut self,
        row0: usize,
        src: &[f32],
        stride: usize,
        offset: usize,
        rows: usize,
    ) {
        let k = self.k;
        for i in 0..rows {
            let row = &src[i * stride + offset..i * stride + offset + k];
            let r = row0 + i;
            let (p, j) = (r / NR, r % NR);
            let panel = &mut self.data[p * k * NR..(p + 1) * k * NR];
            for (kk, &v) in row.iter().enumerate() {
                panel[kk * NR + j] = v;
            }
        }
    }

    /// `W [n, k]` whose row `i` is `s`'s row `i` (attention's keys, in the
    /// fused projection output), built in `buf`'s allocation. Each panel
    /// is written once, in order, padding included: nothing is zero-filled
    /// first and no value of `buf` stays.
    pub fn gather_rows(n: usize, k: usize, s: Strided<'_>, buf: Vec<f32>) -> Self {
        let mut data = emptied(buf, n, k);
        let zeros = vec![0f32; k];
        for p in 0..n.div_ceil(NR) {
            let rows: [&[f32]; NR] = std::array::from_fn(|j| match p * NR + j {
                r if r < n => s.row(r, k),
                _ => &zeros[..],
            });
            for kk in 0..k {
                data.extend(rows.iter().map(|row| row[kk]));
            }
        }
        Self { n, k, data }
    }

    /// `W = Sᵀ [n, k]` for `S [k, n]` = `s` (attention's values), built
    /// in `buf`'s allocation as [`Self::gather_rows`].
    pub fn gather_transposed(n: usize, k: usize, s: Strided<'_>, buf: Vec<f32>) -> Self {
        let mut data = emptied(buf, n, k);
        for p in 0..n.div_ceil(NR) {
            let width = NR.min(n - p * NR);
            for kk in 0..k {
                data.extend_from_slice(&s.row(kk, p * NR + width)[p * NR..]);
                data.resize(data.len() + NR - width, 0.0);
            }
        }
        Self { n, k, data }
    }

    /// The storage, for reuse.
    pub fn into_data(self) -> Vec<f32> {
        self.data
    }

    /// Row `r` of `W` (an embedding lookup on a tied head).
    pub fn row_into(&self, r: usize, out: &mut [f32]) {
        let (p, j) = (r / NR, r % NR);
        let panel = &self.data[p * self.k * NR..(p + 1) * self.k * NR];
        for (kk, o) in out.iter_mut().enumerate().take(self.k) {
            *o = panel[kk * NR + j];
        }
    }

    fn panel(&self, p: usize) -> &[f32] {
        &self.data[p * self.k * NR..(p + 1) * self.k * NR]
    }

    /// The block the kernel reads after panel `p`'s block ending at `k1`,
    /// walking panel by panel (of the first `cols` columns) through the
    /// stretch `ks`: the same panel's next [`KC`] inputs, else the next
    /// panel's first, else nothing.
    fn next_block(&self, p: usize, cols: usize, k1: usize, ks: std::ops::Range<usize>) -> &[f32] {
        if k1 < ks.end {
            &self.panel(p)[k1 * NR..(k1 + KC).min(ks.end) * NR]
        } else if p + 1 < cols.div_ceil(NR) {
            &self.panel(p + 1)[ks.start * NR..(ks.start + KC).min(ks.end) * NR]
        } else {
            &[]
        }
    }
}

/// A matrix inside a larger buffer: row `i` starts at
/// `src[i * stride + offset]`.
#[derive(Debug, Clone, Copy)]
pub struct Strided<'a> {
    /// The buffer.
    pub src: &'a [f32],
    /// Floats from one row to the next.
    pub stride: usize,
    /// Where row 0 starts.
    pub offset: usize,
}

impl Strided<'_> {
    fn row(&self, i: usize, len: usize) -> &[f32] {
        &self.src[i * self.stride + self.offset..][..len]
    }
}

/// `buf` emptied, with room for a packed `n x k` weight.
fn emptied(mut buf: Vec<f32>, n: usize, k: usize) -> Vec<f32> {
    buf.clear();
    buf.reserve(Packed::storage(n, k));
    buf
}

/// Where each output element's chain starts.
#[derive(Debug, Clone, Copy)]
pub enum Init<'a> {
    /// `C = A Wᵀ`.
    Zero,
    /// `C = b + A Wᵀ`.
    Bias(&'a [f32]),
    /// `C = C + A Wᵀ` (a residual connection).
    Add,
    /// `C = (C + b) + A Wᵀ`.
    AddBias(&'a [f32]),
}

/// `C[m, cols] = init + A[m, depth] · W[..cols, ..depth]ᵀ`, rows of `A` and
/// `C` with strides `lda` and `ldc`. Causal attention uses `cols` and
/// `depth` to touch only the keys a query block can see. Serial: callers
/// parallelise over row blocks.
#[allow(clippy::too_many_arguments)]
pub fn matmul(
    a: &[f32],
    lda: usize,
    m: usize,
    w: &Packed,
    cols: usize,
    depth: usize,
    c: &mut [f32],
    ldc: usize,
    init: Init<'_>,
) {
    super::arch().dispatch(MatMul {
        a,
        lda,
        m,
        w,
        cols: cols.min(w.n),
        depth: depth.min(w.k),
        c,
        ldc,
        init,
    });
}

/// [`matmul`] over all rows, one block of [`row_blocks`] per task; `A`
/// and `C` dense (`lda = depth`, `ldc = n`).
pub fn par_matmul(a: &[f32], m: usize, w: &Packed, c: &mut [f32], init: Init<'_>) {
    let (n, k) = (w.n, w.k);
    let rows = row_blocks(m);
    split_rows_mut(&mut c[..m * n], n, &rows)
        .into_par_iter()
        .zip(split_rows(&a[..m * k], k, &rows))
        .for_each(|(c, a)| matmul(a, k, a.len() / k.max(1), w, n, k, c, n, init));
}

struct MatMul<'a> {
    a: &'a [f32],
    lda: usize,
    m: usize,
    w: &'a Packed,
    cols: usize,
    depth: usize,
    c: &'a mut [f32],
    ldc: usize,
    init: Init<'a>,
}

impl WithSimd for MatMul<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        match S::F32_LANES {
            16 => self.run::<S, 6, 2>(simd),
            8 => self.run::<S, 3, 4>(simd),
            4 => self.run::<S, 2, 8>(simd),
            _ => self.run::<S, 1, NR>(simd),
        }
    }
}

impl MatMul<'_> {
    #[inline(always)]
    fn run<S: Simd, const MR: usize, const V: usize>(self, simd: S) {
        if self.m == 0 || self.cols == 0 {
            return;
        }
        if S::F32_LANES * V != NR || self.depth == 0 {
            return self.scalar();
        }
        let Self {
            a,
            lda,
            m,
            w,
            cols,
            depth,
            c,
            ldc,
            init,
        } = self;
        let groups = m.div_ceil(MR);
        let prefetch = Prefetch::new();
        if cols.div_ceil(NR) <= DIRECT_PANELS {
            // Few panels (attention's product with the values): packing A
            // would cost about as much as the product, so the kernel reads
            // its rows where they are.
            for p in 0..cols.div_ceil(NR) {
                let col0 = p * NR;
                let width = NR.min(cols - col0);
                for k0 in (0..depth).step_by(KC) {
                    let kc = KC.min(depth - k0);
                    let (panel, _) = S::as_simd_f32s(&w.panel(p)[k0 * NR..(k0 + kc) * NR]);
                    let next = w.next_block(p, cols, k0 + kc, 0..depth);
                    for g in 0..groups {
                        prefetch.share(next, g, groups);
                        let rows: [&[f32]; MR] = std::array::from_fn(|r| match g * MR + r {
                            row if row < m => &a[row * lda + k0..][..kc],
                            _ => &ZEROS[..kc],
                        });
                        tile::<S, MR, V>(simd, c, ldc, g * MR, m, col0, width, k0, init, |acc| {
                            kernel_rows::<S, MR, V>(simd, rows, panel, acc)
                        });
                    }
                }
            }
            return;
        }
        // A's packed rows live in a buffer kept per thread: a fresh one
        // per call was a zero-filled allocation of up to 1 MiB for every
        // task of every product. Only grown, and every value the kernel
        // reads is written below for this call.
        let mut apack = APACK.with_borrow_mut(std::mem::take);
        let need = groups * MR * KS.min(depth);
        if apack.len() < need {
            apack.resize(need, 0.0);
        }
        let mut s0 = 0;
        while s0 < depth {
            let ks = KS.min(depth - s0);
            // A's rows over this stretch of k, `MR` at a time, interleaved
            // by k: the kernel reads one contiguous stream. Written in
            // order, reading the group's rows side by side.
            for g in 0..groups {
                let block = &mut apack[g * MR * ks..][..MR * ks];
                let rows: [&[f32]; MR] = std::array::from_fn(|r| match g * MR + r {
                    row if row < m => &a[row * lda + s0..][..ks],
                    _ => &ZEROS[..ks],
                });
                for (out, kk) in block.chunks_exact_mut(MR).zip(0..) {
                    for (o, row) in out.iter_mut().zip(&rows) {
                        *o = row[kk];
                    }
                }
            }
            // One panel at a time through the whole stretch: its tiles of C
            // stay in cache from one k block to the next.
            for p in 0..cols.div_ceil(NR) {
                let col0 = p * NR;
                let width = NR.min(cols - col0);
                let mut k0 = s0;
                while k0 < s0 + ks {
                    let kc = KC.min(s0 + ks - k0);
                    let (panel, _) = S::as_simd_f32s(&w.panel(p)[k0 * NR..(k0 + kc) * NR]);
                    // The weight block after this one, a share per group.
                    let next = w.next_block(p, cols, k0 + kc, s0..s0 + ks);
                    for g in 0..groups {
                        prefetch.share(next, g, groups);
                        let block = &apack[g * MR * ks + (k0 - s0) * MR..][..MR * kc];
                        tile::<S, MR, V>(simd, c, ldc, g * MR, m, col0, width, k0, init, |acc| {
                            kernel::<S, MR, V>(simd, block, panel, acc)
                        });
                    }
                    k0 += kc;
                }
            }
            s0 += ks;
        }
        APACK.with_borrow_mut(|kept| *kept = apack);
    }
}

/// One register tile of `C` (rows `row0..`, columns `col0..col0 + width`)
/// through one k block: started from its initial value at `k0 == 0`, else
/// from the chain already in `C`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn tile<S: Simd, const MR: usize, const V: usize>(
    simd: S,
    c: &mut [f32],
    ldc: usize,
    row0: usize,
    m: usize,
    col0: usize,
    width: usize,
    k0: usize,
    init: Init<'_>,
    product: impl FnOnce(&mut [[S::f32s; V]; MR]),
) {
    let rows = MR.min(m - row0);
    let mut acc = [[simd.splat_f32s(0.0); V]; MR];
    let mut tmp = [0f32; NR];
    // A full-width tile reads and writes C (and the bias) in place; a
    // narrow one goes through `tmp`. The values are the same either way:
    // only the copies differ (the variable-length ones were `memcpy` calls,
    // 7 % of a forward pass).
    let full = width == NR;
    for (r, acc_r) in acc.iter_mut().enumerate().take(rows) {
        let row = &c[(row0 + r) * ldc + col0..][..width];
        let start = match (k0, init) {
            (0, Init::Zero) => false,
            (0, Init::Bias(b)) if full => {
                let (v, _) = S::as_simd_f32s(&b[col0..col0 + NR]);
                acc_r.copy_from_slice(&v[..V]);
                false
            }
            (0, Init::Bias(b)) => {
                tmp[..width].copy_from_slice(&b[col0..col0 + width]);
                true
            }
            (0, Init::AddBias(b)) => {
                let b = &b[col0..col0 + width];
                for ((t, &x), &b) in tmp.iter_mut().zip(row).zip(b) {
                    *t = x + b;
                }
                true
            }
            _ if full => {
                let (v, _) = S::as_simd_f32s(row);
                acc_r.copy_from_slice(&v[..V]);
                false
            }
            _ => {
                tmp[..width].copy_from_slice(row);
                true
            }
        };
        if start {
            let (v, _) = S::as_simd_f32s(&tmp);
            acc_r.copy_from_slice(&v[..V]);
        }
    }
    product(&mut acc);
    for (r, acc_r) in acc.iter().enumerate().take(rows) {
        let out = &mut c[(row0 + r) * ldc + col0..][..width];
        if full {
            let (v, _) = S::as_mut_simd_f32s(out);
            v[..V].copy_from_slice(acc_r);
        } else {
            let (v, _) = S::as_mut_simd_f32s(&mut tmp);
            v[..V].copy_from_slice(acc_r);
            out.copy_from_slice(&tmp[..width]);
        }
    }
}

/// The register tile: `MR` rows by `V` vectors, one fused multiply-add
/// per element per `k`, in order.
#[inline(always)]
fn kernel<S: Simd, const MR: usize, const V: usize>(
    simd: S,
    a: &[f32],
    b: &[S::f32s],
    acc: &mut [[S::f32s; V]; MR],
) {
    for (a, b) in a.chunks_exact(MR).zip(b.chunks_exact(V)) {
        for r in 0..MR {
            let av = simd.splat_f32s(a[r]);
            for v in 0..V {
                acc[r][v] = simd.mul_add_f32s(av, b[v], acc[r][v]);
            }
        }
    }
}

/// [`kernel`] reading `A` from `MR` row slices instead of a packed block.
#[inline(always)]
fn kernel_rows<S: Simd, const MR: usize, const V: usize>(
    simd: S,
    rows: [&[f32]; MR],
    b: &[S::f32s],
    acc: &mut [[S::f32s; V]; MR],
) {
    let kc = b.len() / V;
    let rows = rows.map(|r| &r[..kc]);
    for (kk, b) in b.chunks_exact(V).enumerate() {
        for r in 0..MR {
            let av = simd.splat_f32s(rows[r][kk]);
            for v in 0..V {
                acc[r][v] = simd.mul_add_f32s(av, b[v], acc[r][v]);
            }
        }
    }
}

impl MatMul<'_> {
    /// The same chains without SIMD, for CPUs pulp has no vector level for.
    fn scalar(self) {
        let (a, w, c) = (self.a, self.w, self.c);
        for i in 0..self.m {
            for j in 0..self.cols {
                let cell = &mut c[i * self.ldc + j];
                let mut acc = match self.init {
                    Init::Zero => 0.0,
                    Init::Bias(b) => b[j],
                    Init::Add => *cell,
                    Init::AddBias(b) => *cell + b[j],
                };
                let panel = w.panel(j / NR);
                for kk in 0..self.depth {
                    acc = a[i * self.lda + kk].mul_add(panel[kk * NR + j % NR], acc);
                }
                *cell = acc;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numbers(n: usize, seed: u32) -> Vec<f32> {
        (0..n)
            .map(|i| {
                let x = (i as u32).wrapping_mul(2_654_435_761).wrapping_add(seed);
                (x >> 8) as f32 / (1u32 << 24) as f32 - 0.5
            })
            .collect()
    }

    /// Plain fused chains in k order: what every path must equal exactly.
    fn reference(a: &[f32], m: usize, w: &[f32], n: usize, k: usize, init: &[f32]) -> Vec<f32> {
        let mut c = init.to_vec();
        for i in 0..m {
            for j in 0..n {
                let mut acc = c[i * n + j];
                for kk in 0..k {
                    acc = a[i * k + kk].mul_add(w[j * k + kk], acc);
                }
                c[i * n + j] = acc;
            }
        }
        c
    }

    #[test]
    fn every_shape_equals_the_plain_chain_bit_for_bit() {
        for &(m, n, k) in &[
            (1, 1, 1),
            (7, 33, 5),
            (64, 32, 256),
            (70, 70, 300),
            (130, 65, 513),
            // A read in place (two panels) over several k blocks.
            (70, 40, 600),
            // More than one packed stretch of k.
            (13, 70, 2300),
            // Three tasks of uneven rows.
            (265, 40, 20),
        ] {
            let a = numbers(m * k, 1);
            let wv = numbers(n * k, 2);
            let mut w = Packed::zeros(n, k);
            w.set_rows(0, &wv);
            let bias = numbers(n, 3);
            let old = numbers(m * n, 4);
            let mut c = old.clone();
            par_matmul(&a, m, &w, &mut c, Init::AddBias(&bias));
            let start: Vec<f32> = old
                .iter()
                .enumerate()
                .map(|(i, &x)| x + bias[i % n])
                .collect();
            assert_eq!(c, reference(&a, m, &wv, n, k, &start), "{m}x{n}x{k}");
            let mut s = vec![0f32; m * n];
            MatMul {
                a: &a,
                lda: k,
                m,
                w: &w,
                cols: n,
                depth: k,
                c: &mut s,
                ldc: n,
                init: Init::Zero,
            }
            .scalar();
            let mut z = vec![0f32; m * n];
            par_matmul(&a, m, &w, &mut z, Init::Zero);
            assert_eq!(z, s);
        }
    }

    #[test]
    fn row_blocks_cover_the_rows_in_even_tile_aligned_tasks() {
        for m in [0, 1, 5, 131, 132, 133, 1000, 1024, 2048, 4095] {
            let rows = row_blocks(m);
            assert_eq!(rows.iter().sum::<usize>(), m, "{m}");
            assert_eq!(rows.len(), m.div_ceil(ROW_BLOCK).max(1), "{m}");
            let (head, _) = rows.split_at(rows.len() - 1);
            assert!(head.iter().all(|r| r % TASK_ROWS == 0), "{m}: {rows:?}");
            assert!(
                rows.iter().all(|&r| r <= ROW_BLOCK + TASK_ROWS),
                "{m}: {rows:?}"
            );
            // Two threads each take half the tasks: their rows differ by
            // less than a tile row block, not by a short last task.
            let half: usize = rows[..rows.len() / 2].iter().sum();
            if rows.len() % 2 == 0 {
                assert!(m.abs_diff(2 * half) <= 2 * TASK_ROWS, "{m}: {rows:?}");
            }
        }
        let a = numbers(1024 * 3, 6);
        let blocks = split_rows(&a, 3, &row_blocks(1024));
        assert_eq!(blocks.concat(), a);
    }

    /// `W` packed row by row from `rows` (row-major `n x k`).
    fn packed(n: usize, k: usize, rows: &[f32]) -> Packed {
        let mut w = Packed::zeros(n, k);
        w.set_rows(0, rows);
        w
    }

    #[test]
    fn gathered_packs_equal_packs_set_row_by_row() {
        // 45 rows (a partial last panel) of 5 inside rows of 12 at 3.
        let src = numbers(45 * 12, 7);
        let at = Strided {
            src: &src,
            stride: 12,
            offset: 3,
        };
        let rows: Vec<f32> = (0..45).flat_map(|i| at.row(i, 5).to_vec()).collect();
        let got = Packed::gather_rows(45, 5, at, vec![3.0; 10_000]);
        assert_eq!(got, packed(45, 5, &rows), "padding included");
        // Sᵀ of S [20, 37] inside rows of 50 at 4.
        let src = numbers(20 * 50, 8);
        let at = Strided {
            src: &src,
            stride: 50,
            offset: 4,
        };
        let rows: Vec<f32> = (0..37)
            .flat_map(|j| (0..20).map(move |kk| at.row(kk, 37)[j]))
            .collect();
        let got = Packed::gather_transposed(37, 20, at, vec![3.0; 10_000]);
        assert_eq!(got, packed(37, 20, &rows), "padding included");
        assert_eq!(got.into_data().len(), 2 * 20 * NR);
    }

    #[test]
    fn packed_rows_read_back() {
        let wv = numbers(40 * 3, 5);
        let mut w = Packed::zeros(40, 3);
        w.set_rows(0, &wv);
        let mut row = [0f32; 3];
        w.row_into(37, &mut row);
        assert_eq!(row, wv[37 * 3..38 * 3]);
        // W = Sᵀ with S [40, 3] = wv, in a buffer holding old values.
        let at = Strided {
            src: &wv,
            stride: 3,
            offset: 0,
        };
        let t = Packed::gather_transposed(3, 40, at, vec![9.0; 7000]);
        let mut col = [0f32; 40];
        t.row_into(2, &mut col);
        let expected: Vec<f32> = (0..40).map(|r| wv[r * 3 + 2]).collect();
        assert_eq!(col.to_vec(), expected);
    }
}
