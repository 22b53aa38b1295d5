//! The demo's miners. They train the `tiny` model for real on their own pages
//! (honest), or play one of the cheats the network must catch.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;
use vram_attestation::sha256;
use vram_enclave::codec::{compress, encode_blob, read_blob, write_blob, Bases, BlobMetadata};
use vram_enclave::model::{init_weights, save_weights, Checkpoint, ModelConfig, SplitMix64};
use vram_enclave::service::own_pages;

use super::demo_err;
use crate::error::Result;
use crate::ledger::{Address, Ledger};
use vram_host::chain::types::HparamValues;
use vram_host::sources::{CheckpointStore, Dataset};
use vram_host::walrus::{BlobId, WalrusClient};

/// What a miner does each window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MinerKind {
    /// Trains on its own pages and uploads the compressed gradient.
    Honest,
    /// Uploads noise shaped like a gradient.
    Lazy,
    /// Re-uploads another miner's gradient under its own uid.
    Copycat,
    /// Uploads a gradient computed on an old checkpoint.
    Stale,
    /// Uploads a blob that does not parse.
    Malformed,
    /// Registers, then never commits.
    Absent,
    /// A cheap noise miner for scale runs (`--crowd`): commits a valid
    /// gradient-shaped blob, encoded from one noise draw per window.
    Crowd,
}

impl fmt::Display for MinerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            Self::Honest => "honest",
            Self::Lazy => "lazy",
            Self::Copycat => "copycat",
            Self::Stale => "stale",
            Self::Malformed => "malformed",
            Self::Absent => "absent",
            Self::Crowd => "crowd",
        };
        f.write_str(s)
    }
}

/// The kinds of `count` miners: three honest, then one of each cheat, then
/// honest again (so every cheat is present from eight miners on).
pub fn kinds(count: usize) -> Vec<MinerKind> {
    const ORDER: [MinerKind; 8] = [
        MinerKind::Honest,
        MinerKind::Honest,
        MinerKind::Honest,
        MinerKind::Lazy,
        MinerKind::Copycat,
        MinerKind::Stale,
        MinerKind::Malformed,
        MinerKind::Absent,
    ];
    (0..count)
        .map(|i| ORDER.get(i).copied().unwrap_or(MinerKind::Honest))
        .collect()
}

/// The demo address of miner `index`.
pub fn miner_address(seed: u64, index: usize) -> Address {
    sha256(format!("vram demo miner {seed} {index}").as_bytes())
}

/// Everything a miner needs, shared by all miners.
#[derive(Clone)]
pub struct MinerWorld {
    /// The ledger file.
    pub ledger: PathBuf,
    /// Publisher and aggregator.
    pub walrus: WalrusClient,
    /// Checkpoints by hash.
    pub checkpoints: CheckpointStore,
    /// The dataset.
    pub dataset: std::sync::Arc<Dataset>,
    /// The network's parameters.
    pub values: HparamValues,
    /// The seed (noise, stale base).
    pub seed: u64,
    /// The model the network trains.
    pub model: ModelConfig,
}

/// One miner.
#[derive(Debug, Clone)]
pub struct Miner {
    /// Its uid.
    pub uid: u64,
    /// Its behaviour.
    pub kind: MinerKind,
    /// Its account.
    pub address: Address,
    /// The honest miner a copycat copies.
    pub copy_from: u64,
}

