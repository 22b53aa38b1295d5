//! The Llama family as Hugging Face describes it (`LlamaForCausalLM`
//! `config.json`): RMSNorm, rotary positions, SwiGLU, grouped-query
//! attention, tied or untied head.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

fn default_theta() -> f64 {
    10_000.0
}

fn default_eps() -> f64 {
    1e-6
}

fn default_act() -> String {
    "silu".into()
}

/// A `LlamaForCausalLM` configuration (the fields the forward pass needs;
/// others in the file are ignored).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LlamaConfig {
    /// Embedding width.
    pub hidden_size: usize,
    /// SwiGLU width.
    pub intermediate_size: usize,
    /// Decoder layers.
    pub num_hidden_layers: usize,
    /// Query heads.
    pub num_attention_heads: usize,
    /// Key/value heads (grouped-query attention); defaults to the query heads.
    #[serde(default)]
    pub num_key_value_heads: Option<usize>,
    /// Width of one head; defaults to `hidden_size / num_attention_heads`.
    #[serde(default)]
    pub head_dim: Option<usize>,
    /// RMSNorm epsilon.
    #[serde(default = "default_eps")]
    pub rms_norm_eps: f64,
    /// Rotary base.
    #[serde(default = "default_theta")]
    pub rope_theta: f64,
    /// Context length.
    pub max_position_embeddings: usize,
    /// Vocabulary size.
    pub vocab_size: usize,
    /// The head reuses `model.embed_tokens.weight`.
    #[serde(default)]
    pub tie_word_embeddings: bool,
    /// q/k/v/o projections carry biases.
    #[serde(default)]
    pub attention_bias: bool,
    /// MLP projections carry biases.
    #[serde(default)]
    pub mlp_bias: bool,
    /// Must be `silu`.
    #[serde(default = "default_act")]
    pub hidden_act: String,
    /// Must be absent or null: scaled rotary variants are not implemented.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rope_scaling: Option<serde_json::Value>,
    /// transformers 5 writes the rotary settings here (`rope_type`,
    /// `rope_theta`) instead of `rope_theta`; read by [`LlamaConfig::normalize`].
    #[serde(default, skip_serializing)]
    pub rope_parameters: Option<serde_json::Value>,
}

impl LlamaConfig {
    /// A small Llama for tests and the demo (2 layers, GQA 4:2, untied).
    pub fn tiny() -> Self {
        Self {
            hidden_size: 64,
            intermediate_size: 176,
            num_hidden_layers: 2,
            num_attention_heads: 4,
            num_key_value_heads: Some(2),
            head_dim: None,
            rms_norm_eps: 1e-5,
            rope_theta: 10_000.0,
            max_position_embeddings: 64,
            vocab_size: 256,
            tie_word_embeddings: false,
            attention_bias: false,
            mlp_bias: false,
            hidden_act: "silu".into(),
            rope_scaling: None,
            rope_parameters: None,
        }
    }

    /// TinyLlama-1.1B shapes, for benchmarks.
    pub fn tinyllama_1_1b() -> Self {
        Self {
            hidden_size: 2048,
            intermediate_size: 5632,
            num_hidden_layers: 22,
            num_attention_heads: 32,
            num_key_value_heads: Some(4),
            max_position_embeddings: 2048,
            vocab_size: 32_000,
            ..Self::tiny()
        }
    }

    /// Folds transformers 5's `rope_parameters` into `rope_theta`; only
    /// the default rotary type is implemented.
    pub fn normalize(mut self) -> Result<Self> {
        if let Some(p) = self.rope_parameters.take().filter(|p| !p.is_null()) {
            let kind = p
                .get("rope_type")
                .and_then(|t| t.as_str())
                .unwrap_or("default");
            if kind != "default" {
                return Err(Error::BadConfig {
                    reason: format!("rope_type {kind:?}: only the default rotary embedding"),
                });
            }
            if let Some(theta) = p.get("rope_theta") {
                self.rope_theta = theta.as_f64().ok_or_else(|| Error::BadConfig {
                    reason: format!("rope_parameters.rope_theta {theta}"),
                })?;
            }
        }
        Ok(self)
    }

    /// Key/value heads.
    pub fn kv_heads(&self) -> usize {
        self.num_key_value_heads.unwrap_or(self.num_attention_heads)
    }

    /// Width of one head.
    pub fn head_width(&self) -> usize {
        self.head_dim
            .unwrap_or(self.hidden_size / self.num_attention_heads.max(1))
    }

