//! 8-bit value quantisation with a lookup table, as Templar does it:
//! `shift = mean(v)`, `scale = 6 * std_unbiased(v - shift) / 256`,
//! `q = clamp(round((v - shift) / scale + 128), 0, 255)`, and the table
//! holds the mean of the centred values that fell in each bin, so that
//! `value = lut[q] + shift`.

const BINS: usize = 256;
const OFFSET: f32 = 128.0;
const RANGE_IN_SIGMAS: f32 = 6.0;

/// A quantised value tensor.
#[derive(Debug, Clone, PartialEq)]
pub struct Quantized {
    /// One byte per value.
    pub q: Vec<u8>,
    /// Bin means of the centred values.
    pub lut: [f32; BINS],
    /// The mean that was subtracted.
    pub shift: f32,
}

/// Quantises `values` (all of one parameter).
pub fn quantize(values: &[f32]) -> Quantized {
    // f64 accumulation keeps the mean and norm within an ulp of PyTorch's
    // pairwise float32 reductions, whatever the length.
    let n = values.len().max(1) as f64;
    let shift = (values.iter().map(|&v| f64::from(v)).sum::<f64>() / n) as f32;
    let centred: Vec<f32> = values.iter().map(|v| v - shift).collect();
    let norm = centred
        .iter()
        .map(|&c| f64::from(c) * f64::from(c))
        .sum::<f64>()
        .sqrt() as f32;
    let std = norm / ((centred.len().max(2) - 1) as f32).sqrt();
    let mut scale = RANGE_IN_SIGMAS * std / BINS as f32;
    if scale == 0.0 || !scale.is_finite() {
        scale = 1.0;
    }
    let q: Vec<u8> = centred
        .iter()
        .map(|c| (c / scale + OFFSET).round().clamp(0.0, (BINS - 1) as f32) as u8)
        .collect();
    let mut sums = [0f32; BINS];
    let mut counts = [0f32; BINS];
    for (&bin, &c) in q.iter().zip(&centred) {
        sums[usize::from(bin)] += c;
        counts[usize::from(bin)] += 1.0;
    }
    let mut lut = [0f32; BINS];
    for ((l, s), c) in lut.iter_mut().zip(sums).zip(counts) {
        if c > 0.0 {
            *l = s / c;
        }
    }
    Quantized { q, lut, shift }
}

/// The values a quantised tensor stands for.
pub fn dequantize(q: &[u8], lut: &[f32; BINS], shift: f32) -> Vec<f32> {
    q.iter().map(|&b| lut[usize::from(b)] + shift).collect()
}
