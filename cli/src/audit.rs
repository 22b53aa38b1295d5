//! `audit --validator ADDR --window W --out DIR`: the bundle an auditor
//! replays, built from the chain and Walrus alone. Needs no key: only the
//! configuration's `[chain]` and `[walrus]` sections are used.

use std::path::PathBuf;

use anyhow::{Context as _, Result};
use clap::Args;
use vram_host::chain::sui_tx::parse_address;

use crate::operator::{load, read_chain};
use crate::Outcome;

#[derive(Args)]
pub(crate) struct AuditArgs {
    /// The configuration file (its `[chain]` and `[walrus]` sections).
    #[arg(long, env = "VRAMHUB_CONFIG", default_value = "vram-validator.toml")]
    config: PathBuf,
    /// The validator audited, `0x` + 64 hex (default: `chain.validator`).
    #[arg(long)]
    validator: Option<String>,
    /// The window.
    #[arg(long)]
    window: u64,
    /// Where the bundle goes (created).
    #[arg(long)]
    out: PathBuf,
    /// The simulated NSM's root (PEM), for a validator registered in test
    /// mode: its documents verify only under it.
    #[arg(long)]
    root: Option<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(args: AuditArgs) -> Result<Outcome> {
    let cfg = load(&args.config)?;
    let address = args
        .validator
        .as_deref()
        .map(parse_address)
        .transpose()
        .context("--validator")?;
    let chain = read_chain(&cfg, address)?;
    // Fetched inputs go into the bundle, not the operator's caches.
    let summary = vram_host::audit::build_bundle(
        &*chain,
        &cfg.walrus_client()?,
        args.window,
        &args.out,
        args.root.as_deref(),
    )?;
    if args.json {
        println!("{}", serde_json::to_string(&summary)?);
    } else {
        println!(
            "window {} of validator {}: {} committed, {} blobs fetched, {} unavailable; \
             document {}; bundle in {}",
            summary.window,
            summary.validator,
            summary.committed,
            summary.blobs_fetched,
            summary.blobs_unavailable.len(),
            if summary.document_fetched {
                "fetched"
            } else {
                "NOT on Walrus"
            },
            summary.out
        );
        for (uid, why) in &summary.blobs_unavailable {
            println!("  miner {uid}: {why}");
        }
        println!("next: vram-validator replay --bundle {}", summary.out);
    }
    Ok(Outcome::Done)
}
