//! The `vram-gradient/1` safetensors container (design.md §4.1): writing it for
//! miners and reading it, against the checkpoint's shapes and a byte budget,
//! inside the enclave.

use std::collections::{BTreeMap, HashMap};

use safetensors::tensor::{Dtype, SafeTensors, TensorView};

use super::compress::SparseParam;
use super::layout::Layout;
use super::metadata::truncate;
use super::metadata::BlobMetadata;
use super::pack::{pack12, unpack12};
use super::quant::{dequantize, quantize};
use super::shapes::ModelShapes;
use crate::error::{Error, Result};

/// The `format` metadata value.
pub const FORMAT: &str = "vram-gradient/1";

/// Header bytes allowed per parameter (four tensor entries of JSON).
pub(super) const HEADER_PER_PARAM: usize = 1024;
/// Header bytes allowed for the metadata and framing.
pub(super) const HEADER_BASE: usize = 4096;

/// A blob parsed and validated against the model.
#[derive(Debug, Clone, PartialEq)]
pub struct GradientBlob {
    /// Its metadata.
    pub metadata: BlobMetadata,
    /// One entry per model parameter, in name order.
    pub params: Vec<SparseParam>,
}

/// What a miner does with a whole dense gradient: compresses every parameter
/// of `shapes` (each must be present in `gradients`, nothing else may be)
/// and writes the blob.
pub fn encode_blob<'g, I>(
    shapes: &ModelShapes,
    gradients: I,
    quantized: bool,
    metadata: &BlobMetadata,
) -> Result<Vec<u8>>
where
    I: IntoIterator<Item = (&'g str, &'g [f32])>,
{
    let mut given: BTreeMap<&str, &[f32]> = BTreeMap::new();
    for (name, values) in gradients {
        if !shapes.params.contains_key(name) {
            return Err(Error::BadGradient {
                name: name.to_string(),
                reason: "not a checkpoint parameter".into(),
            });
        }
        given.insert(name, values);
    }
    let mut bases = super::Bases::new();
    let params = shapes
        .params
        .iter()
        .map(|(name, layout)| {
            let values = given.get(name.as_str()).ok_or_else(|| Error::BadGradient {
                name: name.clone(),
                reason: "missing from the gradient".into(),
            })?;
            super::compress(name, &layout.shape, values, metadata.topk, &mut bases)
        })
        .collect::<Result<Vec<_>>>()?;
    write_blob(&params, quantized, metadata)
}

/// Writes a blob; with `quantize`, values are stored as U8 with a table.
pub fn write_blob(
    params: &[SparseParam],
    quantized: bool,
    metadata: &BlobMetadata,
) -> Result<Vec<u8>> {
    let mut buffers: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = Vec::new();
    for p in params {
        let k = p.k;
        buffers.push((
            format!("{}.idx", p.name),
            Dtype::U8,
            vec![p.layout.packed_index_bytes(k)],
            pack12(&p.indices),
        ));
        let vals_shape = p.layout.vals_shape(k);
        if quantized {
            let q = quantize(&p.values);
            buffers.push((format!("{}.vals", p.name), Dtype::U8, vals_shape, q.q));
            buffers.push((
                format!("{}.qlut", p.name),
                Dtype::F32,
                vec![256],
                q.lut.iter().flat_map(|v| v.to_le_bytes()).collect(),
            ));
            buffers.push((
                format!("{}.qshift", p.name),
                Dtype::F32,
                vec![1],
                q.shift.to_le_bytes().to_vec(),
            ));
        } else {
            buffers.push((
                format!("{}.vals", p.name),
                Dtype::F32,
                vals_shape,
                p.values.iter().flat_map(|v| v.to_le_bytes()).collect(),
            ));
        }
    }
    let views = buffers
        .iter()
        .map(|(name, dtype, shape, data)| {
            TensorView::new(*dtype, shape.clone(), data)
                .map(|view| (name.clone(), view))
                .map_err(|e| Error::BadContainer {
                    reason: e.to_string(),
                })
        })
        .collect::<Result<Vec<_>>>()?;
    safetensors::serialize(views, Some(metadata.to_map())).map_err(|e| Error::BadContainer {
        reason: e.to_string(),
    })
}

