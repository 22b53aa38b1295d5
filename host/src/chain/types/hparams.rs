//! Twins of `vramhub::hparams`: the parameters, their schedule segments,
//! and the window arithmetic on them.

use serde::{Deserialize, Serialize};
use vram_enclave::eval::EvalParams;

use crate::error::Result;

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
    /// Most entries a statement scores; the valid rest are `not evaluated`.
    pub max_scored: u64,
    /// How long after the upload deadline the enclave waits before it opens
    /// a window (covers enclave clock drift).
    pub seed_margin_ms: u64,
    /// Walrus blob id of the dataset index (`vram-dataset/1`); empty until
    /// governance sets a dataset.
    pub dataset_blob: Vec<u8>,
    /// How long after the upload deadline the window's statements are
    /// accepted (at most a window: W is scored while miners upload W+1).
    pub scoring_span_ms: u64,
    /// The reveal phase right after the upload deadline.
    pub reveal_ms: u64,
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
            max_scored: 256,
            seed_margin_ms: 10_000,
            dataset_blob: Vec::new(),
            scoring_span_ms: 600_000,
            reveal_ms: 30_000,
        }
    }

    /// The evaluation parameters of a window of these values whose upload
    /// deadline is `upload_deadline_ms`, for a validator whose budget for it
    /// is `budget`, as `hparams::eval_params` builds them.
    pub fn eval_params(&self, upload_deadline_ms: u64, budget: u64) -> EvalParams {
        EvalParams {
            learning_rate_e9: self.learning_rate_e9,
            topk: self.topk_compression,
            page_len: self.page_len,
            own_pages: self.own_pages,
            random_pages: self.random_pages,
            max_scored: budget.min(self.max_scored),
            upload_deadline_ms,
            seed_margin_ms: self.seed_margin_ms,
            opens_at_ms: self.opens_at_ms(upload_deadline_ms),
            scoring_end_ms: upload_deadline_ms.saturating_add(self.scoring_span_ms),
        }
    }

    /// `round_state::opens_at_ms` for a window with this upload deadline.
    pub fn opens_at_ms(&self, upload_deadline_ms: u64) -> u64 {
        upload_deadline_ms
            .saturating_add(self.reveal_ms)
            .saturating_add(self.seed_margin_ms)
    }

    /// The checks `hparams::validate` makes, in its order, each failing
    /// with the abort Move raises for it (`EInvalidValue`,
    /// `EBadDatasetRoot`, `EBadDatasetBlob`).
    pub fn validate(&self) -> Result<()> {
        use crate::chain::aborts::hparams::{EBadDatasetBlob, EBadDatasetRoot, EInvalidValue};
        let bad = |reason: &str| Err(EInvalidValue.err(format!("hparams: {reason}")));
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
        if self.dataset_root.len() != 32 {
            return Err(EBadDatasetRoot.err("hparams: dataset_root must be 32 bytes"));
        }
        if self.dataset_pages == 0 {
            return bad("dataset_pages must be positive");
        }
        if self.dataset_blob.len() != 32 {
            return Err(
                EBadDatasetBlob.err("hparams: dataset_blob must be a 32-byte Walrus blob id")
            );
        }
        if self.max_scored == 0 {
            return bad("max_scored must be positive");
        }
        if self
            .reveal_ms
            .saturating_add(self.seed_margin_ms.saturating_mul(2))
            >= self.scoring_span_ms
        {
            return bad("need reveal_ms + 2 x seed_margin_ms < scoring_span_ms");
        }
        if self.scoring_span_ms > self.window_duration_ms {
            return bad("scoring_span_ms must be at most window_duration_ms");
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
    /// Every segment ever in force, ascending `start_window` (never empty on
    /// chain: the genesis segment starts at 0); the last may be pending.
    pub segments: Vec<Segment>,
}

impl HparamsObject {
    /// An object holding only `genesis`.
    pub fn new(id: [u8; 32], genesis: Segment) -> Self {
        Self {
            id,
            version: 0,
            segments: vec![genesis],
        }
    }

    /// The last segment that started at or before `now_ms`.
    fn segment_at_ms(&self, now_ms: u64) -> Option<&Segment> {
        let n = self.segments.partition_point(|s| s.start_ms <= now_ms);
        n.checked_sub(1).and_then(|i| self.segments.get(i))
    }

    /// The segment in force for `window`; `None` before the schedule's start.
    pub fn segment_for_window(&self, window: u64) -> Option<&Segment> {
        let n = self.segments.partition_point(|s| s.start_window <= window);
        n.checked_sub(1).and_then(|i| self.segments.get(i))
    }

    /// The values in force for `window`.
    pub fn values(&self, window: u64) -> Option<&HparamValues> {
        self.segment_for_window(window).map(|s| &s.values)
    }

    /// The values in force at chain time `now_ms`.
    pub fn values_at_ms(&self, now_ms: u64) -> Option<&HparamValues> {
        self.segment_at_ms(now_ms).map(|s| &s.values)
    }

    /// `hparams::window_at` (0 on an empty object, which the chain never holds).
    pub fn window_at(&self, now_ms: u64) -> u64 {
        self.segment_at_ms(now_ms).map_or(0, |s| {
            s.start_window + now_ms.saturating_sub(s.start_ms) / s.values.window_duration_ms.max(1)
        })
    }

    /// `hparams::window_start_ms`.
    pub fn window_start_ms(&self, window: u64) -> Option<u64> {
        let s = self.segment_for_window(window)?;
        (window - s.start_window)
            .checked_mul(s.values.window_duration_ms)?
            .checked_add(s.start_ms)
    }

    /// `hparams::update_hparams` at chain time `now_ms`: `values` from the
    /// next window boundary; a pending segment (not yet started) is replaced.
    /// Returns the new segment; `EWindowsOverlap` when the last window under
    /// the values in force would still be scoring when the first window
    /// under `values` opens; `None` before the schedule's start.
    pub fn schedule_update(
        &mut self,
        values: HparamValues,
        now_ms: u64,
    ) -> Option<Result<Segment>> {
        let window = self.window_at(now_ms) + 1;
        let start_ms = self.window_start_ms(window)?;
        let pending = self.segments.last().is_some_and(|s| s.start_ms > now_ms);
        // The window before the boundary is under the values in force,
        // whether or not a pending segment is replaced.
        let before_end = self.times(window - 1)?.scoring_end_ms;
        let opens_at = values.opens_at_ms(start_ms.checked_add(values.put_window_open_ms)?);
        if before_end > opens_at {
            return Some(Err(crate::chain::aborts::hparams::EWindowsOverlap.err(
                format!(
                    "hparams: window {} would score until {before_end}, after window {window} \
                     opens at {opens_at}",
                    window - 1
                ),
            )));
        }
        if pending {
            self.segments.pop();
        }
        let segment = Segment {
            start_window: window,
            start_ms,
            values,
        };
        self.segments.push(segment.clone());
        self.version += 1;
        Some(Ok(segment))
    }
}

/// The per-window schedule a host or ledger acts on (design §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowTimes {
    /// Window start.
    pub start_ms: u64,
    /// Upload deadline (the reveal phase starts).
    pub upload_deadline_ms: u64,
    /// The end of the reveal phase: commitments and reveals are final.
    pub reveal_end_ms: u64,
    /// The enclave may open the window; the chain accepts statements.
    pub opens_at_ms: u64,
    /// The last moment the enclave signs (`scoring_end_ms - seed_margin_ms`).
    pub sign_by_ms: u64,
    /// The chain no longer accepts statements.
    pub scoring_end_ms: u64,
    /// Window end (the next window's uploads start; this one's scoring goes on).
    pub end_ms: u64,
}

