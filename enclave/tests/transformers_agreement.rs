//! Agreement with Hugging Face `transformers` on the same weights: a small
//! random GPT-2 and a small random Llama with grouped-query attention,
//! loaded from the files `bench/make_transformers_fixture.py` wrote with
//! transformers' own models. Logits within 1e-4 absolute, the loss within
//! 1e-5 relative.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

use vram_enclave::model::Checkpoint;

fn fixture(name: &str) -> (Checkpoint, serde_json::Value) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/transformers")
        .join(name);
    let read = |f: &str| std::fs::read(dir.join(f)).unwrap();
    let ckpt = Checkpoint::load(&read("model.safetensors"), &read("config.json")).unwrap();
    let expected = serde_json::from_slice(&read("expected.json")).unwrap();
    (ckpt, expected)
}

fn agree(name: &str, family: &str) {
    let (ckpt, expected) = fixture(name);
    assert_eq!(ckpt.config().family(), family);
    let tokens: Vec<u32> = expected["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_u64().unwrap() as u32)
        .collect();
    let vocab = ckpt.config().vocab_size();
    let logits = ckpt.logits(&tokens[..tokens.len() - 1]).unwrap();
    let want = expected["logits"].as_array().unwrap();
    assert_eq!(want.len(), tokens.len() - 1);
    let mut worst = 0f64;
    for (p, row) in want.iter().enumerate() {
        for (v, x) in row.as_array().unwrap().iter().enumerate() {
            let d = (f64::from(logits[p * vocab + v]) - x.as_f64().unwrap()).abs();
            worst = worst.max(d);
        }
    }
    assert!(worst < 1e-4, "{name}: logits differ by up to {worst:e}");
    let (sum, n) = ckpt.loss_sum(&[&tokens]).unwrap();
    let loss = sum / n as f64;
    let theirs = expected["loss"].as_f64().unwrap();
    let rel = ((loss - theirs) / theirs).abs();
    eprintln!("{name}: max logit difference {worst:e}, loss {loss} vs {theirs} (relative {rel:e})");
    assert!(
        rel < 1e-5,
        "{name}: loss {loss} vs transformers {theirs} ({rel:e})"
    );
}

#[test]
fn gpt2_agrees_with_transformers() {
    agree("gpt2", "gpt");
}

#[test]
fn llama_agrees_with_transformers() {
    agree("llama", "llama");
}
