//! Parses and verifies arbitrary bytes as an attestation document, under the
//! AWS root and at a fixed time. Nothing may panic, loop or over-allocate.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vram_attestation::{decode_document_input, verify, AttestationDocument, TrustRoot};

fuzz_target!(|data: &[u8]| {
    if let Ok(doc) = AttestationDocument::parse(data) {
        let _ = doc.signed_bytes();
    }
    let _ = decode_document_input(data);
    if let Ok(root) = TrustRoot::aws_nitro() {
        let _ = verify(data, &root, 1_744_683_923_696);
    }
});
