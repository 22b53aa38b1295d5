//! The `vram-attest` interface that scripts depend on: arguments, JSON keys
//! and exit codes (0 valid, 1 invalid, 2 usage or I/O).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::{Command, Output};

use ring::signature::Ed25519KeyPair;
use serde_json::Value;
use vram_attestation::statement::{
    ed25519_public_key, IntentMessage, SignedStatement, WindowScores, INTENT_WINDOW_SCORES,
};
use vram_test_support::TempDir;

const NAUTILUS: &str = "tests/fixtures/nautilus_2025-04-15.cose";
const DEBUG: &str = "tests/fixtures/debug_mode_2022-10-12.cose";
const NAUTILUS_PCR0: &str = "cbe1afb6ed0ff89f10295af0b802247ec5670da8f886e71a4226373b032c322f4e42c9c98288e7211682b258684505a2";

fn run(args: &[&str]) -> (i32, Value, String) {
    let out: Output = Command::new(env!("CARGO_BIN_EXE_vram-attest"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("the binary runs");
    let json = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (
        out.status.code().unwrap_or(-1),
        json,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn scratch(name: &str) -> TempDir {
    TempDir::new(&format!("attest-cli-{name}")).unwrap()
}

#[test]
fn verify_reports_every_field_and_exit_codes() {
    let (code, json, stderr) = run(&["verify", NAUTILUS, "--json"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(json["valid"], true);
    assert_eq!(json["error"], Value::Null);
    assert_eq!(json["module_id"], "i-06e4b98c6549ff803-enc0196373b195fb723");
    assert_eq!(json["timestamp_ms"], 1_744_683_923_696u64);
    assert_eq!(json["digest"], "SHA384");
    assert_eq!(json["pcrs"]["0"], NAUTILUS_PCR0);
    assert_eq!(json["user_data"], Value::Null);
    assert_eq!(json["certificates"].as_array().map(Vec::len), Some(5));
    assert_eq!(json["time_source"], "document");
    assert!(stderr.contains("document's own timestamp"));

    let (code, json, _) = run(&["verify", NAUTILUS, "--at", "1744680323696", "--json"]);
    assert_eq!(code, 1);
    assert_eq!(json["valid"], false);
    assert!(json["error"].as_str().unwrap().contains("not valid before"));

    let (code, _, _) = run(&["verify", NAUTILUS, "--now"]);
    assert_eq!(code, 1, "the document's leaf expired long ago");

    let (code, _, stderr) = run(&[
        "verify",
        NAUTILUS,
        "--pcr",
        &format!("0={}", "00".repeat(48)),
    ]);
    assert_eq!(code, 1);
    assert!(stderr.contains("PCR0"));
    let (code, _, _) = run(&["verify", NAUTILUS, "--pcr", &format!("0={NAUTILUS_PCR0}")]);
    assert_eq!(code, 0);
    let (code, _, _) = run(&[
        "verify",
        NAUTILUS,
        "--pcr",
        &format!("7={}", "00".repeat(48)),
    ]);
    assert_eq!(code, 2, "PCR7 cannot be pinned: a usage error");
    let (code, json, stderr) = run(&["verify", NAUTILUS, "--pcr", "0=00", "--json"]);
    assert_eq!(code, 2, "a 1-byte PCR is a typo");
    assert!(stderr.contains("a PCR is 48 bytes"), "{stderr}");
    assert!(
        json["error"].is_string(),
        "errors reach --json callers as JSON: {json}"
    );
    // Times are Unix ms or RFC 3339.
    let (code, _, _) = run(&["verify", NAUTILUS, "--at", "2025-04-15T02:30:00Z"]);
    assert_eq!(code, 0);
    let (code, _, _) = run(&["verify", NAUTILUS, "--at", "2025-04-15 02:30"]);
    assert_eq!(code, 2);
    // An empty measurements file says what to do, as JSON when asked.
    let dir = std::env::temp_dir().join(format!("vram-attest-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let m = dir.join("measurements.json");
    std::fs::write(&m, r#"{"format": "vram-measurements/1", "releases": []}"#).unwrap();
    let (code, json, _) = run(&[
        "verify",
        NAUTILUS,
        "--measurements",
        m.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(code, 2);
    assert!(
        json["error"]
            .as_str()
            .unwrap()
            .contains("lists no release yet"),
        "{json}"
    );
    let _ = std::fs::remove_dir_all(&dir);

    let (code, _, _) = run(&["verify", DEBUG]);
    assert_eq!(code, 1);
    let (code, _, _) = run(&["verify", DEBUG, "--allow-debug"]);
    assert_eq!(code, 0);

    let (code, _, _) = run(&["verify", "no/such/file"]);
    assert_eq!(code, 2);
    let (code, _, _) = run(&["verify"]);
    assert_eq!(code, 2);
}

#[test]
fn hex_and_base64_documents_are_accepted() {
    use base64::Engine as _;
    let dir = scratch("encodings");
    let raw = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join(NAUTILUS)).unwrap();
    let hex_path = dir.join("doc.hex");
    std::fs::write(&hex_path, hex::encode(&raw)).unwrap();
    let b64_path = dir.join("doc.b64");
    std::fs::write(
        &b64_path,
        base64::engine::general_purpose::STANDARD.encode(&raw),
    )
    .unwrap();
    for path in [&hex_path, &b64_path] {
        let (code, json, _) = run(&["verify", path.to_str().unwrap(), "--json"]);
        assert_eq!(code, 0);
        assert_eq!(json["valid"], true);
    }
    let (code, json, _) = run(&["inspect", hex_path.to_str().unwrap(), "--json"]);
    assert_eq!(code, 0);
    assert_eq!(json["verified"], false);
    assert_eq!(
        json["public_key"],
        "e8e62201dbe293b703c759f653107acbc2c911fa1d2e66f2c747bec95971a2af"
    );
}

#[test]
fn simulated_documents_and_statements_round_trip_through_the_cli() {
    let dir = scratch("simulate");
    let key = Ed25519KeyPair::from_seed_unchecked(&[3u8; 32]).unwrap();
    let public = hex::encode(ed25519_public_key(&key));
    let (code, json, stderr) = run(&[
        "simulate",
        "--out-dir",
        dir.to_str().unwrap(),
        "--public-key",
        &public,
        "--json",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let doc = json["document"].as_str().unwrap().to_string();
    let root = json["test_root"].as_str().unwrap().to_string();

    let (code, _, _) = run(&["verify", &doc]);
    assert_eq!(code, 1, "refused under the AWS root");
    let (code, json, _) = run(&[
        "verify",
        &doc,
        "--root",
        &root,
        "--public-key",
        &public,
        "--json",
    ]);
    assert_eq!(code, 0);
    assert_eq!(
        json["root"].as_str().map(|r| r.starts_with("sha256:")),
        Some(true)
    );

    let message = IntentMessage {
        intent: INTENT_WINDOW_SCORES,
        timestamp_ms: 1,
        payload: WindowScores {
            window: 9,
            validator: [1; 32],
            checkpoint_hash: vec![2; 32],
            dataset_root: vec![3; 32],
            eval_params_hash: vec![4; 32],
            eval_seed: vec![5; 32],
            loss_before_random: 6,
            entries: vec![],
        },
    };
    let signed = SignedStatement::sign(message, &key).unwrap();
    let statement = dir.join("statement.json");
    std::fs::write(&statement, serde_json::to_vec(&signed.to_file()).unwrap()).unwrap();
    let statement = statement.to_str().unwrap();

    let (code, json, stderr) = run(&[
        "statement",
        "verify",
        "--statement",
        statement,
        "--doc",
        &doc,
        "--root",
        &root,
        "--json",
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(json["valid"], true);
    assert_eq!(json["statement"]["window"], 9);
    let (code, _, _) = run(&[
        "statement",
        "verify",
        "--statement",
        statement,
        "--doc",
        &doc,
    ]);
    assert_eq!(code, 1, "the simulated document fails under the AWS root");
    let (code, _, _) = run(&[
        "statement",
        "verify",
        "--statement",
        statement,
        "--public-key",
        &public,
    ]);
    assert_eq!(code, 0);
    let (code, _, _) = run(&[
        "statement",
        "verify",
        "--statement",
        statement,
        "--public-key",
        &"00".repeat(32),
    ]);
    assert_eq!(code, 1);

    let (code, json, _) = run(&["statement", "show", statement, "--json"]);
    assert_eq!(code, 0);
    assert_eq!(json["statement_sha256"], hex::encode(signed.sha256()));
    assert_eq!(json["eval_seed"], "05".repeat(32));

    let mut file = signed.to_file();
    file.signature = "00".repeat(64);
    let forged = dir.join("forged.json");
    std::fs::write(&forged, serde_json::to_vec(&file).unwrap()).unwrap();
    let (code, json, _) = run(&[
        "statement",
        "verify",
        "--statement",
        forged.to_str().unwrap(),
        "--public-key",
        &public,
        "--json",
    ]);
    assert_eq!(code, 1);
    assert_eq!(json["valid"], false);
}

#[test]
fn verify_takes_pcrs_from_a_measurements_file() {
    let dir = scratch("measurements");
    let file = dir.join("measurements.json");
    let release = |name: &str, pcr2: &str| {
        serde_json::json!({"release": name, "eif_sha256": "00".repeat(32),
            "PCR0": NAUTILUS_PCR0, "PCR1": NAUTILUS_PCR0, "PCR2": pcr2})
    };
    let good = "21b9efbc184807662e966d34f390821309eeac6802309798826296bf3e8bec7c10edb30948c90ba67310f7b964fc500a";
    std::fs::write(
        &file,
        serde_json::to_vec(&serde_json::json!({"format": "vram-measurements/1",
            "releases": [release("old", &"ab".repeat(48)), release("v1", good)]}))
        .unwrap(),
    )
    .unwrap();
    let f = file.to_str().unwrap();
    let (code, _, stderr) = run(&["verify", NAUTILUS, "--measurements", f]);
    assert_eq!(code, 0, "the last release matches: {stderr}");
    let (code, _, _) = run(&["verify", NAUTILUS, "--measurements", f, "--release", "old"]);
    assert_eq!(code, 1, "an older image's PCR2 does not match");
    let (code, _, _) = run(&["verify", NAUTILUS, "--measurements", f, "--release", "nope"]);
    assert_eq!(code, 2);
}

/// A hand-made EIF: header, kernel, cmdline, two ramdisks.
fn tiny_eif() -> (Vec<u8>, [Vec<u8>; 4]) {
    let sections: [(u16, Vec<u8>); 4] = [
        (1, b"kernel bytes".to_vec()),
        (2, b"console=ttyS0".to_vec()),
        (3, vec![7u8; 1000]),
        (3, vec![9u8; 333]),
    ];
    let mut offsets = [0u64; 32];
    let mut sizes = [0u64; 32];
    let mut at = 548u64;
    for (i, (_, data)) in sections.iter().enumerate() {
        offsets[i] = at;
        sizes[i] = data.len() as u64;
        at += 12 + data.len() as u64;
    }
    let mut file = Vec::new();
    file.extend_from_slice(b".eif");
    file.extend_from_slice(&4u16.to_be_bytes());
    file.extend_from_slice(&0u16.to_be_bytes());
    file.extend_from_slice(&(1u64 << 30).to_be_bytes());
    file.extend_from_slice(&2u64.to_be_bytes());
    file.extend_from_slice(&0u16.to_be_bytes());
    file.extend_from_slice(&4u16.to_be_bytes());
    offsets
        .iter()
        .for_each(|o| file.extend_from_slice(&o.to_be_bytes()));
    sizes
        .iter()
        .for_each(|s| file.extend_from_slice(&s.to_be_bytes()));
    file.extend_from_slice(&0u32.to_be_bytes());
    let mut body = Vec::new();
    for (kind, data) in &sections {
        body.extend_from_slice(&kind.to_be_bytes());
        body.extend_from_slice(&0u16.to_be_bytes());
        body.extend_from_slice(&(data.len() as u64).to_be_bytes());
        body.extend_from_slice(data);
    }
    let crc = crc32(&[file.as_slice(), body.as_slice()].concat());
    file.extend_from_slice(&crc.to_be_bytes());
    file.extend_from_slice(&body);
    let [a, b, c, d] = sections.map(|(_, d)| d);
    (file, [a, b, c, d])
}

fn crc32(data: &[u8]) -> u32 {
    let mut c = 0xFFFF_FFFFu32;
    for &b in data {
        c ^= u32::from(b);
        for _ in 0..8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
        }
    }
    !c
}

fn register(data: &[&[u8]]) -> String {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA384);
    data.iter().for_each(|d| ctx.update(d));
    let digest = ctx.finish();
    let mut reg = ring::digest::Context::new(&ring::digest::SHA384);
    reg.update(&[0u8; 48]);
    reg.update(digest.as_ref());
    hex::encode(reg.finish())
}

#[test]
fn measure_eif_reports_the_three_registers() {
    let dir = scratch("eif");
    let (bytes, [kernel, cmdline, rd0, rd1]) = tiny_eif();
    let path = dir.join("tiny.eif");
    std::fs::write(&path, &bytes).unwrap();
    let (code, json, stderr) = run(&["measure-eif", path.to_str().unwrap(), "--json"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(json["PCR0"], register(&[&kernel, &cmdline, &rd0, &rd1]));
    assert_eq!(json["PCR1"], register(&[&kernel, &cmdline, &rd0]));
    assert_eq!(json["PCR2"], register(&[&rd1]));
    assert_eq!(json["PCR8"], Value::Null);
    assert_eq!(json["sections"].as_array().unwrap().len(), 4);

    let mut broken = bytes.clone();
    broken[600] ^= 1;
    std::fs::write(&path, &broken).unwrap();
    let (code, json, _) = run(&["measure-eif", path.to_str().unwrap(), "--json"]);
    assert_eq!(code, 1);
    assert_eq!(json["valid"], false);
}
