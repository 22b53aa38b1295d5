//! Scoring a window one blob at a time (design §3, step 3): the base loss on
//! the random pages once, then each valid blob in the seed's order, uploaded
//! again by the host when the enclave asks for it: the base loss on its
//! miner's own pages, the step, the losses after it, and the blob is
//! dropped; until `max_scored` are scored or the host's deadline passes;
//! then the signed statement. No work is spent on miners never reached.
//! Memory: the model, its working copy, one blob and one batch of
//! activations, whatever the number of miners.

use std::collections::BTreeMap;

use vram_attestation::statement::{
    EntryStatus, IntentMessage, ScoreEntry, SignedStatement, WindowScores, INTENT_WINDOW_SCORES,
};

use crate::eval::{loss_to_u64, Evaluator, MinerInput, MinerResult, Outcome};
use crate::protocol::{ErrorCode, Response};

use super::{refuse, Enclave, Refusal, State, Verdict, WindowState};

/// Evaluation in progress.
pub(super) struct Progress {
    loss_before_random: f64,
    results: BTreeMap<u64, MinerResult>,
    /// Index of the next miner in `selected` (the seed's order).
    next: usize,
    /// The miner whose blob the enclave asked for.
    pub(super) asked: Option<u64>,
    /// A blob that arrived and awaits evaluation.
    pub(super) pending: Option<(u64, Vec<u8>)>,
    done: bool,
}

fn internal(e: crate::Error) -> Refusal {
    (ErrorCode::Internal, e.to_string())
}

/// The window's pages by index, once every requested one arrived.
fn pages_ready(w: &WindowState) -> Result<(), Refusal> {
    let Some(request) = &w.request else {
        return refuse(ErrorCode::OutOfOrder, "request and send pages first");
    };
    let missing = request
        .pages()
        .iter()
        .filter(|i| !w.pages.contains_key(i))
        .count();
    if missing > 0 {
        return refuse(
            ErrorCode::PagesMissing,
            format!("{missing} requested pages have not arrived"),
        );
    }
    Ok(())
}

fn page<'a>(w: &'a WindowState, i: &u64) -> &'a [u32] {
    w.pages.get(i).map(Vec::as_slice).unwrap_or_default()
}

fn own_pages_of(w: &WindowState, uid: u64) -> Vec<&[u32]> {
    w.request
        .as_ref()
        .and_then(|r| r.own.iter().find(|(u, _)| *u == uid))
        .map(|(_, idx)| idx.iter().map(|i| page(w, i)).collect())
        .unwrap_or_default()
}

fn random_pages_of(w: &WindowState) -> Vec<&[u32]> {
    w.request
        .as_ref()
        .map(|r| r.random.iter().map(|i| page(w, i)).collect())
        .unwrap_or_default()
}

impl Enclave {
    /// The base loss on the random pages, once.
    fn begin(&self, w: &mut WindowState) -> Result<(), Refusal> {
        if w.progress.is_some() {
            return Ok(());
        }
        pages_ready(w)?;
        let checkpoint = w
            .checkpoint
            .clone()
            .ok_or((ErrorCode::OutOfOrder, "no checkpoint".to_string()))?;
        let loss_before_random = Evaluator::new(&checkpoint, self.config.batch_pages)
            .loss_at_base(&random_pages_of(w))
            .map_err(internal)?;
        w.progress = Some(Progress {
            loss_before_random,
            results: BTreeMap::new(),
            next: 0,
            asked: None,
            pending: None,
            done: false,
        });
        Ok(())
    }

