//! Test-only support for the workspace's tests. Trust level: none; never a
//! dependency of a shipped binary, only a dev-dependency.
//!
//! - [`golden`]: the golden key and statement shared with the Move tests.
//! - [`fs`]: scratch folders removed when dropped.
//! - [`tiny`]: the tiny checkpoint, synthetic pages and an honest blob.
//! - [`session`]: one window's enclave inputs and a protocol client.
//! - [`process`]: running the workspace's binaries, failures with stderr.
//!
//! [`move_source`] reads the constants of the Move package in `contracts/`
//! straight from its sources, so a Rust test asserts the very bytes a Move
//! test asserts, and the two can never drift apart unnoticed.

pub mod fs;
pub mod golden;
pub mod move_source;
pub mod process;
pub mod session;
pub mod tiny;

pub use fs::TempDir;
pub use move_source::{Constant, Error, MoveModule, MovePackage, Value};
pub use process::{run_json, run_ok};
pub use tiny::{affine_pages, honest_blob, shard_weights, TinyCheckpoint};

use std::path::PathBuf;

/// The workspace's root folder (this crate lives one level below it).
pub fn workspace_root() -> PathBuf {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    here.parent().map(PathBuf::from).unwrap_or(here)
}

/// The Move package's folder, `contracts/` at the workspace root.
pub fn contracts_dir() -> PathBuf {
    workspace_root().join("contracts")
}
