//! A statement's inputs against the ledger's record: the anchor, the
//! dataset root and eval params of the window, and the committed blobs.

use std::collections::BTreeMap;
use std::path::Path;

use vram_attestation::sha256;
use vram_attestation::statement::WindowScores;
use vram_enclave::eval::EvalParams;

use super::{bad, CommitmentExport, LedgerExport};
use crate::chain::types::HparamsObject;
use crate::error::Result;
use crate::sources::Dataset;
use crate::walrus::BlobId;

/// The statement's inputs against the ledger: the anchored checkpoint, the
/// dataset root and the eval-params hash of the Hparams in force for the
/// window. Mismatches go to `problems`; returns the evaluation parameters to
/// replay with.
pub(super) fn check_inputs(
    p: &WindowScores,
    schedule: &HparamsObject,
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
    // The validator's budget for the window, as the chain recorded it with
    // the accepted statement (its eval params bind it).
    let budget = ledger
        .submissions
        .iter()
        .find(|s| s.window == p.window && s.validator == hex::encode(p.validator))
        .map(|s| s.budget);
    let Some(budget) = budget else {
        return Err(bad(format!(
            "the bundle's ledger records no budget for validator 0x{} in window {}",
            hex::encode(p.validator),
            p.window
        )));
    };
    let params = schedule
        .eval_params(p.window, budget)
        .ok_or_else(|| bad(format!("no schedule for window {}", p.window)))?;
    let params_hash = sha256(&bcs::to_bytes(&params).map_err(|e| bad(e.to_string()))?);
    if p.eval_params_hash != params_hash {
        problems.push("eval params hash differs from the ledger's Hparams for the window".into());
    }
    Ok(params)
}

/// The bundle's blob of every commitment of `window` that matches its
/// committed hash; a missing or different blob goes to `problems`.
pub(super) fn committed_blobs(
    ledger: &LedgerExport,
    window: u64,
    blobs: &Path,
    problems: &mut Vec<String>,
) -> Result<BTreeMap<u64, Vec<u8>>> {
    let mut out = BTreeMap::new();
    for c in ledger.commitments.iter().filter(|c| c.window == window) {
        let id: BlobId = c.blob_id_parsed()?;
        let sha = crate::walrus::transport::hash_from_hex(&c.sha256)?;
        match crate::walrus::transport::read_local(blobs, &id, &sha) {
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
