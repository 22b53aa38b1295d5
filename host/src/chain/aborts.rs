//! The Move package's abort codes, by module: the names the Sui chain maps a
//! `MoveAbort` to, and what the embedded ledger (`vram-localnet`) raises.
//! Same names and numbers as the `const E…` of `contracts/sources/`
//! (`tests/move_constants.rs` reads them from there and compares).

use crate::error::Error;

/// One Move abort constant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Abort {
    /// The module that defines it.
    pub module: &'static str,
    /// The constant's name.
    pub name: &'static str,
    /// Its value.
    pub code: u64,
}

impl Abort {
    /// The error the ledger returns for this abort.
    pub fn err(self, detail: impl Into<String>) -> Error {
        Error::Abort {
            module: self.module,
            name: self.name,
            code: self.code,
            detail: detail.into(),
        }
    }

    /// Whether `e` is this abort.
    pub fn is(self, e: &impl MoveAbort) -> bool {
        e.move_abort() == Some((self.module, self.code))
    }
}

/// An error that may be a Move abort: the host's, and the local ledger's.
pub trait MoveAbort {
    /// The aborting module and code, if this error is an abort.
    fn move_abort(&self) -> Option<(&str, u64)>;
}

impl MoveAbort for Error {
    fn move_abort(&self) -> Option<(&str, u64)> {
        match self {
            Error::Abort { module, code, .. } => Some((module, *code)),
            _ => None,
        }
    }
}

macro_rules! aborts {
    ($module:literal: $($name:ident = $code:literal),* $(,)?) => {
        $(
            #[doc = concat!("`", $module, "::", stringify!($name), "`")]
            #[allow(non_upper_case_globals)]
            pub const $name: Abort = Abort { module: $module, name: stringify!($name), code: $code };
        )*
        /// Every abort of the module.
        pub const ALL: &[Abort] = &[$($name),*];
    };
}

/// The abort `code` of `module`, if the package defines it.
pub fn lookup(module: &str, code: u64) -> Option<Abort> {
    [
        hparams::ALL,
        round_state::ALL,
        validator_registry::ALL,
        peer_registry::ALL,
        gradient_registry::ALL,
        enclave_registry::ALL,
        score_ledger::ALL,
    ]
    .iter()
    .flat_map(|all| all.iter())
    .find(|a| a.module == module && a.code == code)
    .copied()
}

/// `vramhub::hparams`.
pub mod hparams {
    use super::Abort;
    aborts!("hparams": EInvalidValue = 0, EBadDatasetRoot = 1, EWindowBeforeSchedule = 2,
        EBadDatasetBlob = 3, EWindowsOverlap = 4);
}

/// `vramhub::round_state`.
pub mod round_state {
    use super::Abort;
    aborts!("round_state": EBadHash = 0, ENotAscending = 1, ENotCheckpointWindow = 2,
        ENoAnchor = 3, EAnchorNotFuture = 4, EBadBlobId = 5);
}

/// `vramhub::validator_registry`.
pub mod validator_registry {
    use super::Abort;
    aborts!("validator_registry": EAlreadyRegistered = 0, EInsufficientStake = 1, ENotValidator = 2,
        EBadBudget = 3);
}

/// `vramhub::peer_registry`.
pub mod peer_registry {
    use super::Abort;
    aborts!("peer_registry": EAlreadyRegistered = 0, EInsufficientStake = 1, EUnknownMiner = 2,
        ENotMiner = 3);
}

/// `vramhub::gradient_registry`.
pub mod gradient_registry {
    use super::Abort;
    aborts!("gradient_registry": ENotOwner = 0, EBadBlobId = 1, EBadHash = 2, EWrongWindow = 3,
        EUploadClosed = 4, EAlreadyCommitted = 5, EWindowFull = 6);
}

/// `vramhub::enclave_registry`.
pub mod enclave_registry {
    use super::Abort;
    aborts!("enclave_registry": ENotValidator = 0, EPcrsNotConfigured = 1, EPcrMissing = 2,
        EDebugModePcrs = 3, EPcrMismatch = 4, ENoPublicKey = 5, EBadPublicKey = 6,
        EDocumentTooOld = 7, EDocumentFromFuture = 8, EBadPcrLength = 9, ENoEnclave = 10,
        EStaleEnclave = 11, ETestModeClosed = 12, ENoKeyForWindow = 13, EBadDocumentRef = 14);
}

/// `vramhub::score_ledger`.
pub mod score_ledger {
    use super::Abort;
    aborts!("score_ledger": ELengthMismatch = 0, ETooManyEntries = 1, ENotValidator = 2,
        EWindowNotScoring = 3, EAlreadySubmitted = 4, ECheckpointMismatch = 5,
        EDatasetRootMismatch = 6, EBadSeed = 7, EEntriesNotSorted = 8, EBadStatus = 9,
        ENotInSeedOrder = 10, ENoCommitment = 11, ECommitmentNotScored = 14,
        EBadSignature = 15, ETooManyScored = 16, EBudgetNotScored = 17);
}
