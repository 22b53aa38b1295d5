//! Deterministic initialisation: N(0, 0.02) weights (GPT residual
//! projections scaled by 1/sqrt(2 n_layer)), zero biases, unit norm gains.
//! A seed fully determines the weights on every machine, so test and demo
//! checkpoints can be rebuilt anywhere.

use super::config::ModelConfig;
use super::weights::Tensors;

/// SplitMix64: small, seedable, identical everywhere.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Standard normal (Box-Muller).
    pub fn next_normal(&mut self) -> f64 {
        let u1 = self.next_f64().max(f64::MIN_POSITIVE);
        let u2 = self.next_f64();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }
}

/// Fresh weights for `cfg` from `seed`, in parameter order.
pub fn init_weights(cfg: &ModelConfig, seed: u64) -> Tensors {
    let mut rng = SplitMix64::new(seed);
    let layers = match cfg {
        ModelConfig::Gpt(c) => c.n_layer,
        ModelConfig::Llama(c) => c.num_hidden_layers,
    };
    let residual_std = 0.02 / (2.0 * layers as f64).sqrt();
    cfg.parameter_shapes()
        .into_iter()
        .map(|(name, shape)| {
            let n: usize = shape.iter().product();
            let is_norm = name.contains(".ln_")
                || name.contains("ln_f")
                || name.contains("layernorm")
                || name == "model.norm.weight";
            let values: Vec<f32> = if is_norm {
                let gain = if name.ends_with(".weight") { 1.0 } else { 0.0 };
                vec![gain; n]
            } else if name.ends_with(".bias") {
                vec![0.0; n]
            } else {
                let std = if name.ends_with("c_proj.weight")
                    || name.ends_with("o_proj.weight")
                    || name.ends_with("down_proj.weight")
                {
                    residual_std
                } else {
                    0.02
                };
                (0..n).map(|_| (rng.next_normal() * std) as f32).collect()
            };
            (name, (shape, values))
        })
        .collect()
}
