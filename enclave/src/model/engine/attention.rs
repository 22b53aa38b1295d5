//! Causal self-attention of one page: per query block of [`QUERY_ROWS`]
//! rows and per head, the scores against only the keys the block can see
//! (the masked half is never computed), one pass of scale, mask and
//! softmax over that strip, and the product with the values. The largest
//! score buffer is one strip (`QUERY_ROWS x t`), never `t x t`.

use rayon::prelude::*;

use super::gemm::{matmul, Init, Packed, Strided};
use super::scratch::Scratch;
use super::vmath::causal_softmax;

/// Queries per task. Smaller than the linear layers' row block: a block
/// computes the scores of all keys up to its last row, so the masked work
/// it cannot skip grows with its height (about 6 % of a 1024-token page
/// at 66 rows, 13 % at 132). A multiple of every register tile height.
const QUERY_ROWS: usize = 66;

/// Where the heads sit in a row of the fused projection output.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Heads {
    /// Query heads.
    pub q_heads: usize,
    /// Key/value heads (grouped-query attention when fewer).
    pub kv_heads: usize,
    /// Width of a head.
    pub width: usize,
    /// Floats per row of the projection output.
    pub stride: usize,
    /// Column of the first key head (queries start at 0).
    pub k_offset: usize,
    /// Column of the first value head.
    pub v_offset: usize,
}

/// `out [t, q_heads * width] = softmax(Q Kᵀ / sqrt(width), causal) V` for
/// the `t` rows of one page in `qkv`.
pub(crate) fn causal_attention(
    qkv: &[f32],
    t: usize,
    h: Heads,
    out: &mut [f32],
    scratch: &Scratch,
) {
    let kv: Vec<(Packed, Packed)> = (0..h.kv_heads)
        .into_par_iter()
        .map(|g| {
            let at = |offset| Strided {
                src: qkv,
                stride: h.stride,
                offset: offset + g * h.width,
            };
            let k = scratch.room(Packed::storage(t, h.width));
            let k = Packed::gather_rows(t, h.width, at(h.k_offset), k);
            let v = scratch.room(Packed::storage(h.width, t));
            let v = Packed::gather_transposed(h.width, t, at(h.v_offset), v);
            (k, v)
        })
        .collect();
    let group = h.q_heads / h.kv_heads;
    let scale = 1.0 / (h.width as f32).sqrt();
    let out_width = h.q_heads * h.width;
    out[..t * out_width]
        .par_chunks_mut(QUERY_ROWS * out_width)
        .enumerate()
        .for_each(|(block, out)| {
            let r0 = block * QUERY_ROWS;
            let rows = out.len() / out_width;
            let keys = r0 + rows;
            let mut scores = scratch.to_overwrite(rows * keys);
            for head in 0..h.q_heads {
                let (k, v) = &kv[head / group];
                let q = &qkv[r0 * h.stride + head * h.width..];
                matmul(
                    q,
                    h.stride,
                    rows,
                    k,
                    keys,
                    h.width,
                    &mut scores,
                    keys,
                    Init::Zero,
                );
                for (i, row) in scores.chunks_exact_mut(keys).enumerate() {
                    causal_softmax(row, r0 + i + 1, scale);
                }
                let o = &mut out[head * h.width..];
                matmul(
                    &scores,
                    keys,
                    rows,
                    v,
                    h.width,
                    keys,
                    o,
                    out_width,
                    Init::Zero,
                );
            }
        });
    for (k, v) in kv {
        scratch.give(k.into_data());
        scratch.give(v.into_data());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The textbook computation in f64.
    fn naive(qkv: &[f32], t: usize, h: Heads) -> Vec<f64> {
        let mut out = vec![0f64; t * h.q_heads * h.width];
        for head in 0..h.q_heads {
            let g = head / (h.q_heads / h.kv_heads);
            for i in 0..t {
                let q = &qkv[i * h.stride + head * h.width..][..h.width];
                let s: Vec<f64> = (0..=i)
                    .map(|j| {
                        let k = &qkv[j * h.stride + h.k_offset + g * h.width..][..h.width];
                        q.iter()
                            .zip(k)
                            .map(|(&a, &b)| f64::from(a) * f64::from(b))
                            .sum::<f64>()
                            / (h.width as f64).sqrt()
                    })
                    .collect();
                let m = s.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let z: f64 = s.iter().map(|x| (x - m).exp()).sum();
                for (j, sj) in s.iter().enumerate() {
                    let p = (sj - m).exp() / z;
                    let v = &qkv[j * h.stride + h.v_offset + g * h.width..][..h.width];
                    for d in 0..h.width {
                        out[i * h.q_heads * h.width + head * h.width + d] += p * f64::from(v[d]);
                    }
                }
            }
        }
        out
    }

    #[test]
    fn grouped_causal_attention_matches_the_textbook() {
        let (t, width) = (150, 8);
        let h = Heads {
            q_heads: 4,
            kv_heads: 2,
            width,
            stride: 8 * width,
            k_offset: 4 * width,
            v_offset: 6 * width,
        };
        let qkv: Vec<f32> = (0..t * h.stride)
            .map(|i| ((i * 7919 % 1013) as f32 / 1013.0 - 0.5) * 2.0)
            .collect();
        let mut out = vec![0f32; t * 4 * width];
        causal_attention(&qkv, t, h, &mut out, &Scratch::default());
        for (a, b) in out.iter().zip(naive(&qkv, t, h)) {
            assert!((f64::from(*a) - b).abs() < 1e-5, "{a} vs {b}");
        }
    }
}
