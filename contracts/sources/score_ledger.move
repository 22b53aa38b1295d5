// Copyright (c) The VRAM hub authors
// SPDX-License-Identifier: Apache-2.0

/// The score ledger: accepts one signed statement per (window, validator).
///
/// `submit_scores` rebuilds `IntentMessage<WindowScores>` from its arguments and
/// from chain state (the eval-params hash is recomputed from Hparams, never
/// taken from the caller), checks it against what miners and the network
/// committed, and verifies the enclave's Ed25519 signature over its BCS bytes.
/// Entries travel as parallel vectors because one pure argument is capped at
/// 16 KiB: `MAX_ENTRIES` u64s (16 000 bytes and a 2-byte length) fit one
/// argument. Gradient hashes do not travel: each entry's hash is its
/// miner's commitment, read from the window's one commitment list. A
/// 2000-entry submission is about 66 KB of arguments (128 KiB allowed) and
/// loads a handful of dynamic fields (about 1000 allowed).
///
/// The statement lists exactly the miners that committed for the window, each
/// proven by its commitment alone: a miner that deregisters after committing
/// cannot make the window unscorable. Only the key the validator had
/// registered before the window's upload deadline signs for it (see
/// `enclave_registry`), and every submission records whether a test-mode key
/// signed it.
///
/// Budgeted selection (design §4.4): the valid entries are ordered by
/// `sha256(eval_seed || le64(uid))`; the scored ones (status 0) are a prefix of
/// that order exactly `min(K_v, valid)` long, `K_v` being the validator's
/// declared budget for the window; the valid rest are status 4. A statement
/// is accepted from the window's `opens_at_ms` until its `scoring_end_ms`.
///
/// Golden vector: `tests/score_ledger_tests.move` asserts the same BCS hex and
/// signature as the Rust test `attestation/tests/statement.rs`
/// (`golden_window_scores_vector`).
module vramhub::score_ledger;

use std::bcs;
use std::hash;
use sui::clock::Clock;
use sui::ed25519;
use sui::event;
use sui::table::{Self, Table};
use vramhub::enclave_registry::EnclaveConfig;
use vramhub::gradient_registry::{Self, GradientRegistry};
use vramhub::hparams::Hparams;
use vramhub::round_state::{Self, RoundState};
use vramhub::validator_registry::ValidatorRegistry;

// === Errors ===

/// The entry vectors have different lengths.
const ELengthMismatch: u64 = 0;
/// More than `MAX_ENTRIES` entries.
const ETooManyEntries: u64 = 1;
/// The sender may not score this window (not a validator, inside its
/// `validator_offset`, or under-staked).
const ENotValidator: u64 = 2;
/// The window is not in its scoring span (`opens_at_ms` to `scoring_end_ms`).
const EWindowNotScoring: u64 = 3;
/// This validator already submitted for this window.
const EAlreadySubmitted: u64 = 4;
/// The checkpoint is not the latest anchor at or before the window.
const ECheckpointMismatch: u64 = 5;
/// The dataset root is not the one in Hparams.
const EDatasetRootMismatch: u64 = 6;
/// The evaluation seed is not 32 bytes.
const EBadSeed: u64 = 7;
/// Entries are not in strictly ascending miner_uid order.
const EEntriesNotSorted: u64 = 8;
/// A status is not 0..=4.
const EBadStatus: u64 = 9;
/// A scored entry sorts after a not-evaluated one in the seed's order.
const ENotInSeedOrder: u64 = 10;
/// An entry names a miner with no gradient commitment for the window.
const ENoCommitment: u64 = 11;
/// A committed miner is absent from the statement.
const ECommitmentNotScored: u64 = 14;
/// The signature does not verify under the validator's enclave key.
const EBadSignature: u64 = 15;
/// More entries are scored than the validator's budget for the window.
const ETooManyScored: u64 = 16;
/// A valid entry is `not evaluated` while fewer than the validator's budget
/// are scored: a statement scores exactly `min(K_v, valid)`.
const EBudgetNotScored: u64 = 17;

// === Constants ===

/// The intent byte of a window-scores statement.
const INTENT_WINDOW_SCORES: u8 = 1;
/// Entry statuses.
const STATUS_SCORED: u8 = 0;
const STATUS_MISSING: u8 = 1;
const STATUS_NOT_EVALUATED: u8 = 4;
/// u64 vectors of this length stay under the 16 KiB pure-argument limit.
const MAX_ENTRIES: u64 = 2000;
const HASH_LEN: u64 = 32;

