//! The vramhub transactions built in Rust are byte for byte the ones the
//! official TypeScript SDK builds (`tests/fixtures/sui/generate.mjs`, run
//! offline with `@mysten/sui`; bytes in `golden.json`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use vram_host::chain::sui_tx::{
    register_enclave, register_test_enclave, set_budget, submit_scores, to_base64, Gas, OwnedObject,
};
use vram_host::chain::types::DocumentRef;
use vram_host::walrus::BlobId;

const DOC: &[u8] = include_bytes!("../../attestation/tests/fixtures/nautilus_2025-04-15.cose");
/// Where the golden registrations say their document is on Walrus.
const DOCUMENT_BLOB: BlobId = BlobId([0xdb; 32]);

fn golden(name: &str) -> String {
    let json: serde_json::Value =
        serde_json::from_str(include_str!("fixtures/sui/golden.json")).unwrap();
    json[name].as_str().unwrap().to_string()
}

use common::deployment;

fn gas() -> Gas {
    Gas {
        sender: [0xaa; 32],
        coins: vec![OwnedObject {
            id: [0x6a; 32],
            version: 7,
            digest: [0x0d; 32],
        }],
        price: 1000,
        budget: 50_000_000,
    }
}

#[test]
fn production_registration_matches_the_typescript_sdk() {
    let tx = register_enclave(&deployment(), &gas(), DOC, Some(DOCUMENT_BLOB)).unwrap();
    assert_eq!(to_base64(&tx).unwrap(), golden("register_enclave"));
}

#[test]
fn test_mode_registration_matches_the_typescript_sdk() {
    let cap = OwnedObject {
        id: [0xc1; 32],
        version: 5,
        digest: [0x0c; 32],
    };
    let key =
        hex::decode("ea4a6c63e29c520abef5507b132ec5f9954776aebebe7b92421eea691446d22c").unwrap();
    let document = DocumentRef {
        sha256: vram_attestation::sha256(DOC),
        blob: Some(DOCUMENT_BLOB),
    };
    let tx = register_test_enclave(&deployment(), &gas(), cap, &key, &document).unwrap();
    assert_eq!(to_base64(&tx).unwrap(), golden("register_test_enclave"));
}

#[test]
fn submit_scores_matches_the_typescript_sdk() {
    let args = common::golden_args();
    let tx = submit_scores(&deployment(), &gas(), &args).unwrap();
    assert_eq!(to_base64(&tx).unwrap(), golden("submit_scores"));
    // One changed argument changes the bytes.
    let mut other = args.clone();
    other.losses_after_own[0] += 1;
    let tx = submit_scores(&deployment(), &gas(), &other).unwrap();
    assert_ne!(to_base64(&tx).unwrap(), golden("submit_scores"));
}

#[test]
fn set_budget_matches_the_typescript_sdk() {
    let tx = set_budget(&deployment(), &gas(), 40).unwrap();
    assert_eq!(to_base64(&tx).unwrap(), golden("set_budget"));
    let tx = set_budget(&deployment(), &gas(), 41).unwrap();
    assert_ne!(to_base64(&tx).unwrap(), golden("set_budget"));
}

