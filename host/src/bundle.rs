//! The audit bundle: everything an auditor needs to check the chain of trust
//! and recompute every score, without trusting whoever made it. The demo
//! writes one; `replay` reads it. Layout (`bundle.json` lists it):
//!
//! ```text
//! bundle.json                 index (names the evaluator that signed)
//! test-root.pem               the simulated NSM's root (NOT the AWS root)
//! attestation/<key>.cose      one document per enclave key, binding it
//! statements/window-<w>.json  vram-statement/1 files
//! ledger.json                 the ledger's export (commitments, anchors, events)
//! checkpoints/<hash>/         model.safetensors + config.json per checkpoint
//! blobs/<blob id>             every uploaded gradient blob
//! dataset/                    pages.bin + manifest.bin
//! ```

use std::path::Path;

use serde_json::json;
use vram_attestation::statement::SignedStatement;

use crate::error::{Error, Result};
use crate::walrus::BlobId;

/// The index file's name.
pub const INDEX: &str = "bundle.json";
/// The index's `format`.
pub const FORMAT: &str = "vram-demo-bundle/1";

fn io(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Bundle {
        reason: format!("{}: {e}", path.display()),
    }
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    }
    std::fs::write(path, bytes).map_err(|e| io(path, e))
}

/// Where blob `id` lives under a bundle's (or a blob store's) blob folder.
pub fn blob_path(dir: &Path, id: &BlobId) -> std::path::PathBuf {
    dir.join(id.to_string())
}

/// Writes the bundle's own files into `out` (checkpoints, blobs and the
/// dataset are already there); `ledger_export` is the chain's record of the
/// run (commitments, anchors, events) as JSON.
pub fn write(
    out: &Path,
    state_dir: &Path,
    attested: &[([u8; 32], Vec<u8>)],
    statements: &[SignedStatement],
    ledger_export: &serde_json::Value,
    miner_log: &[(u64, u64, String)],
) -> Result<()> {
    let root = state_dir.join("test-root.pem");
    let pem = std::fs::read(&root).map_err(|e| io(&root, e))?;
    write_file(&out.join("test-root.pem"), &pem)?;
    let mut docs = Vec::new();
    for (key, doc) in attested {
        let name = format!("attestation/{}.cose", hex::encode(key));
        write_file(&out.join(&name), doc)?;
        docs.push(json!({"public_key": hex::encode(key), "file": name}));
    }
    let mut files = Vec::new();
    for s in statements {
        let name = format!("statements/window-{}.json", s.message.payload.window);
        let body = serde_json::to_vec_pretty(&s.to_file()).map_err(|e| io(out, e))?;
        write_file(&out.join(&name), &body)?;
        files.push(json!({"window": s.message.payload.window, "file": name}));
    }
    let export = serde_json::to_vec_pretty(ledger_export).map_err(|e| io(out, e))?;
    write_file(&out.join("ledger.json"), &export)?;
    let log: Vec<_> = miner_log
        .iter()
        .map(|(w, uid, what)| json!({"window": w, "miner_uid": uid, "event": what}))
        .collect();
    write_file(
        &out.join("miners.json"),
        &serde_json::to_vec_pretty(&log).map_err(|e| io(out, e))?,
    )?;
    let index = json!({
        "format": FORMAT,
        "evaluator": vram_enclave::model::EVALUATOR_VERSION,
        "warning": "local demo: simulated NSM (test root, not AWS), SQLite ledger stand-in, directory blob store",
        "test_root": "test-root.pem",
        "attestations": docs,
        "statements": files,
        "ledger": "ledger.json",
        "checkpoints": "checkpoints",
        "blobs": "blobs",
        "dataset": "dataset",
        "miners": "miners.json",
    });
    write_file(
        &out.join(INDEX),
        &serde_json::to_vec_pretty(&index).map_err(|e| io(out, e))?,
    )
}
