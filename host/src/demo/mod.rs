//! `vram-validator demo`: the whole appliance on one machine, nothing to
//! configure. A local blob store (the Walrus HTTP API over a directory), the
//! embedded ledger (the Move package's rules in SQLite), a `vram-enclave`
//! process with the simulated NSM, miners that really train the `tiny` model,
//! the validator's real window loop, ratings and aggregation, on a compressed
//! clock. Everything it did is left in `--out DIR` as an audit bundle that
//! `vram-validator replay` and `vram-attest` check.
//!
//! Local stand-ins, clearly labelled: the ledger is not a chain and the blob
//! store is not Walrus. The enclave code, the statement and every check are
//! the real ones.

pub mod aggregator;
pub mod bundle;
pub mod corpus;
pub mod miner;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use vram_attestation::sha256;
use vram_attestation::statement::SignedStatement;
use vram_enclave::model::{init_weights, save_weights, GptConfig};

use crate::blobstore::BlobStore;
use crate::chain::local::LocalChain;
use crate::chain::types::HparamValues;
use crate::chain::{wait_until, Chain};
use crate::error::{Error, Result};
use crate::journal::Journal;
use crate::ledger::{unix_ms, Ledger};
use crate::metrics::Metrics;
use crate::ratings::{entry_score, Gauntlet};
use crate::sources::{CheckpointStore, Dataset};
use crate::supervisor::{sibling_binary, Launcher, Supervisor};
use crate::validator::{LoopConfig, Outcome, Trust, Validator, WindowReport};
use crate::walrus::{RetryPolicy, WalrusClient};
use miner::{kinds, miner_address, Miner, MinerKind, MinerWorld};

/// Demo settings.
#[derive(Debug, Clone)]
pub struct DemoConfig {
    /// Miners (kinds: three honest, then one of each cheat, then honest).
    pub miners: usize,
    /// Windows to run.
    pub windows: u64,
    /// Seed of everything random (corpus, initial weights, noise).
    pub seed: u64,
    /// Window length on the compressed clock.
    pub window_seconds: f64,
    /// Where the bundle goes.
    pub out: PathBuf,
    /// Pages in the synthetic dataset.
    pub pages: usize,
    /// The `vram-enclave` binary (default: next to this executable).
    pub enclave_exe: Option<PathBuf>,
    /// Kill the enclave process at this window's upload deadline (tests).
    pub kill_enclave_in_window: Option<u64>,
    /// Draw progress bars on stderr.
    pub progress: bool,
}

impl Default for DemoConfig {
    fn default() -> Self {
        Self {
            miners: 8,
            windows: 6,
            seed: 42,
            window_seconds: 12.0,
            out: PathBuf::from("vram-demo"),
            pages: 512,
            enclave_exe: None,
            kill_enclave_in_window: None,
            progress: false,
        }
    }
}

/// One entry as the summary reports it (losses in nats).
#[derive(Debug, Clone, Serialize)]
pub struct EntrySummary {
    /// The miner.
    pub miner_uid: u64,
    /// scored, missing, malformed or stale.
    pub status: String,
    /// Loss on its own pages before its step.
    pub loss_before_own: f64,
    /// Loss on its own pages after its step.
    pub loss_after_own: f64,
    /// Loss on the shared random pages after its step.
    pub loss_after_random: f64,
    /// The window score the ratings used.
    pub score: f64,
    /// The own-vs-random indicator.
    pub own_beats_random: bool,
}

/// One window as the summary reports it.
#[derive(Debug, Clone, Serialize)]
pub struct WindowSummary {
    /// The window.
    pub window: u64,
    /// SHA-256 of the signed statement bytes (empty if none).
    pub statement_sha256: String,
    /// The statement verifies under the key its attestation document binds.
    pub verified: bool,
    /// The ledger accepted it.
    pub submitted: bool,
    /// Why not, if it was not.
    pub failure: Option<String>,
    /// Base loss on the random pages (nats).
    pub loss_before_random: Option<f64>,
    /// The entries.
    pub entries: Vec<EntrySummary>,
    /// The miners aggregated into the next checkpoint.
    pub aggregated: Vec<u64>,
}

