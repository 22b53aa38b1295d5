//! What a miner does to one parameter's pseudo-gradient: chunked DCT, then
//! the `k` coefficients of largest magnitude per chunk.

use super::dct::{forward_block, Bases};
use super::layout::Layout;
use crate::error::{Error, Result};

/// One parameter's selection: `k` indices and values per chunk, in chunk
/// order, indices ascending within each chunk.
#[derive(Debug, Clone, PartialEq)]
pub struct SparseParam {
    /// Parameter name in the checkpoint.
    pub name: String,
    /// Its chunking.
    pub layout: Layout,
    /// Coefficients per chunk.
    pub k: usize,
    /// Flat in-chunk indices, `chunks * k`.
    pub indices: Vec<u16>,
    /// Values, `chunks * k`.
    pub values: Vec<f32>,
}

impl SparseParam {
    /// The `(index, value)` pairs of chunk `c`.
    pub fn chunk(&self, c: usize) -> impl Iterator<Item = (u16, f32)> + '_ {
        let range = c * self.k..(c + 1) * self.k;
        self.indices[range.clone()]
            .iter()
            .copied()
            .zip(self.values[range].iter().copied())
    }
}

/// Compresses a dense gradient of parameter `name` with `shape`.
pub fn compress(
    name: &str,
    shape: &[usize],
    gradient: &[f32],
    topk: usize,
    bases: &mut Bases,
) -> Result<SparseParam> {
    let layout = Layout::new(name, shape)?;
    if gradient.len() != layout.numel() {
        return Err(Error::BadGradient {
            name: name.to_string(),
            reason: format!("{} values for shape {shape:?}", gradient.len()),
        });
    }
    if let Some(position) = gradient.iter().position(|v| !v.is_finite()) {
        return Err(Error::NonFinite {
            name: name.to_string(),
            position,
        });
    }
    let k = layout.k(topk);
    if k == 0 {
        return Err(Error::BadGradient {
            name: name.to_string(),
            reason: "topk must be at least 1".into(),
        });
    }
    bases.prepare(layout.n1);
    bases.prepare(layout.n2);
    let missing = || Error::BadGradient {
        name: name.to_string(),
        reason: "DCT basis unavailable".into(),
    };
    let c1 = bases.get(layout.n1).ok_or_else(missing)?;
    let c2 = bases.get(layout.n2).ok_or_else(missing)?;
    let (n1, n2, totalk) = (layout.n1, layout.n2, layout.totalk());
    let mut block = vec![0f32; totalk];
    let mut coefficients = vec![0f32; totalk];
    let mut order: Vec<usize> = Vec::with_capacity(totalk);
    let mut indices = Vec::with_capacity(layout.index_count(topk));
    let mut values = Vec::with_capacity(layout.index_count(topk));
    for y in 0..layout.rows {
        for x in 0..layout.cols {
            for i in 0..n1 {
                let start = layout.offset(y, x, i, 0);
                block[i * n2..(i + 1) * n2].copy_from_slice(&gradient[start..start + n2]);
            }
            forward_block(&block, c1, c2, &mut coefficients);
            order.clear();
            order.extend(0..totalk);
            // Largest magnitude first; ties to the lower index so that the
            // selection is a pure function of the gradient.
            order.sort_by(|&a, &b| {
                coefficients[b]
                    .abs()
                    .total_cmp(&coefficients[a].abs())
                    .then(a.cmp(&b))
            });
            let mut chosen: Vec<usize> = order[..k].to_vec();
            chosen.sort_unstable();
            for c in chosen {
                indices.push(c as u16);
                values.push(coefficients[c]);
            }
        }
    }
    Ok(SparseParam {
        name: name.to_string(),
        layout,
        k,
        indices,
        values,
    })
}
