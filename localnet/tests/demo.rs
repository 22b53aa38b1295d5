//! The local network end to end (the short version of the README's main
//! job): real miners, the enclave process, the embedded ledger, ratings,
//! then the auditor's checks on the bundle. A second run kills the enclave
//! in the middle of a window (exactly that window is lost); a third makes one
//! blob unreachable while a window is scored (replay flags it as withheld).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

use vram_host::replay::replay_bundle;
use vram_localnet::demo::{self, DemoConfig};

/// The bundle's folder, left behind for inspection.
fn out_dir(tag: &str) -> PathBuf {
    vram_test_support::TempDir::new(&format!("demo-test-{tag}"))
        .unwrap()
        .keep()
}

fn config(tag: &str) -> DemoConfig {
    DemoConfig {
        miners: 8,
        windows: 4,
        seed: 42,
        window_seconds: 8.0,
        out: out_dir(tag),
        pages: 256,
        ..DemoConfig::default()
    }
}

/// The `vram-attest` binary of this build (cargo test --workspace builds it).
fn vram_attest() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().unwrap().parent().unwrap().join("vram-attest")
}

#[test]
fn a_local_network_ranks_honest_miners_first_and_replays_exactly() {
    let cfg = config("main");
    let mut seen = Vec::new();
    let summary = demo::run(&cfg, |w| seen.push(w.window)).unwrap();
    assert_eq!(seen, vec![0, 1, 2, 3]);
    for w in &summary.windows {
        assert!(
            w.submitted,
            "window {} not submitted: {:?}",
            w.window, w.failure
        );
        assert!(w.verified, "window {}", w.window);
        // The absent miner committed nothing: not in the statement (the
        // ratings see its absence on chain).
        assert_eq!(w.entries.len(), 7);
        let status = |uid: u64| {
            w.entries
                .iter()
                .find(|e| e.miner_uid == uid)
                .unwrap()
                .status
                .clone()
        };
        for uid in [0, 1, 2, 3, 4] {
            assert_eq!(status(uid), "scored");
        }
        assert_eq!(status(5), "stale");
        assert_eq!(status(6), "malformed");
        assert!(w.entries.iter().all(|e| e.miner_uid != 7));
    }
    assert!(summary.honest_on_top, "{:#?}", summary.miners);
    // Training works: the base loss on random pages falls.
    let first = summary.windows[0].loss_before_random.unwrap();
    let last = summary.windows[3].loss_before_random.unwrap();
    assert!(last < first - 0.02, "loss {first} -> {last}");

    // The JSON summary keeps the keys tools depend on.
    let json = serde_json::to_value(&summary).unwrap();
    for key in [
        "window",
        "statement_sha256",
        "verified",
        "submitted",
        "entries",
    ] {
        assert!(json["windows"][0].get(key).is_some(), "{key}");
    }
    for key in [
        "miner_uid",
        "status",
        "loss_before_own",
        "loss_after_own",
        "loss_after_random",
    ] {
        assert!(json["windows"][0]["entries"][0].get(key).is_some(), "{key}");
    }
    for key in ["uid", "kind", "mu", "sigma", "ordinal"] {
        assert!(json["miners"][0].get(key).is_some(), "{key}");
    }

    // Every statement verifies with the auditor's tool.
    let bundle = &cfg.out;
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(bundle.join("bundle.json")).unwrap()).unwrap();
    let doc = bundle.join(index["attestations"][0]["file"].as_str().unwrap());
    for s in index["statements"].as_array().unwrap() {
        vram_test_support::run_ok(
            std::process::Command::new(vram_attest())
                .args(["statement", "verify", "--json", "--statement"])
                .arg(bundle.join(s["file"].as_str().unwrap()))
                .arg("--doc")
                .arg(&doc)
                .arg("--root")
                .arg(bundle.join("test-root.pem")),
        );
    }
    // And replay agrees on every entry, bit for bit.
    let replay = replay_bundle(bundle, None).unwrap();
    assert_eq!(replay.len(), 4);
    for w in &replay {
        assert!(w.agrees, "window {}: {:?}", w.window, w.problems);
        assert!(w
            .entries
            .iter()
            .all(|e| e.identical && e.max_abs_diff == 0.0));
    }
    // A tampered gradient blob is caught (the folder also holds the
    // checkpoint and dataset shards the chain names).
    let ledger: serde_json::Value =
        serde_json::from_slice(&std::fs::read(bundle.join("ledger.json")).unwrap()).unwrap();
    let id = vram_host::walrus::BlobId::from_slice(
        &hex::decode(ledger["commitments"][0]["blob_id"].as_str().unwrap()).unwrap(),
    )
    .unwrap();
    let victim = bundle.join("blobs").join(id.to_string());
    let mut bytes = std::fs::read(&victim).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&victim, bytes).unwrap();
    let replay = replay_bundle(bundle, None).unwrap();
    assert!(replay.iter().any(|w| !w.agrees));
    let _ = std::fs::remove_dir_all(bundle);
}

/// The windows the run did not submit.
fn lost(summary: &vram_localnet::demo::DemoSummary) -> Vec<u64> {
    summary
        .windows
        .iter()
        .filter(|w| !w.submitted)
        .map(|w| w.window)
        .collect()
}

