//! The golden world shared by the host's integration tests and the Move
//! tests: the statement the Move tests submit (window 42, validator
//! 0xaa..aa, entries for miners 1, 2 and 5), its `submit_scores` arguments,
//! and the deployment the TypeScript golden transactions use.

#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use ring::signature::Ed25519KeyPair;
use vram_attestation::statement::{
    EntryStatus, IntentMessage, ScoreEntry, WindowScores, INTENT_WINDOW_SCORES,
};
use vram_host::chain::sui_tx::{Deployment, SharedObject};
use vram_host::chain::types::SubmitArgs;

/// The byte-string constant `module::name` of the Move package, as hex: the
/// vectors shared with the Move tests are written once, in Move.
pub fn move_hex(module: &str, name: &str) -> String {
    let package = vram_test_support::MovePackage::contracts().unwrap();
    hex::encode(package.bytes(module, name).unwrap())
}

/// `sha256(bcs(EvalParams))` of the default Hparams
/// (`contracts/tests/hparams_tests.move`, `EVAL_PARAMS_HASH`).
pub fn eval_params_hash() -> String {
    move_hex("hparams_tests", "EVAL_PARAMS_HASH")
}

/// The golden key's signature of [`submit_message`]
/// (`contracts/tests/test_world.move`, `SUBMIT_SIGNATURE`).
pub fn submit_signature() -> String {
    move_hex("test_world", "SUBMIT_SIGNATURE")
}

/// The golden key: seed 0x07 * 32.
pub fn golden_key() -> Ed25519KeyPair {
    Ed25519KeyPair::from_seed_unchecked(&[7u8; 32]).unwrap()
}

/// The golden statement with the eval-params hash the contract recomputes.
pub fn submit_message() -> IntentMessage<WindowScores> {
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
            eval_params_hash: hex::decode(eval_params_hash()).unwrap(),
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

/// The `submit_scores` arguments of [`submit_message`], with its signature.
pub fn golden_args() -> SubmitArgs {
    let m = submit_message();
    SubmitArgs::new(
        m.timestamp_ms,
        &m.payload,
        &hex::decode(submit_signature()).unwrap(),
    )
    .unwrap()
}

/// A shared object of the fixed deployment.
pub fn shared(byte: u8, version: u64) -> SharedObject {
    SharedObject {
        id: [byte; 32],
        initial_shared_version: version,
    }
}

/// The deployment of `tests/fixtures/sui/deployment.json`.
pub fn deployment() -> Deployment {
    Deployment {
        package: [0xa1; 32],
        enclave_config: shared(0xe1, 11),
        validators: shared(0xe2, 12),
        ledger: shared(0xe3, 13),
        peers: shared(0xe4, 14),
        gradients: shared(0xe5, 15),
        rounds: shared(0xe6, 16),
        hparams: shared(0xe7, 17),
    }
}