// === Structs ===

/// `IntentMessage<T>` as Nautilus defines it; the BCS of this is signed.
public struct IntentMessage<T: drop> has copy, drop {
    intent: u8,
    timestamp_ms: u64,
    payload: T,
}

/// The statement's payload (design.md §4.4). Field order is normative.
public struct WindowScores has copy, drop {
    window: u64,
    validator: address,
    checkpoint_hash: vector<u8>,
    dataset_root: vector<u8>,
    eval_params_hash: vector<u8>,
    eval_seed: vector<u8>,
    loss_before_random: u64,
    entries: vector<ScoreEntry>,
}

/// One miner's result. Losses are mean token cross-entropy times 1e9.
public struct ScoreEntry has copy, drop, store {
    miner_uid: u64,
    gradient_hash: vector<u8>,
    status: u8,
    loss_before_own: u64,
    loss_after_own: u64,
    loss_after_random: u64,
}

/// (window, validator) key.
public struct SubmissionKey has copy, drop, store {
    window: u64,
    validator: address,
}

/// An accepted statement, with the raw losses.
public struct Submission has copy, drop, store {
    enclave_public_key: vector<u8>,
    /// Signed by a test-mode key (simulated NSM, no AWS attestation).
    test_mode: bool,
    timestamp_ms: u64,
    checkpoint_hash: vector<u8>,
    eval_seed: vector<u8>,
    loss_before_random: u64,
    entries: vector<ScoreEntry>,
    signature: vector<u8>,
    submitted_ms: u64,
    /// The validator's budget for the window, which its eval-params hash
    /// binds: an auditor rebuilds the statement from this record alone.
    budget: u64,
}

/// The shared ledger.
public struct ScoreLedger has key {
    id: UID,
    submissions: Table<SubmissionKey, Submission>,
    /// window -> validators that submitted, in order.
    by_window: Table<u64, vector<address>>,
}

// === Events ===

/// A statement was accepted.
public struct ScoresSubmitted has copy, drop {
    window: u64,
    validator: address,
    enclave_public_key: vector<u8>,
    /// Signed by a test-mode key (simulated NSM, no AWS attestation).
    test_mode: bool,
    /// SHA-256 of the signed BCS bytes (what `vram-attest statement show` prints).
    statement_sha256: vector<u8>,
    entries: u64,
    scored: u64,
}

// === Init ===

fun init(ctx: &mut TxContext) {
    transfer::share_object(ScoreLedger {
        id: object::new(ctx),
        submissions: table::new(ctx),
        by_window: table::new(ctx),
    });
}

// === Public Functions ===

