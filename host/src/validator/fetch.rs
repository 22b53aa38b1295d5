//! Fetching a window's committed blobs from Walrus within the time left,
//! through the disk cache the prefetcher fills while the previous window is
//! scored.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use super::prefetch::{Fetched, Prefetcher};
use super::{Validator, WindowReport};
use crate::chain::types::{Commitment, WindowTimes};
use crate::chain::Chain;
use crate::error::Result;

/// How often the host looks for the next window's new commitments while it
/// works on this one.
const PREFETCH_POLL: Duration = Duration::from_secs(2);

impl<C: Chain> Validator<C> {
    /// Makes sure every committed blob is on disk, fetching what is not
    /// (each distinct hash once; a fetch that failed earlier is tried again)
    /// until every fetch is done or half the time left before the window's
    /// last moment to sign has passed; a blob that did not arrive by then is
    /// left out (the enclave scores it as missing) so that the window still
    /// makes its deadline. Returns each delivered miner's blob hash.
    pub(super) fn fetch_all(
        &mut self,
        window: u64,
        commitments: &[(u64, Commitment)],
        budget: u64,
        times: &WindowTimes,
        report: &mut WindowReport,
    ) -> Result<BTreeMap<u64, [u8; 32]>> {
        let now = self.chain.now_ms()?;
        let usable = times.sign_by_ms.saturating_sub(now);
        let give_up = Instant::now() + Duration::from_millis(usable / 2);
        self.blob_budget = Some(budget);
        let prefetcher = self.prefetcher()?;
        prefetcher.want(window, commitments, budget, true);
        let hashes: BTreeSet<[u8; 32]> = commitments
            .iter()
            .filter_map(|(_, c)| c.blob().ok().map(|(_, h)| h))
            .collect();
        let states = prefetcher.wait(&hashes, give_up);
        let mut out = BTreeMap::new();
        for (uid, c) in commitments {
            let Ok((_, sha)) = c.blob() else {
                report
                    .fetch_failures
                    .insert(*uid, "the commitment names no valid blob".into());
                continue;
            };
            match states.get(&sha) {
                Some(Fetched::Stored) => {
                    out.insert(*uid, sha);
                }
                Some(Fetched::Failed(e)) => {
                    tracing::warn!(uid, error = %e, "blob not fetched: scored as missing");
                    report.fetch_failures.insert(*uid, e.clone());
                }
                Some(Fetched::Pending) | None => {
                    tracing::warn!(uid, "blob fetch ran out of time: scored as missing");
                    report
                        .fetch_failures
                        .insert(*uid, "fetch ran out of time for this window".into());
                }
            }
        }
        Ok(out)
    }

    /// Queues the blobs committed so far for `window` (the next one, while
    /// this one is scored), at most every `PREFETCH_POLL`. A chain read that
    /// fails is logged: prefetching is an optimisation, the window's own
    /// fetch after its reveal phase is what counts.
    pub(super) fn prefetch(&mut self, window: u64) {
        if self
            .last_prefetch
            .is_some_and(|t| t.elapsed() < PREFETCH_POLL)
        {
            return;
        }
        self.last_prefetch = Some(Instant::now());
        let Some(budget) = self.blob_budget else {
            return;
        };
        let commitments = match self.chain.commitments(window) {
            Ok(c) => c,
            Err(e) => {
                tracing::debug!(window, error = %e, "prefetch: commitments not read");
                return;
            }
        };
        if commitments.is_empty() {
            return;
        }
        match self.prefetcher() {
            Ok(p) => p.want(window, &commitments, budget, false),
            Err(e) => tracing::warn!(error = %e, "prefetch: no blob cache"),
        }
    }

    /// The disk cache, created on first use.
    pub(super) fn prefetcher(&mut self) -> Result<&mut Prefetcher> {
        let p = match self.prefetcher.take() {
            Some(p) => p,
            None => {
                let dir = match &self.config.blob_dir {
                    Some(dir) => dir.clone(),
                    None => std::env::temp_dir().join(format!(
                        "vram-blobs-{}",
                        hex::encode(&self.chain.validator()[..8])
                    )),
                };
                Prefetcher::new(&dir, self.inputs.walrus(), self.config.fetch_parallelism)?
            }
        };
        Ok(self.prefetcher.insert(p))
    }
}