fn dtype_name(d: Dtype) -> String {
    format!("{d:?}")
}

/// The values of an F32, F16 or BF16 tensor as f32 (any value, NaN
/// included); `None` for other dtypes. Shared by blobs and checkpoints.
pub(crate) fn to_f32(view: &TensorView<'_>) -> Option<Vec<f32>> {
    let data = view.data();
    Some(match view.dtype() {
        Dtype::F32 => data
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect(),
        Dtype::F16 => data
            .chunks_exact(2)
            .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32())
            .collect(),
        Dtype::BF16 => data
            .chunks_exact(2)
            .map(|b| half::bf16::from_le_bytes([b[0], b[1]]).to_f32())
            .collect(),
        _ => return None,
    })
}

/// Values of a float tensor (F32, F16 or BF16) as f32, refusing NaN and
/// infinities.
pub fn float_values(name: &str, view: &TensorView<'_>) -> Result<Vec<f32>> {
    let values = to_f32(view).ok_or_else(|| Error::WrongDtype {
        name: name.to_string(),
        dtype: dtype_name(view.dtype()),
        expected: "U8, F16, BF16 or F32",
    })?;
    if let Some(position) = values.iter().position(|v| !v.is_finite()) {
        return Err(Error::NonFinite {
            name: name.to_string(),
            position,
        });
    }
    Ok(values)
}

fn expect_shape(name: &str, view: &TensorView<'_>, expected: &[usize]) -> Result<()> {
    if view.shape() == expected {
        Ok(())
    } else {
        Err(Error::WrongShape {
            name: name.to_string(),
            found: view.shape().to_vec(),
            expected: expected.to_vec(),
        })
    }
}

fn expect_dtype(
    name: &str,
    view: &TensorView<'_>,
    dtype: Dtype,
    label: &'static str,
) -> Result<()> {
    if view.dtype() == dtype {
        Ok(())
    } else {
        Err(Error::WrongDtype {
            name: name.to_string(),
            dtype: dtype_name(view.dtype()),
            expected: label,
        })
    }
}

