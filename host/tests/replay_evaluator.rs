//! Replay reproduces only the evaluator that signed a bundle: one naming
//! another evaluator (or none) is refused with that reason, before any
//! work.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use vram_host::replay::replay_bundle;
use vram_host::Error;

fn bundle_naming(evaluator: Option<&str>) -> vram_test_support::TempDir {
    let dir = vram_test_support::TempDir::new("replay-evaluator").unwrap();
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
