//! Where the host finds the inputs the chain only names by hash: checkpoints
//! (a directory keyed by checkpoint identity) and the dataset (token pages
//! and their manifest). Everything is checked against its hash on load, so a
//! corrupted or substituted file is an error here, not a refusal later.

use std::path::{Path, PathBuf};

use vram_enclave::dataset::{manifest, page_bytes};
use vram_enclave::model::checkpoint_files_hash;

use crate::error::{Error, Result};

fn io(path: &Path, e: std::io::Error) -> Error {
    Error::Io {
        path: path.to_path_buf(),
        source: e,
    }
}

/// The single weights file's name.
pub const WEIGHTS_FILE: &str = "model.safetensors";
/// The index of sharded weights (Hugging Face layout).
pub const WEIGHTS_INDEX: &str = "model.safetensors.index.json";
/// The model configuration's name.
pub const CONFIG_FILE: &str = "config.json";
/// Most weights files a checkpoint may have: the enclave's limit.
pub const MAX_WEIGHTS_FILES: usize = vram_enclave::protocol::MAX_WEIGHTS_FILES as usize;

fn bad_checkpoint(reason: impl Into<String>) -> Error {
    Error::Checkpoint {
        reason: reason.into(),
    }
}

/// A checkpoint's files (design §4.2): its weights, one file or the shards
/// of `model.safetensors.index.json` in ascending name order (the order
/// Hugging Face numbers them, and the order of the identity), and
/// `config.json`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointFiles {
    /// (file name, bytes), in identity order.
    pub weights: Vec<(String, Vec<u8>)>,
    /// `config.json`.
    pub config: Vec<u8>,
}

impl CheckpointFiles {
    /// A checkpoint with one weights file.
    pub fn single(weights: Vec<u8>, config: Vec<u8>) -> Self {
        Self {
            weights: vec![(WEIGHTS_FILE.into(), weights)],
            config,
        }
    }

    /// Its identity, `sha256(sha256(file_1) || ... || sha256(config.json))`.
    pub fn identity(&self) -> [u8; 32] {
        checkpoint_files_hash(&self.weights_bytes(), &self.config)
    }

    /// The weights files' bytes, in order.
    pub fn weights_bytes(&self) -> Vec<&[u8]> {
        self.weights.iter().map(|(_, b)| b.as_slice()).collect()
    }

    /// (weights, config.json) of a single-file checkpoint; sharded ones
    /// are refused (the demo's trainer reads one file).
    pub fn into_single(mut self) -> Result<(Vec<u8>, Vec<u8>)> {
        match self.weights.len() {
            1 => Ok((self.weights.remove(0).1, self.config)),
            n => Err(bad_checkpoint(format!(
                "{n} weights files where one model.safetensors is expected"
            ))),
        }
    }

    /// Checks the weights files' names: one or more plain `*.safetensors`
    /// names in strictly ascending order (so the order is the identity's,
    /// and a name can be a file in a cache directory).
    pub fn check_names<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<()> {
        let names: Vec<&str> = names.into_iter().collect();
        if names.is_empty() || names.len() > MAX_WEIGHTS_FILES {
            return Err(bad_checkpoint(format!(
                "{} weights files (1 to {MAX_WEIGHTS_FILES})",
                names.len()
            )));
        }
        for n in &names {
            let plain = !n.is_empty()
                && n.len() <= 255
                && !n.starts_with('.')
                && n.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
            if !plain || !n.ends_with(".safetensors") || *n == WEIGHTS_INDEX {
                return Err(bad_checkpoint(format!(
                    "weights file name {n:?}: a plain name ending in .safetensors"
                )));
            }
        }
        if let Some(w) = names.windows(2).find(|w| w[0] >= w[1]) {
            return Err(bad_checkpoint(format!(
                "weights files out of order: {:?} before {:?} (ascending names, as in \
                 model.safetensors.index.json)",
                w[0], w[1]
            )));
        }
        Ok(())
    }

