//! OpenSkill's Plackett-Luce update (Weng and Lin), ported from openskill.py
//! 6.2.0 for one-player teams ranked by score, keeping the library's order of
//! operations (stable rank sort, summation order) so that the results agree
//! with it bit for bit. That includes two quirks of 6.2.0 that the network's
//! ratings depend on: tau is added to every sigma before the update, and
//! tied players' mean changes are *not* averaged (the library's averaging
//! step reads back the values it has just written).

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// A player's skill estimate.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Rating {
    /// Mean skill.
    pub mu: f64,
    /// Uncertainty (standard deviation).
    pub sigma: f64,
}

/// A player's rating after an update, and its competition rank (0 is best;
/// equal scores share the rank of the first of them).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rated {
    /// The updated rating.
    pub rating: Rating,
    /// Competition rank by score.
    pub rank: usize,
}

/// Model parameters, with openskill.py's names and defaults.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlackettLuce {
    /// Initial mean.
    #[serde(default = "default_mu")]
    pub mu0: f64,
    /// Initial sigma.
    #[serde(default = "default_sigma")]
    pub sigma0: f64,
    /// Performance variance.
    #[serde(default = "default_beta")]
    pub beta: f64,
    /// Additive dynamics (drift per update).
    #[serde(default = "default_tau")]
    pub tau: f64,
    /// Lower bound of the sigma shrink factor.
    #[serde(default = "default_kappa")]
    pub kappa: f64,
    /// Standard deviations subtracted in the ordinal.
    #[serde(default = "default_z")]
    pub z: f64,
    /// Never let sigma grow above its value before the update.
    #[serde(default)]
    pub limit_sigma: bool,
    /// Score margin below which score differences count as plain wins.
    #[serde(default)]
    pub margin: f64,
}

fn default_mu() -> f64 {
    25.0
}
fn default_sigma() -> f64 {
    25.0 / 3.0
}
fn default_beta() -> f64 {
    25.0 / 6.0
}
fn default_tau() -> f64 {
    25.0 / 300.0
}
fn default_kappa() -> f64 {
    0.0001
}
fn default_z() -> f64 {
    3.0
}

impl Default for PlackettLuce {
    fn default() -> Self {
        Self {
            mu0: default_mu(),
            sigma0: default_sigma(),
            beta: default_beta(),
            tau: default_tau(),
            kappa: default_kappa(),
            z: default_z(),
            limit_sigma: false,
            margin: 0.0,
        }
    }
}

fn bad(reason: impl Into<String>) -> Error {
    Error::Ratings {
        reason: reason.into(),
    }
}

impl PlackettLuce {
    /// A new player's rating.
    pub fn initial(&self) -> Rating {
        Rating {
            mu: self.mu0,
            sigma: self.sigma0,
        }
    }

    /// `mu - z * sigma`: the conservative skill used for ranking.
    pub fn ordinal(&self, r: &Rating) -> f64 {
        (r.mu - self.z * r.sigma) + 0.0
    }

    /// Rates one match of one-player teams: higher score is better.
    pub fn rate(&self, players: &[Rating], scores: &[f64]) -> Result<Vec<Rated>> {
        let n = players.len();
        if n < 2 {
            return Err(bad("at least two players are needed"));
        }
        if scores.len() != n {
            return Err(bad(format!("{} scores for {n} players", scores.len())));
        }
        if players
            .iter()
            .any(|p| !(p.mu.is_finite() && p.sigma.is_finite() && p.sigma > 0.0))
            || scores.iter().any(|s| !s.is_finite())
        {
            return Err(bad("ratings and scores must be finite, sigmas positive"));
        }
        for (name, v) in [
            ("beta", self.beta),
            ("tau", self.tau),
            ("kappa", self.kappa),
            ("z", self.z),
            ("margin", self.margin),
        ] {
            if !v.is_finite() || v < 0.0 {
                return Err(bad(format!("{name} must be finite and non-negative")));
            }
        }

        let tau_squared = self.tau * self.tau;
        let with_tau: Vec<Rating> = players
            .iter()
            .map(|p| Rating {
                mu: p.mu,
                sigma: (p.sigma * p.sigma + tau_squared).sqrt(),
            })
            .collect();

        // Competition ranks of the negated scores, then a stable sort by rank.
        let keys: Vec<f64> = scores.iter().map(|s| -s).collect();
        let ranks = competition_ranks(&keys);
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by_key(|&i| ranks[i]);

        let sorted: Vec<Rating> = order.iter().map(|&i| with_tau[i]).collect();
        let sorted_ranks: Vec<usize> = order.iter().map(|&i| ranks[i]).collect();
        let sorted_scores: Vec<f64> = order.iter().map(|&i| scores[i]).collect();
        let updated = self.compute(&sorted, &sorted_ranks, &sorted_scores);

        let mut out = vec![
            Rated {
                rating: players[0],
                rank: 0
            };
            n
        ];
        for (position, &original) in order.iter().enumerate() {
            let mut rating = updated[position];
            if self.limit_sigma {
                rating.sigma = rating.sigma.min(players[original].sigma);
            }
            out[original] = Rated {
                rating,
                rank: ranks[original],
            };
        }
        Ok(out)
    }

