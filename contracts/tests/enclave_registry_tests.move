// Copyright (c) The VRAM hub authors
// SPDX-License-Identifier: Apache-2.0

/// `register_enclave`'s checks, one test per abort, on the facts the real AWS
/// documents of `attestation_fixtures` carry (PCRs by index, timestamp, bound
/// key), through `register_attested_for_testing`: a `NitroAttestationDocument`
/// only comes from the framework's native verifier, which Sui's WASM test
/// runner stubs. The same documents go through the native verifier in
/// `nitro_native_tests`.
#[test_only]
module vramhub::enclave_registry_tests;

use sui::test_scenario as ts;
use vramhub::attestation_fixtures as fx;
use vramhub::enclave_registry::{Self, EnclaveConfig};
use vramhub::test_world::{Self, World, fill};

public fun configured(pcr0: vector<u8>, pcr1: vector<u8>, pcr2: vector<u8>): World {
    let mut world = test_world::begin();
    world.register_validator(test_world::validator(), 10_000_000_000);
    world.update_pcrs(pcr0, pcr1, pcr2);
    world
}

/// Governance expects the Nautilus image; the validator is registered.
public fun nautilus_world(): World {
    configured(fx::nautilus_pcr0(), fx::nautilus_pcr1(), fx::nautilus_pcr2())
}

public fun current_key(world: &mut World): vector<u8> {
    world.next(test_world::admin());
    let config = world.scenario().take_shared<EnclaveConfig>();
    let key = config.current_key(test_world::validator(), world.clock());
    ts::return_shared(config);
    key
}

fun nautilus_pcrs(): vector<Option<vector<u8>>> {
    vector[
        option::some(fx::nautilus_pcr0()),
        option::some(fx::nautilus_pcr1()),
        option::some(fx::nautilus_pcr2()),
    ]
}

/// The Nautilus document's facts, registered by the validator at `at_ms`.
fun register_nautilus(world: &mut World, at_ms: u64) {
    world.register_facts(
        test_world::validator(),
        nautilus_pcrs(),
        fx::nautilus_at(),
        option::some(fx::nautilus_key()),
        at_ms,
    );
}

#[test]
fun a_real_document_registers_its_key() {
    let mut world = nautilus_world();
    register_nautilus(&mut world, fx::nautilus_at());
    assert!(current_key(&mut world) == fx::nautilus_key());
    world.next(test_world::admin());
    let config = world.scenario().take_shared<EnclaveConfig>();
    let record = config.record(test_world::validator()).destroy_some();
    assert!(!record.is_test_mode());
    assert!(*record.document_sha256() == fill(0xdd, 32));
    assert!(config.version() == 1);
    ts::return_shared(config);
    world.finish();
}

#[test]
fun a_document_up_to_ten_minutes_old_registers() {
    let mut world = nautilus_world();
    register_nautilus(&mut world, fx::nautilus_at() + 600_000);
    assert!(current_key(&mut world) == fx::nautilus_key());
    world.finish();
}

#[test]
fun a_document_up_to_a_minute_ahead_registers() {
    let mut world = nautilus_world();
    register_nautilus(&mut world, fx::nautilus_at() - 60_000);
    assert!(current_key(&mut world) == fx::nautilus_key());
    world.finish();
}

#[test, expected_failure(abort_code = enclave_registry::EDocumentTooOld)]
fun an_old_document_is_refused() {
    let mut world = nautilus_world();
    register_nautilus(&mut world, fx::nautilus_at() + 600_001);
    world.finish();
}

#[test, expected_failure(abort_code = enclave_registry::EDocumentFromFuture)]
fun a_document_from_the_future_is_refused() {
    let mut world = nautilus_world();
    register_nautilus(&mut world, fx::nautilus_at() - 60_001);
    world.finish();
}

#[test, expected_failure(abort_code = enclave_registry::EPcrMismatch)]
fun another_image_is_refused() {
    let mut world = configured(fx::nautilus_pcr0(), fx::nautilus_pcr1(), fill(0x21, 48));
    register_nautilus(&mut world, fx::nautilus_at());
    world.finish();
}

#[test, expected_failure(abort_code = enclave_registry::EDebugModePcrs)]
fun a_debug_mode_document_is_refused_where_the_parser_keeps_zero_pcrs() {
    let mut world = nautilus_world();
    let zero = option::some(fill(0, 48));
    world.register_facts(
        test_world::validator(),
        vector[zero, zero, zero],
        fx::debug_at(),
        option::some(fx::nautilus_key()),
        fx::debug_at(),
    );
    world.finish();
}

#[test, expected_failure(abort_code = enclave_registry::EDebugModePcrs)]
fun a_debug_mode_document_is_refused_where_the_parser_drops_zero_pcrs() {
    let mut world = nautilus_world();
    world.register_facts(
        test_world::validator(),
        vector[option::none(), option::none(), option::none()],
        fx::debug_at(),
        option::some(fx::nautilus_key()),
        fx::debug_at(),
    );
    world.finish();
}

#[test, expected_failure(abort_code = enclave_registry::EPcrMissing)]
fun a_document_lacking_a_pcr_is_refused() {
    let mut world = nautilus_world();
    world.register_facts(
        test_world::validator(),
        vector[
            option::some(fx::nautilus_pcr0()),
            option::none(),
            option::some(fx::nautilus_pcr2()),
        ],
        fx::nautilus_at(),
        option::some(fx::nautilus_key()),
        fx::nautilus_at(),
    );
    world.finish();
}

#[test, expected_failure(abort_code = enclave_registry::ENoPublicKey)]
fun a_document_binding_no_key_is_refused() {
    let mut world = nautilus_world();
    world.register_facts(
        test_world::validator(),
        nautilus_pcrs(),
        fx::nautilus_at(),
        option::none(),
        fx::nautilus_at(),
    );
    world.finish();
}

