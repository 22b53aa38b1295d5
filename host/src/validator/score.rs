//! Scoring a window: the inputs the chain names, the blobs fetched within
//! the time left, the enclave driven through the protocol, its statement
//! checked.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use vram_attestation::statement::{EntryStatus, SignedStatement, MAX_ENTRIES};
use vram_enclave::codec::ModelShapes;
use vram_enclave::model::ModelConfig;
use vram_enclave::protocol::{Bytes32, ErrorCode, MinerCommitment, OpenWindow, Page, UploadKind};

use super::{enclave_err, Step, Validator, WindowReport};
use crate::chain::types::{AnchorRef, Commitment, HparamValues, WindowTimes};
use crate::chain::Chain;
use crate::error::{Error, Result};
use crate::sources::CheckpointFiles;

impl<C: Chain> Validator<C> {
    pub(super) fn score(
        &mut self,
        window: u64,
        values: &HparamValues,
        times: &WindowTimes,
        report: &mut WindowReport,
    ) -> Result<()> {
        let anchor = self.chain.latest_anchor(window)?;
        self.load_dataset(values)?;
        // Commitments are final once the reveal phase is over; a node whose
        // latest checkpoint is behind it could list too few (design §3).
        self.wait_for_reveal_end(window, times)?;
        let (open, commitments) = self.window_inputs(window, &anchor, values, times)?;
        let inputs =
            vram_attestation::sha256(&bcs::to_bytes(&open).map_err(|e| Error::Encoding {
                what: "the window's inputs",
                reason: e.to_string(),
            })?);
        let now = self.chain.now_ms()?;
        self.journal.open_window(window, &inputs, now)?;
        self.checkpoint(Step::Opened)?;

        let checkpoint = self
            .inputs
            .checkpoint(&anchor.checkpoint_hash, &anchor.checkpoint_blob)?;
        let cfg = ModelConfig::from_json(&checkpoint.config).map_err(|e| Error::Checkpoint {
            reason: format!("config.json: {e}"),
        })?;
        let shapes = ModelShapes::new(cfg.parameter_shapes()).map_err(|e| Error::Checkpoint {
            reason: format!("shapes: {e}"),
        })?;
        let budget = shapes.blob_budget(values.topk_compression as usize) as u64;
        let started = Instant::now();
        let blobs = self.fetch_all(window, &commitments, budget, times, report)?;
        self.metrics
            .fetch_latency
            .observe(started.elapsed().as_secs_f64());
        self.checkpoint(Step::Fetched)?;

        let key = self.ensure_enclave()?;
        // Only the key registered before the upload deadline signs for the
        // window (design §2): an enclave that restarted since cannot.
        let signer = self.chain.window_signer(window)?;
        if signer.as_ref().map(|r| r.public_key.as_slice()) != Some(&key[..]) {
            return Err(Error::WindowLost {
                window,
                reason: format!(
                    "the enclave's key {} was not registered before the upload deadline; \
                     it signs from the next window",
                    hex::encode(key)
                ),
            });
        }
        self.check_enclave_clock(&open)?;
        self.wait_for_scoring_phase(&open, times)?;
        let (message, signature) = self.drive_enclave(&open, &checkpoint, &blobs, times)?;
        self.checkpoint(Step::Signed)?;
        let signed = self.check_statement(&open, &key, &message, &signature)?;
        let now = self.chain.now_ms()?;
        self.journal
            .record_statement(window, &message, &signature, now)?;
        report.statement = Some(signed);
        self.checkpoint(Step::Scored)?;
        Ok(())
    }

