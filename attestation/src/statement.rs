//! The signed score statement (design.md §4.4): Ed25519 over
//! `bcs(IntentMessage { intent, timestamp_ms, payload })`, the Nautilus
//! convention, so that Move verifies it with `ed25519::ed25519_verify`.

use ring::signature::{Ed25519KeyPair, KeyPair as _, UnparsedPublicKey, ED25519};
use serde::{de::DeserializeOwned, Deserialize, Serialize};

use crate::error::{Error, Result};

/// Intent of a window-scores statement.
pub const INTENT_WINDOW_SCORES: u8 = 1;
/// Largest BCS statement accepted for decoding.
pub const MAX_STATEMENT_BYTES: usize = 1 << 20;
/// Most entries a statement may carry (one per miner uid).
pub const MAX_ENTRIES: usize = 2000;
/// Identifies the JSON statement file format.
pub const STATEMENT_FILE_FORMAT: &str = "vram-statement/1";

/// A payload with its intent and time, as signed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntentMessage<T> {
    /// What kind of statement this is.
    pub intent: u8,
    /// Milliseconds since the epoch at signing.
    pub timestamp_ms: u64,
    /// The statement.
    pub payload: T,
}

/// Outcome of one miner's gradient.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum EntryStatus {
    /// Decoded, applied and measured.
    Scored = 0,
    /// No blob arrived.
    Missing = 1,
    /// The blob failed decoding or validation.
    Malformed = 2,
    /// The blob names another base checkpoint or window.
    Stale = 3,
    /// Valid, but after the window's `max_scored` in the seed's order (or
    /// past the enclave's time budget).
    NotEvaluated = 4,
}

impl EntryStatus {
    /// The status of a wire value.
    pub fn from_u8(v: u8) -> Option<Self> {
        match v {
            0 => Some(Self::Scored),
            1 => Some(Self::Missing),
            2 => Some(Self::Malformed),
            3 => Some(Self::Stale),
            4 => Some(Self::NotEvaluated),
            _ => None,
        }
    }

    /// Lowercase name, as in JSON output.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Scored => "scored",
            Self::Missing => "missing",
            Self::Malformed => "malformed",
            Self::Stale => "stale",
            Self::NotEvaluated => "not_evaluated",
        }
    }
}

/// One miner's result. Losses are mean token cross-entropy times 1e9, rounded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScoreEntry {
    /// The miner.
    pub miner_uid: u64,
    /// SHA-256 of the blob scored; empty when the status is missing.
    pub gradient_hash: Vec<u8>,
    /// An [`EntryStatus`] as u8.
    pub status: u8,
    /// Loss on the miner's own pages before the step.
    pub loss_before_own: u64,
    /// Loss on the miner's own pages after the step.
    pub loss_after_own: u64,
    /// Loss on the shared random pages after the step.
    pub loss_after_random: u64,
}

/// The scores of one window by one validator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowScores {
    /// The window.
    pub window: u64,
    /// The Sui address that submits.
    pub validator: [u8; 32],
    /// SHA-256 identity of the checkpoint.
    pub checkpoint_hash: Vec<u8>,
    /// SHA-256 of the dataset manifest.
    pub dataset_root: Vec<u8>,
    /// SHA-256 of `bcs(EvalParams)`.
    pub eval_params_hash: Vec<u8>,
    /// The evaluation seed the enclave drew from the NSM.
    pub eval_seed: Vec<u8>,
    /// Base loss on the random pages, times 1e9.
    pub loss_before_random: u64,
    /// One entry per miner, ascending and unique by uid.
    pub entries: Vec<ScoreEntry>,
}

fn invalid(reason: impl Into<String>) -> Error {
    Error::InvalidStatement {
        reason: reason.into(),
    }
}

