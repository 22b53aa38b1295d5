//! The enclave's engine against the candle formulation on the same
//! weights: losses within 1e-5 relative for both families, and the
//! engine's losses bit-identical across thread counts and SIMD levels.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use vram_enclave::model::{
    init_weights, set_simd_level, Checkpoint, LlamaConfig, ModelConfig, SimdLevel, SplitMix64,
};

fn pages(cfg: &ModelConfig, seed: u64, count: usize, len: usize) -> Vec<Vec<u32>> {
    let mut rng = SplitMix64::new(seed);
    (0..count)
        .map(|_| {
            (0..len)
                .map(|_| (rng.next_u64() % cfg.vocab_size() as u64) as u32)
                .collect()
        })
        .collect()
}

fn models() -> Vec<(&'static str, ModelConfig)> {
    let mut biased = LlamaConfig::tiny();
    biased.attention_bias = true;
    biased.mlp_bias = true;
    biased.tie_word_embeddings = true;
    biased.num_key_value_heads = Some(1);
    vec![
        ("tiny", ModelConfig::preset("tiny").unwrap()),
        ("llama-tiny", ModelConfig::preset("llama-tiny").unwrap()),
        ("llama tied, biased, MQA", ModelConfig::Llama(biased)),
    ]
}

fn engine_loss(ckpt: &Checkpoint, pages: &[&[u32]]) -> f64 {
    let (sum, n) = ckpt.loss_sum(pages).unwrap();
    sum / n as f64
}

#[test]
fn the_engine_agrees_with_the_candle_formulation() {
    for (name, cfg) in models() {
        let ckpt = Checkpoint::from_tensors(cfg.clone(), init_weights(&cfg, 3), [0; 32]).unwrap();
        // Full context plus one, and a short page.
        for len in [cfg.block_size() + 1, 9] {
            let data = pages(&cfg, 5, 3, len);
            let refs: Vec<&[u32]> = data.iter().map(Vec::as_slice).collect();
            let ours = engine_loss(&ckpt, &refs);
            let theirs = vram_train::reference_loss(&ckpt, &refs).unwrap();
            let rel = ((ours - theirs) / theirs).abs();
            assert!(
                rel < 1e-5,
                "{name}, len {len}: {ours} vs {theirs} ({rel:e})"
            );
        }
    }
}

#[test]
fn losses_are_bit_identical_across_threads_and_simd_levels() {
    for (name, cfg) in models() {
        let ckpt = Checkpoint::from_tensors(cfg.clone(), init_weights(&cfg, 4), [0; 32]).unwrap();
        let data = pages(&cfg, 6, 5, cfg.block_size() + 1);
        let refs: Vec<&[u32]> = data.iter().map(Vec::as_slice).collect();
        let run = |threads: usize, level: SimdLevel| {
            set_simd_level(level);
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            let loss = pool.install(|| engine_loss(&ckpt, &refs));
            set_simd_level(SimdLevel::Best);
            loss.to_bits()
        };
        let base = run(1, SimdLevel::Best);
        for (threads, level) in [
            (3, SimdLevel::Best),
            (2, SimdLevel::Avx2),
            (1, SimdLevel::Scalar),
        ] {
            assert_eq!(
                run(threads, level),
                base,
                "{name}: {threads} threads, {level:?}"
            );
        }
    }
}