    /// Reads a checkpoint directory in Hugging Face's layout: `config.json`
    /// and either `model.safetensors` or `model.safetensors.index.json`
    /// with the shards it names. The index must agree with the shards:
    /// every tensor it maps is in the file it names, and nothing else is.
    pub fn read_dir(dir: &Path) -> Result<Self> {
        let read = |name: &str| {
            let path = dir.join(name);
            std::fs::read(&path).map_err(|e| io(&path, e))
        };
        let config = read(CONFIG_FILE)?;
        let single = dir.join(WEIGHTS_FILE).is_file();
        if !dir.join(WEIGHTS_INDEX).is_file() {
            return Ok(Self::single(read(WEIGHTS_FILE)?, config));
        }
        if single {
            return Err(bad_checkpoint(format!(
                "{} holds both {WEIGHTS_FILE} and {WEIGHTS_INDEX}: which weights are meant?",
                dir.display()
            )));
        }
        let index = read(WEIGHTS_INDEX)?;
        let map = weight_map(&index)?;
        let mut by_file: std::collections::BTreeMap<&str, Vec<&str>> = Default::default();
        for (tensor, file) in &map {
            by_file
                .entry(file.as_str())
                .or_default()
                .push(tensor.as_str());
        }
        Self::check_names(by_file.keys().copied())?;
        let mut weights = Vec::with_capacity(by_file.len());
        for (file, mut listed) in by_file {
            let bytes = read(file)?;
            let mut held = tensor_names(&bytes)
                .map_err(|reason| bad_checkpoint(format!("{file}: {reason}")))?;
            listed.sort_unstable();
            held.sort_unstable();
            if !held.iter().map(String::as_str).eq(listed.iter().copied()) {
                return Err(bad_checkpoint(format!(
                    "{file} holds {} tensors; {WEIGHTS_INDEX} maps {} to it",
                    held.len(),
                    listed.len()
                )));
            }
            weights.push((file.to_string(), bytes));
        }
        Ok(Self { weights, config })
    }

    /// Writes the files into `dir` (created) in Hugging Face's layout,
    /// with `model.safetensors.index.json` when the weights are sharded.
    pub fn write_dir(&self, dir: &Path) -> Result<()> {
        Self::check_names(self.weights.iter().map(|(n, _)| n.as_str()))?;
        if self.weights.len() > 1 && self.weights.iter().any(|(n, _)| n == WEIGHTS_FILE) {
            return Err(bad_checkpoint(format!(
                "a sharded checkpoint's files cannot be named {WEIGHTS_FILE}"
            )));
        }
        std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
        let write = |name: &str, bytes: &[u8]| {
            let path = dir.join(name);
            let tmp = dir.join(format!(".{name}.tmp"));
            std::fs::write(&tmp, bytes).map_err(|e| io(&tmp, e))?;
            std::fs::rename(&tmp, &path).map_err(|e| io(&path, e))
        };
        for (name, bytes) in &self.weights {
            write(name, bytes)?;
        }
        if self.weights.len() > 1 {
            let mut map = serde_json::Map::new();
            for (file, bytes) in &self.weights {
                let names = tensor_names(bytes)
                    .map_err(|reason| bad_checkpoint(format!("{file}: {reason}")))?;
                for t in names {
                    map.insert(t, file.clone().into());
                }
            }
            let index = serde_json::json!({
                "metadata": {
                    "total_size": self.weights.iter().map(|(_, b)| b.len() as u64).sum::<u64>()
                },
                "weight_map": map,
            });
            let text =
                serde_json::to_vec_pretty(&index).map_err(|e| bad_checkpoint(e.to_string()))?;
            write(WEIGHTS_INDEX, &text)?;
        }
        write(CONFIG_FILE, &self.config)
    }
}

/// `weight_map` of a `model.safetensors.index.json`: tensor name to file.
fn weight_map(index: &[u8]) -> Result<std::collections::BTreeMap<String, String>> {
    #[derive(serde::Deserialize)]
    struct Index {
        weight_map: std::collections::BTreeMap<String, String>,
    }
    serde_json::from_slice::<Index>(index)
        .map(|i| i.weight_map)
        .map_err(|e| bad_checkpoint(format!("{WEIGHTS_INDEX}: {e}")))
}

/// The tensor names in a safetensors file's header.
fn tensor_names(bytes: &[u8]) -> std::result::Result<Vec<String>, String> {
    let st = safetensors::SafeTensors::deserialize(bytes).map_err(|e| e.to_string())?;
    Ok(st.names().into_iter().map(str::to_string).collect())
}

