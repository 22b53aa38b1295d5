//! Audit bundles from public data alone (auditors; untrusted inputs, no
//! key): a validator's accepted statement for a window from the chain, the
//! registration that signs for it and its attestation document, the Hparams
//! segments, the anchor and the commitments; the checkpoint, the dataset,
//! the document and every committed blob from Walrus, each checked against
//! the hash the chain holds. The result is a bundle `replay` takes.

use std::path::Path;

use serde::Serialize;
use serde_json::json;
use vram_attestation::statement::SignedStatement;
use vram_enclave::codec::ModelShapes;
use vram_enclave::model::ModelConfig;

use crate::bundle::{blob_path, INDEX};
use crate::chain::Chain;
use crate::error::{Error, Result};
use crate::inputs::InputStore;
use crate::walrus::{BlobId, WalrusClient};

/// The index's `format`.
pub const FORMAT: &str = "vram-audit-bundle/1";

/// What an audit gathered, and what it could not.
#[derive(Debug, Clone, Serialize)]
pub struct AuditSummary {
    /// The validator audited, hex.
    pub validator: String,
    /// The window.
    pub window: u64,
    /// The signing key's registration was made through the test-mode path
    /// (simulated NSM): its document verifies only under a test root.
    pub test_mode: bool,
    /// Committed miners.
    pub committed: usize,
    /// Committed blobs fetched and checked.
    pub blobs_fetched: usize,
    /// Committed blobs Walrus no longer (or never) served: miner → why.
    pub blobs_unavailable: Vec<(u64, String)>,
    /// The registration's attestation document was fetched and matches the
    /// recorded hash.
    pub document_fetched: bool,
    /// Where the bundle is.
    pub out: String,
}

fn bad(reason: impl Into<String>) -> Error {
    Error::Bundle {
        reason: reason.into(),
    }
}

fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(Error::io(dir))?;
    }
    std::fs::write(path, bytes).map_err(Error::io(path))
}

fn pretty(value: &impl Serialize) -> Result<Vec<u8>> {
    serde_json::to_vec_pretty(value).map_err(|e| bad(e.to_string()))
}