/// `vram-validator sui-tx ... --serialize-unsigned-transaction` prints the
/// same bytes, from files, without any network.
#[test]
fn the_cli_serializes_the_same_transactions() {
    let exe = std::env::current_exe().unwrap();
    let bin = exe
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("vram-validator");
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sui");
    let gas = format!(
        "0x{}:7:{}",
        "6a".repeat(32),
        sui_sdk_types::Digest::new([0x0d; 32])
    );
    let common = |cmd: &str| {
        let mut c = std::process::Command::new(&bin);
        c.args(["sui-tx", cmd, "--deployment"])
            .arg(fixtures.join("deployment.json"))
            .args(["--sender", &format!("0x{}", "aa".repeat(32))])
            .args([
                "--gas",
                &gas,
                "--gas-price",
                "1000",
                "--gas-budget",
                "50000000",
            ])
            .args(["--serialize-unsigned-transaction", "--json"]);
        c
    };
    let run = |mut c: std::process::Command| {
        let out = c.output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        json["tx_bytes"].as_str().unwrap().to_string()
    };

    let doc_path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../attestation/tests/fixtures/nautilus_2025-04-15.cose");
    let mut c = common("register-enclave");
    c.arg("--document")
        .arg(&doc_path)
        .args(["--document-blob", &DOCUMENT_BLOB.to_string()]);
    assert_eq!(run(c), golden("register_enclave"));

    let mut c = common("register-test-enclave");
    c.args([
        "--test-cap",
        &format!(
            "0x{}:5:{}",
            "c1".repeat(32),
            sui_sdk_types::Digest::new([0x0c; 32])
        ),
        "--public-key",
        "ea4a6c63e29c520abef5507b132ec5f9954776aebebe7b92421eea691446d22c",
        "--document-blob",
        &DOCUMENT_BLOB.to_string(),
    ]);
    c.arg("--document").arg(&doc_path);
    assert_eq!(run(c), golden("register_test_enclave"));

    // The statement the Move tests submit, as a vram-statement/1 file.
    let signed = vram_attestation::statement::SignedStatement::sign(
        common::submit_message(),
        &common::golden_key(),
    )
    .unwrap();
    let dir = vram_test_support::TempDir::new("sui-tx").unwrap();
    let path = dir.join("statement.json");
    std::fs::write(&path, serde_json::to_vec(&signed.to_file()).unwrap()).unwrap();
    let mut c = common("submit-scores");
    c.arg("--statement").arg(&path);
    assert_eq!(run(c), golden("submit_scores"));

    // Signed offline with the account's mnemonic: the TypeScript SDK's signature.
    let wallet: serde_json::Value =
        serde_json::from_str(include_str!("fixtures/sui/wallet.json")).unwrap();
    let mut c = common("submit-scores");
    c.arg("--statement").arg(&path).arg("--sign");
    let sender = wallet[0]["address"].as_str().unwrap();
    let args: Vec<String> = c
        .get_args()
        .map(|a| a.to_string_lossy().to_string())
        .collect();
    let mut c = std::process::Command::new(&bin);
    for a in &args {
        c.arg(if a == &format!("0x{}", "aa".repeat(32)) {
            sender
        } else {
            a
        });
    }
    c.env("VRAMHUB_MNEMONIC", wallet[0]["mnemonic"].as_str().unwrap());
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    use base64::Engine as _;
    let sig = base64::engine::general_purpose::STANDARD
        .decode(json["signature"].as_str().unwrap())
        .unwrap();
    assert_eq!(sig.len(), 1 + 64 + 32, "flag || signature || public key");
    assert_eq!(sig[0], 0, "Ed25519");
    assert_eq!(
        hex::encode(&sig[65..]),
        wallet[0]["public_key"].as_str().unwrap()
    );
    // With the wrong sender, the key does not match and nothing is signed.
    let mut c = common("submit-scores");
    c.arg("--statement").arg(&path).arg("--sign");
    c.env("VRAMHUB_MNEMONIC", wallet[0]["mnemonic"].as_str().unwrap());
    assert_eq!(c.output().unwrap().status.code(), Some(2));

    // Without the flag nothing is sent: this build refuses.
    let out = std::process::Command::new(&bin)
        .args(["sui-tx", "submit-scores", "--deployment"])
        .arg(fixtures.join("deployment.json"))
        .args(["--sender", &format!("0x{}", "aa".repeat(32))])
        .args([
            "--gas",
            &gas,
            "--gas-price",
            "1000",
            "--gas-budget",
            "50000000",
        ])
        .arg("--statement")
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--serialize-unsigned-transaction"));
    let _ = std::fs::remove_file(&path);
}
