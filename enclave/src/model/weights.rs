//! A loaded checkpoint: the immutable base weights, and the working copy
//! (in kernel layout) that the forward pass reads and the evaluator
//! overwrites in place, one parameter at a time, so that scoring a miner
//! never allocates a second model.

use std::collections::BTreeMap;
use std::sync::RwLock;

use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use vram_attestation::sha256;

use super::config::ModelConfig;
use super::engine::Net;
use crate::codec::{to_f32, ModelShapes};
use crate::error::{Error, Result};

/// Named tensors: shape and flat f32 values, in name order.
pub type Tensors = BTreeMap<String, (Vec<usize>, Vec<f32>)>;

/// `sha256(sha256(model.safetensors) || sha256(config.json))`: the identity
/// anchored on chain of a checkpoint with one weights file. Hashing the
/// parts separately lets them be streamed and cached independently.
pub fn checkpoint_hash(weights: &[u8], config_json: &[u8]) -> [u8; 32] {
    checkpoint_files_hash(&[weights], config_json)
}

/// The identity of a checkpoint whose weights are these files, in order
/// (see [`combine_checkpoint_hashes`]).
pub fn checkpoint_files_hash(weights: &[&[u8]], config_json: &[u8]) -> [u8; 32] {
    let hashes: Vec<[u8; 32]> = weights.iter().map(|w| sha256(w)).collect();
    combine_checkpoint_hashes(&hashes, &sha256(config_json))
}

/// `sha256(sha256(file_1) || ... || sha256(file_n) || sha256(config.json))`
/// (design §4.2): the identity of a checkpoint whose weights are `n` files
/// in the order of `model.safetensors.index.json`, from the parts' SHA-256,
/// for callers that hashed them while streaming.
pub fn combine_checkpoint_hashes(weights: &[[u8; 32]], config_json: &[u8; 32]) -> [u8; 32] {
    let mut all = Vec::with_capacity(32 * (weights.len() + 1));
    for h in weights {
        all.extend_from_slice(h);
    }
    all.extend_from_slice(config_json);
    sha256(&all)
}

/// Parameter names with flat f32 values, in name order.
pub type NamedValues = Vec<(String, Vec<f32>)>;

fn container(e: impl std::fmt::Display) -> Error {
    Error::BadCheckpoint {
        reason: e.to_string(),
    }
}

/// Serialises named tensors as f32 safetensors bytes.
pub fn save_weights(tensors: &Tensors) -> Result<Vec<u8>> {
    let bytes: Vec<(&String, &Vec<usize>, Vec<u8>)> = tensors
        .iter()
        .map(|(name, (shape, values))| {
            (
                name,
                shape,
                values.iter().flat_map(|v| v.to_le_bytes()).collect(),
            )
        })
        .collect();
    let views = bytes
        .iter()
        .map(|(name, shape, data)| {
            TensorView::new(Dtype::F32, shape.to_vec(), data).map(|v| (name.to_string(), v))
        })
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(container)?;
    safetensors::serialize(views, None).map_err(container)
}

/// Reads safetensors bytes into f32 tensors (F32, F16 and BF16 accepted).
pub fn read_weights(bytes: &[u8]) -> Result<Tensors> {
    let st = SafeTensors::deserialize(bytes).map_err(container)?;
    st.tensors()
        .into_iter()
        .map(|(name, view)| {
            let values = to_f32(&view).ok_or_else(|| Error::BadCheckpoint {
                reason: format!("{name} has dtype {:?} (F32, F16 or BF16)", view.dtype()),
            })?;
            Ok((name, (view.shape().to_vec(), values)))
        })
        .collect()
}

