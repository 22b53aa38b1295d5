//! Rust twins of the `vramhub` Move structs the host reads or encodes.
//!
//! Field order is the BCS layout: it must equal the Move declaration, field by
//! field (`docs/contracts.md` has the table). `UID`/`ID`/`address` are 32 raw
//! bytes; `Option<T>` is a 0/1 tag then `T`; `vector<u8>` is a ULEB128 length
//! then bytes.

use serde::{Deserialize, Serialize};
use vram_attestation::statement::{EntryStatus, WindowScores};
use vram_enclave::eval::EvalParams;

use crate::error::{Error, Result};

/// `vramhub::hparams::Values`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HparamValues {
    /// Window length.
    pub window_duration_ms: u64,
    /// Upload deadline within a window.
    pub put_window_open_ms: u64,
    /// DCT coefficients kept per chunk.
    pub topk_compression: u64,
    /// Miners aggregated per window.
    pub top_g: u64,
    /// OpenSkill beta, times 1e9.
    pub openskill_beta_e9: u64,
    /// OpenSkill tau, times 1e9.
    pub openskill_tau_e9: u64,
    /// Tokens emitted per window (base units).
    pub emission_per_window: u64,
    /// Windows between checkpoint anchors.
    pub checkpoint_frequency: u64,
    /// Minimum miner stake (MIST).
    pub min_miner_stake: u64,
    /// Minimum validator stake (MIST).
    pub min_validator_stake: u64,
    /// Windows a new validator waits before scoring.
    pub validator_offset: u64,
    /// Gauntlet decay per window, times 1e9.
    pub gauntlet_gamma_e9: u64,
    /// Sync fast-eval threshold.
    pub sync_threshold: u64,
    /// sign-SGD learning rate, times 1e9.
    pub learning_rate_e9: u64,
    /// Tokens per page.
    pub page_len: u64,
    /// Own pages evaluated per miner.
    pub own_pages: u64,
    /// Shared random pages.
    pub random_pages: u64,
    /// SHA-256 of the dataset manifest (empty until governance sets it).
    pub dataset_root: Vec<u8>,
    /// Pages in the dataset.
    pub dataset_pages: u64,
}

impl HparamValues {
    /// The defaults `vramhub::hparams::defaults()` publishes.
    pub fn defaults() -> Self {
        Self {
            window_duration_ms: 600_000,
            put_window_open_ms: 480_000,
            topk_compression: 32,
            top_g: 15,
            openskill_beta_e9: 4_166_666_667,
            openskill_tau_e9: 83_333_333,
            emission_per_window: 70_000_000_000,
            checkpoint_frequency: 100,
            min_miner_stake: 1_000_000_000,
            min_validator_stake: 10_000_000_000,
            validator_offset: 2,
            gauntlet_gamma_e9: 990_000_000,
            sync_threshold: 3,
            learning_rate_e9: 1_000_000,
            page_len: 1025,
            own_pages: 4,
            random_pages: 8,
            dataset_root: Vec::new(),
            dataset_pages: 0,
        }
    }

    /// The evaluation parameters, as `hparams::eval_params` builds them.
    pub fn eval_params(&self) -> EvalParams {
        EvalParams {
            learning_rate_e9: self.learning_rate_e9,
            topk: self.topk_compression,
            page_len: self.page_len,
            own_pages: self.own_pages,
            random_pages: self.random_pages,
        }
    }

    /// The checks `hparams::validate` makes, with the Move abort's meaning.
    pub fn validate(&self) -> Result<()> {
        let bad = |reason: &str| {
            Err(Error::Config {
                reason: format!("hparams: {reason}"),
            })
        };
        if self.window_duration_ms == 0
            || self.put_window_open_ms == 0
            || self.put_window_open_ms >= self.window_duration_ms
        {
            return bad("need 0 < put_window_open_ms < window_duration_ms");
        }
        if self.topk_compression == 0 || self.topk_compression > 4096 {
            return bad("topk_compression outside 1..=4096");
        }
        if self.top_g == 0 || self.openskill_beta_e9 == 0 || self.checkpoint_frequency == 0 {
            return bad("top_g, openskill_beta_e9 and checkpoint_frequency must be positive");
        }
        if self.gauntlet_gamma_e9 > 1_000_000_000 {
            return bad("gauntlet_gamma_e9 above 1e9");
        }
        if self.learning_rate_e9 == 0
            || self.page_len < 2
            || self.own_pages == 0
            || self.random_pages == 0
        {
            return bad("evaluation parameters out of range");
        }
        if self.dataset_root.len() != 32 || self.dataset_pages == 0 {
            return bad("dataset_root must be 32 bytes and dataset_pages positive");
        }
        Ok(())
    }
}

