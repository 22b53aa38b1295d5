//! From statements to rankings: each window's entries become scores (the
//! loss improvement on the shared random pages, gated by the own-vs-random
//! indicator), the scores rank the miners in one OpenSkill Plackett-Luce
//! match, and the top `top_g` by ordinal are the window's aggregation set.
//! Everything here is a pure function of public statements, the Hparams in
//! force for each window and the miners registered on chain.
//!
//! Who plays a window's match: every committed miner whose blob the
//! validator evaluated or found bad (scored, malformed, stale), and every
//! registered miner that committed nothing (ranked last, like a bad blob:
//! absence of a commitment is on chain for anyone to see). A `missing` entry
//! (the validator's host did not deliver the blob) and a `not evaluated`
//! one (past the validator's budget) cost the miner nothing: a host cannot
//! sink a rival by withholding its blob.
//!
//! The own-vs-random indicator (after Templar's): an honest miner trains on
//! its own pages, so its step lowers the loss on them clearly more than on
//! pages it never saw: by more than [`OWN_FACTOR`] times, and by a positive
//! amount. A gradient that does not (noise, a copy of someone else's work,
//! which helps the copier's pages no more than any others) has its score
//! pushed below zero, under every gradient that passes.

use std::collections::BTreeMap;

use serde::Serialize;
use vram_attestation::statement::{EntryStatus, ScoreEntry, WindowScores};

use crate::chain::types::HparamValues;
use crate::error::Result;
use crate::ratings::{PlackettLuce, Rating};

/// The score of a bad blob (malformed, stale) or of a registered miner
/// that committed nothing: below any scored entry, tied among themselves.
pub const UNSCORED: f64 = -1.0e6;

/// How many times its improvement on random pages a miner's improvement on
/// its own pages must exceed. Measured on the demo's corpus: honest steps
/// improve their own pages 3 to 8 times more than random ones; a copied
/// gradient improves the copier's pages about as much as random ones.
pub const OWN_FACTOR: f64 = 2.0;

/// One entry's evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct EntryScore {
    /// Loss improvement on the miner's own pages (nats).
    pub improvement_own: f64,
    /// Loss improvement on the shared random pages (nats).
    pub improvement_random: f64,
    /// Whether own improvement beat random improvement.
    pub own_beats_random: bool,
    /// The score that ranks the miner in this window.
    pub score: f64,
}

/// The score of a registered miner that committed nothing.
fn absent() -> EntryScore {
    EntryScore {
        improvement_own: 0.0,
        improvement_random: 0.0,
        own_beats_random: false,
        score: UNSCORED,
    }
}

/// Scores one entry; `loss_before_random` is the statement's.
pub fn entry_score(entry: &ScoreEntry, loss_before_random: u64) -> EntryScore {
    if entry.status != EntryStatus::Scored as u8 {
        return EntryScore {
            improvement_own: 0.0,
            improvement_random: 0.0,
            own_beats_random: false,
            score: UNSCORED,
        };
    }
    let delta = |before: u64, after: u64| (before as f64 - after as f64) / 1e9;
    let improvement_own = delta(entry.loss_before_own, entry.loss_after_own);
    let improvement_random = delta(loss_before_random, entry.loss_after_random);
    let own_beats_random =
        improvement_own > 0.0 && improvement_own > OWN_FACTOR * improvement_random;
    let score = if own_beats_random {
        improvement_random
    } else {
        // Failing the indicator always lands below zero.
        improvement_random - improvement_random.abs() - 1e-6
    };
    EntryScore {
        improvement_own,
        improvement_random,
        own_beats_random,
        score,
    }
}

/// A miner's standing.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Standing {
    /// OpenSkill mean.
    pub mu: f64,
    /// OpenSkill uncertainty.
    pub sigma: f64,
    /// `mu - 3 sigma`.
    pub ordinal: f64,
    /// Scores decayed by `gauntlet_gamma` each window.
    pub gauntlet: f64,
    /// Windows the miner appeared in.
    pub windows: u64,
}

/// Ratings over a sequence of statements.
#[derive(Debug, Clone)]
pub struct Gauntlet {
    model: PlackettLuce,
    gamma: f64,
    ratings: BTreeMap<u64, (Rating, f64, u64)>,
}

impl Default for Gauntlet {
    fn default() -> Self {
        Self::new()
    }
}

