//! The decoder-only GPT (nanoGPT / GPT-2 layout) in candle.

use std::collections::HashMap;

use candle_core::{Device, Tensor};
use candle_nn::{Embedding, LayerNorm, Linear, Module};

use vram_enclave::model::GptConfig;

use crate::error::{Error, Result};

/// Looks up parameters by name, checking shapes against the config.
pub(crate) struct Params<'a> {
    tensors: &'a HashMap<String, Tensor>,
}

impl<'a> Params<'a> {
    pub(crate) fn new(tensors: &'a HashMap<String, Tensor>) -> Self {
        Self { tensors }
    }

    pub(crate) fn get(&self, name: &str, shape: &[usize]) -> Result<Tensor> {
        let t = self.tensors.get(name).ok_or_else(|| {
            Error::Model(vram_enclave::Error::BadCheckpoint {
                reason: format!("missing parameter {name}"),
            })
        })?;
        if t.dims() != shape {
            return Err(Error::Input(format!(
                "{name} has shape {:?}, expected {shape:?}",
                t.dims()
            )));
        }
        Ok(t.clone())
    }

    fn optional(&self, name: &str, shape: &[usize], present: bool) -> Result<Option<Tensor>> {
        present.then(|| self.get(name, shape)).transpose()
    }
}

fn layer_norm(p: &Params<'_>, prefix: &str, cfg: &GptConfig) -> Result<LayerNorm> {
    let c = cfg.n_embd;
    let weight = p.get(&format!("{prefix}.weight"), &[c])?;
    Ok(
        match p.optional(&format!("{prefix}.bias"), &[c], cfg.bias)? {
            Some(bias) => LayerNorm::new(weight, bias, cfg.layer_norm_epsilon),
            None => LayerNorm::new_no_bias(weight, cfg.layer_norm_epsilon),
        },
    )
}

fn linear(p: &Params<'_>, prefix: &str, out: usize, inp: usize, bias: bool) -> Result<Linear> {
    let weight = p.get(&format!("{prefix}.weight"), &[out, inp])?;
    let bias = p.optional(&format!("{prefix}.bias"), &[out], bias)?;
    Ok(Linear::new(weight, bias))
}

struct Attention {
    c_attn: Linear,
    c_proj: Linear,
    n_head: usize,
}

impl Attention {
    fn load(p: &Params<'_>, prefix: &str, cfg: &GptConfig) -> Result<Self> {
        let c = cfg.n_embd;
        Ok(Self {
            c_attn: linear(p, &format!("{prefix}.c_attn"), 3 * c, c, cfg.bias)?,
            c_proj: linear(p, &format!("{prefix}.c_proj"), c, c, cfg.bias)?,
            n_head: cfg.n_head,
        })
    }

    fn forward(&self, x: &Tensor, mask: &Tensor) -> Result<Tensor> {
        let (b, t, c) = x.dims3()?;
        let d = c / self.n_head;
        let qkv = self.c_attn.forward(x)?;
        let heads = |i: usize| -> Result<Tensor> {
            Ok(qkv
                .narrow(2, i * c, c)?
                .reshape((b, t, self.n_head, d))?
                .transpose(1, 2)?
                .contiguous()?)
        };
        let (q, k, v) = (heads(0)?, heads(1)?, heads(2)?);
        let scale = 1.0 / (d as f64).sqrt();
        let att = (q.matmul(&k.t()?)? * scale)?.broadcast_add(mask)?;
        let att = candle_nn::ops::softmax_last_dim(&att)?;
        let y = att.matmul(&v)?.transpose(1, 2)?.reshape((b, t, c))?;
        Ok(self.c_proj.forward(&y)?)
    }
}

struct Mlp {
    c_fc: Linear,
    c_proj: Linear,
    approximate: bool,
}

