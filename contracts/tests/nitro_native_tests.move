// Copyright (c) The VRAM hub authors
// SPDX-License-Identifier: Apache-2.0

/// Registration end to end: real AWS documents through the framework's own
/// `sui::nitro_attestation::load_nitro_attestation`, then `register_enclave`.
///
/// Every test in this module needs the real native verifier. Sui's WASM test
/// runner (`scripts/check-move.sh`) stubs it to abort with code 0, so there
/// each of these tests must fail exactly there, and the script checks that it
/// does; `sui move test` with the Sui CLI runs them for real. The checks
/// themselves are tested without the native in `enclave_registry_tests`.
#[test_only]
module vramhub::nitro_native_tests;

use vramhub::attestation_fixtures as fx;
use vramhub::enclave_registry;
use vramhub::enclave_registry_tests::{configured, current_key, nautilus_world};
use vramhub::test_world::{Self, World, fill};

fun register_document(world: &mut World, doc: vector<u8>, at_ms: u64) {
    world.register_document(test_world::validator(), doc, at_ms);
}

#[test]
fun a_real_document_registers_its_key() {
    let mut world = nautilus_world();
    register_document(&mut world, fx::nautilus_doc(), fx::nautilus_at());
    assert!(current_key(&mut world) == fx::nautilus_key());
    world.finish();
}

#[test]
fun a_document_up_to_ten_minutes_old_registers() {
    let mut world = nautilus_world();
    register_document(&mut world, fx::nautilus_doc(), fx::nautilus_at() + 600_000);
    assert!(current_key(&mut world) == fx::nautilus_key());
    world.finish();
}

#[test, expected_failure(abort_code = enclave_registry::EDocumentTooOld)]
fun an_old_document_is_refused() {
    let mut world = nautilus_world();
    register_document(&mut world, fx::nautilus_doc(), fx::nautilus_at() + 600_001);
    world.finish();
}

#[test, expected_failure(abort_code = enclave_registry::EDocumentFromFuture)]
fun a_document_from_the_future_is_refused() {
    let mut world = nautilus_world();
    register_document(&mut world, fx::nautilus_doc(), fx::nautilus_at() - 60_001);
    world.finish();
}

#[test, expected_failure(abort_code = enclave_registry::EPcrMismatch)]
fun another_image_is_refused() {
    let mut world = configured(fx::nautilus_pcr0(), fx::nautilus_pcr1(), fill(0x21, 48));
    register_document(&mut world, fx::nautilus_doc(), fx::nautilus_at());
    world.finish();
}

#[test, expected_failure(abort_code = enclave_registry::EDebugModePcrs)]
fun a_debug_mode_document_is_refused() {
    let mut world = nautilus_world();
    register_document(&mut world, fx::debug_doc(), fx::debug_at());
    world.finish();
}
