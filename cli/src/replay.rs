//! `replay --bundle DIR`: recompute every scored entry outside the enclave.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use vram_host::replay::replay_bundle;

use crate::Outcome;

#[derive(Args)]
pub(crate) struct ReplayArgs {
    /// An audit bundle (`vram-validator demo --out DIR`).
    #[arg(long)]
    bundle: PathBuf,
    /// Only this window.
    #[arg(long)]
    window: Option<u64>,
    /// Print JSON (`{"agrees": bool, "windows": [...]}`).
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(args: ReplayArgs) -> Result<Outcome> {
    let windows = replay_bundle(&args.bundle, args.window)?;
    let agrees = !windows.is_empty() && windows.iter().all(|w| w.agrees);
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(
                &serde_json::json!({"agrees": agrees, "windows": windows})
            )?
        );
    } else {
        for w in &windows {
            let identical = w.entries.iter().filter(|e| e.identical).count();
            let max = w.entries.iter().map(|e| e.max_abs_diff).fold(0.0, f64::max);
            println!(
                "window {:>3}  statement {}  signature {}  inputs {}  entries identical {}/{}  max diff {:.3e} nats  {}",
                w.window,
                &w.statement_sha256[..16],
                if w.signature_valid { "ok" } else { "BAD" },
                if w.inputs_match { "ok" } else { "BAD" },
                identical,
                w.entries.len(),
                max,
                if w.agrees { "AGREES" } else { "DISAGREES" }
            );
            for p in &w.problems {
                println!("             {p}");
            }
        }
        println!(
            "{}",
            if agrees {
                "replay agrees with every statement"
            } else {
                "replay found disagreements"
            }
        );
    }
    Ok(if agrees {
        Outcome::Done
    } else {
        Outcome::Refused
    })
}
