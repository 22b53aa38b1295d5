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

#[test]
fun a_budget_takes_effect_from_the_next_window_and_its_history_is_kept() {
    let mut world = test_world::begin();
    let v = test_world::validator();
    world.set_time(10 * 600_000);
    world.register_validator(v, 10_000_000_000);
    // Undeclared: the network's max_scored.
    assert!(world.budget_for(v, 12) == 256);
    world.set_budget(v, 40);
    assert!(world.budget_for(v, 10) == 256);
    assert!(world.budget_for(v, 11) == 40);
    // A second change in the same window replaces the pending one.
    world.set_budget(v, 30);
    assert!(world.budget_for(v, 11) == 30);
    world.set_time(20 * 600_000);
    world.set_budget(v, 7);
    // Past windows keep the budget they were scored with.
    assert!(world.budget_for(v, 11) == 30);
    assert!(world.budget_for(v, 20) == 30);
    assert!(world.budget_for(v, 21) == 7);
    assert!(world.budget_for(v, 1000) == 7);
    world.finish();
}

#[test, expected_failure(abort_code = validator_registry::EBadBudget)]
fun a_budget_above_max_scored_is_refused() {
    let mut world = test_world::begin();
    world.register_validator(test_world::validator(), 10_000_000_000);
    world.set_budget(test_world::validator(), 257);
    world.finish();
}

#[test, expected_failure(abort_code = validator_registry::EBadBudget)]
fun a_zero_budget_is_refused() {
    let mut world = test_world::begin();
    world.register_validator(test_world::validator(), 10_000_000_000);
    world.set_budget(test_world::validator(), 0);
    world.finish();
}

#[test, expected_failure(abort_code = validator_registry::ENotValidator)]
fun only_a_validator_declares_a_budget() {
    let mut world = test_world::begin();
    world.set_budget(test_world::validator(), 5);
    world.finish();
}
