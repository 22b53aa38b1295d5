//! Inputs by reference (design §3 step 2): a validator on an empty machine
//! needs nothing but its config and the chain. The chain names the
//! checkpoint (anchor: identity + Walrus id of its `vram-checkpoint/1` file
//! list) and the dataset (Hparams: root + Walrus id of its `vram-dataset/1`
//! index); this module publishes both (aggregator, governance) and fetches
//! them into the local caches, keyed by hash, checking every byte against
//! what the chain holds. Both index blobs are untrusted transport: a wrong
//! or hostile index can only make a fetch fail, never change what is loaded.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use vram_attestation::sha256;
use vram_enclave::dataset::page_bytes;
use vram_enclave::model::combine_checkpoint_hashes;

use crate::error::{Error, Result};
use crate::sources::{pages_from_bytes, CheckpointFiles, CheckpointStore, Dataset, CONFIG_FILE};
use crate::walrus::transport::hash_from_hex;
use crate::walrus::{BlobId, WalrusClient};

/// The checkpoint file list's `format`.
pub const CHECKPOINT_FORMAT: &str = "vram-checkpoint/1";
/// The dataset index's `format`.
pub const DATASET_FORMAT: &str = "vram-dataset/1";
/// Index blobs are small; anything larger is refused unread.
pub const MAX_INDEX_BYTES: u64 = 1 << 20;

/// One file of a checkpoint, or one part of a dataset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileRef {
    /// The file's name (`model.safetensors`, `config.json`).
    pub name: String,
    /// SHA-256 of its content, hex.
    pub sha256: String,
    /// Its length.
    pub size: u64,
    /// Where it is (the content, or its shard manifest).
    pub blob_id: String,
}

/// `vram-checkpoint/1`: the files whose hashes make the checkpoint's
/// identity, weights first and `config.json` last.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckpointList {
    /// [`CHECKPOINT_FORMAT`].
    pub format: String,
    /// The files, in identity order.
    pub files: Vec<FileRef>,
}

/// A run of consecutive pages stored as one content (u32 little-endian).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageShard {
    /// First page in it.
    pub first_page: u64,
    /// How many pages.
    pub pages: u64,
    /// SHA-256 of its bytes, hex.
    pub sha256: String,
    /// Where it is.
    pub blob_id: String,
}

/// `vram-dataset/1`: the manifest (whose hash is the dataset root) and the
/// pages, in runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatasetIndex {
    /// [`DATASET_FORMAT`].
    pub format: String,
    /// Tokens per page.
    pub page_len: u64,
    /// Pages.
    pub pages: u64,
    /// The manifest (its `sha256` is the dataset root).
    pub manifest: FileRef,
    /// The pages, in order, covering every page once.
    pub page_shards: Vec<PageShard>,
}

fn bad(what: &str, reason: impl std::fmt::Display) -> Error {
    Error::Inputs {
        reason: format!("{what}: {reason}"),
    }
}

fn json<T: Serialize>(what: &str, value: &T) -> Result<Vec<u8>> {
    serde_json::to_vec_pretty(value).map_err(|e| bad(what, e))
}

fn parse_index<T: for<'de> Deserialize<'de>>(what: &str, bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|e| bad(what, e))
}

impl CheckpointList {
    /// The identity its listed hashes make (design §4.2).
    pub fn identity(&self) -> Result<[u8; 32]> {
        let (weights, config) = self.checked_files()?;
        let hashes = weights
            .iter()
            .map(|f| hash_from_hex(&f.sha256))
            .collect::<Result<Vec<_>>>()?;
        Ok(combine_checkpoint_hashes(
            &hashes,
            &hash_from_hex(&config.sha256)?,
        ))
    }

    /// The weights files (one, or shards in ascending name order), then
    /// `config.json`.
    fn checked_files(&self) -> Result<(&[FileRef], &FileRef)> {
        let what = "checkpoint file list";
        if self.format != CHECKPOINT_FORMAT {
            return Err(bad(what, format!("format {:?}", self.format)));
        }
        match self.files.split_last() {
            Some((config, weights)) if config.name == CONFIG_FILE => {
                CheckpointFiles::check_names(weights.iter().map(|f| f.name.as_str()))
                    .map_err(|e| bad(what, e))?;
                Ok((weights, config))
            }
            _ => Err(bad(
                what,
                "expected the weights files (model.safetensors, or shards) then config.json",
            )),
        }
    }
}