impl Gauntlet {
    /// No ratings yet. Each window is rated with the `openskill_beta`,
    /// `openskill_tau` and `gauntlet_gamma` in force for it.
    pub fn new() -> Self {
        Self {
            model: PlackettLuce::default(),
            gamma: 0.0,
            ratings: BTreeMap::new(),
        }
    }

    /// Applies one window's statement under `values` (the Hparams in force
    /// for that window): one match of the miners it ranks. `registered` are
    /// the miners registered during the window; those absent from the
    /// statement committed nothing.
    pub fn apply(
        &mut self,
        statement: &WindowScores,
        values: &HparamValues,
        registered: &[u64],
    ) -> Result<BTreeMap<u64, EntryScore>> {
        self.model.beta = values.openskill_beta_e9 as f64 / 1e9;
        self.model.tau = values.openskill_tau_e9 as f64 / 1e9;
        self.gamma = values.gauntlet_gamma_e9 as f64 / 1e9;
        let excused = |e: &ScoreEntry| {
            e.status == EntryStatus::Missing as u8 || e.status == EntryStatus::NotEvaluated as u8
        };
        let mut scores: BTreeMap<u64, EntryScore> = statement
            .entries
            .iter()
            .filter(|e| !excused(e))
            .map(|e| (e.miner_uid, entry_score(e, statement.loss_before_random)))
            .collect();
        for uid in registered {
            if !statement.entries.iter().any(|e| e.miner_uid == *uid) {
                scores.insert(*uid, absent());
            }
        }
        for (uid, s) in &scores {
            let entry = self
                .ratings
                .entry(*uid)
                .or_insert((self.model.initial(), 0.0, 0));
            let score = if s.score == UNSCORED { 0.0 } else { s.score };
            entry.1 = self.gamma * entry.1 + (1.0 - self.gamma) * score;
            entry.2 += 1;
        }
        if scores.len() >= 2 {
            let uids: Vec<u64> = scores.keys().copied().collect();
            let players: Vec<Rating> = uids.iter().map(|u| self.ratings[u].0).collect();
            let values: Vec<f64> = uids.iter().map(|u| scores[u].score).collect();
            let rated = self.model.rate(&players, &values)?;
            for (uid, r) in uids.iter().zip(rated) {
                if let Some(entry) = self.ratings.get_mut(uid) {
                    entry.0 = r.rating;
                }
            }
        }
        Ok(scores)
    }

    /// Every rated miner's standing.
    pub fn standings(&self) -> BTreeMap<u64, Standing> {
        self.ratings
            .iter()
            .map(|(uid, (r, gauntlet, windows))| {
                (
                    *uid,
                    Standing {
                        mu: r.mu,
                        sigma: r.sigma,
                        ordinal: self.model.ordinal(r),
                        gauntlet: *gauntlet,
                        windows: *windows,
                    },
                )
            })
            .collect()
    }

