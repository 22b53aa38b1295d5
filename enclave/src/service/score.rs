//! Scoring a window one blob at a time (design §3, step 3): the base loss on
//! the random pages once, then each valid blob in the seed's order, uploaded
//! again by the host when the enclave asks for it: the base loss on its
//! miner's own pages, the step, the losses after it, and the blob is
//! dropped; until `min(max_scored, valid)` are scored; then the signed
//! statement, and no other: the host cannot stop the count early, and past
//! the window's last moment to sign (`scoring_end_ms - seed_margin_ms` by the
//! enclave's clock) nothing is signed at all (design §4.4). No work is spent
//! on miners past the budget. Memory: the model, its working copy, one blob
//! and one batch of activations, whatever the number of miners.

use std::collections::BTreeMap;
use std::sync::Arc;

use vram_attestation::statement::{
    EntryStatus, IntentMessage, ScoreEntry, SignedStatement, WindowScores, INTENT_WINDOW_SCORES,
};

use crate::eval::{loss_to_u64, Evaluator, MinerInput, MinerResult, Outcome};
use crate::model::Checkpoint;
use crate::protocol::{ErrorCode, OpenWindow, Response};

use super::{refuse, Enclave, Evaluating, Phase, Refusal, State, Verdict, WindowState};

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
}

fn internal(e: crate::Error) -> Refusal {
    (ErrorCode::Internal, e.to_string())
}

/// An open window past its seed, split into what scoring reads and the
/// evaluation it advances.
struct Scoring<'a> {
    open: &'a OpenWindow,
    eval_params_hash: &'a [u8; 32],
    verdicts: &'a BTreeMap<u64, Verdict>,
    e: &'a mut Evaluating,
    checkpoint: Arc<Checkpoint>,
}

/// The window `window`, if it is open and past its seed.
fn scoring(state: &mut State, window: u64) -> Result<Scoring<'_>, Refusal> {
    let w = state.windows.get_mut(&window).ok_or((
        ErrorCode::UnknownWindow,
        format!("window {window} is not open"),
    ))?;
    let checkpoint = w
        .checkpoint
        .clone()
        .ok_or((ErrorCode::OutOfOrder, "no checkpoint".to_string()))?;
    let WindowState {
        open,
        eval_params_hash,
        verdicts,
        phase,
        ..
    } = w;
    let Phase::Evaluating(e) = phase else {
        return refuse(ErrorCode::OutOfOrder, "request and send pages first");
    };
    Ok(Scoring {
        open,
        eval_params_hash,
        verdicts,
        e,
        checkpoint,
    })
}

impl Scoring<'_> {
    /// Refuses once the enclave's clock reaches the window's last moment to
    /// sign: an unfinished budget loses the window, it is never cut short.
    fn check_time(&self, now: u64) -> Result<(), Refusal> {
        let p = &self.open.eval_params;
        if now >= p.sign_by_ms() {
            return refuse(
                ErrorCode::WindowExpired,
                format!(
                    "window {}: out of time at {now} (sign by {}), {} of {} scored; \
                     nothing is signed for this window",
                    self.open.window,
                    p.sign_by_ms(),
                    self.e.scored(),
                    self.e.selected.len()
                ),
            );
        }
        Ok(())
    }
}

impl Evaluating {
    /// Every requested page arrived.
    fn pages_ready(&self) -> Result<(), Refusal> {
        let missing = self
            .request
            .pages()
            .iter()
            .filter(|i| !self.pages.contains_key(i))
            .count();
        if missing > 0 {
            return refuse(
                ErrorCode::PagesMissing,
                format!("{missing} requested pages have not arrived"),
            );
        }
        Ok(())
    }

    fn page(&self, i: &u64) -> &[u32] {
        self.pages.get(i).map(Vec::as_slice).unwrap_or_default()
    }

    fn own_pages_of(&self, uid: u64) -> Vec<&[u32]> {
        self.request
            .own
            .iter()
            .find(|(u, _)| *u == uid)
            .map(|(_, idx)| idx.iter().map(|i| self.page(i)).collect())
            .unwrap_or_default()
    }

    fn random_pages(&self) -> Vec<&[u32]> {
        self.request.random.iter().map(|i| self.page(i)).collect()
    }

    fn scored(&self) -> usize {
        self.progress.as_ref().map_or(0, |p| p.results.len())
    }
}

