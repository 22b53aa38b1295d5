//! The model: decoder-only GPT (nanoGPT / GPT-2 layout) and Llama
//! (`LlamaForCausalLM`) checkpoints, loaded from safetensors plus
//! `config.json`, and their loss on token pages.

mod config;
pub mod engine;
mod init;
mod llama;
mod weights;

pub use config::{GptConfig, ModelConfig};
pub use engine::{set_simd_level, simd_level_name, SimdLevel, EVALUATOR_VERSION};
pub use init::{init_weights, SplitMix64};
pub use llama::LlamaConfig;
pub use weights::{
    checkpoint_files_hash, checkpoint_hash, combine_checkpoint_hashes, read_weights, save_weights,
    Checkpoint, NamedValues, Tensors,
};
