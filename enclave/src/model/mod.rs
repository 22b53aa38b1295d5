//! The model: a decoder-only GPT in candle (nanoGPT / GPT-2 layout),
//! loaded from safetensors plus `config.json`, and its loss on token pages.

mod config;
mod gpt;
mod init;
mod weights;

pub use config::GptConfig;
pub use gpt::Gpt;
pub use init::{init_weights, SplitMix64};
pub use weights::{
    checkpoint_hash, combine_checkpoint_hashes, save_weights, Checkpoint, NamedValues,
};
