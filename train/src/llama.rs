//! `LlamaForCausalLM` in candle, written as Hugging Face's modelling code
//! computes it: RMSNorm in f32, rotary positions by `rotate_half`, SwiGLU,
//! grouped-query attention by repeating key/value heads.

use std::collections::HashMap;

use candle_core::{Device, Tensor, D};
use candle_nn::{Embedding, Linear, Module};
use vram_enclave::model::LlamaConfig;

use crate::error::{Error, Result};
use crate::gpt::Params;

struct RmsNorm {
    weight: Tensor,
    eps: f64,
}

impl RmsNorm {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let ms = x.sqr()?.mean_keepdim(D::Minus1)?;
        let x = x.broadcast_div(&(ms + self.eps)?.sqrt()?)?;
        Ok(x.broadcast_mul(&self.weight)?)
    }
}

fn linear(p: &Params<'_>, name: &str, out: usize, inp: usize, bias: bool) -> Result<Linear> {
    let w = p.get(&format!("{name}.weight"), &[out, inp])?;
    let b = if bias {
        Some(p.get(&format!("{name}.bias"), &[out])?)
    } else {
        None
    };
    Ok(Linear::new(w, b))
}

struct Layer {
    input_norm: RmsNorm,
    q: Linear,
    k: Linear,
    v: Linear,
    o: Linear,
    post_norm: RmsNorm,
    gate: Linear,
    up: Linear,
    down: Linear,
}

/// A Llama over named tensors.
pub(crate) struct Llama {
    embed: Embedding,
    layers: Vec<Layer>,
    norm: RmsNorm,
    head: Linear,
    cfg: LlamaConfig,
}

