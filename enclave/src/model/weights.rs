//! A loaded checkpoint: the immutable base weights, and working copies that
//! the model reads and the evaluator overwrites in place, one parameter at a
//! time, so that scoring a miner never allocates a second model.

use std::collections::{BTreeMap, HashMap};

use candle_core::{DType, Device, Tensor, Var};
use vram_attestation::sha256;

use super::config::GptConfig;
use super::gpt::Gpt;
use crate::codec::ModelShapes;
use crate::error::{Error, Result};

/// `sha256(sha256(weights.safetensors) || sha256(config.json))`: the
/// checkpoint identity anchored on chain. Hashing the parts separately lets
/// them be streamed and cached independently.
pub fn checkpoint_hash(weights: &[u8], config_json: &[u8]) -> [u8; 32] {
    combine_checkpoint_hashes(&sha256(weights), &sha256(config_json))
}

/// The checkpoint identity from the two parts' SHA-256, for callers that
/// hashed them while streaming.
pub fn combine_checkpoint_hashes(weights: &[u8; 32], config_json: &[u8; 32]) -> [u8; 32] {
    let mut both = [0u8; 64];
    both[..32].copy_from_slice(weights);
    both[32..].copy_from_slice(config_json);
    sha256(&both)
}

/// Parameter names with flat f32 values, in name order.
pub type NamedValues = Vec<(String, Vec<f32>)>;

/// Serialises named tensors (converted to f32) as safetensors bytes.
pub fn save_weights(tensors: &HashMap<String, Tensor>) -> Result<Vec<u8>> {
    let mut data: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::with_capacity(tensors.len());
    for (name, t) in tensors {
        let values = t.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?;
        data.push((
            name.clone(),
            t.dims().to_vec(),
            values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        ));
    }
    let views = data
        .iter()
        .map(|(name, shape, bytes)| {
            safetensors::tensor::TensorView::new(
                safetensors::tensor::Dtype::F32,
                shape.clone(),
                bytes,
            )
            .map(|v| (name.clone(), v))
        })
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| Error::BadCheckpoint {
            reason: e.to_string(),
        })?;
    safetensors::serialize(views, None).map_err(|e| Error::BadCheckpoint {
        reason: e.to_string(),
    })
}

struct Param {
    base: Vec<f32>,
    working: Var,
    shape: Vec<usize>,
}

/// A checkpoint ready to evaluate.
pub struct Checkpoint {
    config: GptConfig,
    hash: [u8; 32],
    params: BTreeMap<String, Param>,
    shapes: ModelShapes,
    model: Gpt,
}

impl std::fmt::Debug for Checkpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Checkpoint")
            .field("config", &self.config)
            .field("params", &self.params.len())
            .finish_non_exhaustive()
    }
}

impl Checkpoint {
    /// Loads safetensors weights and `config.json` bytes.
    pub fn load(weights: &[u8], config_json: &[u8]) -> Result<Self> {
        let config = GptConfig::from_json(config_json)?;
        let tensors =
            candle_core::safetensors::load_buffer(weights, &Device::Cpu).map_err(|e| {
                Error::BadCheckpoint {
                    reason: e.to_string(),
                }
            })?;
        Self::from_tensors(config, tensors, checkpoint_hash(weights, config_json))
    }

