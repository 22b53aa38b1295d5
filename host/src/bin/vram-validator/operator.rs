//! The operator's commands: `run`, `register-enclave`, `status`, `scores`,
//! `ratings`, `journal`, `config example`. Each reads the configuration
//! (`--config`, default `vram-validator.toml` or `$VRAMHUB_CONFIG`) and has
//! `--json` for scripts.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result};
use clap::{Args, Subcommand};
use serde_json::json;
use vram_attestation::statement::SignedStatement;
use vram_host::chain::local::LocalChain;
use vram_host::chain::sui::SuiChain;
use vram_host::chain::Chain;
use vram_host::config::{Config, EXAMPLE};
use vram_host::journal::Journal;
use vram_host::metrics::{self, Metrics};
use vram_host::ratings::{entry_score, Gauntlet};
use vram_host::sources::{CheckpointStore, Dataset};
use vram_host::supervisor::Supervisor;
use vram_host::validator::{Outcome as WindowOutcome, Validator};
use vram_host::walrus::WalrusClient;

use crate::Outcome;

#[derive(Args)]
pub(crate) struct ConfigArg {
    /// The configuration file.
    #[arg(long, env = "VRAMHUB_CONFIG", default_value = "vram-validator.toml")]
    config: PathBuf,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub(crate) struct RunArgs {
    #[command(flatten)]
    common: ConfigArg,
    /// Stop after this many windows (default: run until stopped).
    #[arg(long)]
    windows: Option<u64>,
}

#[derive(Args)]
pub(crate) struct ScoresArgs {
    #[command(flatten)]
    common: ConfigArg,
    /// The window.
    #[arg(long)]
    window: u64,
}

#[derive(Args)]
pub(crate) struct JournalArgs {
    #[command(flatten)]
    common: ConfigArg,
    /// How many recent windows.
    #[arg(long, default_value_t = 20)]
    limit: usize,
}

#[derive(Args)]
pub(crate) struct RegisterArgs {
    #[command(flatten)]
    common: ConfigArg,
    /// Also write the attestation document here.
    #[arg(long)]
    doc_out: Option<PathBuf>,
    /// Print the registration transaction (base64 TransactionData) instead
    /// of sending it; needs `--gas`, `--gas-price`, `--gas-budget` and touches
    /// no network (chain.kind = "sui").
    #[arg(long, requires_all = ["gas", "gas_price", "gas_budget"])]
    serialize_unsigned_transaction: bool,
    /// The gas coin, `ID:VERSION:DIGEST`.
    #[arg(long)]
    gas: Option<String>,
    /// Gas price.
    #[arg(long)]
    gas_price: Option<u64>,
    /// Gas budget, MIST.
    #[arg(long)]
    gas_budget: Option<u64>,
    /// Test mode: the TestModeCap, `ID:VERSION:DIGEST` (registers the key
    /// through the test-mode path instead of the attestation document).
    #[arg(long)]
    test_cap: Option<String>,
    /// The sender (default: the configured wallet's address).
    #[arg(long)]
    sender: Option<String>,
}

#[derive(Subcommand)]
pub(crate) enum ConfigCommand {
    /// Print a commented example configuration.
    Example,
    /// Check a configuration (with the environment's overrides) and print it.
    Check(ConfigArg),
}

fn load(path: &std::path::Path) -> Result<Config> {
    Config::load(path, std::env::vars())
        .with_context(|| format!("configuration {}", path.display()))
}

fn chain(cfg: &Config) -> Result<Box<dyn Chain>> {
    Ok(match cfg.chain.kind.as_str() {
        "sui" => Box::new(SuiChain::new(
            cfg.sui_settings()?,
            cfg.deployment()?,
            cfg.wallet(|name| std::env::var(name).ok())?,
        )?),
        _ => {
            let ledger = cfg.chain.ledger.clone().unwrap_or_default();
            Box::new(LocalChain::open(&ledger, cfg.validator_address()?)?)
        }
    })
}

fn validator(cfg: &Config) -> Result<Validator<Box<dyn Chain>>> {
    let chain = chain(cfg)?;
    let root = chain.hparams()?.current.values.dataset_root.clone();
    let root: Option<[u8; 32]> = root.as_slice().try_into().ok();
    let metrics = Arc::new(Metrics::default());
    if let Some(listen) = &cfg.metrics.listen {
        let addr = metrics::serve(Arc::clone(&metrics), listen)?;
        tracing::info!(%addr, "metrics on /metrics");
    }
    Ok(Validator::new(
        chain,
        Supervisor::new(
            cfg.launcher()?,
            Duration::from_secs(cfg.enclave.call_timeout_s),
        ),
        Journal::open(&cfg.storage.journal)?,
        WalrusClient::new(
            &cfg.walrus.aggregators,
            &cfg.walrus.publishers,
            cfg.retry_policy(),
        )?,
        CheckpointStore::new(&cfg.storage.checkpoints),
        Dataset::load(&cfg.storage.dataset, root.as_ref())?,
        cfg.loop_config()?,
        metrics,
    ))
}

pub(crate) fn run(args: RunArgs) -> Result<Outcome> {
    let cfg = load(&args.common.config)?;
    let mut v = validator(&cfg)?;
    let json = args.common.json;
    let first = v.chain().hparams()?.window_at(v.chain().now_ms()?);
    let last = args.windows.map(|n| first + n.saturating_sub(1));
    let stop = AtomicBool::new(false);
    let mut failed = 0u64;
    v.run(&stop, Some(first), last, |report| {
        let (state, detail) = match &report.outcome {
            WindowOutcome::Submitted { digest } => ("submitted", digest.clone()),
            WindowOutcome::Failed { reason } => {
                failed += 1;
                ("failed", reason.clone())
            }
        };
        if json {
            println!(
                "{}",
                json!({"window": report.window, "state": state, "detail": detail,
                "fetch_failures": report.fetch_failures})
            );
        } else {
            println!("window {}: {state} ({detail})", report.window);
        }
    })?;
    Ok(if failed == 0 {
        Outcome::Done
    } else {
        Outcome::Refused
    })
}

/// Attests the enclave and prints the unsigned registration transaction.
fn serialize_registration(args: &RegisterArgs, cfg: &Config) -> Result<Outcome> {
    use vram_host::chain::sui_tx::{self, parse_address, Gas, OwnedObject};
    if cfg.chain.kind != "sui" {
        anyhow::bail!(
            "--serialize-unsigned-transaction builds Sui transactions: set chain.kind = \"sui\""
        );
    }
    let deployment = cfg.deployment()?;
    let sender = match &args.sender {
        Some(s) => parse_address(s)?,
        None => cfg.wallet(|name| std::env::var(name).ok())?.address(),
    };
    let gas = Gas {
        sender,
        coins: vec![args
            .gas
            .as_deref()
            .unwrap_or_default()
            .parse::<OwnedObject>()?],
        price: args.gas_price.unwrap_or_default(),
        budget: args.gas_budget.unwrap_or_default(),
    };
    // Only the enclave is contacted: its key and document, nothing on chain.
    let mut supervisor = Supervisor::new(
        cfg.launcher()?,
        Duration::from_secs(cfg.enclave.call_timeout_s),
    );
    let vram_host::enclave_client::Attestation {
        public_key,
        document: attestation,
        ..
    } = supervisor.client()?.attest()?;
    let tx = match &args.test_cap {
        Some(cap) => sui_tx::register_test_enclave(&deployment, &gas, cap.parse()?, &public_key)?,
        None => sui_tx::register_enclave(&deployment, &gas, &attestation)?,
    };
    if let Some(path) = &args.doc_out {
        std::fs::write(path, &attestation)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    let bytes = sui_tx::to_base64(&tx)?;
    if args.common.json {
        println!(
            "{}",
            json!({"tx_bytes": bytes, "digest": sui_tx::digest(&tx),
            "public_key": hex::encode(public_key)})
        );
    } else {
        println!("{bytes}");
    }
    Ok(Outcome::Done)
}

pub(crate) fn register_enclave(args: RegisterArgs) -> Result<Outcome> {
    let cfg = load(&args.common.config)?;
    if args.serialize_unsigned_transaction {
        return serialize_registration(&args, &cfg);
    }
    let mut v = validator(&cfg)?;
    let key = v.ensure_enclave()?;
    let doc = v
        .attested()
        .iter()
        .find(|(k, _)| *k == key)
        .map(|(_, d)| d.clone())
        .unwrap_or_default();
    if let Some(path) = &args.doc_out {
        std::fs::write(path, &doc).with_context(|| format!("writing {}", path.display()))?;
    }
    let registered = v.chain().enclave_key()?.as_deref() == Some(&key[..]);
    if args.common.json {
        println!(
            "{}",
            json!({"public_key": hex::encode(key), "registered": registered,
            "chain": v.chain().name(), "document_bytes": doc.len()})
        );
    } else {
        println!(
            "enclave key {} registered on {}: {registered}",
            hex::encode(key),
            v.chain().name()
        );
    }
    // The enclave keeps running under the operator's service manager; this
    // command's child is stopped with it.
    Ok(if registered {
        Outcome::Done
    } else {
        Outcome::Refused
    })
}

pub(crate) fn status(args: ConfigArg) -> Result<Outcome> {
    let cfg = load(&args.config)?;
    let chain = chain(&cfg)?;
    let hp = chain.hparams()?;
    let now = chain.now_ms()?;
    let window = hp.window_at(now);
    let times = hp.times(window).context("window before the schedule")?;
    let phase = if now < times.upload_deadline_ms {
        "upload"
    } else {
        "scoring"
    };
    let key = chain.enclave_key()?;
    let journal = Journal::open(&cfg.storage.journal)?;
    let recent: Vec<_> = journal
        .recent(5)?
        .into_iter()
        .map(|r| json!({"window": r.window, "state": r.state.as_str(), "outcome": r.outcome}))
        .collect();
    let body = json!({
        "chain": chain.name(),
        "validator": format!("0x{}", hex::encode(chain.validator())),
        "now_ms": now,
        "window": window,
        "phase": phase,
        "upload_deadline_ms": times.upload_deadline_ms,
        "window_end_ms": times.end_ms,
        "hparams_version": hp.version,
        "enclave_key": key.map(hex::encode),
        "recent_windows": recent,
    });
    if args.json {
        println!("{body}");
    } else {
        println!("{}", serde_json::to_string_pretty(&body)?);
    }
    Ok(Outcome::Done)
}

pub(crate) fn scores(args: ScoresArgs) -> Result<Outcome> {
    let cfg = load(&args.common.config)?;
    let chain = chain(&cfg)?;
    let Some((bcs, signature)) = chain.submission(args.window)? else {
        if args.common.json {
            println!("{}", json!({"window": args.window, "submitted": false}));
        } else {
            println!(
                "no accepted statement of this validator for window {}",
                args.window
            );
        }
        return Ok(Outcome::Refused);
    };
    let signed = SignedStatement::decode(&bcs, &signature)?;
    let p = &signed.message.payload;
    let entries: Vec<_> = p
        .entries
        .iter()
        .map(|e| {
            let s = entry_score(e, p.loss_before_random);
            json!({"miner_uid": e.miner_uid, "status": e.status,
                "loss_before_own": e.loss_before_own as f64 / 1e9,
                "loss_after_own": e.loss_after_own as f64 / 1e9,
                "loss_after_random": e.loss_after_random as f64 / 1e9,
                "score": s.score, "own_beats_random": s.own_beats_random})
        })
        .collect();
    let body = json!({"window": p.window, "submitted": true,
        "statement_sha256": hex::encode(vram_attestation::sha256(&bcs)),
        "loss_before_random": p.loss_before_random as f64 / 1e9, "entries": entries});
    println!(
        "{}",
        if args.common.json {
            body.to_string()
        } else {
            serde_json::to_string_pretty(&body)?
        }
    );
    Ok(Outcome::Done)
}

pub(crate) fn ratings(args: ConfigArg) -> Result<Outcome> {
    let cfg = load(&args.config)?;
    let chain = chain(&cfg)?;
    let journal = Journal::open(&cfg.storage.journal)?;
    let hp = chain.hparams()?;
    let mut windows: Vec<u64> = journal
        .recent(usize::MAX >> 1)?
        .into_iter()
        .map(|r| r.window)
        .collect();
    windows.sort_unstable();
    let mut gauntlet = Gauntlet::new(&hp.current.values);
    let mut rated = 0;
    for w in windows {
        if let Some((bcs, sig)) = chain.submission(w)? {
            let signed = SignedStatement::decode(&bcs, &sig)?;
            gauntlet.apply(&signed.message.payload)?;
            rated += 1;
        }
    }
    let mut standings: Vec<_> = gauntlet.standings().into_iter().collect();
    standings.sort_by(|a, b| b.1.ordinal.total_cmp(&a.1.ordinal));
    let top = gauntlet.top_g(
        &standings.iter().map(|(u, _)| *u).collect::<Vec<_>>(),
        hp.current.values.top_g as usize,
    );
    if args.json {
        let miners: Vec<_> = standings
            .iter()
            .map(|(uid, s)| {
                json!({"uid": uid, "mu": s.mu, "sigma": s.sigma, "ordinal": s.ordinal,
                "gauntlet": s.gauntlet, "windows": s.windows})
            })
            .collect();
        println!(
            "{}",
            json!({"windows_rated": rated, "top_g": top, "miners": miners})
        );
    } else {
        println!("{rated} windows rated; top_g = {top:?}");
        println!(
            "{:>5} {:>9} {:>8} {:>9} {:>8}",
            "uid", "mu", "sigma", "ordinal", "windows"
        );
        for (uid, s) in &standings {
            println!(
                "{uid:>5} {:>9.3} {:>8.3} {:>9.3} {:>8}",
                s.mu, s.sigma, s.ordinal, s.windows
            );
        }
    }
    Ok(Outcome::Done)
}

pub(crate) fn journal(args: JournalArgs) -> Result<Outcome> {
    let cfg = load(&args.common.config)?;
    let journal = Journal::open(&cfg.storage.journal)?;
    let rows: Vec<_> = journal
        .recent(args.limit)?
        .into_iter()
        .map(|r| {
            json!({"window": r.window, "state": r.state.as_str(),
                "statement_sha256": r.statement_sha256.map(hex::encode),
                "tx_digest": r.tx_digest, "outcome": r.outcome})
        })
        .collect();
    if args.common.json {
        println!("{}", json!({"windows": rows}));
    } else {
        for r in &rows {
            println!(
                "window {:>6}  {:<10}  {}",
                r["window"],
                r["state"].as_str().unwrap_or(""),
                r["outcome"]
                    .as_str()
                    .or(r["tx_digest"].as_str())
                    .unwrap_or("")
            );
        }
    }
    Ok(Outcome::Done)
}

pub(crate) fn config(cmd: ConfigCommand) -> Result<Outcome> {
    match cmd {
        ConfigCommand::Example => print!("{EXAMPLE}"),
        ConfigCommand::Check(args) => {
            let cfg = load(&args.config)?;
            if args.json {
                println!("{}", serde_json::to_string(&cfg)?);
            } else {
                println!("{}", toml::to_string_pretty(&cfg)?);
            }
        }
    }
    Ok(Outcome::Done)
}
