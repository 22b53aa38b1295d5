//! Gradient blobs on disk, fetched ahead: while the enclave scores window W
//! the host fetches W+1's committed blobs as their commitments appear, each
//! distinct SHA-256 once, into a folder keyed by hash. Memory holds at most
//! one blob per fetch worker; the enclave's uploads read them back from disk
//! one at a time. Nothing here is trusted: every read is checked against its
//! hash, and the enclave checks it again.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

use crate::chain::types::Commitment;
use crate::error::{Error, Result};
use crate::walrus::{BlobId, WalrusClient};

/// What became of one blob hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetched {
    /// Waiting for, or in, a worker.
    Pending,
    /// On disk, checked.
    Stored,
    /// The fetch failed; why.
    Failed(String),
}

struct Job {
    id: BlobId,
    sha256: [u8; 32],
    max_bytes: u64,
}

/// Each blob hash's state, and the signal that one changed.
type Shared = (Mutex<HashMap<[u8; 32], Fetched>>, Condvar);

/// The disk cache and the fetch workers.
pub struct Prefetcher {
    dir: PathBuf,
    /// The workers end once this is dropped and the queue drained.
    jobs: Sender<Job>,
    shared: Arc<Shared>,
    /// The hashes each window wants, to drop what no live window needs.
    wanted: BTreeMap<u64, BTreeSet<[u8; 32]>>,
}

impl Prefetcher {
    /// Workers fetching into `dir` (created), `parallelism` at a time.
    /// Blobs left there by an earlier run are reused once checked.
    pub fn new(dir: &Path, walrus: &WalrusClient, parallelism: usize) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(Error::io(dir))?;
        let (tx, rx) = channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        let shared = Arc::new((Mutex::new(HashMap::new()), Condvar::new()));
        for _ in 0..parallelism.max(1) {
            let (rx, shared, walrus, dir) = (
                Arc::clone(&rx),
                Arc::clone(&shared),
                walrus.clone(),
                dir.to_path_buf(),
            );
            std::thread::spawn(move || worker(&rx, &shared, &walrus, &dir));
        }
        Ok(Self {
            dir: dir.to_path_buf(),
            jobs: tx,
            shared,
            wanted: BTreeMap::new(),
        })
    }

    fn path(&self, sha256: &[u8; 32]) -> PathBuf {
        self.dir.join(hex::encode(sha256))
    }

    /// Queues every distinct blob of `window`'s `commitments` not yet stored
    /// or queued; with `retry`, also those whose fetch failed.
    pub fn want(
        &mut self,
        window: u64,
        commitments: &[(u64, Commitment)],
        max_bytes: u64,
        retry: bool,
    ) {
        let wanted = self.wanted.entry(window).or_default();
        let Ok(mut states) = self.shared.0.lock() else {
            return;
        };
        for (uid, c) in commitments {
            let Ok((id, sha256)) = c.blob() else {
                tracing::warn!(uid, "commitment without a valid blob id or hash");
                continue;
            };
            wanted.insert(sha256);
            let known = states.get(&sha256).cloned();
            let queue = match known {
                None => !checked_on_disk(&self.dir.join(hex::encode(sha256)), &sha256),
                Some(Fetched::Failed(_)) => retry,
                Some(Fetched::Pending | Fetched::Stored) => false,
            };
            if !queue {
                if known.is_none() {
                    states.insert(sha256, Fetched::Stored);
                }
                continue;
            }
            states.insert(sha256, Fetched::Pending);
            let job = Job {
                id,
                sha256,
                max_bytes,
            };
            if self.jobs.send(job).is_err() {
                states.insert(sha256, Fetched::Failed("the fetch workers stopped".into()));
            }
        }
    }

    /// Waits until every hash of `hashes` is stored or failed, or `until`.
    /// Returns each hash's state then.
    pub fn wait(&self, hashes: &BTreeSet<[u8; 32]>, until: Instant) -> HashMap<[u8; 32], Fetched> {
        let (lock, cond) = &*self.shared;
        let Ok(mut states) = lock.lock() else {
            return HashMap::new();
        };
        loop {
            let pending = hashes
                .iter()
                .any(|h| matches!(states.get(h), None | Some(Fetched::Pending)));
            let left = until.saturating_duration_since(Instant::now());
            if !pending || left.is_zero() {
                return hashes
                    .iter()
                    .map(|h| (*h, states.get(h).cloned().unwrap_or(Fetched::Pending)))
                    .collect();
            }
            states = match cond.wait_timeout(states, left) {
                Ok((guard, _)) => guard,
                Err(_) => return HashMap::new(),
            };
        }
    }

    /// The stored blob of `sha256`, read back and checked.
    pub fn read(&self, sha256: &[u8; 32]) -> Result<Vec<u8>> {
        let path = self.path(sha256);
        let bytes = std::fs::read(&path).map_err(Error::io(&path))?;
        if vram_attestation::sha256(&bytes) != *sha256 {
            let _ = std::fs::remove_file(&path);
            return Err(Error::Walrus {
                reason: format!(
                    "cached blob {} no longer matches its hash",
                    hex::encode(sha256)
                ),
            });
        }
        Ok(bytes)
    }

    /// Forgets every window before `window` and deletes the blobs no
    /// remaining window wants: the folder holds at most two windows.
    pub fn done_before(&mut self, window: u64) {
        self.wanted = self.wanted.split_off(&window);
        let keep: BTreeSet<[u8; 32]> = self.wanted.values().flatten().copied().collect();
        if let Ok(mut states) = self.shared.0.lock() {
            states.retain(|h, s| keep.contains(h) || *s == Fetched::Pending);
        }
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let stale = hex::decode(name.to_string_lossy().as_ref())
                .ok()
                .and_then(|b| <[u8; 32]>::try_from(b.as_slice()).ok())
                .is_none_or(|h| !keep.contains(&h));
            if stale {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
}

fn checked_on_disk(path: &Path, sha256: &[u8; 32]) -> bool {
    std::fs::read(path).is_ok_and(|b| vram_attestation::sha256(&b) == *sha256)
}

fn worker(rx: &Mutex<Receiver<Job>>, shared: &Shared, walrus: &WalrusClient, dir: &Path) {
    loop {
        let job = match rx.lock() {
            Ok(rx) => rx.recv(),
            Err(_) => return,
        };
        let Ok(job) = job else { return };
        let result = walrus
            .fetch_content(&job.id, &job.sha256, job.max_bytes)
            .and_then(|bytes| store(dir, &job.sha256, &bytes));
        let state = match result {
            Ok(()) => Fetched::Stored,
            Err(e) => {
                tracing::warn!(blob = %hex::encode(job.sha256), error = %e, "blob not fetched");
                Fetched::Failed(e.to_string())
            }
        };
        let (lock, cond) = shared;
        if let Ok(mut states) = lock.lock() {
            states.insert(job.sha256, state);
        }
        cond.notify_all();
    }
}

/// Writes `bytes` under its hash, atomically (a crash leaves no partial
/// file under the final name).
fn store(dir: &Path, sha256: &[u8; 32], bytes: &[u8]) -> Result<()> {
    let name = hex::encode(sha256);
    let tmp = dir.join(format!(".{name}.part"));
    std::fs::write(&tmp, bytes).map_err(Error::io(&tmp))?;
    let path = dir.join(name);
    std::fs::rename(&tmp, &path).map_err(Error::io(&path))
}
