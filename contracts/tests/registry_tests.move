// Copyright (c) The VRAM hub authors
// SPDX-License-Identifier: Apache-2.0

/// Validator and peer registries.
#[test_only]
module vramhub::registry_tests;

use std::unit_test::destroy;
use sui::coin;
use sui::sui::SUI;
use sui::test_scenario as ts;
use vramhub::hparams::Hparams;
use vramhub::peer_registry::{Self, PeerRegistry};
use vramhub::test_world;
use vramhub::validator_registry::{Self, ValidatorRegistry};

#[test]
fun validators_wait_their_offset_and_get_their_stake_back() {
    let mut world = test_world::begin();
    let v = test_world::validator();
    world.set_time(10 * 600_000);
    world.register_validator(v, 12_000_000_000);
    world.next(v);
    let mut validators = world.scenario().take_shared<ValidatorRegistry>();
    let hp = world.scenario().take_shared<Hparams>();
    assert!(validators.is_validator(v));
    assert!(validators.first_window(v) == 12);
    assert!(validators.stake(v) == 12_000_000_000);
    assert!(!validators.can_score(&hp, v, 11));
    assert!(validators.can_score(&hp, v, 12));
    assert!(!validators.can_score(&hp, @0xbeef, 12));
    let extra = coin::mint_for_testing<SUI>(5, world.scenario().ctx());
    validators.add_stake(extra, world.scenario().ctx());
    assert!(validators.stake(v) == 12_000_000_005);
    let stake = validators.deregister_validator(world.scenario().ctx());
    assert!(stake.value() == 12_000_000_005);
    assert!(!validators.is_validator(v));
    destroy(stake);
    ts::return_shared(validators);
    ts::return_shared(hp);
    world.finish();
}

#[test, expected_failure(abort_code = validator_registry::EAlreadyRegistered)]
fun a_validator_registers_once() {
    let mut world = test_world::begin();
    world.register_validator(test_world::validator(), 10_000_000_000);
    world.register_validator(test_world::validator(), 10_000_000_000);
    world.finish();
}

#[test, expected_failure(abort_code = validator_registry::EInsufficientStake)]
fun validators_stake_the_minimum() {
    let mut world = test_world::begin();
    world.register_validator(test_world::validator(), 9_999_999_999);
    world.finish();
}

#[test, expected_failure(abort_code = validator_registry::ENotValidator)]
fun only_validators_deregister() {
    let mut world = test_world::begin();
    world.next(@0xbeef);
    let mut validators = world.scenario().take_shared<ValidatorRegistry>();
    let stake = validators.deregister_validator(world.scenario().ctx());
    destroy(stake);
    ts::return_shared(validators);
    world.finish();
}

#[test]
fun miners_get_sequential_uids_never_reused() {
    let mut world = test_world::begin();
    assert!(world.register_miner(test_world::miner(0), 1_000_000_000) == 0);
    assert!(world.register_miner(test_world::miner(1), 2_000_000_000) == 1);
    world.next(test_world::miner(0));
    let mut peers = world.scenario().take_shared<PeerRegistry>();
    assert!(peers.owner_of(1) == test_world::miner(1));
    assert!(peers.stake(1) == 2_000_000_000);
    assert!(peers.uid_of(test_world::miner(0)) == option::some(0));
    let stake = peers.deregister_miner(world.scenario().ctx());
    assert!(stake.value() == 1_000_000_000);
    assert!(!peers.is_registered(0));
    assert!(peers.next_uid() == 2);
    destroy(stake);
    ts::return_shared(peers);
    assert!(world.register_miner(test_world::miner(0), 1_000_000_000) == 2);
    world.finish();
}

#[test, expected_failure(abort_code = peer_registry::EAlreadyRegistered)]
fun an_address_owns_one_uid() {
    let mut world = test_world::begin();
    world.register_miner(test_world::miner(0), 1_000_000_000);
    world.register_miner(test_world::miner(0), 1_000_000_000);
    world.finish();
}

#[test, expected_failure(abort_code = peer_registry::EInsufficientStake)]
fun miners_stake_the_minimum() {
    let mut world = test_world::begin();
    world.register_miner(test_world::miner(0), 999_999_999);
    world.finish();
}

#[test, expected_failure(abort_code = peer_registry::EUnknownMiner)]
fun unknown_uids_have_no_owner() {
    let mut world = test_world::begin();
    world.next(test_world::admin());
    let peers = world.scenario().take_shared<PeerRegistry>();
    peers.owner_of(9);
    ts::return_shared(peers);
    world.finish();
}

#[test, expected_failure(abort_code = peer_registry::ENotMiner)]
fun only_miners_deregister() {
    let mut world = test_world::begin();
    world.next(@0xbeef);
    let mut peers = world.scenario().take_shared<PeerRegistry>();
    let stake = peers.deregister_miner(world.scenario().ctx());
    destroy(stake);
    ts::return_shared(peers);
    world.finish();
}
