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

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use vram_attestation::statement::{
    selection_key, EntryStatus, ScoreEntry, SignedStatement, StatementFile, WindowScores,
};
use vram_attestation::{sha256, verify, AttestationDocument, TrustRoot};
use vram_enclave::eval::{check_blob, loss_to_u64, EvalParams, Evaluator, MinerInput};
use vram_enclave::model::Checkpoint;
use vram_enclave::service::{own_pages, random_pages, ServiceConfig};

use crate::chain::types::Schedule;
use crate::error::{Error, Result};
use crate::sources::{CheckpointStore, Dataset};
use crate::walrus::BlobId;

fn bad(reason: impl Into<String>) -> Error {
    Error::Bundle {
        reason: reason.into(),
    }
}

/// One entry, as signed and as recomputed.
#[derive(Debug, Clone, Serialize)]
pub struct EntryReplay {
    /// The miner.
    pub miner_uid: u64,
    /// Status in the statement.
    pub status: u8,
    /// Status recomputed.
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
struct LedgerExport {
    hparams: HparamsExport,
    anchors: Vec<AnchorExport>,
    commitments: Vec<CommitmentExport>,
}

#[derive(Deserialize)]
struct HparamsExport {
    schedule: Schedule,
}

#[derive(Deserialize)]
struct AnchorExport {
    window: u64,
    checkpoint_hash: String,
}

#[derive(Deserialize)]
struct CommitmentExport {
    window: u64,
    miner_uid: u64,
    blob_id: String,
    sha256: String,
}

#[derive(Deserialize)]
struct Index {
    test_root: String,
    attestations: Vec<AttestationRef>,
    statements: Vec<StatementRef>,
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
    let ledger: LedgerExport = read_json(&dir.join("ledger.json"))?;
    let root_pem = std::fs::read_to_string(dir.join(&index.test_root))
        .map_err(|e| bad(format!("{}: {e}", index.test_root)))?;
    let root = TrustRoot::from_pem(&root_pem).map_err(|e| bad(format!("test root: {e}")))?;
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
    let schedule = &ledger.hparams.schedule;
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
        out.push(replay_one(
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

fn replay_one(
    signed: &SignedStatement,
    keys: &[Vec<u8>],
    schedule: &Schedule,
    ledger: &LedgerExport,
    dataset: &Dataset,
    checkpoints: &CheckpointStore,
    blobs: &Path,
) -> Result<WindowReplay> {
    let p = &signed.message.payload;
    let window = p.window;
    let mut problems = Vec::new();
    let signature_valid = keys.iter().any(|k| signed.verify(k).is_ok());
    if !signature_valid {
        problems.push("no attested key verifies the signature".into());
    }
    if let Err(e) = p.validate() {
        problems.push(format!("statement: {e}"));
    }
    let params = check_inputs(p, schedule, ledger, dataset, &mut problems)?;
    let ckpt_hash: [u8; 32] = p
        .checkpoint_hash
        .as_slice()
        .try_into()
        .map_err(|_| bad("checkpoint hash length"))?;
    let (weights, config) = checkpoints.get(&ckpt_hash)?;
    let ckpt = Checkpoint::load(&weights, &config).map_err(|e| bad(e.to_string()))?;
    let blob_bytes = committed_blobs(ledger, window, blobs, &mut problems)?;

    let seed: [u8; 32] = p
        .eval_seed
        .as_slice()
        .try_into()
        .map_err(|_| bad("seed length"))?;
    // What the enclave concluded about each delivered blob, recomputed.
    let topk = usize::try_from(params.topk).unwrap_or(usize::MAX);
    let mut withheld = Vec::new();
    let mut verdicts: BTreeMap<u64, EntryStatus> = BTreeMap::new();
    for e in &p.entries {
        let blob = blob_bytes.get(&e.miner_uid);
        let verdict = if e.status == EntryStatus::Missing as u8 {
            if blob.is_some() {
                withheld.push(e.miner_uid);
                problems.push(format!(
                    "miner {} is listed missing but its committed blob is available",
                    e.miner_uid
                ));
            }
            EntryStatus::Missing
        } else {
            match blob.map(|b| check_blob(&ckpt, b, e.miner_uid, window, topk)) {
                None => EntryStatus::Missing,
                Some(Ok(_)) => EntryStatus::NotEvaluated,
                Some(Err(outcome)) => outcome.status(),
            }
        };
        verdicts.insert(e.miner_uid, verdict);
    }
    // Budgeted selection: the scored entries are the first of the valid
    // ones in the seed's order, as many as the statement scored (a slow
    // enclave scores a shorter prefix), at most max_scored.
    let signed_scored = p.scored_count();
    if signed_scored as u64 > params.max_scored {
        problems.push(format!(
            "{signed_scored} entries scored, max_scored is {}",
            params.max_scored
        ));
    }
    let mut valid: Vec<([u8; 32], u64)> = verdicts
        .iter()
        .filter(|(_, v)| **v == EntryStatus::NotEvaluated)
        .map(|(&uid, _)| (selection_key(&seed, uid), uid))
        .collect();
    valid.sort_unstable();
    let take = signed_scored.min(usize::try_from(params.max_scored).unwrap_or(usize::MAX));
    for &(_, uid) in valid.iter().take(take) {
        verdicts.insert(uid, EntryStatus::Scored);
    }

    let root = dataset.root();
    let page = |i: u64| dataset.page(i).unwrap_or_default();
    let random: Vec<&[u32]> = random_pages(&seed, params.random_pages, dataset.len())
        .into_iter()
        .map(page)
        .collect();
    let miners: Vec<MinerInput<'_>> = verdicts
        .iter()
        .filter(|(_, v)| **v == EntryStatus::Scored)
        .map(|(&uid, _)| MinerInput {
            uid,
            own_pages: own_pages(&root, window, uid, params.own_pages, dataset.len())
                .into_iter()
                .map(page)
                .collect(),
            blob: blob_bytes.get(&uid).map(Vec::as_slice),
        })
        .collect();
    let evaluation = Evaluator::new(&ckpt, ServiceConfig::default().batch_pages)
        .evaluate_window(window, &params, &random, &miners)
        .map_err(|e| bad(format!("evaluation: {e}")))?;
    let loss = |l: f64| loss_to_u64(l).map_err(|e| bad(format!("evaluation: {e}")));
    let replayed_base = loss(evaluation.loss_before_random)?;
    let mut entries = Vec::with_capacity(p.entries.len());
    for e in &p.entries {
        let (status, losses) = match evaluation.miners.iter().find(|r| r.uid == e.miner_uid) {
            Some(r) if r.outcome.status() == EntryStatus::Scored => (
                EntryStatus::Scored,
                [
                    loss(r.loss_before_own)?,
                    loss(r.loss_after_own)?,
                    loss(r.loss_after_random)?,
                ],
            ),
            Some(r) => (r.outcome.status(), [0; 3]),
            None => (verdicts[&e.miner_uid], [0; 3]),
        };
        entries.push(compare(e, status, losses));
    }
    let inputs_match = problems.is_empty() || (problems.len() == 1 && !signature_valid);
    let agrees = signature_valid
        && inputs_match
        && replayed_base == p.loss_before_random
        && entries.iter().all(|e| e.identical);
    Ok(WindowReplay {
        window,
        statement_sha256: hex::encode(sha256(&signed.bcs)),
        signature_valid,
        inputs_match,
        loss_before_random: [p.loss_before_random, replayed_base],
        withheld,
        entries,
        agrees,
        problems,
    })
}

/// The statement's inputs against the ledger: the anchored checkpoint, the
/// dataset root and the eval-params hash of the Hparams in force for the
/// window. Mismatches go to `problems`; returns the evaluation parameters to
/// replay with.
fn check_inputs(
    p: &WindowScores,
    schedule: &Schedule,
    ledger: &LedgerExport,
    dataset: &Dataset,
    problems: &mut Vec<String>,
) -> Result<EvalParams> {
    let anchor = ledger
        .anchors
        .iter()
        .filter(|a| a.window <= p.window)
        .max_by_key(|a| a.window)
        .map(|a| a.checkpoint_hash.clone());
    if anchor.as_deref() != Some(hex::encode(&p.checkpoint_hash).as_str()) {
        problems.push("checkpoint is not the ledger's anchor".into());
    }
    let values = schedule
        .values(p.window)
        .ok_or_else(|| bad(format!("no Hparams for window {}", p.window)))?;
    if p.dataset_root != dataset.root() || p.dataset_root != values.dataset_root {
        problems.push("dataset root differs".into());
    }
    let params = schedule
        .eval_params(p.window)
        .ok_or_else(|| bad(format!("no schedule for window {}", p.window)))?;
    let params_hash = sha256(&bcs::to_bytes(&params).map_err(|e| bad(e.to_string()))?);
    if p.eval_params_hash != params_hash {
        problems.push("eval params hash differs from the ledger's Hparams for the window".into());
    }
    Ok(params)
}

/// The bundle's blob of every commitment of `window` that matches its
/// committed hash; a missing or different blob goes to `problems`.
fn committed_blobs(
    ledger: &LedgerExport,
    window: u64,
    blobs: &Path,
    problems: &mut Vec<String>,
) -> Result<BTreeMap<u64, Vec<u8>>> {
    let mut out = BTreeMap::new();
    for c in ledger.commitments.iter().filter(|c| c.window == window) {
        let id: BlobId = c.blob_id_parsed()?;
        match std::fs::read(crate::bundle::blob_path(blobs, &id)) {
            Ok(bytes) if hex::encode(sha256(&bytes)) == c.sha256 => {
                out.insert(c.miner_uid, bytes);
            }
            Ok(_) => problems.push(format!(
                "blob of miner {} differs from its commitment",
                c.miner_uid
            )),
            // Never uploaded (or not kept): only an entry that claims the
            // blob was evaluated needs it, and that shows in its status.
            Err(_) => {}
        }
    }
    Ok(out)
}

/// A signed entry beside its recomputation.
fn compare(signed_entry: &ScoreEntry, status: EntryStatus, replayed: [u64; 3]) -> EntryReplay {
    let signed_losses = [
        signed_entry.loss_before_own,
        signed_entry.loss_after_own,
        signed_entry.loss_after_random,
    ];
    let max_abs_diff = signed_losses
        .iter()
        .zip(&replayed)
        .map(|(a, b)| (*a as f64 - *b as f64).abs() / 1e9)
        .fold(0.0, f64::max);
    let status = status as u8;
    EntryReplay {
        miner_uid: signed_entry.miner_uid,
        status: signed_entry.status,
        replayed_status: status,
        signed: signed_losses,
        replayed,
        max_abs_diff,
        identical: status == signed_entry.status && signed_losses == replayed,
    }
}

impl CommitmentExport {
    fn blob_id_parsed(&self) -> Result<BlobId> {
        let bytes = hex::decode(&self.blob_id).map_err(|e| bad(format!("blob id: {e}")))?;
        Ok(BlobId(
            bytes
                .as_slice()
                .try_into()
                .map_err(|_| bad("blob id length"))?,
        ))
    }
}