/// Builds in `out` the bundle of `chain.validator()`'s statement for
/// `window`. `test_root` (PEM) is copied in for test-mode registrations,
/// whose documents verify only under the simulated NSM's root.
pub fn build_bundle(
    chain: &dyn Chain,
    walrus: &WalrusClient,
    window: u64,
    out: &Path,
    test_root: Option<&Path>,
) -> Result<AuditSummary> {
    let validator = chain.validator();
    let (bcs, signature) = chain.submission(window)?.ok_or_else(|| {
        bad(format!(
            "validator 0x{} has no accepted statement for window {window}",
            hex::encode(validator)
        ))
    })?;
    let signed = SignedStatement::decode(&bcs, &signature).map_err(|e| bad(e.to_string()))?;
    let hp = chain.hparams()?;
    let values = hp
        .values(window)
        .ok_or(Error::NoSchedule { window })?
        .clone();
    let anchor = chain.latest_anchor(window)?;
    let commitments = chain.commitments(window)?;
    let budget_k = chain.budget(window)?;
    let record = chain.window_signer(window)?.ok_or_else(|| {
        bad(format!(
            "no registration of validator 0x{} signs for window {window} any more \
             (the chain keeps the latest two)",
            hex::encode(validator)
        ))
    })?;

    std::fs::create_dir_all(out).map_err(Error::io(out))?;
    // The checkpoint and the dataset, fetched by the ids on chain into the
    // bundle's own layout.
    let checkpoints = InputStore::new(
        &out.join("checkpoints"),
        &out.join(".datasets"),
        walrus.clone(),
    )?;
    let config_json = checkpoints
        .checkpoint(&anchor.checkpoint_hash, &anchor.checkpoint_blob)?
        .config;
    let root: [u8; 32] = values
        .dataset_root
        .as_slice()
        .try_into()
        .map_err(|_| bad("the window's Hparams have no dataset"))?;
    let dataset = checkpoints.dataset(
        &root,
        &BlobId::from_slice(&values.dataset_blob)?,
        values.dataset_pages,
        values.page_len,
    )?;
    dataset.save(&out.join("dataset"))?;
    let _ = std::fs::remove_dir_all(out.join(".datasets"));

    // Every committed blob, within the budget the checkpoint's shapes set.
    let cfg = ModelConfig::from_json(&config_json).map_err(|e| bad(format!("config.json: {e}")))?;
    let budget = ModelShapes::new(cfg.parameter_shapes())
        .map_err(|e| bad(format!("shapes: {e}")))?
        .blob_budget(values.topk_compression as usize) as u64;
    let mut fetched = 0;
    let mut unavailable = Vec::new();
    let mut listed = Vec::new();
    for (uid, c) in &commitments {
        let (id, sha) = c.blob()?;
        match walrus.fetch_content(&id, &sha, budget) {
            Ok(bytes) => {
                write(&blob_path(&out.join("blobs"), &id), &bytes)?;
                fetched += 1;
            }
            Err(e) => unavailable.push((*uid, e.to_string())),
        }
        listed.push(json!({"window": window, "miner_uid": uid,
            "blob_id": hex::encode(&c.blob_id), "sha256": hex::encode(&c.sha256),
            "committed_ms": c.committed_ms}));
    }

    // The registration's document, checked against the recorded hash.
    let key = record.public_key.clone();
    let document = record.document()?;
    let mut attestations = Vec::new();
    let document_fetched = match document.blob {
        Some(id) => {
            let doc = walrus.fetch_content(&id, &document.sha256, 1 << 20)?;
            let name = format!("attestation/{}.cose", hex::encode(&key));
            write(&out.join(&name), &doc)?;
            attestations.push(json!({"public_key": hex::encode(&key), "file": name}));
            true
        }
        None => false,
    };

    let statement = format!("statements/window-{window}.json");
    write(&out.join(&statement), &pretty(&signed.to_file())?)?;
    let ledger = json!({
        "kind": "read from the chain by vram-validator audit",
        "validator": hex::encode(validator),
        "hparams": hp,
        "anchors": [{"window": anchor.window,
            "checkpoint_hash": hex::encode(anchor.checkpoint_hash),
            "checkpoint_blob": anchor.checkpoint_blob.to_string()}],
        "commitments": listed,
        "submissions": [{"window": window, "validator": hex::encode(validator),
            "budget": budget_k}],
        "registration": {"public_key": hex::encode(&key), "test_mode": record.test_mode,
            "registered_ms": record.registered_ms, "config_version": record.config_version,
            "document_sha256": hex::encode(document.sha256),
            "document_blob": document.blob.map(|b| b.to_string())},
    });
    write(&out.join("ledger.json"), &pretty(&ledger)?)?;
    let root_file =
        match (record.test_mode, test_root) {
            (true, Some(pem)) => {
                let bytes = std::fs::read(pem).map_err(Error::io(pem))?;
                write(&out.join("test-root.pem"), &bytes)?;
                Some("test-root.pem")
            }
            (true, None) => return Err(bad(
                "the signing key was registered in test mode: its document verifies only under \
                 the simulated NSM's root; pass it with --root (the operator publishes it)",
            )),
            (false, _) => None,
        };
    let index = json!({
        "format": FORMAT,
        // The evaluator this binary replays with; the registration's PCRs
        // say which image (and so which evaluator) signed. If they differ,
        // replay shows it as disagreeing losses.
        "evaluator": vram_enclave::model::EVALUATOR_VERSION,
        "test_root": root_file,
        "attestations": attestations,
        "statements": [{"window": window, "file": statement}],
        "ledger": "ledger.json",
        "checkpoints": "checkpoints",
        "blobs": "blobs",
        "dataset": "dataset",
    });
    write(&out.join(INDEX), &pretty(&index)?)?;
    Ok(AuditSummary {
        validator: format!("0x{}", hex::encode(validator)),
        window,
        test_mode: record.test_mode,
        committed: commitments.len(),
        blobs_fetched: fetched,
        blobs_unavailable: unavailable,
        document_fetched,
        out: out.display().to_string(),
    })
}
