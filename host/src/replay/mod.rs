//! Replay (auditors): recomputes every entry of every statement in a bundle
//! from the public inputs, outside any enclave, with the enclave's own
//! evaluator code, and reports agreement entry by entry.
//!
//! Inputs come from the bundle and are each checked against what the
//! statement and the ledger say: the checkpoint by its identity and the
//! ledger's anchor, the blobs by the miners' commitments, the pages by the
//! dataset root, the evaluation parameters by their hash (built from the
//! Hparams in force for that window), the random pages by the seed in the
//! statement, the budgeted selection by the seed's order. A `missing` entry
//! whose committed blob is available is flagged: the host withheld it. On
//! the machine that ran the enclave the result is bit-identical; across
//! CPUs see `docs/evaluator.md`.

mod inputs;
mod window;

use std::path::Path;

use serde::{Deserialize, Serialize};
use vram_attestation::statement::{SignedStatement, StatementFile};
use vram_attestation::{verify, AttestationDocument, TrustRoot};

use crate::chain::types::HparamsObject;
use crate::error::{Error, Result};
use crate::sources::{CheckpointStore, Dataset};

fn status_word<S: serde::Serializer>(status: &u8, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(crate::validator::status_word(*status))
}

pub(super) fn bad(reason: impl Into<String>) -> Error {
    Error::Bundle {
        reason: reason.into(),
    }
}

/// One entry, as signed and as recomputed.
#[derive(Debug, Clone, Serialize)]
pub struct EntryReplay {
    /// The miner.
    pub miner_uid: u64,
    /// Status in the statement (a word in JSON, as every command prints it).
    #[serde(serialize_with = "status_word")]
    pub status: u8,
    /// Status recomputed.
    #[serde(serialize_with = "status_word")]
    pub replayed_status: u8,
    /// (before_own, after_own, after_random) in the statement, loss × 1e9.
    pub signed: [u64; 3],
    /// The same, recomputed.
    pub replayed: [u64; 3],
    /// Largest difference, in nats.
    pub max_abs_diff: f64,
    /// Status and all three losses identical.
    pub identical: bool,
}

/// One statement's replay.
#[derive(Debug, Clone, Serialize)]
pub struct WindowReplay {
    /// The window.
    pub window: u64,
    /// SHA-256 of the signed bytes.
    pub statement_sha256: String,
    /// The signature verifies under a key bound by a document that verifies
    /// under the bundle's root.
    pub signature_valid: bool,
    /// Checkpoint, dataset, eval params and blobs match the ledger.
    pub inputs_match: bool,
    /// Base loss on the random pages: (signed, replayed).
    pub loss_before_random: [u64; 2],
    /// Miners listed `missing` whose committed blob the bundle holds: the
    /// host withheld them.
    pub withheld: Vec<u64>,
    /// Every entry.
    pub entries: Vec<EntryReplay>,
    /// Everything identical.
    pub agrees: bool,
    /// What did not match, if anything.
    pub problems: Vec<String>,
}

#[derive(Deserialize)]
pub(super) struct LedgerExport {
    /// The Hparams object: every segment ever in force.
    hparams: HparamsObject,
    pub(super) anchors: Vec<AnchorExport>,
    pub(super) commitments: Vec<CommitmentExport>,
    /// The accepted statements' records: each with the budget it was scored
    /// with.
    #[serde(default)]
    pub(super) submissions: Vec<SubmissionExport>,
}

/// What replay reads of an accepted statement's record.
#[derive(Deserialize)]
pub(super) struct SubmissionExport {
    pub(super) window: u64,
    /// Hex, no `0x`.
    pub(super) validator: String,
    pub(super) budget: u64,
}

#[derive(Deserialize)]
pub(super) struct AnchorExport {
    pub(super) window: u64,
    pub(super) checkpoint_hash: String,
}

#[derive(Deserialize)]
pub(super) struct CommitmentExport {
    pub(super) window: u64,
    pub(super) miner_uid: u64,
    pub(super) blob_id: String,
    pub(super) sha256: String,
}

#[derive(Deserialize)]
struct Index {
    /// The simulated NSM's root for test-mode documents; absent: the AWS
    /// Nitro root.
    #[serde(default)]
    test_root: Option<String>,
    attestations: Vec<AttestationRef>,
    statements: Vec<StatementRef>,
    /// The evaluator whose losses the statements carry (absent before
    /// `vram-eval/2`).
    #[serde(default)]
    evaluator: Option<String>,
}

#[derive(Deserialize)]
struct AttestationRef {
    file: String,
}

#[derive(Deserialize)]
struct StatementRef {
    window: u64,
    file: String,
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T> {
    let bytes = std::fs::read(path).map_err(|e| bad(format!("{}: {e}", path.display())))?;
    serde_json::from_slice(&bytes).map_err(|e| bad(format!("{}: {e}", path.display())))
}

/// Replays the bundle in `dir` (every window, or only `only`).
pub fn replay_bundle(dir: &Path, only: Option<u64>) -> Result<Vec<WindowReplay>> {
    let index: Index = read_json(&dir.join(crate::bundle::INDEX))?;
    // Losses differ in the last bits between evaluators: a bundle is only
    // reproducible by the evaluator that signed it.
    let ours = vram_enclave::model::EVALUATOR_VERSION;
    match index.evaluator.as_deref() {
        Some(theirs) if theirs == ours => {}
        theirs => {
            return Err(Error::EvaluatorMismatch {
                bundle: theirs
                    .unwrap_or("unnamed (made before vram-eval/2)")
                    .to_string(),
                replay: ours.to_string(),
            })
        }
    }
    let ledger: LedgerExport = read_json(&dir.join("ledger.json"))?;
    let root = match &index.test_root {
        Some(file) => {
            let pem =
                std::fs::read_to_string(dir.join(file)).map_err(|e| bad(format!("{file}: {e}")))?;
            TrustRoot::from_pem(&pem).map_err(|e| bad(format!("test root: {e}")))?
        }
        None => TrustRoot::aws_nitro().map_err(|e| bad(format!("AWS root: {e}")))?,
    };
    let mut keys = Vec::new();
    for a in &index.attestations {
        let doc = std::fs::read(dir.join(&a.file)).map_err(|e| bad(format!("{}: {e}", a.file)))?;
        let parsed =
            AttestationDocument::parse(&doc).map_err(|e| bad(format!("{}: {e}", a.file)))?;
        let att = verify(&doc, &root, parsed.timestamp_ms)
            .map_err(|e| bad(format!("{} does not verify: {e}", a.file)))?;
        if let Some(key) = att.public_key {
            keys.push(key);
        }
    }
    let schedule = &ledger.hparams;
    let dataset = Dataset::load(&dir.join("dataset"), None)?;
    let checkpoints = CheckpointStore::new(&dir.join("checkpoints"));
    let mut out = Vec::new();
    for s in &index.statements {
        if only.is_some_and(|w| w != s.window) {
            continue;
        }
        let file: StatementFile = read_json(&dir.join(&s.file))?;
        let signed =
            SignedStatement::from_file(&file).map_err(|e| bad(format!("{}: {e}", s.file)))?;
        out.push(window::replay_one(
            &signed,
            &keys,
            schedule,
            &ledger,
            &dataset,
            &checkpoints,
            &dir.join("blobs"),
        )?);
    }
    if let Some(w) = only {
        if out.is_empty() {
            return Err(bad(format!("the bundle has no statement for window {w}")));
        }
    }
    Ok(out)
}
