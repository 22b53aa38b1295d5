//! Fetching a window's committed blobs from Walrus within the time left.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{Validator, WindowReport};
use crate::chain::types::{Commitment, WindowTimes};
use crate::chain::Chain;
use crate::error::Result;

impl<C: Chain> Validator<C> {
    /// Fetches every committed blob, `fetch_parallelism` at a time, until
    /// every fetch is done or half the time left before the submission
    /// margin has passed; a blob that did not arrive by then is left out
    /// (the enclave scores it as missing) so that the window still makes its
    /// deadline.
    pub(super) fn fetch_all(
        &self,
        commitments: &[(u64, Commitment)],
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
            let (jobs, tx, walrus) = (Arc::clone(&jobs), tx.clone(), self.inputs.walrus().clone());
            std::thread::spawn(move || loop {
                let job = jobs.lock().ok().and_then(|mut j| j.pop());
                let Some((uid, c)) = job else { return };
                let result = c
                    .blob()
                    .and_then(|(id, sha)| walrus.fetch_content(&id, &sha, budget));
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
}
