//! The crate's error type.

/// What can go wrong while training.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The tensor library failed.
    #[error("tensor computation failed: {0}")]
    Tensor(String),
    /// The checkpoint or configuration is unusable.
    #[error(transparent)]
    Model(#[from] vram_enclave::Error),
    /// The pages are unusable.
    #[error("pages: {0}")]
    Input(String),
}

impl From<candle_core::Error> for Error {
    fn from(e: candle_core::Error) -> Self {
        Self::Tensor(e.to_string())
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
