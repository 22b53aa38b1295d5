//! The golden world shared with the Move tests: the key of seed 0x07 × 32
//! and the statement `contracts/tests/test_world.move` submits (window 42,
//! validator 0xaa…aa, miners 1 scored, 2 missing, 5 malformed), with the
//! eval-params hash the contract recomputes from the default Hparams. The
//! byte vectors themselves are read from the Move sources.

use ring::signature::Ed25519KeyPair;
use vram_attestation::statement::{
    EntryStatus, IntentMessage, ScoreEntry, WindowScores, INTENT_WINDOW_SCORES,
};

use crate::move_source::{MovePackage, Result};

/// The golden key's seed.
pub const GOLDEN_SEED: [u8; 32] = [7; 32];

/// The golden key: seed 0x07 × 32.
pub fn golden_key() -> Ed25519KeyPair {
    // A 32-byte seed is always a valid Ed25519 seed.
    match Ed25519KeyPair::from_seed_unchecked(&GOLDEN_SEED) {
        Ok(key) => key,
        Err(_) => unreachable!("a 32-byte seed"),
    }
}

/// The byte-string constant `module::name` of the project's Move package,
/// as hex: the vectors shared with the Move tests are written once, in Move.
pub fn move_hex(module: &str, name: &str) -> Result<String> {
    Ok(hex::encode(MovePackage::contracts()?.bytes(module, name)?))
}

/// `sha256(bcs(EvalParams))` of the default Hparams
/// (`contracts/tests/hparams_tests.move`, `EVAL_PARAMS_HASH`).
pub fn eval_params_hash() -> Result<String> {
    move_hex("hparams_tests", "EVAL_PARAMS_HASH")
}

/// The golden key's signature of [`submit_message`]
/// (`contracts/tests/test_world.move`, `SUBMIT_SIGNATURE`).
pub fn submit_signature() -> Result<String> {
    move_hex("test_world", "SUBMIT_SIGNATURE")
}

/// The golden statement as `submit_scores` rebuilds it.
pub fn submit_message() -> Result<IntentMessage<WindowScores>> {
    let eval_params_hash =
        hex::decode(eval_params_hash()?).map_err(|_| crate::Error::WrongKind {
            module: "hparams_tests".into(),
            name: "EVAL_PARAMS_HASH".into(),
            wanted: "hex",
            found: "not hex".into(),
        })?;
    Ok(golden_message(eval_params_hash))
}

/// The golden statement with `eval_params_hash`: window 42, validator
/// 0xaa…aa, checkpoint 0x11…, dataset 0x22…, seed 0x44…, miners 1 (scored),
/// 2 (missing) and 5 (malformed). `GOLDEN_BCS` of the Move tests is this
/// with 0x33 × 32 as the hash.
pub fn golden_message(eval_params_hash: Vec<u8>) -> IntentMessage<WindowScores> {
    let entry = |uid: u64, status: EntryStatus, l: [u64; 3]| ScoreEntry {
        miner_uid: uid,
        gradient_hash: if status == EntryStatus::Missing {
            vec![]
        } else {
            vec![uid as u8; 32]
        },
        status: status as u8,
        loss_before_own: l[0],
        loss_after_own: l[1],
        loss_after_random: l[2],
    };
    IntentMessage {
        intent: INTENT_WINDOW_SCORES,
        timestamp_ms: 1_763_700_000_000,
        payload: WindowScores {
            window: 42,
            validator: [0xaa; 32],
            checkpoint_hash: vec![0x11; 32],
            dataset_root: vec![0x22; 32],
            eval_params_hash,
            eval_seed: vec![0x44; 32],
            loss_before_random: 4_200_000_000,
            entries: vec![
                entry(
                    1,
                    EntryStatus::Scored,
                    [4_100_000_000, 4_000_000_000, 4_150_000_000],
                ),
                entry(2, EntryStatus::Missing, [0, 0, 0]),
                entry(5, EntryStatus::Malformed, [0, 0, 0]),
            ],
        },
    }
}
