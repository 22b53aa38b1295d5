//! The embedded ledger enforces the Move package's rules with the same
//! aborts. The scenario is the Move tests' golden world (window 42, validator
//! 0xaa..aa, miners 0..=5, miners 1, 2 and 5 committed, checkpoint 0x11..
//! anchored at window 2 before it started, checkpoints every 2 windows,
//! dataset 0x22.., the golden key registered at time 0), and the signature
//! accepted here is the one `contracts/tests/test_world.move` submits: both
//! sides take the same bytes. The attacks of `ledger_attacks.rs` run on the
//! same world.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use vram_host::chain::aborts::{
    enclave_registry as er, gradient_registry as gr, round_state as rs, score_ledger as sl,
    validator_registry as vr, Abort,
};
use vram_host::chain::types::{HparamValues, SubmitArgs};

mod golden_world;
use golden_world::*;

fn refused(abort: Abort, tag: &str, change: impl FnOnce(&mut SubmitArgs)) {
    let mut ledger = world(tag, true);
    let mut args = golden_args();
    change(&mut args);
    let err = ledger.submit_scores(VALIDATOR, &args, SCORING).unwrap_err();
    assert!(abort.is(&err), "{tag}: expected {abort:?}, got {err}");
}

#[test]
fn the_move_tests_signed_statement_is_accepted_once() {
    let mut ledger = world("accept", true);
    let event = ledger
        .submit_scores(VALIDATOR, &golden_args(), SCORING)
        .unwrap();
    assert_eq!((event.entries, event.scored), (3, 1));
    let stored = ledger.submission(W, &VALIDATOR).unwrap().unwrap();
    assert_eq!(hex::encode(stored.signature), submit_signature());
    let again = ledger
        .submit_scores(VALIDATOR, &golden_args(), SCORING + 1)
        .unwrap_err();
    assert!(sl::EAlreadySubmitted.is(&again), "{again}");
    assert_eq!(ledger.submissions().unwrap().len(), 1);
}

#[test]
fn a_statement_from_an_unregistered_key_is_refused() {
    let mut ledger = world("nokey", false);
    let err = ledger
        .submit_scores(VALIDATOR, &golden_args(), SCORING)
        .unwrap_err();
    assert!(er::ENoEnclave.is(&err), "{err}");
    // Another key registered before the deadline: the signature does not
    // verify under it.
    ledger
        .register_test_enclave(VALIDATOR, &[9; 32], &TEST_DOCUMENT, 0)
        .unwrap();
    let err = ledger
        .submit_scores(VALIDATOR, &golden_args(), SCORING)
        .unwrap_err();
    assert!(sl::EBadSignature.is(&err), "{err}");
    // The first image applies at once: the test key (registered for "no
    // image") is stale.
    ledger
        .update_pcrs([&[1; 48], &[2; 48], &[3; 48]], SCORING)
        .unwrap();
    let err = ledger
        .submit_scores(VALIDATOR, &golden_args(), SCORING)
        .unwrap_err();
    assert!(er::EStaleEnclave.is(&err), "{err}");
}

#[test]
fn tampered_entries_are_refused() {
    refused(sl::EBadSignature, "tamper-loss", |a| {
        a.losses_after_own[0] -= 1
    });
    refused(sl::EBadSignature, "tamper-status", |a| {
        a.statuses[2] = 3;
    });
    refused(sl::EBadSignature, "tamper-seed", |a| a.eval_seed[0] ^= 1);
}

#[test]
fn the_checkpoint_must_be_the_anchor() {
    refused(sl::ECheckpointMismatch, "ckpt", |a| {
        a.checkpoint_hash = vec![0x12; 32]
    });
}

#[test]
fn the_entries_are_exactly_the_window_s_commitments() {
    refused(sl::ENoCommitment, "nocommit", |a| {
        a.miner_uids = vec![1, 2, 3];
    });
    refused(sl::ECommitmentNotScored, "omitted", |a| {
        a.miner_uids.truncate(2);
        a.statuses.truncate(2);
        a.losses_before_own.truncate(2);
        a.losses_after_own.truncate(2);
        a.losses_after_random.truncate(2);
    });
}

#[test]
fn late_and_early_submissions_are_refused() {
    let mut ledger = world("late", true);
    // During uploads, and after the deadline but before opens_at (the
    // reveal phase and the seed margin, 40 s).
    for now in [START + 479_999, START + 480_000, START + 519_999] {
        let err = ledger
            .submit_scores(VALIDATOR, &golden_args(), now)
            .unwrap_err();
        assert!(sl::EWindowNotScoring.is(&err), "{err}");
    }
    // At scoring_end (the next window's upload deadline).
    let err = ledger
        .submit_scores(VALIDATOR, &golden_args(), START + 600_000 + 480_000)
        .unwrap_err();
    assert!(sl::EWindowNotScoring.is(&err), "{err}");
}

#[test]
fn a_submission_at_opens_at_is_accepted() {
    let mut ledger = world("opens-at", true);
    ledger
        .submit_scores(VALIDATOR, &golden_args(), START + 520_000)
        .unwrap();
}

