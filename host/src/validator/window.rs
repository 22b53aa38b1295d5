//! One window, from the upload deadline to a confirmed submission: resume
//! from the journal, score, prepare, send, confirm.

use std::collections::BTreeMap;
use std::time::Duration;

use vram_attestation::statement::SignedStatement;

use super::{enclave_err, Outcome, Step, Validator, WindowReport};
use crate::chain::types::SubmitArgs;
use crate::chain::Chain;
use crate::error::{Error, Result};
use crate::journal::NextStep;

impl<C: Chain> Validator<C> {
    /// Works on `window` until it is submitted, refused, or out of time.
    /// Resumes from the journal: a window already submitted is not touched.
    pub fn run_window(&mut self, window: u64) -> Result<WindowReport> {
        let hp = self.chain.hparams()?;
        let times = hp.times(window).ok_or(Error::NoSchedule { window })?;
        let values = hp
            .segment_for_window(window)
            .map(|s| s.values.clone())
            .ok_or(Error::NoSchedule { window })?;
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
                    if now + self.config.submit_margin_ms >= times.sign_by_ms {
                        return self.give_up(
                            window,
                            &mut report,
                            "late: no time left to score",
                            now,
                        );
                    }
                    match self.score(window, &values, &times, &mut report) {
                        Ok(()) => {}
                        Err(Error::WindowLost { reason, .. }) => {
                            return self.give_up(window, &mut report, &reason, now);
                        }
                        Err(Error::OutOfTime { message, .. }) => {
                            // Final: the enclave signs no shorter statement,
                            // and this window is not retried.
                            self.metrics.windows_out_of_time.inc();
                            let reason = format!("out of time: {message}");
                            return self.give_up(window, &mut report, &reason, now);
                        }
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
                    if now >= times.scoring_end_ms {
                        return self.give_up(
                            window,
                            &mut report,
                            "late: the scoring span ended before submission",
                            now,
                        );
                    }
                    let key = self.chain.window_signer(window)?.map(|r| r.public_key);
                    if signed.verify(key.as_deref().unwrap_or_default()).is_err() {
                        // Only the key registered before the deadline signs
                        // for the window; scoring again cannot help.
                        return self.give_up(
                            window,
                            &mut report,
                            "the journaled statement's key is not the window's signer",
                            now,
                        );
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
                    if now >= times.scoring_end_ms {
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

    pub(super) fn give_up(
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

    pub(super) fn send(
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
                let current = self.metrics.current_window.get();
                self.metrics.last_submitted_window.set(window as i64);
                self.metrics
                    .submission_lag_windows
                    .set(current.saturating_sub(window as i64).max(0));
                if let Some(signed) = &report.statement {
                    self.metrics.observe_statuses(
                        signed
                            .message
                            .payload
                            .entries
                            .iter()
                            .map(|e| status_word(e.status)),
                    );
                }
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
}

/// A statement status code as the word metrics and reports use
/// (`not_evaluated` with an underscore, as a Prometheus label value).
pub fn status_word(status: u8) -> &'static str {
    vram_attestation::statement::EntryStatus::from_u8(status).map_or("unknown", |s| s.as_str())
}
