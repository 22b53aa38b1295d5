//! The loss-delta evaluator: per miner, one sign-SGD step
//! `w - lr * sign(decoded)` and the losses around it (design.md §3, step 3).
//!
//! Memory: the checkpoint's base weights, one working copy that the model
//! reads, one decoded parameter at a time, and the activations of one batch
//! of pages. A miner's step overwrites the working copy parameter by
//! parameter from the base, so nothing needs reverting and no second model
//! is ever allocated.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use vram_attestation::statement::EntryStatus;

use crate::codec::{decode_param, read_blob, Bases, GradientBlob};
use crate::error::{Error, Result};
use crate::model::Checkpoint;

/// The evaluation parameters every validator must use, built by the chain
/// from the Hparams in force for the window (design §4.4; field order is
/// normative); their BCS hash goes into each statement, so a host that lies
/// about any of them gets a statement the chain refuses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvalParams {
    /// sign-SGD learning rate, times 1e9.
    pub learning_rate_e9: u64,
    /// Coefficients per chunk (`topk_compression`).
    pub topk: u64,
    /// Tokens per page.
    pub page_len: u64,
    /// Pages of a miner's own data evaluated per window.
    pub own_pages: u64,
    /// Shared random pages evaluated per window.
    pub random_pages: u64,
    /// The validator's declared budget for the window: a statement scores
    /// exactly `min(max_scored, valid)`; the valid rest are `not evaluated`.
    pub max_scored: u64,
    /// The window's upload deadline, chain time (Unix ms).
    pub upload_deadline_ms: u64,
    /// The enclave's clock drift allowance: it opens the window no earlier
    /// than `opens_at_ms` and signs no later than `scoring_end_ms -
    /// seed_margin_ms`.
    pub seed_margin_ms: u64,
    /// When the enclave may open the window: the upload deadline, the
    /// reveal phase and the seed margin later (design §3).
    pub opens_at_ms: u64,
    /// When the chain stops accepting the window's statements: the upload
    /// deadline plus the scoring span.
    pub scoring_end_ms: u64,
}

impl EvalParams {
    /// The learning rate as the evaluator applies it.
    pub fn learning_rate(&self) -> f32 {
        (self.learning_rate_e9 as f64 / 1e9) as f32
    }

    /// Checks the parameters against a model.
    pub fn validate(&self, block_size: usize) -> Result<()> {
        let bad = |reason: String| Err(Error::BadEvalParams { reason });
        if self.learning_rate_e9 == 0 {
            return bad("learning rate is zero".into());
        }
        if self.topk == 0 || self.topk > 4096 {
            return bad(format!("topk {} outside 1..=4096", self.topk));
        }
        if self.page_len < 2 || self.page_len > block_size as u64 + 1 {
            return bad(format!(
                "page_len {} outside 2..={} (block_size + 1)",
                self.page_len,
                block_size + 1
            ));
        }
        if self.own_pages == 0 || self.random_pages == 0 {
            return bad("own_pages and random_pages must be positive".into());
        }
        if self.max_scored == 0 {
            return bad("max_scored must be positive".into());
        }
        // The chain builds these so that the window opens after its deadline
        // and leaves time to score before the last moment to sign.
        if self.opens_at_ms < self.upload_deadline_ms.saturating_add(self.seed_margin_ms)
            || self.opens_at_ms >= self.sign_by_ms()
        {
            return bad(format!(
                "timeline out of order: deadline {}, opens at {}, signs by {} (scoring end {} \
                 less the seed margin {})",
                self.upload_deadline_ms,
                self.opens_at_ms,
                self.sign_by_ms(),
                self.scoring_end_ms,
                self.seed_margin_ms
            ));
        }
        Ok(())
    }

    /// The last moment, by the enclave's clock, at which it signs the
    /// window's statement: the seed margin before the scoring span ends, so
    /// that a drifting clock still lands the statement inside the span.
    pub fn sign_by_ms(&self) -> u64 {
        self.scoring_end_ms.saturating_sub(self.seed_margin_ms)
    }
}

/// Mean token cross-entropy as the statement carries it: times 1e9, rounded.
/// A loss that is not a finite, non-negative number that fits is an error:
/// NaN would otherwise read as 0, a perfect score.
pub fn loss_to_u64(loss: f64) -> Result<u64> {
    let scaled = (loss * 1e9).round();
    if !scaled.is_finite() || scaled < 0.0 || scaled >= u64::MAX as f64 {
        return Err(Error::BadLoss { loss });
    }
    Ok(scaled as u64)
}

