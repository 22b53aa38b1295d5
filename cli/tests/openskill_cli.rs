//! `vram-validator openskill` prints openskill.py 6.2.0's numbers bit for bit
//! (`host/tests/fixtures/OPENSKILL.md`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;

use serde_json::Value;

const VECTORS: &str = include_str!("../../host/tests/fixtures/plackett_luce_vectors.json");

fn cases() -> Vec<Value> {
    let all: Value = serde_json::from_str(VECTORS).unwrap();
    all["cases"].as_array().unwrap().clone()
}

fn bits(v: &Value) -> u64 {
    u64::from_str_radix(v.as_str().unwrap().trim_start_matches("0x"), 16).unwrap()
}

#[test]
fn the_cli_prints_the_expected_schema() {
    let case = cases()
        .into_iter()
        .find(|c| c["name"] == "three_mixed_tie_top")
        .unwrap();
    let dir = vram_test_support::TempDir::new("openskill").unwrap();
    let path = dir.join("case.json");
    std::fs::write(&path, serde_json::to_vec(&case).unwrap()).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_vram-validator"))
        .args(["openskill", "--input", path.to_str().unwrap(), "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    let ours = json["expected"].as_array().unwrap();
    for (o, e) in ours.iter().zip(case["expected"].as_array().unwrap()) {
        assert_eq!(o["mu"].as_f64().unwrap().to_bits(), bits(&e["mu_bits"]));
        assert_eq!(
            o["sigma"].as_f64().unwrap().to_bits(),
            bits(&e["sigma_bits"])
        );
        assert_eq!(o["rank"], e["rank"]);
        assert!((o["ordinal"].as_f64().unwrap() - e["ordinal"].as_f64().unwrap()).abs() <= 1e-9);
    }

    std::fs::write(
        &path,
        br#"{"params": {}, "input": [{"mu": 25, "sigma": 8, "score": 1}]}"#,
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_vram-validator"))
        .args(["openskill", "--input", path.to_str().unwrap(), "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "one player cannot be rated");
}
