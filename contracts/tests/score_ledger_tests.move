// Copyright (c) The VRAM hub authors
// SPDX-License-Identifier: Apache-2.0

/// The statement golden vector and `submit_scores`, one test per abort.
///
/// `GOLDEN_BCS` and `GOLDEN_SIGNATURE` are the bytes the Rust test
/// `attestation/tests/statement.rs` (`golden_window_scores_vector`) asserts:
/// change both or neither.
#[test_only]
module vramhub::score_ledger_tests;

use sui::ed25519;
use sui::test_scenario as ts;
use vramhub::enclave_registry;
use vramhub::gradient_registry::GradientRegistry;
use vramhub::round_state;
use vramhub::score_ledger::{Self, ScoreLedger};
use vramhub::test_world::{Self, fill, golden_submit};

const GOLDEN_BCS: vector<u8> =
    x"010045b6a49a0100002a00000000000000aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa20111111111111111111111111111111111111111111111111111111111111111120222222222222222222222222222222222222222222222222222222222222222220333333333333333333333333333333333333333333333333333333333333333320444444444444444444444444444444444444444444444444444444444444444400ea56fa0000000003010000000000000020010101010101010101010101010101010101010101010101010101010101010100000961f40000000000286bee0000000080f95bf70000000002000000000000000001000000000000000000000000000000000000000000000000050000000000000020050505050505050505050505050505050505050505050505050505050505050502000000000000000000000000000000000000000000000000";
const GOLDEN_SIGNATURE: vector<u8> =
    x"35705187d7c78f9a7efa0e2c7e9dc5e9b2754ef2d7007870f029d2def93df7ca3760fb1170890d03fcb4c33365861ae7eff71ed680b805fe3dbc3415d87ffb03";

#[test]
fun golden_statement_verifies() {
    let entries = vector[
        score_ledger::new_entry_for_testing(
            1,
            fill(1, 32),
            0,
            4_100_000_000,
            4_000_000_000,
            4_150_000_000,
        ),
        score_ledger::new_entry_for_testing(2, vector[], 1, 0, 0, 0),
        score_ledger::new_entry_for_testing(5, fill(5, 32), 2, 0, 0, 0),
    ];
    let bytes = score_ledger::statement_bytes_for_testing(
        1_763_700_000_000,
        42,
        test_world::validator(),
        fill(0x11, 32),
        fill(0x22, 32),
        fill(0x33, 32),
        fill(0x44, 32),
        4_200_000_000,
        entries,
    );
    assert!(bytes == GOLDEN_BCS);
    let signature = GOLDEN_SIGNATURE;
    assert!(ed25519::ed25519_verify(&signature, &test_world::golden_key(), &bytes));
    let mut tampered = bytes;
    *tampered.borrow_mut(20) = 0xab;
    assert!(!ed25519::ed25519_verify(&signature, &test_world::golden_key(), &tampered));
}

#[test]
fun a_signed_statement_is_accepted_and_stored() {
    let mut world = test_world::golden();
    world.submit(golden_submit());
    world.next(test_world::admin());
    let ledger = world.scenario().take_shared<ScoreLedger>();
    assert!(ledger.has_submitted(42, test_world::validator()));
    assert!(!ledger.has_submitted(41, test_world::validator()));
    assert!(ledger.submitters(42) == vector[test_world::validator()]);
    let submission = ledger.submission(42, test_world::validator());
    assert!(*submission.enclave_public_key() == test_world::golden_key());
    // The golden key came through the test-mode path, and the ledger says so.
    assert!(submission.is_test_mode());
    assert!(submission.loss_before_random() == 4_200_000_000);
    assert!(submission.budget() == 256);
    let entries = submission.entries();
    assert!(entries.length() == 3);
    assert!(entries[0].miner_uid() == 1 && entries[0].status() == 0);
    assert!(*entries[0].gradient_hash() == fill(1, 32));
    assert!(entries[0].loss_after_own() == 4_000_000_000);
    assert!(entries[1].gradient_hash().is_empty());
    assert!(entries[2].loss_after_random() == 0);
    ts::return_shared(ledger);
    world.finish();
}

fun refused(s: test_world::Submit) {
    let mut world = test_world::golden();
    world.submit(s);
    world.finish();
}

