//! Walks the operator and auditor guides on the local network: every shell
//! block a guide shows is either run here, in order, as one script (and any
//! command that fails fails the test), or is marked in the guide as
//! `<!-- walk: not-here: REASON -->` and printed by name. A block without a
//! mark fails the test, so a new step cannot be skipped silently.
//!
//! The local network stands in for production: the machine-specific paths
//! (`/etc/vram/...`, `/opt/vram/...`), the service manager and the window
//! number are replaced by their local equivalents (the table below); the
//! commands and flags are the guide's own.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Command;

use vram_localnet::demo::{self, DemoConfig};
use vram_localnet::ledger::Ledger;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().unwrap().parent().unwrap().to_path_buf()
}

#[derive(Debug)]
enum Mode {
    Local,
    NotHere(String),
}

#[derive(Debug)]
struct Block {
    guide: &'static str,
    section: String,
    line: usize,
    mode: Mode,
    text: String,
}

/// Every ```sh block of `guide`, with its walk mark.
fn blocks(guide: &'static str) -> Vec<Block> {
    let text = std::fs::read_to_string(root().join(guide)).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    let mut section = String::from("(top)");
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        if let Some(h) = line.strip_prefix("## ") {
            section = h.to_string();
        }
        if line.trim() == "```sh" {
            let mark = lines[..i]
                .iter()
                .rev()
                .find(|l| !l.trim().is_empty())
                .map(|l| l.trim())
                .unwrap_or("");
            let mode = if mark == "<!-- walk: local -->" {
                Mode::Local
            } else if let Some(reason) = mark
                .strip_prefix("<!-- walk: not-here: ")
                .and_then(|r| r.strip_suffix(" -->"))
            {
                Mode::NotHere(reason.to_string())
            } else {
                panic!(
                    "{guide}:{}: a shell block without a walk mark; put `<!-- walk: local -->` or \
                     `<!-- walk: not-here: REASON -->` before it",
                    i + 1
                );
            };
            let start = i + 1;
            let mut body = Vec::new();
            i += 1;
            while i < lines.len() && lines[i].trim() != "```" {
                body.push(lines[i]);
                i += 1;
            }
            out.push(Block {
                guide,
                section: section.clone(),
                line: start,
                mode,
                text: body.join("\n"),
            });
        }
        i += 1;
    }
    out
}

/// Guide text → its local equivalent, applied in order.
const LOCAL: &[(&str, &str)] = &[
    // Software: this checkout, built by `cargo test` from these sources.
    ("git clone <this repository> vram && cd vram", "cd \"$REPO\""),
    (
        "cargo build --release --locked -p vram-validator -p vram-attestation",
        "test -x \"$BIN/vram-validator\" && test -x \"$BIN/vram-attest\"",
    ),
    (
        "cargo build --release --locked -p vram-attestation -p vram-validator",
        "test -x \"$BIN/vram-validator\" && test -x \"$BIN/vram-attest\"",
    ),
    (
        "sudo install target/release/vram-validator target/release/vram-attest /usr/local/bin/",
        "install \"$BIN/vram-validator\" \"$BIN/vram-attest\" \"$WALK/bin/\"",
    ),
    ("export PATH=\"$PWD/target/release:$PATH\"", "export PATH=\"$WALK/bin:$PATH\""),
    ("sudo scripts/", "\"$REPO\"/scripts/"),
    ("scripts/run-test-mode.sh", "\"$REPO\"/scripts/run-test-mode.sh"),
    ("/opt/vram/vram-enclave.eif", "\"$WALK/vram-enclave.eif\""),
    // The operator's configuration: the local network's.
    (
        "config example > /etc/vram/vram-validator.toml",
        "config example > \"$WALK/example.toml\"",
    ),
    ("/etc/vram/vram-validator.toml", "\"$CFG\""),
    ("--config auditor.toml", "--config \"$CFG\""),
    ("--config vram-validator.toml", "--config \"$CFG\""),
    // systemd: the unit's ExecStart, in the background.
    ("sudo systemctl start vram-validator", "start_service"),
    ("127.0.0.1:9184", "127.0.0.1:$METRICS_PORT"),
    // Auditing the demo validator's first window (test mode: its root).
    (
        "--validator 0xVALIDATOR --window 1234 --out audit-1234",
        "--validator \"$DEMO_VALIDATOR\" --window 0 --out \"$WALK/audit-0\" --root \"$NET/enclave-state/test-root.pem\"",
    ),
    ("--bundle audit-1234", "--bundle \"$WALK/audit-0\""),
    ("--window 1234", "--window \"$WINDOW\""),
    ("vram-demo/attestation/KEY.cose", "\"$NET/attestation/$KEY.cose\""),
    ("--bundle vram-demo --window 3", "--bundle \"$NET\" --window 1"),
    ("vram-demo/", "\"$NET\"/"),
    ("--bundle vram-demo", "--bundle \"$NET\""),
];

