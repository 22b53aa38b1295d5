//! What a verifier requires of a verified document beyond its signature:
//! the image measurements, production mode, freshness and bindings.

use std::collections::BTreeMap;

use crate::error::{Error, Result};
use crate::verify::VerifiedAttestation;

/// PCRs a policy may pin: the image (0), kernel and boot ramdisk (1), the
/// application (2), the parent's IAM role (3), the parent instance (4) and
/// the image signing certificate (8).
pub const PINNABLE_PCRS: [u8; 6] = [0, 1, 2, 3, 4, 8];

/// Requirements applied after [`crate::verify`]. The default requires
/// production mode and nothing else.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {
    pcrs: BTreeMap<u8, Vec<u8>>,
    allow_debug: bool,
    max_age_ms: Option<u64>,
    nonce: Option<Vec<u8>>,
    public_key: Option<Vec<u8>>,
}

impl Policy {
    /// Production mode required, nothing else pinned.
    pub fn new() -> Self {
        Self::default()
    }

    /// Requires PCR `index` to equal `value`.
    pub fn expect_pcr(mut self, index: u8, value: impl Into<Vec<u8>>) -> Result<Self> {
        if !PINNABLE_PCRS.contains(&index) {
            return Err(Error::PcrNotPinnable { index });
        }
        self.pcrs.insert(index, value.into());
        Ok(self)
    }

    /// Accepts debug-mode (all-zero PCR0) documents. Only for development:
    /// a debug enclave's memory is readable by its host.
    pub fn allow_debug(mut self, allow: bool) -> Self {
        self.allow_debug = allow;
        self
    }

    /// Refuses documents older than `ms` at the check time, or dated after it.
    pub fn max_age_ms(mut self, ms: u64) -> Self {
        self.max_age_ms = Some(ms);
        self
    }

    /// Requires the document's nonce to equal `nonce`.
    pub fn expect_nonce(mut self, nonce: impl Into<Vec<u8>>) -> Self {
        self.nonce = Some(nonce.into());
        self
    }

    /// Requires the document's public key to equal `key`.
    pub fn expect_public_key(mut self, key: impl Into<Vec<u8>>) -> Self {
        self.public_key = Some(key.into());
        self
    }

    /// The pinned PCR values.
    pub fn pinned_pcrs(&self) -> &BTreeMap<u8, Vec<u8>> {
        &self.pcrs
    }

    /// Checks `att` at time `now_ms`.
    pub fn check(&self, att: &VerifiedAttestation, now_ms: u64) -> Result<()> {
        if !self.allow_debug {
            let debug = att
                .pcrs
                .get(&0)
                .is_none_or(|pcr0| pcr0.iter().all(|&b| b == 0));
            if debug {
                return Err(Error::DebugMode);
            }
        }
        for (&index, expected) in &self.pcrs {
            let found = att.pcrs.get(&index).ok_or(Error::PcrMissing { index })?;
            if found != expected {
                return Err(Error::PcrMismatch {
                    index,
                    found: hex::encode(found),
                    expected: hex::encode(expected),
                });
            }
        }
        if let Some(max_age_ms) = self.max_age_ms {
            let age_ms = now_ms
                .checked_sub(att.timestamp_ms)
                .ok_or(Error::FromTheFuture {
                    timestamp_ms: att.timestamp_ms,
                    time_ms: now_ms,
                })?;
            if age_ms > max_age_ms {
                return Err(Error::TooOld {
                    timestamp_ms: att.timestamp_ms,
                    age_ms,
                    max_age_ms,
                });
            }
        }
        let show = |v: &Option<Vec<u8>>| v.as_ref().map_or_else(|| "null".into(), hex::encode);
        if let Some(expected) = &self.nonce {
            if att.nonce.as_ref() != Some(expected) {
                return Err(Error::NonceMismatch {
                    found: show(&att.nonce),
                    expected: hex::encode(expected),
                });
            }
        }
        if let Some(expected) = &self.public_key {
            if att.public_key.as_ref() != Some(expected) {
                return Err(Error::PublicKeyMismatch {
                    found: show(&att.public_key),
                    expected: hex::encode(expected),
                });
            }
        }
        Ok(())
    }
}
