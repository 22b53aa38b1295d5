//! Dense reconstruction of sparse parameters, and Templar's aggregation of
//! several miners (per-chunk L2-normalised values, scatter-mean).

use rayon::prelude::*;

use super::compress::SparseParam;
use super::dct::{Bases, Basis};
use super::layout::Layout;
use crate::error::{Error, Result};

fn bases_for<'b>(bases: &'b Bases, layout: &Layout, name: &str) -> Result<(&'b Basis, &'b Basis)> {
    let missing = || Error::BadGradient {
        name: name.to_string(),
        reason: "DCT basis not prepared".into(),
    };
    Ok((
        bases.get(layout.n1).ok_or_else(missing)?,
        bases.get(layout.n2).ok_or_else(missing)?,
    ))
}

/// Reconstructs a dense parameter-shaped tensor (row-major) from per-chunk
/// coefficient lists, `coefficients(c, pairs)` appending chunk `c`'s pairs.
///
/// The inverse transform `C1^T X C2` never forms a dense coefficient block:
/// `Y = X C2` touches only the rows of `X` that hold one of the `k`
/// non-zeros (`k * n2` multiply-adds), and `C1^T Y` only those rows
/// (`rows_used * n1 * n2`, against `2 n^3` for the dense products). Chunk
/// rows run in parallel; the loops are compiled for the best SIMD level the
/// CPU offers (AVX2+FMA where present) and use fused multiply-adds, which
/// round identically in hardware and in software, so results are
/// bit-identical across machines.
fn reconstruct<F>(layout: &Layout, c1: &Basis, c2: &Basis, coefficients: F) -> Vec<f32>
where
    F: Fn(usize, &mut Vec<(u16, f32)>) + Sync,
{
    let arch = pulp::Arch::new();
    let width = layout.cols * layout.n2;
    let mut out = vec![0f32; layout.numel()];
    out.par_chunks_mut(layout.n1 * width)
        .enumerate()
        .for_each(|(row, band)| {
            arch.dispatch(Band {
                layout,
                c1,
                c2,
                coefficients: &coefficients,
                row,
                band,
            })
        });
    out
}

/// The inverse transform of one chunk row, run under the CPU's best SIMD.
struct Band<'a, F> {
    layout: &'a Layout,
    c1: &'a Basis,
    c2: &'a Basis,
    coefficients: &'a F,
    row: usize,
    band: &'a mut [f32],
}

impl<F: Fn(usize, &mut Vec<(u16, f32)>)> pulp::WithSimd for Band<'_, F> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, simd: S) {
        let Self {
            layout,
            c1,
            c2,
            coefficients,
            row,
            band,
        } = self;
        let (n1, n2) = (layout.n1, layout.n2);
        let width = layout.cols * n2;
        let mut y = vec![0f32; n1 * n2];
        let mut used = vec![false; n1];
        let mut pairs = Vec::new();
        for x in 0..layout.cols {
            pairs.clear();
            coefficients(row * layout.cols + x, &mut pairs);
            used.fill(false);
            for &(index, value) in &pairs {
                let (b, d) = (usize::from(index) / n2, usize::from(index) % n2);
                let yb = &mut y[b * n2..(b + 1) * n2];
                if !used[b] {
                    used[b] = true;
                    yb.fill(0.0);
                }
                axpy(simd, value, c2.row(d), yb);
            }
            for (b, _) in used.iter().enumerate().filter(|(_, &u)| u) {
                let yb = &y[b * n2..(b + 1) * n2];
                for (i, &w) in c1.row(b).iter().enumerate() {
                    axpy(
                        simd,
                        w,
                        yb,
                        &mut band[i * width + x * n2..i * width + (x + 1) * n2],
                    );
                }
            }
        }
    }
}

/// `y += a * x` with fused multiply-adds (the same rounding on every CPU).
#[inline(always)]
fn axpy<S: pulp::Simd>(simd: S, a: f32, x: &[f32], y: &mut [f32]) {
    let (y_head, y_tail) = S::as_mut_simd_f32s(y);
    let (x_head, x_tail) = S::as_simd_f32s(x);
    let av = simd.splat_f32s(a);
    for (yv, &xv) in y_head.iter_mut().zip(x_head) {
        *yv = simd.mul_add_f32s(av, xv, *yv);
    }
    for (ys, &xs) in y_tail.iter_mut().zip(x_tail) {
        *ys = a.mul_add(xs, *ys);
    }
}

/// The dense gradient of one parameter. `bases` must hold its chunk sizes.
pub fn decode_param(param: &SparseParam, bases: &Bases) -> Result<Vec<f32>> {
    let (c1, c2) = bases_for(bases, &param.layout, &param.name)?;
    Ok(reconstruct(&param.layout, c1, c2, |c, pairs| {
        pairs.extend(param.chunk(c));
    }))
}

/// Templar's batch decompression of several miners' selections of one
/// parameter: each miner's values are divided by their L2 norm per chunk,
/// values landing on the same coefficient are averaged, then decoded.
pub fn aggregate(params: &[&SparseParam], bases: &Bases) -> Result<Vec<f32>> {
    let first = params.first().ok_or_else(|| Error::BadGradient {
        name: String::new(),
        reason: "nothing to aggregate".into(),
    })?;
    if let Some(other) = params.iter().find(|p| p.layout != first.layout) {
        return Err(Error::BadGradient {
            name: other.name.clone(),
            reason: "aggregated selections have different layouts".into(),
        });
    }
    let (c1, c2) = bases_for(bases, &first.layout, &first.name)?;
    let totalk = first.layout.totalk();
    Ok(reconstruct(&first.layout, c1, c2, |c, pairs| {
        let mut sums = vec![0f32; totalk];
        let mut counts = vec![0u32; totalk];
        for p in params {
            let norm = p.chunk(c).map(|(_, v)| v * v).sum::<f32>().sqrt().max(1e-8);
            for (i, v) in p.chunk(c) {
                sums[usize::from(i)] += v / norm;
                counts[usize::from(i)] += 1;
            }
        }
        pairs.extend(
            sums.iter()
                .zip(&counts)
                .enumerate()
                .filter(|(_, (_, &n))| n > 0)
                .map(|(i, (&s, &n))| (i as u16, s / n as f32)),
        );
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::compress;

    #[test]
    fn full_selection_round_trips_a_gradient() -> Result<()> {
        // k = totalk keeps every coefficient: decode(encode(g)) == g.
        let shape = [12usize, 20];
        let g: Vec<f32> = (0..240)
            .map(|i| ((i * 37) % 23) as f32 / 7.0 - 1.5)
            .collect();
        let mut bases = Bases::new();
        let sparse = compress("w", &shape, &g, 4096, &mut bases)?;
        let back = decode_param(&sparse, &bases)?;
        for (a, b) in g.iter().zip(&back) {
            assert!((a - b).abs() < 1e-4, "{a} vs {b}");
        }
        Ok(())
    }
}