#[test, expected_failure(abort_code = enclave_registry::EBadPublicKey)]
fun a_document_key_must_be_ed25519() {
    let mut world = nautilus_world();
    world.register_facts(
        test_world::validator(),
        nautilus_pcrs(),
        fx::nautilus_at(),
        option::some(fill(2, 33)),
        fx::nautilus_at(),
    );
    world.finish();
}

#[test, expected_failure(abort_code = enclave_registry::ENotValidator)]
fun only_validators_register_enclaves() {
    let mut world = test_world::begin();
    world.update_pcrs(fx::nautilus_pcr0(), fx::nautilus_pcr1(), fx::nautilus_pcr2());
    register_nautilus(&mut world, fx::nautilus_at());
    world.finish();
}

#[test, expected_failure(abort_code = enclave_registry::EPcrsNotConfigured)]
fun nothing_registers_before_governance_sets_pcrs() {
    let mut world = test_world::begin();
    world.register_validator(test_world::validator(), 10_000_000_000);
    register_nautilus(&mut world, fx::nautilus_at());
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
    let record = config.record(test_world::validator()).destroy_some();
    assert!(record.is_test_mode());
    // Where auditors find the registration's document, and its hash.
    assert!(*record.document_sha256() == std::hash::sha2_256(test_world::golden_key()));
    assert!(*record.document_blob() == fill(0xdb, 32));
    ts::return_shared(config);
    world.finish();
}

#[test, expected_failure(abort_code = enclave_registry::EBadDocumentRef)]
fun a_registration_names_its_document_by_hash() {
    let mut world = test_world::begin();
    world.register_validator(test_world::validator(), 10_000_000_000);
    world.register_test_key_with_document(
        test_world::validator(),
        test_world::golden_key(),
        fill(1, 31),
        vector[],
    );
    world.finish();
}

#[test, expected_failure(abort_code = enclave_registry::EBadPublicKey)]
fun test_mode_keys_are_ed25519() {
    let mut world = test_world::begin();
    world.register_validator(test_world::validator(), 10_000_000_000);
    world.register_test_key(test_world::validator(), fill(7, 31));
    world.finish();
}

/// The first window boundary after the Nautilus document's time.
fun boundary_after_nautilus(): u64 {
    (fx::nautilus_at() / test_world::window_ms() + 1) * test_world::window_ms()
}

#[test]
fun a_pcr_update_takes_effect_at_the_next_window_boundary() {
    let mut world = nautilus_world();
    register_nautilus(&mut world, fx::nautilus_at());
    world.update_pcrs(fill(1, 48), fill(2, 48), fill(3, 48));
    world.next(test_world::admin());
    let config = world.scenario().take_shared<EnclaveConfig>();
    assert!(config.version() == 2);
    ts::return_shared(config);
    // The window in flight keeps its key.
    assert!(current_key(&mut world) == fx::nautilus_key());
    world.set_time(boundary_after_nautilus() - 1);
    assert!(current_key(&mut world) == fx::nautilus_key());
    world.finish();
}

#[test, expected_failure(abort_code = enclave_registry::EStaleEnclave)]
fun a_pcr_update_makes_registrations_stale_from_the_boundary() {
    let mut world = nautilus_world();
    register_nautilus(&mut world, fx::nautilus_at());
    world.update_pcrs(fill(1, 48), fill(2, 48), fill(3, 48));
    world.set_time(boundary_after_nautilus());
    current_key(&mut world);
    world.finish();
}

#[test]
fun a_key_of_the_pending_image_registers_before_the_boundary() {
    let mut world = configured(fill(1, 48), fill(2, 48), fill(3, 48));
    world.set_time(fx::nautilus_at());
    world.update_pcrs(fx::nautilus_pcr0(), fx::nautilus_pcr1(), fx::nautilus_pcr2());
    register_nautilus(&mut world, fx::nautilus_at());
    assert!(current_key(&mut world) == fx::nautilus_key());
    world.set_time(boundary_after_nautilus() + 1);
    assert!(current_key(&mut world) == fx::nautilus_key());
    world.finish();
}

#[test, expected_failure(abort_code = enclave_registry::EStaleEnclave)]
fun a_key_of_a_replaced_pending_image_never_signs() {
    let mut world = configured(fill(1, 48), fill(2, 48), fill(3, 48));
    world.set_time(fx::nautilus_at());
    world.update_pcrs(fx::nautilus_pcr0(), fx::nautilus_pcr1(), fx::nautilus_pcr2());
    register_nautilus(&mut world, fx::nautilus_at());
    world.update_pcrs(fill(4, 48), fill(5, 48), fill(6, 48));
    current_key(&mut world);
    world.finish();
}

#[test, expected_failure(abort_code = enclave_registry::ETestModeClosed)]
fun attack_keep_signing_with_a_test_key_registered_before_test_mode_closed() {
    let mut world = test_world::begin();
    world.register_validator(test_world::validator(), 10_000_000_000);
    world.register_test_key(test_world::validator(), test_world::golden_key());
    world.close_test_mode();
    current_key(&mut world);
    world.finish();
}

#[test, expected_failure(abort_code = enclave_registry::ENoEnclave)]
fun governance_retires_an_enclave() {
    let mut world = nautilus_world();
    register_nautilus(&mut world, fx::nautilus_at());
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
    let mut world = test_world::begin();
    world.close_test_mode();
    world.next(test_world::admin());
    let config = world.scenario().take_shared<EnclaveConfig>();
    assert!(!config.test_mode_open());
    ts::return_shared(config);
    world.finish();
}
