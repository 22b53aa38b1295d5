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
    // The network's Walrus stays up for the operator (the demo's stopped).
    let store = vram_localnet::blobstore::BlobStore::start(
        &cfg.out.join("blobs"),
        "127.0.0.1:0",
        cfg.max_request_bytes,
    )
    .unwrap();

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
    // Pretend it was a slow machine: `run` must refuse the default budget.
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
aggregators = ["http://127.0.0.1:9", "{walrus}"]
publishers = ["{walrus}"]
rounds = 2
backoff_ms = 50
max_request_bytes = {max_request}
[storage]
journal = "{dir}/fresh/state/journal.sqlite"
checkpoints = "{dir}/fresh/checkpoints"
datasets = "{dir}/fresh/datasets"
[loop]
fetch_parallelism = 2
submit_margin_ms = 500
capacity_file = "{dir}/capacity.json"
"#,
            net = cfg.out.display(),
            me = hex::encode(me),
            enclave = bin("vram-enclave").display(),
            dir = dir.display(),
            walrus = store.url(),
            max_request = cfg.max_request_bytes,
        ),
    )
    .unwrap();

    // A fresh machine: nothing under fresh/ exists yet; `config check`
    // creates the folders and finds the one thing `run` would die on: the
    // budget it never declared (the network's max_scored, 256) is above
    // what this machine scores.
    assert!(!dir.join("fresh").exists());
    let (ok, check, log) = cli(&config, &["config", "check"]);
    assert!(!ok, "{log}");
    assert_eq!(check["config"]["loop"]["fetch_parallelism"], 2);
    let findings = check["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 1, "{log}");
    assert_eq!(findings[0]["key"], "loop.capacity_file", "{log}");
    assert!(findings[0]["message"]
        .as_str()
        .unwrap()
        .contains("vram-validator budget set 1"));
    assert!(dir.join("fresh/checkpoints").is_dir() && dir.join("fresh/state").is_dir());
    // A submission margin longer than the scoring phase is caught, with why.
    let late = std::fs::read_to_string(&config)
        .unwrap()
        .replace("submit_margin_ms = 500", "submit_margin_ms = 600000");
    let late_config = dir.join("late.toml");
    std::fs::write(&late_config, late).unwrap();
    let out = Command::new(bin("vram-validator"))
        .args(["config", "check", "--json", "--config"])
        .arg(&late_config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let found: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        found["findings"][0]["key"], "loop.submit_margin_ms",
        "{found}"
    );
    assert!(found["findings"][0]["message"]
        .as_str()
        .unwrap()
        .contains("leaves no time to score"));

    let (ok, reg, log) = cli(&config, &["register-enclave"]);
    assert!(ok, "{log}");
    assert_eq!(reg["registered"], true);

    let (ok, status, log) = cli(&config, &["status"]);
    assert!(ok, "{log}");
    assert_eq!(status["validator"], format!("0x{}", hex::encode(me)));
    assert_eq!(status["enclave_key"], reg["public_key"]);

    // The budget it never declared is the network's max_scored (256), above
    // what this machine scores: `run` refuses to start and says what to do.
    let (ok, _, log) = cli(&config, &["run", "--windows", "1"]);
    assert!(!ok, "{log}");
    assert!(log.contains("above this machine's capacity of 1"), "{log}");
    assert!(log.contains("vram-validator budget set 1"), "{log}");
    let (ok, budget, log) = cli(&config, &["budget", "set", "1"]);
    assert!(ok, "{log}");
    assert_eq!(budget["next_budget"], 1, "{log}");
    assert_eq!(budget["max_scored"], 256, "{log}");
    let (ok, shown, log) = cli(&config, &["budget", "show"]);
    assert!(ok, "{log}");
    assert_eq!(shown["next_budget"], 1, "{log}");
    let (ok, check, log) = cli(&config, &["config", "check"]);
    assert!(ok, "{log}");
    assert_eq!(check["findings"].as_array().unwrap().len(), 0, "{log}");

    // One window: no miner commits any more, so the statement lists nobody
    // (registered miners that committed nothing are absent), and it is still
    // signed, checked and accepted.
    let (ok, run, log) = cli(&config, &["run", "--windows", "1"]);
    assert!(ok, "{log}");
    assert_eq!(run["state"], "submitted", "{log}");
    let window = run["window"].as_u64().unwrap();
    // The empty machine fetched the anchored checkpoint and the dataset by
    // the ids the chain names, and cached them by hash.
    let cached = |d: &str| std::fs::read_dir(dir.join(d)).unwrap().count();
    assert_eq!(cached("fresh/checkpoints"), 1);
    assert_eq!(cached("fresh/datasets"), 1);

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

    // The metrics of a running loop, scraped live, export every metric the
    // Grafana dashboard in docs/ queries.
    let scrape = scrape_while_running(&config);
    let dashboard: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/grafana-dashboard.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let mut queried = 0;
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            let expr = target["expr"].as_str().unwrap();
            for name in metric_names(expr) {
                queried += 1;
                assert!(
                    scrape.lines().any(|l| l.starts_with(&format!("{name} "))
                        || l.starts_with(&format!("{name}{{"))),
                    "panel {:?} queries {name}, which /metrics does not export:\n{scrape}",
                    panel["title"]
                );
            }
        }
    }
    assert!(queried >= 13, "{queried}");
    assert!(
        scrape.contains("vram_window_miners{status=\"scored\"}"),
        "{scrape}"
    );

    // An auditor, with no key and only the chain and Walrus, builds the
    // bundle of the demo validator's first window and replays it.
    let demo_validator = vram_attestation::sha256(b"vram demo validator 42");
    let audit_dir = dir.join("audit");
    let (ok, audit, log) = cli(
        &config,
        &[
            "audit",
            "--validator",
            &format!("0x{}", hex::encode(demo_validator)),
            "--window",
            "0",
            "--out",
            audit_dir.to_str().unwrap(),
            "--root",
            cfg.out
                .join("enclave-state/test-root.pem")
                .to_str()
                .unwrap(),
        ],
    );
    assert!(ok, "{log}");
    assert_eq!(audit["document_fetched"], true, "{audit}");
    assert!(audit["blobs_fetched"].as_u64().unwrap() > 0, "{audit}");
    let replay: serde_json::Value = vram_test_support::run_json(
        Command::new(bin("vram-validator"))
            .args(["replay", "--json", "--bundle"])
            .arg(&audit_dir),
    );
    assert_eq!(replay["agrees"], true, "{replay}");
    let entries = replay["windows"][0]["entries"].as_array().unwrap();
    assert!(!entries.is_empty());
    assert!(entries.iter().all(|e| e["identical"] == true));
    // Statuses are words in every command's JSON.
    assert!(entries.iter().all(|e| e["status"]
        .as_str()
        .is_some_and(|s| s.chars().all(|c| c.is_ascii_lowercase() || c == '_'))));
    // Errors reach scripts as JSON too.
    let out = Command::new(bin("vram-validator"))
        .args(["audit", "--window", "999", "--json", "--out"])
        .arg(dir.join("nothing"))
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        err["error"]
            .as_str()
            .unwrap()
            .contains("no accepted statement"),
        "{err}"
    );

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

/// Every `vram_...` metric name an expression uses.
fn metric_names(expr: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = expr;
    while let Some(i) = rest.find("vram_") {
        let tail = &rest[i..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        out.push(tail[..end].to_string());
        rest = &tail[end..];
    }
    out
}

/// Runs `run --windows 3` with a metrics endpoint and returns a scrape taken
/// after its first statement was accepted.
fn scrape_while_running(config: &Path) -> String {
    use std::io::{Read, Write};
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(bin("vram-validator"))
        .args(["run", "--windows", "3", "--config"])
        .arg(config)
        .env("VRAMHUB_METRICS_LISTEN", format!("127.0.0.1:{port}"))
        .env("VRAMHUB_LOG_LEVEL", "warn")
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    let mut last = String::new();
    while std::time::Instant::now() < deadline {
        if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            let _ = write!(
                s,
                "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
            );
            let mut body = String::new();
            let _ = s.read_to_string(&mut body);
            last = body;
            if last.contains("vram_window_miners{") {
                break;
            }
        }
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        last.contains("vram_window_miners{"),
        "no statement observed: {last}"
    );
    last
}