/// Parses a blob against the checkpoint's shapes and checks that it was made
/// for this window, miner and checkpoint: the cheap validation a blob gets as
/// it arrives, before any seed exists.
pub fn check_blob(
    checkpoint: &Checkpoint,
    bytes: &[u8],
    uid: u64,
    window: u64,
    topk: usize,
) -> std::result::Result<GradientBlob, Outcome> {
    let blob = read_blob(bytes, checkpoint.shapes(), topk).map_err(Outcome::Malformed)?;
    let meta = &blob.metadata;
    if meta.miner_uid != uid {
        return Err(Outcome::Malformed(Error::BadMetadata {
            key: "miner_uid",
            reason: format!("{}, submitted by miner {uid}", meta.miner_uid),
        }));
    }
    if meta.base_checkpoint != checkpoint.hash() {
        return Err(Outcome::Stale("computed on another checkpoint".into()));
    }
    if meta.window != window {
        return Err(Outcome::Stale(format!(
            "made for window {}, not {window}",
            meta.window
        )));
    }
    Ok(blob)
}

/// One miner's submission for the window.
#[derive(Debug, Clone)]
pub struct MinerInput<'a> {
    /// The miner.
    pub uid: u64,
    /// Its own pages for this window.
    pub own_pages: Vec<&'a [u32]>,
    /// Its blob, if one arrived.
    pub blob: Option<&'a [u8]>,
}

/// Why a miner got the score it got.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Decoded, applied and measured.
    Scored,
    /// No blob.
    Missing,
    /// The blob failed validation.
    Malformed(Error),
    /// The blob was made for another window or checkpoint.
    Stale(String),
    /// Valid, but past the window's `max_scored` in the seed's order.
    NotEvaluated,
}

impl Outcome {
    /// The statement status this outcome is reported as.
    pub fn status(&self) -> EntryStatus {
        match self {
            Self::Scored => EntryStatus::Scored,
            Self::Missing => EntryStatus::Missing,
            Self::Malformed(_) => EntryStatus::Malformed,
            Self::Stale(_) => EntryStatus::Stale,
            Self::NotEvaluated => EntryStatus::NotEvaluated,
        }
    }
}

/// One miner's result. Losses are mean token cross-entropies (nats); they
/// are zero unless the outcome is [`Outcome::Scored`].
#[derive(Debug, Clone, PartialEq)]
pub struct MinerResult {
    /// The miner.
    pub uid: u64,
    /// What happened.
    pub outcome: Outcome,
    /// On its own pages, before the step.
    pub loss_before_own: f64,
    /// On its own pages, after the step.
    pub loss_after_own: f64,
    /// On the random pages, after the step.
    pub loss_after_random: f64,
}

/// The window's results.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowEvaluation {
    /// Base loss on the random pages.
    pub loss_before_random: f64,
    /// One result per miner, ascending uid.
    pub miners: Vec<MinerResult>,
}

/// Scores gradients against one checkpoint.
pub struct Evaluator<'c> {
    checkpoint: &'c Checkpoint,
    bases: Bases,
    batch_pages: usize,
}

impl<'c> Evaluator<'c> {
    /// An evaluator running forward passes `batch_pages` pages at a time
    /// (the activation memory bound).
    pub fn new(checkpoint: &'c Checkpoint, batch_pages: usize) -> Self {
        let mut bases = Bases::new();
        for layout in checkpoint.shapes().params().values() {
            bases.prepare(layout.n1);
            bases.prepare(layout.n2);
        }
        Self {
            checkpoint,
            bases,
            batch_pages: batch_pages.max(1),
        }
    }

    /// Mean token cross-entropy of the working weights over `pages`, which
    /// must all have one length and tokens below the vocabulary size
    /// (checked by the model; a bad page is reported by its index here).
    pub fn loss(&self, pages: &[&[u32]]) -> Result<f64> {
        if pages.is_empty() {
            return Err(Error::BadPage {
                index: 0,
                reason: "no pages".into(),
            });
        }
        let len = pages[0].len();
        let (mut sum, mut count) = (0f64, 0usize);
        // Page sums added in page order: the same bits for any batch size.
        for (b, batch) in pages.chunks(self.batch_pages).enumerate() {
            let offset = b * self.batch_pages;
            // The model checks a batch against its own first page; across
            // batches, the first page of all sets the length.
            let first = batch.first().map_or(len, |p| p.len());
            if first != len {
                return Err(Error::BadPage {
                    index: offset,
                    reason: format!("{first} tokens, pages need {len}"),
                });
            }
            let sums = self.checkpoint.page_sums(batch).map_err(|e| match e {
                Error::BadPage { index, reason } => Error::BadPage {
                    index: index + offset,
                    reason,
                },
                other => other,
            })?;
            for page_sum in sums {
                sum += page_sum;
                count += len - 1;
            }
        }
        Ok(sum / count as f64)
    }

    /// Parses a blob and checks that it was made for this window, miner and
    /// checkpoint.
    pub fn check_blob(
        &self,
        bytes: &[u8],
        uid: u64,
        window: u64,
        topk: usize,
    ) -> std::result::Result<GradientBlob, Outcome> {
        check_blob(self.checkpoint, bytes, uid, window, topk)
    }