    /// The update proper, on players sorted by rank.
    fn compute(&self, players: &[Rating], ranks: &[usize], scores: &[f64]) -> Vec<Rating> {
        let beta_squared = self.beta * self.beta;
        let sigma_sq: Vec<f64> = players.iter().map(|p| p.sigma * p.sigma).collect();
        let c = sigma_sq
            .iter()
            .fold(0.0, |acc, s| acc + (s + beta_squared))
            .sqrt();
        let adjusted: Vec<f64> = (0..players.len())
            .map(|i| players[i].mu + self.margin_adjustment(players, scores, i))
            .collect();

        // sum_q[q] = sum of exp(mu_i / c) over i ranked at or below q.
        let mut sum_q: Vec<Option<f64>> = vec![None; players.len()];
        for (i, &mu_i) in adjusted.iter().enumerate() {
            let summed = (mu_i / c).exp();
            for (q, slot) in sum_q.iter_mut().enumerate() {
                if ranks[i] >= ranks[q] {
                    *slot = Some(slot.map_or(summed, |s| s + summed));
                }
            }
        }
        let a: Vec<f64> = ranks
            .iter()
            .map(|r| ranks.iter().filter(|q| *q == r).count() as f64)
            .collect();

        players
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let i_mu_over_c = (adjusted[i] / c).exp();
                let (mut omega, mut delta) = (0.0f64, 0.0f64);
                for q in 0..players.len() {
                    let ratio = i_mu_over_c / sum_q[q].unwrap_or(f64::INFINITY);
                    if ranks[q] <= ranks[i] {
                        delta += ratio * (1.0 - ratio) / a[q];
                        if q == i {
                            omega += (1.0 - ratio) / a[q];
                        } else {
                            omega -= ratio / a[q];
                        }
                    }
                }
                omega *= sigma_sq[i] / c;
                delta *= sigma_sq[i] / (c * c);
                delta *= sigma_sq[i].sqrt() / c;
                // One-player teams: the player's share of the team variance is 1.
                let share = (p.sigma * p.sigma) / sigma_sq[i];
                let mu = p.mu + share * omega * 1.0;
                let sigma = p.sigma * (1.0 - share * delta * 1.0).max(self.kappa).sqrt();
                Rating { mu, sigma }
            })
            .collect()
    }

    /// openskill.py's margin term (zero when `margin` is zero).
    fn margin_adjustment(&self, players: &[Rating], scores: &[f64], i: usize) -> f64 {
        let mut adjustment = 0.0f64;
        let mut count = 0u32;
        for j in 0..players.len() {
            if i == j {
                continue;
            }
            let diff = (scores[i] - scores[j]).abs();
            if diff > 0.0 {
                let factor = if diff > self.margin && self.margin > 0.0 {
                    (diff / self.margin).ln_1p()
                } else {
                    1.0
                };
                if scores[i] > scores[j] {
                    adjustment -= (players[i].mu - players[j].mu) * (factor - 1.0);
                } else {
                    adjustment += (players[j].mu - players[i].mu) * (factor - 1.0);
                }
                count += 1;
            }
        }
        if count > 0 {
            adjustment / f64::from(count)
        } else {
            adjustment
        }
    }
}

/// Competition ranks: each value's rank is the index of its first occurrence
/// in the sorted values (lower value, better rank).
fn competition_ranks(values: &[f64]) -> Vec<usize> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    values
        .iter()
        .map(|v| sorted.iter().position(|s| s == v).unwrap_or(0))
        .collect()
}
