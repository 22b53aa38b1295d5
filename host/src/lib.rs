//! The untrusted host: reads Sui, fetches blobs from Walrus, drives the
//! enclave each window, submits statements and journals everything.
//!
//! **Trust level: untrusted.** Nothing the host does can make the chain
//! accept a score the enclave did not sign over committed inputs; what it
//! computes for itself (ratings) is a pure function of public statements.
//!
//! - [`bundle`]: the audit bundle's layout, written by the demo, read by replay.
//! - [`chain`]: what the window loop needs from the chain, Sui over gRPC, the
//!   Rust twins of the Move structs and the package's abort table.
//! - [`enclave_client`]: the protocol client that drives the enclave.
//! - [`journal`]: crash-safe record of every window; never submits twice.
//! - [`ratings`]: OpenSkill Plackett-Luce, bit-compatible with openskill.py.
//! - [`walrus`]: blobs from aggregators (failover, retries, caps, hashes) and to publishers.
//!
//! The local network's stand-ins (embedded ledger, directory blob store, demo)
//! live in `vram-localnet`, which depends on this crate and never the reverse.

pub mod audit;
pub mod bundle;
pub mod chain;
pub mod config;
pub mod enclave_client;
mod error;
pub mod inputs;
pub mod journal;
pub mod metrics;
pub mod ratings;
pub mod replay;
pub mod sources;
pub mod supervisor;
pub mod validator;
pub mod wallet;
pub mod walrus;

pub use error::{Error, Result};