#[test, expected_failure(abort_code = score_ledger::ELengthMismatch)]
fun parallel_vectors_have_one_length() {
    refused(golden_submit().with_statuses(vector[0, 1]));
}

#[test, expected_failure(abort_code = score_ledger::ETooManyEntries)]
fun at_most_max_entries() {
    let uids = vector::tabulate!(2001, |i| i);
    let statuses = vector::tabulate!(2001, |_| 1);
    refused(golden_submit().with_entries(uids, statuses));
}

#[test, expected_failure(abort_code = score_ledger::ENotValidator)]
fun only_validators_submit() {
    refused(golden_submit().with_sender(@0xbeef));
}

#[test, expected_failure(abort_code = score_ledger::ENotValidator)]
fun a_new_validator_waits_its_offset() {
    // Registered during window 42: it may score from window 44.
    let mut world = test_world::golden();
    world.register_validator(@0xbeef, 10_000_000_000);
    world.register_test_key(@0xbeef, test_world::golden_key());
    world.submit(golden_submit().with_sender(@0xbeef));
    world.finish();
}

#[test, expected_failure(abort_code = enclave_registry::ENoEnclave)]
fun an_unregistered_key_is_refused() {
    let mut world = test_world::golden_with_key(false);
    world.submit(golden_submit());
    world.finish();
}

#[test, expected_failure(abort_code = enclave_registry::EStaleEnclave)]
fun a_stale_enclave_is_refused() {
    // The test key stands for "no image set"; the first image applies at once.
    let mut world = test_world::golden();
    world.update_pcrs(fill(1, 48), fill(2, 48), fill(3, 48));
    world.submit(golden_submit());
    world.finish();
}

// === Attacks: picking a key, test-mode keys, blocking a window ===

#[test, expected_failure(abort_code = enclave_registry::ENoKeyForWindow)]
fun attack_register_a_key_after_the_upload_deadline_to_score_the_window() {
    // The host ran enclaves until one drew a seed it liked, then registered it
    // during the scoring phase: that key cannot sign for this window.
    let mut world = test_world::golden_with_key(false);
    world.register_test_key(test_world::validator(), test_world::golden_key());
    world.set_time(test_world::golden_opens_at() + 10_000);
    world.submit(golden_submit());
    world.finish();
}

#[test]
fun attack_register_a_second_enclave_mid_window_leaves_the_first_key_signing() {
    // The golden key was registered before the deadline; a key registered
    // during the scoring phase does not replace it for window 42.
    let mut world = test_world::golden_at(true, 42 * 600_000 + 490_000);
    world.register_test_key(test_world::validator(), fill(9, 32));
    let (key, test_mode) = world.signer_for(test_world::validator(), 42);
    assert!(key == test_world::golden_key() && test_mode);
    let (key, _) = world.signer_for(test_world::validator(), 43);
    assert!(key == fill(9, 32));
    world.set_time(test_world::golden_opens_at() + 10_000);
    world.submit(golden_submit());
    world.finish();
}

#[test, expected_failure(abort_code = enclave_registry::ETestModeClosed)]
fun attack_sign_with_a_test_mode_key_after_test_mode_closed() {
    let mut world = test_world::golden();
    world.close_test_mode();
    world.submit(golden_submit());
    world.finish();
}

#[test]
fun attack_deregister_after_committing_does_not_block_the_window() {
    // Miner 5 committed for window 42, then left: its commitment still
    // proves its entry and the window is scored.
    let mut world = test_world::golden();
    world.deregister_miner(5);
    world.submit(golden_submit());
    world.next(test_world::admin());
    let ledger = world.scenario().take_shared<ScoreLedger>();
    assert!(ledger.has_submitted(42, test_world::validator()));
    ts::return_shared(ledger);
    world.finish();
}

#[test, expected_failure(abort_code = score_ledger::ENotInSeedOrder)]
fun attack_skip_a_miner_early_in_the_seed_order() {
    // sha256(seed || le64(1)) sorts before that of uid 5: miner 1 cannot be
    // left unevaluated while miner 5 is scored.
    refused(golden_submit().with_entries(vector[1, 2, 5], vector[4, 1, 0]));
}

