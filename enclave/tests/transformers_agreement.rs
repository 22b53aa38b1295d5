//! Agreement with Hugging Face `transformers` on the same weights: a small
//! random GPT-2 and a small random Llama with grouped-query attention,
//! loaded from the files `bench/make_transformers_fixture.py` wrote with
//! transformers' own models. Logits within 1e-4 absolute, the loss within
//! 1e-5 relative.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

use vram_enclave::model::Checkpoint;

fn dir(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/transformers")
        .join(name)
}

fn read(name: &str, file: &str) -> Vec<u8> {
    std::fs::read(dir(name).join(file)).unwrap()
}

fn fixture(name: &str) -> Checkpoint {
    Checkpoint::load(&read(name, "model.safetensors"), &read(name, "config.json")).unwrap()
}

/// transformers' own shards of the Llama fixture, in the order of its
/// `model.safetensors.index.json` (the host reads that file; the enclave
/// takes the files in order).
fn sharded_llama() -> (Checkpoint, Vec<Vec<u8>>) {
    let index: serde_json::Value =
        serde_json::from_slice(&read("llama-sharded", "model.safetensors.index.json")).unwrap();
    let mut names: Vec<&str> = index["weight_map"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_str().unwrap())
        .collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), 3, "transformers wrote {names:?}");
    let files: Vec<Vec<u8>> = names.iter().map(|n| read("llama-sharded", n)).collect();
    let refs: Vec<&[u8]> = files.iter().map(Vec::as_slice).collect();
    let ckpt = Checkpoint::load_files(&refs, &read("llama-sharded", "config.json")).unwrap();
    (ckpt, files)
}

fn agree(name: &str, family: &str) {
    agree_with(fixture(name), name, family);
}

fn agree_with(ckpt: Checkpoint, name: &str, family: &str) {
    let expected: serde_json::Value = serde_json::from_slice(&read(name, "expected.json")).unwrap();
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

#[test]
fn sharded_llama_is_the_same_model_with_the_sharded_identity() {
    let (sharded, files) = sharded_llama();
    let single = fixture("llama");
    let hashes: Vec<[u8; 32]> = files.iter().map(|f| vram_attestation::sha256(f)).collect();
    let config = vram_attestation::sha256(&read("llama-sharded", "config.json"));
    assert_eq!(
        sharded.hash(),
        vram_enclave::model::combine_checkpoint_hashes(&hashes, &config)
    );
    assert_ne!(sharded.hash(), single.hash());
    let tokens: Vec<u32> = (0..48).map(|i| (i * 37 % 256) as u32).collect();
    assert_eq!(
        sharded.loss_sum(&[&tokens]).unwrap().0.to_bits(),
        single.loss_sum(&[&tokens]).unwrap().0.to_bits()
    );
    // And it agrees with transformers (same seeds, same model).
    agree_with(sharded, "llama", "llama");
}
