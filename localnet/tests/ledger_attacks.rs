//! The chain-side attacks of issue 13 against the embedded ledger, each
//! named after the attack and refused as the Move tests refuse it
//! (`contracts/tests/score_ledger_tests.move`, `round_state_tests.move`,
//! `enclave_registry_tests.move`): picking a key after the deadline,
//! test-mode keys after test mode closed, blocking a window by leaving,
//! anchoring a window in flight, skipping a miner out of the seed's order;
//! and of issue 29: stopping short of the declared budget.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use vram_attestation::statement::{to_bcs, EntryStatus};
use vram_host::chain::aborts::{
    enclave_registry as er, round_state as rs, score_ledger as sl, validator_registry as vr,
};
use vram_host::chain::types::SubmitArgs;
use vram_test_support::golden;

mod golden_world;
use golden_world::*;

/// The golden statement with other statuses for miners 1, 2, 5 (losses
/// only for scored ones), signed by the golden key.
fn signed_with_statuses(statuses: [EntryStatus; 3]) -> SubmitArgs {
    signed_for_budget(statuses, None)
}

/// The golden statement with `statuses`, signed with the eval-params hash of
/// `budget` (the golden one, 256, when `None`).
fn signed_for_budget(statuses: [EntryStatus; 3], budget: Option<u64>) -> SubmitArgs {
    let mut message = golden::submit_message().unwrap();
    if let Some(budget) = budget {
        message.payload.eval_params_hash = budget_hash(budget);
    }
    for (entry, status) in message.payload.entries.iter_mut().zip(statuses) {
        entry.status = status as u8;
        if status == EntryStatus::Missing {
            entry.gradient_hash.clear();
        } else {
            entry.gradient_hash = vec![entry.miner_uid as u8; 32];
        }
        if status != EntryStatus::Scored {
            entry.loss_before_own = 0;
            entry.loss_after_own = 0;
            entry.loss_after_random = 0;
        } else {
            entry.loss_before_own = 4_100_000_000;
            entry.loss_after_own = 4_000_000_000;
            entry.loss_after_random = 4_150_000_000;
        }
    }
    // Signed as raw bytes: a dishonest signer skips the format's checks.
    let bytes = to_bcs(&message).unwrap();
    let signature = golden::golden_key().sign(&bytes);
    SubmitArgs::new(message.timestamp_ms, &message.payload, signature.as_ref()).unwrap()
}

#[test]
fn attack_register_a_key_after_the_upload_deadline_to_score_the_window() {
    // The host ran enclaves until one drew a seed it liked and registered
    // that one during the scoring phase.
    let mut ledger = world("late-key", false);
    ledger
        .register_test_enclave(
            VALIDATOR,
            &hex::decode(GOLDEN_KEY).unwrap(),
            &TEST_DOCUMENT,
            START + 480_000,
        )
        .unwrap();
    let err = ledger
        .submit_scores(VALIDATOR, &golden_args(), SCORING)
        .unwrap_err();
    assert!(er::ENoKeyForWindow.is(&err), "{err}");
}

#[test]
fn attack_register_a_second_enclave_mid_window_leaves_the_first_key_signing() {
    let mut ledger = world("second-key", true);
    ledger
        .register_test_enclave(VALIDATOR, &[9; 32], &TEST_DOCUMENT, START + 490_000)
        .unwrap();
    let (key, test_mode) = ledger
        .signer_for_window(&VALIDATOR, START + 480_000)
        .unwrap();
    assert_eq!(hex::encode(key), GOLDEN_KEY);
    assert!(test_mode);
    // The new key signs from the next window on.
    let (next, _) = ledger
        .signer_for_window(&VALIDATOR, START + 600_000 + 480_000)
        .unwrap();
    assert_eq!(next, vec![9; 32]);
    ledger
        .submit_scores(VALIDATOR, &golden_args(), SCORING)
        .unwrap();
}

