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
use vram_host::chain::sui::SuiChain;
use vram_host::chain::Chain;
use vram_host::config::{ChainKind, Config, EXAMPLE};
use vram_host::journal::Journal;
use vram_host::metrics::{self, Metrics};
use vram_host::supervisor::Supervisor;
use vram_host::validator::{Outcome as WindowOutcome, Validator};

use crate::Outcome;

mod budget;
mod report;

pub(crate) use budget::{budget, BudgetCommand};
pub(crate) use report::{journal, ratings, scores, status};

#[derive(Args)]
pub(crate) struct ConfigArg {
    /// The configuration file.
    #[arg(long, env = "VRAMHUB_CONFIG", default_value = "vram-validator.toml")]
    pub(super) config: PathBuf,
    /// Print JSON.
    #[arg(long)]
    pub(super) json: bool,
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
    /// Gas price (MIST per unit, positive).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    gas_price: Option<u64>,
    /// Gas budget, MIST (positive).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    gas_budget: Option<u64>,
    /// Test mode: the TestModeCap, `ID:VERSION:DIGEST` (registers the key
    /// through the test-mode path instead of the attestation document).
    #[arg(long)]
    test_cap: Option<String>,
    /// The sender (default: the configured wallet's address).
    #[arg(long)]
    sender: Option<String>,
    /// Where the attestation document is stored on Walrus (recorded with
    /// the registration so auditors can fetch it); upload it first with
    /// `--doc-out` and a publisher.
    #[arg(long)]
    document_blob: Option<vram_host::walrus::BlobId>,
}

#[derive(Subcommand)]
pub(crate) enum ConfigCommand {
    /// Print a commented example configuration.
    Example,
    /// Check a configuration (with the environment's overrides) and print it.
    Check(ConfigArg),
}

pub(crate) fn load(path: &std::path::Path) -> Result<Config> {
    Config::load(path, std::env::vars())
        .with_context(|| format!("configuration {}", path.display()))
}

pub(super) fn chain(cfg: &Config) -> Result<Box<dyn Chain>> {
    Ok(match cfg.chain.kind {
        ChainKind::Sui => Box::new(SuiChain::new(
            cfg.sui_settings()?,
            cfg.deployment()?,
            cfg.wallet(|name| std::env::var(name).ok())?,
        )?),
        ChainKind::Local => local_chain(cfg, None)?,
    })
}

/// A chain for reading only, for `address` (default: the configured
/// validator, or the wallet's address if a key is at hand). Needs no key.
pub(crate) fn read_chain(cfg: &Config, address: Option<[u8; 32]>) -> Result<Box<dyn Chain>> {
    let address = match address {
        Some(a) => a,
        None => match cfg.validator_address() {
            Ok(a) => a,
            Err(_) => cfg
                .wallet(|name| std::env::var(name).ok())
                .map(|w| w.address())
                .context(
                    "which validator? set chain.validator (or pass --validator); \
                     read-only commands need no key",
                )?,
        },
    };
    Ok(match cfg.chain.kind {
        ChainKind::Sui => Box::new(SuiChain::read_only(
            cfg.sui_settings()?,
            cfg.deployment()?,
            address,
        )?),
        ChainKind::Local => local_chain(cfg, Some(address))?,
    })
}

/// The embedded ledger of the local network.
#[cfg(feature = "local")]
fn local_chain(cfg: &Config, address: Option<[u8; 32]>) -> Result<Box<dyn Chain>> {
    let ledger = cfg.chain.ledger.clone().unwrap_or_default();
    if !ledger.exists() {
        anyhow::bail!(
            "chain.ledger {} does not exist: start the local network first \
             (vram-validator demo) or fix the path",
            ledger.display()
        );
    }
    let address = match address {
        Some(a) => a,
        None => cfg.validator_address()?,
    };
    Ok(Box::new(vram_localnet::chain::LocalChain::open(
        &ledger, address,
    )?))
}

#[cfg(not(feature = "local"))]
fn local_chain(_cfg: &Config, _address: Option<[u8; 32]>) -> Result<Box<dyn Chain>> {
    anyhow::bail!(
        "chain.kind = \"local\" needs the local network, and this vram-validator was built \
         without it (default feature `local`)"
    )
}

/// The network's `max_scored` and this validator's declared budget `K_v`
/// for the next window (the first `run` may score).
fn current_budget(chain: &dyn Chain) -> Result<(u64, u64)> {
    let hp = chain.hparams()?;
    let window = hp.window_at(chain.now_ms()?) + 1;
    let max_scored = hp
        .values(window)
        .map(|v| v.max_scored)
        .context("the chain's Hparams hold no segment")?;
    Ok((max_scored, chain.budget(window)?))
}

