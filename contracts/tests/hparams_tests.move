// Copyright (c) The VRAM hub authors
// SPDX-License-Identifier: Apache-2.0

#[test_only]
module vramhub::hparams_tests;

use sui::bcs;
use sui::test_scenario as ts;
use vramhub::hparams::{Self, Hparams};
use vramhub::test_world;

// The Rust twins' bytes: `host/tests/move_constants.rs` reads these constants
// from this file and checks them against `vram_host::chain::types`.

/// BCS of `EvalParams` for window 42 under the default values and a budget
/// of 256, the default `max_scored` (ten u64s; the upload deadline is 42 * 600 000 + 480 000, the
/// window opens 40 s later and its scoring span ends 600 s after it).
const EVAL_PARAMS_BCS: vector<u8> =
    x"40420f00000000002000000000000000010400000000000004000000000000000800000000000000000100000000000080d88701000000001027000000000000c0748801000000004000910100000000";
/// SHA-256 of `EVAL_PARAMS_BCS`, the hash every statement carries.
const EVAL_PARAMS_HASH: vector<u8> =
    x"49a5c3e064d65356e09c75043a2182ed37d9545c39e6fce0a229316ad5f9987b";
/// BCS of `defaults().with_dataset(0x22 * 32, 1000, 0x44 * 32)`: `Values` field by field.
const GOLDEN_VALUES_BCS: vector<u8> =
    x"c027090000000000005307000000000020000000000000000f00000000000000ab495af800000000d590f70400000000003c534c10000000640000000000000000ca9a3b0000000000e40b540200000002000000000000008033023b00000000030000000000000040420f0000000000010400000000000004000000000000000800000000000000202222222222222222222222222222222222222222222222222222222222222222e80300000000000000010000000000001027000000000000204444444444444444444444444444444444444444444444444444444444444444c0270900000000003075000000000000";

#[test]
fun defaults_match_the_published_parameters() {
    let v = hparams::defaults();
    assert!(v.window_duration_ms() == 600_000);
    assert!(v.put_window_open_ms() == 480_000);
    assert!(v.topk_compression() == 32);
    assert!(v.top_g() == 15);
    assert!(v.openskill_beta_e9() == 4_166_666_667);
    assert!(v.openskill_tau_e9() == 83_333_333);
    assert!(v.emission_per_window() == 70_000_000_000);
    assert!(v.checkpoint_frequency() == 100);
    assert!(v.min_miner_stake() == 1_000_000_000);
    assert!(v.min_validator_stake() == 10_000_000_000);
    assert!(v.validator_offset() == 2);
    assert!(v.gauntlet_gamma_e9() == 990_000_000);
    assert!(v.sync_threshold() == 3);
    assert!(v.dataset_root().is_empty());
}

#[test]
fun values_layout_matches_rust() {
    let values = hparams::defaults().with_dataset(
        test_world::fill(0x22, 32),
        1000,
        test_world::fill(0x44, 32),
    );
    assert!(bcs::to_bytes(&values) == GOLDEN_VALUES_BCS);
}

#[test]
fun eval_params_hash_matches_rust() {
    let mut world = test_world::begin();
    world.next(test_world::admin());
    let hp = world.scenario().take_shared<Hparams>();
    assert!(bcs::to_bytes(&hp.eval_params(42, 256)) == EVAL_PARAMS_BCS);
    assert!(hp.eval_params_hash(42, 256) == EVAL_PARAMS_HASH);
    // The upload deadline is part of the parameters: each window has its own.
    assert!(hp.eval_params_hash(43, 256) != EVAL_PARAMS_HASH);
    // So is the validator's budget, capped at max_scored.
    assert!(hp.eval_params_hash(42, 255) != EVAL_PARAMS_HASH);
    assert!(hp.eval_params_hash(42, 1000) == EVAL_PARAMS_HASH);
    assert!(hp.eval_params(42, 1000).budget() == 256);
    let p = hp.eval_params(42, 100);
    assert!(p.opens_at_ms() == 42 * 600_000 + 480_000 + 40_000);
    assert!(p.scoring_end_ms() == 43 * 600_000 + 480_000);
    ts::return_shared(hp);
    world.finish();
}

#[test]
fun updates_take_effect_at_the_next_window_boundary() {
    // begin() set the dataset at time 0: it applies from window 1.
    let mut world = test_world::begin();
    world.next(test_world::admin());
    let mut hp = world.scenario().take_shared<Hparams>();
    assert!(hp.version() == 1);
    assert!(hp.for_window(0).dataset_root().is_empty());
    assert!(*hp.for_window(1).dataset_root() == test_world::fill(0x22, 32));

    // Halve the window: first the scoring span (window 5's still runs 600 s
    // past its deadline, and window 6 opens after that), then the window.
    world.set_time(5 * 600_000 + 10);
    let dataset = hparams::defaults().with_dataset(
        test_world::fill(0x22, 32),
        1000,
        test_world::fill(0x44, 32),
    );
    hp.update_hparams(
        world.hparams_cap(),
        dataset.with_timeline(300_000, 30_000, 10_000),
        world.clock(),
    );
    world.set_time(6 * 600_000 + 10);
    let values = dataset.with_window(300_000, 200_000).with_timeline(300_000, 30_000, 10_000);
    hp.update_hparams(world.hparams_cap(), values, world.clock());
    assert!(hp.version() == 3);
    assert!(hp.window_at(6 * 600_000 + 10) == 6);
    assert!(hp.window_at(4_199_999) == 6);
    assert!(hp.window_at(4_200_000) == 7);
    assert!(hp.window_at(4_500_000) == 8);
    assert!(hp.window_start_ms(7) == 4_200_000);
    assert!(hp.window_start_ms(8) == 4_500_000);
    assert!(hp.for_window(6).window_duration_ms() == 600_000);
    assert!(hp.for_window(7).window_duration_ms() == 300_000);
    ts::return_shared(hp);
    world.finish();
}

