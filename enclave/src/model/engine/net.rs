//! The evaluation network: working weights laid out for the kernels, and
//! the forward pass with its token cross-entropy for both families.
//!
//! Each row block runs norm → projection (and, in the MLP, projection →
//! activation → projection → residual) while its activations are still in
//! cache; the head computes logits for [`HEAD_ROWS`] positions at a time
//! and reduces each row to its loss at once, so full logits never exist.

use rayon::prelude::*;

use super::attention::{causal_attention, Heads};
use super::gemm::{matmul, par_matmul, row_blocks, split_rows, split_rows_mut, Init, Packed};
use super::scratch::Scratch;
use super::vmath::{gelu, layer_norm, log_sum_exp, rms_norm, swiglu};
use crate::error::{Error, Result};
use crate::model::config::ModelConfig;

/// Positions whose logits exist at once per task (`HEAD_ROWS x vocab`,
/// 51 MB for GPT-2). The head's weight streams from memory once per task:
/// 256 rows measured 10 % faster than 128 on GPT-2's head.
const HEAD_ROWS: usize = 256;

#[derive(Debug, Clone)]
struct Layer {
    norm1_w: Vec<f32>,
    norm1_b: Option<Vec<f32>>,
    qkv: Packed,
    qkv_b: Option<Vec<f32>>,
    o: Packed,
    o_b: Option<Vec<f32>>,
    norm2_w: Vec<f32>,
    norm2_b: Option<Vec<f32>>,
    /// GPT `c_fc`, Llama `up_proj`.
    up: Packed,
    up_b: Option<Vec<f32>>,
    /// Llama `gate_proj`.
    gate: Option<Packed>,
    gate_b: Option<Vec<f32>>,
    down: Packed,
    down_b: Option<Vec<f32>>,
}

/// Where a named parameter lives.
enum Slot<'a> {
    Plain(&'a mut [f32]),
    Rows(&'a mut Packed, usize),
}

/// The working weights in kernel layout.
#[derive(Debug, Clone)]
pub(crate) struct Net {
    cfg: ModelConfig,
    /// Untied embedding `[V, C]` (tied models read the head's rows).
    embed: Option<Vec<f32>>,
    /// GPT positions `[T, C]`.
    pos: Option<Vec<f32>>,
    layers: Vec<Layer>,
    norm_w: Vec<f32>,
    norm_b: Option<Vec<f32>>,
    head: Packed,
    /// Activations, logits and other working buffers, reused.
    scratch: Scratch,
}

fn some_if(present: bool, n: usize) -> Option<Vec<f32>> {
    present.then(|| vec![0.0; n])
}

fn plain(v: &mut Option<Vec<f32>>) -> Option<Slot<'_>> {
    v.as_mut().map(|v| Slot::Plain(v))
}

/// Biases of the fused q/k/v rows are slices of one vector.
fn bias_at(b: &mut Option<Vec<f32>>, at: usize, n: usize) -> Option<Slot<'_>> {
    b.as_mut()
        .and_then(|b| b.get_mut(at..at + n))
        .map(Slot::Plain)
}