impl Mlp {
    fn load(p: &Params<'_>, prefix: &str, cfg: &GptConfig) -> Result<Self> {
        let c = cfg.n_embd;
        Ok(Self {
            c_fc: linear(p, &format!("{prefix}.c_fc"), 4 * c, c, cfg.bias)?,
            c_proj: linear(p, &format!("{prefix}.c_proj"), c, 4 * c, cfg.bias)?,
            approximate: cfg.gelu_approximate,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let h = self.c_fc.forward(x)?;
        let h = if self.approximate {
            h.gelu()?
        } else {
            h.gelu_erf()?
        };
        Ok(self.c_proj.forward(&h)?)
    }
}

struct Block {
    ln_1: LayerNorm,
    attn: Attention,
    ln_2: LayerNorm,
    mlp: Mlp,
}

impl Block {
    fn load(p: &Params<'_>, prefix: &str, cfg: &GptConfig) -> Result<Self> {
        Ok(Self {
            ln_1: layer_norm(p, &format!("{prefix}.ln_1"), cfg)?,
            attn: Attention::load(p, &format!("{prefix}.attn"), cfg)?,
            ln_2: layer_norm(p, &format!("{prefix}.ln_2"), cfg)?,
            mlp: Mlp::load(p, &format!("{prefix}.mlp"), cfg)?,
        })
    }

    fn forward(&self, x: &Tensor, mask: &Tensor) -> Result<Tensor> {
        let x = (x + self.attn.forward(&self.ln_1.forward(x)?, mask)?)?;
        Ok((&x + self.mlp.forward(&self.ln_2.forward(&x)?)?)?)
    }
}

/// A GPT whose layers share storage with the tensors it was loaded from,
/// so that updating those tensors in place updates the model.
pub(crate) struct Gpt {
    wte: Embedding,
    wpe: Embedding,
    blocks: Vec<Block>,
    ln_f: LayerNorm,
    lm_head: Linear,
    cfg: GptConfig,
}

impl Gpt {
    /// Builds the model from named parameters.
    pub(crate) fn load(tensors: &HashMap<String, Tensor>, cfg: &GptConfig) -> Result<Self> {
        let p = Params::new(tensors);
        let c = cfg.n_embd;
        let wte_weight = p.get("transformer.wte.weight", &[cfg.vocab_size, c])?;
        let lm_head = if cfg.tie_word_embeddings {
            Linear::new(wte_weight.clone(), None)
        } else {
            linear(&p, "lm_head", cfg.vocab_size, c, false)?
        };
        let blocks = (0..cfg.n_layer)
            .map(|i| Block::load(&p, &format!("transformer.h.{i}"), cfg))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            wte: Embedding::new(wte_weight, c),
            wpe: Embedding::new(p.get("transformer.wpe.weight", &[cfg.block_size, c])?, c),
            blocks,
            ln_f: layer_norm(&p, "transformer.ln_f", cfg)?,
            lm_head,
            cfg: cfg.clone(),
        })
    }

    /// Logits `[B, T, V]` for tokens `[B, T]` (u32).
    pub(crate) fn forward(&self, tokens: &Tensor) -> Result<Tensor> {
        Ok(self.lm_head.forward(&self.hidden(tokens)?)?)
    }

    /// The final hidden states `[B, T, C]` (after `ln_f`, before the head).
    pub(crate) fn hidden(&self, tokens: &Tensor) -> Result<Tensor> {
        let (_, t) = tokens.dims2()?;
        if t > self.cfg.block_size {
            return Err(Error::Input(format!(
                "{t} positions exceed block_size {}",
                self.cfg.block_size
            )));
        }
        let device = tokens.device();
        let positions = Tensor::arange(0u32, t as u32, device)?;
        let mut x = self
            .wte
            .forward(tokens)?
            .broadcast_add(&self.wpe.forward(&positions)?)?;
        let mask = causal_mask(t, device)?;
        for block in &self.blocks {
            x = block.forward(&x, &mask)?;
        }
        Ok(self.ln_f.forward(&x)?)
    }
}

fn causal_mask(t: usize, device: &Device) -> Result<Tensor> {
    let mask: Vec<f32> = (0..t)
        .flat_map(|i| (0..t).map(move |j| if j > i { f32::NEG_INFINITY } else { 0.0 }))
        .collect();
    Ok(Tensor::from_vec(mask, (t, t), device)?)
}