#[test]
fn a_submission_after_the_old_120_s_phase_inside_the_span_is_accepted() {
    // Window 42 used to close at 43 * 600 000; its span runs to 43's deadline.
    let mut ledger = world("span", true);
    ledger
        .submit_scores(VALIDATOR, &golden_args(), START + 600_000 + 300_000)
        .unwrap();
    let stored = ledger.submission(W, &VALIDATOR).unwrap().unwrap();
    assert_eq!(stored.budget, 256);
}

#[test]
fn an_hparams_update_that_puts_two_windows_in_flight_is_refused() {
    let mut ledger = world("overlap", true);
    let mut halved = ledger.hparams().unwrap().segments[0].values.clone();
    halved.window_duration_ms = 300_000;
    halved.put_window_open_ms = 200_000;
    halved.scoring_span_ms = 300_000;
    let err = ledger
        .update_hparams(halved.clone(), 5 * 600_000 + 10)
        .unwrap_err();
    assert!(
        vram_host::chain::aborts::hparams::EWindowsOverlap.is(&err),
        "{err}"
    );
    // The span first, then the window: accepted.
    let mut short_span = ledger.hparams().unwrap().segments[0].values.clone();
    short_span.scoring_span_ms = 300_000;
    ledger.update_hparams(short_span, 5 * 600_000 + 10).unwrap();
    ledger.update_hparams(halved, 6 * 600_000 + 10).unwrap();
}

#[test]
fn the_remaining_checks_keep_the_move_order() {
    refused(sl::ELengthMismatch, "len", |a| {
        a.statuses.pop();
    });
    refused(sl::EDatasetRootMismatch, "root", |a| {
        a.dataset_root = vec![0x23; 32]
    });
    refused(sl::EBadSeed, "seed", |a| {
        a.eval_seed.pop().map(|_| ()).unwrap_or(())
    });
    refused(sl::EEntriesNotSorted, "sorted", |a| {
        a.miner_uids = vec![1, 1, 5]
    });
    refused(sl::EBadStatus, "status", |a| a.statuses[1] = 5);
    refused(sl::ENoCommitment, "uncommitted", |a| {
        a.miner_uids = vec![1, 2, 9]
    });
    // Miner 1 sorts before miner 5 in the seed's order (0x44..44).
    refused(sl::ENotInSeedOrder, "seed-order", |a| {
        a.statuses = vec![4, 1, 0];
        a.losses_before_own = vec![0, 0, 4_100_000_000];
    });
    let mut ledger = world("notvalidator", true);
    let err = ledger
        .submit_scores([0xbe; 32], &golden_args(), SCORING)
        .unwrap_err();
    assert!(sl::ENotValidator.is(&err), "{err}");
}

#[test]
fn registries_and_commitments_follow_their_modules() {
    let mut ledger = world("registries", true);
    let err = ledger
        .register_validator(VALIDATOR, 10_000_000_000, 0)
        .unwrap_err();
    assert!(vr::EAlreadyRegistered.is(&err));
    let err = ledger.register_validator([1; 32], 1, 0).unwrap_err();
    assert!(vr::EInsufficientStake.is(&err));
    let err = ledger
        .commit_gradient(miner(2), W, 1, &[0; 32], &[0; 32], START + 1)
        .unwrap_err();
    assert!(gr::ENotOwner.is(&err));
    let err = ledger
        .commit_gradient(miner(1), W, 1, &[0; 32], &[0; 32], START + 2)
        .unwrap_err();
    assert!(gr::EAlreadyCommitted.is(&err));
    let err = ledger
        .commit_gradient(miner(2), W, 2, &[0; 32], &[0; 32], START + 480_000)
        .unwrap_err();
    assert!(gr::EUploadClosed.is(&err));
    let err = ledger
        .commit_gradient(miner(2), W + 1, 2, &[0; 32], &[0; 32], START + 3)
        .unwrap_err();
    assert!(gr::EWrongWindow.is(&err));
    let err = ledger
        .anchor_checkpoint(2, &[0x12; 32], &[0xab; 32], 0)
        .unwrap_err();
    assert!(rs::ENotAscending.is(&err));
    let err = ledger
        .anchor_checkpoint(43, &[0x12; 32], &[0xab; 32], START)
        .unwrap_err();
    assert!(rs::ENotCheckpointWindow.is(&err), "{err}");
    let err = ledger
        .anchor_checkpoint(200, &[0x12; 32], &[0xab; 32], START)
        .unwrap_err();
    assert!(rs::EAnchorNotFuture.is(&err));
    assert!(ledger.latest_anchor(2).is_ok());
    let export = ledger.export().unwrap();
    assert_eq!(export["commitments"].as_array().unwrap().len(), 3);
}

