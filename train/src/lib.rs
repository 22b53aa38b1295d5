//! Miner-side training: candle autograd twins of the evaluator's models
//! (GPT and Llama), for the demo miners, the `gradient` command and tests.
//!
//! **Trust level: untrusted, never in the enclave.** The enclave scores
//! with its own kernels (`vram_enclave::model::engine`); these models are
//! the straightforward tensor-by-tensor formulation, which also serves as
//! the reference the engine's losses are checked against.

mod error;
mod gpt;
mod llama;

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor, Var};
use vram_enclave::model::{Checkpoint, ModelConfig, NamedValues, Tensors};

pub use error::{Error, Result};

/// A model built over named tensors.
enum Model {
    Gpt(gpt::Gpt),
    Llama(llama::Llama),
}

impl Model {
    fn load(tensors: &HashMap<String, Tensor>, cfg: &ModelConfig) -> Result<Self> {
        Ok(match cfg {
            ModelConfig::Gpt(c) => Self::Gpt(gpt::Gpt::load(tensors, c)?),
            ModelConfig::Llama(c) => Self::Llama(llama::Llama::load(tensors, c)?),
        })
    }

    /// Logits `[B, T, V]` for tokens `[B, T]`.
    fn forward(&self, tokens: &Tensor) -> Result<Tensor> {
        match self {
            Self::Gpt(m) => m.forward(tokens),
            Self::Llama(m) => m.forward(tokens),
        }
    }

    /// Sum of token cross-entropies over pages `[B, L]` and the count.
    fn cross_entropy_tensor(&self, pages: &Tensor) -> Result<(Tensor, usize)> {
        let (b, l) = pages.dims2()?;
        if l < 2 {
            return Err(Error::Input("a page needs at least two tokens".into()));
        }
        let inputs = pages.narrow(1, 0, l - 1)?;
        let targets = pages.narrow(1, 1, l - 1)?;
        let logits = self.forward(&inputs)?;
        let v = logits.dim(candle_core::D::Minus1)?;
        let logits = logits.reshape((b * (l - 1), v))?;
        let log_probs = candle_nn::ops::log_softmax(&logits, candle_core::D::Minus1)?;
        let target = targets.flatten_all()?.unsqueeze(1)?;
        let total = log_probs.gather(&target, 1)?.sum_all()?;
        Ok((total.neg()?, b * (l - 1)))
    }
}

fn tensors(base: &Tensors, device: &Device) -> Result<HashMap<String, Tensor>> {
    base.iter()
        .map(|(name, (shape, values))| {
            Ok((
                name.clone(),
                Tensor::from_vec(values.clone(), shape.as_slice(), device)?,
            ))
        })
        .collect()
}

fn page_tensor(pages: &[&[u32]]) -> Result<Tensor> {
    let len = pages.first().map_or(0, |p| p.len());
    if pages.iter().any(|p| p.len() != len) {
        return Err(Error::Input("pages of different lengths".into()));
    }
    let flat: Vec<u32> = pages.iter().flat_map(|p| p.iter().copied()).collect();
    Ok(Tensor::from_vec(flat, (pages.len(), len), &Device::Cpu)?)
}

/// Mean token cross-entropy over `pages` and its gradient with respect to
/// the checkpoint's base weights: what a miner computes.
pub fn loss_gradients(ckpt: &Checkpoint, pages: &[&[u32]]) -> Result<(f64, NamedValues)> {
    let vars: HashMap<String, Var> = tensors(ckpt.base_tensors(), &Device::Cpu)?
        .into_iter()
        .map(|(name, t)| Ok((name, Var::from_tensor(&t)?)))
        .collect::<Result<_>>()?;
    let tracked: HashMap<String, Tensor> = vars
        .iter()
        .map(|(name, v)| (name.clone(), v.as_tensor().clone()))
        .collect();
    let model = Model::load(&tracked, ckpt.config())?;
    let (sum, count) = model.cross_entropy_tensor(&page_tensor(pages)?)?;
    let mean = (sum / count as f64)?;
    let grads = mean.backward()?;
    let loss = mean.to_scalar::<f32>()?;
    let out = ckpt
        .base_tensors()
        .iter()
        .map(|(name, (_, base))| {
            let g = match vars.get(name).and_then(|v| grads.get(v.as_tensor())) {
                Some(g) => g.flatten_all()?.to_vec1::<f32>()?,
                None => vec![0.0; base.len()],
            };
            Ok((name.clone(), g))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok((f64::from(loss), out))
}

/// Mean token cross-entropy of the base weights over `pages`, computed
/// tensor by tensor in candle: the reference the enclave's engine is
/// checked against.
pub fn reference_loss(ckpt: &Checkpoint, pages: &[&[u32]]) -> Result<f64> {
    let model = Model::load(&tensors(ckpt.base_tensors(), &Device::Cpu)?, ckpt.config())?;
    let (sum, count) = model.cross_entropy_tensor(&page_tensor(pages)?)?;
    Ok(sum.to_dtype(DType::F64)?.to_scalar::<f64>()? / count as f64)
}
