//! The one error type of the local network.

use std::path::PathBuf;

use thiserror::Error;
use vram_host::chain::aborts::MoveAbort;

/// What the local network can refuse or fail at.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum Error {
    /// The ledger's SQLite file failed.
    #[error("ledger database ({context}): {source}")]
    Database {
        /// What the ledger was doing.
        context: &'static str,
        /// SQLite's error.
        source: rusqlite::Error,
    },
    /// The ledger holds bytes that do not decode: a damaged or foreign file.
    #[error("ledger holds a bad {what}: {reason}")]
    Corrupt {
        /// The record.
        what: &'static str,
        /// Why it does not decode.
        reason: String,
    },
    /// The ledger file has not been published (`Ledger::genesis`).
    #[error("the ledger has no genesis: publish it first (the demo does)")]
    NoGenesis,
    /// A value could not be BCS-encoded.
    #[error("BCS encoding of {what}: {reason}")]
    Encoding {
        /// What was encoded.
        what: &'static str,
        /// The encoder's message.
        reason: String,
    },
    /// A file or folder of the local network failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The local blob store could not start or serve.
    #[error("blob store: {reason}")]
    BlobStore {
        /// What happened.
        reason: String,
    },
    /// A demo setting or input is unusable.
    #[error("demo: {reason}")]
    Demo {
        /// What is wrong.
        reason: String,
    },
    /// The host library (window loop, Walrus client, enclave, journal)
    /// failed, or the embedded ledger refused a call with the abort its Move
    /// twin raises (`vram_host::Error::Abort`, `docs/contracts.md`).
    #[error(transparent)]
    Host(#[from] vram_host::Error),
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| Self::Io { path, source }
    }
}

impl MoveAbort for Error {
    fn move_abort(&self) -> Option<(&str, u64)> {
        match self {
            Self::Host(e) => e.move_abort(),
            _ => None,
        }
    }
}

/// The `Chain` trait speaks the host's errors: an abort stays an abort, a
/// host error stays itself, anything else is a chain failure.
impl From<Error> for vram_host::Error {
    fn from(e: Error) -> Self {
        match e {
            Error::Host(e) => e,
            other => vram_host::Error::Chain {
                reason: format!("local ledger: {other}"),
            },
        }
    }
}
