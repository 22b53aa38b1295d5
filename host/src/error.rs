//! The one error type of the host library.

use thiserror::Error;

/// What the host library can refuse.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum Error {
    /// A rating update was asked with inputs it cannot rate.
    #[error("ratings: {reason}")]
    Ratings {
        /// What is wrong.
        reason: String,
    },
    /// A configuration value is unusable.
    #[error("config: {reason}")]
    Config {
        /// What is wrong.
        reason: String,
    },
    /// The journal database failed or refused a transition.
    #[error("journal: {reason}")]
    Journal {
        /// What happened.
        reason: String,
    },
    /// Walrus could not deliver or store a blob.
    #[error("walrus: {reason}")]
    Walrus {
        /// What happened, per aggregator.
        reason: String,
    },
    /// The enclave could not be reached or answered nonsense.
    #[error("enclave: {reason}")]
    Enclave {
        /// What happened.
        reason: String,
    },
    /// The embedded ledger refused a call, with the abort the Move contract
    /// would raise for it (`docs/contracts.md`).
    #[error("ledger abort {module}::{name} ({code}): {detail}")]
    Abort {
        /// The Move module.
        module: &'static str,
        /// The abort constant's name.
        name: &'static str,
        /// Its code.
        code: u64,
        /// What was checked.
        detail: String,
    },
    /// The chain (RPC, execution) failed in a way that is not a Move abort.
    #[error("chain: {reason}")]
    Chain {
        /// What happened, per endpoint.
        reason: String,
    },
    /// The local blob store failed.
    #[error("blob store: {reason}")]
    BlobStore {
        /// What happened.
        reason: String,
    },
    /// The enclave refused a request.
    #[error("enclave refused ({code:?}): {message}")]
    Refused {
        /// The refusal's code.
        code: vram_enclave::protocol::ErrorCode,
        /// Its message.
        message: String,
    },
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
