//! The demo's windows: wait for the upload deadline, let the validator's
//! real window loop score and submit, rate the statement, aggregate the best
//! gradients into the next anchored checkpoint.

use std::collections::BTreeMap;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use vram_attestation::sha256;
use vram_attestation::statement::{EntryStatus, SignedStatement};
use vram_host::chain::types::HparamValues;
use vram_host::chain::{wait_until, Chain};
use vram_host::inputs::publish_checkpoint;
use vram_host::ratings::{entry_score, Gauntlet};
use vram_host::validator::{Outcome, Validator, WindowReport};
use vram_host::walrus::WalrusClient;

use super::network::Network;
use super::{aggregator, demo_err, status_name, DemoConfig, EntrySummary, WindowSummary, POLL};
use crate::chain::LocalChain;
use crate::error::Result;

/// What the windows leave behind: ratings, summaries, statements.
pub(super) struct WindowRun {
    pub(super) gauntlet: Gauntlet,
    pub(super) summaries: Vec<WindowSummary>,
    pub(super) statements: Vec<SignedStatement>,
    checkpoint: [u8; 32],
    progress: Option<indicatif::ProgressBar>,
}

impl WindowRun {
    pub(super) fn new(net: &Network) -> Self {
        Self {
            gauntlet: Gauntlet::new(),
            summaries: Vec::new(),
            statements: Vec::new(),
            checkpoint: net.first_checkpoint,
            progress: None,
        }
    }

    /// Every window of the run, in order.
    pub(super) fn all(
        &mut self,
        cfg: &DemoConfig,
        net: &Network,
        host: &mut Validator<LocalChain>,
        stop: &AtomicBool,
        on_window: &mut impl FnMut(&WindowSummary),
    ) -> Result<()> {
        self.progress = cfg.progress.then(|| progress_bar(cfg.windows));
        host.stall_in(cfg.out_of_time_in_window);
        for window in 0..cfg.windows {
            let (mut summary, signed) = self.one(cfg, net, host, stop, window)?;
            if window + 1 < cfg.windows && signed {
                summary.aggregated = self.aggregate(net, host, window, &summary)?;
            }
            on_window(&summary);
            self.summaries.push(summary);
            if let Some(bar) = &self.progress {
                bar.inc(1);
            }
        }
        Ok(())
    }

    pub(super) fn finish_progress(&self) {
        if let Some(bar) = &self.progress {
            bar.finish_and_clear();
        }
    }

    fn say(&self, message: &'static str) {
        if let Some(bar) = &self.progress {
            bar.set_message(message);
        }
    }

