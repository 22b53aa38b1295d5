//! Reading checkpoints and dense tensor files for the CLI.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use vram_enclave::codec::{float_values, ModelShapes};
use vram_enclave::model::checkpoint_hash;
use vram_host::sources::{CheckpointFiles, WEIGHTS_INDEX};

/// Parameter shapes and identity of a checkpoint file.
pub(crate) struct CheckpointInfo {
    pub(crate) shapes: ModelShapes,
    /// `None` when no `config.json` was found.
    pub(crate) hash: Option<[u8; 32]>,
}

/// The `config.json` beside a checkpoint, unless given explicitly.
fn config_path(checkpoint: &Path, explicit: Option<&Path>) -> PathBuf {
    explicit.map_or_else(
        || checkpoint.with_file_name("config.json"),
        Path::to_path_buf,
    )
}

pub(crate) fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

/// Reads a checkpoint's shapes (from its safetensors headers) and, if its
/// `config.json` exists, its identity. `path` is a weights file, or a
/// Hugging Face checkpoint directory (or its `model.safetensors.index.json`),
/// single or sharded.
pub(crate) fn checkpoint_info(path: &Path, config: Option<&Path>) -> Result<CheckpointInfo> {
    let dir = if path.is_dir() {
        Some(path)
    } else if path.file_name() == Some(WEIGHTS_INDEX.as_ref()) {
        path.parent()
    } else {
        None
    };
    let (files, hash) = match dir {
        Some(dir) => {
            anyhow::ensure!(
                config.is_none(),
                "--config applies to a weights file; a checkpoint directory has its own \
                 config.json"
            );
            let files = CheckpointFiles::read_dir(dir)?;
            let hash = files.identity();
            (files.weights, Some(hash))
        }
        None => {
            let weights = read(path)?;
            let hash = std::fs::read(config_path(path, config))
                .ok()
                .map(|json| checkpoint_hash(&weights, &json));
            (vec![(path.display().to_string(), weights)], hash)
        }
    };
    let mut shapes = Vec::new();
    for (name, bytes) in &files {
        let st = SafeTensors::deserialize(bytes)
            .with_context(|| format!("{name} is not a safetensors file"))?;
        shapes.extend(st.iter().map(|(n, v)| (n.to_string(), v.shape().to_vec())));
    }
    Ok(CheckpointInfo {
        shapes: ModelShapes::new(shapes)?,
        hash,
    })
}

/// A shape and its row-major f32 values.
pub(crate) type DenseTensor = (Vec<usize>, Vec<f32>);

/// Dense f32 tensors of a safetensors file, by name (F16/BF16 converted).
pub(crate) fn dense_tensors(path: &Path) -> Result<HashMap<String, DenseTensor>> {
    let bytes = read(path)?;
    let st = SafeTensors::deserialize(&bytes)
        .with_context(|| format!("{} is not a safetensors file", path.display()))?;
    st.iter()
        .map(|(name, view)| {
            Ok((
                name.to_string(),
                (view.shape().to_vec(), float_values(name, &view)?),
            ))
        })
        .collect()
}

/// Writes dense f32 tensors as safetensors.
pub(crate) fn write_dense(path: &Path, tensors: &[(String, Vec<usize>, Vec<f32>)]) -> Result<()> {
    let bytes: Vec<(String, Vec<usize>, Vec<u8>)> = tensors
        .iter()
        .map(|(n, s, v)| {
            (
                n.clone(),
                s.clone(),
                v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            )
        })
        .collect();
    let views = bytes
        .iter()
        .map(|(n, s, b)| Ok((n.clone(), TensorView::new(Dtype::F32, s.clone(), b)?)))
        .collect::<Result<Vec<_>>>()?;
    let out = safetensors::serialize(views, None)?;
    std::fs::write(path, out).with_context(|| format!("cannot write {}", path.display()))
}