/// Verifies and stores one statement. See the module header and
/// `docs/contracts.md` for the checks, in the order they run.
public fun submit_scores(
    self: &mut ScoreLedger,
    enclaves: &EnclaveConfig,
    validators: &ValidatorRegistry,
    gradients: &GradientRegistry,
    rounds: &RoundState,
    hparams: &Hparams,
    window: u64,
    timestamp_ms: u64,
    checkpoint_hash: vector<u8>,
    dataset_root: vector<u8>,
    eval_seed: vector<u8>,
    loss_before_random: u64,
    miner_uids: vector<u64>,
    statuses: vector<u8>,
    losses_before_own: vector<u64>,
    losses_after_own: vector<u64>,
    losses_after_random: vector<u64>,
    signature: vector<u8>,
    clock: &Clock,
    ctx: &mut TxContext,
) {
    let n = miner_uids.length();
    assert!(
        statuses.length() == n && losses_before_own.length() == n
            && losses_after_own.length() == n && losses_after_random.length() == n,
        ELengthMismatch,
    );
    assert!(n <= MAX_ENTRIES, ETooManyEntries);

    let validator = ctx.sender();
    assert!(validators.can_score(hparams, validator, window), ENotValidator);
    assert!(round_state::is_scoring(hparams, window, clock), EWindowNotScoring);
    let deadline = round_state::upload_deadline_ms(hparams, window);
    let (public_key, test_mode) = enclaves.signer_for_window(validator, deadline);
    let key = SubmissionKey { window, validator };
    assert!(!self.submissions.contains(key), EAlreadySubmitted);

    let (_, anchored) = rounds.latest_anchor(window);
    assert!(checkpoint_hash == anchored, ECheckpointMismatch);
    assert!(&dataset_root == hparams.for_window(window).dataset_root(), EDatasetRootMismatch);
    assert!(eval_seed.length() == HASH_LEN, EBadSeed);

    let budget = validators.budget_for_window(hparams, validator, window);
    let entries = build_entries(
        gradients,
        window,
        budget,
        &eval_seed,
        &miner_uids,
        &statuses,
        &losses_before_own,
        &losses_after_own,
        &losses_after_random,
    );

    let message = IntentMessage {
        intent: INTENT_WINDOW_SCORES,
        timestamp_ms,
        payload: WindowScores {
            window,
            validator,
            checkpoint_hash,
            dataset_root,
            eval_params_hash: hparams.eval_params_hash(window, budget),
            eval_seed,
            loss_before_random,
            entries,
        },
    };
    let bytes = bcs::to_bytes(&message);
    assert!(ed25519::ed25519_verify(&signature, &public_key, &bytes), EBadSignature);

    let scored = count_scored(&entries);
    self
        .submissions
        .add(
            key,
            Submission {
                enclave_public_key: public_key,
                test_mode,
                timestamp_ms,
                checkpoint_hash,
                eval_seed,
                loss_before_random,
                entries,
                signature,
                submitted_ms: clock.timestamp_ms(),
                budget,
            },
        );
    if (!self.by_window.contains(window)) self.by_window.add(window, vector[]);
    self.by_window.borrow_mut(window).push_back(validator);
    event::emit(ScoresSubmitted {
        window,
        validator,
        enclave_public_key: public_key,
        test_mode,
        statement_sha256: hash::sha2_256(bytes),
        entries: n,
        scored,
    });
}

/// Whether `validator` submitted for `window`.
public fun has_submitted(self: &ScoreLedger, window: u64, validator: address): bool {
    self.submissions.contains(SubmissionKey { window, validator })
}

/// The accepted submission of `validator` for `window`.
public fun submission(self: &ScoreLedger, window: u64, validator: address): &Submission {
    self.submissions.borrow(SubmissionKey { window, validator })
}

/// The validators that submitted for `window`, in order.
public fun submitters(self: &ScoreLedger, window: u64): vector<address> {
    if (self.by_window.contains(window)) *self.by_window.borrow(window)
    else vector[]
}

/// The stored entries.
public fun entries(s: &Submission): &vector<ScoreEntry> { &s.entries }

/// The key that signed the submission.
public fun enclave_public_key(s: &Submission): &vector<u8> { &s.enclave_public_key }

/// Whether a test-mode key signed the submission.
public fun is_test_mode(s: &Submission): bool { s.test_mode }

/// Base loss on the shared random pages.
public fun loss_before_random(s: &Submission): u64 { s.loss_before_random }

/// The budget the statement was scored with (its eval params bind it).
public fun budget(s: &Submission): u64 { s.budget }

public fun miner_uid(e: &ScoreEntry): u64 { e.miner_uid }

public fun status(e: &ScoreEntry): u8 { e.status }

public fun gradient_hash(e: &ScoreEntry): &vector<u8> { &e.gradient_hash }

public fun loss_before_own(e: &ScoreEntry): u64 { e.loss_before_own }

public fun loss_after_own(e: &ScoreEntry): u64 { e.loss_after_own }

public fun loss_after_random(e: &ScoreEntry): u64 { e.loss_after_random }

// === Private Functions ===