/// One miner's final standing.
#[derive(Debug, Clone, Serialize)]
pub struct MinerSummary {
    /// Its uid.
    pub uid: u64,
    /// What it did.
    pub kind: MinerKind,
    /// OpenSkill mean.
    pub mu: f64,
    /// OpenSkill sigma.
    pub sigma: f64,
    /// `mu - 3 sigma`.
    pub ordinal: f64,
    /// Decayed window scores.
    pub gauntlet: f64,
}

/// The demo's result (`--json` prints it).
#[derive(Debug, Clone, Serialize)]
pub struct DemoSummary {
    /// Every window.
    pub windows: Vec<WindowSummary>,
    /// Every miner, best ordinal first.
    pub miners: Vec<MinerSummary>,
    /// The audit bundle.
    pub bundle: String,
    /// Enclave restarts during the run.
    pub enclave_restarts: u64,
    /// Every honest miner ranks above every other miner.
    pub honest_on_top: bool,
    /// Labels of the local stand-ins.
    pub stand_ins: Vec<String>,
}

/// How often the demo's threads look at the clock.
const POLL: Duration = Duration::from_millis(100);

fn demo_err(reason: impl Into<String>) -> Error {
    Error::Config {
        reason: reason.into(),
    }
}

/// The demo network's parameters: the defaults, on a compressed clock, with
/// the tiny model's page length, a checkpoint every window, and no waiting
/// offset for the one validator.
pub fn demo_values(cfg: &DemoConfig, dataset: &Dataset) -> HparamValues {
    let window_ms = (cfg.window_seconds * 1000.0).round().max(1000.0) as u64;
    let honest = kinds(cfg.miners)
        .iter()
        .filter(|k| **k == MinerKind::Honest)
        .count();
    HparamValues {
        window_duration_ms: window_ms,
        put_window_open_ms: window_ms * 6 / 10,
        top_g: honest.max(1) as u64,
        checkpoint_frequency: 1,
        validator_offset: 0,
        learning_rate_e9: 5_000_000,
        page_len: dataset.page_len() as u64,
        own_pages: 4,
        random_pages: 8,
        dataset_root: dataset.root().to_vec(),
        dataset_pages: dataset.len(),
        ..HparamValues::defaults()
    }
}

/// Prepares `out` for a fresh run: it must be absent, empty, or a previous
/// demo's bundle.
fn fresh_dir(out: &Path) -> Result<()> {
    if out.exists() {
        let empty = std::fs::read_dir(out)
            .map_err(|e| demo_err(format!("{}: {e}", out.display())))?
            .next()
            .is_none();
        if !empty && !out.join(bundle::INDEX).exists() && !out.join("ledger.sqlite").exists() {
            return Err(demo_err(format!(
                "{} exists and is not a demo bundle; choose another --out",
                out.display()
            )));
        }
        std::fs::remove_dir_all(out).map_err(|e| demo_err(format!("{}: {e}", out.display())))?;
    }
    std::fs::create_dir_all(out).map_err(|e| demo_err(format!("{}: {e}", out.display())))
}

fn status_name(status: u8) -> String {
    match status {
        0 => "scored",
        1 => "missing",
        2 => "malformed",
        3 => "stale",
        _ => "unknown",
    }
    .to_string()
}