impl Miner {
    /// Does this window's work: produce a blob, upload it, commit it.
    /// Returns the blob's hash, or `None` when the miner stays silent.
    pub fn work(&self, world: &MinerWorld, window: u64) -> Result<Option<[u8; 32]>> {
        let mut ledger = Ledger::open(&world.ledger)?;
        let hp = ledger.hparams()?;
        let times = hp
            .times(window)
            .ok_or_else(|| demo_err(format!("no schedule for window {window}")))?;
        let (anchored, base) = wait_for_anchor(&ledger, window, times.start_ms)?;
        let blob = match self.kind {
            MinerKind::Absent | MinerKind::Crowd => return Ok(None),
            MinerKind::Honest => self.honest(world, window, &base)?,
            MinerKind::Lazy => self.noise(world, window, &base)?,
            MinerKind::Malformed => {
                let mut blob = self.honest(world, window, &base)?;
                blob.truncate(blob.len() / 2);
                blob
            }
            MinerKind::Stale => {
                let old = if anchored > 0 {
                    ledger.latest_anchor(anchored - 1).ok().map(|(_, h)| h)
                } else {
                    None
                };
                match old {
                    Some(old) => self.honest(world, window, &old)?,
                    None => self.on_fresh_weights(world, window)?,
                }
            }
            MinerKind::Copycat => {
                match self.copy(world, &ledger, window, times.upload_deadline_ms)? {
                    Some(blob) => blob,
                    None => return Ok(None),
                }
            }
        };
        let id: BlobId = world.walrus.store_content(&blob, 1)?;
        let hash = sha256(&blob);
        let now = ledger.now_ms()?;
        ledger.commit_gradient(self.address, window, self.uid, &id.0, &hash, now)?;
        Ok(Some(hash))
    }

    fn gradient_blob(
        &self,
        ckpt: &Checkpoint,
        grads: &[(String, Vec<f32>)],
        window: u64,
        topk: u64,
    ) -> Result<Vec<u8>> {
        encode_blob(
            ckpt.shapes(),
            grads.iter().map(|(n, g)| (n.as_str(), g.as_slice())),
            true,
            &BlobMetadata {
                window,
                miner_uid: self.uid,
                topk: topk as usize,
                base_checkpoint: ckpt.hash(),
            },
        )
        .map_err(|e| demo_err(format!("encoding a gradient: {e}")))
    }