/// `vramhub::hparams::Segment`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Segment {
    /// First window of the segment.
    pub start_window: u64,
    /// Chain time at which `start_window` starts.
    pub start_ms: u64,
    /// The values in force.
    pub values: HparamValues,
}

/// `vramhub::hparams::Hparams` (the shared object's contents).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HparamsObject {
    /// The object's UID.
    pub id: [u8; 32],
    /// Bumped by every update.
    pub version: u64,
    /// The segment in force.
    pub current: Segment,
    /// An update waiting for its window boundary.
    pub next: Option<Segment>,
}

impl HparamsObject {
    fn segment_at_ms(&self, now_ms: u64) -> &Segment {
        match &self.next {
            Some(next) if now_ms >= next.start_ms => next,
            _ => &self.current,
        }
    }

    /// The segment in force for `window`; `None` before the schedule's start.
    pub fn segment_for_window(&self, window: u64) -> Option<&Segment> {
        match &self.next {
            Some(next) if window >= next.start_window => Some(next),
            _ if window >= self.current.start_window => Some(&self.current),
            _ => None,
        }
    }

    /// `hparams::window_at`.
    pub fn window_at(&self, now_ms: u64) -> u64 {
        let s = self.segment_at_ms(now_ms);
        s.start_window + now_ms.saturating_sub(s.start_ms) / s.values.window_duration_ms.max(1)
    }

    /// `hparams::window_start_ms`.
    pub fn window_start_ms(&self, window: u64) -> Option<u64> {
        let s = self.segment_for_window(window)?;
        (window - s.start_window)
            .checked_mul(s.values.window_duration_ms)?
            .checked_add(s.start_ms)
    }
}

/// The per-window schedule a host or ledger acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowTimes {
    /// Window start.
    pub start_ms: u64,
    /// Upload deadline (scoring starts).
    pub upload_deadline_ms: u64,
    /// Window end (scoring ends).
    pub end_ms: u64,
}

impl HparamsObject {
    /// `round_state::{window_start_ms, upload_deadline_ms, window_end_ms}`.
    pub fn times(&self, window: u64) -> Option<WindowTimes> {
        let s = self.segment_for_window(window)?;
        let start_ms = self.window_start_ms(window)?;
        Some(WindowTimes {
            start_ms,
            upload_deadline_ms: start_ms.checked_add(s.values.put_window_open_ms)?,
            end_ms: start_ms.checked_add(s.values.window_duration_ms)?,
        })
    }
}

/// `vramhub::gradient_registry::Commitment`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Commitment {
    /// Walrus blob id (32 bytes).
    pub blob_id: Vec<u8>,
    /// SHA-256 of the blob.
    pub sha256: Vec<u8>,
    /// Chain time of the commitment.
    pub committed_ms: u64,
}

impl Commitment {
    /// The committed blob id and SHA-256, checked to be 32 bytes each.
    pub fn blob(&self) -> Result<(crate::walrus::BlobId, [u8; 32])> {
        let id: [u8; 32] = self
            .blob_id
            .as_slice()
            .try_into()
            .map_err(|_| Error::Walrus {
                reason: format!("commitment blob id of {} bytes", self.blob_id.len()),
            })?;
        let sha: [u8; 32] = self
            .sha256
            .as_slice()
            .try_into()
            .map_err(|_| Error::Walrus {
                reason: format!("commitment hash of {} bytes", self.sha256.len()),
            })?;
        Ok((crate::walrus::BlobId(id), sha))
    }
}

/// `vramhub::gradient_registry::CommitmentKey` (a dynamic-field key).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitmentKey {
    /// The window.
    pub window: u64,
    /// The miner.
    pub miner_uid: u64,
}

