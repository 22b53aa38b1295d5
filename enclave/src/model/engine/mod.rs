//! The evaluation engine: the forward pass and token cross-entropy the
//! enclave scores with, on kernels of its own over plain `f32` buffers.
//!
//! Why not candle: measured on the target CPU, candle's GEMM splits
//! poorly over two threads, and its attention, softmax, GELU and
//! vocabulary-wide log-softmax are separate passes over full tensors; and
//! candle-core pulls `tokenizers`, `zip` and `fancy-regex` into the
//! measured image. These kernels keep the same math with a rounding fixed
//! by the math alone (see [`gemm`] and [`vmath`]). Training (the miners'
//! gradients) uses candle's autograd outside the enclave, in `vram-train`.

mod attention;
pub mod gemm;
mod net;
mod scratch;
pub mod vmath;

pub(crate) use net::Net;

/// Names the evaluator whose losses a statement carries. Replays refuse a
/// bundle signed by another: losses differ in the last bits between
/// evaluators, and a loss is only reproducible against its own.
pub const EVALUATOR_VERSION: &str =
    "vram-eval/2 (fused f32, k-ordered fma chains, 16-partial sums)";

use std::sync::atomic::{AtomicU8, Ordering};

static LEVEL: AtomicU8 = AtomicU8::new(0);

/// The SIMD level the kernels run at. Results are identical at every
/// level (see [`gemm`]); forcing one is for benchmarks and for showing
/// that an AVX2 machine reproduces an AVX-512 enclave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SimdLevel {
    /// The best the CPU offers (AVX-512, else AVX2+FMA, else scalar).
    Best,
    /// AVX2+FMA even where AVX-512 exists (falls back to scalar without it).
    Avx2,
    /// No SIMD.
    Scalar,
}

/// Sets the level for the whole process.
pub fn set_simd_level(level: SimdLevel) {
    let v = match level {
        SimdLevel::Best => 0,
        SimdLevel::Avx2 => 1,
        SimdLevel::Scalar => 2,
    };
    LEVEL.store(v, Ordering::Relaxed);
}

/// The level in use, by name: `avx512`, `avx2` or `scalar`.
pub fn simd_level_name() -> &'static str {
    match arch() {
        #[cfg(target_arch = "x86_64")]
        pulp::Arch::V4(_) => "avx512",
        #[cfg(target_arch = "x86_64")]
        pulp::Arch::V3(_) => "avx2",
        #[allow(unreachable_patterns)]
        _ => "scalar",
    }
}

pub(crate) fn arch() -> pulp::Arch {
    match LEVEL.load(Ordering::Relaxed) {
        1 => {
            #[cfg(target_arch = "x86_64")]
            if let Some(v3) = pulp::x86::V3::try_new() {
                return pulp::Arch::V3(v3);
            }
            pulp::Arch::Scalar
        }
        2 => pulp::Arch::Scalar,
        _ => pulp::Arch::new(),
    }
}