    /// Checks what the forward pass relies on, with caps against absurd
    /// allocations.
    pub fn validate(&self) -> Result<()> {
        let bad = |reason: String| Err(Error::BadConfig { reason });
        for (name, value, max) in [
            ("hidden_size", self.hidden_size, 1 << 15),
            ("intermediate_size", self.intermediate_size, 1 << 17),
            ("num_hidden_layers", self.num_hidden_layers, 256),
            ("num_attention_heads", self.num_attention_heads, 256),
            ("num_key_value_heads", self.kv_heads(), 256),
            ("head_dim", self.head_width(), 1024),
            (
                "max_position_embeddings",
                self.max_position_embeddings,
                1 << 17,
            ),
            ("vocab_size", self.vocab_size, 1 << 20),
        ] {
            if value == 0 || value > max {
                return bad(format!("{name} = {value}, allowed 1..={max}"));
            }
        }
        if self.num_attention_heads % self.kv_heads() != 0 {
            return bad(format!(
                "num_attention_heads {} is not a multiple of num_key_value_heads {}",
                self.num_attention_heads,
                self.kv_heads()
            ));
        }
        if self.head_width() % 2 != 0 {
            return bad(format!("head_dim {} is odd", self.head_width()));
        }
        if self.hidden_act != "silu" {
            return bad(format!("hidden_act {:?}, only silu", self.hidden_act));
        }
        if self.rope_scaling.as_ref().is_some_and(|v| !v.is_null()) {
            return bad("rope_scaling is not supported".into());
        }
        if !(self.rms_norm_eps > 0.0 && self.rms_norm_eps < 1.0) {
            return bad(format!("rms_norm_eps {}", self.rms_norm_eps));
        }
        if !(self.rope_theta.is_finite() && self.rope_theta > 1.0) {
            return bad(format!("rope_theta {}", self.rope_theta));
        }
        Ok(())
    }

    /// Every parameter's name and shape, in Hugging Face's naming.
    pub fn parameter_shapes(&self) -> Vec<(String, Vec<usize>)> {
        let (c, f) = (self.hidden_size, self.intermediate_size);
        let (q, kv) = (
            self.num_attention_heads * self.head_width(),
            self.kv_heads() * self.head_width(),
        );
        let mut out = vec![(
            "model.embed_tokens.weight".to_string(),
            vec![self.vocab_size, c],
        )];
        for i in 0..self.num_hidden_layers {
            let p = format!("model.layers.{i}");
            out.push((format!("{p}.input_layernorm.weight"), vec![c]));
            for (name, rows) in [("q_proj", q), ("k_proj", kv), ("v_proj", kv)] {
                out.push((format!("{p}.self_attn.{name}.weight"), vec![rows, c]));
                if self.attention_bias {
                    out.push((format!("{p}.self_attn.{name}.bias"), vec![rows]));
                }
            }
            out.push((format!("{p}.self_attn.o_proj.weight"), vec![c, q]));
            if self.attention_bias {
                out.push((format!("{p}.self_attn.o_proj.bias"), vec![c]));
            }
            out.push((format!("{p}.post_attention_layernorm.weight"), vec![c]));
            for (name, shape) in [
                ("gate_proj", vec![f, c]),
                ("up_proj", vec![f, c]),
                ("down_proj", vec![c, f]),
            ] {
                let rows = shape[0];
                out.push((format!("{p}.mlp.{name}.weight"), shape));
                if self.mlp_bias {
                    out.push((format!("{p}.mlp.{name}.bias"), vec![rows]));
                }
            }
        }
        out.push(("model.norm.weight".into(), vec![c]));
        if !self.tie_word_embeddings {
            out.push(("lm_head.weight".into(), vec![self.vocab_size, c]));
        }
        out
    }

    /// The rotary table for positions `0..t`: `cos` and `sin` of
    /// `p / theta^(2i / d)`, `t x d/2` each. Computed in f64 and rounded
    /// once, so it does not depend on a float pipeline's order.
    pub fn rope_table(&self, t: usize) -> (Vec<f32>, Vec<f32>) {
        let half = self.head_width() / 2;
        let d = self.head_width() as f64;
        let mut cos = Vec::with_capacity(t * half);
        let mut sin = Vec::with_capacity(t * half);
        for p in 0..t {
            for i in 0..half {
                let inv = 1.0 / self.rope_theta.powf((2 * i) as f64 / d);
                let angle = p as f64 * inv;
                cos.push(angle.cos() as f32);
                sin.push(angle.sin() as f32);
            }
        }
        (cos, sin)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tinyllama_has_1_1b_parameters() {
        let n: usize = LlamaConfig::tinyllama_1_1b()
            .parameter_shapes()
            .iter()
            .map(|(_, s)| s.iter().product::<usize>())
            .sum();
        assert_eq!(n, 1_100_048_384);
    }

    #[test]
    fn hugging_face_config_parses_and_bad_ones_are_refused() -> Result<()> {
        let json = br#"{"architectures": ["LlamaForCausalLM"], "model_type": "llama",
            "hidden_size": 64, "intermediate_size": 176, "num_hidden_layers": 2,
            "num_attention_heads": 4, "num_key_value_heads": 2, "rms_norm_eps": 1e-5,
            "rope_theta": 10000.0, "max_position_embeddings": 64, "vocab_size": 256,
            "tie_word_embeddings": false, "attention_bias": false, "hidden_act": "silu",
            "torch_dtype": "float32", "bos_token_id": 1}"#;
        let cfg: LlamaConfig = serde_json::from_slice(json).map_err(|e| Error::BadConfig {
            reason: e.to_string(),
        })?;
        cfg.validate()?;
        assert_eq!(cfg, LlamaConfig::tiny());
        let mut bad = LlamaConfig::tiny();
        bad.num_key_value_heads = Some(3);
        assert!(bad.validate().is_err());
        bad = LlamaConfig::tiny();
        bad.rope_scaling = Some(serde_json::json!({"type": "linear", "factor": 2.0}));
        assert!(bad.validate().is_err());
        Ok(())
    }
}