    /// One window: wait for its deadline, (optionally) kill the enclave,
    /// score and submit, rate. Also says whether the enclave signed a
    /// statement.
    fn one(
        &mut self,
        cfg: &DemoConfig,
        net: &Network,
        host: &mut Validator<LocalChain>,
        stop: &AtomicBool,
        window: u64,
    ) -> Result<(WindowSummary, bool)> {
        let hp = host.chain().hparams()?;
        let times = hp
            .times(window)
            .ok_or_else(|| demo_err("window before the schedule"))?;
        self.say("miners training and uploading");
        wait_until(host.chain(), times.upload_deadline_ms, POLL, stop)?;
        if cfg.kill_enclave_in_window == Some(window) {
            if let Some(pid) = host.supervisor().pid() {
                tracing::warn!(pid, window, "demo: killing the enclave mid-window");
                let _ = std::process::Command::new("kill")
                    .args(["-9", &pid.to_string()])
                    .status();
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        self.say("enclave scoring");
        let outage = match cfg.blob_outage {
            Some((w, uid)) if w == window => {
                Some(BlobOutage::begin(net, host.chain(), window, uid)?)
            }
            _ => None,
        };
        let report = host.run_window(window);
        if let Some(outage) = outage {
            outage.end()?;
        }
        let report = report?;
        // Each window is rated under the Hparams in force for it, against
        // the miners registered on chain.
        let values = hp
            .segment_for_window(window)
            .map(|s| s.values.clone())
            .ok_or_else(|| demo_err("window before the schedule"))?;
        let registered: Vec<u64> = host
            .chain()
            .ledger()
            .miners()?
            .into_iter()
            .map(|(uid, _)| uid)
            .collect();
        let rating = Rating {
            values: &values,
            registered: &registered,
        };
        let summary = summarise(&report, host.attested(), &mut self.gauntlet, &rating)?;
        if let Some(s) = &report.statement {
            self.statements.push(s.clone());
        }
        Ok((summary, report.statement.is_some()))
    }

    /// Aggregates the best scored gradients of `window` into the checkpoint
    /// anchored for the next window; returns the uids aggregated.
    fn aggregate(
        &mut self,
        net: &Network,
        host: &mut Validator<LocalChain>,
        window: u64,
        summary: &WindowSummary,
    ) -> Result<Vec<u64>> {
        let candidates: Vec<u64> = summary
            .entries
            .iter()
            .filter(|e| e.status == EntryStatus::Scored.as_str() && e.score > 0.0)
            .map(|e| e.miner_uid)
            .collect();
        let chosen = self.gauntlet.top_g(&candidates, net.values.top_g as usize);
        if !chosen.is_empty() {
            let blobs = blobs_of(&net.walrus, host.chain(), window, &chosen)?;
            let (weights, config_json) = net.checkpoints.get(&self.checkpoint)?.into_single()?;
            let next = aggregator::aggregate_checkpoint(
                &weights,
                &config_json,
                &blobs,
                net.values.topk_compression as usize,
                net.values.learning_rate_e9 as f32 / 1e9,
            )?;
            self.checkpoint = net.checkpoints.put_single(&next, &config_json)?;
        }
        // Published on Walrus (sharded as needed) before it is anchored.
        let files = net.checkpoints.get(&self.checkpoint)?;
        let (_, list) = publish_checkpoint(&net.walrus, &files, 1)?;
        let now = host.chain().now_ms()?;
        host.chain()
            .ledger()
            .anchor_checkpoint(window + 1, &self.checkpoint, &list.0, now)?;
        Ok(chosen)
    }
}

/// One blob made unreachable on the local Walrus (moved aside) and put back.
struct BlobOutage {
    path: std::path::PathBuf,
    aside: std::path::PathBuf,
}

impl BlobOutage {
    fn begin(net: &Network, chain: &mut LocalChain, window: u64, uid: u64) -> Result<Self> {
        let commitment = chain
            .commitments(window)?
            .into_iter()
            .find(|(u, _)| *u == uid)
            .map(|(_, c)| c)
            .ok_or_else(|| demo_err(format!("miner {uid} committed nothing in window {window}")))?;
        let (id, _) = commitment.blob()?;
        let path = vram_host::bundle::blob_path(&net.blob_dir(), &id);
        let aside = path.with_extension("outage");
        std::fs::rename(&path, &aside).map_err(|e| demo_err(format!("{}: {e}", path.display())))?;
        tracing::warn!(
            window,
            uid,
            "demo: miner's blob unreachable while the window is scored"
        );
        Ok(Self { path, aside })
    }

    fn end(self) -> Result<()> {
        std::fs::rename(&self.aside, &self.path)
            .map_err(|e| demo_err(format!("{}: {e}", self.path.display())))
    }
}

fn progress_bar(windows: u64) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(windows);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} window {pos}/{len} {wide_bar} {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar
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
            Ok(walrus.fetch_content(&id, &sha, 1 << 30)?)
        })
        .collect()
}

/// What a window is rated under.
struct Rating<'a> {
    values: &'a HparamValues,
    registered: &'a [u64],
}

fn summarise(
    report: &WindowReport,
    attested: &[([u8; 32], Vec<u8>)],
    gauntlet: &mut Gauntlet,
    rating: &Rating<'_>,
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
        gauntlet.apply(payload, rating.values, rating.registered)?
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