/// Runs the demo; `on_window` sees each window as it ends.
pub fn run(cfg: &DemoConfig, mut on_window: impl FnMut(&WindowSummary)) -> Result<DemoSummary> {
    if cfg.miners < 2 || cfg.windows == 0 {
        return Err(demo_err("the demo needs at least 2 miners and 1 window"));
    }
    let out = cfg.out.clone();
    fresh_dir(&out)?;
    let model = GptConfig::tiny();

    // The network's data and first checkpoint.
    let pages = corpus::synthetic_pages(
        cfg.seed,
        model.vocab_size as u32,
        model.block_size + 1,
        cfg.pages,
    );
    let dataset = Arc::new(Dataset::new(pages)?);
    dataset.save(&out.join("dataset"))?;
    let checkpoints = CheckpointStore::new(&out.join("checkpoints"));
    let config_json = serde_json::to_vec(&model).map_err(|e| demo_err(e.to_string()))?;
    let weights =
        save_weights(&init_weights(&model, cfg.seed).map_err(|e| demo_err(e.to_string()))?)
            .map_err(|e| demo_err(e.to_string()))?;
    let mut checkpoint = checkpoints.put(&weights, &config_json)?;
    let values = demo_values(cfg, &dataset);

    // The ledger: genesis, one validator, the miners, the first anchor.
    let ledger_path = out.join("ledger.sqlite");
    let mut ledger = Ledger::open(&ledger_path)?;
    ledger.genesis(values.clone(), unix_ms() + 1_500)?;
    let validator = sha256(format!("vram demo validator {}", cfg.seed).as_bytes());
    ledger.register_validator(validator, values.min_validator_stake, 0)?;
    let miners: Vec<Miner> = kinds(cfg.miners)
        .into_iter()
        .enumerate()
        .map(|(i, kind)| {
            let address = miner_address(cfg.seed, i);
            let uid = ledger.register_miner(address, values.min_miner_stake, 0)?;
            Ok(Miner {
                uid,
                kind,
                address,
                copy_from: 0,
            })
        })
        .collect::<Result<_>>()?;
    ledger.anchor_checkpoint(0, &checkpoint, 0)?;

    // Blobs, enclave, validator.
    let store = BlobStore::start(&out.join("blobs"), "127.0.0.1:0", 64 << 20)?;
    let policy = RetryPolicy {
        rounds: 3,
        backoff: Duration::from_millis(100),
        request_timeout: Duration::from_secs(10),
    };
    let walrus = WalrusClient::new(&[store.url()], &[store.url()], policy)?;
    let enclave_exe = match &cfg.enclave_exe {
        Some(p) => p.clone(),
        None => sibling_binary("vram-enclave")?,
    };
    let state_dir = out.join("enclave-state");
    let supervisor = Supervisor::new(
        Launcher::Process {
            exe: enclave_exe,
            socket: out.join("enclave.sock"),
            state_dir: state_dir.clone(),
            log: out.join("enclave.log"),
        },
        Duration::from_secs(120),
    );
    let metrics = Arc::new(Metrics::default());
    let mut host = Validator::new(
        LocalChain::open(&ledger_path, validator)?,
        supervisor,
        Journal::open(&out.join("journal.sqlite"))?,
        walrus.clone(),
        checkpoints.clone(),
        (*dataset).clone(),
        LoopConfig {
            trust: Trust::TestRoot(state_dir.join("test-root.pem")),
            submit_margin_ms: 500,
            ..LoopConfig::default()
        },
        Arc::clone(&metrics),
    );
    host.ensure_enclave()?;

    // Miners run on their own threads, window after window.
    let world = MinerWorld {
        ledger: ledger_path.clone(),
        walrus: walrus.clone(),
        checkpoints: checkpoints.clone(),
        dataset: Arc::clone(&dataset),
        values: values.clone(),
        seed: cfg.seed,
    };
    let miner_log: Arc<Mutex<Vec<(u64, u64, String)>>> = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let windows = cfg.windows;
    let handles: Vec<_> = miners
        .iter()
        .cloned()
        .map(|m| {
            let (world, log, stop) = (world.clone(), Arc::clone(&miner_log), Arc::clone(&stop));
            std::thread::spawn(move || mine(&m, &world, windows, &stop, &log))
        })
        .collect();

    let progress = cfg.progress.then(|| {
        let bar = indicatif::ProgressBar::new(cfg.windows);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} window {pos}/{len} {wide_bar} {msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    });

    let mut gauntlet = Gauntlet::new(&values);
    let mut summaries = Vec::new();
    let mut statements: Vec<SignedStatement> = Vec::new();
    let run_result = (|| -> Result<()> {
        for window in 0..cfg.windows {
            let hp = host.chain().hparams()?;
            let times = hp
                .times(window)
                .ok_or_else(|| demo_err("window before the schedule"))?;
            if let Some(bar) = &progress {
                bar.set_message("miners training and uploading");
            }
            wait_until(host.chain(), times.upload_deadline_ms, POLL, &stop)?;
            if cfg.kill_enclave_in_window == Some(window) {
                if let Some(pid) = host.supervisor().pid() {
                    tracing::warn!(pid, window, "demo: killing the enclave mid-window");
                    let _ = std::process::Command::new("kill")
                        .args(["-9", &pid.to_string()])
                        .status();
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
            if let Some(bar) = &progress {
                bar.set_message("enclave scoring");
            }
            let report = host.run_window(window)?;
            let mut summary = summarise(&report, host.attested(), &mut gauntlet)?;
            if let Some(s) = &report.statement {
                statements.push(s.clone());
            }
            // Aggregate the best scored gradients into the next checkpoint.
            if window + 1 < cfg.windows && report.statement.is_some() {
                let candidates: Vec<u64> = summary
                    .entries
                    .iter()
                    .filter(|e| e.status == "scored" && e.score > 0.0)
                    .map(|e| e.miner_uid)
                    .collect();
                let chosen = gauntlet.top_g(&candidates, values.top_g as usize);
                if !chosen.is_empty() {
                    let blobs = blobs_of(&walrus, host.chain(), window, &chosen)?;
                    let (weights, config_json) = checkpoints.get(&checkpoint)?;
                    let next = aggregator::aggregate_checkpoint(
                        &weights,
                        &config_json,
                        &blobs,
                        values.topk_compression as usize,
                        values.learning_rate_e9 as f32 / 1e9,
                    )?;
                    checkpoint = checkpoints.put(&next, &config_json)?;
                    summary.aggregated = chosen;
                }
                let now = host.chain().now_ms()?;
                host.chain()
                    .ledger()
                    .anchor_checkpoint(window + 1, &checkpoint, now)?;
            }
            on_window(&summary);
            summaries.push(summary);
            if let Some(bar) = &progress {
                bar.inc(1);
            }
        }
        Ok(())
    })();
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    for h in handles {
        let _ = h.join();
    }
    if let Some(bar) = &progress {
        bar.finish_and_clear();
    }
    run_result?;

    let standings = gauntlet.standings();
    let mut miner_summaries: Vec<MinerSummary> = miners
        .iter()
        .map(|m| {
            let s = standings.get(&m.uid).copied();
            MinerSummary {
                uid: m.uid,
                kind: m.kind,
                mu: s.map_or(25.0, |s| s.mu),
                sigma: s.map_or(25.0 / 3.0, |s| s.sigma),
                ordinal: s.map_or(0.0, |s| s.ordinal),
                gauntlet: s.map_or(0.0, |s| s.gauntlet),
            }
        })
        .collect();
    miner_summaries.sort_by(|a, b| b.ordinal.total_cmp(&a.ordinal).then(a.uid.cmp(&b.uid)));
    let worst_honest = miner_summaries
        .iter()
        .filter(|m| m.kind == MinerKind::Honest)
        .map(|m| m.ordinal)
        .fold(f64::INFINITY, f64::min);
    let best_other = miner_summaries
        .iter()
        .filter(|m| m.kind != MinerKind::Honest)
        .map(|m| m.ordinal)
        .fold(f64::NEG_INFINITY, f64::max);

    let restarts = host.supervisor().restarts();
    bundle::write(
        &out,
        &state_dir,
        host.attested(),
        &statements,
        &Ledger::open(&ledger_path)?,
        &miner_log.lock().map(|l| l.clone()).unwrap_or_default(),
    )?;
    drop(store);
    Ok(DemoSummary {
        windows: summaries,
        miners: miner_summaries,
        bundle: out.display().to_string(),
        enclave_restarts: restarts,
        honest_on_top: worst_honest > best_other,
        stand_ins: vec![
            "ledger: SQLite stand-in enforcing the Move package's checks (not a chain)".into(),
            "blobs: a directory served over the Walrus HTTP API (not Walrus)".into(),
            "NSM: simulated; documents chain to the test root, never to AWS".into(),
        ],
    })
}

fn blobs_of(
    walrus: &WalrusClient,
    chain: &mut LocalChain,
    window: u64,
    uids: &[u64],
) -> Result<Vec<Vec<u8>>> {
    chain
        .commitments(window)?
        .into_iter()
        .filter(|(uid, _)| uids.contains(uid))
        .map(|(_, c)| {
            let (id, sha) = c.blob()?;
            walrus.fetch(&id, &sha, 1 << 30)
        })
        .collect()
}

fn mine(
    miner: &Miner,
    world: &MinerWorld,
    windows: u64,
    stop: &AtomicBool,
    log: &Mutex<Vec<(u64, u64, String)>>,
) {
    let note = |window: u64, what: String| {
        if let Ok(mut l) = log.lock() {
            l.push((window, miner.uid, what));
        }
    };
    // One connection for the clock; `work` opens its own per window.
    let Ok(chain) = LocalChain::open(&world.ledger, miner.address) else {
        return;
    };
    for window in 0..windows {
        let start = chain
            .hparams()
            .ok()
            .and_then(|hp| hp.times(window))
            .map(|t| t.start_ms);
        let Some(start) = start else { return };
        if !matches!(wait_until(&chain, start, POLL, stop), Ok(true)) {
            return;
        }
        match miner.work(world, window) {
            Ok(Some(hash)) => note(window, format!("committed {}", hex::encode(hash))),
            Ok(None) => note(window, "no upload".into()),
            Err(e) => {
                tracing::warn!(uid = miner.uid, window, error = %e, "miner failed");
                note(window, format!("failed: {e}"));
            }
        }
    }
}

fn summarise(
    report: &WindowReport,
    attested: &[([u8; 32], Vec<u8>)],
    gauntlet: &mut Gauntlet,
) -> Result<WindowSummary> {
    let (submitted, failure) = match &report.outcome {
        Outcome::Submitted { .. } => (true, None),
        Outcome::Failed { reason } => (false, Some(reason.clone())),
    };
    let Some(statement) = &report.statement else {
        return Ok(WindowSummary {
            window: report.window,
            statement_sha256: String::new(),
            verified: false,
            submitted,
            failure,
            loss_before_random: None,
            entries: Vec::new(),
            aggregated: Vec::new(),
        });
    };
    // The auditor's check: some verified attestation document binds the key.
    let verified = attested
        .iter()
        .any(|(key, _)| statement.verify(key).is_ok());
    let payload = &statement.message.payload;
    let scores = if submitted {
        gauntlet.apply(payload)?
    } else {
        BTreeMap::new()
    };
    let entries = payload
        .entries
        .iter()
        .map(|e| {
            let s = scores
                .get(&e.miner_uid)
                .copied()
                .unwrap_or_else(|| entry_score(e, payload.loss_before_random));
            EntrySummary {
                miner_uid: e.miner_uid,
                status: status_name(e.status),
                loss_before_own: e.loss_before_own as f64 / 1e9,
                loss_after_own: e.loss_after_own as f64 / 1e9,
                loss_after_random: e.loss_after_random as f64 / 1e9,
                score: s.score,
                own_beats_random: s.own_beats_random,
            }
        })
        .collect();
    Ok(WindowSummary {
        window: report.window,
        statement_sha256: hex::encode(sha256(&statement.bcs)),
        verified,
        submitted,
        failure,
        loss_before_random: Some(payload.loss_before_random as f64 / 1e9),
        entries,
        aggregated: Vec::new(),
    })
}