/// Uploads a checkpoint's files (sharded as needed) and its file list;
/// returns (identity, the list's blob id) for the anchor.
pub fn publish_checkpoint(
    walrus: &WalrusClient,
    checkpoint: &CheckpointFiles,
    epochs: u32,
) -> Result<([u8; 32], BlobId)> {
    CheckpointFiles::check_names(checkpoint.weights.iter().map(|(n, _)| n.as_str()))?;
    let mut files = Vec::new();
    let all = checkpoint
        .weights
        .iter()
        .map(|(n, b)| (n.as_str(), b.as_slice()))
        .chain([(CONFIG_FILE, checkpoint.config.as_slice())]);
    for (name, bytes) in all {
        files.push(FileRef {
            name: name.into(),
            sha256: hex::encode(sha256(bytes)),
            size: bytes.len() as u64,
            blob_id: walrus.store_content(bytes, epochs)?.to_string(),
        });
    }
    let list = CheckpointList {
        format: CHECKPOINT_FORMAT.into(),
        files,
    };
    let identity = list.identity()?;
    let id = walrus.store(&json("checkpoint file list", &list)?, epochs)?;
    Ok((identity, id))
}

/// Uploads a dataset's manifest and its pages in runs of at most one
/// request; returns (root, the index's blob id) for Hparams.
pub fn publish_dataset(
    walrus: &WalrusClient,
    dataset: &Dataset,
    epochs: u32,
) -> Result<([u8; 32], BlobId)> {
    let page_bytes_len = (dataset.page_len() as u64 * 4).max(1);
    let per_shard = (walrus.max_request_bytes() / page_bytes_len).max(1);
    let manifest = FileRef {
        name: "manifest.bin".into(),
        sha256: hex::encode(dataset.root()),
        size: dataset.manifest().len() as u64,
        blob_id: walrus
            .store_content(dataset.manifest(), epochs)?
            .to_string(),
    };
    let mut page_shards = Vec::new();
    let mut first = 0;
    while first < dataset.len() {
        let pages = per_shard.min(dataset.len() - first);
        let body: Vec<u8> = (first..first + pages)
            .filter_map(|i| dataset.page(i))
            .flat_map(page_bytes)
            .collect();
        page_shards.push(PageShard {
            first_page: first,
            pages,
            sha256: hex::encode(sha256(&body)),
            blob_id: walrus.store_content(&body, epochs)?.to_string(),
        });
        first += pages;
    }
    let index = DatasetIndex {
        format: DATASET_FORMAT.into(),
        page_len: dataset.page_len() as u64,
        pages: dataset.len(),
        manifest,
        page_shards,
    };
    let id = walrus.store(&json("dataset index", &index)?, epochs)?;
    Ok((dataset.root(), id))
}

/// The local caches and the blob client: checkpoints by identity, datasets
/// by root, fetched on first use.
#[derive(Clone)]
pub struct InputStore {
    checkpoints: CheckpointStore,
    datasets: PathBuf,
    walrus: WalrusClient,
    /// The largest checkpoint (all files) fetched.
    pub max_checkpoint_bytes: u64,
    /// The largest dataset (manifest and pages) fetched.
    pub max_dataset_bytes: u64,
}

impl InputStore {
    /// Caches under `checkpoints` and `datasets` (created), blobs from `walrus`.
    pub fn new(checkpoints: &Path, datasets: &Path, walrus: WalrusClient) -> Result<Self> {
        for dir in [checkpoints, datasets] {
            std::fs::create_dir_all(dir).map_err(Error::io(dir))?;
        }
        Ok(Self {
            checkpoints: CheckpointStore::new(checkpoints),
            datasets: datasets.to_path_buf(),
            walrus,
            max_checkpoint_bytes: 64 << 30,
            max_dataset_bytes: 64 << 30,
        })
    }

    /// The blob client.
    pub fn walrus(&self) -> &WalrusClient {
        &self.walrus
    }