/// Compares the declared budget with what this machine was measured to
/// score (`capacity --save`) and exports both as gauges. A budget above
/// capacity is refused: the enclave signs only statements that score the
/// whole budget, so such a validator would lose every window.
fn check_capacity(cfg: &Config, (max_scored, budget): (u64, u64), metrics: &Metrics) -> Result<()> {
    metrics
        .max_scored
        .set(i64::try_from(max_scored).unwrap_or(i64::MAX));
    metrics
        .budget
        .set(i64::try_from(budget).unwrap_or(i64::MAX));
    let Some((path, fit)) = capacity_fit(cfg)? else {
        return Ok(());
    };
    metrics
        .capacity_miners
        .set(i64::try_from(fit).unwrap_or(i64::MAX));
    if budget > fit {
        anyhow::bail!("{}", budget_above_capacity(budget, fit, path));
    }
    Ok(())
}

/// The capacity `loop.capacity_file` records (`capacity --save`), with the
/// file, if it is set.
fn capacity_fit(cfg: &Config) -> Result<Option<(&std::path::Path, u64)>> {
    let Some(path) = &cfg.r#loop.capacity_file else {
        return Ok(None);
    };
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("loop.capacity_file {}", path.display()))?;
    let measured: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("loop.capacity_file {}", path.display()))?;
    let fit = measured["miners_fit"].as_u64().with_context(|| {
        format!(
            "{}: no miners_fit (write it with `vram-validator capacity --save`)",
            path.display()
        )
    })?;
    Ok(Some((path, fit)))
}

/// Why a budget above the measured capacity is refused, with the fix.
fn budget_above_capacity(budget: u64, fit: u64, file: &std::path::Path) -> String {
    format!(
        "the declared budget K_v = {budget} is above this machine's capacity of {fit} \
         miners per scoring span ({}): every window would be lost; declare at most {fit} \
         with `vram-validator budget set {fit}` (it takes effect from the next window)",
        file.display()
    )
}

fn validator(cfg: &Config) -> Result<Validator<Box<dyn Chain>>> {
    let chain = chain(cfg)?;
    if let Some(dir) = cfg
        .storage
        .journal
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
    {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating storage.journal's folder {}", dir.display()))?;
    }
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
        cfg.input_store()?,
        cfg.loop_config()?,
        metrics,
    ))
}

