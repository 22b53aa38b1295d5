//! The window loop (design.md §3): at the upload deadline, read what the chain
//! committed, fetch it, drive the enclave, check its statement and submit it
//! before the window ends, journaling every step so that a crash at any
//! point loses nothing and never submits twice.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use vram_attestation::statement::SignedStatement;
use vram_attestation::{verify, AttestationDocument, Policy, TrustRoot};

use crate::chain::Chain;
use crate::enclave_client::Attestation;
use crate::error::{Error, Result};
use crate::inputs::InputStore;
use crate::journal::Journal;
use crate::metrics::Metrics;
use crate::sources::Dataset;
use crate::supervisor::Supervisor;

mod fetch;
pub mod prefetch;
mod score;
mod window;

pub use window::status_word;

/// Walrus epochs an attestation document is stored for (testnet and
/// mainnet cap a store at 53 epochs, about two years on mainnet).
pub const DOCUMENT_EPOCHS: u32 = 53;

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
    /// Do not start scoring when less than this remains before the window's
    /// last moment to sign.
    pub submit_margin_ms: u64,
    /// Where fetched gradient blobs are kept by hash (`storage.blobs`);
    /// `None`: a folder in the system's temporary directory.
    pub blob_dir: Option<PathBuf>,
}

impl Default for LoopConfig {
    fn default() -> Self {
        Self {
            trust: Trust::AwsNitro,
            fetch_parallelism: 8,
            submit_margin_ms: 5_000,
            blob_dir: None,
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
    inputs: InputStore,
    /// The dataset of the last window (reloaded when Hparams change it).
    dataset: Option<Dataset>,
    config: LoopConfig,
    metrics: Arc<Metrics>,
    /// The enclave key known to be registered, and the restart count it is for.
    registered: Option<([u8; 32], u64)>,
    /// Test hook: return `Err` right after this step.
    crash_after: Option<Step>,
    /// Fault hook: in this window, stall past the last moment to sign.
    stall_in: Option<u64>,
    /// Every attestation document verified, with the key it binds.
    attested: Vec<([u8; 32], Vec<u8>)>,
    /// The last window this loop submitted.
    last_submitted: Option<u64>,
    /// The blob cache and its fetch workers, created on first use.
    prefetcher: Option<prefetch::Prefetcher>,
    /// The blob size cap of the last window's checkpoint (the prefetch of
    /// the next window uses it).
    blob_budget: Option<u64>,
    /// When the next window's commitments were last looked at.
    last_prefetch: Option<std::time::Instant>,
}

pub(super) fn enclave_err(reason: impl Into<String>) -> Error {
    Error::Enclave {
        reason: reason.into(),
    }
}

impl<C: Chain> Validator<C> {
    /// Assembles a validator.
    pub fn new(
        chain: C,
        supervisor: Supervisor,
        journal: Journal,
        inputs: InputStore,
        config: LoopConfig,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            chain,
            supervisor,
            journal,
            inputs,
            dataset: None,
            config,
            metrics,
            registered: None,
            crash_after: None,
            stall_in: None,
            attested: Vec::new(),
            last_submitted: None,
            prefetcher: None,
            blob_budget: None,
            last_prefetch: None,
        }
    }

    /// Makes the loop fail right after `step` (fault-injection tests).
    pub fn crash_after(&mut self, step: Option<Step>) {
        self.crash_after = step;
    }

    /// Makes the host stall in `window`, once its pages are sent, until the
    /// window's last moment to sign has passed (fault injection: a validator
    /// that cannot score its budget in time). The enclave then signs nothing
    /// and the window is lost.
    pub fn stall_in(&mut self, window: Option<u64>) {
        self.stall_in = window;
    }

    pub(super) fn checkpoint(&self, step: Step) -> Result<()> {
        if self.crash_after == Some(step) {
            return Err(Error::InjectedCrash {
                step: format!("{step:?}"),
            });
        }
        Ok(())
    }

    /// The chain.
    pub fn chain(&mut self) -> &mut C {
        &mut self.chain
    }

    /// The loop's metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
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
                let pem = std::fs::read_to_string(path).map_err(Error::io(path))?;
                TrustRoot::from_pem(&pem)
            }
        }
        .map_err(|e| enclave_err(format!("trust root: {e}")))?;
        let doc = AttestationDocument::parse(&attestation)
            .map_err(|e| enclave_err(format!("attestation: {e}")))?;
        let now_ms = crate::chain::unix_ms();
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
        // A new key (a restart) is registered at once, in production as in
        // test mode: it signs from the next upload deadline on; the window in
        // flight, if any, is lost (design §2).
        if self.chain.enclave_key()?.as_deref() != Some(&key[..]) {
            // The document goes to Walrus first, so that the registration
            // records where auditors find it.
            let blob = match self
                .inputs
                .walrus()
                .store_content(&attestation, DOCUMENT_EPOCHS)
            {
                Ok(id) => Some(id),
                Err(e) => {
                    tracing::warn!(error = %e, "attestation document not stored on Walrus: \
                        the registration records its hash only");
                    None
                }
            };
            match self.config.trust {
                Trust::TestRoot(_) => {
                    let document = crate::chain::types::DocumentRef {
                        sha256: vram_attestation::sha256(&attestation),
                        blob,
                    };
                    self.chain.register_test_enclave(&key, &document)?
                }
                Trust::AwsNitro => self.chain.register_attested_enclave(&attestation, blob)?,
            }
            tracing::info!(key = %hex::encode(key), "enclave key registered");
        }
        self.registered = Some((key, restarts));
        Ok(key)
    }

    /// Runs windows as the chain clock reaches the end of their reveal phase, until
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
            let times = hp.times(window).ok_or(Error::NoSchedule { window })?;
            self.metrics.current_window.set(window as i64);
            if let Some(last) = self.last_submitted {
                self.metrics
                    .submission_lag_windows
                    .set(window.saturating_sub(last) as i64);
            }
            if let Ok(Some(balance)) = self.chain.gas_balance() {
                self.metrics
                    .gas_balance_mist
                    .set(i64::try_from(balance).unwrap_or(i64::MAX));
            }
            // Keep the enclave up (and its key registered) between windows.
            match self.ensure_enclave() {
                Ok(_) => {
                    self.metrics.enclave_up.set(1);
                }
                Err(e) => {
                    self.metrics.enclave_up.set(0);
                    tracing::warn!(error = %e, "enclave not ready");
                }
            }
            if let Ok(budget) = self.chain.budget(window) {
                self.metrics
                    .budget
                    .set(i64::try_from(budget).unwrap_or(i64::MAX));
            }
            // Commitments are final once the reveal phase ends; the window
            // opens in the enclave a seed margin later. Until then its blobs
            // are fetched as they are committed.
            if !self.wait_prefetching(window, times.reveal_end_ms, stop)? {
                break;
            }
            let report = self.run_window(window)?;
            if let Some(p) = self.prefetcher.as_mut() {
                p.done_before(window + 1);
            }
            if matches!(report.outcome, Outcome::Submitted { .. }) {
                self.last_submitted = Some(window);
            }
            on_window(&report);
            window += 1;
        }
        Ok(())
    }

    /// Waits until chain time reaches `until_ms` or `stop` is set, fetching
    /// `window`'s blobs as they are committed. False when stopped.
    fn wait_prefetching(&mut self, window: u64, until_ms: u64, stop: &AtomicBool) -> Result<bool> {
        let poll = Duration::from_millis(200);
        loop {
            if stop.load(Ordering::SeqCst) {
                return Ok(false);
            }
            let now = self.chain.now_ms()?;
            if now >= until_ms {
                return Ok(true);
            }
            self.prefetch(window);
            std::thread::sleep(poll.min(Duration::from_millis(until_ms - now)));
        }
    }
}
