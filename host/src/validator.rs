//! The window loop (DESIGN 3): at the upload deadline, read what the chain
//! committed, fetch it, drive the enclave, check its statement and submit it
//! before the window ends, journaling every step so that a crash at any
//! point loses nothing and never submits twice.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use vram_attestation::statement::{EntryStatus, SignedStatement};
use vram_attestation::{verify, AttestationDocument, Policy, TrustRoot};
use vram_enclave::codec::ModelShapes;
use vram_enclave::model::GptConfig;
use vram_enclave::protocol::{Bytes32, MinerCommitment, OpenWindow, Page, UploadKind};

use crate::chain::types::{HparamValues, SubmitArgs, WindowTimes};
use crate::chain::{wait_until, Chain};
use crate::enclave_client::Attestation;
use crate::error::{Error, Result};
use crate::journal::{Journal, NextStep};
use crate::metrics::Metrics;
use crate::sources::{CheckpointStore, Dataset};
use crate::supervisor::Supervisor;
use crate::walrus::WalrusClient;

/// Which root attestation documents must chain to.
#[derive(Debug, Clone)]
pub enum Trust {
    /// The pinned AWS Nitro root (production).
    AwsNitro,
    /// The simulated NSM's test root (test mode, local mode).
    TestRoot(PathBuf),
}

/// Loop settings.
#[derive(Debug, Clone)]
pub struct LoopConfig {
    /// Trust root for the enclave's documents.
    pub trust: Trust,
    /// Blob fetches in flight at once.
    pub fetch_parallelism: usize,
    /// Give up scoring when less than this remains before the window ends
    /// (room to submit).
    pub submit_margin_ms: u64,
    /// Most miners one statement covers (the contract takes 2000).
    pub max_miners: usize,
}

impl Default for LoopConfig {
    fn default() -> Self {
        Self {
            trust: Trust::AwsNitro,
            fetch_parallelism: 8,
            submit_margin_ms: 5_000,
            max_miners: 2000,
        }
    }
}

/// How a window ended for this validator.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Accepted on chain.
    Submitted {
        /// The transaction digest.
        digest: String,
    },
    /// Not submitted; why.
    Failed {
        /// The reason (journaled).
        reason: String,
    },
}

/// One window's result.
#[derive(Debug, Clone)]
pub struct WindowReport {
    /// The window.
    pub window: u64,
    /// How it ended.
    pub outcome: Outcome,
    /// The statement, if the enclave produced one.
    pub statement: Option<SignedStatement>,
    /// Why each miner's blob could not be fetched, if it could not.
    pub fetch_failures: BTreeMap<u64, String>,
}

/// Where the host stops on purpose (fault-injection tests kill it there).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// After journaling the window's inputs.
    Opened,
    /// After fetching blobs.
    Fetched,
    /// After the enclave returned the statement, before journaling it.
    Signed,
    /// After journaling the statement.
    Scored,
    /// After journaling the transaction, before sending it.
    Prepared,
    /// After sending, before journaling the result.
    Sent,
}

/// The validator: chain, blobs, enclave, journal.
pub struct Validator<C: Chain> {
    chain: C,
    supervisor: Supervisor,
    journal: Journal,
    walrus: WalrusClient,
    checkpoints: CheckpointStore,
    dataset: Dataset,
    config: LoopConfig,
    metrics: Arc<Metrics>,
    /// The enclave key known to be registered, and the restart count it is for.
    registered: Option<([u8; 32], u64)>,
    /// Test hook: return `Err` right after this step.
    crash_after: Option<Step>,
    /// Every attestation document verified, with the key it binds.
    attested: Vec<([u8; 32], Vec<u8>)>,
}

fn enclave_err(reason: impl Into<String>) -> Error {
    Error::Enclave {
        reason: reason.into(),
    }
}

