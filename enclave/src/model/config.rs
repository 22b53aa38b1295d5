//! Model configurations (`config.json`: nanoGPT field names for GPT,
//! Hugging Face's for Llama) and benchmark presets.

use serde::{Deserialize, Serialize};

use super::llama::LlamaConfig;
use crate::error::{Error, Result};

/// Largest `config.json` read: real ones are a few KiB.
const MAX_CONFIG_BYTES: usize = 1 << 20;

/// The model a checkpoint holds.
#[derive(Debug, Clone, PartialEq)]
#[allow(clippy::large_enum_variant)] // one per checkpoint; boxing buys nothing
pub enum ModelConfig {
    /// nanoGPT / GPT-2 layout.
    Gpt(GptConfig),
    /// `LlamaForCausalLM`.
    Llama(LlamaConfig),
}

impl ModelConfig {
    /// Preset names, for help texts.
    pub const PRESETS: &'static [&'static str] =
        &["tiny", "gpt2-124m", "llama-tiny", "tinyllama-1.1b"];

    /// A preset by name (see [`ModelConfig::PRESETS`]).
    pub fn preset(name: &str) -> Option<Self> {
        match name {
            "tiny" => Some(Self::Gpt(GptConfig::tiny())),
            "gpt2-124m" => Some(Self::Gpt(GptConfig::gpt2_124m())),
            "llama-tiny" => Some(Self::Llama(LlamaConfig::tiny())),
            "tinyllama-1.1b" => Some(Self::Llama(LlamaConfig::tinyllama_1_1b())),
            _ => None,
        }
    }

    /// Parses and validates `config.json`: a Hugging Face Llama
    /// (`architectures` holds `LlamaForCausalLM`, or `model_type` is
    /// `llama`), otherwise nanoGPT fields.
    pub fn from_json(bytes: &[u8]) -> Result<Self> {
        if bytes.len() > MAX_CONFIG_BYTES {
            return Err(Error::BadConfig {
                reason: format!(
                    "config.json of {} bytes (at most {MAX_CONFIG_BYTES})",
                    bytes.len()
                ),
            });
        }
        let value: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| Error::BadConfig {
                reason: e.to_string(),
            })?;
        let llama = value
            .get("architectures")
            .and_then(|a| a.as_array())
            .is_some_and(|a| a.iter().any(|x| x == "LlamaForCausalLM"))
            || value.get("model_type").is_some_and(|t| t == "llama");
        let reason = |e: serde_json::Error| Error::BadConfig {
            reason: e.to_string(),
        };
        let cfg = if llama {
            Self::Llama(
                serde_json::from_value::<LlamaConfig>(value)
                    .map_err(reason)?
                    .normalize()?,
            )
        } else if let Some(arch) = value.get("architectures") {
            return Err(Error::BadConfig {
                reason: format!(
                    "architectures {arch}: only LlamaForCausalLM and nanoGPT configs are supported"
                ),
            });
        } else {
            Self::Gpt(serde_json::from_value(value).map_err(reason)?)
        };
        cfg.validate()?;
        Ok(cfg)
    }

    /// `config.json` bytes that [`ModelConfig::from_json`] reads back.
    pub fn to_json(&self) -> Result<Vec<u8>> {
        let value = match self {
            Self::Gpt(c) => serde_json::to_value(c),
            Self::Llama(c) => serde_json::to_value(c).map(|mut v| {
                if let Some(o) = v.as_object_mut() {
                    o.insert(
                        "architectures".into(),
                        serde_json::json!(["LlamaForCausalLM"]),
                    );
                    o.insert("model_type".into(), serde_json::json!("llama"));
                }
                v
            }),
        };
        value
            .and_then(|v| serde_json::to_vec(&v))
            .map_err(|e| Error::BadConfig {
                reason: e.to_string(),
            })
    }

    /// Checks sizes the model needs to be well defined.
    pub fn validate(&self) -> Result<()> {
        match self {
            Self::Gpt(c) => c.validate(),
            Self::Llama(c) => c.validate(),
        }
    }

    /// `gpt` or `llama`.
    pub fn family(&self) -> &'static str {
        match self {
            Self::Gpt(_) => "gpt",
            Self::Llama(_) => "llama",
        }
    }

    /// Every parameter's name and shape, in the checkpoint's naming.
    pub fn parameter_shapes(&self) -> Vec<(String, Vec<usize>)> {
        match self {
            Self::Gpt(c) => c.parameter_shapes(),
            Self::Llama(c) => c.parameter_shapes(),
        }
    }

    /// Total parameter count.
    pub fn numel(&self) -> usize {
        self.parameter_shapes()
            .iter()
            .map(|(_, s)| s.iter().product::<usize>())
            .sum()
    }

    /// Most positions a page may predict from.
    pub fn block_size(&self) -> usize {
        match self {
            Self::Gpt(c) => c.block_size,
            Self::Llama(c) => c.max_position_embeddings,
        }
    }

    /// Vocabulary size.
    pub fn vocab_size(&self) -> usize {
        match self {
            Self::Gpt(c) => c.vocab_size,
            Self::Llama(c) => c.vocab_size,
        }
    }

    /// Multiply-adds times two per token of a forward pass with the head,
    /// at context `t` (causal attention: a token sees `t / 2` keys on
    /// average). For GFLOP/s figures.
    pub fn flops_per_token(&self, t: usize) -> f64 {
        let (linear, layers, width) = match self {
            Self::Gpt(c) => {
                let e = c.n_embd;
                (12 * e * e * c.n_layer + c.vocab_size * e, c.n_layer, e)
            }
            Self::Llama(c) => {
                let (e, hd) = (c.hidden_size, c.head_width());
                let q = c.num_attention_heads * hd;
                let kv = c.kv_heads() * hd;
                (
                    (e * (q + 2 * kv) + q * e + 3 * e * c.intermediate_size) * c.num_hidden_layers
                        + c.vocab_size * e,
                    c.num_hidden_layers,
                    q,
                )
            }
        };
        let per_layer_attention = 2 * t * width;
        2.0 * linear as f64 + (layers * per_layer_attention) as f64
    }
}

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
        assert_eq!(
            ModelConfig::from_json(json)?,
            ModelConfig::Gpt(GptConfig::tiny())
        );
        assert!(ModelConfig::from_json(br#"{"block_size": 64}"#).is_err());
        assert!(ModelConfig::from_json(br#"{"architectures": ["MistralForCausalLM"]}"#).is_err());
        // GPT-2 small: about 0.25 GFLOP per token at context 1024.
        let gflop = ModelConfig::Gpt(GptConfig::gpt2_124m()).flops_per_token(1024) / 1e9;
        assert!((0.24..0.27).contains(&gflop), "{gflop}");
        for name in ModelConfig::PRESETS {
            let cfg = ModelConfig::preset(name).ok_or(Error::BadConfig {
                reason: (*name).into(),
            })?;
            assert_eq!(ModelConfig::from_json(&cfg.to_json()?)?, cfg, "{name}");
        }
        let mut bad = GptConfig::tiny();
        bad.n_head = 3;
        assert!(bad.validate().is_err());
        Ok(())
    }
}