#[test]
fn hparams_updates_apply_from_the_next_window_like_the_move_module() {
    let mut ledger = world("hparams", true);
    let mut values = HparamValues::defaults();
    values.dataset_root = vec![0x23; 32];
    values.dataset_pages = 7;
    values.dataset_blob = vec![0x44; 32];
    values.scoring_span_ms = 300_000;
    // During window 5: applies from window 6, which still starts at 6 * 600 000.
    ledger
        .update_hparams(values.clone(), 5 * 600_000 + 10)
        .unwrap();
    // During window 6, with window 6 scored for 300 s only: the window
    // halves from window 7.
    values.window_duration_ms = 300_000;
    values.put_window_open_ms = 200_000;
    ledger
        .update_hparams(values.clone(), 6 * 600_000 + 10)
        .unwrap();
    let hp = ledger.hparams().unwrap();
    assert_eq!(hp.version, 3);
    assert_eq!(hp.segment_for_window(5).unwrap().values.dataset_pages, 1000);
    assert_eq!(hp.segment_for_window(6).unwrap().values.dataset_pages, 7);
    assert_eq!(hp.window_start_ms(6), Some(3_600_000));
    assert_eq!(hp.window_start_ms(7), Some(4_200_000));
    assert_eq!(hp.window_start_ms(8), Some(4_500_000));
    assert_eq!(hp.window_at(4_499_999), 7);
    // Values the Move module refuses are refused with its aborts.
    let mut bad = values.clone();
    bad.put_window_open_ms = bad.window_duration_ms;
    let err = ledger.update_hparams(bad, 5 * 600_000 + 20).unwrap_err();
    assert!(
        vram_host::chain::aborts::hparams::EInvalidValue.is(&err),
        "{err}"
    );
    let err = ledger
        .update_hparams(HparamValues::defaults(), 5 * 600_000 + 30)
        .unwrap_err();
    assert!(
        vram_host::chain::aborts::hparams::EBadDatasetRoot.is(&err),
        "{err}"
    );
    let mut no_blob = values.clone();
    no_blob.dataset_blob = vec![1, 2];
    let err = ledger
        .update_hparams(no_blob, 5 * 600_000 + 40)
        .unwrap_err();
    assert!(
        vram_host::chain::aborts::hparams::EBadDatasetBlob.is(&err),
        "{err}"
    );
    // Every segment is kept: window 0's values are still the genesis ones.
    ledger.update_hparams(values.clone(), 9 * 600_000).unwrap();
    let hp = ledger.hparams().unwrap();
    assert_eq!(hp.segments.len(), 4);
    assert_eq!(hp.values(0).unwrap().dataset_pages, 1000);
}

#[test]
fn a_non_validator_is_refused_before_the_window_s_hparams_are_read() {
    // Move's `can_score` reads the window's Hparams only for a registered
    // validator past its offset: a stranger gets ENotValidator whatever
    // the window.
    let mut ledger = world("order", true);
    let mut values = HparamValues::defaults();
    values.dataset_root = vec![0x22; 32];
    values.dataset_pages = 1000;
    values.dataset_blob = vec![0x44; 32];
    ledger.update_hparams(values.clone(), 5 * 600_000).unwrap();
    ledger.update_hparams(values, 10 * 600_000).unwrap();
    let mut args = golden_args();
    args.window = 3;
    let err = ledger
        .submit_scores([0xbe; 32], &args, 3 * 600_000 + 500_000)
        .unwrap_err();
    assert!(sl::ENotValidator.is(&err), "{err}");
    // The window's Hparams are still held (every segment is kept), so the
    // validator's statement gets past them to the anchor check.
    let err = ledger
        .submit_scores(VALIDATOR, &args, 3 * 600_000 + 500_000)
        .unwrap_err();
    assert!(
        !vram_host::chain::aborts::hparams::EWindowBeforeSchedule.is(&err),
        "{err}"
    );
}

#[test]
fn stake_changes_and_leaving_follow_the_registries() {
    let mut ledger = world("stake", true);
    ledger
        .add_validator_stake(VALIDATOR, 5_000_000_000, START)
        .unwrap();
    let err = ledger
        .add_validator_stake([0xbe; 32], 1, START)
        .unwrap_err();
    assert!(vr::ENotValidator.is(&err), "{err}");
    assert_eq!(
        ledger.deregister_validator(VALIDATOR, START).unwrap(),
        15_000_000_000
    );
    // Gone: it may no longer score.
    let err = ledger
        .submit_scores(VALIDATOR, &golden_args(), SCORING)
        .unwrap_err();
    assert!(sl::ENotValidator.is(&err), "{err}");
    let err = ledger.deregister_miner([0xbe; 32], START).unwrap_err();
    assert!(
        vram_host::chain::aborts::peer_registry::ENotMiner.is(&err),
        "{err}"
    );
    // Governance retires an enclave; the validator removes its own.
    let mut ledger = world("retire", true);
    ledger.remove_enclave(VALIDATOR, true, START).unwrap();
    let err = ledger.remove_enclave(VALIDATOR, false, START).unwrap_err();
    assert!(er::ENoEnclave.is(&err), "{err}");
}
