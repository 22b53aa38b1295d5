//! The untrusted host: reads Sui, fetches blobs from Walrus, drives the
//! enclave each window, submits statements and journals everything.
//!
//! **Trust level: untrusted.** Nothing the host does can make the chain
//! accept a score the enclave did not sign over committed inputs; what it
//! computes for itself (ratings) is a pure function of public statements.
//!
//! - [`blobstore`]: a directory served over the Walrus HTTP API (local mode).
//! - [`chain`]: Rust twins of the Move structs and entry-function arguments.
//! - [`ledger`]: the embedded single-file stand-in for the Move package (local mode).
//! - [`enclave_client`]: the protocol client that drives the enclave.
//! - [`journal`]: crash-safe record of every window; never submits twice.
//! - [`ratings`]: OpenSkill Plackett-Luce, bit-compatible with openskill.py.
//! - [`walrus`]: blobs from aggregators (failover, retries, caps, hashes) and to publishers.

pub mod blobstore;
pub mod chain;
pub mod config;
pub mod demo;
pub mod enclave_client;
mod error;
pub mod journal;
pub mod ledger;
pub mod metrics;
pub mod ratings;
pub mod replay;
pub mod sources;
pub mod supervisor;
pub mod validator;
pub mod wallet;
pub mod walrus;

pub use error::{Error, Result};