    /// What the chain names for `window`: the anchored checkpoint and every
    /// commitment (the statement lists exactly the committed miners), as the
    /// enclave's `OpenWindow`.
    fn window_inputs(
        &self,
        window: u64,
        anchor: &AnchorRef,
        values: &HparamValues,
        times: &WindowTimes,
    ) -> Result<(OpenWindow, Vec<(u64, Commitment)>)> {
        let checkpoint_hash = anchor.checkpoint_hash;
        let dataset = self.dataset.as_ref().ok_or_else(no_dataset)?;
        let mut commitments = self.final_commitments(window, times)?;
        commitments.sort_unstable_by_key(|(uid, _)| *uid);
        if commitments.len() > MAX_ENTRIES {
            return Err(Error::StatementTooLarge {
                what: "commitments",
                count: commitments.len(),
                max: MAX_ENTRIES,
            });
        }
        let root = dataset.root();
        if root.as_slice() != values.dataset_root.as_slice() {
            return Err(Error::Dataset {
                reason: "the local dataset is not the network's (dataset root differs)".into(),
            });
        }
        let miners = commitments
            .iter()
            .map(|(uid, c)| {
                let hash: [u8; 32] = c.sha256.as_slice().try_into().map_err(|_| Error::Chain {
                    reason: format!("miner {uid}'s commitment is not a 32-byte hash"),
                })?;
                Ok(MinerCommitment {
                    uid: *uid,
                    gradient_hash: Bytes32(hash),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        // A validator the registry does not know has no budget: it cannot
        // score this window (the chain would refuse it too), and the loop
        // goes on.
        let budget = self.chain.budget(window).map_err(|e| Error::WindowLost {
            window,
            reason: format!("no budget for this validator in window {window}: {e}"),
        })?;
        let open = OpenWindow {
            window,
            validator: Bytes32(self.chain.validator()),
            eval_params: values.eval_params(times.upload_deadline_ms, budget),
            checkpoint_hash: Bytes32(checkpoint_hash),
            dataset_root: Bytes32(root),
            page_count: dataset.len(),
            miners,
        };
        Ok((open, commitments))
    }

    /// The protocol, one window: open, upload what the enclave lacks
    /// (checkpoint weights and config, manifest) and every fetched blob for
    /// validation, declare the rest missing, send the pages it asks for,
    /// upload the blobs it asks for again one at a time (read back from the
    /// disk cache, so one blob is in memory at a time), and take the signed
    /// statement. Meanwhile the next window's blobs are fetched as they are
    /// committed.
    fn drive_enclave(
        &mut self,
        open: &OpenWindow,
        checkpoint: &CheckpointFiles,
        blobs: &BTreeMap<u64, [u8; 32]>,
        times: &WindowTimes,
    ) -> Result<(Vec<u8>, Vec<u8>)> {
        let window = open.window;
        let mut client = self.supervisor.client()?;
        let (need_checkpoint, need_manifest) = loop {
            match client.open_window(open) {
                // The enclave's clock is behind chain time: wait for it
                // rather than fetch everything again.
                Err(Error::Refused {
                    code: ErrorCode::TooEarly,
                    message,
                }) => {
                    tracing::info!(window, %message, "the enclave's clock is not there yet");
                    if self.chain.now_ms()? >= times.sign_by_ms {
                        return Err(Error::WindowLost {
                            window,
                            reason: format!("the enclave never opened the window: {message}"),
                        });
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
                other => break other?,
            }
        };
        if need_checkpoint {
            let files = checkpoint.weights.len() as u32;
            for (file, (_, bytes)) in checkpoint.weights.iter().enumerate() {
                let kind = UploadKind::CheckpointWeights {
                    file: file as u32,
                    files,
                };
                client.upload(window, kind, bytes)?;
            }
            client.upload(window, UploadKind::CheckpointConfig, &checkpoint.config)?;
        }
        if need_manifest {
            let dataset = self.dataset.as_ref().ok_or_else(no_dataset)?;
            client.upload(window, UploadKind::Manifest, dataset.manifest())?;
        }
        for (uid, sha) in blobs {
            let blob = self.prefetcher()?.read(sha)?;
            client.upload(window, UploadKind::Gradient { uid: *uid }, &blob)?;
            self.prefetch(window + 1);
        }
        // Every committed blob arrives or is declared missing before the
        // seed exists: withholding is decided blind, and visible on Walrus.
        let missing: Vec<u64> = open
            .miners
            .iter()
            .map(|m| m.uid)
            .filter(|uid| !blobs.contains_key(uid))
            .collect();
        if !missing.is_empty() {
            client.declare_missing(window, &missing)?;
        }
        let request = client.request_pages(window)?;
        let dataset = self.dataset.as_ref().ok_or_else(no_dataset)?;
        let pages = request
            .pages()
            .into_iter()
            .map(|index| {
                dataset
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
        // One blob at a time in the seed's order, until the budget is
        // scored. The enclave alone decides when time is up (its own clock
        // against the window's last moment to sign), and then signs nothing:
        // the window is lost, never cut short.
        if self.stall_in == Some(window) {
            tracing::warn!(
                window,
                "fault injection: stalling past the last moment to sign"
            );
            while self.chain.now_ms()? <= times.sign_by_ms {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        let mut evaluated = 0u64;
        let out_of_time = |e: Error| match e {
            Error::Refused {
                code: ErrorCode::WindowExpired,
                message,
            } => Error::OutOfTime { window, message },
            other => other,
        };
        while let Some(uid) = client.next_gradient(window).map_err(out_of_time)? {
            let sha = blobs.get(&uid).ok_or_else(|| {
                enclave_err(format!(
                    "the enclave asked for miner {uid}'s blob, never delivered"
                ))
            })?;
            let blob = self.prefetcher()?.read(sha)?;
            client.upload(window, UploadKind::Gradient { uid }, &blob)?;
            evaluated += 1;
            self.metrics.gradients_evaluated.inc();
            self.prefetch(window + 1);
        }
        tracing::info!(window, evaluated, "gradients evaluated");
        client.finish(window).map_err(out_of_time)
    }

    /// Alerts when the enclave's clock and chain time differ by more than
    /// half the seed margin (design §2): the enclave opens windows by its own
    /// clock, and the margin must cover the drift.
    fn check_enclave_clock(&mut self, open: &OpenWindow) -> Result<()> {
        let enclave = self.supervisor.client()?.clock_ms()?;
        let chain = self.chain.now_ms()?;
        let skew = enclave.abs_diff(chain);
        self.metrics
            .enclave_clock_skew_ms
            .set(i64::try_from(i128::from(enclave) - i128::from(chain)).unwrap_or(i64::MAX));
        if skew > open.eval_params.seed_margin_ms / 2 {
            self.metrics.enclave_clock_alerts.inc();
            tracing::warn!(
                window = open.window,
                enclave_ms = enclave,
                chain_ms = chain,
                skew_ms = skew,
                seed_margin_ms = open.eval_params.seed_margin_ms,
                "the enclave's clock and chain time disagree by more than half the seed margin"
            );
        }
        Ok(())
    }

    /// Waits until chain time reaches the window's `opens_at_ms`: the
    /// enclave refuses to open the window earlier by its own clock.
    fn wait_for_scoring_phase(&self, open: &OpenWindow, times: &WindowTimes) -> Result<()> {
        let opens_at = open.eval_params.opens_at_ms;
        loop {
            let now = self.chain.now_ms()?;
            if now >= opens_at {
                return Ok(());
            }
            if now >= times.sign_by_ms {
                return Err(Error::WindowLost {
                    window: open.window,
                    reason: "the window's last moment to sign passed before it could open".into(),
                });
            }
            std::thread::sleep(Duration::from_millis((opens_at - now).min(200)));
        }
    }

    /// The window's final commitments: read, with its clock, from a node
    /// past the reveal phase (a lagging one is skipped), retried until the
    /// window's last moment to sign.
    fn final_commitments(
        &self,
        window: u64,
        times: &WindowTimes,
    ) -> Result<Vec<(u64, Commitment)>> {
        loop {
            match self.chain.commitments_after(window, times.reveal_end_ms) {
                Ok(list) => return Ok(list),
                Err(e) if self.chain.now_ms()? < times.sign_by_ms => {
                    tracing::warn!(window, error = %e, "final commitments not read yet");
                    std::thread::sleep(Duration::from_millis(500));
                }
                Err(e) => {
                    return Err(Error::WindowLost {
                        window,
                        reason: format!("the final commitments could not be read: {e}"),
                    })
                }
            }
        }
    }

    /// Waits until the chain's clock (on Sui: the answering node's latest
    /// checkpoint) is past the window's reveal phase, so that the
    /// commitments it lists are the final ones.
    fn wait_for_reveal_end(&self, window: u64, times: &WindowTimes) -> Result<()> {
        loop {
            let now = self.chain.now_ms()?;
            if now >= times.reveal_end_ms {
                return Ok(());
            }
            if now >= times.sign_by_ms {
                return Err(Error::WindowLost {
                    window,
                    reason: "the chain never passed the reveal phase in time".into(),
                });
            }
            std::thread::sleep(Duration::from_millis((times.reveal_end_ms - now).min(200)));
        }
    }

    /// The enclave's statement, checked as the chain will: signed by `key`,
    /// about this window, checkpoint and validator.
    fn check_statement(
        &self,
        open: &OpenWindow,
        key: &[u8; 32],
        message: &[u8],
        signature: &[u8],
    ) -> Result<SignedStatement> {
        let signed = SignedStatement::decode(message, signature)
            .map_err(|e| enclave_err(format!("statement: {e}")))?;
        signed
            .verify(key)
            .map_err(|e| enclave_err(format!("statement signature: {e}")))?;
        let p = &signed.message.payload;
        if p.window != open.window
            || p.checkpoint_hash != open.checkpoint_hash.0
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
            window = open.window,
            entries = p.entries.len(),
            scored,
            "statement signed"
        );
        Ok(signed)
    }
}

fn no_dataset() -> Error {
    Error::Dataset {
        reason: "no dataset loaded for the window".into(),
    }
}

impl<C: Chain> Validator<C> {
    /// Makes the dataset the window's Hparams name the loaded one: kept if
    /// it already is, else from the cache or fetched by its index blob.
    fn load_dataset(&mut self, values: &HparamValues) -> Result<()> {
        let root: [u8; 32] =
            values
                .dataset_root
                .as_slice()
                .try_into()
                .map_err(|_| Error::Dataset {
                    reason: "the network has no dataset set (Hparams dataset_root is empty)".into(),
                })?;
        if self.dataset.as_ref().is_some_and(|d| d.root() == root) {
            return Ok(());
        }
        let index = crate::walrus::BlobId::from_slice(&values.dataset_blob)?;
        let dataset = self
            .inputs
            .dataset(&root, &index, values.dataset_pages, values.page_len)?;
        self.dataset = Some(dataset);
        Ok(())
    }
}