#[test, expected_failure(abort_code = score_ledger::ETooManyScored)]
fun at_most_max_scored_entries_are_scored() {
    let world = test_world::begin_with(test_world::values().with_max_scored(1));
    let mut world = test_world::golden_from(world, true, test_world::golden_opens_at());
    world.submit(golden_submit().with_entries(vector[1, 2, 5], vector[0, 1, 0]));
    world.finish();
}

/// The golden scenario with the validator's budget declared as `budget`
/// (in window 1, so it is in force for window 42).
fun golden_with_budget(budget: u64): test_world::World {
    let mut world = test_world::begin();
    world.register_validator(test_world::validator(), 10_000_000_000);
    world.set_time(600_000 + 1);
    world.set_budget(test_world::validator(), budget);
    assert!(world.budget_for(test_world::validator(), 42) == budget);
    assert!(world.budget_for(test_world::validator(), 1) == 256);
    test_world::golden_registered(world, test_world::golden_opens_at())
}

#[test, expected_failure(abort_code = score_ledger::ETooManyScored)]
fun at_most_the_declared_budget_is_scored() {
    let mut world = golden_with_budget(1);
    world.submit(golden_submit().with_entries(vector[1, 2, 5], vector[0, 1, 0]));
    world.finish();
}

#[test, expected_failure(abort_code = score_ledger::EBudgetNotScored)]
fun attack_stop_early_with_not_evaluated_entries_and_fewer_than_the_budget_scored() {
    // Budget 2, two valid blobs (1 and 5): scoring one and leaving the other
    // `not evaluated` is the operator choosing how many miners count.
    let mut world = golden_with_budget(2);
    world.submit(golden_submit().with_entries(vector[1, 2, 5], vector[0, 1, 4]));
    world.finish();
}

#[test, expected_failure(abort_code = score_ledger::EBudgetNotScored)]
fun attack_score_nobody_and_mark_every_valid_blob_not_evaluated() {
    refused(golden_submit().with_entries(vector[1, 2, 5], vector[4, 1, 4]));
}

#[test, expected_failure(abort_code = score_ledger::EBadSignature)]
fun exactly_the_budget_scored_with_the_rest_not_evaluated_passes_the_budget_check() {
    // Budget 1: uid 1 (first in the seed's order) scored, uid 5 not
    // evaluated. Every check up to the signature passes (the golden
    // signature covers other statuses).
    let mut world = golden_with_budget(1);
    world.submit(golden_submit().with_entries(vector[1, 2, 5], vector[0, 1, 4]));
    world.finish();
}

#[test]
fun fewer_valid_than_the_budget_are_all_scored() {
    // The golden statement scores its only valid blob under budget 256.
    let mut world = test_world::golden();
    world.submit(golden_submit());
    world.finish();
}

#[test, expected_failure(abort_code = score_ledger::EWindowNotScoring)]
fun no_submission_during_uploads() {
    let mut world = test_world::golden_at(true, 42 * 600_000 + 479_999);
    world.submit(golden_submit());
    world.finish();
}

#[test, expected_failure(abort_code = score_ledger::EWindowNotScoring)]
fun no_submission_before_opens_at() {
    // After the deadline but inside the reveal phase and the seed margin.
    let mut world = test_world::golden_at(true, test_world::golden_opens_at() - 1);
    world.submit(golden_submit());
    world.finish();
}

#[test]
fun a_submission_at_opens_at_is_accepted() {
    let mut world = test_world::golden_at(true, test_world::golden_opens_at());
    world.submit(golden_submit());
    world.finish();
}

#[test]
fun a_submission_after_the_old_120_s_phase_inside_the_span_is_accepted() {
    // Window 42 used to close at 43 * 600 000; its span runs to 43's deadline.
    let mut world = test_world::golden();
    world.set_time(43 * 600_000 + 300_000);
    world.submit(golden_submit());
    world.set_time(test_world::golden_scoring_end() - 1);
    world.finish();
}

#[test, expected_failure(abort_code = score_ledger::EWindowNotScoring)]
fun no_submission_at_scoring_end() {
    let mut world = test_world::golden();
    world.set_time(test_world::golden_scoring_end());
    world.submit(golden_submit());
    world.finish();
}

#[test, expected_failure(abort_code = score_ledger::EAlreadySubmitted)]
fun one_submission_per_window() {
    let mut world = test_world::golden();
    world.submit(golden_submit());
    world.submit(golden_submit());
    world.finish();
}

