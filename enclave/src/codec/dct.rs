//! Orthonormal DCT-II bases and the per-chunk transforms.
//!
//! The basis is computed analytically in f64 and rounded once to f32; it
//! agrees with Templar's FFT-derived float32 bases to a few ulp (checked
//! against the fixtures). Decoding never forms a dense coefficient block:
//! with `k` non-zeros per chunk it costs about `rows_used * n1 * n2`
//! multiply-adds instead of two dense `n^3` products.

use std::collections::BTreeMap;

/// `C[k][i] = c_k cos(pi (2i + 1) k / 2n)`, row-major, `c_0 = sqrt(1/n)`,
/// `c_k = sqrt(2/n)`.
#[derive(Debug, Clone)]
pub struct Basis {
    n: usize,
    c: Vec<f32>,
}

impl Basis {
    /// The basis of size `n` (n >= 1).
    pub fn new(n: usize) -> Self {
        let nf = n as f64;
        let mut c = Vec::with_capacity(n * n);
        for k in 0..n {
            let scale = if k == 0 {
                (1.0 / nf).sqrt()
            } else {
                (2.0 / nf).sqrt()
            };
            for i in 0..n {
                let angle = std::f64::consts::PI * (2 * i + 1) as f64 * k as f64 / (2.0 * nf);
                c.push((scale * angle.cos()) as f32);
            }
        }
        Self { n, c }
    }

    /// Size.
    pub fn n(&self) -> usize {
        self.n
    }

    /// Row `k` (the k-th cosine over all positions).
    pub fn row(&self, k: usize) -> &[f32] {
        &self.c[k * self.n..(k + 1) * self.n]
    }
}

/// Bases by size, built once per model.
#[derive(Debug, Default, Clone)]
pub struct Bases {
    by_size: BTreeMap<usize, Basis>,
}

impl Bases {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// Ensures the basis of size `n` exists.
    pub fn prepare(&mut self, n: usize) {
        self.by_size.entry(n).or_insert_with(|| Basis::new(n));
    }

    /// The basis of size `n`; [`Bases::prepare`] must have been called.
    pub fn get(&self, n: usize) -> Option<&Basis> {
        self.by_size.get(&n)
    }
}

/// Forward 2-D DCT of one `n1 x n2` block: `C1 * block * C2^T`, in f64
/// accumulation (the encoder is the miner's cost, precision matters more).
pub(super) fn forward_block(block: &[f32], c1: &Basis, c2: &Basis, out: &mut [f32]) {
    let (n1, n2) = (c1.n(), c2.n());
    // tmp = block * C2^T  (n1 x n2)
    let mut tmp = vec![0f64; n1 * n2];
    for i in 0..n1 {
        let row = &block[i * n2..(i + 1) * n2];
        for d in 0..n2 {
            let basis = c2.row(d);
            tmp[i * n2 + d] = row
                .iter()
                .zip(basis)
                .map(|(&x, &b)| f64::from(x) * f64::from(b))
                .sum();
        }
    }
    // out = C1 * tmp
    for b in 0..n1 {
        let basis = c1.row(b);
        for d in 0..n2 {
            out[b * n2 + d] = (0..n1)
                .map(|i| f64::from(basis[i]) * tmp[i * n2 + d])
                .sum::<f64>() as f32;
        }
    }
}

/// Inverse 2-D DCT of a sparse block given as `(flat index, value)` pairs
/// sorted by index: `out = C1^T * X * C2`, written as `n1 x n2` row-major.
/// `rows` is scratch of at least `n1 * n2` floats.
pub(super) fn inverse_sparse(
    coefficients: &[(u16, f32)],
    c1: &Basis,
    c2: &Basis,
    rows: &mut [f32],
    out: &mut [f32],
) {
    let (n1, n2) = (c1.n(), c2.n());
    out[..n1 * n2].fill(0.0);
    // Y[b, :] = sum_d X[b, d] * C2[d, :], only for the rows that occur.
    let mut used: Vec<usize> = Vec::with_capacity(coefficients.len());
    for &(index, value) in coefficients {
        let (b, d) = (usize::from(index) / n2, usize::from(index) % n2);
        if used.last() != Some(&b) {
            used.push(b);
            rows[b * n2..(b + 1) * n2].fill(0.0);
        }
        let y = &mut rows[b * n2..(b + 1) * n2];
        for (acc, &c) in y.iter_mut().zip(c2.row(d)) {
            *acc += value * c;
        }
    }
    // out[i, :] += C1[b, i] * Y[b, :]
    for &b in &used {
        let y = &rows[b * n2..(b + 1) * n2];
        let weights = c1.row(b);
        for (i, &w) in weights.iter().enumerate() {
            let dst = &mut out[i * n2..(i + 1) * n2];
            for (acc, &v) in dst.iter_mut().zip(y) {
                *acc += w * v;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bases_are_orthonormal() {
        for n in [1usize, 3, 48, 64] {
            let b = Basis::new(n);
            for p in 0..n {
                for q in 0..n {
                    let dot: f64 = b
                        .row(p)
                        .iter()
                        .zip(b.row(q))
                        .map(|(&x, &y)| f64::from(x) * f64::from(y))
                        .sum();
                    let expected = if p == q { 1.0 } else { 0.0 };
                    assert!((dot - expected).abs() < 1e-5, "n={n} p={p} q={q} dot={dot}");
                }
            }
        }
    }

    #[test]
    fn sparse_inverse_undoes_the_forward_transform() {
        let (c1, c2) = (Basis::new(4), Basis::new(6));
        let block: Vec<f32> = (0..24).map(|i| ((i * 7) % 11) as f32 - 5.0).collect();
        let mut coeffs = vec![0f32; 24];
        forward_block(&block, &c1, &c2, &mut coeffs);
        let sparse: Vec<(u16, f32)> = coeffs
            .iter()
            .enumerate()
            .map(|(i, &v)| (i as u16, v))
            .collect();
        let (mut rows, mut out) = (vec![0f32; 24], vec![0f32; 24]);
        inverse_sparse(&sparse, &c1, &c2, &mut rows, &mut out);
        for (a, b) in block.iter().zip(&out) {
            assert!((a - b).abs() < 1e-4, "{a} vs {b}");
        }
    }
}
