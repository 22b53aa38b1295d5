//! `vram-validator gradient ...` and `bench ...`: the interface tools
//! depend on (arguments, JSON keys, exit codes), on the tiny preset.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use vram_enclave::codec::{decode_param, read_blob, Bases};
use vram_enclave::model::{read_weights, save_weights, Checkpoint, SplitMix64, Tensors};
use vram_host::sources::CheckpointFiles;
use vram_test_support::{shard_weights, TempDir, TinyCheckpoint};

fn run(args: &[&str]) -> (i32, Value, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_vram-validator"))
        .args(args)
        .output()
        .unwrap();
    let json = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (
        out.status.code().unwrap_or(-1),
        json,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn scratch(name: &str) -> TempDir {
    TempDir::new(&format!("validator-{name}")).unwrap()
}

/// A tiny checkpoint with config.json beside it, and a dense gradient file.
fn setup(dir: &Path) -> (PathBuf, PathBuf) {
    let tiny = TinyCheckpoint::new(1).unwrap();
    let cfg = &tiny.config;
    let ckpt = dir.join("model.safetensors");
    std::fs::write(&ckpt, &tiny.weights).unwrap();
    std::fs::write(dir.join("config.json"), &tiny.config_json).unwrap();
    let mut rng = SplitMix64::new(4);
    let grads: Tensors = cfg
        .parameter_shapes()
        .into_iter()
        .map(|(name, shape)| {
            let n: usize = shape.iter().product();
            let v: Vec<f32> = (0..n).map(|_| rng.next_normal() as f32).collect();
            (name, (shape, v))
        })
        .collect();
    let grad = dir.join("grad.safetensors");
    std::fs::write(&grad, save_weights(&grads).unwrap()).unwrap();
    (ckpt, grad)
}

#[test]
fn encode_decode_inspect_round_trip() {
    let dir = scratch("roundtrip");
    let (ckpt, grad) = setup(&dir);
    let blob = dir.join("blob.safetensors");
    let (code, json, stderr) = run(&[
        "gradient",
        "encode",
        "--checkpoint",
        ckpt.to_str().unwrap(),
        "--grad",
        grad.to_str().unwrap(),
        "--out",
        blob.to_str().unwrap(),
        "--topk",
        "32",
        "--quantize",
        "--window",
        "5",
        "--miner-uid",
        "9",
        "--json",
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(json["params"], 120_576);
    let weights = std::fs::read(&ckpt).unwrap();
    let config = std::fs::read(dir.join("config.json")).unwrap();
    let checkpoint = Checkpoint::load(&weights, &config).unwrap();
    assert_eq!(json["base_checkpoint"], hex::encode(checkpoint.hash()));

    let (code, json, _) = run(&[
        "gradient",
        "inspect",
        blob.to_str().unwrap(),
        "--checkpoint",
        ckpt.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(code, 0);
    assert_eq!(json["valid"], true);
    assert_eq!(json["metadata"]["format"], "vram-gradient/1");
    assert_eq!(json["metadata"]["window"], "5");
    assert_eq!(json["metadata"]["miner_uid"], "9");
    assert_eq!(
        json["tensors"]["transformer.wte.weight.vals"]["dtype"],
        "U8"
    );

    let dense = dir.join("dense.safetensors");
    let (code, _, stderr) = run(&[
        "gradient",
        "decode",
        "--checkpoint",
        ckpt.to_str().unwrap(),
        "--blob",
        blob.to_str().unwrap(),
        "--out",
        dense.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    let written = read_weights(&std::fs::read(&dense).unwrap()).unwrap();
    let parsed = read_blob(&std::fs::read(&blob).unwrap(), checkpoint.shapes(), 32).unwrap();
    let mut bases = Bases::new();
    for p in &parsed.params {
        bases.prepare(p.layout.n1);
        bases.prepare(p.layout.n2);
        let expected = decode_param(p, &bases).unwrap();
        let (shape, ours) = &written[&p.name];
        assert_eq!(ours, &expected, "{}", p.name);
        assert_eq!(shape.as_slice(), p.layout.shape.as_slice());
    }
}

#[test]
fn a_sharded_checkpoint_directory_is_a_checkpoint() {
    let dir = scratch("sharded");
    let (ckpt, grad) = setup(&dir);
    // The tiny weights in two shards with their index, in transformers'
    // layout.
    let config = std::fs::read(dir.join("config.json")).unwrap();
    let files = CheckpointFiles {
        weights: shard_weights(&std::fs::read(&ckpt).unwrap(), 2).unwrap(),
        config: config.clone(),
    };
    let sharded = dir.join("sharded");
    files.write_dir(&sharded).unwrap();
    let identity = Checkpoint::load_files(&files.weights_bytes(), &config)
        .unwrap()
        .hash();

    let blob = dir.join("blob.safetensors");
    let (code, json, stderr) = run(&[
        "gradient",
        "encode",
        "--checkpoint",
        sharded.to_str().unwrap(),
        "--grad",
        grad.to_str().unwrap(),
        "--out",
        blob.to_str().unwrap(),
        "--topk",
        "32",
        "--json",
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(json["base_checkpoint"], hex::encode(identity));
    let index = sharded.join("model.safetensors.index.json");
    let (code, json, stderr) = run(&[
        "gradient",
        "inspect",
        blob.to_str().unwrap(),
        "--checkpoint",
        index.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(json["valid"], true);
}

#[test]
fn malformed_blobs_exit_1_with_the_reason() {
    let dir = scratch("malformed");
    let (ckpt, grad) = setup(&dir);
    let blob = dir.join("blob.safetensors");
    let (code, _, _) = run(&[
        "gradient",
        "encode",
        "--checkpoint",
        ckpt.to_str().unwrap(),
        "--grad",
        grad.to_str().unwrap(),
        "--out",
        blob.to_str().unwrap(),
        "--raw",
    ]);
    assert_eq!(code, 0);
    let mut bytes = std::fs::read(&blob).unwrap();
    // Overwrite the first value of one parameter with a NaN.
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    let start = header["transformer.ln_f.bias.vals"]["data_offsets"][0]
        .as_u64()
        .unwrap() as usize;
    bytes[8 + n + start..8 + n + start + 4].copy_from_slice(&f32::NAN.to_le_bytes());
    std::fs::write(&blob, &bytes).unwrap();
    let dense = dir.join("dense.safetensors");
    let (code, _, stderr) = run(&[
        "gradient",
        "decode",
        "--checkpoint",
        ckpt.to_str().unwrap(),
        "--blob",
        blob.to_str().unwrap(),
        "--out",
        dense.to_str().unwrap(),
    ]);
    assert_eq!(code, 1);
    assert!(stderr.contains("non-finite"), "{stderr}");
    assert!(!dense.exists());

    std::fs::write(&blob, b"garbage").unwrap();
    let (code, json, _) = run(&["gradient", "inspect", blob.to_str().unwrap(), "--json"]);
    assert_eq!(code, 1);
    assert_eq!(json["valid"], false);
    let (code, _, _) = run(&[
        "gradient",
        "decode",
        "--checkpoint",
        "/no/such",
        "--blob",
        "/no/such",
        "--out",
        "/tmp/x",
    ]);
    assert_eq!(code, 2);
}

#[test]
fn bench_commands_print_their_keys() {
    let (code, json, stderr) = run(&[
        "bench",
        "eval",
        "--preset",
        "tiny",
        "--tokens",
        "512",
        "--threads",
        "1",
        "--json",
    ]);
    assert_eq!(code, 0, "{stderr}");
    for key in [
        "preset",
        "threads",
        "tokens",
        "tokens_per_s",
        "loss",
        "peak_rss_mib",
    ] {
        assert!(!json[key].is_null(), "{key}");
    }
    assert_eq!(json["threads"], 1);
    assert!((json["loss"].as_f64().unwrap() - 256f64.ln()).abs() < 0.3);
    let (code, json, _) = run(&["bench", "codec", "--preset", "tiny", "--json"]);
    assert_eq!(code, 0);
    for key in ["params", "decode_params_per_s", "encode_params_per_s"] {
        assert!(json[key].as_f64().unwrap() > 0.0, "{key}");
    }
    let (code, _, _) = run(&["bench", "eval", "--preset", "huge", "--json"]);
    assert_eq!(code, 2);
    let (code, json, stderr) = run(&[
        "bench",
        "gemm",
        "--m",
        "70",
        "--n",
        "40",
        "--k",
        "33",
        "--reps",
        "2",
        "--threads",
        "1",
        "--json",
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        (json["m"].clone(), json["n"].clone(), json["k"].clone()),
        (70.into(), 40.into(), 33.into())
    );
    assert!(json["gflops"].as_f64().unwrap() > 0.0);
    assert!(json["best_gflops"].as_f64().unwrap() >= json["gflops"].as_f64().unwrap());
    let (code, json, _) = run(&["bench", "gemm", "--k", "0", "--json"]);
    assert_eq!(code, 2);
    assert!(json["error"].as_str().unwrap().contains("positive"));
}

#[test]
fn upload_shards_a_blob_over_the_request_cap_and_prints_what_to_commit() {
    let dir = scratch("upload");
    let blob = dir.join("blob.bin");
    // Any bytes: upload is transport, the content is the miner's business.
    let bytes: Vec<u8> = (0..20_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(&blob, &bytes).unwrap();
    let store = vram_localnet::blobstore::BlobStore::start(&dir.join("store"), "127.0.0.1:0", 8192)
        .unwrap();
    let url = store.url();
    let (code, json, stderr) = run(&[
        "gradient",
        "upload",
        blob.to_str().unwrap(),
        "--publisher",
        &url,
        "--max-request-bytes",
        "8192",
        "--json",
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(json["sharded"], true);
    assert_eq!(
        json["sha256"],
        hex::encode(vram_attestation::sha256(&bytes))
    );
    // A validator fetches it by the committed id and hash: content only.
    let id: vram_host::walrus::BlobId = json["blob_id"].as_str().unwrap().parse().unwrap();
    let walrus = vram_host::walrus::WalrusClient::new(
        std::slice::from_ref(&url),
        &[],
        vram_host::walrus::RetryPolicy::default(),
    )
    .unwrap()
    .with_max_request_bytes(8192);
    let sha = vram_attestation::sha256(&bytes);
    assert_eq!(walrus.fetch_content(&id, &sha, 1 << 20).unwrap(), bytes);
    // Above the caller's cap it is refused, whatever the manifest says.
    assert!(walrus.fetch_content(&id, &sha, 10_000).is_err());
    // The publisher refuses a single request over its cap (HTTP 413).
    let (code, _, stderr) = run(&[
        "gradient",
        "upload",
        blob.to_str().unwrap(),
        "--publisher",
        &url,
        "--max-request-bytes",
        "65536",
    ]);
    assert_eq!(code, 2);
    assert!(stderr.contains("413"), "{stderr}");
}