const PRELUDE: &str = r#"set -euo pipefail
step() { printf '\n== walk: %s\n' "$1"; }
# curl, where the machine has none: the same GET over bash's /dev/tcp.
if ! command -v curl >/dev/null; then
  curl() {
    local url="${@: -1}"; local hostport="${url%%/*}"; local path="/${url#*/}"
    exec 3<>"/dev/tcp/${hostport%:*}/${hostport#*:}"
    printf 'GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' "$path" >&3
    sed '1,/^\r$/d' <&3; exec 3<&-
  }
fi
start_service() {
  vram-validator run --config "$CFG" > "$WALK/service.log" 2>&1 &
  echo $! > "$WALK/service.pid"
  for _ in $(seq 1 900); do
    if vram-validator journal --config "$CFG" --json | grep -q '"state":"submitted"'; then
      WINDOW=$(vram-validator journal --config "$CFG" --json | grep -o '"window":[0-9]*' | head -1 | cut -d: -f2)
      return 0
    fi
    sleep 0.2
  done
  echo "the service submitted nothing:" >&2; tail -20 "$WALK/service.log" >&2; return 1
}
trap 'kill "$(cat "$WALK/service.pid" 2>/dev/null)" 2>/dev/null || true' EXIT
cd "$WALK"
"#;

