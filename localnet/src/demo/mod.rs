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
pub mod corpus;
pub mod miner;
mod network;
mod windows;

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use vram_attestation::statement::EntryStatus;
use vram_host::bundle;
use vram_host::chain::types::HparamValues;
use vram_host::chain::{wait_until, Chain};
use vram_host::ratings::Gauntlet;
use vram_host::sources::Dataset;
use vram_host::walrus::BlobId;

use crate::chain::LocalChain;
use crate::error::{Error, Result};
use crate::ledger::{Address, Ledger};
use miner::{kinds, Miner, MinerKind, MinerWorld};
use network::Network;
use windows::WindowRun;

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
    /// The validator's host stalls past this window's last moment to sign
    /// (a validator that cannot finish its budget): the window is lost.
    pub out_of_time_in_window: Option<u64>,
    /// Extra cheap miners (kind `crowd`) after the `miners` above, for scale
    /// runs: each commits a valid noise gradient every window.
    pub crowd: usize,
    /// Overrides `max_scored` (the network default is 256).
    pub max_scored: Option<u64>,
    /// `(window, uid)`: that miner's blob is unreachable on the local Walrus
    /// while the validator scores the window and back afterwards, so the
    /// host declares it missing and replay flags it as withheld (tests).
    pub blob_outage: Option<(u64, u64)>,
    /// Draw progress bars on stderr.
    pub progress: bool,
    /// The model the network trains: a preset with a context of at most
    /// 64 positions (`tiny`, `llama-tiny`).
    pub model: String,
    /// The largest body the local Walrus takes in one request; larger
    /// content (checkpoints, datasets, gradients) travels as shards under a
    /// manifest. Public services cap at 10 MiB; the demo's default is small
    /// so that its tiny model's checkpoint is sharded too.
    pub max_request_bytes: u64,
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
            out_of_time_in_window: None,
            blob_outage: None,
            crowd: 0,
            max_scored: None,
            progress: false,
            model: "tiny".into(),
            max_request_bytes: 256 * 1024,
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

pub(crate) fn demo_err(reason: impl Into<String>) -> Error {
    Error::Demo {
        reason: reason.into(),
    }
}

/// The demo network's parameters: the defaults, on a compressed clock, with
/// the tiny model's page length, a checkpoint every window, and no waiting
/// offset for the one validator.
pub fn demo_values(cfg: &DemoConfig, dataset: &Dataset, dataset_blob: &BlobId) -> HparamValues {
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
        dataset_blob: dataset_blob.0.to_vec(),
        // One machine: the enclave's clock is the ledger's, and the margin
        // only has to cover the host's round trips.
        seed_margin_ms: 500,
        // The full window to score in, as on the network; a short reveal
        // phase on the compressed clock (the miners of the next window wait
        // for the checkpoint this window's scores aggregate).
        scoring_span_ms: window_ms,
        reveal_ms: window_ms / 50,
        max_scored: cfg
            .max_scored
            .unwrap_or(HparamValues::defaults().max_scored),
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
        std::fs::remove_dir_all(out).map_err(Error::io(out))?;
    }
    std::fs::create_dir_all(out).map_err(Error::io(out))
}

fn status_name(status: u8) -> String {
    EntryStatus::from_u8(status)
        .map_or("unknown", EntryStatus::as_str)
        .to_string()
}