#[test]
fn attack_sign_with_a_test_mode_key_after_test_mode_closed() {
    let mut ledger = world("test-closed", true);
    ledger.close_test_mode(START).unwrap();
    let err = ledger
        .submit_scores(VALIDATOR, &golden_args(), SCORING)
        .unwrap_err();
    assert!(er::ETestModeClosed.is(&err), "{err}");
    let err = ledger
        .register_test_enclave(VALIDATOR, &[9; 32], &TEST_DOCUMENT, START)
        .unwrap_err();
    assert!(er::ETestModeClosed.is(&err), "{err}");
}

#[test]
fn submissions_and_their_events_say_a_test_mode_key_signed() {
    let mut ledger = world("test-flag", true);
    let event = ledger
        .submit_scores(VALIDATOR, &golden_args(), SCORING)
        .unwrap();
    assert!(event.test_mode);
    assert!(ledger.submission(W, &VALIDATOR).unwrap().unwrap().test_mode);
    let export = ledger.export().unwrap();
    let submitted = export["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "ScoresSubmitted")
        .unwrap();
    assert_eq!(submitted["event"]["test_mode"], true);
}

#[test]
fn attack_deregister_after_committing_does_not_block_the_window() {
    let mut ledger = world("leave", true);
    assert_eq!(
        ledger.deregister_miner(miner(5), START + 2_000).unwrap(),
        1_000_000_000
    );
    ledger
        .submit_scores(VALIDATOR, &golden_args(), SCORING)
        .unwrap();
    // Its uid is never handed out again.
    assert_eq!(
        ledger
            .register_miner([0x77; 32], 1_000_000_000, START)
            .unwrap(),
        6
    );
}

#[test]
fn attack_anchor_the_current_or_a_past_window() {
    let mut ledger = world("anchor", true);
    let err = ledger
        .anchor_checkpoint(42, &[0x12; 32], &[0xab; 32], START + 1)
        .unwrap_err();
    assert!(rs::EAnchorNotFuture.is(&err), "{err}");
    let err = ledger
        .anchor_checkpoint(40, &[0x12; 32], &[0xab; 32], START)
        .unwrap_err();
    assert!(rs::EAnchorNotFuture.is(&err), "{err}");
    // The next checkpoint window, before it starts, is fine.
    ledger
        .anchor_checkpoint(44, &[0x12; 32], &[0xab; 32], START + 1)
        .unwrap();
}

#[test]
fn a_pcr_update_takes_effect_at_the_next_window_boundary() {
    let mut ledger = world("pcrs", false);
    ledger
        .update_pcrs([&[1; 48], &[2; 48], &[3; 48]], 0)
        .unwrap();
    ledger
        .register_test_enclave(
            VALIDATOR,
            &hex::decode(GOLDEN_KEY).unwrap(),
            &TEST_DOCUMENT,
            0,
        )
        .unwrap();
    // A new image during window 42's scoring: window 42 keeps its key.
    ledger
        .update_pcrs([&[4; 48], &[5; 48], &[6; 48]], SCORING - 1)
        .unwrap();
    ledger
        .submit_scores(VALIDATOR, &golden_args(), SCORING)
        .unwrap();
    let err = ledger
        .signer_for_window(&VALIDATOR, START + 600_000 + 480_000)
        .unwrap_err();
    assert!(er::EStaleEnclave.is(&err), "{err}");
}

/// `hparams::eval_params_hash(42, budget)` of the golden world.
fn budget_hash(budget: u64) -> Vec<u8> {
    world("budget-hash", false)
        .hparams()
        .unwrap()
        .eval_params_hash(W, budget)
        .unwrap()
        .to_vec()
}

/// The golden world with the validator's budget declared as `budget` in
/// window 41 (in force for 42).
fn world_with_budget(tag: &str, budget: u64) -> vram_localnet::ledger::Ledger {
    let mut ledger = world(tag, true);
    ledger
        .set_validator_budget(VALIDATOR, budget, START - 1)
        .unwrap();
    assert_eq!(ledger.validator_budget(&VALIDATOR, W).unwrap(), budget);
    assert_eq!(ledger.validator_budget(&VALIDATOR, W - 1).unwrap(), 256);
    ledger
}

#[test]
fn a_budgeted_statement_in_seed_order_is_accepted() {
    // sha256(0x44.. || le64(1)) < that of uid 5: with a budget of 1,
    // scoring 1 and deferring 5 is the statement.
    let mut ledger = world_with_budget("budget", 1);
    let args = signed_for_budget(
        [
            EntryStatus::Scored,
            EntryStatus::Missing,
            EntryStatus::NotEvaluated,
        ],
        Some(1),
    );
    let event = ledger.submit_scores(VALIDATOR, &args, SCORING).unwrap();
    assert_eq!((event.entries, event.scored), (3, 1));
    let stored = ledger.submission(W, &VALIDATOR).unwrap().unwrap();
    assert_eq!(stored.budget, 1);
}

#[test]
fn attack_stop_early_with_not_evaluated_entries_and_fewer_than_the_budget_scored() {
    // Budget 2 and two valid blobs: one scored and one `not evaluated` is
    // the operator choosing how many count.
    let mut ledger = world_with_budget("stop-early", 2);
    let args = signed_for_budget(
        [
            EntryStatus::Scored,
            EntryStatus::Missing,
            EntryStatus::NotEvaluated,
        ],
        Some(2),
    );
    let err = ledger.submit_scores(VALIDATOR, &args, SCORING).unwrap_err();
    assert!(sl::EBudgetNotScored.is(&err), "{err}");
}

#[test]
fn attack_score_nobody_and_mark_every_valid_blob_not_evaluated() {
    let mut ledger = world("nobody", true);
    let args = signed_with_statuses([
        EntryStatus::NotEvaluated,
        EntryStatus::Missing,
        EntryStatus::NotEvaluated,
    ]);
    let err = ledger.submit_scores(VALIDATOR, &args, SCORING).unwrap_err();
    assert!(sl::EBudgetNotScored.is(&err), "{err}");
}

#[test]
fn at_most_the_declared_budget_is_scored() {
    let mut ledger = world_with_budget("over-budget", 1);
    let args = signed_for_budget(
        [
            EntryStatus::Scored,
            EntryStatus::Missing,
            EntryStatus::Scored,
        ],
        Some(1),
    );
    let err = ledger.submit_scores(VALIDATOR, &args, SCORING).unwrap_err();
    assert!(sl::ETooManyScored.is(&err), "{err}");
}

#[test]
fn a_budget_above_max_scored_or_zero_is_refused() {
    let mut ledger = world("bad-budget", true);
    for budget in [0, 257] {
        let err = ledger
            .set_validator_budget(VALIDATOR, budget, START)
            .unwrap_err();
        assert!(vr::EBadBudget.is(&err), "{err}");
    }
    let err = ledger
        .set_validator_budget([0xbe; 32], 5, START)
        .unwrap_err();
    assert!(vr::ENotValidator.is(&err), "{err}");
}

#[test]
fn attack_skip_a_miner_early_in_the_seed_order() {
    let mut ledger = world("skip", true);
    let args = signed_with_statuses([
        EntryStatus::NotEvaluated,
        EntryStatus::Missing,
        EntryStatus::Scored,
    ]);
    let err = ledger.submit_scores(VALIDATOR, &args, SCORING).unwrap_err();
    assert!(sl::ENotInSeedOrder.is(&err), "{err}");
}

#[test]
fn at_most_max_scored_entries_are_scored() {
    let mut ledger = world_with("max-scored", true, |v| v.max_scored = 1);
    let args = signed_with_statuses([
        EntryStatus::Scored,
        EntryStatus::Missing,
        EntryStatus::Scored,
    ]);
    let err = ledger.submit_scores(VALIDATOR, &args, SCORING).unwrap_err();
    assert!(sl::ETooManyScored.is(&err), "{err}");
}

#[test]
fn attack_sign_over_another_blob_than_the_committed_one() {
    // The chain takes every gradient hash from the commitments: a statement
    // about another blob for miner 1 does not verify.
    let mut ledger = world("substitute", true);
    let mut message = golden::submit_message().unwrap();
    message.payload.entries[0].gradient_hash = vec![0x99; 32];
    let bytes = to_bcs(&message).unwrap();
    let signature = golden::golden_key().sign(&bytes);
    let args = SubmitArgs::new(message.timestamp_ms, &message.payload, signature.as_ref()).unwrap();
    let err = ledger.submit_scores(VALIDATOR, &args, SCORING).unwrap_err();
    assert!(sl::EBadSignature.is(&err), "{err}");
}

#[test]
fn a_window_of_2000_committed_miners_is_submitted() {
    // 2000 commitments (the golden miners 1, 2 and 5 and 1997 more), one
    // statement listing them all: 10 scored in the seed's order, the rest
    // not evaluated or missing. Accepted, within MAX_SUBMIT_ENTRIES.
    let mut ledger = world_with_budget("2000", 10);
    let now = START + 2_000;
    for uid in 6..2003u64 {
        let owner = [
            (uid >> 8) as u8,
            uid as u8,
            0x5e,
            0x11,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            1,
        ];
        assert_eq!(
            ledger.register_miner(owner, 1_000_000_000, now).unwrap(),
            uid
        );
        ledger
            .commit_gradient(owner, W, uid, &[0xcc; 32], &[(uid % 251) as u8; 32], now)
            .unwrap();
    }
    let err = ledger
        .commit_gradient(miner(0), W, 0, &[0xcc; 32], &[0; 32], now)
        .unwrap_err();
    assert!(
        vram_host::chain::aborts::gradient_registry::EWindowFull.is(&err),
        "{err}"
    );
    let mut message = golden::submit_message().unwrap();
    message.payload.eval_params_hash = budget_hash(10);
    let seed = message.payload.eval_seed.clone();
    let mut uids: Vec<u64> = [1u64, 2, 5].into_iter().chain(6..2003).collect();
    uids.sort_unstable();
    let order =
        vram_attestation::statement::seed_order(&seed, uids.iter().copied().filter(|&u| u != 2));
    let scored: Vec<u64> = order.into_iter().take(10).collect();
    message.payload.entries = uids
        .iter()
        .map(|&uid| {
            let status = if uid == 2 {
                EntryStatus::Missing
            } else if scored.contains(&uid) {
                EntryStatus::Scored
            } else {
                EntryStatus::NotEvaluated
            };
            let losses = if status == EntryStatus::Scored {
                [4_100_000_000, 4_000_000_000, 4_150_000_000]
            } else {
                [0; 3]
            };
            let hash = match uid {
                2 => Vec::new(),
                1 | 5 => vec![uid as u8; 32],
                _ => vec![(uid % 251) as u8; 32],
            };
            vram_attestation::statement::ScoreEntry {
                miner_uid: uid,
                gradient_hash: hash,
                status: status as u8,
                loss_before_own: losses[0],
                loss_after_own: losses[1],
                loss_after_random: losses[2],
            }
        })
        .collect();
    let signed =
        vram_attestation::statement::SignedStatement::sign(message, &golden::golden_key()).unwrap();
    let args = SubmitArgs::new(
        signed.message.timestamp_ms,
        &signed.message.payload,
        &signed.signature,
    )
    .unwrap();
    assert_eq!(args.miner_uids.len(), 2000);
    // Each vector argument stays under Sui's 16 KiB pure-argument limit.
    assert!(bcs::to_bytes(&args.losses_after_random).unwrap().len() <= 16 * 1024);
    let event = ledger.submit_scores(VALIDATOR, &args, SCORING).unwrap();
    assert_eq!((event.entries, event.scored), (2000, 10));
}
