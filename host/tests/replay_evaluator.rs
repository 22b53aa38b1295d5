//! Replay reproduces only the evaluator that signed a bundle: one naming
//! another evaluator (or none) is refused with that reason, before any
//! work.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use vram_host::replay::replay_bundle;
use vram_host::Error;

struct Dir(std::path::PathBuf);

impl Dir {
    fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn bundle_naming(evaluator: Option<&str>) -> Dir {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir =
        Dir(std::env::temp_dir().join(format!("vram-replay-evaluator-{}-{n}", std::process::id())));
    std::fs::create_dir_all(dir.path()).unwrap();
    let mut index = serde_json::json!({
        "format": "vram-demo-bundle/1",
        "test_root": "test-root.pem",
        "attestations": [],
        "statements": [],
    });
    if let Some(e) = evaluator {
        index["evaluator"] = e.into();
    }
    std::fs::write(dir.path().join("bundle.json"), index.to_string()).unwrap();
    dir
}

#[test]
fn a_bundle_signed_by_another_evaluator_is_refused_with_the_reason() {
    for named in [Some("vram-eval/1 (candle)"), None] {
        let dir = bundle_naming(named);
        let err = replay_bundle(dir.path(), None).unwrap_err();
        match &err {
            Error::EvaluatorMismatch { bundle, replay } => {
                assert_eq!(replay, vram_enclave::model::EVALUATOR_VERSION);
                match named {
                    Some(n) => assert_eq!(bundle, n),
                    None => assert!(bundle.contains("unnamed"), "{bundle}"),
                }
            }
            other => panic!("expected EvaluatorMismatch, got {other}"),
        }
        assert!(err.to_string().contains("evaluator"), "{err}");
    }
    // Its own evaluator gets past the check (and then needs the rest).
    let dir = bundle_naming(Some(vram_enclave::model::EVALUATOR_VERSION));
    let err = replay_bundle(dir.path(), None).unwrap_err();
    assert!(!matches!(err, Error::EvaluatorMismatch { .. }), "{err}");
}
