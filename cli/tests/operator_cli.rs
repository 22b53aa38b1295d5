//! The operator's commands against a local network: after a short demo, a
//! second validator process configured by TOML (with an environment
//! override) registers its own enclave, runs one window, and the read-only
//! commands report it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Command;

use vram_localnet::demo::{self, DemoConfig};
use vram_localnet::ledger::Ledger;

fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().unwrap().parent().unwrap().join(name)
}

fn cli(config: &Path, args: &[&str]) -> (bool, serde_json::Value, String) {
    let out = Command::new(bin("vram-validator"))
        .args(args)
        .arg("--config")
        .arg(config)
        .arg("--json")
        .env("VRAMHUB_LOG_LEVEL", "warn")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let last = stdout.lines().last().unwrap_or("null").to_string();
    (
        out.status.success(),
        serde_json::from_str(&last).unwrap_or(serde_json::Value::Null),
        format!("{stdout}\n{}", String::from_utf8_lossy(&out.stderr)),
    )
}

#[test]
fn operator_commands_drive_and_report_a_validator() {
    let dir = vram_test_support::TempDir::new("operator").unwrap();
    let cfg = DemoConfig {
        miners: 3,
        windows: 1,
        window_seconds: 6.0,
        pages: 128,
        out: dir.join("net"),
        ..DemoConfig::default()
    };
    demo::run(&cfg, |_| {}).unwrap();

    // A second validator joins the network.
    let me = [0x5a; 32];
    let mut ledger = Ledger::open(&cfg.out.join("ledger.sqlite")).unwrap();
    let now = ledger.now_ms().unwrap();
    ledger.register_validator(me, 10_000_000_000, now).unwrap();

    // This machine's capacity, measured and saved for `run`.
    let capacity = dir.join("capacity.json");
    let measured: serde_json::Value = vram_test_support::run_json(
        Command::new(bin("vram-validator"))
            .args([
                "capacity", "--preset", "tiny", "--sample", "1", "--json", "--save",
            ])
            .arg(&capacity),
    );
    assert!(measured["miners_fit"].as_u64().unwrap() > 0);
    assert!(measured["per_miner_ms"].as_f64().unwrap() > 0.0);
    // Pretend it was a slow machine: `run` must warn about the budget.
    std::fs::write(&capacity, r#"{"miners_fit": 1}"#).unwrap();

    let config = dir.join("vram-validator.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[chain]
kind = "local"
ledger = "{net}/ledger.sqlite"
validator = "0x{me}"
[enclave]
kind = "process"
binary = "{enclave}"
socket = "{dir}/enclave.sock"
state_dir = "{dir}/enclave-state"
log = "{dir}/enclave.log"
[walrus]
aggregators = ["http://127.0.0.1:9"]
[storage]
journal = "{dir}/journal.sqlite"
checkpoints = "{net}/checkpoints"
dataset = "{net}/dataset"
[loop]
fetch_parallelism = 2
submit_margin_ms = 500
capacity_file = "{dir}/capacity.json"
"#,
            net = cfg.out.display(),
            me = hex::encode(me),
            enclave = bin("vram-enclave").display(),
            dir = dir.display(),
        ),
    )
    .unwrap();

    let (ok, check, log) = cli(&config, &["config", "check"]);
    assert!(ok, "{log}");
    assert_eq!(check["loop"]["fetch_parallelism"], 2);

    let (ok, reg, log) = cli(&config, &["register-enclave"]);
    assert!(ok, "{log}");
    assert_eq!(reg["registered"], true);

    let (ok, status, log) = cli(&config, &["status"]);
    assert!(ok, "{log}");
    assert_eq!(status["validator"], format!("0x{}", hex::encode(me)));
    assert_eq!(status["enclave_key"], reg["public_key"]);

    // One window: no miner commits any more, so the statement lists nobody
    // (registered miners that committed nothing are absent), and it is still
    // signed, checked and accepted.
    let (ok, run, log) = cli(&config, &["run", "--windows", "1"]);
    assert!(ok, "{log}");
    assert_eq!(run["state"], "submitted", "{log}");
    assert!(
        log.contains("fewer miners per window than the network's max_scored"),
        "{log}"
    );
    let window = run["window"].as_u64().unwrap();

    let (ok, scores, log) = cli(&config, &["scores", "--window", &window.to_string()]);
    assert!(ok, "{log}");
    assert_eq!(scores["submitted"], true);
    assert_eq!(scores["entries"].as_array().unwrap().len(), 0);

    let (ok, journal, log) = cli(&config, &["journal"]);
    assert!(ok, "{log}");
    assert_eq!(journal["windows"][0]["state"], "submitted");

    let (ok, ratings, log) = cli(&config, &["ratings"]);
    assert!(ok, "{log}");
    assert_eq!(ratings["windows_rated"], 1);
    // The three registered miners committed nothing: each is rated, last.
    assert_eq!(ratings["miners"].as_array().unwrap().len(), 3);

    // An environment override that breaks the configuration is refused.
    let out = Command::new(bin("vram-validator"))
        .args(["status", "--json", "--config"])
        .arg(&config)
        .env("VRAMHUB_LOG_FORMAT", "xml")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let _ = std::fs::remove_dir_all(&dir);
}
