//! The tiny world the tests build on: the `tiny` GPT checkpoint from a seed,
//! pages of a learnable synthetic language, and an honest miner's blob.

use vram_enclave::codec::{encode_blob, BlobMetadata};
use vram_enclave::model::{
    checkpoint_hash, init_weights, read_weights, save_weights, Checkpoint, GptConfig, ModelConfig,
    SplitMix64, Tensors,
};

/// The `tiny` model's checkpoint, as files and as its identity.
#[derive(Debug, Clone)]
pub struct TinyCheckpoint {
    /// The model's configuration.
    pub config: GptConfig,
    /// `model.safetensors`.
    pub weights: Vec<u8>,
    /// `config.json`.
    pub config_json: Vec<u8>,
    /// Its identity (`checkpoint_hash`).
    pub hash: [u8; 32],
}

impl TinyCheckpoint {
    /// Weights initialised from `seed`.
    pub fn new(seed: u64) -> Result<Self, vram_enclave::Error> {
        let config = GptConfig::tiny();
        let weights = save_weights(&init_weights(&ModelConfig::Gpt(config.clone()), seed))?;
        let config_json =
            serde_json::to_vec(&config).map_err(|e| vram_enclave::Error::BadConfig {
                reason: format!("config.json: {e}"),
            })?;
        let hash = checkpoint_hash(&weights, &config_json);
        Ok(Self {
            config,
            weights,
            config_json,
            hash,
        })
    }

    /// The checkpoint, loaded for evaluation.
    pub fn load(&self) -> Result<Checkpoint, vram_enclave::Error> {
        Checkpoint::load(&self.weights, &self.config_json)
    }

    /// The same tensors dealt over `n` safetensors files (see
    /// [`shard_weights`]).
    pub fn shards(&self, n: usize) -> Result<Vec<(String, Vec<u8>)>, vram_enclave::Error> {
        shard_weights(&self.weights, n)
    }

    /// The checkpoint of [`TinyCheckpoint::shards`], loaded for evaluation.
    pub fn load_shards(&self, n: usize) -> Result<Checkpoint, vram_enclave::Error> {
        let files = self.shards(n)?;
        let refs: Vec<&[u8]> = files.iter().map(|(_, b)| b.as_slice()).collect();
        Checkpoint::load_files(&refs, &self.config_json)
    }
}

/// The tensors of safetensors `weights` dealt over `n` files (tensor `i`
/// into file `i mod n`), named as transformers names shards
/// (`model-00001-of-0000n.safetensors`, ...), in identity order.
pub fn shard_weights(
    weights: &[u8],
    n: usize,
) -> Result<Vec<(String, Vec<u8>)>, vram_enclave::Error> {
    let mut parts = vec![Tensors::new(); n.max(1)];
    let count = parts.len();
    for (i, (name, t)) in read_weights(weights)?.into_iter().enumerate() {
        parts[i % count].insert(name, t);
    }
    parts
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let name = format!("model-{:05}-of-{count:05}.safetensors", i + 1);
            Ok((name, save_weights(p)?))
        })
        .collect()
}

/// `count` pages of `page_len` tokens of an affine sequence
/// `t' = (5 t + 3) mod 256` from a random start each: structure a model
/// learns in a few steps.
pub fn affine_pages(seed: u64, count: usize, page_len: usize) -> Vec<Vec<u32>> {
    let mut rng = SplitMix64::new(seed);
    (0..count)
        .map(|_| {
            let mut t = (rng.next_u64() % 256) as u32;
            (0..page_len)
                .map(|_| {
                    let out = t;
                    t = (t * 5 + 3) % 256;
                    out
                })
                .collect()
        })
        .collect()
}

/// An honest miner's blob: the loss gradient on `pages`, top-32 compressed
/// and quantised, for `meta`'s window, uid and base checkpoint.
pub fn honest_blob(
    ckpt: &Checkpoint,
    pages: &[&[u32]],
    meta: &BlobMetadata,
) -> Result<Vec<u8>, vram_enclave::Error> {
    let (_, grads) = vram_train::loss_gradients(ckpt, pages).map_err(|e| match e {
        vram_train::Error::Model(e) => e,
        other => vram_enclave::Error::BadGradient {
            name: String::new(),
            reason: other.to_string(),
        },
    })?;
    let grads = grads.iter().map(|(n, g)| (n.as_str(), g.as_slice()));
    encode_blob(ckpt.shapes(), grads, true, meta)
}