/// Checks the entries against the window's commitments and builds them:
/// each entry's miner committed for the window (its commitment alone proves
/// the entry) and gives the entry its gradient hash (none when missing); the
/// entries are exactly the committed miners; the scored ones are a prefix of
/// the seed's order, exactly `budget` long when any valid one is left.
fun build_entries(
    gradients: &GradientRegistry,
    window: u64,
    budget: u64,
    eval_seed: &vector<u8>,
    miner_uids: &vector<u64>,
    statuses: &vector<u8>,
    losses_before_own: &vector<u64>,
    losses_after_own: &vector<u64>,
    losses_after_random: &vector<u64>,
): vector<ScoreEntry> {
    let n = miner_uids.length();
    let mut entries = vector[];
    if (n == 0) {
        assert!(gradients.commitment_count(window) == 0, ECommitmentNotScored);
        return entries
    };
    assert!(gradients.has_window(window), ENoCommitment);
    let committed = gradients.borrow_window(window);
    let mut scored = 0;
    // The largest selection key among scored entries, the smallest among
    // not-evaluated ones.
    let mut last_scored: Option<vector<u8>> = option::none();
    let mut first_unscored: Option<vector<u8>> = option::none();
    let mut i = 0;
    while (i < n) {
        let uid = miner_uids[i];
        assert!(i == 0 || miner_uids[i - 1] < uid, EEntriesNotSorted);
        let status = statuses[i];
        assert!(status <= STATUS_NOT_EVALUATED, EBadStatus);
        let (found, at) = gradient_registry::position(committed, uid);
        assert!(found, ENoCommitment);
        let gradient_hash = if (status == STATUS_MISSING) {
            vector[]
        } else {
            *committed[at].commitment_of().sha256()
        };
        if (status == STATUS_SCORED || status == STATUS_NOT_EVALUATED) {
            let key = selection_key(eval_seed, uid);
            if (status == STATUS_SCORED) {
                scored = scored + 1;
                if (last_scored.is_none() || less(last_scored.borrow(), &key)) {
                    last_scored = option::some(key);
                };
            } else if (first_unscored.is_none() || less(&key, first_unscored.borrow())) {
                first_unscored = option::some(key);
            };
        };
        entries.push_back(ScoreEntry {
            miner_uid: uid,
            gradient_hash,
            status,
            loss_before_own: losses_before_own[i],
            loss_after_own: losses_after_own[i],
            loss_after_random: losses_after_random[i],
        });
        i = i + 1;
    };
    assert!(n == committed.length(), ECommitmentNotScored);
    assert!(scored <= budget, ETooManyScored);
    if (last_scored.is_some() && first_unscored.is_some()) {
        assert!(less(last_scored.borrow(), first_unscored.borrow()), ENotInSeedOrder);
    };
    assert!(first_unscored.is_none() || scored == budget, EBudgetNotScored);
    entries
}

/// `sha256(eval_seed || le64(uid))`: the order in which a window's valid
/// blobs are evaluated.
fun selection_key(eval_seed: &vector<u8>, uid: u64): vector<u8> {
    let mut bytes = *eval_seed;
    bytes.append(bcs::to_bytes(&uid));
    hash::sha2_256(bytes)
}

/// Lexicographic `a < b` on equal-length byte strings.
fun less(a: &vector<u8>, b: &vector<u8>): bool {
    let mut i = 0;
    while (i < a.length()) {
        if (a[i] != b[i]) return a[i] < b[i];
        i = i + 1;
    };
    false
}

fun count_scored(entries: &vector<ScoreEntry>): u64 {
    let mut scored = 0;
    let mut i = 0;
    while (i < entries.length()) {
        if (entries[i].status == STATUS_SCORED) {
            scored = scored + 1;
        };
        i = i + 1;
    };
    scored
}

// === Test Only ===

#[test_only]
public fun init_for_testing(ctx: &mut TxContext) {
    init(ctx)
}

#[test_only]
/// The BCS bytes a statement with these fields signs (golden-vector tests).
public fun statement_bytes_for_testing(
    timestamp_ms: u64,
    window: u64,
    validator: address,
    checkpoint_hash: vector<u8>,
    dataset_root: vector<u8>,
    eval_params_hash: vector<u8>,
    eval_seed: vector<u8>,
    loss_before_random: u64,
    entries: vector<ScoreEntry>,
): vector<u8> {
    bcs::to_bytes(
        &IntentMessage {
            intent: INTENT_WINDOW_SCORES,
            timestamp_ms,
            payload: WindowScores {
                window,
                validator,
                checkpoint_hash,
                dataset_root,
                eval_params_hash,
                eval_seed,
                loss_before_random,
                entries,
            },
        },
    )
}

#[test_only]
public fun new_entry_for_testing(
    miner_uid: u64,
    gradient_hash: vector<u8>,
    status: u8,
    loss_before_own: u64,
    loss_after_own: u64,
    loss_after_random: u64,
): ScoreEntry {
    ScoreEntry {
        miner_uid,
        gradient_hash,
        status,
        loss_before_own,
        loss_after_own,
        loss_after_random,
    }
}