    pub(super) fn next_gradient(
        &self,
        state: &mut State,
        window: u64,
        until_ms: u64,
    ) -> Result<Response, Refusal> {
        let w = state.windows.get_mut(&window).ok_or((
            ErrorCode::UnknownWindow,
            format!("window {window} is not open"),
        ))?;
        self.begin(w)?;
        let checkpoint = w
            .checkpoint
            .clone()
            .ok_or((ErrorCode::OutOfOrder, "no checkpoint".to_string()))?;
        let pending = w.progress.as_mut().and_then(|p| p.pending.take());
        if let Some((uid, blob)) = pending {
            let miner = MinerInput {
                uid,
                own_pages: own_pages_of(w, uid),
                blob: Some(&blob),
            };
            // The base loss on its own pages just before its step: nothing
            // is computed for miners the budget never reaches.
            let evaluator = Evaluator::new(&checkpoint, self.config.batch_pages);
            let before = evaluator.loss_at_base(&miner.own_pages).map_err(internal)?;
            let result = evaluator
                .score_one(
                    window,
                    &w.open.eval_params,
                    &miner,
                    before,
                    &random_pages_of(w),
                )
                .map_err(internal)?;
            if let Some(p) = w.progress.as_mut() {
                p.results.insert(uid, result);
                p.next += 1;
            }
        }
        let now = self.now_ms();
        let selected = w.selected.clone();
        let p = w
            .progress
            .as_mut()
            .ok_or((ErrorCode::Internal, "no progress".to_string()))?;
        if p.done || now >= until_ms || (p.asked.is_none() && p.next >= selected.len()) {
            // Out of budget or time: a blob asked for and not yet evaluated
            // is left `not evaluated`, like every one after it.
            p.done = true;
            p.asked = None;
        } else if p.asked.is_none() {
            p.asked = selected.get(p.next).copied();
        }
        Ok(Response::GradientNeeded {
            uid: if p.done { None } else { p.asked },
            evaluated: p.results.len() as u64,
        })
    }

    pub(super) fn finish(&self, state: &mut State, window: u64) -> Result<Response, Refusal> {
        if let Some((message, signature)) =
            state.records.get(window).and_then(|r| r.statement.clone())
        {
            return Ok(Response::Statement { message, signature });
        }
        let w = state.windows.get_mut(&window).ok_or((
            ErrorCode::UnknownWindow,
            format!("window {window} is not open"),
        ))?;
        // Finishing without evaluating anything still reports the base loss;
        // every valid blob is then `not evaluated`.
        self.begin(w)?;
        let (Some(request), Some(p)) = (&w.request, &w.progress) else {
            return refuse(ErrorCode::Internal, "evaluation did not begin");
        };
        let mut entries = Vec::with_capacity(w.open.miners.len());
        for m in &w.open.miners {
            let hash = m.gradient_hash.0.to_vec();
            let unscored = |status: EntryStatus, gradient_hash: Vec<u8>| ScoreEntry {
                miner_uid: m.uid,
                gradient_hash,
                status: status as u8,
                loss_before_own: 0,
                loss_after_own: 0,
                loss_after_random: 0,
            };
            entries.push(match (w.verdicts.get(&m.uid), p.results.get(&m.uid)) {
                (Some(Verdict::Missing) | None, _) => unscored(EntryStatus::Missing, Vec::new()),
                (Some(Verdict::Malformed), _) => unscored(EntryStatus::Malformed, hash),
                (Some(Verdict::Stale), _) => unscored(EntryStatus::Stale, hash),
                (Some(Verdict::Valid), None) => unscored(EntryStatus::NotEvaluated, hash),
                (Some(Verdict::Valid), Some(r)) if r.outcome != Outcome::Scored => {
                    unscored(r.outcome.status(), hash)
                }
                (Some(Verdict::Valid), Some(r)) => ScoreEntry {
                    miner_uid: m.uid,
                    gradient_hash: hash,
                    status: EntryStatus::Scored as u8,
                    loss_before_own: loss_to_u64(r.loss_before_own).map_err(internal)?,
                    loss_after_own: loss_to_u64(r.loss_after_own).map_err(internal)?,
                    loss_after_random: loss_to_u64(r.loss_after_random).map_err(internal)?,
                },
            });
        }
        let message = IntentMessage {
            intent: INTENT_WINDOW_SCORES,
            timestamp_ms: self.now_ms(),
            payload: WindowScores {
                window,
                validator: w.open.validator.0,
                checkpoint_hash: w.open.checkpoint_hash.0.to_vec(),
                dataset_root: w.open.dataset_root.0.to_vec(),
                eval_params_hash: w.eval_params_hash.to_vec(),
                eval_seed: request.seed.0.to_vec(),
                loss_before_random: loss_to_u64(p.loss_before_random).map_err(internal)?,
                entries,
            },
        };
        let signed = SignedStatement::sign(message, &self.key)
            .map_err(|e| (ErrorCode::Internal, e.to_string()))?;
        let out = (signed.bcs, signed.signature.to_vec());
        if let Some(checkpoint) = &w.checkpoint {
            // The cached checkpoint serves the next window from its base.
            checkpoint.restore_base().map_err(internal)?;
        }
        if let Some(record) = state.records.get_mut(window) {
            record.statement = Some(out.clone());
        }
        // The inputs are no longer needed: the statement is final.
        state.windows.remove(&window);
        Ok(Response::Statement {
            message: out.0,
            signature: out.1,
        })
    }
}
