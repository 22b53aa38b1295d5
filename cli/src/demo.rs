//! `demo`: the whole appliance on one machine (see `vram_localnet::demo`).

use std::io::IsTerminal as _;
use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use vram_attestation::statement::EntryStatus;
use vram_localnet::demo::{self, DemoConfig, DemoSummary, WindowSummary};

use crate::Outcome;

#[derive(Args)]
pub(crate) struct DemoArgs {
    /// Miners: three honest, then lazy, copycat, stale, malformed, absent, then honest.
    #[arg(long, default_value_t = 8)]
    miners: usize,
    /// Windows to run.
    #[arg(long, default_value_t = 6)]
    windows: u64,
    /// Seed of the corpus, the initial weights and the noise.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Length of one window on the compressed clock (60 % upload; each
    /// window is scored for a window's length after its upload deadline).
    #[arg(long, default_value_t = 12.0)]
    window_seconds: f64,
    /// Where the audit bundle goes (replaced if it holds an earlier demo).
    #[arg(long, default_value = "vram-demo")]
    out: PathBuf,
    /// Pages in the synthetic dataset.
    #[arg(long, default_value_t = 512)]
    pages: usize,
    /// The vram-enclave binary (default: next to this one).
    #[arg(long)]
    enclave: Option<PathBuf>,
    /// Kill the enclave at this window's upload deadline (shows the restart).
    #[arg(long, value_name = "WINDOW")]
    kill_enclave_in_window: Option<u64>,
    /// Make the validator run out of time in this window: its host stalls
    /// past the window's last moment to sign, the enclave signs nothing, and
    /// the window is lost (shows that the next one is scored).
    #[arg(long, value_name = "WINDOW")]
    out_of_time_in_window: Option<u64>,
    /// Extra cheap miners (noise gradients, kind `crowd`) for scale runs.
    #[arg(long, default_value_t = 0)]
    crowd: usize,
    /// Most entries scored per window (the network default is 256).
    #[arg(long)]
    max_scored: Option<u64>,
    /// The model the network trains: tiny (GPT) or llama-tiny.
    #[arg(long, default_value = "tiny")]
    model: String,
    /// Print one JSON summary on stdout instead of tables.
    #[arg(long)]
    json: bool,
    /// The largest body the local Walrus takes in one request; larger blobs
    /// travel as shards under a manifest (public services: 10 MiB).
    #[arg(long, default_value_t = 256 * 1024)]
    max_request_bytes: u64,
}

pub(crate) fn run(args: DemoArgs) -> Result<Outcome> {
    let cfg = DemoConfig {
        miners: args.miners,
        windows: args.windows,
        seed: args.seed,
        window_seconds: args.window_seconds,
        out: args.out,
        pages: args.pages,
        enclave_exe: args.enclave,
        kill_enclave_in_window: args.kill_enclave_in_window,
        out_of_time_in_window: args.out_of_time_in_window,
        blob_outage: None,
        crowd: args.crowd,
        max_scored: args.max_scored,
        progress: !args.json && std::io::stderr().is_terminal(),
        model: args.model,
        max_request_bytes: args.max_request_bytes,
    };
    if !args.json {
        println!(
            "vram demo: {} miners, {} windows of {} s, bundle in {}",
            cfg.miners,
            cfg.windows,
            cfg.window_seconds,
            cfg.out.display()
        );
        println!("local stand-ins: SQLite ledger (the Move package's checks), directory blob store (Walrus API), simulated NSM (test root)");
    }
    let json = args.json;
    let summary = demo::run(&cfg, |w| {
        if !json {
            print_window(w);
        }
    })?;
    if json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        print_leaderboard(&summary);
    }
    let all_verified = summary.windows.iter().all(|w| w.verified && w.submitted);
    Ok(if all_verified && summary.honest_on_top {
        Outcome::Done
    } else {
        Outcome::Refused
    })
}

fn print_window(w: &WindowSummary) {
    let state = if w.submitted {
        "submitted"
    } else {
        w.failure.as_deref().unwrap_or("not submitted")
    };
    println!(
        "\nwindow {}  statement {}  verified={}  {}",
        w.window,
        w.statement_sha256.get(..16).unwrap_or("-"),
        w.verified,
        state
    );
    if let Some(base) = w.loss_before_random {
        println!("  base loss on random pages: {base:.4}");
    }
    println!(
        "  {:>4}  {:<9} {:>9} {:>9} {:>9} {:>9}  own>rand",
        "uid", "status", "own:pre", "own:post", "rand:post", "score"
    );
    for e in w.entries.iter().take(TABLE_ROWS) {
        println!(
            "  {:>4}  {:<9} {:>9.4} {:>9.4} {:>9.4} {:>9.4}  {}",
            e.miner_uid,
            e.status,
            e.loss_before_own,
            e.loss_after_own,
            e.loss_after_random,
            if e.status == EntryStatus::Scored.as_str() {
                e.score
            } else {
                f64::NAN
            },
            if e.own_beats_random { "yes" } else { "no" }
        );
    }
    if w.entries.len() > TABLE_ROWS {
        let mut counts = std::collections::BTreeMap::new();
        for e in &w.entries[TABLE_ROWS..] {
            *counts.entry(e.status.as_str()).or_insert(0usize) += 1;
        }
        println!(
            "  ... {} more entries: {counts:?}",
            w.entries.len() - TABLE_ROWS
        );
    }
    if !w.aggregated.is_empty() {
        println!("  next checkpoint aggregates miners {:?}", w.aggregated);
    }
}

/// Rows printed per table; the rest are counted (scale runs, `--crowd`).
const TABLE_ROWS: usize = 24;

fn print_leaderboard(s: &DemoSummary) {
    println!("\nleaderboard (OpenSkill ordinal = mu - 3 sigma)");
    println!(
        "  {:>4}  {:<9} {:>8} {:>7} {:>8}",
        "uid", "kind", "mu", "sigma", "ordinal"
    );
    for m in s.miners.iter().take(TABLE_ROWS) {
        println!(
            "  {:>4}  {:<9} {:>8.3} {:>7.3} {:>8.3}",
            m.uid,
            m.kind.to_string(),
            m.mu,
            m.sigma,
            m.ordinal
        );
    }
    if s.miners.len() > TABLE_ROWS {
        println!("  ... {} more miners", s.miners.len() - TABLE_ROWS);
    }
    println!(
        "\nhonest miners on top: {}   enclave restarts: {}",
        s.honest_on_top, s.enclave_restarts
    );
    println!(
        "audit bundle: {}  (check it: vram-validator replay --bundle {})",
        s.bundle, s.bundle
    );
}