impl WindowScores {
    /// Checks the rules of the format that types cannot express.
    pub fn validate(&self) -> Result<()> {
        for (name, value) in [
            ("checkpoint_hash", &self.checkpoint_hash),
            ("dataset_root", &self.dataset_root),
            ("eval_params_hash", &self.eval_params_hash),
            ("eval_seed", &self.eval_seed),
        ] {
            if value.len() != 32 {
                return Err(invalid(format!("{name} is {} bytes, not 32", value.len())));
            }
        }
        if self.entries.len() > MAX_ENTRIES {
            return Err(invalid(format!(
                "{} entries, at most {MAX_ENTRIES}",
                self.entries.len()
            )));
        }
        let mut previous: Option<u64> = None;
        for entry in &self.entries {
            if previous.is_some_and(|p| p >= entry.miner_uid) {
                return Err(invalid(format!(
                    "entries not strictly ascending at miner_uid {}",
                    entry.miner_uid
                )));
            }
            previous = Some(entry.miner_uid);
            let status = EntryStatus::from_u8(entry.status).ok_or_else(|| {
                invalid(format!(
                    "miner {} has unknown status {}",
                    entry.miner_uid, entry.status
                ))
            })?;
            let expected_len = if status == EntryStatus::Missing {
                0
            } else {
                32
            };
            if entry.gradient_hash.len() != expected_len {
                return Err(invalid(format!(
                    "miner {} ({}) has a {}-byte gradient hash, expected {expected_len}",
                    entry.miner_uid,
                    status.as_str(),
                    entry.gradient_hash.len()
                )));
            }
            if status != EntryStatus::Scored
                && (
                    entry.loss_before_own,
                    entry.loss_after_own,
                    entry.loss_after_random,
                ) != (0, 0, 0)
            {
                return Err(invalid(format!(
                    "miner {} ({}) carries losses; only scored entries do",
                    entry.miner_uid,
                    status.as_str()
                )));
            }
        }
        let statuses = self.entries.iter().map(|e| (e.miner_uid, e.status));
        if !scored_lead_seed_order(&self.eval_seed, statuses) {
            return Err(invalid(
                "a scored entry sorts after a not-evaluated one in the seed's order",
            ));
        }
        Ok(())
    }

    /// Entries with status 0 (what `max_scored` bounds).
    pub fn scored_count(&self) -> usize {
        self.entries
            .iter()
            .filter(|e| e.status == EntryStatus::Scored as u8)
            .count()
    }
}

/// `sha256(eval_seed || le64(uid))`: a window's valid blobs are evaluated in
/// ascending order of this key, and the scored ones are a prefix of it
/// (design §4.4, budgeted selection).
pub fn selection_key(eval_seed: &[u8], uid: u64) -> [u8; 32] {
    let mut bytes = Vec::with_capacity(eval_seed.len() + 8);
    bytes.extend_from_slice(eval_seed);
    bytes.extend_from_slice(&uid.to_le_bytes());
    crate::sha256(&bytes)
}

/// `uids` in the order their blobs are evaluated: ascending
/// [`selection_key`].
pub fn seed_order(eval_seed: &[u8], uids: impl IntoIterator<Item = u64>) -> Vec<u64> {
    let mut keyed: Vec<([u8; 32], u64)> = uids
        .into_iter()
        .map(|uid| (selection_key(eval_seed, uid), uid))
        .collect();
    keyed.sort_unstable();
    keyed.into_iter().map(|(_, uid)| uid).collect()
}

/// Whether every scored entry (status 0) sorts before every not-evaluated
/// one (status 4) by [`selection_key`], given `(miner_uid, status)` pairs:
/// the budgeted-selection check of the statement, the chain and replay.
pub fn scored_lead_seed_order(
    eval_seed: &[u8],
    entries: impl IntoIterator<Item = (u64, u8)>,
) -> bool {
    let mut last_scored: Option<[u8; 32]> = None;
    let mut first_unscored: Option<[u8; 32]> = None;
    for (uid, status) in entries {
        if status == EntryStatus::Scored as u8 {
            last_scored = last_scored.max(Some(selection_key(eval_seed, uid)));
        } else if status == EntryStatus::NotEvaluated as u8 {
            let key = selection_key(eval_seed, uid);
            first_unscored = Some(first_unscored.map_or(key, |k| k.min(key)));
        }
    }
    match (last_scored, first_unscored) {
        (Some(last), Some(first)) => last < first,
        _ => true,
    }
}

/// BCS bytes of an intent message, the exact bytes that are signed.
pub fn to_bcs<T: Serialize>(message: &IntentMessage<T>) -> Result<Vec<u8>> {
    bcs::to_bytes(message).map_err(|e| Error::StatementEncoding {
        reason: e.to_string(),
    })
}