#[test, expected_failure(abort_code = hparams::EInvalidValue)]
fun upload_deadline_must_fall_inside_the_window() {
    let values = hparams::defaults()
        .with_dataset(test_world::fill(0x22, 32), 1000, test_world::fill(0x44, 32))
        .with_window(600_000, 600_000);
    let mut world = test_world::begin();
    world.next(test_world::admin());
    let mut hp = world.scenario().take_shared<Hparams>();
    hp.update_hparams(world.hparams_cap(), values, world.clock());
    ts::return_shared(hp);
    world.finish();
}

#[test, expected_failure(abort_code = hparams::EBadDatasetRoot)]
fun dataset_root_must_be_a_hash() {
    let mut world = test_world::begin();
    world.next(test_world::admin());
    let mut hp = world.scenario().take_shared<Hparams>();
    hp.update_hparams(world.hparams_cap(), hparams::defaults(), world.clock());
    ts::return_shared(hp);
    world.finish();
}

#[test]
fun every_segment_is_kept_for_auditors() {
    let mut world = test_world::begin();
    world.next(test_world::admin());
    let mut hp = world.scenario().take_shared<Hparams>();
    let before = hp.eval_params_hash(0, 256);
    // Three updates in three windows: each adds a segment; none drops one.
    let mut window = 5;
    while (window < 8) {
        world.set_time(window * 600_000);
        let values = hparams::defaults().with_dataset(
            test_world::fill(0x23, 32),
            1000 + window,
            test_world::fill(0x44, 32),
        );
        hp.update_hparams(world.hparams_cap(), values, world.clock());
        window = window + 1;
    };
    assert!(hp.segment_count() == 5);
    // Window 0 is answered by the genesis values, as before the updates.
    assert!(hp.eval_params_hash(0, 256) == before);
    assert!(hp.for_window(0).dataset_root().is_empty());
    assert!(hp.for_window(1).dataset_pages() == 1000);
    assert!(hp.for_window(6).dataset_pages() == 1005);
    assert!(hp.for_window(7).dataset_pages() == 1006);
    assert!(hp.for_window(100).dataset_pages() == 1007);
    let (start_window, start_ms, values) = hp.segment(4);
    assert!(start_window == 8 && start_ms == 8 * 600_000);
    assert!(*values.dataset_blob() == test_world::fill(0x44, 32));
    ts::return_shared(hp);
    world.finish();
}

#[test]
fun a_pending_update_is_replaced_not_stacked() {
    let mut world = test_world::begin();
    world.next(test_world::admin());
    let mut hp = world.scenario().take_shared<Hparams>();
    world.set_time(5 * 600_000 + 1);
    let first = hparams::defaults().with_dataset(
        test_world::fill(0x23, 32),
        7,
        test_world::fill(0x44, 32),
    );
    hp.update_hparams(world.hparams_cap(), first, world.clock());
    let second = hparams::defaults().with_dataset(
        test_world::fill(0x23, 32),
        9,
        test_world::fill(0x44, 32),
    );
    hp.update_hparams(world.hparams_cap(), second, world.clock());
    assert!(hp.segment_count() == 3);
    assert!(hp.for_window(6).dataset_pages() == 9);
    assert!(hp.for_window(5).dataset_pages() == 1000);
    ts::return_shared(hp);
    world.finish();
}

#[test, expected_failure(abort_code = hparams::EBadDatasetBlob)]
fun dataset_blob_must_be_a_blob_id() {
    let mut world = test_world::begin();
    world.next(test_world::admin());
    let mut hp = world.scenario().take_shared<Hparams>();
    let values = hparams::defaults().with_dataset(test_world::fill(0x23, 32), 1000, vector[1, 2]);
    hp.update_hparams(world.hparams_cap(), values, world.clock());
    ts::return_shared(hp);
    world.finish();
}

#[test, expected_failure(abort_code = hparams::EWindowsOverlap)]
fun an_update_that_puts_two_windows_in_flight_is_refused() {
    // Window 5 is scored until 600 s after its deadline; halving the window
    // at once would open window 6 while window 5 is still scoring.
    let mut world = test_world::begin();
    world.next(test_world::admin());
    let mut hp = world.scenario().take_shared<Hparams>();
    world.set_time(5 * 600_000 + 10);
    let values = test_world::values()
        .with_window(300_000, 200_000)
        .with_timeline(300_000, 30_000, 10_000);
    hp.update_hparams(world.hparams_cap(), values, world.clock());
    ts::return_shared(hp);
    world.finish();
}

#[test, expected_failure(abort_code = hparams::EInvalidValue)]
fun the_scoring_span_is_at_most_a_window() {
    let _ = test_world::values().with_timeline(600_001, 30_000, 10_000).rebuilt();
}

#[test, expected_failure(abort_code = hparams::EInvalidValue)]
fun the_scoring_span_leaves_room_after_the_reveal_and_both_margins() {
    // reveal + 2 x margin = span: no time would be left to score.
    let _ = test_world::values().with_timeline(50_000, 30_000, 10_000).rebuilt();
}

#[test]
fun the_shortest_span_the_rule_allows_is_accepted() {
    let v = test_world::values().with_timeline(50_001, 30_000, 10_000).rebuilt();
    assert!(v.scoring_span_ms() == 50_001 && v.reveal_ms() == 30_000);
}