impl HparamsObject {
    /// `round_state::{window_start_ms, upload_deadline_ms, window_end_ms}`.
    pub fn times(&self, window: u64) -> Option<WindowTimes> {
        let v = &self.segment_for_window(window)?.values;
        let start_ms = self.window_start_ms(window)?;
        let deadline = start_ms.checked_add(v.put_window_open_ms)?;
        let scoring_end_ms = deadline.checked_add(v.scoring_span_ms)?;
        Some(WindowTimes {
            start_ms,
            upload_deadline_ms: deadline,
            reveal_end_ms: deadline.checked_add(v.reveal_ms)?,
            opens_at_ms: v.opens_at_ms(deadline),
            sign_by_ms: scoring_end_ms.saturating_sub(v.seed_margin_ms),
            scoring_end_ms,
            end_ms: start_ms.checked_add(v.window_duration_ms)?,
        })
    }
}

impl HparamsObject {
    /// `hparams::eval_params(window, budget)`: the values in force for
    /// `window` with its timeline and the validator's budget. `None` before
    /// the schedule's start.
    pub fn eval_params(&self, window: u64, budget: u64) -> Option<EvalParams> {
        let s = self.segment_for_window(window)?;
        Some(
            s.values
                .eval_params(self.times(window)?.upload_deadline_ms, budget),
        )
    }