#[test, expected_failure(abort_code = score_ledger::ECheckpointMismatch)]
fun the_checkpoint_is_the_anchor() {
    refused(golden_submit().with_checkpoint(fill(0x12, 32)));
}

#[test, expected_failure(abort_code = round_state::ENoAnchor)]
fun a_window_without_anchor_cannot_be_scored() {
    let mut world = test_world::begin();
    world.register_validator(test_world::validator(), 10_000_000_000);
    world.register_miners(6);
    world.register_test_key(test_world::validator(), test_world::golden_key());
    world.set_time(test_world::golden_opens_at() + 10_000);
    world.submit(golden_submit());
    world.finish();
}

#[test, expected_failure(abort_code = score_ledger::EDatasetRootMismatch)]
fun the_dataset_is_the_network_s() {
    refused(golden_submit().with_dataset_root(fill(0x23, 32)));
}

#[test, expected_failure(abort_code = score_ledger::EBadSeed)]
fun the_seed_is_32_bytes() {
    refused(golden_submit().with_seed(fill(0x44, 31)));
}

#[test, expected_failure(abort_code = score_ledger::EEntriesNotSorted)]
fun entries_ascend() {
    refused(golden_submit().with_entries(vector[5, 1, 2], vector[2, 0, 1]));
}

#[test, expected_failure(abort_code = score_ledger::EEntriesNotSorted)]
fun entries_are_unique() {
    refused(golden_submit().with_entries(vector[1, 1, 5], vector[0, 0, 2]));
}

#[test, expected_failure(abort_code = score_ledger::EBadStatus)]
fun statuses_are_known() {
    refused(golden_submit().with_statuses(vector[0, 5, 2]));
}

#[test, expected_failure(abort_code = score_ledger::ENoCommitment)]
fun entries_name_committed_miners() {
    refused(golden_submit().with_entries(vector[1, 2, 5, 9], vector[0, 1, 2, 1]));
}

#[test, expected_failure(abort_code = score_ledger::ENoCommitment)]
fun a_registered_miner_without_a_commitment_is_not_listed() {
    refused(golden_submit().with_entries(vector[1, 2, 3, 5], vector[0, 1, 1, 2]));
}

#[test, expected_failure(abort_code = score_ledger::ECommitmentNotScored)]
fun every_committed_miner_is_listed() {
    refused(golden_submit().with_entries(vector[1, 2], vector[0, 1]));
}

#[test, expected_failure(abort_code = score_ledger::EBadSignature)]
fun a_tampered_loss_breaks_the_signature() {
    refused(golden_submit().with_loss_after_own(0, 3_000_000_000));
}

#[test, expected_failure(abort_code = score_ledger::EBadSignature)]
fun a_signature_by_another_key_is_refused() {
    refused(golden_submit().with_signature(GOLDEN_SIGNATURE));
}

#[test, expected_failure(abort_code = score_ledger::EBadSignature)]
fun a_window_of_2000_committed_miners_passes_every_check_up_to_the_signature() {
    // 2000 commitments in window 42, all listed: every check runs over 2000
    // entries (2000 commitment lookups, 1990 selection keys) within the test
    // runner's budget; only the signature, made for the golden statement,
    // fails. A budget of 2000 scores every valid one, so no entry is left
    // `not evaluated`.
    let world = test_world::begin_with(test_world::values().with_max_scored(2000));
    let mut world = test_world::golden_from(world, true, test_world::golden_opens_at());
    world.next(test_world::admin());
    let mut gradients = world.scenario().take_shared<GradientRegistry>();
    let mut uid = 6;
    while (uid < 2003) {
        gradients.commit_for_testing(42, uid, fill((uid % 251) as u8, 32));
        uid = uid + 1;
    };
    assert!(gradients.commitment_count(42) == 2000);
    ts::return_shared(gradients);
    let uids = gradients_uids();
    let statuses = vector::tabulate!(2000, |i| if (i < 10) 1 else 0);
    world.submit(golden_submit().with_entries(uids, statuses));
    world.finish();
}

/// Miners 1, 2, 5 of the golden world and 6..2003.
fun gradients_uids(): vector<u64> {
    let mut uids = vector[1, 2, 5];
    let mut uid = 6;
    while (uid < 2003) {
        uids.push_back(uid);
        uid = uid + 1;
    };
    uids
}
