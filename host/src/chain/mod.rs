//! The chain side of the host: the Rust twins of the Move package's structs
//! (BCS layouts checked field by field in `tests/contract_layouts.rs`, table
//! in `docs/contracts.md`) and the argument lists of its entry functions.

pub mod types;
