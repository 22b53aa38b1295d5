//! The `vram-gradient/1` codec (design.md §4.1): DCT top-k compression as in
//! DeMo/Templar, 12-bit index packing, optional 8-bit quantisation, and a
//! validating decoder whose cost a hostile blob cannot inflate.

mod blob;
mod compress;
mod dct;
mod decode;
mod layout;
mod metadata;
mod pack;
mod quant;
mod shapes;

pub(crate) use blob::to_f32;
pub use blob::{encode_blob, float_values, read_blob, write_blob, GradientBlob, FORMAT};
pub use compress::{compress, SparseParam};
pub use dct::{Bases, Basis};
pub use decode::{aggregate, decode_param};
pub use layout::{chunk_size, Layout, TARGET_CHUNK};
pub use metadata::BlobMetadata;
pub use pack::{pack12, unpack12, MAX_INDEX};
pub use quant::{dequantize, quantize, Quantized};
pub use shapes::ModelShapes;
