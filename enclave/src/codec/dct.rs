//! Orthonormal DCT-II bases and the per-chunk transforms.
//!
//! The basis is computed analytically in f64 and rounded once to f32; it
//! agrees with Templar's FFT-derived float32 bases to a few ulp (checked
//! against the fixtures). The inverse lives with the decoder, which exploits
//! the sparsity of the coefficients.

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

    /// The whole matrix, row-major.
    pub fn matrix(&self) -> &[f32] {
        &self.c
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
    fn forward_transform_preserves_energy() {
        // Orthonormal bases: the 2-D transform is an isometry.
        let (c1, c2) = (Basis::new(4), Basis::new(6));
        let block: Vec<f32> = (0..24).map(|i| ((i * 7) % 11) as f32 - 5.0).collect();
        let mut coeffs = vec![0f32; 24];
        forward_block(&block, &c1, &c2, &mut coeffs);
        let energy = |v: &[f32]| v.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>();
        assert!((energy(&block) - energy(&coeffs)).abs() < 1e-3);
    }
}