impl Net {
    /// Zero weights of `cfg`'s shapes; callers then set every parameter.
    pub(crate) fn zeros(cfg: &ModelConfig) -> Self {
        match cfg {
            ModelConfig::Gpt(c) => {
                let (e, b) = (c.n_embd, c.bias);
                let layers = (0..c.n_layer)
                    .map(|_| Layer {
                        norm1_w: vec![0.0; e],
                        norm1_b: some_if(b, e),
                        qkv: Packed::zeros(3 * e, e),
                        qkv_b: some_if(b, 3 * e),
                        o: Packed::zeros(e, e),
                        o_b: some_if(b, e),
                        norm2_w: vec![0.0; e],
                        norm2_b: some_if(b, e),
                        up: Packed::zeros(4 * e, e),
                        up_b: some_if(b, 4 * e),
                        gate: None,
                        gate_b: None,
                        down: Packed::zeros(e, 4 * e),
                        down_b: some_if(b, e),
                    })
                    .collect();
                Self {
                    cfg: cfg.clone(),
                    embed: some_if(!c.tie_word_embeddings, c.vocab_size * e),
                    pos: Some(vec![0.0; c.block_size * e]),
                    layers,
                    norm_w: vec![0.0; e],
                    norm_b: some_if(b, e),
                    head: Packed::zeros(c.vocab_size, e),
                    scratch: Scratch::default(),
                }
            }
            ModelConfig::Llama(c) => {
                let (e, f) = (c.hidden_size, c.intermediate_size);
                let q = c.num_attention_heads * c.head_width();
                let qkv = q + 2 * c.kv_heads() * c.head_width();
                let (ab, mb) = (c.attention_bias, c.mlp_bias);
                let layers = (0..c.num_hidden_layers)
                    .map(|_| Layer {
                        norm1_w: vec![0.0; e],
                        norm1_b: None,
                        qkv: Packed::zeros(qkv, e),
                        qkv_b: some_if(ab, qkv),
                        o: Packed::zeros(e, q),
                        o_b: some_if(ab, e),
                        norm2_w: vec![0.0; e],
                        norm2_b: None,
                        up: Packed::zeros(f, e),
                        up_b: some_if(mb, f),
                        gate: Some(Packed::zeros(f, e)),
                        gate_b: some_if(mb, f),
                        down: Packed::zeros(e, f),
                        down_b: some_if(mb, e),
                    })
                    .collect();
                Self {
                    cfg: cfg.clone(),
                    embed: some_if(!c.tie_word_embeddings, c.vocab_size * e),
                    pos: None,
                    layers,
                    norm_w: vec![0.0; e],
                    norm_b: None,
                    head: Packed::zeros(c.vocab_size, e),
                    scratch: Scratch::default(),
                }
            }
        }
    }

    /// Overwrites the parameter `name` (checkpoint naming) with `values`.
    pub(crate) fn set(&mut self, name: &str, values: &[f32]) -> Result<()> {
        let missing = || Error::BadCheckpoint {
            reason: format!("no parameter {name}"),
        };
        match self.slot(name).ok_or_else(missing)? {
            Slot::Plain(v) => {
                if v.len() != values.len() {
                    return Err(Error::BadCheckpoint {
                        reason: format!("{name}: {} values, expected {}", values.len(), v.len()),
                    });
                }
                v.copy_from_slice(values);
            }
            Slot::Rows(p, row0) => {
                let rows = values.len() / p.k().max(1);
                if values.len() % p.k().max(1) != 0 || row0 + rows > p.n() {
                    return Err(Error::BadCheckpoint {
                        reason: format!("{name}: {} values do not fit its rows", values.len()),
                    });
                }
                p.set_rows(row0, values);
            }
        }
        Ok(())
    }