    /// Builds a checkpoint from named tensors (any float dtype) whose
    /// identity is `hash`. Every parameter of `config` must be present with
    /// its shape, and nothing else.
    pub fn from_tensors(
        config: GptConfig,
        mut tensors: HashMap<String, Tensor>,
        hash: [u8; 32],
    ) -> Result<Self> {
        config.validate()?;
        let expected = config.parameter_shapes();
        let mut params = BTreeMap::new();
        let mut working = HashMap::new();
        for (name, shape) in &expected {
            let t = tensors.remove(name).ok_or_else(|| Error::BadCheckpoint {
                reason: format!("missing parameter {name}"),
            })?;
            if t.dims() != shape.as_slice() {
                return Err(Error::BadCheckpoint {
                    reason: format!("{name} has shape {:?}, expected {shape:?}", t.dims()),
                });
            }
            if !t.dtype().is_float() {
                return Err(Error::BadCheckpoint {
                    reason: format!("{name} has dtype {:?}", t.dtype()),
                });
            }
            let base = t.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?;
            let var = Var::from_tensor(&Tensor::from_vec(
                base.clone(),
                shape.as_slice(),
                &Device::Cpu,
            )?)?;
            // The evaluation model reads detached views of the variables:
            // same storage (so in-place updates show), no autograd graph (so
            // a forward pass keeps no activations alive).
            working.insert(name.clone(), var.as_tensor().detach());
            params.insert(
                name.clone(),
                Param {
                    base,
                    working: var,
                    shape: shape.clone(),
                },
            );
        }
        if let Some(extra) = tensors.keys().next() {
            return Err(Error::BadCheckpoint {
                reason: format!("unexpected tensor {extra}"),
            });
        }
        let model = Gpt::load(&working, &config)?;
        let shapes = ModelShapes::new(expected)?;
        Ok(Self {
            config,
            hash,
            params,
            shapes,
            model,
        })
    }

    /// The model configuration.
    pub fn config(&self) -> &GptConfig {
        &self.config
    }

    /// The checkpoint identity.
    pub fn hash(&self) -> [u8; 32] {
        self.hash
    }

    /// The parameters' layouts, for the codec.
    pub fn shapes(&self) -> &ModelShapes {
        &self.shapes
    }

    /// The model, reading the working weights.
    pub fn model(&self) -> &Gpt {
        &self.model
    }

    /// The base (checkpoint) values of a parameter.
    pub fn base(&self, name: &str) -> Option<&[f32]> {
        self.params.get(name).map(|p| p.base.as_slice())
    }

    /// Overwrites the working copy of `name` with `values`.
    pub fn set_working(&self, name: &str, values: Vec<f32>) -> Result<()> {
        let p = self.params.get(name).ok_or_else(|| Error::BadCheckpoint {
            reason: format!("no parameter {name}"),
        })?;
        let t = Tensor::from_vec(values, p.shape.as_slice(), &Device::Cpu)?;
        p.working.set(&t)?;
        Ok(())
    }

    /// Restores every working copy to the base weights.
    pub fn restore_base(&self) -> Result<()> {
        for (name, p) in &self.params {
            self.set_working(name, p.base.clone())?;
        }
        Ok(())
    }

    /// Gradient of the mean token cross-entropy over `pages` with respect to
    /// the working weights: what a miner computes (the enclave never does).
    pub fn loss_gradients(&self, pages: &[&[u32]]) -> Result<(f64, NamedValues)> {
        let len = pages.first().map_or(0, |p| p.len());
        let flat: Vec<u32> = pages.iter().flat_map(|p| p.iter().copied()).collect();
        let tokens = Tensor::from_vec(flat, (pages.len(), len), &Device::Cpu)?;
        let tracked: HashMap<String, Tensor> = self
            .params
            .iter()
            .map(|(name, p)| (name.clone(), p.working.as_tensor().clone()))
            .collect();
        let model = Gpt::load(&tracked, &self.config)?;
        let (sum, count) = model.cross_entropy_tensor(&tokens)?;
        let mean = (sum / count as f64)?;
        let grads = mean.backward()?;
        let loss = mean.to_scalar::<f32>()?;
        let out = self
            .params
            .iter()
            .map(|(name, p)| {
                let g = match grads.get(p.working.as_tensor()) {
                    Some(g) => g.flatten_all()?.to_vec1::<f32>()?,
                    None => vec![0.0; p.base.len()],
                };
                Ok((name.clone(), g))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok((f64::from(loss), out))
    }

    /// The base weights as tensors, e.g. to save or to train from.
    pub fn base_tensors(&self) -> Result<HashMap<String, Tensor>> {
        self.params
            .iter()
            .map(|(name, p)| {
                Ok((
                    name.clone(),
                    Tensor::from_vec(p.base.clone(), p.shape.as_slice(), &Device::Cpu)?,
                ))
            })
            .collect()
    }
}
