//! The one error type of the host library.

use std::path::PathBuf;

use thiserror::Error;

/// What the host library can refuse.
#[derive(Debug, Error)]
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
    /// A file or folder could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A checkpoint is missing, does not match its identity, or does not load.
    #[error("checkpoint: {reason}")]
    Checkpoint {
        /// What is wrong.
        reason: String,
    },
    /// The dataset is missing, inconsistent, or not the network's.
    #[error("dataset: {reason}")]
    Dataset {
        /// What is wrong.
        reason: String,
    },
    /// A checkpoint or dataset the chain names by reference could not be
    /// fetched, or its index does not match what the chain holds.
    #[error("inputs: {reason}")]
    Inputs {
        /// What is wrong.
        reason: String,
    },
    /// The metrics endpoint could not be served.
    #[error("metrics endpoint: {reason}")]
    Metrics {
        /// What failed.
        reason: String,
    },
    /// The chain's schedule has no values for the window.
    #[error("window {window} precedes the chain's Hparams schedule")]
    NoSchedule {
        /// The window asked for.
        window: u64,
    },
    /// A statement larger than one `submit_scores` call can carry.
    #[error("statement too large: {count} {what}; submit_scores takes at most {max}")]
    StatementTooLarge {
        /// What is counted (entries, hashed entries).
        what: &'static str,
        /// How many the statement has.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// A value could not be encoded (BCS, JSON).
    #[error("encoding {what}: {reason}")]
    Encoding {
        /// What was encoded.
        what: &'static str,
        /// The encoder's message.
        reason: String,
    },
    /// A wallet key, mnemonic or keystore is unusable.
    #[error("wallet: {reason}")]
    Wallet {
        /// What is wrong.
        reason: String,
    },
    /// A Sui transaction could not be built.
    #[error("transaction: {reason}")]
    Transaction {
        /// What is wrong.
        reason: String,
    },
    /// An audit bundle is incomplete or inconsistent.
    #[error("bundle: {reason}")]
    Bundle {
        /// What is wrong.
        reason: String,
    },
    /// The bundle's statements were signed by another evaluator, whose
    /// losses this replay cannot reproduce bit for bit.
    #[error("bundle signed by evaluator {bundle:?}; this replay runs {replay:?}: use the vram-validator release that matches the enclave image")]
    EvaluatorMismatch {
        /// The evaluator the bundle names.
        bundle: String,
        /// This build's evaluator.
        replay: String,
    },
    /// A crash injected by a test (`Validator::crash_after`).
    #[error("injected crash after {step}")]
    InjectedCrash {
        /// The step after which it crashed.
        step: String,
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
    /// This validator cannot score the window any more (its enclave key was
    /// not registered before the upload deadline, or time ran out): the
    /// window is given up, not retried.
    #[error("window {window} cannot be scored: {reason}")]
    WindowLost {
        /// The window.
        window: u64,
        /// Why.
        reason: String,
    },
    /// The enclave's clock passed the window's last moment to sign before
    /// the budget was scored: it signs nothing for the window, which is
    /// given up, not retried.
    #[error("window {window}: out of time: {message}")]
    OutOfTime {
        /// The window.
        window: u64,
        /// The enclave's refusal.
        message: String,
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

impl Error {
    /// Maps an I/O error on `path`.
    pub fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| Self::Io { path, source }
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
