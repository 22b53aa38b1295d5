//! The enclave: checkpoint loading, gradient decoding, loss-delta scoring
//! and signing, served over one framed protocol.
//!
//! **Trust level: trusted and measured.** Everything linked here changes the
//! PCRs and is attack surface, so dependencies are kept minimal: kernels of
//! its own for the model (SIMD through `pulp`, threads through `rayon`),
//! safetensors for containers, nothing networked. The library does no I/O
//! beyond what it is handed.
//!
//! - [`codec`]: the `vram-gradient/1` gradient format.
//! - [`dataset`]: token pages and the manifest.
//! - [`model`]: GPT and Llama checkpoints and the forward pass.
//! - [`eval`]: the loss-delta evaluator.
//! - [`protocol`]: frames and messages between host and enclave.
//! - [`service`]: the state machine that checks every input, and the server.

pub mod codec;
pub mod dataset;
mod error;
pub mod eval;
pub mod model;
pub mod protocol;
pub mod service;

pub use error::{Error, Result};