/// Decodes BCS bytes of an intent message; trailing bytes are refused.
pub fn from_bcs<T: DeserializeOwned>(bytes: &[u8]) -> Result<IntentMessage<T>> {
    if bytes.len() > MAX_STATEMENT_BYTES {
        return Err(Error::InputTooLarge {
            len: bytes.len(),
            max: MAX_STATEMENT_BYTES,
        });
    }
    bcs::from_bytes(bytes).map_err(|e| Error::StatementEncoding {
        reason: e.to_string(),
    })
}

/// Verifies an Ed25519 signature over `message` under a raw 32-byte key.
pub fn verify_ed25519(public_key: &[u8], message: &[u8], signature: &[u8]) -> Result<()> {
    if public_key.len() != 32 {
        return Err(Error::Ed25519KeyLength {
            len: public_key.len(),
        });
    }
    if signature.len() != 64 {
        return Err(Error::Ed25519SignatureLength {
            len: signature.len(),
        });
    }
    UnparsedPublicKey::new(&ED25519, public_key)
        .verify(message, signature)
        .map_err(|_| Error::BadStatementSignature)
}

/// A window-scores statement with its signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedStatement {
    /// The decoded message.
    pub message: IntentMessage<WindowScores>,
    /// Its BCS bytes, as signed.
    pub bcs: Vec<u8>,
    /// Ed25519 signature over `bcs`.
    pub signature: [u8; 64],
}

impl SignedStatement {
    /// Validates and signs `message` with `key`.
    pub fn sign(message: IntentMessage<WindowScores>, key: &Ed25519KeyPair) -> Result<Self> {
        if message.intent != INTENT_WINDOW_SCORES {
            return Err(invalid(format!(
                "intent {} is not window scores",
                message.intent
            )));
        }
        message.payload.validate()?;
        let bcs = to_bcs(&message)?;
        let mut signature = [0u8; 64];
        signature.copy_from_slice(key.sign(&bcs).as_ref());
        Ok(Self {
            message,
            bcs,
            signature,
        })
    }

    /// Decodes and validates a statement from its BCS bytes and signature;
    /// the signature is *not* checked (see [`SignedStatement::verify`]).
    pub fn decode(bcs: &[u8], signature: &[u8]) -> Result<Self> {
        let message: IntentMessage<WindowScores> = from_bcs(bcs)?;
        if message.intent != INTENT_WINDOW_SCORES {
            return Err(invalid(format!(
                "intent {} is not window scores",
                message.intent
            )));
        }
        message.payload.validate()?;
        let signature: [u8; 64] =
            signature
                .try_into()
                .map_err(|_| Error::Ed25519SignatureLength {
                    len: signature.len(),
                })?;
        Ok(Self {
            message,
            bcs: bcs.to_vec(),
            signature,
        })
    }

    /// Checks the signature under a raw Ed25519 public key.
    pub fn verify(&self, public_key: &[u8]) -> Result<()> {
        verify_ed25519(public_key, &self.bcs, &self.signature)
    }

    /// SHA-256 of the BCS bytes: the statement's identity in journals.
    pub fn sha256(&self) -> [u8; 32] {
        crate::sha256(&self.bcs)
    }

    /// The file form (hex in JSON).
    pub fn to_file(&self) -> StatementFile {
        StatementFile {
            format: STATEMENT_FILE_FORMAT.to_string(),
            message: hex::encode(&self.bcs),
            signature: hex::encode(self.signature),
        }
    }

    /// Reads the file form.
    pub fn from_file(file: &StatementFile) -> Result<Self> {
        if file.format != STATEMENT_FILE_FORMAT {
            return Err(invalid(format!(
                "file format {:?}, expected {STATEMENT_FILE_FORMAT:?}",
                file.format
            )));
        }
        let hex_field = |name: &str, value: &str| {
            hex::decode(value).map_err(|e| invalid(format!("{name} is not hex: {e}")))
        };
        Self::decode(
            &hex_field("message", &file.message)?,
            &hex_field("signature", &file.signature)?,
        )
    }
}

/// A statement as stored on disk and in audit bundles:
/// `{"format": "vram-statement/1", "message": hex(bcs), "signature": hex}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatementFile {
    /// Always [`STATEMENT_FILE_FORMAT`].
    pub format: String,
    /// Hex of the BCS `IntentMessage<WindowScores>`.
    pub message: String,
    /// Hex of the Ed25519 signature.
    pub signature: String,
}

/// The raw 32-byte public key of an Ed25519 key pair.
pub fn ed25519_public_key(key: &Ed25519KeyPair) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(key.public_key().as_ref());
    out
}
