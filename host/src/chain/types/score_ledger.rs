//! Twins of `vramhub::score_ledger`: the submission key and record, the
//! event, the ledger object, and `submit_scores`' arguments.

use serde::{Deserialize, Serialize};
use vram_attestation::statement::WindowScores;

use super::TableRef;
use crate::error::{Error, Result};

/// `vramhub::score_ledger::SubmissionKey` (a dynamic-field key).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubmissionKey {
    /// The window.
    pub window: u64,
    /// The validator's account.
    pub validator: [u8; 32],
}

/// `vramhub::score_ledger::ScoresSubmitted` (event).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScoresSubmitted {
    /// The window.
    pub window: u64,
    /// The validator.
    pub validator: [u8; 32],
    /// The key that signed.
    pub enclave_public_key: Vec<u8>,
    /// Signed by a test-mode key (simulated NSM, no AWS attestation).
    pub test_mode: bool,
    /// SHA-256 of the signed BCS bytes.
    pub statement_sha256: Vec<u8>,
    /// Entries in the statement.
    pub entries: u64,
    /// Entries with status scored.
    pub scored: u64,
}

/// The most entries one `submit_scores` call takes (`MAX_ENTRIES`): 2000
/// u64s and their 2-byte length are 16 002 bytes, under Sui's 16 KiB pure
/// argument. The statement format's cap is the same number, by definition.
pub const MAX_SUBMIT_ENTRIES: usize = vram_attestation::statement::MAX_ENTRIES;

/// The statement-dependent arguments of `score_ledger::submit_scores`, in
/// call order after the shared objects.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubmitArgs {
    /// `window: u64`.
    pub window: u64,
    /// `timestamp_ms: u64`.
    pub timestamp_ms: u64,
    /// `checkpoint_hash: vector<u8>`.
    pub checkpoint_hash: Vec<u8>,
    /// `dataset_root: vector<u8>`.
    pub dataset_root: Vec<u8>,
    /// `eval_seed: vector<u8>`.
    pub eval_seed: Vec<u8>,
    /// `loss_before_random: u64`.
    pub loss_before_random: u64,
    /// `miner_uids: vector<u64>`.
    pub miner_uids: Vec<u64>,
    /// `statuses: vector<u8>`.
    pub statuses: Vec<u8>,
    /// `losses_before_own: vector<u64>`.
    pub losses_before_own: Vec<u64>,
    /// `losses_after_own: vector<u64>`.
    pub losses_after_own: Vec<u64>,
    /// `losses_after_random: vector<u64>`.
    pub losses_after_random: Vec<u64>,
    /// `signature: vector<u8>`.
    pub signature: Vec<u8>,
}

impl SubmitArgs {
    /// Splits a signed statement into the parallel vectors the entry function
    /// takes. `eval_params_hash`, `validator` and the gradient hashes are not
    /// arguments: the contract recomputes the first, takes the second from
    /// the sender and the hashes from the window's commitments.
    pub fn new(timestamp_ms: u64, scores: &WindowScores, signature: &[u8]) -> Result<Self> {
        let entries = &scores.entries;
        if entries.len() > MAX_SUBMIT_ENTRIES {
            return Err(Error::StatementTooLarge {
                what: "entries",
                count: entries.len(),
                max: MAX_SUBMIT_ENTRIES,
            });
        }
        Ok(Self {
            window: scores.window,
            timestamp_ms,
            checkpoint_hash: scores.checkpoint_hash.clone(),
            dataset_root: scores.dataset_root.clone(),
            eval_seed: scores.eval_seed.clone(),
            loss_before_random: scores.loss_before_random,
            miner_uids: entries.iter().map(|e| e.miner_uid).collect(),
            statuses: entries.iter().map(|e| e.status).collect(),
            losses_before_own: entries.iter().map(|e| e.loss_before_own).collect(),
            losses_after_own: entries.iter().map(|e| e.loss_after_own).collect(),
            losses_after_random: entries.iter().map(|e| e.loss_after_random).collect(),
            signature: signature.to_vec(),
        })
    }
}

/// `vramhub::score_ledger::ScoreLedger`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScoreLedgerObject {
    /// UID.
    pub id: [u8; 32],
    /// SubmissionKey -> Submission.
    pub submissions: TableRef,
    /// window -> validators.
    pub by_window: TableRef,
}

/// `vramhub::score_ledger::Submission`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubmissionRecord {
    /// The key that signed.
    pub enclave_public_key: Vec<u8>,
    /// Signed by a test-mode key (simulated NSM, no AWS attestation).
    pub test_mode: bool,
    /// The statement's timestamp.
    pub timestamp_ms: u64,
    /// The checkpoint.
    pub checkpoint_hash: Vec<u8>,
    /// The evaluation seed.
    pub eval_seed: Vec<u8>,
    /// Base loss on the random pages.
    pub loss_before_random: u64,
    /// The entries (raw losses).
    pub entries: Vec<vram_attestation::statement::ScoreEntry>,
    /// The signature.
    pub signature: Vec<u8>,
    /// When it was accepted.
    pub submitted_ms: u64,
    /// The validator's budget for the window (its eval params bind it).
    pub budget: u64,
}
