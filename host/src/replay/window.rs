//! Replaying one statement: re-validate the delivered blobs, check the
//! budgeted selection, evaluate the scored prefix and compare entry by entry.

use std::collections::BTreeMap;
use std::path::Path;

use vram_attestation::sha256;
use vram_attestation::statement::{seed_order, EntryStatus, ScoreEntry, SignedStatement};
use vram_enclave::eval::{check_blob, loss_to_u64, Evaluator, MinerInput};
use vram_enclave::model::Checkpoint;
use vram_enclave::service::{own_pages, random_pages, ServiceConfig};

use super::inputs::{check_inputs, committed_blobs};
use super::{bad, EntryReplay, LedgerExport, WindowReplay};
use crate::chain::types::HparamsObject;
use crate::error::Result;
use crate::sources::{CheckpointStore, Dataset};

pub(super) fn replay_one(
    signed: &SignedStatement,
    keys: &[Vec<u8>],
    schedule: &HparamsObject,
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
    let files = checkpoints.get(&ckpt_hash)?;
    let ckpt = Checkpoint::load_files(&files.weights_bytes(), &files.config)
        .map_err(|e| bad(e.to_string()))?;
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
    let valid = verdicts
        .iter()
        .filter(|(_, v)| **v == EntryStatus::NotEvaluated)
        .map(|(&uid, _)| uid);
    let take = signed_scored.min(usize::try_from(params.max_scored).unwrap_or(usize::MAX));
    for uid in seed_order(&seed, valid).into_iter().take(take) {
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