#[test]
fn killing_the_enclave_mid_window_loses_exactly_that_window() {
    // Killed at window 1's upload deadline: the restarted enclave's key was
    // registered after that deadline, so it cannot sign for window 1 (design
    // §2); it is registered before window 2's deadline and signs from there.
    let mut cfg = config("kill");
    cfg.windows = 3;
    cfg.kill_enclave_in_window = Some(1);
    let summary = demo::run(&cfg, |_| {}).unwrap();
    assert_eq!(summary.enclave_restarts, 1);
    assert_eq!(lost(&summary), vec![1], "{:#?}", summary.windows);
    let failure = summary.windows[1].failure.clone().unwrap_or_default();
    assert!(
        failure.contains("not registered before the upload deadline"),
        "{failure}"
    );
    for w in summary.windows.iter().filter(|w| w.window != 1) {
        assert!(w.verified, "window {}", w.window);
    }
    // Two keys, each attested; the ledger took one statement per scored window.
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(cfg.out.join("bundle.json")).unwrap()).unwrap();
    assert_eq!(index["attestations"].as_array().unwrap().len(), 2);
    let ledger: serde_json::Value =
        serde_json::from_slice(&std::fs::read(cfg.out.join("ledger.json")).unwrap()).unwrap();
    assert_eq!(ledger["submissions"].as_array().unwrap().len(), 2);
    let registrations = ledger["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "TestEnclaveRegistered")
        .count();
    assert_eq!(registrations, 2);
    assert!(replay_bundle(&cfg.out, None)
        .unwrap()
        .iter()
        .all(|w| w.agrees));
    let _ = std::fs::remove_dir_all(&cfg.out);
}

#[test]
fn a_validator_that_cannot_finish_its_budget_loses_exactly_that_window_and_scores_the_next() {
    // In window 1 the host stalls past the window's last moment to sign:
    // its enclave signs nothing (no shorter statement exists), the window is
    // journaled as lost with the reason, and window 2 is scored as usual.
    let mut cfg = config("out-of-time");
    cfg.windows = 3;
    cfg.out_of_time_in_window = Some(1);
    let summary = demo::run(&cfg, |_| {}).unwrap();
    assert_eq!(lost(&summary), vec![1], "{:#?}", summary.windows);
    let failure = summary.windows[1].failure.clone().unwrap_or_default();
    assert!(failure.contains("out of time"), "{failure}");
    assert!(failure.contains("nothing is signed"), "{failure}");
    for w in summary.windows.iter().filter(|w| w.window != 1) {
        assert!(w.submitted && w.verified, "window {}", w.window);
    }
    assert_eq!(summary.enclave_restarts, 0);
    let _ = std::fs::remove_dir_all(&cfg.out);
}

#[test]
fn replay_flags_a_missing_entry_whose_blob_is_available() {
    // Honest miner 0's blob is unreachable while window 1 is scored: the
    // host declares it missing before the seed exists. Afterwards the blob
    // is on Walrus (in the bundle) for anyone: replay flags the entry.
    let mut cfg = config("outage");
    cfg.windows = 2;
    cfg.blob_outage = Some((1, 0));
    let summary = demo::run(&cfg, |_| {}).unwrap();
    let status = |w: usize, uid: u64| {
        summary.windows[w]
            .entries
            .iter()
            .find(|e| e.miner_uid == uid)
            .unwrap()
            .status
            .clone()
    };
    assert_eq!(status(0, 0), "scored");
    assert_eq!(status(1, 0), "missing");
    assert!(summary.windows.iter().all(|w| w.submitted));
    let replay = replay_bundle(&cfg.out, None).unwrap();
    assert!(replay[0].agrees && replay[0].withheld.is_empty());
    assert_eq!(replay[1].withheld, vec![0]);
    assert!(!replay[1].agrees);
    assert!(
        replay[1]
            .problems
            .iter()
            .any(|p| p.contains("listed missing")),
        "{:?}",
        replay[1].problems
    );
    // Every entry the enclave did evaluate still replays exactly.
    assert!(replay[1].entries.iter().all(|e| e.identical));
    let _ = std::fs::remove_dir_all(&cfg.out);
}

#[test]
fn a_crowded_window_scores_a_seed_ordered_prefix_that_replay_confirms() {
    // 50 miners, at most 10 scored per window: the rest of the valid blobs
    // are `not evaluated`, the scored ones are the first in the seed's
    // order (the ledger checked it on submission, replay recomputes it).
    // (The scale runs with 400 and 2000 miners are in docs/benchmarks.md.)
    let mut cfg = config("crowd");
    cfg.windows = 2;
    cfg.window_seconds = 16.0;
    cfg.crowd = 42;
    cfg.max_scored = Some(10);
    let summary = demo::run(&cfg, |_| {}).unwrap();
    for w in &summary.windows {
        assert!(
            w.submitted && w.verified,
            "window {}: {:?}",
            w.window,
            w.failure
        );
        assert_eq!(w.entries.len(), 49, "every committed miner is listed");
        let count = |s: &str| w.entries.iter().filter(|e| e.status == s).count();
        // Exactly the budget: min(10, valid), the rest not evaluated.
        assert_eq!(count("scored"), 10);
        assert!(count("not_evaluated") >= 35, "{}", count("not_evaluated"));
    }
    let replay = replay_bundle(&cfg.out, None).unwrap();
    for w in &replay {
        assert!(w.agrees, "window {}: {:?}", w.window, w.problems);
    }
    let _ = std::fs::remove_dir_all(&cfg.out);
}
