//! The untrusted host: reads Sui, fetches blobs from Walrus, drives the
//! enclave each window, submits statements and journals everything.
//!
//! **Trust level: untrusted.** Nothing the host does can make the chain
//! accept a score the enclave did not sign over committed inputs. This crate
//! is filled in by the host work; for now it only fixes its place in the
//! workspace.

/// The binary's name, as operators type it.
pub const BINARY_NAME: &str = "vram-validator";
