// Copyright (c) The VRAM hub authors
// SPDX-License-Identifier: Apache-2.0

#[test_only]
module vramhub::gradient_registry_tests;

use sui::test_scenario as ts;
use vramhub::gradient_registry::{Self, GradientRegistry};
use vramhub::test_world::{Self, fill, miner};

fun world_in_window_7(): test_world::World {
    let mut world = test_world::begin();
    world.register_miners(3);
    world.set_time(7 * 600_000 + 1);
    world
}

#[test]
fun commitments_are_recorded_per_window() {
    let mut world = world_in_window_7();
    world.commit(2, 7, fill(2, 32));
    world.commit(0, 7, fill(0, 32));
    world.next(test_world::admin());
    let gradients = world.scenario().take_shared<GradientRegistry>();
    assert!(gradients.commitment_count(7) == 2);
    // Kept sorted by uid, whatever the commit order.
    assert!(gradients.committed_uids(7) == vector[0, 2]);
    assert!(gradients.has_commitment(7, 2));
    assert!(!gradients.has_commitment(7, 1));
    assert!(!gradients.has_commitment(8, 2));
    let c = gradients.commitment(7, 2).destroy_some();
    assert!(*c.sha256() == fill(2, 32));
    assert!(*c.blob_id() == fill(0xb2, 32));
    assert!(c.committed_ms() == 7 * 600_000 + 1);
    assert!(gradients.commitment(7, 1).is_none());
    ts::return_shared(gradients);
    world.finish();
}

#[test, expected_failure(abort_code = gradient_registry::ENotOwner)]
fun only_the_owner_commits_for_a_uid() {
    let mut world = world_in_window_7();
    world.commit_as(miner(1), 2, 7, fill(0xb2, 32), fill(2, 32));
    world.finish();
}

#[test, expected_failure(abort_code = gradient_registry::EBadBlobId)]
fun blob_ids_are_32_bytes() {
    let mut world = world_in_window_7();
    world.commit_as(miner(2), 2, 7, fill(0xb2, 33), fill(2, 32));
    world.finish();
}

#[test, expected_failure(abort_code = gradient_registry::EBadHash)]
fun blob_hashes_are_32_bytes() {
    let mut world = world_in_window_7();
    world.commit(2, 7, fill(2, 31));
    world.finish();
}

#[test, expected_failure(abort_code = gradient_registry::EWrongWindow)]
fun commitments_are_for_the_current_window() {
    let mut world = world_in_window_7();
    world.commit(2, 8, fill(2, 32));
    world.finish();
}

#[test, expected_failure(abort_code = gradient_registry::EUploadClosed)]
fun commitments_close_at_the_upload_deadline() {
    let mut world = world_in_window_7();
    world.set_time(7 * 600_000 + 480_000);
    world.commit(2, 7, fill(2, 32));
    world.finish();
}

#[test, expected_failure(abort_code = gradient_registry::EAlreadyCommitted)]
fun one_commitment_per_window() {
    let mut world = world_in_window_7();
    world.commit(2, 7, fill(2, 32));
    world.commit(2, 7, fill(3, 32));
    world.finish();
}

#[test, expected_failure(abort_code = gradient_registry::EWindowFull)]
fun a_window_holds_at_most_2000_commitments() {
    let mut world = world_in_window_7();
    world.next(test_world::admin());
    let mut gradients = world.scenario().take_shared<GradientRegistry>();
    let mut uid = 10;
    while (uid < 2010) {
        gradients.commit_for_testing(7, uid, fill(1, 32));
        uid = uid + 1;
    };
    ts::return_shared(gradients);
    world.commit(2, 7, fill(2, 32));
    world.finish();
}