    fn own_pages<'d>(&self, world: &'d MinerWorld, window: u64) -> Vec<&'d [u32]> {
        let d = &world.dataset;
        own_pages(&d.root(), window, self.uid, world.values.own_pages, d.len())
            .into_iter()
            .filter_map(|i| d.page(i))
            .collect()
    }

    fn honest(&self, world: &MinerWorld, window: u64, base: &[u8; 32]) -> Result<Vec<u8>> {
        let (weights, config) = world.checkpoints.get(base)?.into_single()?;
        let ckpt = Checkpoint::load(&weights, &config)
            .map_err(|e| demo_err(format!("loading the checkpoint: {e}")))?;
        let pages = self.own_pages(world, window);
        let (_, grads) = vram_train::loss_gradients(&ckpt, &pages)
            .map_err(|e| demo_err(format!("training: {e}")))?;
        self.gradient_blob(&ckpt, &grads, window, world.values.topk_compression)
    }

    fn on_fresh_weights(&self, world: &MinerWorld, window: u64) -> Result<Vec<u8>> {
        let tensors = init_weights(&world.model, world.seed ^ 0x01d);
        let weights = save_weights(&tensors).map_err(|e| demo_err(e.to_string()))?;
        let config = world.model.to_json().map_err(|e| demo_err(e.to_string()))?;
        let ckpt = Checkpoint::load(&weights, &config).map_err(|e| demo_err(e.to_string()))?;
        let (_, grads) = vram_train::loss_gradients(&ckpt, &self.own_pages(world, window))
            .map_err(|e| demo_err(e.to_string()))?;
        self.gradient_blob(&ckpt, &grads, window, world.values.topk_compression)
    }

    fn noise(&self, world: &MinerWorld, window: u64, base: &[u8; 32]) -> Result<Vec<u8>> {
        let (weights, config) = world.checkpoints.get(base)?.into_single()?;
        let ckpt = Checkpoint::load(&weights, &config).map_err(|e| demo_err(e.to_string()))?;
        let grads = noise_gradients(&ckpt, world.seed ^ (window << 20) ^ self.uid);
        self.gradient_blob(&ckpt, &grads, window, world.values.topk_compression)
    }

    /// Waits for the copied miner's commitment, fetches its blob and
    /// re-labels it with this miner's uid.
    fn copy(
        &self,
        world: &MinerWorld,
        ledger: &Ledger,
        window: u64,
        deadline_ms: u64,
    ) -> Result<Option<Vec<u8>>> {
        loop {
            if let Some((_, c)) = ledger
                .commitments(window)?
                .into_iter()
                .find(|(uid, _)| *uid == self.copy_from)
            {
                let (id, sha) = c.blob()?;
                let bytes = world.walrus.fetch_content(&id, &sha, 1 << 30)?;
                let shapes = vram_enclave::codec::ModelShapes::new(world.model.parameter_shapes())
                    .map_err(|e| demo_err(e.to_string()))?;
                let topk = world.values.topk_compression as usize;
                let mut blob =
                    read_blob(&bytes, &shapes, topk).map_err(|e| demo_err(e.to_string()))?;
                blob.metadata.miner_uid = self.uid;
                return write_blob(&blob.params, true, &blob.metadata)
                    .map(Some)
                    .map_err(|e| demo_err(e.to_string()));
            }
            if ledger.now_ms()? + 500 >= deadline_ms {
                return Ok(None);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// The checkpoint to train on: the anchor of `window` once it exists, or
/// the latest one if it does not come within a moment of the window start.
/// One window of a crowd of cheap miners: one checkpoint load and one noise
/// draw, then each miner's own encoding (its uid is in the blob), upload and
/// commitment. Returns the committed `(uid, hash)`.
pub fn crowd_window(
    crowd: &[Miner],
    world: &MinerWorld,
    window: u64,
) -> Result<Vec<(u64, [u8; 32])>> {
    let Some(first) = crowd.first() else {
        return Ok(Vec::new());
    };
    let mut ledger = Ledger::open(&world.ledger)?;
    let hp = ledger.hparams()?;
    let times = hp
        .times(window)
        .ok_or_else(|| demo_err(format!("no schedule for window {window}")))?;
    let (_, base) = wait_for_anchor(&ledger, window, times.start_ms)?;
    let (weights, config) = world.checkpoints.get(&base)?.into_single()?;
    let ckpt = Checkpoint::load(&weights, &config).map_err(|e| demo_err(e.to_string()))?;
    let grads = noise_gradients(&ckpt, world.seed ^ (window << 20) ^ first.uid);
    // Compressed once; each miner's blob differs only in its metadata.
    let topk = world.values.topk_compression as usize;
    let mut bases = Bases::new();
    let params = grads
        .iter()
        .map(|(name, g)| {
            let shape = &ckpt
                .shapes()
                .params()
                .get(name)
                .ok_or_else(|| demo_err(format!("no parameter {name}")))?
                .shape;
            compress(name, shape, g, topk, &mut bases).map_err(|e| demo_err(e.to_string()))
        })
        .collect::<Result<Vec<_>>>()?;
    let mut out = Vec::with_capacity(crowd.len());
    for miner in crowd {
        let metadata = BlobMetadata {
            window,
            miner_uid: miner.uid,
            topk,
            base_checkpoint: ckpt.hash(),
        };
        let blob = write_blob(&params, true, &metadata).map_err(|e| demo_err(e.to_string()))?;
        let id: BlobId = world.walrus.store_content(&blob, 1)?;
        let hash = sha256(&blob);
        let now = ledger.now_ms()?;
        if now >= times.upload_deadline_ms {
            break;
        }
        ledger.commit_gradient(miner.address, window, miner.uid, &id.0, &hash, now)?;
        out.push((miner.uid, hash));
    }
    Ok(out)
}

/// Gradient-shaped noise for every parameter of `ckpt`.
fn noise_gradients(ckpt: &Checkpoint, seed: u64) -> Vec<(String, Vec<f32>)> {
    let mut rng = SplitMix64::new(seed);
    ckpt.shapes()
        .params()
        .iter()
        .map(|(name, layout)| {
            let n = layout.numel();
            (
                name.clone(),
                (0..n).map(|_| rng.next_normal() as f32 * 0.01).collect(),
            )
        })
        .collect()
}

fn wait_for_anchor(ledger: &Ledger, window: u64, start_ms: u64) -> Result<(u64, [u8; 32])> {
    loop {
        let anchor = ledger.latest_anchor(window)?;
        if anchor.0 == window || ledger.now_ms()? > start_ms + 1_000 {
            return Ok(anchor);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
