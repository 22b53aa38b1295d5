//! Reads arbitrary bytes as a gradient blob for a small two-parameter
//! model, and decodes whatever passes. Nothing may panic or over-allocate.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vram_enclave::codec::{decode_param, read_blob, Bases, ModelShapes};

fuzz_target!(|data: &[u8]| {
    let Ok(shapes) = ModelShapes::new([("w".to_string(), vec![8, 6]), ("b".to_string(), vec![10])])
    else {
        return;
    };
    if let Ok(blob) = read_blob(data, &shapes, 4) {
        let mut bases = Bases::new();
        for p in &blob.params {
            bases.prepare(p.layout.n1);
            bases.prepare(p.layout.n2);
            let _ = decode_param(p, &bases);
        }
    }
});
