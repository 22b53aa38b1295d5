//! The one error type of the enclave crate.

use thiserror::Error;

/// Everything the codec, the model and the evaluator can refuse.
///
/// Codec variants are what a miner's blob earns instead of a score: they
/// carry the parameter and the offending value so that the miner can fix
/// the encoder.
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum Error {
    // === Gradient blobs ===
    /// The blob is larger than the budget for this model.
    #[error("blob of {len} bytes exceeds the budget of {budget} bytes for this model")]
    BlobTooLarge {
        /// Bytes received.
        len: usize,
        /// Bytes allowed.
        budget: usize,
    },
    /// The safetensors container is malformed.
    #[error("blob is not valid safetensors: {reason}")]
    BadContainer {
        /// What the parser reported.
        reason: String,
    },
    /// A metadata key is missing or has the wrong value.
    #[error("blob metadata {key}: {reason}")]
    BadMetadata {
        /// The key.
        key: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The blob lacks a tensor the checkpoint requires.
    #[error("blob lacks tensor {name}")]
    MissingTensor {
        /// Tensor name.
        name: String,
    },
    /// The blob has a tensor that no checkpoint parameter explains.
    #[error("blob has unexpected tensor {name}")]
    UnexpectedTensor {
        /// Tensor name.
        name: String,
    },
    /// A tensor's dtype is not allowed there.
    #[error("tensor {name} has dtype {dtype}, expected {expected}")]
    WrongDtype {
        /// Tensor name.
        name: String,
        /// Dtype found.
        dtype: String,
        /// Dtypes allowed.
        expected: &'static str,
    },
    /// A tensor's shape differs from the one the checkpoint implies.
    #[error("tensor {name} has shape {found:?}, expected {expected:?}")]
    WrongShape {
        /// Tensor name.
        name: String,
        /// Shape found.
        found: Vec<usize>,
        /// Shape required.
        expected: Vec<usize>,
    },
    /// A packed index points outside its chunk.
    #[error("{name}: chunk {chunk} has index {index}, chunk size is {totalk}")]
    IndexOutOfRange {
        /// Parameter name.
        name: String,
        /// Chunk number.
        chunk: usize,
        /// The index.
        index: u16,
        /// Elements per chunk.
        totalk: usize,
    },
    /// The same index appears twice in one chunk.
    #[error("{name}: chunk {chunk} repeats index {index}")]
    DuplicateIndex {
        /// Parameter name.
        name: String,
        /// Chunk number.
        chunk: usize,
        /// The index.
        index: u16,
    },
    /// A value is NaN or infinite.
    #[error("{name}: non-finite value at position {position}")]
    NonFinite {
        /// Tensor name.
        name: String,
        /// Flat position.
        position: usize,
    },
    /// The odd-count padding index is not zero.
    #[error("{name}: padding index is {value}, must be 0")]
    BadPadding {
        /// Parameter name.
        name: String,
        /// The padding value.
        value: u16,
    },

    // === Shapes and configuration ===
    /// A parameter shape the codec does not handle.
    #[error("parameter {name} has unsupported shape {shape:?} (1-D or 2-D, non-empty)")]
    UnsupportedShape {
        /// Parameter name.
        name: String,
        /// Its shape.
        shape: Vec<usize>,
    },
    /// A gradient given to the encoder does not match its parameter.
    #[error("gradient for {name}: {reason}")]
    BadGradient {
        /// Parameter name.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// The model configuration is invalid.
    #[error("model config: {reason}")]
    BadConfig {
        /// What is wrong.
        reason: String,
    },
    /// The checkpoint does not match the configuration.
    #[error("checkpoint: {reason}")]
    BadCheckpoint {
        /// What is wrong.
        reason: String,
    },
    /// A page of tokens is unusable.
    #[error("page {index}: {reason}")]
    BadPage {
        /// Page position in the request.
        index: usize,
        /// What is wrong.
        reason: String,
    },
    /// The evaluation parameters are invalid.
    #[error("evaluation parameters: {reason}")]
    BadEvalParams {
        /// What is wrong.
        reason: String,
    },
    /// A measured loss is NaN, infinite, negative or too large for the
    /// statement's u64 (times 1e9).
    #[error("loss {loss} cannot be reported (not finite, negative or too large)")]
    BadLoss {
        /// The loss in nats.
        loss: f64,
    },
    /// A panic while the working weights were being written left them
    /// unusable; the checkpoint must be loaded again.
    #[error("the working weights were left half-written by a panic")]
    WeightsPoisoned,
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
