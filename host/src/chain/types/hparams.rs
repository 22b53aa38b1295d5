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
        }
    }

    /// The evaluation parameters of a window of these values whose upload
    /// deadline is `upload_deadline_ms`, as `hparams::eval_params` builds them.
    pub fn eval_params(&self, upload_deadline_ms: u64) -> EvalParams {
        EvalParams {
            learning_rate_e9: self.learning_rate_e9,
            topk: self.topk_compression,
            page_len: self.page_len,
            own_pages: self.own_pages,
            random_pages: self.random_pages,
            max_scored: self.max_scored,
            upload_deadline_ms,
            seed_margin_ms: self.seed_margin_ms,
        }
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
        if self.seed_margin_ms >= self.window_duration_ms - self.put_window_open_ms {
            return bad("seed_margin_ms must be shorter than the scoring phase");
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
    /// Returns the new segment.
    pub fn schedule_update(&mut self, values: HparamValues, now_ms: u64) -> Option<Segment> {
        let window = self.window_at(now_ms) + 1;
        let start_ms = self.window_start_ms(window)?;
        if self.segments.last().is_some_and(|s| s.start_ms > now_ms) {
            self.segments.pop();
        }
        let segment = Segment {
            start_window: window,
            start_ms,
            values,
        };
        self.segments.push(segment.clone());
        self.version += 1;
        Some(segment)
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

impl HparamsObject {
    /// `hparams::eval_params(window)`: the values in force for `window` with
    /// its upload deadline. `None` before the schedule's start.
    pub fn eval_params(&self, window: u64) -> Option<EvalParams> {
        let s = self.segment_for_window(window)?;
        Some(s.values.eval_params(self.times(window)?.upload_deadline_ms))
    }

    /// `hparams::eval_params_hash(window)`: `sha256(bcs(EvalParams))`.
    pub fn eval_params_hash(&self, window: u64) -> Option<[u8; 32]> {
        let params = self.eval_params(window)?;
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
        hp.schedule_update(values(20), 5 * 600_000 + 1).unwrap();
        hp.schedule_update(values(30), 5 * 600_000 + 2).unwrap();
        hp.schedule_update(values(40), 8 * 600_000).unwrap();
        assert_eq!(hp.segments.len(), 3);
        assert_eq!(hp.version, 3);
        assert_eq!(hp.values(5).map(|v| v.max_scored), Some(10));
        assert_eq!(hp.values(6).map(|v| v.max_scored), Some(30));
        assert_eq!(hp.values(100).map(|v| v.max_scored), Some(40));
        let p = hp.eval_params(7).unwrap();
        assert_eq!(p.max_scored, 30);
        assert_eq!(p.upload_deadline_ms, 7 * 600_000 + 480_000);
        assert_eq!(hp.window_at(9 * 600_000 - 1), 8);
        assert_eq!(
            hp.values_at_ms(6 * 600_000 - 1).map(|v| v.max_scored),
            Some(10)
        );
    }
}
