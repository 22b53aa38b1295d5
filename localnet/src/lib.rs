//! The local network: stand-ins for the chain and for Walrus, and the demo
//! network that runs the whole appliance on one machine.
//!
//! **Trust level: none; a labelled stand-in, never a silent fallback.** The
//! embedded ledger enforces the Move package's rules in SQLite but is not a
//! chain; the blob store serves the Walrus HTTP API from a directory but is
//! not Walrus. Production code (`vram-host`) never depends on this crate; the
//! `vram-validator` binary links it only with its default `local` feature.
//!
//! - [`ledger`]: the embedded ledger, one module per Move module.
//! - [`chain`]: `vram_host::chain::Chain` on the embedded ledger.
//! - [`blobstore`]: a directory served over the Walrus HTTP API.
//! - [`demo`]: the demo network: miners that really train, the validator's
//!   real window loop, ratings, aggregation and the audit bundle.

pub mod blobstore;
pub mod chain;
pub mod demo;
mod error;
pub mod ledger;

pub use error::{Error, Result};
