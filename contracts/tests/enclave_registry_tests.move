// Copyright (c) The VRAM hub authors
// SPDX-License-Identifier: Apache-2.0

/// Registration with real AWS documents, loaded by the framework's own
/// `load_nitro_attestation` at each document's timestamp.
///
/// Not reachable here: `EPcrMissing` and `ENoPublicKey`. A
/// `NitroAttestationDocument` can only come from `load_nitro_attestation`, which
/// accepts only AWS-signed documents, and every AWS document carries PCR0-2; no
/// key-less document signed by AWS is at hand. The checks are in
/// `enclave_registry::register_enclave` for documents that lack them.
#[test_only]
module vramhub::enclave_registry_tests;

use sui::test_scenario as ts;
use vramhub::attestation_fixtures as fx;
use vramhub::enclave_registry::{Self, EnclaveConfig};
use vramhub::test_world::{Self, World, fill};

fun configured(pcr0: vector<u8>, pcr1: vector<u8>, pcr2: vector<u8>): World {
    let mut world = test_world::begin();
    world.register_validator(test_world::validator(), 10_000_000_000);
    world.next(test_world::admin());
    let mut config = world.scenario().take_shared<EnclaveConfig>();
    config.update_pcrs(world.enclave_cap(), pcr0, pcr1, pcr2);
    ts::return_shared(config);
    world
}

fun nautilus_world(): World {
    configured(fx::nautilus_pcr0(), fx::nautilus_pcr1(), fx::nautilus_pcr2())
}

fun register_document(world: &mut World, doc: vector<u8>, at_ms: u64) {
    world.register_document(test_world::validator(), doc, at_ms);
}

fun current_key(world: &mut World): vector<u8> {
    world.next(test_world::admin());
    let config = world.scenario().take_shared<EnclaveConfig>();
    let key = config.current_key(test_world::validator());
    ts::return_shared(config);
    key
}

#[test]
fun a_real_document_registers_its_key() {
    let mut world = nautilus_world();
    register_document(&mut world, fx::nautilus_doc(), fx::nautilus_at());
    assert!(current_key(&mut world) == fx::nautilus_key());
    world.next(test_world::admin());
    let config = world.scenario().take_shared<EnclaveConfig>();
    let record = config.record(test_world::validator()).destroy_some();
    assert!(!record.is_test_mode());
    assert!(config.version() == 1);
    ts::return_shared(config);
    world.finish();
}

#[test]
fun a_document_up_to_ten_minutes_old_registers() {
    let mut world = nautilus_world();
    register_document(&mut world, fx::nautilus_doc(), fx::nautilus_at() + 600_000);
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

#[test, expected_failure(abort_code = enclave_registry::ENotValidator)]
fun only_validators_register_enclaves() {
    let mut world = test_world::begin();
    world.next(test_world::admin());
    let mut config = world.scenario().take_shared<EnclaveConfig>();
    config.update_pcrs(
        world.enclave_cap(),
        fx::nautilus_pcr0(),
        fx::nautilus_pcr1(),
        fx::nautilus_pcr2(),
    );
    ts::return_shared(config);
    register_document(&mut world, fx::nautilus_doc(), fx::nautilus_at());
    world.finish();
}

#[test, expected_failure(abort_code = enclave_registry::EPcrsNotConfigured)]
fun nothing_registers_before_governance_sets_pcrs() {
    let mut world = test_world::begin();
    world.register_validator(test_world::validator(), 10_000_000_000);
    register_document(&mut world, fx::nautilus_doc(), fx::nautilus_at());
    world.finish();
}

#[test, expected_failure(abort_code = enclave_registry::EBadPcrLength)]
fun configured_pcrs_are_48_bytes() {
    let world = configured(fill(1, 48), fill(1, 48), fill(1, 32));
    world.finish();
}

#[test, expected_failure(abort_code = enclave_registry::EDebugModePcrs)]
fun governance_cannot_configure_debug_pcrs() {
    let world = configured(fill(0, 48), fill(0, 48), fill(0, 48));
    world.finish();
}

#[test]
fun test_mode_keys_register_through_their_own_path() {
    let mut world = test_world::begin();
    world.register_validator(test_world::validator(), 10_000_000_000);
    world.register_test_key(test_world::validator(), test_world::golden_key());
    assert!(current_key(&mut world) == test_world::golden_key());
    world.next(test_world::admin());
    let config = world.scenario().take_shared<EnclaveConfig>();
    assert!(config.record(test_world::validator()).destroy_some().is_test_mode());
    ts::return_shared(config);
    world.finish();
}

#[test, expected_failure(abort_code = enclave_registry::EBadPublicKey)]
fun test_mode_keys_are_ed25519() {
    let mut world = test_world::begin();
    world.register_validator(test_world::validator(), 10_000_000_000);
    world.register_test_key(test_world::validator(), fill(7, 31));
    world.finish();
}

#[test, expected_failure(abort_code = enclave_registry::EStaleEnclave)]
fun a_pcr_update_makes_registrations_stale() {
    let mut world = nautilus_world();
    register_document(&mut world, fx::nautilus_doc(), fx::nautilus_at());
    world.next(test_world::admin());
    let mut config = world.scenario().take_shared<EnclaveConfig>();
    config.update_pcrs(world.enclave_cap(), fill(1, 48), fill(2, 48), fill(3, 48));
    assert!(config.version() == 2);
    ts::return_shared(config);
    current_key(&mut world);
    world.finish();
}

#[test, expected_failure(abort_code = enclave_registry::ENoEnclave)]
fun governance_retires_an_enclave() {
    let mut world = nautilus_world();
    register_document(&mut world, fx::nautilus_doc(), fx::nautilus_at());
    world.next(test_world::admin());
    let mut config = world.scenario().take_shared<EnclaveConfig>();
    config.retire_enclave(world.enclave_cap(), test_world::validator());
    ts::return_shared(config);
    current_key(&mut world);
    world.finish();
}

#[test, expected_failure(abort_code = enclave_registry::ENoEnclave)]
fun a_validator_removes_its_enclave() {
    let mut world = test_world::begin();
    world.register_validator(test_world::validator(), 10_000_000_000);
    world.register_test_key(test_world::validator(), test_world::golden_key());
    world.next(test_world::validator());
    let mut config = world.scenario().take_shared<EnclaveConfig>();
    config.deregister_enclave(world.scenario().ctx());
    ts::return_shared(config);
    current_key(&mut world);
    world.finish();
}

#[test]
fun the_test_mode_path_can_be_closed_for_good() {
    let mut scenario = ts::begin(test_world::admin());
    let (admin, test_cap) = enclave_registry::init_for_testing(scenario.ctx());
    enclave_registry::destroy_test_mode_cap(test_cap);
    sui::test_utils::destroy(admin);
    scenario.end();
}
