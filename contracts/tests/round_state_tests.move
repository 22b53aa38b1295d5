// Copyright (c) The VRAM hub authors
// SPDX-License-Identifier: Apache-2.0

#[test_only]
module vramhub::round_state_tests;

use sui::test_scenario as ts;
use vramhub::hparams::Hparams;
use vramhub::round_state::{Self, RoundState};
use vramhub::test_world::{Self, fill};

#[test]
fun phases_follow_the_clock() {
    let mut world = test_world::begin();
    world.next(test_world::admin());
    let hp = world.scenario().take_shared<Hparams>();
    let w = 42;
    assert!(round_state::upload_deadline_ms(&hp, w) == 42 * 600_000 + 480_000);
    assert!(round_state::window_end_ms(&hp, w) == 43 * 600_000);
    world.set_time(42 * 600_000 - 1);
    assert!(round_state::phase(&hp, w, world.clock()) == 0);
    world.set_time(42 * 600_000);
    assert!(round_state::current_window(&hp, world.clock()) == 42);
    assert!(round_state::is_upload_open(&hp, w, world.clock()));
    world.set_time(42 * 600_000 + 479_999);
    assert!(round_state::is_upload_open(&hp, w, world.clock()));
    // The reveal phase and the seed margin: nothing is scored yet.
    world.set_time(42 * 600_000 + 480_000);
    assert!(round_state::phase(&hp, w, world.clock()) == 4);
    assert!(!round_state::is_scoring(&hp, w, world.clock()));
    assert!(round_state::opens_at_ms(&hp, w) == 42 * 600_000 + 520_000);
    world.set_time(42 * 600_000 + 519_999);
    assert!(round_state::phase(&hp, w, world.clock()) == 4);
    world.set_time(42 * 600_000 + 520_000);
    assert!(round_state::is_scoring(&hp, w, world.clock()));
    // Window 42 is scored while miners upload window 43, until 43's deadline.
    assert!(round_state::scoring_end_ms(&hp, w) == 43 * 600_000 + 480_000);
    world.set_time(43 * 600_000 + 100_000);
    assert!(round_state::is_scoring(&hp, w, world.clock()));
    assert!(round_state::is_upload_open(&hp, w + 1, world.clock()));
    world.set_time(43 * 600_000 + 479_999);
    assert!(round_state::is_scoring(&hp, w, world.clock()));
    world.set_time(43 * 600_000 + 480_000);
    assert!(round_state::phase(&hp, w, world.clock()) == 3);
    // One window in flight: 42's span ends before 43 opens.
    assert!(round_state::scoring_end_ms(&hp, w) < round_state::opens_at_ms(&hp, w + 1));
    ts::return_shared(hp);
    world.finish();
}

#[test]
fun latest_anchor_at_or_before_a_window() {
    // Checkpoints every 2 windows from window 1; each anchor is set before its
    // window starts.
    let mut world = test_world::begin();
    world.anchor(2, fill(0x10, 32));
    world.set_time(99 * 600_000);
    world.anchor(100, fill(0x11, 32));
    world.set_time(199 * 600_000 + 599_999);
    world.anchor(200, fill(0x12, 32));
    world.next(test_world::admin());
    let rounds = world.scenario().take_shared<RoundState>();
    assert!(!rounds.has_anchor(1));
    let (w, h) = rounds.latest_anchor(2);
    assert!(w == 2 && h == fill(0x10, 32));
    let (w, _) = rounds.latest_anchor(99);
    assert!(w == 2);
    let (w, h) = rounds.latest_anchor(100);
    assert!(w == 100 && h == fill(0x11, 32));
    let (w, h) = rounds.latest_anchor(1_000);
    assert!(w == 200 && h == fill(0x12, 32));
    // Each anchor names where its files are listed.
    assert!(rounds.latest_anchor_blob(1_000) == std::hash::sha2_256(fill(0x12, 32)));
    assert!(rounds.latest_anchor_blob(99) == std::hash::sha2_256(fill(0x10, 32)));
    assert!(rounds.has_anchor(5));
    ts::return_shared(rounds);
    world.finish();
}

#[test, expected_failure(abort_code = round_state::EBadHash)]
fun anchor_hash_must_be_32_bytes() {
    let mut world = test_world::begin();
    world.anchor(2, fill(0x10, 31));
    world.finish();
}

#[test, expected_failure(abort_code = round_state::EBadBlobId)]
fun anchor_blob_id_must_be_32_bytes() {
    let mut world = test_world::begin();
    world.next(test_world::admin());
    let mut rounds = world.scenario().take_shared<RoundState>();
    let hp = world.scenario().take_shared<vramhub::hparams::Hparams>();
    rounds.anchor_checkpoint(
        world.anchor_cap(),
        &hp,
        2,
        fill(0x10, 32),
        fill(0x10, 31),
        world.clock(),
    );
    ts::return_shared(rounds);
    ts::return_shared(hp);
    world.finish();
}

#[test, expected_failure(abort_code = round_state::ENotAscending)]
fun anchors_ascend() {
    let mut world = test_world::begin();
    world.anchor(2, fill(0x10, 32));
    world.anchor(2, fill(0x11, 32));
    world.finish();
}

#[test, expected_failure(abort_code = round_state::ENotCheckpointWindow)]
fun anchors_land_on_checkpoint_windows() {
    let mut world = test_world::begin();
    world.set_time(4 * 600_000);
    world.anchor(5, fill(0x10, 32));
    world.finish();
}

#[test, expected_failure(abort_code = round_state::EAnchorNotFuture)]
fun anchors_are_not_set_far_ahead() {
    let mut world = test_world::begin();
    world.anchor(100, fill(0x10, 32));
    world.finish();
}

#[test, expected_failure(abort_code = round_state::EAnchorNotFuture)]
fun attack_anchor_the_current_window_mid_window() {
    // Miners of window 42 trained on the anchor of window 40; re-anchoring 42
    // while it runs would make every commitment in flight stale.
    let mut world = test_world::begin();
    world.anchor(2, fill(0x10, 32));
    world.set_time(42 * 600_000 + 1);
    world.anchor(42, fill(0x11, 32));
    world.finish();
}

#[test, expected_failure(abort_code = round_state::EAnchorNotFuture)]
fun attack_anchor_a_past_window() {
    let mut world = test_world::begin();
    world.set_time(45 * 600_000);
    world.anchor(44, fill(0x11, 32));
    world.finish();
}

#[test, expected_failure(abort_code = round_state::ENoAnchor)]
fun no_anchor_before_the_first() {
    let mut world = test_world::begin();
    world.next(test_world::admin());
    let rounds = world.scenario().take_shared<RoundState>();
    let (_, _) = rounds.latest_anchor(5);
    ts::return_shared(rounds);
    world.finish();
}