/// `vramhub::enclave_registry::EnclaveRecord`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnclaveRecord {
    /// The Ed25519 key that signs for the validator.
    pub public_key: Vec<u8>,
    /// `EnclaveConfig.version` at registration.
    pub config_version: u64,
    /// Chain time of registration.
    pub registered_ms: u64,
    /// Registered through the test-mode path.
    pub test_mode: bool,
}

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
    /// SHA-256 of the signed BCS bytes.
    pub statement_sha256: Vec<u8>,
    /// Entries in the statement.
    pub entries: u64,
    /// Entries with status scored.
    pub scored: u64,
}

/// The most entries one `submit_scores` call takes (`MAX_ENTRIES`).
pub const MAX_SUBMIT_ENTRIES: usize = 2000;
/// The most non-missing entries: their hashes share one 16 KiB pure argument.
pub const MAX_SUBMIT_HASHED_ENTRIES: usize = 512;

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
    /// `gradient_hashes: vector<u8>`: 32 bytes per non-missing entry.
    pub gradient_hashes: Vec<u8>,
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
    /// takes. `eval_params_hash` and `validator` are not arguments: the
    /// contract recomputes the first and takes the second from the sender.
    pub fn new(timestamp_ms: u64, scores: &WindowScores, signature: &[u8]) -> Result<Self> {
        let entries = &scores.entries;
        if entries.len() > MAX_SUBMIT_ENTRIES {
            return Err(Error::Config {
                reason: format!(
                    "{} entries; submit_scores takes at most {MAX_SUBMIT_ENTRIES}",
                    entries.len()
                ),
            });
        }
        let mut gradient_hashes = Vec::new();
        for entry in entries {
            if entry.status != EntryStatus::Missing as u8 {
                gradient_hashes.extend_from_slice(&entry.gradient_hash);
            }
        }
        if gradient_hashes.len() > MAX_SUBMIT_HASHED_ENTRIES * 32 {
            return Err(Error::Config {
                reason: format!(
                    "{} non-missing entries; one submission carries at most {MAX_SUBMIT_HASHED_ENTRIES}",
                    gradient_hashes.len() / 32
                ),
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
            gradient_hashes,
            losses_before_own: entries.iter().map(|e| e.loss_before_own).collect(),
            losses_after_own: entries.iter().map(|e| e.loss_after_own).collect(),
            losses_after_random: entries.iter().map(|e| e.loss_after_random).collect(),
            signature: signature.to_vec(),
        })
    }
}

/// `sui::table::Table<K, V>` as it sits inside its parent: the table's own
/// UID (the parent of its dynamic fields) and its size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableRef {
    /// The table's UID.
    pub id: [u8; 32],
    /// Entries.
    pub size: u64,
}

/// `vramhub::round_state::RoundState`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoundStateObject {
    /// UID.
    pub id: [u8; 32],
    /// window -> checkpoint hash.
    pub anchors: TableRef,
    /// Anchored windows, ascending.
    pub windows: Vec<u64>,
}

/// `vramhub::gradient_registry::GradientRegistry`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GradientRegistryObject {
    /// UID.
    pub id: [u8; 32],
    /// CommitmentKey -> Commitment.
    pub commitments: TableRef,
    /// window -> committed uids.
    pub by_window: TableRef,
}

/// `vramhub::peer_registry::PeerRegistry`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerRegistryObject {
    /// UID.
    pub id: [u8; 32],
    /// The next uid to hand out.
    pub next_uid: u64,
    /// uid -> Peer.
    pub peers: TableRef,
    /// address -> uid.
    pub uid_of: TableRef,
}

/// `vramhub::peer_registry::Peer` (`Balance<SUI>` is its `u64` value).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerRecord {
    /// The owner.
    pub owner: [u8; 32],
    /// Stake, MIST.
    pub stake: u64,
    /// Registration window.
    pub registered_window: u64,
}

/// `vramhub::enclave_registry::EnclaveConfig`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnclaveConfigObject {
    /// UID.
    pub id: [u8; 32],
    /// Expected PCR0.
    pub pcr0: Vec<u8>,
    /// Expected PCR1.
    pub pcr1: Vec<u8>,
    /// Expected PCR2.
    pub pcr2: Vec<u8>,
    /// Configuration version.
    pub version: u64,
    /// validator -> EnclaveRecord.
    pub enclaves: TableRef,
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
}

/// `sui::dynamic_field::Field<K, V>`: what a table entry is on chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldObject<K, V> {
    /// The field's UID (its object id).
    pub id: [u8; 32],
    /// The key.
    pub name: K,
    /// The value.
    pub value: V,
}
