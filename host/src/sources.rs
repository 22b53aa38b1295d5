//! Where the host finds the inputs the chain only names by hash: checkpoints
//! (a directory keyed by checkpoint identity) and the dataset (token pages
//! and their manifest). Everything is checked against its hash on load, so a
//! corrupted or substituted file is an error here, not a refusal later.

use std::path::{Path, PathBuf};

use vram_enclave::dataset::{manifest, page_bytes};
use vram_enclave::model::checkpoint_hash;

use crate::error::{Error, Result};

fn io(path: &Path, e: std::io::Error) -> Error {
    Error::Io {
        path: path.to_path_buf(),
        source: e,
    }
}

/// Checkpoints by identity: `DIR/<hex>/model.safetensors` and `config.json`.
#[derive(Debug, Clone)]
pub struct CheckpointStore {
    dir: PathBuf,
}

impl CheckpointStore {
    /// A store rooted at `dir`.
    pub fn new(dir: &Path) -> Self {
        Self {
            dir: dir.to_path_buf(),
        }
    }

    /// Stores a checkpoint; returns its identity.
    pub fn put(&self, weights: &[u8], config_json: &[u8]) -> Result<[u8; 32]> {
        let hash = checkpoint_hash(weights, config_json);
        let dir = self.dir.join(hex::encode(hash));
        std::fs::create_dir_all(&dir).map_err(|e| io(&dir, e))?;
        for (name, bytes) in [("model.safetensors", weights), ("config.json", config_json)] {
            let path = dir.join(name);
            let tmp = dir.join(format!(".{name}.tmp"));
            std::fs::write(&tmp, bytes).map_err(|e| io(&tmp, e))?;
            std::fs::rename(&tmp, &path).map_err(|e| io(&path, e))?;
        }
        Ok(hash)
    }

    /// The checkpoint with identity `hash`: (weights, config.json).
    pub fn get(&self, hash: &[u8; 32]) -> Result<(Vec<u8>, Vec<u8>)> {
        let dir = self.dir.join(hex::encode(hash));
        let read = |name: &str| {
            let path = dir.join(name);
            std::fs::read(&path).map_err(|e| io(&path, e))
        };
        let (weights, config) = (read("model.safetensors")?, read("config.json")?);
        if &checkpoint_hash(&weights, &config) != hash {
            return Err(Error::Checkpoint {
                reason: format!("{} does not match its hash", dir.display()),
            });
        }
        Ok((weights, config))
    }
}

/// Pages of `page_len` u32 little-endian tokens, one after the other (the
/// layout of `pages.bin` and of a dataset's page runs on Walrus); a partial
/// last page is dropped (callers check the length first).
pub fn pages_from_bytes(body: &[u8], page_len: usize) -> Vec<Vec<u32>> {
    body.chunks_exact(page_len * 4)
        .map(|p| {
            p.chunks_exact(4)
                .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect()
        })
        .collect()
}

/// The dataset: fixed-length token pages, their manifest and its root.
#[derive(Debug, Clone)]
pub struct Dataset {
    pages: Vec<Vec<u32>>,
    manifest: Vec<u8>,
    root: [u8; 32],
}

impl Dataset {
    /// A dataset of these pages (all one length).
    pub fn new(pages: Vec<Vec<u32>>) -> Result<Self> {
        let len = pages.first().map_or(0, Vec::len);
        if pages.is_empty() || len < 2 || pages.iter().any(|p| p.len() != len) {
            return Err(Error::Dataset {
                reason: "a dataset needs pages of one length of at least 2 tokens".into(),
            });
        }
        let (manifest, root) = manifest(&pages);
        Ok(Self {
            pages,
            manifest,
            root,
        })
    }

    /// Writes `pages.bin` (u32 little-endian, page after page) and
    /// `manifest.bin` into `dir`.
    pub fn save(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
        let body: Vec<u8> = self.pages.iter().flat_map(|p| page_bytes(p)).collect();
        let path = dir.join("pages.bin");
        std::fs::write(&path, body).map_err(|e| io(&path, e))?;
        let path = dir.join("manifest.bin");
        std::fs::write(&path, &self.manifest).map_err(|e| io(&path, e))?;
        Ok(())
    }

    /// Reads a dataset saved by [`Dataset::save`], checking every page
    /// against the manifest and the manifest against `expected_root` if given.
    pub fn load(dir: &Path, expected_root: Option<&[u8; 32]>) -> Result<Self> {
        let path = dir.join("manifest.bin");
        let manifest_bytes = std::fs::read(&path).map_err(|e| io(&path, e))?;
        let path = dir.join("pages.bin");
        let body = std::fs::read(&path).map_err(|e| io(&path, e))?;
        let count = manifest_bytes.len() / 32;
        if count == 0 || manifest_bytes.len() % 32 != 0 || body.len() % (count * 4) != 0 {
            return Err(Error::Dataset {
                reason: format!("{}: pages and manifest disagree", dir.display()),
            });
        }
        let page_len = body.len() / 4 / count;
        let pages = pages_from_bytes(&body, page_len);
        let dataset = Self::new(pages)?;
        if dataset.manifest != manifest_bytes {
            return Err(Error::Dataset {
                reason: format!("{}: a page does not match the manifest", dir.display()),
            });
        }
        if let Some(root) = expected_root {
            if &dataset.root != root {
                return Err(Error::Dataset {
                    reason: format!(
                        "{}: dataset root {} is not the network's {}",
                        dir.display(),
                        hex::encode(dataset.root),
                        hex::encode(root)
                    ),
                });
            }
        }
        Ok(dataset)
    }

    /// SHA-256 of the manifest.
    pub fn root(&self) -> [u8; 32] {
        self.root
    }

    /// The manifest bytes.
    pub fn manifest(&self) -> &[u8] {
        &self.manifest
    }

    /// Number of pages.
    pub fn len(&self) -> u64 {
        self.pages.len() as u64
    }

    /// Whether there are no pages (never, for a constructed dataset).
    pub fn is_empty(&self) -> bool {
        self.pages.is_empty()
    }

    /// Tokens per page.
    pub fn page_len(&self) -> usize {
        self.pages.first().map_or(0, Vec::len)
    }

    /// Page `index`, if it exists.
    pub fn page(&self, index: u64) -> Option<&[u32]> {
        self.pages
            .get(usize::try_from(index).ok()?)
            .map(Vec::as_slice)
    }
}
