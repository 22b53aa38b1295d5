//! The enclave: checkpoint loading, gradient decoding, loss-delta scoring
//! and signing, served over one framed protocol.
//!
//! **Trust level: trusted and measured.** Everything linked here changes the
//! PCRs and is attack surface, so dependencies are kept minimal. This crate
//! is filled in by the codec/evaluator and enclave-service work; for now it
//! only fixes the crate's place in the workspace.

/// The protocol version this enclave speaks.
pub const PROTOCOL_VERSION: u32 = 1;
