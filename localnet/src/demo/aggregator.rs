//! The network's aggregation step, as the demo runs it: the top `top_g`
//! miners' gradients are aggregated (Templar's normalised average of the
//! sparse selections), decoded, and applied as one sign-SGD step. The result
//! is the next window's checkpoint.

use vram_enclave::codec::{aggregate, read_blob, Bases, GradientBlob};
use vram_enclave::model::{save_weights, Checkpoint, Tensors};

use crate::error::{Error, Result};

fn agg_err(reason: impl std::fmt::Display) -> Error {
    Error::Demo {
        reason: format!("aggregation: {reason}"),
    }
}

/// Applies `w - lr * sign(aggregate(blobs))` to the checkpoint; returns the
/// new weights (safetensors). Blobs that do not parse are skipped; with no
/// usable blob the weights are returned unchanged.
pub fn aggregate_checkpoint(
    weights: &[u8],
    config_json: &[u8],
    blobs: &[Vec<u8>],
    topk: usize,
    learning_rate: f32,
) -> Result<Vec<u8>> {
    let ckpt = Checkpoint::load(weights, config_json).map_err(agg_err)?;
    let parsed: Vec<GradientBlob> = blobs
        .iter()
        .filter_map(|b| read_blob(b, ckpt.shapes(), topk).ok())
        .collect();
    if parsed.is_empty() {
        return Ok(weights.to_vec());
    }
    let mut bases = Bases::new();
    for layout in ckpt.shapes().params().values() {
        bases.prepare(layout.n1);
        bases.prepare(layout.n2);
    }
    let mut tensors = Tensors::new();
    for (name, layout) in ckpt.shapes().params() {
        let selections: Vec<_> = parsed
            .iter()
            .filter_map(|b| b.params.iter().find(|p| &p.name == name))
            .collect();
        let base = ckpt
            .base(name)
            .ok_or_else(|| agg_err(format!("no parameter {name}")))?;
        let dense = aggregate(&selections, &bases).map_err(agg_err)?;
        let stepped: Vec<f32> = base
            .iter()
            .zip(&dense)
            .map(|(w, g)| {
                let sign = if *g > 0.0 {
                    1.0
                } else if *g < 0.0 {
                    -1.0
                } else {
                    0.0
                };
                w - learning_rate * sign
            })
            .collect();
        tensors.insert(name.clone(), (layout.shape.clone(), stepped));
    }
    save_weights(&tensors).map_err(agg_err)
}
