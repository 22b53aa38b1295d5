//! `vram-validator budget`: the validator's declared budget `K_v`, how many
//! miners each of its statements scores (design §4.4). Untrusted host code:
//! the chain checks every value.

use anyhow::{Context as _, Result};
use clap::{Args, Subcommand};
use serde_json::json;

use super::{chain, load, read_chain, ConfigArg};
use crate::Outcome;

/// The budget commands.
#[derive(Subcommand)]
pub(crate) enum BudgetCommand {
    /// The budget in force for the current and the next window.
    Show(ConfigArg),
    /// Declare `K_v` from the next window on (at most Hparams' max_scored;
    /// `vram-validator capacity` measures what this machine can score).
    Set(SetArgs),
}

#[derive(Args)]
pub(crate) struct SetArgs {
    #[command(flatten)]
    common: ConfigArg,
    /// Miners each statement scores (when that many are valid).
    budget: u64,
}

pub(crate) fn budget(cmd: BudgetCommand) -> Result<Outcome> {
    match cmd {
        BudgetCommand::Show(args) => {
            let cfg = load(&args.config)?;
            let chain = read_chain(&cfg, None)?;
            show(&*chain, args.json)
        }
        BudgetCommand::Set(args) => {
            let cfg = load(&args.common.config)?;
            let mut chain = chain(&cfg)?;
            chain
                .set_budget(args.budget)
                .with_context(|| format!("declaring a budget of {}", args.budget))?;
            show(&*chain, args.common.json)
        }
    }
}

fn show(chain: &dyn vram_host::chain::Chain, as_json: bool) -> Result<Outcome> {
    let hp = chain.hparams()?;
    let current = hp.window_at(chain.now_ms()?);
    let max_scored = hp
        .values(current + 1)
        .map(|v| v.max_scored)
        .context("the chain's Hparams hold no segment")?;
    let now = chain.budget(current)?;
    let next = chain.budget(current + 1)?;
    if as_json {
        println!(
            "{}",
            json!({"window": current, "budget": now, "next_window": current + 1,
                "next_budget": next, "max_scored": max_scored})
        );
    } else {
        println!(
            "budget: {now} in window {current}, {next} from window {} (max_scored {max_scored})",
            current + 1
        );
    }
    Ok(Outcome::Done)
}