    /// The token embedding: its own matrix, or the rows of a tied head.
    fn embedding_slot(&mut self) -> Slot<'_> {
        match &mut self.embed {
            Some(e) => Slot::Plain(e),
            None => Slot::Rows(&mut self.head, 0),
        }
    }

    fn slot(&mut self, name: &str) -> Option<Slot<'_>> {
        match &self.cfg {
            ModelConfig::Gpt(_) => {
                match name {
                    "transformer.wte.weight" => return Some(self.embedding_slot()),
                    "transformer.wpe.weight" => return plain(&mut self.pos),
                    "transformer.ln_f.weight" => return Some(Slot::Plain(&mut self.norm_w)),
                    "transformer.ln_f.bias" => return plain(&mut self.norm_b),
                    "lm_head.weight" if self.embed.is_some() => {
                        return Some(Slot::Rows(&mut self.head, 0))
                    }
                    _ => {}
                }
                let rest = name.strip_prefix("transformer.h.")?;
                let (i, field) = rest.split_once('.')?;
                let l = self.layers.get_mut(i.parse::<usize>().ok()?)?;
                Some(match field {
                    "ln_1.weight" => Slot::Plain(&mut l.norm1_w),
                    "ln_1.bias" => return plain(&mut l.norm1_b),
                    "attn.c_attn.weight" => Slot::Rows(&mut l.qkv, 0),
                    "attn.c_attn.bias" => return plain(&mut l.qkv_b),
                    "attn.c_proj.weight" => Slot::Rows(&mut l.o, 0),
                    "attn.c_proj.bias" => return plain(&mut l.o_b),
                    "ln_2.weight" => Slot::Plain(&mut l.norm2_w),
                    "ln_2.bias" => return plain(&mut l.norm2_b),
                    "mlp.c_fc.weight" => Slot::Rows(&mut l.up, 0),
                    "mlp.c_fc.bias" => return plain(&mut l.up_b),
                    "mlp.c_proj.weight" => Slot::Rows(&mut l.down, 0),
                    "mlp.c_proj.bias" => return plain(&mut l.down_b),
                    _ => return None,
                })
            }
            ModelConfig::Llama(c) => {
                match name {
                    "model.embed_tokens.weight" => return Some(self.embedding_slot()),
                    "model.norm.weight" => return Some(Slot::Plain(&mut self.norm_w)),
                    "lm_head.weight" if self.embed.is_some() => {
                        return Some(Slot::Rows(&mut self.head, 0))
                    }
                    _ => {}
                }
                let q = c.num_attention_heads * c.head_width();
                let kv = c.kv_heads() * c.head_width();
                let rest = name.strip_prefix("model.layers.")?;
                let (i, field) = rest.split_once('.')?;
                let l = self.layers.get_mut(i.parse::<usize>().ok()?)?;
                Some(match field {
                    "input_layernorm.weight" => Slot::Plain(&mut l.norm1_w),
                    "post_attention_layernorm.weight" => Slot::Plain(&mut l.norm2_w),
                    "self_attn.q_proj.weight" => Slot::Rows(&mut l.qkv, 0),
                    "self_attn.k_proj.weight" => Slot::Rows(&mut l.qkv, q),
                    "self_attn.v_proj.weight" => Slot::Rows(&mut l.qkv, q + kv),
                    "self_attn.q_proj.bias" => return bias_at(&mut l.qkv_b, 0, q),
                    "self_attn.k_proj.bias" => return bias_at(&mut l.qkv_b, q, kv),
                    "self_attn.v_proj.bias" => return bias_at(&mut l.qkv_b, q + kv, kv),
                    "self_attn.o_proj.weight" => Slot::Rows(&mut l.o, 0),
                    "self_attn.o_proj.bias" => return plain(&mut l.o_b),
                    "mlp.gate_proj.weight" => Slot::Rows(l.gate.as_mut()?, 0),
                    "mlp.gate_proj.bias" => return plain(&mut l.gate_b),
                    "mlp.up_proj.weight" => Slot::Rows(&mut l.up, 0),
                    "mlp.up_proj.bias" => return plain(&mut l.up_b),
                    "mlp.down_proj.weight" => Slot::Rows(&mut l.down, 0),
                    "mlp.down_proj.bias" => return plain(&mut l.down_b),
                    _ => return None,
                })
            }
        }
    }

    /// Per page, the sum of its token cross-entropies (natural log) over
    /// `pages` (all one length `L`): each page predicts its tokens `1..L`
    /// from `0..L-1`. Rows are summed in order in f64, so a page's sum does
    /// not depend on how the work was split or batched.
    pub(crate) fn page_sums(&self, pages: &[&[u32]]) -> Result<Vec<f64>> {
        let t = self.check_pages(pages)?;
        let mut x = self.embed(pages, t);
        for layer in &self.layers {
            self.layer(layer, &mut x, pages.len(), t);
        }
        let e = self.width();
        let targets: Vec<u32> = pages.iter().flat_map(|p| p[1..].iter().copied()).collect();
        let per_block: Vec<Vec<f64>> = x
            .par_chunks_mut(HEAD_ROWS * e)
            .zip(targets.par_chunks(HEAD_ROWS))
            .map(|(x, targets)| self.head_losses(x, targets))
            .collect();
        let rows: Vec<f64> = per_block.into_iter().flatten().collect();
        Ok(rows
            .chunks(t)
            .map(|page| page.iter().fold(0f64, |s, &l| s + l))
            .collect())
    }

    /// Logits `[t, vocab]` of one sequence (tests and audits; the loss
    /// never materialises them).
    pub(crate) fn logits(&self, tokens: &[u32]) -> Result<Vec<f32>> {
        let t = tokens.len();
        if t == 0 || t > self.cfg.block_size() {
            return Err(Error::BadPage {
                index: 0,
                reason: format!("{t} tokens, 1..={}", self.cfg.block_size()),
            });
        }
        self.check_tokens(0, tokens)?;
        let mut x = self.embed(&[tokens], t);
        for layer in &self.layers {
            self.layer(layer, &mut x, 1, t);
        }
        Ok(self.head_logits(&mut x))
    }

    /// Checks that `pages` all have one length `L` in `2..=block_size + 1`
    /// and tokens inside the vocabulary; returns the positions `L - 1`.
    /// The only check the forward pass relies on: nothing after it can
    /// index out of bounds.
    pub(crate) fn check_pages(&self, pages: &[&[u32]]) -> Result<usize> {
        let max = self.cfg.block_size() + 1;
        let len = pages.first().map_or(0, |p| p.len());
        if pages.is_empty() {
            return Err(Error::BadPage {
                index: 0,
                reason: "no pages".into(),
            });
        }
        for (index, page) in pages.iter().enumerate() {
            if page.len() != len || len < 2 || len > max {
                return Err(Error::BadPage {
                    index,
                    reason: format!("{} tokens, pages need {len} (2..={max})", page.len()),
                });
            }
            self.check_tokens(index, page)?;
        }
        Ok(len - 1)
    }

    fn check_tokens(&self, index: usize, tokens: &[u32]) -> Result<()> {
        let vocab = self.cfg.vocab_size();
        match tokens.iter().find(|&&t| t as usize >= vocab) {
            Some(&token) => Err(Error::BadPage {
                index,
                reason: format!("token {token} outside the vocabulary of {vocab}"),
            }),
            None => Ok(()),
        }
    }

    fn width(&self) -> usize {
        match &self.cfg {
            ModelConfig::Gpt(c) => c.n_embd,
            ModelConfig::Llama(c) => c.hidden_size,
        }
    }

    /// Token (and position) embeddings of the first `t` tokens of each
    /// page; the tokens were checked.
    fn embed(&self, pages: &[&[u32]], t: usize) -> Vec<f32> {
        let e = self.width();
        let mut x = vec![0f32; pages.len() * t * e];
        for (b, page) in pages.iter().enumerate() {
            for (p, &tok) in page[..t].iter().enumerate() {
                let tok = tok as usize;
                let row = &mut x[(b * t + p) * e..][..e];
                match &self.embed {
                    Some(w) => row.copy_from_slice(&w[tok * e..][..e]),
                    None => self.head.row_into(tok, row),
                }
                if let Some(pos) = &self.pos {
                    for (v, &q) in row.iter_mut().zip(&pos[p * e..][..e]) {
                        *v += q;
                    }
                }
            }
        }
        x
    }

    /// The family's norm (LayerNorm or RMSNorm) of every row of `x`.
    fn norm_rows(&self, x: &mut [f32], w: &[f32], b: Option<&[f32]>) {
        for row in x.chunks_exact_mut(self.width()) {
            match &self.cfg {
                ModelConfig::Gpt(c) => layer_norm(row, w, b, c.layer_norm_epsilon as f32),
                ModelConfig::Llama(c) => rms_norm(row, w, c.rms_norm_eps as f32),
            }
        }
    }

    fn heads(&self) -> Heads {
        match &self.cfg {
            ModelConfig::Gpt(c) => Heads {
                q_heads: c.n_head,
                kv_heads: c.n_head,
                width: c.n_embd / c.n_head,
                stride: 3 * c.n_embd,
                k_offset: c.n_embd,
                v_offset: 2 * c.n_embd,
            },
            ModelConfig::Llama(c) => {
                let (q, kv) = (
                    c.num_attention_heads * c.head_width(),
                    c.kv_heads() * c.head_width(),
                );
                Heads {
                    q_heads: c.num_attention_heads,
                    kv_heads: c.kv_heads(),
                    width: c.head_width(),
                    stride: q + 2 * kv,
                    k_offset: q,
                    v_offset: q + kv,
                }
            }
        }
    }

    /// One block on `x [pages * t, C]` in place.
    fn layer(&self, l: &Layer, x: &mut [f32], pages: usize, t: usize) {
        let e = self.width();
        let h = self.heads();
        let m = pages * t;
        // Norm and the fused q/k/v projection, a row block at a time.
        let mut qkv = self.scratch.to_overwrite(m * h.stride);
        let blocks = row_blocks(m);
        split_rows(x, e, &blocks)
            .into_par_iter()
            .zip(split_rows_mut(&mut qkv, h.stride, &blocks))
            .for_each(|(x, qkv)| {
                let rows = x.len() / e;
                let mut hbuf = self.scratch.copy_of(x);
                self.norm_rows(&mut hbuf, &l.norm1_w, l.norm1_b.as_deref());
                let init = l.qkv_b.as_deref().map_or(Init::Zero, Init::Bias);
                matmul(&hbuf, e, rows, &l.qkv, h.stride, e, qkv, h.stride, init);
            });
        if let ModelConfig::Llama(c) = &self.cfg {
            let (cos, sin) = c.rope_table(t);
            qkv.par_chunks_mut(h.stride)
                .enumerate()
                .for_each(|(r, row)| {
                    let p = r % t;
                    let half = h.width / 2;
                    let (cos, sin) = (&cos[p * half..][..half], &sin[p * half..][..half]);
                    for head in row[..h.v_offset].chunks_exact_mut(h.width) {
                        let (a, b) = head.split_at_mut(half);
                        for i in 0..half {
                            let (x1, x2) = (a[i], b[i]);
                            a[i] = x1 * cos[i] - x2 * sin[i];
                            b[i] = x2 * cos[i] + x1 * sin[i];
                        }
                    }
                });
        }
        let q_width = h.q_heads * h.width;
        let mut y = self.scratch.to_overwrite(m * q_width);
        for b in 0..pages {
            causal_attention(
                &qkv[b * t * h.stride..(b + 1) * t * h.stride],
                t,
                h,
                &mut y[b * t * q_width..(b + 1) * t * q_width],
                &self.scratch,
            );
        }
        drop(qkv);
        let init = l.o_b.as_deref().map_or(Init::Add, Init::AddBias);
        par_matmul(&y, m, &l.o, x, init);
        drop(y);
        // The MLP, fused per row block: norm, up (and gate), activation,
        // down and the residual, while the block is in cache.
        let f = l.up.n();
        split_rows_mut(x, e, &blocks).into_par_iter().for_each(|x| {
            let rows = x.len() / e;
            let mut hbuf = self.scratch.copy_of(x);
            self.norm_rows(&mut hbuf, &l.norm2_w, l.norm2_b.as_deref());
            let mut up = self.scratch.to_overwrite(rows * f);
            let init = l.up_b.as_deref().map_or(Init::Zero, Init::Bias);
            matmul(&hbuf, e, rows, &l.up, f, e, &mut up, f, init);
            let act = match &l.gate {
                Some(gate) => {
                    let mut g = self.scratch.to_overwrite(rows * f);
                    let init = l.gate_b.as_deref().map_or(Init::Zero, Init::Bias);
                    matmul(&hbuf, e, rows, gate, f, e, &mut g, f, init);
                    swiglu(&mut g, &up);
                    g
                }
                // GPT layers have no gate.
                None => {
                    let approximate =
                        matches!(&self.cfg, ModelConfig::Gpt(c) if c.gelu_approximate);
                    gelu(&mut up, approximate);
                    up
                }
            };
            let init = l.down_b.as_deref().map_or(Init::Add, Init::AddBias);
            matmul(&act, f, rows, &l.down, e, f, x, e, init);
        });
    }

    /// Logits `[rows, vocab]` of final hidden states (normed in place)
    /// into `logits`.
    fn head_logits_into(&self, x: &mut [f32], logits: &mut [f32]) {
        let e = self.width();
        let rows = x.len() / e;
        self.norm_rows(x, &self.norm_w, self.norm_b.as_deref());
        let v = self.head.n();
        matmul(x, e, rows, &self.head, v, e, logits, v, Init::Zero);
    }

    /// [`Self::head_logits_into`] a new vector.
    fn head_logits(&self, x: &mut [f32]) -> Vec<f32> {
        let mut logits = vec![0f32; x.len() / self.width() * self.head.n()];
        self.head_logits_into(x, &mut logits);
        logits
    }

    /// Per-row losses of a block of final hidden states.
    fn head_losses(&self, x: &mut [f32], targets: &[u32]) -> Vec<f64> {
        let v = self.head.n();
        let mut logits = self.scratch.to_overwrite(x.len() / self.width() * v);
        self.head_logits_into(x, &mut logits);
        logits
            .chunks_exact(v)
            .zip(targets)
            .map(|(row, &target)| log_sum_exp(row) - f64::from(row[target as usize]))
            .collect()
    }
}