/// Runs the demo; `on_window` sees each window as it ends.
pub fn run(cfg: &DemoConfig, mut on_window: impl FnMut(&WindowSummary)) -> Result<DemoSummary> {
    if cfg.miners < 2 || cfg.windows == 0 {
        return Err(demo_err("the demo needs at least 2 miners and 1 window"));
    }
    let out = cfg.out.clone();
    fresh_dir(&out)?;
    let net = Network::build(cfg)?;
    let mut host = net.validator(cfg)?;
    host.ensure_enclave()?;

    // Miners run on their own threads, window after window; the crowd on a
    // few threads of its own.
    let miner_log: Arc<Mutex<Vec<(u64, u64, String)>>> = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let (crowd, individuals): (Vec<Miner>, Vec<Miner>) = net
        .miners
        .iter()
        .cloned()
        .partition(|m| m.kind == MinerKind::Crowd);
    let crowd_threads = crowd.len().div_ceil(CROWD_PER_THREAD).min(CROWD_THREADS);
    let mut handles: Vec<_> = crowd
        .chunks(crowd.len().div_ceil(crowd_threads.max(1)).max(1))
        .map(|part| {
            let (part, world) = (part.to_vec(), net.world.clone());
            let (log, stop, windows) = (Arc::clone(&miner_log), Arc::clone(&stop), cfg.windows);
            std::thread::spawn(move || mine_crowd(&part, &world, windows, &stop, &log))
        })
        .collect();
    handles.extend(individuals.into_iter().map(|m| {
        let world = net.world.clone();
        let (log, stop, windows) = (Arc::clone(&miner_log), Arc::clone(&stop), cfg.windows);
        std::thread::spawn(move || mine(&m, &world, windows, &stop, &log))
    }));

    let mut run = WindowRun::new(&net);
    let run_result = run.all(cfg, &net, &mut host, &stop, &mut on_window);
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    for h in handles {
        let _ = h.join();
    }
    run.finish_progress();
    run_result?;

    let (miners, honest_on_top) = standings(&net.miners, &run.gauntlet);
    let restarts = host.supervisor().restarts();
    bundle::write(
        &out,
        &net.state_dir,
        host.attested(),
        &run.statements,
        &Ledger::open(&net.ledger_path)?.export()?,
        &miner_log.lock().map(|l| l.clone()).unwrap_or_default(),
    )?;
    drop(net);
    Ok(DemoSummary {
        windows: run.summaries,
        miners,
        bundle: out.display().to_string(),
        enclave_restarts: restarts,
        honest_on_top,
        stand_ins: vec![
            "ledger: SQLite stand-in enforcing the Move package's checks (not a chain)".into(),
            "blobs: a directory served over the Walrus HTTP API (not Walrus)".into(),
            "NSM: simulated; documents chain to the test root, never to AWS".into(),
        ],
    })
}

/// The final standings, best first, and whether every honest miner ranks
/// above every other kind.
fn standings(miners: &[Miner], gauntlet: &Gauntlet) -> (Vec<MinerSummary>, bool) {
    let standings = gauntlet.standings();
    let mut summaries: Vec<MinerSummary> = miners
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
    summaries.sort_by(|a, b| b.ordinal.total_cmp(&a.ordinal).then(a.uid.cmp(&b.uid)));
    let worst_honest = summaries
        .iter()
        .filter(|m| m.kind == MinerKind::Honest)
        .map(|m| m.ordinal)
        .fold(f64::INFINITY, f64::min);
    let best_other = summaries
        .iter()
        .filter(|m| m.kind != MinerKind::Honest)
        .map(|m| m.ordinal)
        .fold(f64::NEG_INFINITY, f64::max);
    (summaries, worst_honest > best_other)
}

/// Threads the crowd runs on, at most, and miners per thread, at least.
const CROWD_THREADS: usize = 4;
const CROWD_PER_THREAD: usize = 100;

/// Runs `work` for each window at its start, as `address` sees the ledger's
/// clock, until the run stops.
fn each_window(
    world: &MinerWorld,
    address: Address,
    windows: u64,
    stop: &AtomicBool,
    mut work: impl FnMut(u64),
) {
    // One connection for the clock; the work opens its own per window.
    let Ok(chain) = LocalChain::open(&world.ledger, address) else {
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
        work(window);
    }
}

fn mine_crowd(
    crowd: &[Miner],
    world: &MinerWorld,
    windows: u64,
    stop: &AtomicBool,
    log: &Mutex<Vec<(u64, u64, String)>>,
) {
    let Some(first) = crowd.first() else { return };
    each_window(world, first.address, windows, stop, |window| {
        let done = miner::crowd_window(crowd, world, window);
        let Ok(mut l) = log.lock() else { return };
        match done {
            Ok(committed) => l.extend(
                committed
                    .into_iter()
                    .map(|(uid, hash)| (window, uid, format!("committed {}", hex::encode(hash)))),
            ),
            Err(e) => {
                tracing::warn!(window, error = %e, "crowd failed");
                l.extend(
                    crowd
                        .iter()
                        .map(|m| (window, m.uid, format!("failed: {e}"))),
                );
            }
        }
    });
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
    each_window(world, miner.address, windows, stop, |window| {
        match miner.work(world, window) {
            Ok(Some(hash)) => note(window, format!("committed {}", hex::encode(hash))),
            Ok(None) => note(window, "no upload".into()),
            Err(e) => {
                tracing::warn!(uid = miner.uid, window, error = %e, "miner failed");
                note(window, format!("failed: {e}"));
            }
        }
    });
}
