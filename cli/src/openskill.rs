//! `openskill --input CASE.json`: one Plackett-Luce update, the what-if tool
//! for operators (the schema of the OpenSkill reference vectors).

use std::path::PathBuf;

use anyhow::{Context as _, Result};
use clap::Args;
use serde::Deserialize;
use serde_json::json;
use vram_host::ratings::{PlackettLuce, Rating};

use crate::Outcome;

#[derive(Args)]
pub(crate) struct OpenskillArgs {
    /// A case: `{"params": {...}, "input": [{"mu", "sigma", "score"}, ...]}`.
    #[arg(long, value_name = "CASE.json")]
    input: PathBuf,
    /// Print one JSON object (the default output is a table).
    #[arg(long)]
    json: bool,
}

#[derive(Deserialize)]
struct Case {
    #[serde(default)]
    params: PlackettLuce,
    input: Vec<Player>,
}

#[derive(Deserialize)]
struct Player {
    mu: f64,
    sigma: f64,
    score: f64,
}

pub(crate) fn run(args: OpenskillArgs) -> Result<Outcome> {
    let text = std::fs::read(&args.input)
        .with_context(|| format!("cannot read {}", args.input.display()))?;
    let case: Case = serde_json::from_slice(&text)
        .with_context(|| format!("{} is not a case", args.input.display()))?;
    let players: Vec<Rating> = case
        .input
        .iter()
        .map(|p| Rating {
            mu: p.mu,
            sigma: p.sigma,
        })
        .collect();
    let scores: Vec<f64> = case.input.iter().map(|p| p.score).collect();
    let model = case.params;
    let rated = match model.rate(&players, &scores) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{e}");
            return Ok(Outcome::Refused);
        }
    };
    if args.json {
        let expected: Vec<_> = rated
            .iter()
            .map(|r| {
                json!({"mu": r.rating.mu, "sigma": r.rating.sigma,
                       "ordinal": model.ordinal(&r.rating), "rank": r.rank})
            })
            .collect();
        println!("{}", json!({ "expected": expected }));
    } else {
        println!(
            "{:>4} {:>12} {:>12} {:>12} {:>5}",
            "#", "mu", "sigma", "ordinal", "rank"
        );
        for (i, r) in rated.iter().enumerate() {
            println!(
                "{i:>4} {:>12.6} {:>12.6} {:>12.6} {:>5}",
                r.rating.mu,
                r.rating.sigma,
                model.ordinal(&r.rating),
                r.rank
            );
        }
    }
    Ok(Outcome::Done)
}
