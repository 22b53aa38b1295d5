//! The model configuration (`config.json`, nanoGPT field names) and presets.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

fn yes() -> bool {
    true
}

fn default_eps() -> f64 {
    1e-5
}

/// A decoder-only GPT (nanoGPT / GPT-2 layout).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GptConfig {
    /// Context length (positions).
    pub block_size: usize,
    /// Vocabulary size.
    pub vocab_size: usize,
    /// Transformer blocks.
    pub n_layer: usize,
    /// Attention heads.
    pub n_head: usize,
    /// Embedding width.
    pub n_embd: usize,
    /// Linear layers and LayerNorms carry biases.
    #[serde(default = "yes")]
    pub bias: bool,
    /// The output head reuses the token embedding (`lm_head.weight` absent).
    #[serde(default = "yes")]
    pub tie_word_embeddings: bool,
    /// GELU with the tanh approximation (GPT-2) instead of erf (nanoGPT).
    #[serde(default)]
    pub gelu_approximate: bool,
    /// LayerNorm epsilon.
    #[serde(default = "default_eps")]
    pub layer_norm_epsilon: f64,
    /// Training-time dropout; evaluation never drops.
    #[serde(default)]
    pub dropout: f64,
}

impl GptConfig {
    /// A small model that trains and evaluates in seconds on a CPU.
    pub fn tiny() -> Self {
        Self {
            block_size: 64,
            vocab_size: 256,
            n_layer: 2,
            n_head: 4,
            n_embd: 64,
            bias: true,
            tie_word_embeddings: true,
            gelu_approximate: false,
            layer_norm_epsilon: 1e-5,
            dropout: 0.0,
        }
    }

    /// GPT-2 small shapes (124 M parameters), for benchmarks.
    pub fn gpt2_124m() -> Self {
        Self {
            block_size: 1024,
            vocab_size: 50257,
            n_layer: 12,
            n_head: 12,
            n_embd: 768,
            bias: true,
            tie_word_embeddings: true,
            gelu_approximate: true,
            layer_norm_epsilon: 1e-5,
            dropout: 0.0,
        }
    }

    /// A preset by name: `tiny` or `gpt2-124m`.
    pub fn preset(name: &str) -> Option<Self> {
        match name {
            "tiny" => Some(Self::tiny()),
            "gpt2-124m" => Some(Self::gpt2_124m()),
            _ => None,
        }
    }

    /// Parses and validates `config.json`.
    pub fn from_json(bytes: &[u8]) -> Result<Self> {
        let cfg: Self = serde_json::from_slice(bytes).map_err(|e| Error::BadConfig {
            reason: e.to_string(),
        })?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Checks sizes that the model needs to be well defined, with caps that
    /// keep a hostile config from asking for absurd allocations.
    pub fn validate(&self) -> Result<()> {
        let bad = |reason: String| Err(Error::BadConfig { reason });
        for (name, value, max) in [
            ("block_size", self.block_size, 1 << 16),
            ("vocab_size", self.vocab_size, 1 << 20),
            ("n_layer", self.n_layer, 256),
            ("n_head", self.n_head, 256),
            ("n_embd", self.n_embd, 1 << 15),
        ] {
            if value == 0 || value > max {
                return bad(format!("{name} = {value}, allowed 1..={max}"));
            }
        }
        if self.n_embd % self.n_head != 0 {
            return bad(format!(
                "n_embd {} is not a multiple of n_head {}",
                self.n_embd, self.n_head
            ));
        }
        if !(self.layer_norm_epsilon > 0.0 && self.layer_norm_epsilon < 1.0) {
            return bad(format!("layer_norm_epsilon {}", self.layer_norm_epsilon));
        }
        Ok(())
    }

    /// Every parameter's name and shape, in the checkpoint's naming.
    pub fn parameter_shapes(&self) -> Vec<(String, Vec<usize>)> {
        let c = self.n_embd;
        let mut out = vec![
            (
                "transformer.wte.weight".to_string(),
                vec![self.vocab_size, c],
            ),
            (
                "transformer.wpe.weight".to_string(),
                vec![self.block_size, c],
            ),
        ];
        let mut push = |name: String, shape: Vec<usize>, is_bias: bool| {
            if !is_bias || self.bias {
                out.push((name, shape));
            }
        };
        for i in 0..self.n_layer {
            let p = format!("transformer.h.{i}");
            push(format!("{p}.ln_1.weight"), vec![c], false);
            push(format!("{p}.ln_1.bias"), vec![c], true);
            push(format!("{p}.attn.c_attn.weight"), vec![3 * c, c], false);
            push(format!("{p}.attn.c_attn.bias"), vec![3 * c], true);
            push(format!("{p}.attn.c_proj.weight"), vec![c, c], false);
            push(format!("{p}.attn.c_proj.bias"), vec![c], true);
            push(format!("{p}.ln_2.weight"), vec![c], false);
            push(format!("{p}.ln_2.bias"), vec![c], true);
            push(format!("{p}.mlp.c_fc.weight"), vec![4 * c, c], false);
            push(format!("{p}.mlp.c_fc.bias"), vec![4 * c], true);
            push(format!("{p}.mlp.c_proj.weight"), vec![c, 4 * c], false);
            push(format!("{p}.mlp.c_proj.bias"), vec![c], true);
        }
        push("transformer.ln_f.weight".into(), vec![c], false);
        push("transformer.ln_f.bias".into(), vec![c], true);
        if !self.tie_word_embeddings {
            push("lm_head.weight".into(), vec![self.vocab_size, c], false);
        }
        out
    }

    /// Total parameter count.
    pub fn numel(&self) -> usize {
        self.parameter_shapes()
            .iter()
            .map(|(_, s)| s.iter().product::<usize>())
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gpt2_small_has_124m_parameters() {
        assert_eq!(GptConfig::gpt2_124m().numel(), 124_439_808);
    }

    #[test]
    fn nanogpt_config_json_parses() -> Result<()> {
        let json = br#"{"block_size": 64, "vocab_size": 256, "n_layer": 2, "n_head": 4,
                        "n_embd": 64, "dropout": 0.0, "bias": true}"#;
        assert_eq!(GptConfig::from_json(json)?, GptConfig::tiny());
        assert!(GptConfig::from_json(br#"{"block_size": 64}"#).is_err());
        let mut bad = GptConfig::tiny();
        bad.n_head = 3;
        assert!(bad.validate().is_err());
        Ok(())
    }
}