/// Checkpoints by identity: `DIR/<hex>/` in Hugging Face's layout (see
/// [`CheckpointFiles::read_dir`]).
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
    pub fn put(&self, files: &CheckpointFiles) -> Result<[u8; 32]> {
        let hash = files.identity();
        files.write_dir(&self.dir.join(hex::encode(hash)))?;
        Ok(hash)
    }

    /// Stores a checkpoint with one weights file; returns its identity.
    pub fn put_single(&self, weights: &[u8], config_json: &[u8]) -> Result<[u8; 32]> {
        self.put(&CheckpointFiles::single(
            weights.to_vec(),
            config_json.to_vec(),
        ))
    }

    /// The checkpoint with identity `hash`, checked against it.
    pub fn get(&self, hash: &[u8; 32]) -> Result<CheckpointFiles> {
        let dir = self.dir.join(hex::encode(hash));
        let files = CheckpointFiles::read_dir(&dir)?;
        if &files.identity() != hash {
            return Err(bad_checkpoint(format!(
                "{} does not match its hash",
                dir.display()
            )));
        }
        Ok(files)
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use vram_enclave::model::combine_checkpoint_hashes;
    use vram_test_support::TempDir;

    /// transformers' own sharded save of the Llama fixture.
    fn hf_sharded() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../enclave/tests/fixtures/transformers/llama-sharded")
    }

    fn copy_dir(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for e in std::fs::read_dir(from).unwrap() {
            let e = e.unwrap();
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }

    #[test]
    fn a_hugging_face_sharded_directory_reads_in_index_order() {
        let files = CheckpointFiles::read_dir(&hf_sharded()).unwrap();
        let names: Vec<&str> = files.weights.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "model-00001-of-00003.safetensors",
                "model-00002-of-00003.safetensors",
                "model-00003-of-00003.safetensors"
            ]
        );
        let hashes: Vec<[u8; 32]> = files
            .weights
            .iter()
            .map(|(_, b)| vram_attestation::sha256(b))
            .collect();
        assert_eq!(
            files.identity(),
            combine_checkpoint_hashes(&hashes, &vram_attestation::sha256(&files.config))
        );
        // Written back and read again: the same files, an index of ours.
        let dir = TempDir::new("hf-rewrite").unwrap();
        files.write_dir(&dir.join("c")).unwrap();
        assert_eq!(CheckpointFiles::read_dir(&dir.join("c")).unwrap(), files);
    }

    #[test]
    fn an_index_that_disagrees_with_its_shards_or_a_double_layout_is_refused() {
        let dir = TempDir::new("hf-bad").unwrap();
        let c = dir.join("c");
        copy_dir(&hf_sharded(), &c);
        let index_path = c.join(WEIGHTS_INDEX);
        let mut index: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&index_path).unwrap()).unwrap();
        index["weight_map"]["lm_head.weight"] = "model-00001-of-00003.safetensors".into();
        std::fs::write(&index_path, serde_json::to_vec(&index).unwrap()).unwrap();
        let err = CheckpointFiles::read_dir(&c).unwrap_err().to_string();
        assert!(err.contains("maps"), "{err}");

        let d = dir.join("d");
        copy_dir(&hf_sharded(), &d);
        std::fs::write(d.join(WEIGHTS_FILE), b"x").unwrap();
        let err = CheckpointFiles::read_dir(&d).unwrap_err().to_string();
        assert!(err.contains("both"), "{err}");

        let e = dir.join("e");
        copy_dir(&hf_sharded(), &e);
        std::fs::write(
            e.join(WEIGHTS_INDEX),
            br#"{"weight_map": {"a": "../x.safetensors"}}"#,
        )
        .unwrap();
        let err = CheckpointFiles::read_dir(&e).unwrap_err().to_string();
        assert!(err.contains("plain name"), "{err}");
    }

    #[test]
    fn weights_file_names_must_be_plain_and_ascending() {
        let ok = |names: &[&str]| CheckpointFiles::check_names(names.iter().copied()).is_ok();
        assert!(ok(&["model.safetensors"]));
        assert!(ok(&["a-1.safetensors", "a-2.safetensors"]));
        assert!(!ok(&[]));
        assert!(!ok(&["a-2.safetensors", "a-1.safetensors"]));
        assert!(!ok(&["a.safetensors", "a.safetensors"]));
        assert!(!ok(&["../a.safetensors"]));
        assert!(!ok(&[".a.safetensors"]));
        assert!(!ok(&["a.bin"]));
        assert!(!ok(&[WEIGHTS_INDEX]));
    }

    #[test]
    fn the_store_keeps_single_and_sharded_checkpoints_by_identity() {
        let dir = TempDir::new("store").unwrap();
        let store = CheckpointStore::new(&dir.join("s"));
        let sharded = CheckpointFiles::read_dir(&hf_sharded()).unwrap();
        let id = store.put(&sharded).unwrap();
        assert_eq!(store.get(&id).unwrap(), sharded);
        let single = CheckpointFiles::single(b"weights".to_vec(), b"{}".to_vec());
        let id1 = store.put(&single).unwrap();
        assert_eq!(store.get(&id1).unwrap(), single);
        // A changed file no longer matches its identity.
        std::fs::write(
            dir.join("s").join(hex::encode(id1)).join(WEIGHTS_FILE),
            b"other",
        )
        .unwrap();
        assert!(store.get(&id1).is_err());
    }
}