impl Enclave {
    /// The base loss on the random pages, once.
    fn begin(&self, e: &mut Evaluating, checkpoint: &Checkpoint) -> Result<(), Refusal> {
        if e.progress.is_some() {
            return Ok(());
        }
        e.pages_ready()?;
        let loss_before_random = Evaluator::new(checkpoint, self.config.batch_pages)
            .loss_at_base(&e.random_pages())
            .map_err(internal)?;
        e.progress = Some(Progress {
            loss_before_random,
            results: BTreeMap::new(),
            next: 0,
            asked: None,
            pending: None,
        });
        Ok(())
    }

    pub(super) fn next_gradient(
        &self,
        state: &mut State,
        window: u64,
    ) -> Result<Response, Refusal> {
        let s = scoring(state, window)?;
        s.check_time(self.now_ms())?;
        let e = &mut *s.e;
        self.begin(e, &s.checkpoint)?;
        let pending = e.progress.as_mut().and_then(|p| p.pending.take());
        if let Some((uid, blob)) = pending {
            let miner = MinerInput {
                uid,
                own_pages: e.own_pages_of(uid),
                blob: Some(&blob),
            };
            // The base loss on its own pages just before its step: nothing
            // is computed for miners the budget never reaches.
            let evaluator = Evaluator::new(&s.checkpoint, self.config.batch_pages);
            let before = evaluator.loss_at_base(&miner.own_pages).map_err(internal)?;
            let result = evaluator
                .score_one(
                    window,
                    &s.open.eval_params,
                    &miner,
                    before,
                    &e.random_pages(),
                )
                .map_err(internal)?;
            if let Some(p) = e.progress.as_mut() {
                p.results.insert(uid, result);
                p.next += 1;
            }
        }
        // The evaluation above may have run past the last moment to sign.
        s.check_time(self.now_ms())?;
        let e = &mut *s.e;
        let next = e.progress.as_ref().map_or(0, |p| p.next);
        let wanted = e.selected.get(next).copied();
        let p = e
            .progress
            .as_mut()
            .ok_or((ErrorCode::Internal, "no progress".to_string()))?;
        if p.asked.is_none() {
            p.asked = wanted;
        }
        Ok(Response::GradientNeeded {
            uid: p.asked,
            evaluated: p.results.len() as u64,
        })
    }

    pub(super) fn finish(&self, state: &mut State, window: u64) -> Result<Response, Refusal> {
        if let Some((message, signature)) =
            state.records.get(window).and_then(|r| r.statement.clone())
        {
            return Ok(Response::Statement { message, signature });
        }
        let s = scoring(state, window)?;
        s.check_time(self.now_ms())?;
        let checkpoint = Arc::clone(&s.checkpoint);
        let e = &mut *s.e;
        // A window without valid blobs still reports the base loss.
        self.begin(e, &checkpoint)?;
        let Some(p) = &e.progress else {
            return refuse(ErrorCode::Internal, "evaluation did not begin");
        };
        // Exactly the budget: the first min(max_scored, valid) in the
        // seed's order, every one evaluated (design §4.4). A host that
        // stops early, or re-opens the window to start over, gets nothing.
        if e.scored() < e.selected.len() {
            return refuse(
                ErrorCode::BudgetNotScored,
                format!(
                    "window {window}: {} of {} scored; a statement scores exactly \
                     min(max_scored, valid) = {}",
                    e.scored(),
                    e.selected.len(),
                    e.selected.len()
                ),
            );
        }
        let mut entries = Vec::with_capacity(s.open.miners.len());
        for m in &s.open.miners {
            let hash = m.gradient_hash.0.to_vec();
            let unscored = |status: EntryStatus, gradient_hash: Vec<u8>| ScoreEntry {
                miner_uid: m.uid,
                gradient_hash,
                status: status as u8,
                loss_before_own: 0,
                loss_after_own: 0,
                loss_after_random: 0,
            };
            entries.push(match (s.verdicts.get(&m.uid), p.results.get(&m.uid)) {
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
                validator: s.open.validator.0,
                checkpoint_hash: s.open.checkpoint_hash.0.to_vec(),
                dataset_root: s.open.dataset_root.0.to_vec(),
                eval_params_hash: s.eval_params_hash.to_vec(),
                eval_seed: e.request.seed.0.to_vec(),
                loss_before_random: loss_to_u64(p.loss_before_random).map_err(internal)?,
                entries,
            },
        };
        let signed = SignedStatement::sign(message, &self.key)
            .map_err(|e| (ErrorCode::Internal, e.to_string()))?;
        let out = (signed.bcs, signed.signature.to_vec());
        // The cached checkpoint serves the next window from its base.
        checkpoint.restore_base().map_err(internal)?;
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
