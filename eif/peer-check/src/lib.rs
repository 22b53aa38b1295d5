//! Test-only crate: see `tests/peer.rs`. It compares the auditor's EIF
//! measurement (`vram-attest measure-eif`) with the PCRs that AWS's own image
//! builder reports for the images it writes.