pub(crate) fn run(args: RunArgs) -> Result<Outcome> {
    let cfg = load(&args.common.config)?;
    let mut v = validator(&cfg)?;
    let budget = current_budget(&**v.chain())?;
    check_capacity(&cfg, budget, v.metrics())?;
    let json = args.common.json;
    let first = first_window(&mut v)?;
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

/// The first window `run` works on: the current one if its upload deadline
/// is still ahead, or if the journal holds it (a restart resumes it);
/// otherwise the next. A window whose deadline passed before the enclave
/// was up cannot be fetched and scored in full, and design.md §2 lets only
/// the key registered at the deadline sign for it.
fn first_window(v: &mut Validator<Box<dyn Chain>>) -> Result<u64> {
    let now = v.chain().now_ms()?;
    let hp = v.chain().hparams()?;
    let current = hp.window_at(now);
    let ahead = hp
        .times(current)
        .is_some_and(|t| now < t.upload_deadline_ms);
    Ok(if ahead || v.journal().get(current)?.is_some() {
        current
    } else {
        current + 1
    })
}

/// Attests the enclave and prints the unsigned registration transaction.
fn serialize_registration(args: &RegisterArgs, cfg: &Config) -> Result<Outcome> {
    use vram_host::chain::sui_tx::{self, parse_address, Gas, OwnedObject};
    if cfg.chain.kind != ChainKind::Sui {
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
        Some(cap) => {
            let document = vram_host::chain::types::DocumentRef {
                sha256: vram_attestation::sha256(&attestation),
                blob: args.document_blob,
            };
            sui_tx::register_test_enclave(&deployment, &gas, cap.parse()?, &public_key, &document)?
        }
        None if !matches!(cfg.trust()?, vram_host::validator::Trust::AwsNitro) => anyhow::bail!(
            "the enclave's document is simulated (enclave.trust is a test root): the \
             production registration would be refused on chain. Pass --test-cap ID:VERSION:DIGEST \
             to build the test-mode registration"
        ),
        None => sui_tx::register_enclave(&deployment, &gas, &attestation, args.document_blob)?,
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

pub(crate) fn config(cmd: ConfigCommand) -> Result<Outcome> {
    match cmd {
        ConfigCommand::Example => print!("{EXAMPLE}"),
        ConfigCommand::Check(args) => {
            let cfg = load(&args.config)?;
            let findings = check_machine(&cfg);
            let errors = findings.iter().filter(|f| f.0 == "error").count();
            if args.json {
                let list: Vec<_> = findings
                    .iter()
                    .map(|(level, key, message)| json!({"level": level, "key": key, "message": message}))
                    .collect();
                println!(
                    "{}",
                    json!({"ok": errors == 0, "findings": list, "config": cfg})
                );
            } else {
                println!("{}", toml::to_string_pretty(&cfg)?);
                for (level, key, message) in &findings {
                    println!("{level}: {key}: {message}");
                }
                println!(
                    "{}",
                    if errors == 0 {
                        "config check: ok"
                    } else {
                        "config check: `run` would fail; fix the errors above"
                    }
                );
            }
            return Ok(if errors == 0 {
                Outcome::Done
            } else {
                Outcome::Refused
            });
        }
    }
    Ok(Outcome::Done)
}

/// What `run` would die on, each with its fix: (level, key, message).
/// Storage folders are created here, as `run` creates them.
fn check_machine(cfg: &Config) -> Vec<(&'static str, String, String)> {
    let mut out = Vec::new();
    let mut error = |key: &str, message: String| out.push(("error", key.to_string(), message));
    let journal_dir = cfg
        .storage
        .journal
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .map(std::path::Path::to_path_buf);
    for (key, dir) in [
        ("storage.journal", journal_dir),
        ("storage.checkpoints", Some(cfg.storage.checkpoints.clone())),
        ("storage.datasets", Some(cfg.storage.datasets.clone())),
    ] {
        let Some(dir) = dir else { continue };
        let probe = dir.join(".vram-write-check");
        let ok = std::fs::create_dir_all(&dir)
            .and_then(|()| std::fs::write(&probe, b""))
            .and_then(|()| std::fs::remove_file(&probe));
        if let Err(e) = ok {
            error(
                key,
                format!(
                    "{} is not a writable folder ({e}): create it for the service's user or \
                     choose another path",
                    dir.display()
                ),
            );
        }
    }
    let must_exist = |path: &Option<PathBuf>| path.as_ref().filter(|p| !p.exists()).cloned();
    let mut missing = vec![
        ("chain.keystore", must_exist(&cfg.chain.keystore)),
        ("loop.capacity_file", must_exist(&cfg.r#loop.capacity_file)),
    ];
    match cfg.chain.kind {
        ChainKind::Sui => missing.push(("chain.deployment", must_exist(&cfg.chain.deployment))),
        ChainKind::Local => missing.push(("chain.ledger", must_exist(&cfg.chain.ledger))),
    }
    match cfg.enclave.kind {
        vram_host::config::EnclaveKind::Nitro => {
            missing.push(("enclave.eif", must_exist(&cfg.enclave.eif)));
        }
        vram_host::config::EnclaveKind::Process => {
            if let Ok(vram_host::supervisor::Launcher::Process { exe, .. }) = cfg.launcher() {
                missing.push(("enclave.binary", must_exist(&Some(exe))));
            }
        }
        vram_host::config::EnclaveKind::External => {}
    }
    if let Ok(vram_host::validator::Trust::TestRoot(pem)) = cfg.trust() {
        // A process enclave writes its root at first start; others must have it.
        if cfg.enclave.kind != vram_host::config::EnclaveKind::Process {
            missing.push(("enclave.trust", must_exist(&Some(pem))));
        }
    }
    for (key, path) in missing {
        if let Some(path) = path {
            error(
                key,
                format!(
                    "{} does not exist: create it or fix the path",
                    path.display()
                ),
            );
        }
    }
    match read_chain(cfg, None).and_then(|chain| {
        let now = chain.now_ms()?;
        let hp = chain.hparams()?;
        let values = hp
            .values_at_ms(now)
            .cloned()
            .context("the chain's Hparams hold no segment")?;
        let budget = chain.budget(hp.window_at(now) + 1).ok();
        Ok((values, budget))
    }) {
        Ok((values, budget)) => {
            // The enclave scores from opens_at to the last moment to sign.
            let scoring = values
                .scoring_span_ms
                .saturating_sub(values.reveal_ms)
                .saturating_sub(2 * values.seed_margin_ms);
            if cfg.r#loop.submit_margin_ms >= scoring {
                error(
                    "loop.submit_margin_ms",
                    format!(
                        "{} ms leaves no time to score: the network's scoring span is {} ms, \
                         {scoring} ms of it after the reveal phase and both seed margins; \
                         every window would be late. Set it well below {scoring} (a tenth is \
                         typical)",
                        cfg.r#loop.submit_margin_ms, values.scoring_span_ms,
                    ),
                );
            }
            // An unreadable capacity file is `run`'s error, not this check's.
            if let (Some(budget), Ok(Some((file, fit)))) = (budget, capacity_fit(cfg)) {
                if budget > fit {
                    error(
                        "loop.capacity_file",
                        budget_above_capacity(budget, fit, file),
                    );
                }
            }
        }
        Err(e) => out.push((
            "warning",
            "chain".into(),
            format!("not reachable, so the network's timing was not checked: {e:#}"),
        )),
    }
    out
}