/// A checkpoint ready to evaluate.
pub struct Checkpoint {
    config: ModelConfig,
    hash: [u8; 32],
    params: Tensors,
    shapes: ModelShapes,
    net: RwLock<Net>,
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
        Self::load_files(&[weights], config_json)
    }

    /// Loads a checkpoint whose weights are split over several safetensors
    /// files (the shards of `model.safetensors.index.json`, in its order).
    /// Every tensor must sit in exactly one file.
    pub fn load_files(weights: &[&[u8]], config_json: &[u8]) -> Result<Self> {
        let config = ModelConfig::from_json(config_json)?;
        if weights.is_empty() {
            return Err(Error::BadCheckpoint {
                reason: "no weights files".into(),
            });
        }
        let mut tensors = Tensors::new();
        for (i, file) in weights.iter().enumerate() {
            for (name, tensor) in read_weights(file)? {
                if tensors.insert(name.clone(), tensor).is_some() {
                    return Err(Error::BadCheckpoint {
                        reason: format!("{name} appears again in weights file {}", i + 1),
                    });
                }
            }
        }
        Self::from_tensors(config, tensors, checkpoint_files_hash(weights, config_json))
    }

    /// Builds a checkpoint from named tensors whose identity is `hash`.
    /// Every parameter of `config` must be present with its shape, and
    /// nothing else.
    pub fn from_tensors(config: ModelConfig, mut tensors: Tensors, hash: [u8; 32]) -> Result<Self> {
        config.validate()?;
        let expected = config.parameter_shapes();
        let mut params = Tensors::new();
        let mut net = Net::zeros(&config);
        for (name, shape) in &expected {
            let (got, values) = tensors.remove(name).ok_or_else(|| Error::BadCheckpoint {
                reason: format!("missing parameter {name}"),
            })?;
            if &got != shape || values.len() != shape.iter().product::<usize>() {
                return Err(Error::BadCheckpoint {
                    reason: format!("{name} has shape {got:?}, expected {shape:?}"),
                });
            }
            net.set(name, &values)?;
            params.insert(name.clone(), (got, values));
        }
        if let Some(extra) = tensors.keys().next() {
            return Err(Error::BadCheckpoint {
                reason: format!("unexpected tensor {extra}"),
            });
        }
        let shapes = ModelShapes::new(expected)?;
        Ok(Self {
            config,
            hash,
            params,
            shapes,
            net: RwLock::new(net),
        })
    }

    /// The model configuration.
    pub fn config(&self) -> &ModelConfig {
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

    /// The base (checkpoint) values of a parameter.
    pub fn base(&self, name: &str) -> Option<&[f32]> {
        self.params.get(name).map(|(_, v)| v.as_slice())
    }

    /// The base weights, e.g. to save or to train from.
    pub fn base_tensors(&self) -> &Tensors {
        &self.params
    }

    /// Overwrites the working copy of `name` with `values`.
    pub fn set_working(&self, name: &str, values: &[f32]) -> Result<()> {
        let mut net = self.net.write().map_err(|_| Error::WeightsPoisoned)?;
        net.set(name, values)
    }

    /// Restores every working copy to the base weights.
    pub fn restore_base(&self) -> Result<()> {
        let mut net = self.net.write().map_err(|_| Error::WeightsPoisoned)?;
        for (name, (_, values)) in &self.params {
            net.set(name, values)?;
        }
        Ok(())
    }

    /// Logits `[tokens.len(), vocab]` of the working weights for one
    /// sequence, row-major.
    pub fn logits(&self, tokens: &[u32]) -> Result<Vec<f32>> {
        let net = self.net.read().map_err(|_| Error::WeightsPoisoned)?;
        net.logits(tokens)
    }

    /// Sum of token cross-entropies of the working weights over `pages`
    /// (one length; see the evaluator for the checks), and the token count.
    pub fn loss_sum(&self, pages: &[&[u32]]) -> Result<(f64, usize)> {
        let sums = self.page_sums(pages)?;
        let per_page = pages.first().map_or(0, |p| p.len().saturating_sub(1));
        Ok((sums.iter().fold(0f64, |s, &x| s + x), per_page * sums.len()))
    }

    /// Each page's sum of token cross-entropies (see [`Checkpoint::loss_sum`]).
    /// Adding them in page order gives the same bits however the pages were
    /// batched.
    pub fn page_sums(&self, pages: &[&[u32]]) -> Result<Vec<f64>> {
        let net = self.net.read().map_err(|_| Error::WeightsPoisoned)?;
        net.page_sums(pages)
    }
}