impl<C: Chain> Validator<C> {
    /// Assembles a validator.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        chain: C,
        supervisor: Supervisor,
        journal: Journal,
        walrus: WalrusClient,
        checkpoints: CheckpointStore,
        dataset: Dataset,
        config: LoopConfig,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            chain,
            supervisor,
            journal,
            walrus,
            checkpoints,
            dataset,
            config,
            metrics,
            registered: None,
            crash_after: None,
            attested: Vec::new(),
        }
    }

    /// Makes the loop fail right after `step` (fault-injection tests).
    pub fn crash_after(&mut self, step: Option<Step>) {
        self.crash_after = step;
    }

    fn checkpoint(&self, step: Step) -> Result<()> {
        if self.crash_after == Some(step) {
            return Err(Error::Config {
                reason: format!("injected crash after {step:?}"),
            });
        }
        Ok(())
    }

    /// The chain.
    pub fn chain(&mut self) -> &mut C {
        &mut self.chain
    }

    /// The journal.
    pub fn journal(&self) -> &Journal {
        &self.journal
    }

    /// Every attestation document this validator verified, with its key.
    pub fn attested(&self) -> &[([u8; 32], Vec<u8>)] {
        &self.attested
    }

    /// The enclave supervisor.
    pub fn supervisor(&mut self) -> &mut Supervisor {
        &mut self.supervisor
    }

    /// Starts (or restarts) the enclave if needed, verifies its attestation
    /// and makes sure its key is the one registered on chain. Returns it.
    pub fn ensure_enclave(&mut self) -> Result<[u8; 32]> {
        let restarted = self.supervisor.ensure_running()?;
        if restarted && self.registered.is_some() {
            self.metrics.enclave_restarts.inc();
        }
        let restarts = self.supervisor.restarts();
        if let Some((key, at)) = self.registered {
            if at == restarts && !restarted {
                return Ok(key);
            }
        }
        let Attestation {
            public_key: key,
            document: attestation,
            nonce,
        } = self.supervisor.client()?.attest()?;
        let root = match &self.config.trust {
            Trust::AwsNitro => TrustRoot::aws_nitro(),
            Trust::TestRoot(path) => {
                let pem = std::fs::read_to_string(path).map_err(|e| Error::Config {
                    reason: format!("{}: {e}", path.display()),
                })?;
                TrustRoot::from_pem(&pem)
            }
        }
        .map_err(|e| enclave_err(format!("trust root: {e}")))?;
        let doc = AttestationDocument::parse(&attestation)
            .map_err(|e| enclave_err(format!("attestation: {e}")))?;
        let now_ms = crate::ledger::unix_ms();
        let verified = verify(&attestation, &root, now_ms)
            .map_err(|e| enclave_err(format!("attestation does not verify: {e}")))?;
        Policy::new()
            .expect_nonce(nonce.to_vec())
            .expect_public_key(key.to_vec())
            .check(&verified, doc.timestamp_ms)
            .map_err(|e| enclave_err(format!("attestation policy: {e}")))?;
        if !self.attested.iter().any(|(k, _)| *k == key) {
            self.attested.push((key, attestation.clone()));
        }
        if self.chain.enclave_key()?.as_deref() != Some(&key[..]) {
            match self.config.trust {
                Trust::TestRoot(_) => self.chain.register_test_enclave(&key)?,
                Trust::AwsNitro => return Err(enclave_err(
                    "the enclave's key is not registered: run `vram-validator register-enclave`",
                )),
            }
            tracing::info!(key = %hex::encode(key), "enclave key registered");
        }
        self.registered = Some((key, restarts));
        Ok(key)
    }

    /// Works on `window` until it is submitted, refused, or out of time.
    /// Resumes from the journal: a window already submitted is not touched.
    pub fn run_window(&mut self, window: u64) -> Result<WindowReport> {
        let hp = self.chain.hparams()?;
        let times = hp.times(window).ok_or_else(|| Error::Config {
            reason: format!("window {window} precedes the chain's schedule"),
        })?;
        let values = hp
            .segment_for_window(window)
            .map(|s| s.values.clone())
            .ok_or_else(|| Error::Config {
                reason: format!("no hparams for window {window}"),
            })?;
        let mut report = WindowReport {
            window,
            outcome: Outcome::Failed {
                reason: "not attempted".into(),
            },
            statement: None,
            fetch_failures: BTreeMap::new(),
        };
        loop {
            let now = self.chain.now_ms()?;
            match self.journal.next_step(window)? {
                NextStep::Done => {
                    let record = self.journal.get(window)?;
                    report.outcome = match record {
                        Some(r) if r.state == crate::journal::WindowState::Submitted => {
                            Outcome::Submitted {
                                digest: r.tx_digest.unwrap_or_default(),
                            }
                        }
                        Some(r) => Outcome::Failed {
                            reason: r.outcome.unwrap_or_default(),
                        },
                        None => report.outcome,
                    };
                    return Ok(report);
                }
                NextStep::Score => {
                    if now + self.config.submit_margin_ms >= times.end_ms {
                        return self.give_up(
                            window,
                            &mut report,
                            "late: no time left to score",
                            now,
                        );
                    }
                    match self.score(window, &values, &times, &mut report) {
                        Ok(()) => {}
                        Err(e @ Error::Enclave { .. }) | Err(e @ Error::Refused { .. }) => {
                            tracing::warn!(window, error = %e, "enclave failed; retrying");
                            self.registered = None;
                            std::thread::sleep(Duration::from_millis(200));
                        }
                        Err(e) => return Err(e),
                    }
                }
                NextStep::Submit {
                    statement,
                    signature,
                } => {
                    let signed = SignedStatement::decode(&statement, &signature)
                        .map_err(|e| enclave_err(format!("journaled statement: {e}")))?;
                    report.statement = Some(signed.clone());
                    if now >= times.end_ms {
                        return self.give_up(
                            window,
                            &mut report,
                            "late: window over before submission",
                            now,
                        );
                    }
                    let key = self.chain.enclave_key()?;
                    if signed.verify(key.as_deref().unwrap_or_default()).is_err() {
                        // Signed by a key the chain no longer holds (the
                        // enclave restarted): score again if there is time.
                        self.journal.discard_statement(
                            window,
                            "signed by an enclave key that is no longer registered",
                            now,
                        )?;
                        continue;
                    }
                    let args = SubmitArgs::new(
                        signed.message.timestamp_ms,
                        &signed.message.payload,
                        &signed.signature,
                    )?;
                    let prepared = self.chain.prepare_submission(&args)?;
                    self.journal.begin_submission(
                        window,
                        &prepared.digest,
                        &prepared.bytes,
                        now,
                    )?;
                    self.checkpoint(Step::Prepared)?;
                    self.send(window, &prepared.digest, &prepared.bytes, &mut report)?;
                }
                NextStep::Confirm {
                    digest,
                    transaction,
                } => {
                    if self.chain.has_submitted(window)? {
                        self.journal.finish(window, Ok(&digest), now)?;
                        continue;
                    }
                    if now >= times.end_ms {
                        self.journal.finish(
                            window,
                            Err("late: the sent transaction did not land in time"),
                            now,
                        )?;
                        self.metrics.windows_late.inc();
                        continue;
                    }
                    self.send(window, &digest, &transaction, &mut report)?;
                }
            }
        }
    }

    fn give_up(
        &mut self,
        window: u64,
        report: &mut WindowReport,
        reason: &str,
        now: u64,
    ) -> Result<WindowReport> {
        if self.journal.get(window)?.is_none() {
            self.journal.open_window(window, &[], now)?;
        }
        self.journal.finish(window, Err(reason), now)?;
        self.metrics.windows_late.inc();
        tracing::warn!(window, reason, "window not submitted");
        report.outcome = Outcome::Failed {
            reason: reason.into(),
        };
        Ok(report.clone())
    }

    fn send(
        &mut self,
        window: u64,
        digest: &str,
        bytes: &[u8],
        report: &mut WindowReport,
    ) -> Result<()> {
        let prepared = crate::chain::PreparedSubmission {
            digest: digest.to_string(),
            bytes: bytes.to_vec(),
        };
        let result = self.chain.send(&prepared);
        self.checkpoint(Step::Sent)?;
        let now = self.chain.now_ms()?;
        match result {
            Ok(()) => {
                self.journal.finish(window, Ok(digest), now)?;
                self.metrics.windows_scored.inc();
                tracing::info!(window, digest, "statement accepted");
                report.outcome = Outcome::Submitted {
                    digest: digest.to_string(),
                };
            }
            Err(e @ Error::Abort { .. }) => {
                let reason = e.to_string();
                self.journal.finish(window, Err(&reason), now)?;
                self.metrics.windows_failed.inc();
                tracing::error!(window, %reason, "statement refused");
                report.outcome = Outcome::Failed { reason };
            }
            // Transport trouble: the bytes are journaled; the next pass
            // confirms or re-sends exactly them.
            Err(e) => {
                tracing::warn!(window, error = %e, "send failed; will confirm or re-send");
                std::thread::sleep(Duration::from_millis(500));
            }
        }
        Ok(())
    }

    fn score(
        &mut self,
        window: u64,
        values: &HparamValues,
        times: &WindowTimes,
        report: &mut WindowReport,
    ) -> Result<()> {
        let (_, checkpoint_hash) = self.chain.latest_anchor(window)?;
        let commitments = self.chain.commitments(window)?;
        let mut uids = self.chain.miners()?;
        for (uid, _) in &commitments {
            if !uids.contains(uid) {
                uids.push(*uid);
            }
        }
        uids.sort_unstable();
        uids.truncate(self.config.max_miners);
        let root = self.dataset.root();
        if root.as_slice() != values.dataset_root.as_slice() {
            return Err(Error::Config {
                reason: "the local dataset is not the network's (dataset root differs)".into(),
            });
        }
        let miners: Vec<MinerCommitment> = uids
            .iter()
            .map(|uid| MinerCommitment {
                uid: *uid,
                gradient_hash: commitments
                    .iter()
                    .find(|(u, _)| u == uid)
                    .and_then(|(_, c)| c.sha256.as_slice().try_into().ok())
                    .map(Bytes32),
            })
            .collect();
        let open = OpenWindow {
            window,
            validator: Bytes32(self.chain.validator()),
            eval_params: values.eval_params(),
            checkpoint_hash: Bytes32(checkpoint_hash),
            dataset_root: Bytes32(root),
            page_count: self.dataset.len(),
            miners,
        };
        let inputs =
            vram_attestation::sha256(&bcs::to_bytes(&open).map_err(|e| Error::Config {
                reason: format!("encoding the window's inputs: {e}"),
            })?);
        let now = self.chain.now_ms()?;
        self.journal.open_window(window, &inputs, now)?;
        self.checkpoint(Step::Opened)?;

        let (weights, config_json) = self.checkpoints.get(&checkpoint_hash)?;
        let cfg = GptConfig::from_json(&config_json).map_err(|e| Error::Config {
            reason: format!("checkpoint config: {e}"),
        })?;
        let shapes = ModelShapes::new(cfg.parameter_shapes()).map_err(|e| Error::Config {
            reason: format!("checkpoint shapes: {e}"),
        })?;
        let budget = shapes.blob_budget(values.topk_compression as usize) as u64;
        let started = Instant::now();
        let blobs = self.fetch_all(&commitments, budget, times, report)?;
        self.metrics.fetch_latency.observe(started.elapsed());
        self.checkpoint(Step::Fetched)?;

        let key = self.ensure_enclave()?;
        let mut client = self.supervisor.client()?;
        let (need_checkpoint, need_manifest) = client.open_window(&open)?;
        if need_checkpoint {
            client.upload(window, UploadKind::CheckpointWeights, &weights)?;
            client.upload(window, UploadKind::CheckpointConfig, &config_json)?;
        }
        if need_manifest {
            client.upload(window, UploadKind::Manifest, self.dataset.manifest())?;
        }
        for (uid, blob) in &blobs {
            client.upload(window, UploadKind::Gradient { uid: *uid }, blob)?;
        }
        let request = client.request_pages(window)?;
        let pages = request
            .pages()
            .into_iter()
            .map(|index| {
                self.dataset
                    .page(index)
                    .map(|tokens| Page {
                        index,
                        tokens: vram_enclave::dataset::page_bytes(tokens),
                    })
                    .ok_or_else(|| enclave_err(format!("the enclave asked for page {index}")))
            })
            .collect::<Result<Vec<_>>>()?;
        let outstanding = client.send_pages(window, pages)?;
        if outstanding != 0 {
            return Err(enclave_err(format!("{outstanding} pages still missing")));
        }
        let (message, signature) = client.finish(window)?;
        self.checkpoint(Step::Signed)?;
        let signed = SignedStatement::decode(&message, &signature)
            .map_err(|e| enclave_err(format!("statement: {e}")))?;
        signed
            .verify(&key)
            .map_err(|e| enclave_err(format!("statement signature: {e}")))?;
        let p = &signed.message.payload;
        if p.window != window
            || p.checkpoint_hash != checkpoint_hash
            || p.validator != self.chain.validator()
        {
            return Err(enclave_err("the statement is about other inputs"));
        }
        let scored = p
            .entries
            .iter()
            .filter(|e| e.status == EntryStatus::Scored as u8)
            .count();
        tracing::info!(
            window,
            entries = p.entries.len(),
            scored,
            "statement signed"
        );
        let now = self.chain.now_ms()?;
        self.journal
            .record_statement(window, &message, &signature, now)?;
        report.statement = Some(signed);
        self.checkpoint(Step::Scored)?;
        Ok(())
    }

    /// Fetches every committed blob, `fetch_parallelism` at a time, until
    /// every fetch is done or half the time left before the submission
    /// margin has passed; a blob that did not arrive by then is left out
    /// (the enclave scores it as missing) so that the window still makes its
    /// deadline.
    fn fetch_all(
        &self,
        commitments: &[(u64, crate::chain::types::Commitment)],
        budget: u64,
        times: &WindowTimes,
        report: &mut WindowReport,
    ) -> Result<BTreeMap<u64, Vec<u8>>> {
        let now = self.chain.now_ms()?;
        let usable = times
            .end_ms
            .saturating_sub(self.config.submit_margin_ms)
            .saturating_sub(now);
        let give_up = Instant::now() + Duration::from_millis(usable / 2);
        let jobs: Arc<std::sync::Mutex<Vec<(u64, crate::chain::types::Commitment)>>> = Arc::new(
            std::sync::Mutex::new(commitments.iter().rev().cloned().collect()),
        );
        let (tx, rx) = std::sync::mpsc::channel();
        for _ in 0..self.config.fetch_parallelism.max(1).min(commitments.len()) {
            let (jobs, tx, walrus) = (Arc::clone(&jobs), tx.clone(), self.walrus.clone());
            std::thread::spawn(move || loop {
                let job = jobs.lock().ok().and_then(|mut j| j.pop());
                let Some((uid, c)) = job else { return };
                let result = c
                    .blob()
                    .and_then(|(id, sha)| walrus.fetch(&id, &sha, budget));
                if tx.send((uid, result)).is_err() {
                    return;
                }
            });
        }
        drop(tx);
        let mut out = BTreeMap::new();
        let mut pending: std::collections::BTreeSet<u64> =
            commitments.iter().map(|(uid, _)| *uid).collect();
        while !pending.is_empty() {
            let left = give_up.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok((uid, result)) => {
                    pending.remove(&uid);
                    match result {
                        Ok(bytes) => {
                            out.insert(uid, bytes);
                        }
                        Err(e) => {
                            tracing::warn!(uid, error = %e, "blob not fetched: scored as missing");
                            report.fetch_failures.insert(uid, e.to_string());
                        }
                    }
                }
                Err(_) => break,
            }
        }
        for uid in pending {
            tracing::warn!(uid, "blob fetch ran out of time: scored as missing");
            report
                .fetch_failures
                .insert(uid, "fetch ran out of time for this window".into());
        }
        Ok(out)
    }

    /// Runs windows as the chain clock reaches their upload deadlines, until
    /// `stop` is set or `last` (inclusive) is done.
    pub fn run(
        &mut self,
        stop: &AtomicBool,
        first: Option<u64>,
        last: Option<u64>,
        mut on_window: impl FnMut(&WindowReport),
    ) -> Result<()> {
        let hp = self.chain.hparams()?;
        let mut window = match first {
            Some(w) => w,
            None => hp.window_at(self.chain.now_ms()?),
        };
        while !stop.load(Ordering::SeqCst) {
            if last.is_some_and(|l| window > l) {
                return Ok(());
            }
            let hp = self.chain.hparams()?;
            let times = hp.times(window).ok_or_else(|| Error::Config {
                reason: format!("window {window} precedes the schedule"),
            })?;
            // Keep the enclave up (and its key registered) between windows.
            if let Err(e) = self.ensure_enclave() {
                tracing::warn!(error = %e, "enclave not ready");
            }
            let poll = Duration::from_millis(200);
            if !wait_until(&self.chain, times.upload_deadline_ms, poll, stop)? {
                break;
            }
            let report = self.run_window(window)?;
            on_window(&report);
            window += 1;
        }
        Ok(())
    }
}