    /// The `top_g` miners by ordinal among `candidates`, best first (ties by
    /// uid).
    pub fn top_g(&self, candidates: &[u64], top_g: usize) -> Vec<u64> {
        let standings = self.standings();
        let mut ranked: Vec<(u64, f64)> = candidates
            .iter()
            .filter_map(|u| standings.get(u).map(|s| (*u, s.ordinal)))
            .collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        ranked.into_iter().take(top_g).map(|(u, _)| u).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(uid: u64, status: EntryStatus, own: (u64, u64), random_after: u64) -> ScoreEntry {
        ScoreEntry {
            miner_uid: uid,
            gradient_hash: vec![uid as u8; 32],
            status: status as u8,
            loss_before_own: own.0,
            loss_after_own: own.1,
            loss_after_random: random_after,
        }
    }

    #[test]
    fn the_indicator_orders_honest_above_copies_and_noise() {
        let base = 5_000_000_000;
        let honest = entry_score(
            &entry(
                0,
                EntryStatus::Scored,
                (5_000_000_000, 4_700_000_000),
                4_900_000_000,
            ),
            base,
        );
        let copy = entry_score(
            &entry(
                1,
                EntryStatus::Scored,
                (5_000_000_000, 4_880_000_000),
                4_900_000_000,
            ),
            base,
        );
        let noise = entry_score(
            &entry(
                2,
                EntryStatus::Scored,
                (5_000_000_000, 5_200_000_000),
                5_300_000_000,
            ),
            base,
        );
        let missing = entry_score(&entry(3, EntryStatus::Missing, (0, 0), 0), base);
        assert!(honest.own_beats_random && !copy.own_beats_random);
        assert!(honest.score > 0.0 && copy.score < 0.0);
        assert!(copy.score > missing.score && noise.score > missing.score);
        assert!((honest.score - 0.1).abs() < 1e-12);
    }

    fn statement(entries: Vec<ScoreEntry>) -> WindowScores {
        WindowScores {
            window: 1,
            validator: [0; 32],
            checkpoint_hash: vec![0; 32],
            dataset_root: vec![0; 32],
            eval_params_hash: vec![0; 32],
            eval_seed: vec![0; 32],
            loss_before_random: 5_000_000_000,
            entries,
        }
    }

    fn honest(uid: u64, after_random: u64) -> ScoreEntry {
        entry(
            uid,
            EntryStatus::Scored,
            (5_000_000_000, 4_700_000_000),
            after_random,
        )
    }

    #[test]
    fn ratings_follow_the_scores_and_top_g_takes_the_best() {
        let mut values = HparamValues::defaults();
        values.gauntlet_gamma_e9 = 500_000_000;
        let mut g = Gauntlet::new();
        let statement = statement(vec![
            honest(0, 4_900_000_000),
            entry(1, EntryStatus::Malformed, (0, 0), 0),
            honest(2, 4_950_000_000),
        ]);
        for _ in 0..3 {
            g.apply(&statement, &values, &[0, 1, 2, 3]).unwrap();
        }
        let s = g.standings();
        assert!(s[&0].ordinal > s[&2].ordinal && s[&2].ordinal > s[&1].ordinal);
        // Registered, committed nothing: rated like a bad blob.
        assert!(s[&2].ordinal > s[&3].ordinal);
        assert_eq!(s[&0].windows, 3);
        // gamma 0.5: 0.1 * (0.5 + 0.25 + 0.125)
        assert!((s[&0].gauntlet - 0.0875).abs() < 1e-12);
        assert_eq!(g.top_g(&[0, 1, 2], 2), vec![0, 2]);
    }

    #[test]
    fn attack_withhold_a_rivals_blob_costs_the_rival_nothing() {
        // The host declares miner 1's blob missing (or a budget defers it)
        // in every other window. Miner 1 must stand exactly as if those
        // windows had not included it, and above the weaker miner 2.
        let values = HparamValues::defaults();
        let both = statement(vec![
            honest(0, 4_900_000_000),
            honest(1, 4_900_000_000),
            honest(2, 4_990_000_000),
        ]);
        let without_1 = |status: Option<EntryStatus>| {
            let mut entries = vec![honest(0, 4_900_000_000), honest(2, 4_990_000_000)];
            if let Some(status) = status {
                entries.insert(1, entry(1, status, (0, 0), 0));
            }
            statement(entries)
        };
        let play = |withheld: Option<EntryStatus>, deferred: Option<EntryStatus>| {
            let mut g = Gauntlet::new();
            for _ in 0..3 {
                g.apply(&both, &values, &[0, 1, 2]).unwrap();
                g.apply(&without_1(withheld), &values, &[0, 2]).unwrap();
                g.apply(&without_1(deferred), &values, &[0, 2]).unwrap();
            }
            g.standings()
        };
        let attacked = play(Some(EntryStatus::Missing), Some(EntryStatus::NotEvaluated));
        let absent = play(None, None);
        assert_eq!(attacked[&1], absent[&1]);
        assert_eq!(attacked[&1].windows, 3, "only the windows it was ranked in");
        assert!(attacked[&1].ordinal > attacked[&2].ordinal);
        // Before the fix a missing entry ranked last: miner 2 would pass it.
        let mut old = Gauntlet::new();
        for _ in 0..3 {
            old.apply(&both, &values, &[0, 1, 2]).unwrap();
            old.apply(
                &without_1(Some(EntryStatus::Malformed)),
                &values,
                &[0, 1, 2],
            )
            .unwrap();
        }
        assert!(old.standings()[&1].ordinal < attacked[&1].ordinal);
    }

    #[test]
    fn each_window_is_rated_with_its_own_hparams() {
        let mut fast = HparamValues::defaults();
        fast.gauntlet_gamma_e9 = 0;
        let slow = HparamValues::defaults();
        let one = statement(vec![honest(0, 4_900_000_000)]);
        let mut g = Gauntlet::new();
        g.apply(&one, &slow, &[0]).unwrap();
        g.apply(&one, &fast, &[0]).unwrap();
        // gamma 0 in the second window: the gauntlet is its score alone.
        assert!((g.standings()[&0].gauntlet - 0.1).abs() < 1e-12);
    }
}
