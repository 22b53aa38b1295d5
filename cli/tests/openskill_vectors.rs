//! Agreement with openskill.py 6.2.0 (fixtures/OPENSKILL.md): every update
//! of every case bit for bit, through the library (`vram_host::ratings`) and
//! through the CLI (`vram-validator openskill`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;

use serde_json::Value;
use vram_host::ratings::{PlackettLuce, Rating};

const VECTORS: &str = include_str!("fixtures/plackett_luce_vectors.json");

fn cases() -> Vec<Value> {
    let all: Value = serde_json::from_str(VECTORS).unwrap();
    all["cases"].as_array().unwrap().clone()
}

fn bits(v: &Value) -> u64 {
    u64::from_str_radix(v.as_str().unwrap().trim_start_matches("0x"), 16).unwrap()
}

#[test]
fn every_update_matches_bit_for_bit() {
    let cases = cases();
    assert_eq!(cases.len(), 33);
    let mut updates = 0;
    for case in &cases {
        let name = case["name"].as_str().unwrap();
        let model: PlackettLuce = serde_json::from_value(case["params"].clone()).unwrap();
        let input = case["input"].as_array().unwrap();
        let players: Vec<Rating> = input
            .iter()
            .map(|p| Rating {
                mu: p["mu"].as_f64().unwrap(),
                sigma: p["sigma"].as_f64().unwrap(),
            })
            .collect();
        let scores: Vec<f64> = input.iter().map(|p| p["score"].as_f64().unwrap()).collect();
        let rated = model.rate(&players, &scores).unwrap();
        for (i, (ours, expected)) in rated
            .iter()
            .zip(case["expected"].as_array().unwrap())
            .enumerate()
        {
            assert_eq!(
                ours.rating.mu.to_bits(),
                bits(&expected["mu_bits"]),
                "{name}[{i}] mu"
            );
            assert_eq!(
                ours.rating.sigma.to_bits(),
                bits(&expected["sigma_bits"]),
                "{name}[{i}] sigma"
            );
            assert_eq!(
                ours.rank as u64,
                expected["rank"].as_u64().unwrap(),
                "{name}[{i}] rank"
            );
            let ordinal = expected["ordinal"].as_f64().unwrap();
            assert!(
                (model.ordinal(&ours.rating) - ordinal).abs() <= 1e-9,
                "{name}[{i}] ordinal"
            );
            updates += 1;
        }
    }
    assert_eq!(updates, 709);
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
    let json: Value =
        vram_test_support::run_json(Command::new(env!("CARGO_BIN_EXE_vram-validator")).args([
            "openskill",
            "--input",
            path.to_str().unwrap(),
            "--json",
        ]));
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

#[test]
fn invalid_inputs_are_refused() {
    let m = PlackettLuce::default();
    let r = m.initial();
    assert!(m.rate(&[r], &[1.0]).is_err());
    assert!(m.rate(&[r, r], &[1.0]).is_err());
    assert!(m
        .rate(
            &[
                r,
                Rating {
                    mu: 1.0,
                    sigma: 0.0
                }
            ],
            &[1.0, 2.0]
        )
        .is_err());
    assert!(m.rate(&[r, r], &[f64::NAN, 2.0]).is_err());
}
