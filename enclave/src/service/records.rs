//! What the enclave remembers per window, and the evaluation seed.
//!
//! A record fixes a window's inputs at its first `OpenWindow`, its blob set
//! when the seed is derived, and its statement once signed. It lives until
//! its expiry by the enclave's own clock and is never evicted before: a host
//! that floods the table with other windows is refused, not obliged (design
//! §2). The seed is an HMAC of the chain-checked inputs under a secret drawn
//! at boot, so asking again gives the same seed and nothing the host does
//! can draw another.

use std::collections::BTreeMap;

use ring::hmac;
use serde::Serialize;

use crate::protocol::{ErrorCode, OpenWindow};

use super::Refusal;

/// Domain separation of the seed's HMAC input.
const SEED_DOMAIN: &[u8] = b"vram-eval-seed/1";

/// One window's commitments, as far as this enclave is concerned.
pub(super) struct Record {
    /// SHA-256 of the CBOR of the first `OpenWindow`.
    pub inputs_digest: [u8; 32],
    /// Enclave time after which the record may be dropped.
    pub expires_ms: u64,
    /// Which committed blobs were delivered, fixed when the seed is derived.
    pub blob_set: Option<[u8; 32]>,
    /// The signed statement: BCS and signature.
    pub statement: Option<(Vec<u8>, Vec<u8>)>,
}

/// The table of records.
#[derive(Default)]
pub(super) struct Records {
    by_window: BTreeMap<u64, Record>,
}

impl Records {
    /// The record of `window`, if it is live.
    pub(super) fn get(&self, window: u64) -> Option<&Record> {
        self.by_window.get(&window)
    }

    pub(super) fn get_mut(&mut self, window: u64) -> Option<&mut Record> {
        self.by_window.get_mut(&window)
    }

    /// Fixes `window`'s inputs, or checks them against the ones fixed.
    /// Expired records go first; a full table of live ones refuses.
    pub(super) fn admit(
        &mut self,
        window: u64,
        inputs_digest: [u8; 32],
        expires_ms: u64,
        now_ms: u64,
        capacity: usize,
    ) -> Result<(), Refusal> {
        self.by_window.retain(|_, r| r.expires_ms > now_ms);
        if let Some(record) = self.by_window.get(&window) {
            if record.inputs_digest != inputs_digest {
                return Err((
                    ErrorCode::WindowReplayMismatch,
                    format!("window {window} was opened with other inputs"),
                ));
            }
            return Ok(());
        }
        if self.by_window.len() >= capacity {
            return Err((
                ErrorCode::TooManyWindows,
                format!(
                    "{} windows are live (at most {capacity}); none is dropped before it expires",
                    self.by_window.len()
                ),
            ));
        }
        self.by_window.insert(
            window,
            Record {
                inputs_digest,
                expires_ms,
                blob_set: None,
                statement: None,
            },
        );
        Ok(())
    }
}

/// What the chain checks for a window (design §2): the seed's input.
#[derive(Serialize)]
struct WindowInputs<'a> {
    window: u64,
    validator: [u8; 32],
    checkpoint_hash: &'a [u8],
    dataset_root: &'a [u8],
    eval_params_hash: &'a [u8],
    commitments: Vec<(u64, &'a [u8])>,
}

/// SHA-256 of the BCS of [`WindowInputs`] for `open`.
pub(super) fn window_inputs_digest(
    open: &OpenWindow,
    eval_params_hash: &[u8; 32],
) -> Result<[u8; 32], Refusal> {
    let inputs = WindowInputs {
        window: open.window,
        validator: open.validator.0,
        checkpoint_hash: &open.checkpoint_hash.0,
        dataset_root: &open.dataset_root.0,
        eval_params_hash,
        commitments: open
            .miners
            .iter()
            .map(|m| (m.uid, m.gradient_hash.0.as_slice()))
            .collect(),
    };
    let bytes = bcs::to_bytes(&inputs).map_err(|e| (ErrorCode::Internal, e.to_string()))?;
    Ok(vram_attestation::sha256(&bytes))
}

/// `HMAC-SHA256(boot_secret, "vram-eval-seed/1" || window_inputs_digest)`.
pub(super) fn eval_seed(boot_secret: &hmac::Key, window_inputs_digest: &[u8; 32]) -> [u8; 32] {
    let mut ctx = hmac::Context::with_key(boot_secret);
    ctx.update(SEED_DOMAIN);
    ctx.update(window_inputs_digest);
    let tag = ctx.sign();
    let mut seed = [0u8; 32];
    seed.copy_from_slice(tag.as_ref());
    seed
}

/// SHA-256 over `(le64(uid), delivered)` for every committed miner: which
/// blobs the host delivered and which it declared missing.
pub(super) fn blob_set_digest(delivered: impl Iterator<Item = (u64, bool)>) -> [u8; 32] {
    let mut bytes = Vec::new();
    for (uid, present) in delivered {
        bytes.extend_from_slice(&uid.to_le_bytes());
        bytes.push(u8::from(present));
    }
    vram_attestation::sha256(&bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_records_are_never_evicted_and_expired_ones_go() {
        let mut records = Records::default();
        records.admit(1, [1; 32], 100, 0, 2).unwrap();
        records.admit(2, [2; 32], 100, 0, 2).unwrap();
        let (code, _) = records.admit(3, [3; 32], 100, 50, 2).unwrap_err();
        assert_eq!(code, ErrorCode::TooManyWindows);
        let (code, _) = records.admit(1, [9; 32], 100, 50, 2).unwrap_err();
        assert_eq!(code, ErrorCode::WindowReplayMismatch);
        // At expiry both go and window 3 fits.
        records.admit(3, [3; 32], 200, 100, 2).unwrap();
        assert!(records.get(1).is_none());
    }

    #[test]
    fn the_seed_depends_on_the_secret_and_the_inputs_only() {
        let a = hmac::Key::new(hmac::HMAC_SHA256, &[1; 32]);
        let b = hmac::Key::new(hmac::HMAC_SHA256, &[2; 32]);
        assert_eq!(eval_seed(&a, &[5; 32]), eval_seed(&a, &[5; 32]));
        assert_ne!(eval_seed(&a, &[5; 32]), eval_seed(&a, &[6; 32]));
        assert_ne!(eval_seed(&a, &[5; 32]), eval_seed(&b, &[5; 32]));
    }
}