impl Llama {
    pub(crate) fn load(tensors: &HashMap<String, Tensor>, cfg: &LlamaConfig) -> Result<Self> {
        let p = Params::new(tensors);
        let (e, f, hd) = (cfg.hidden_size, cfg.intermediate_size, cfg.head_width());
        let (q, kv) = (cfg.num_attention_heads * hd, cfg.kv_heads() * hd);
        let norm = |name: String| -> Result<RmsNorm> {
            Ok(RmsNorm {
                weight: p.get(&name, &[e])?,
                eps: cfg.rms_norm_eps,
            })
        };
        let layers = (0..cfg.num_hidden_layers)
            .map(|i| {
                let l = format!("model.layers.{i}");
                let (ab, mb) = (cfg.attention_bias, cfg.mlp_bias);
                Ok(Layer {
                    input_norm: norm(format!("{l}.input_layernorm.weight"))?,
                    q: linear(&p, &format!("{l}.self_attn.q_proj"), q, e, ab)?,
                    k: linear(&p, &format!("{l}.self_attn.k_proj"), kv, e, ab)?,
                    v: linear(&p, &format!("{l}.self_attn.v_proj"), kv, e, ab)?,
                    o: linear(&p, &format!("{l}.self_attn.o_proj"), e, q, ab)?,
                    post_norm: norm(format!("{l}.post_attention_layernorm.weight"))?,
                    gate: linear(&p, &format!("{l}.mlp.gate_proj"), f, e, mb)?,
                    up: linear(&p, &format!("{l}.mlp.up_proj"), f, e, mb)?,
                    down: linear(&p, &format!("{l}.mlp.down_proj"), e, f, mb)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let embed_w = p.get("model.embed_tokens.weight", &[cfg.vocab_size, e])?;
        let head = if cfg.tie_word_embeddings {
            Linear::new(embed_w.clone(), None)
        } else {
            linear(&p, "lm_head", cfg.vocab_size, e, false)?
        };
        Ok(Self {
            embed: Embedding::new(embed_w, e),
            layers,
            norm: norm("model.norm.weight".into())?,
            head,
            cfg: cfg.clone(),
        })
    }

    /// Logits `[B, T, V]` for tokens `[B, T]`.
    pub(crate) fn forward(&self, tokens: &Tensor) -> Result<Tensor> {
        let (b, t) = tokens.dims2()?;
        if t > self.cfg.max_position_embeddings {
            return Err(Error::Input(format!(
                "{t} positions exceed max_position_embeddings {}",
                self.cfg.max_position_embeddings
            )));
        }
        let device = tokens.device();
        let (cos, sin) = self.cfg.rope_table(t);
        let half = self.cfg.head_width() / 2;
        let cos = Tensor::from_vec(cos, (t, half), device)?;
        let sin = Tensor::from_vec(sin, (t, half), device)?;
        let mask = causal_mask(t, device)?;
        let mut x = self.embed.forward(tokens)?;
        for l in &self.layers {
            let h = l.input_norm.forward(&x)?;
            x = (x + self.attention(l, &h, b, t, &cos, &sin, &mask)?)?;
            let h = l.post_norm.forward(&x)?;
            let act = (l.gate.forward(&h)?.silu()? * l.up.forward(&h)?)?;
            x = (x + l.down.forward(&act)?)?;
        }
        Ok(self.head.forward(&self.norm.forward(&x)?)?)
    }

    #[allow(clippy::too_many_arguments)]
    fn attention(
        &self,
        l: &Layer,
        x: &Tensor,
        b: usize,
        t: usize,
        cos: &Tensor,
        sin: &Tensor,
        mask: &Tensor,
    ) -> Result<Tensor> {
        let (nh, nkv, hd) = (
            self.cfg.num_attention_heads,
            self.cfg.kv_heads(),
            self.cfg.head_width(),
        );
        let split = |y: Tensor, heads: usize| -> Result<Tensor> {
            Ok(y.reshape((b, t, heads, hd))?
                .transpose(1, 2)?
                .contiguous()?)
        };
        let q = rope(&split(l.q.forward(x)?, nh)?, cos, sin)?;
        let k = repeat_kv(&rope(&split(l.k.forward(x)?, nkv)?, cos, sin)?, nh / nkv)?;
        let v = repeat_kv(&split(l.v.forward(x)?, nkv)?, nh / nkv)?;
        let scale = 1.0 / (hd as f64).sqrt();
        let att = (q.matmul(&k.t()?)? * scale)?.broadcast_add(mask)?;
        let att = candle_nn::ops::softmax_last_dim(&att)?;
        let y = att.matmul(&v)?.transpose(1, 2)?.reshape((b, t, nh * hd))?;
        Ok(l.o.forward(&y)?)
    }
}

/// `x cos + rotate_half(x) sin` on `[B, H, T, D]`.
fn rope(x: &Tensor, cos: &Tensor, sin: &Tensor) -> Result<Tensor> {
    let half = x.dim(D::Minus1)? / 2;
    let x1 = x.narrow(D::Minus1, 0, half)?;
    let x2 = x.narrow(D::Minus1, half, half)?;
    let a = (x1.broadcast_mul(cos)? - x2.broadcast_mul(sin)?)?;
    let b = (x2.broadcast_mul(cos)? + x1.broadcast_mul(sin)?)?;
    Ok(Tensor::cat(&[a, b], D::Minus1)?)
}

/// `[B, KV, T, D]` to `[B, KV * group, T, D]`, head `h` reading `h / group`.
fn repeat_kv(x: &Tensor, group: usize) -> Result<Tensor> {
    if group == 1 {
        return Ok(x.clone());
    }
    let (b, kv, t, d) = x.dims4()?;
    Ok(x.unsqueeze(2)?
        .expand((b, kv, group, t, d))?
        .reshape((b, kv * group, t, d))?)
}

fn causal_mask(t: usize, device: &Device) -> Result<Tensor> {
    let mask: Vec<f32> = (0..t)
        .flat_map(|i| (0..t).map(move |j| if j > i { f32::NEG_INFINITY } else { 0.0 }))
        .collect();
    Ok(Tensor::from_vec(mask, (t, t), device)?)
}
