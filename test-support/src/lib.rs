//! Test-only support for the workspace's tests. Trust level: none; never a
//! dependency of a shipped binary, only a dev-dependency.
//!
//! [`move_source`] reads the constants of the Move package in `contracts/`
//! straight from its sources, so a Rust test asserts the very bytes a Move
//! test asserts, and the two can never drift apart unnoticed.

pub mod move_source;

pub use move_source::{Constant, Error, MoveModule, MovePackage, Value};

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