    /// Sets the working weights to `base - lr * sign(decoded)`, parameter by
    /// parameter. `sign(0) = 0`, as in PyTorch.
    pub fn apply_sign_step(&self, blob: &GradientBlob, learning_rate: f32) -> Result<()> {
        for param in &blob.params {
            let base = self
                .checkpoint
                .base(&param.name)
                .ok_or_else(|| Error::BadCheckpoint {
                    reason: format!("no parameter {}", param.name),
                })?;
            let mut values = decode_param(param, &self.bases)?;
            for (v, &w) in values.iter_mut().zip(base) {
                let sign = if *v > 0.0 {
                    1.0
                } else if *v < 0.0 {
                    -1.0
                } else {
                    0.0
                };
                *v = w - learning_rate * sign;
            }
            self.checkpoint.set_working(&param.name, &values)?;
        }
        Ok(())
    }

    /// The base losses (working copy reset to the checkpoint first): on the
    /// random pages, and on each listed miner's own pages. They need no
    /// gradient, so they are computed once, before any step.
    pub fn base_losses(
        &self,
        random_pages: &[&[u32]],
        own: &[(u64, Vec<&[u32]>)],
    ) -> Result<(f64, BTreeMap<u64, f64>)> {
        self.checkpoint.restore_base()?;
        let random = self.loss(random_pages)?;
        let own = own
            .iter()
            .map(|(uid, pages)| Ok((*uid, self.loss(pages)?)))
            .collect::<Result<BTreeMap<_, _>>>()?;
        Ok((random, own))
    }

    /// Mean token cross-entropy of the checkpoint's own weights over `pages`
    /// (the working copy is reset to the base first).
    pub fn loss_at_base(&self, pages: &[&[u32]]) -> Result<f64> {
        self.checkpoint.restore_base()?;
        self.loss(pages)
    }

    /// Scores one miner: parses its blob (a bad one is an outcome, not an
    /// error), takes the sign-SGD step on the working copy and measures the
    /// losses after it. The step overwrites every parameter from the base,
    /// so no reset is needed between miners; base losses must come first.
    pub fn score_one(
        &self,
        window: u64,
        params: &EvalParams,
        miner: &MinerInput<'_>,
        loss_before_own: f64,
        random_pages: &[&[u32]],
    ) -> Result<MinerResult> {
        let topk = usize::try_from(params.topk).unwrap_or(usize::MAX);
        let checked = match miner.blob {
            None => Err(Outcome::Missing),
            Some(bytes) => self.check_blob(bytes, miner.uid, window, topk),
        };
        let blob = match checked {
            Ok(blob) => blob,
            Err(outcome) => {
                return Ok(MinerResult {
                    uid: miner.uid,
                    outcome,
                    loss_before_own: 0.0,
                    loss_after_own: 0.0,
                    loss_after_random: 0.0,
                })
            }
        };
        self.apply_sign_step(&blob, params.learning_rate())?;
        Ok(MinerResult {
            uid: miner.uid,
            outcome: Outcome::Scored,
            loss_before_own,
            loss_after_own: self.loss(&miner.own_pages)?,
            loss_after_random: self.loss(random_pages)?,
        })
    }

    /// Scores every miner of a window (design.md §3, step 3), as the
    /// enclave does one blob at a time. Leaves the working weights at the
    /// base.
    pub fn evaluate_window(
        &self,
        window: u64,
        params: &EvalParams,
        random_pages: &[&[u32]],
        miners: &[MinerInput<'_>],
    ) -> Result<WindowEvaluation> {
        params.validate(self.checkpoint.config().block_size())?;
        if miners.windows(2).any(|w| w[0].uid >= w[1].uid) {
            return Err(Error::BadEvalParams {
                reason: "miners must be sorted by uid, without duplicates".into(),
            });
        }
        let own: Vec<(u64, Vec<&[u32]>)> = miners
            .iter()
            .filter(|m| m.blob.is_some())
            .map(|m| (m.uid, m.own_pages.clone()))
            .collect();
        let (loss_before_random, before_own) = self.base_losses(random_pages, &own)?;
        let results = miners
            .iter()
            .map(|m| {
                let before = before_own.get(&m.uid).copied().unwrap_or(0.0);
                let mut r = self.score_one(window, params, m, before, random_pages)?;
                if r.outcome != Outcome::Scored {
                    r.loss_before_own = 0.0;
                }
                Ok(r)
            })
            .collect::<Result<Vec<_>>>()?;
        self.checkpoint.restore_base()?;
        Ok(WindowEvaluation {
            loss_before_random,
            miners: results,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_loss_that_is_not_a_number_is_an_error_not_a_perfect_score() {
        assert_eq!(loss_to_u64(4.2).ok(), Some(4_200_000_000));
        assert_eq!(loss_to_u64(0.0).ok(), Some(0));
        for bad in [f64::NAN, f64::INFINITY, -1.0, 1e11] {
            assert!(
                matches!(loss_to_u64(bad), Err(Error::BadLoss { .. })),
                "{bad}"
            );
        }
    }
}
