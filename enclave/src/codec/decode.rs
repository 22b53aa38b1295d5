//! Dense reconstruction of sparse parameters, and Templar's aggregation of
//! several miners (per-chunk L2-normalised values, scatter-mean).

use rayon::prelude::*;

use super::compress::SparseParam;
use super::dct::{inverse_sparse, Bases, Basis};
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
/// coefficient lists, `coefficients(c)` giving chunk `c`'s pairs sorted by
/// index. Chunk rows run in parallel.
fn reconstruct<F>(layout: &Layout, c1: &Basis, c2: &Basis, coefficients: F) -> Vec<f32>
where
    F: Fn(usize, &mut Vec<(u16, f32)>) + Sync,
{
    let row_len = layout.n1 * layout.cols * layout.n2;
    let mut out = vec![0f32; layout.numel()];
    out.par_chunks_mut(row_len)
        .enumerate()
        .for_each(|(y, band)| {
            let totalk = layout.totalk();
            let (mut scratch, mut block) = (vec![0f32; totalk], vec![0f32; totalk]);
            let mut pairs = Vec::new();
            for x in 0..layout.cols {
                pairs.clear();
                coefficients(y * layout.cols + x, &mut pairs);
                inverse_sparse(&pairs, c1, c2, &mut scratch, &mut block);
                for i in 0..layout.n1 {
                    let dst = i * layout.cols * layout.n2 + x * layout.n2;
                    band[dst..dst + layout.n2]
                        .copy_from_slice(&block[i * layout.n2..(i + 1) * layout.n2]);
                }
            }
        });
    out
}

/// The dense gradient of one parameter. `bases` must hold its chunk sizes.
pub fn decode_param(param: &SparseParam, bases: &Bases) -> Result<Vec<f32>> {
    let (c1, c2) = bases_for(bases, &param.layout, &param.name)?;
    Ok(reconstruct(&param.layout, c1, c2, |c, pairs| {
        pairs.extend(param.chunk(c));
        pairs.sort_unstable_by_key(|&(i, _)| i);
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