/// Parses and validates a blob. Shapes come from `shapes`; `topk` is the
/// network's setting, which the blob must declare. Costs at most one pass
/// over the blob plus the parameters' index and value arrays.
pub fn read_blob(bytes: &[u8], shapes: &ModelShapes, topk: usize) -> Result<GradientBlob> {
    let budget = shapes.blob_budget(topk);
    if bytes.len() > budget {
        return Err(Error::BlobTooLarge {
            len: bytes.len(),
            budget,
        });
    }
    let container = |e: safetensors::SafeTensorError| Error::BadContainer {
        reason: e.to_string(),
    };
    let (_, header) = SafeTensors::read_metadata(bytes).map_err(container)?;
    let metadata = BlobMetadata::from_map(header.metadata().as_ref())?;
    if metadata.topk != topk {
        return Err(Error::BadMetadata {
            key: "topk",
            reason: format!("{}, the network uses {topk}", metadata.topk),
        });
    }
    let tensors = SafeTensors::deserialize(bytes).map_err(container)?;
    let mut views: HashMap<&str, TensorView<'_>> = HashMap::new();
    for (name, view) in tensors.iter() {
        let known = name.rsplit_once('.').is_some_and(|(param, suffix)| {
            shapes.params.contains_key(param) && ["idx", "vals", "qlut", "qshift"].contains(&suffix)
        });
        if !known {
            return Err(Error::UnexpectedTensor {
                name: truncate(name),
            });
        }
        views.insert(name, view);
    }

    let mut params = Vec::with_capacity(shapes.params.len());
    for (param, layout) in &shapes.params {
        let k = layout.k(topk);
        let idx_name = format!("{param}.idx");
        let vals_name = format!("{param}.vals");
        let idx = views
            .remove(idx_name.as_str())
            .ok_or(Error::MissingTensor {
                name: idx_name.clone(),
            })?;
        let vals = views
            .remove(vals_name.as_str())
            .ok_or(Error::MissingTensor {
                name: vals_name.clone(),
            })?;
        expect_dtype(&idx_name, &idx, Dtype::U8, "U8")?;
        expect_shape(&idx_name, &idx, &[layout.packed_index_bytes(k)])?;
        expect_shape(&vals_name, &vals, &layout.vals_shape(k))?;

        let count = layout.index_count(k);
        let (indices, padding) = unpack12(idx.data(), count).ok_or_else(|| Error::WrongShape {
            name: idx_name.clone(),
            found: idx.shape().to_vec(),
            expected: vec![layout.packed_index_bytes(k)],
        })?;
        if let Some(value) = padding.filter(|&p| p != 0) {
            return Err(Error::BadPadding {
                name: param.clone(),
                value,
            });
        }
        check_indices(param, layout, k, &indices)?;

        let lut_name = format!("{param}.qlut");
        let shift_name = format!("{param}.qshift");
        let values = if vals.dtype() == Dtype::U8 {
            let lut = views
                .remove(lut_name.as_str())
                .ok_or(Error::MissingTensor {
                    name: lut_name.clone(),
                })?;
            let shift = views
                .remove(shift_name.as_str())
                .ok_or(Error::MissingTensor {
                    name: shift_name.clone(),
                })?;
            expect_dtype(&lut_name, &lut, Dtype::F32, "F32")?;
            expect_shape(&lut_name, &lut, &[256])?;
            expect_dtype(&shift_name, &shift, Dtype::F32, "F32")?;
            expect_shape(&shift_name, &shift, &[1])?;
            let table = float_values(&lut_name, &lut)?;
            let mut lut_array = [0f32; 256];
            lut_array.copy_from_slice(&table);
            let shift = float_values(&shift_name, &shift)?
                .first()
                .copied()
                .unwrap_or(0.0);
            let values = dequantize(vals.data(), &lut_array, shift);
            if let Some(position) = values.iter().position(|v| !v.is_finite()) {
                return Err(Error::NonFinite {
                    name: vals_name,
                    position,
                });
            }
            values
        } else {
            if let Some(name) = [&lut_name, &shift_name]
                .into_iter()
                .find(|n| views.contains_key(n.as_str()))
            {
                return Err(Error::UnexpectedTensor { name: name.clone() });
            }
            float_values(&vals_name, &vals)?
        };
        params.push(SparseParam {
            name: param.clone(),
            layout: layout.clone(),
            k,
            indices,
            values,
        });
    }
    if let Some(name) = views.keys().next() {
        return Err(Error::UnexpectedTensor {
            name: truncate(name),
        });
    }
    Ok(GradientBlob { metadata, params })
}

/// Every index inside its chunk and unique there.
fn check_indices(name: &str, layout: &Layout, k: usize, indices: &[u16]) -> Result<()> {
    let totalk = layout.totalk();
    let mut seen = vec![0u64; totalk.div_ceil(64)];
    for (chunk, group) in indices.chunks(k).enumerate() {
        seen.fill(0);
        for &index in group {
            let i = usize::from(index);
            if i >= totalk {
                return Err(Error::IndexOutOfRange {
                    name: name.to_string(),
                    chunk,
                    index,
                    totalk,
                });
            }
            let (word, bit) = (i / 64, 1u64 << (i % 64));
            if seen[word] & bit != 0 {
                return Err(Error::DuplicateIndex {
                    name: name.to_string(),
                    chunk,
                    index,
                });
            }
            seen[word] |= bit;
        }
    }
    Ok(())
}