    /// The checkpoint with identity `hash` whose file list is blob `list`:
    /// from the cache, or fetched, checked and cached.
    pub fn checkpoint(&self, hash: &[u8; 32], list: &BlobId) -> Result<CheckpointFiles> {
        if let Ok(found) = self.checkpoints.get(hash) {
            return Ok(found);
        }
        let what = "checkpoint file list";
        let bytes = self.walrus.fetch_index(list, MAX_INDEX_BYTES)?;
        let files: CheckpointList = parse_index(what, &bytes)?;
        if files.identity()? != *hash {
            return Err(bad(
                what,
                format!(
                    "blob {list} lists files whose identity is not the anchored {}",
                    hex::encode(hash)
                ),
            ));
        }
        let (weights, config) = files.checked_files()?;
        let mut budget = self.max_checkpoint_bytes;
        let mut fetch = |f: &FileRef| -> Result<Vec<u8>> {
            if f.size > budget {
                return Err(bad(
                    what,
                    format!("{} of {} bytes exceeds the checkpoint cap", f.name, f.size),
                ));
            }
            budget -= f.size;
            let id: BlobId = f.blob_id.parse()?;
            self.walrus
                .fetch_content(&id, &hash_from_hex(&f.sha256)?, f.size)
                .map_err(|e| bad(&f.name, e))
        };
        let weights = weights
            .iter()
            .map(|f| Ok((f.name.clone(), fetch(f)?)))
            .collect::<Result<Vec<_>>>()?;
        let checkpoint = CheckpointFiles {
            weights,
            config: fetch(config)?,
        };
        let stored = self.checkpoints.put(&checkpoint)?;
        debug_assert_eq!(&stored, hash);
        Ok(checkpoint)
    }

    /// The dataset with root `root` of `pages` pages of `page_len` tokens,
    /// indexed by blob `index`: from the cache, or fetched, checked (every
    /// page against the manifest) and cached.
    pub fn dataset(
        &self,
        root: &[u8; 32],
        index: &BlobId,
        pages: u64,
        page_len: u64,
    ) -> Result<Dataset> {
        let dir = self.datasets.join(hex::encode(root));
        if let Ok(found) = Dataset::load(&dir, Some(root)) {
            return Ok(found);
        }
        let what = "dataset index";
        let bytes = self.walrus.fetch_index(index, MAX_INDEX_BYTES)?;
        let idx: DatasetIndex = parse_index(what, &bytes)?;
        if idx.format != DATASET_FORMAT {
            return Err(bad(what, format!("format {:?}", idx.format)));
        }
        if idx.pages != pages || idx.page_len != page_len {
            return Err(bad(
                what,
                format!(
                    "{} pages of {} tokens; the chain says {pages} of {page_len}",
                    idx.pages, idx.page_len
                ),
            ));
        }
        let page_bytes = page_len
            .checked_mul(4)
            .ok_or_else(|| bad(what, "page_len"))?;
        pages
            .checked_mul(page_bytes)
            .and_then(|b| b.checked_add(pages.checked_mul(32)?))
            .filter(|b| *b <= self.max_dataset_bytes)
            .ok_or_else(|| bad(what, "the dataset exceeds the dataset cap"))?;
        if hash_from_hex(&idx.manifest.sha256)? != *root || idx.manifest.size != pages * 32 {
            return Err(bad(what, "its manifest is not the chain's dataset root"));
        }
        let manifest =
            self.walrus
                .fetch_content(&idx.manifest.blob_id.parse()?, root, idx.manifest.size)?;
        let mut next = 0u64;
        let mut tokens: Vec<Vec<u32>> = Vec::new();
        for shard in &idx.page_shards {
            if shard.first_page != next || shard.pages == 0 || shard.pages > pages - next {
                return Err(bad(what, "page runs do not cover the pages once, in order"));
            }
            let body = self.walrus.fetch_content(
                &shard.blob_id.parse()?,
                &hash_from_hex(&shard.sha256)?,
                shard.pages * page_bytes,
            )?;
            if body.len() as u64 != shard.pages * page_bytes {
                return Err(bad(what, format!("run at page {next} is short")));
            }
            tokens.extend(pages_from_bytes(&body, page_len as usize));
            next += shard.pages;
        }
        if next != pages {
            return Err(bad(what, "page runs do not cover every page"));
        }
        let dataset = Dataset::new(tokens)?;
        if dataset.manifest() != manifest.as_slice() {
            return Err(bad(what, "a page does not match the manifest"));
        }
        dataset.save(&dir)?;
        Ok(dataset)
    }
}