#[test]
fn the_guides_work_on_the_local_network() {
    let guides = ["docs/operator-guide.md", "docs/auditor-guide.md"];
    let all: Vec<Block> = guides.iter().flat_map(|g| blocks(g)).collect();

    let dir = vram_test_support::TempDir::new("guides").unwrap();
    let walk = dir.join("walk");
    std::fs::create_dir_all(walk.join("bin")).unwrap();
    let net = dir.join("net");
    let cfg = DemoConfig {
        miners: 3,
        windows: 2,
        window_seconds: 6.0,
        pages: 128,
        out: net.clone(),
        ..DemoConfig::default()
    };
    demo::run(&cfg, |_| {}).unwrap();
    let store = vram_localnet::blobstore::BlobStore::start(
        &net.join("blobs"),
        "127.0.0.1:0",
        cfg.max_request_bytes,
    )
    .unwrap();
    // The operator's validator is staked (the guide's "make it with your
    // usual Sui wallet").
    let me = [0x6b; 32];
    let mut ledger = Ledger::open(&net.join("ledger.sqlite")).unwrap();
    let now = ledger.now_ms().unwrap();
    ledger.register_validator(me, 10_000_000_000, now).unwrap();
    let metrics_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = walk.join("vram-validator.toml");
    std::fs::write(
        &config,
        format!(
            r#"# The local network's equivalent of /etc/vram/vram-validator.toml.
[chain]
kind = "local"
ledger = "{net}/ledger.sqlite"
validator = "0x{me}"
[enclave]
kind = "process"
binary = "{bin}/vram-enclave"
socket = "{walk}/enclave.sock"
state_dir = "{walk}/enclave-state"
log = "{walk}/enclave.log"
[walrus]
aggregators = ["{walrus}"]
publishers = ["{walrus}"]
max_request_bytes = {max_request}
[storage]
journal = "{walk}/state/journal.sqlite"
checkpoints = "{walk}/state/checkpoints"
datasets = "{walk}/state/datasets"
[loop]
submit_margin_ms = 500
[metrics]
listen = "127.0.0.1:{metrics_port}"
[log]
level = "warn"
"#,
            net = net.display(),
            me = hex::encode(me),
            bin = bin_dir().display(),
            walk = walk.display(),
            walrus = store.url(),
            max_request = cfg.max_request_bytes,
        ),
    )
    .unwrap();
    // Inputs the guides assume the reader has.
    std::fs::copy(
        root().join("attestation/tests/fixtures/nautilus_2025-04-15.cose"),
        walk.join("enclave.cose"),
    )
    .unwrap();
    std::fs::write(walk.join("vram-enclave.eif"), vec![0u8; 1 << 20]).unwrap();
    std::fs::write(
        walk.join("case.json"),
        r#"{"input": [{"mu": 25.0, "sigma": 8.3, "score": 2.0},
                      {"mu": 27.0, "sigma": 5.0, "score": 1.0}]}"#,
    )
    .unwrap();
    let key = std::fs::read_dir(net.join("attestation"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path()
        .file_stem()
        .unwrap()
        .to_string_lossy()
        .to_string();

    let mut script = String::from(PRELUDE);
    let mut not_here = Vec::new();
    let mut local = 0;
    let mut reader = "";
    for b in &all {
        // Each guide is a different reader, starting in the walk folder.
        if b.guide != reader {
            reader = b.guide;
            script.push_str("cd \"$WALK\"\n");
        }
        let name = format!("{} § {} (line {})", b.guide, b.section, b.line);
        match &b.mode {
            Mode::NotHere(reason) => not_here.push(format!("{name}: {reason}")),
            Mode::Local => {
                local += 1;
                let mut text = b.text.clone();
                for (from, to) in LOCAL {
                    text = text.replace(from, to);
                }
                script.push_str(&format!("step '{}'\n{text}\n", name.replace('\'', "")));
            }
        }
    }
    println!("steps not run here ({}):", not_here.len());
    for s in &not_here {
        println!("  {s}");
    }
    let out = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .env("REPO", root())
        .env("BIN", bin_dir())
        .env("WALK", &walk)
        .env("NET", &net)
        .env("CFG", &config)
        .env("KEY", &key)
        .env("METRICS_PORT", metrics_port.to_string())
        .env(
            "DEMO_VALIDATOR",
            format!(
                "0x{}",
                hex::encode(vram_attestation::sha256(b"vram demo validator 42"))
            ),
        )
        .env(
            "PATH",
            format!("{}:{}", bin_dir().display(), std::env::var("PATH").unwrap()),
        )
        .env_remove("VRAMHUB_CONFIG")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let failed_at = stdout
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("== walk: "))
        .unwrap_or("(before the first step)");
    assert!(
        out.status.success(),
        "the guide's step {failed_at} failed:\n--- stdout\n{stdout}\n--- stderr\n{stderr}\n--- script\n{script}"
    );
    // Every local block ran, and the walk saw what the guides promise.
    assert_eq!(stdout.matches("\n== walk: ").count(), local, "{stdout}");
    assert!(
        local >= 12 && not_here.len() <= 9,
        "{local} local, {not_here:?}"
    );
    assert!(
        stdout.contains("\"agrees\": true"),
        "replay of the audit: {stdout}"
    );
    assert!(stdout.contains("vram_last_submitted_window"), "{stdout}");
    assert!(walk.join("example.toml").is_file());
    drop(store);
}