    /// `hparams::eval_params_hash(window, budget)`: `sha256(bcs(EvalParams))`.
    pub fn eval_params_hash(&self, window: u64, budget: u64) -> Option<[u8; 32]> {
        let params = self.eval_params(window, budget)?;
        Some(vram_attestation::sha256(&bcs::to_bytes(&params).ok()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(max_scored: u64) -> HparamValues {
        HparamValues {
            max_scored,
            ..HparamValues::defaults()
        }
    }

    #[test]
    fn every_window_is_judged_by_the_values_in_force_then() {
        let genesis = Segment {
            start_window: 0,
            start_ms: 0,
            values: values(10),
        };
        let mut hp = HparamsObject::new([0; 32], genesis);
        // During window 5: from window 6. Replaced before it took effect.
        hp.schedule_update(values(20), 5 * 600_000 + 1)
            .unwrap()
            .unwrap();
        hp.schedule_update(values(30), 5 * 600_000 + 2)
            .unwrap()
            .unwrap();
        hp.schedule_update(values(40), 8 * 600_000)
            .unwrap()
            .unwrap();
        assert_eq!(hp.segments.len(), 3);
        assert_eq!(hp.version, 3);
        assert_eq!(hp.values(5).map(|v| v.max_scored), Some(10));
        assert_eq!(hp.values(6).map(|v| v.max_scored), Some(30));
        assert_eq!(hp.values(100).map(|v| v.max_scored), Some(40));
        let p = hp.eval_params(7, 1000).unwrap();
        assert_eq!(p.max_scored, 30);
        assert_eq!(hp.eval_params(7, 12).unwrap().max_scored, 12);
        assert_eq!(p.upload_deadline_ms, 7 * 600_000 + 480_000);
        assert_eq!(p.opens_at_ms, 7 * 600_000 + 520_000);
        assert_eq!(p.scoring_end_ms, 8 * 600_000 + 480_000);
        assert_eq!(p.sign_by_ms(), 8 * 600_000 + 470_000);
        assert_eq!(hp.window_at(9 * 600_000 - 1), 8);
        assert_eq!(
            hp.values_at_ms(6 * 600_000 - 1).map(|v| v.max_scored),
            Some(10)
        );
    }

    #[test]
    fn an_update_that_puts_two_windows_in_flight_is_refused() {
        let genesis = Segment {
            start_window: 0,
            start_ms: 0,
            values: values(10),
        };
        let mut hp = HparamsObject::new([0; 32], genesis);
        let halved = HparamValues {
            window_duration_ms: 300_000,
            put_window_open_ms: 200_000,
            scoring_span_ms: 300_000,
            ..values(10)
        };
        // Window 5 scores until 600 s past its deadline: window 6 cannot
        // open 240 s into it.
        let err = hp
            .schedule_update(halved.clone(), 5 * 600_000 + 10)
            .unwrap()
            .unwrap_err();
        assert!(err.to_string().contains("EWindowsOverlap"), "{err}");
        assert_eq!(hp.segments.len(), 1);
        // Shorten the span first, then the window.
        let short_span = HparamValues {
            scoring_span_ms: 300_000,
            ..values(10)
        };
        hp.schedule_update(short_span, 5 * 600_000 + 10)
            .unwrap()
            .unwrap();
        hp.schedule_update(halved, 6 * 600_000 + 10)
            .unwrap()
            .unwrap();
        assert_eq!(hp.window_start_ms(8), Some(4_500_000));
        let (w6, w7) = (hp.times(6).unwrap(), hp.times(7).unwrap());
        assert!(w6.scoring_end_ms <= w7.opens_at_ms);
    }
}
