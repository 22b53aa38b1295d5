//! Decodes arbitrary bytes as a BCS window-scores statement.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vram_attestation::statement::SignedStatement;

fuzz_target!(|data: &[u8]| {
    let _ = SignedStatement::decode(data, &[0u8; 64]);
});
