//! The Move tests' golden world on the embedded ledger (see
//! `ledger_rules.rs`), shared by the rule and the attack tests.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use vram_host::chain::types::{HparamValues, SubmitArgs};
use vram_localnet::ledger::{Address, Ledger};
use vram_test_support::golden;

/// Where a test registration says its (simulated) document is.
pub(crate) const TEST_DOCUMENT: vram_host::chain::types::DocumentRef =
    vram_host::chain::types::DocumentRef {
        sha256: [0xdd; 32],
        blob: None,
    };

pub(crate) const VALIDATOR: Address = [0xaa; 32];
pub(crate) const W: u64 = 42;
pub(crate) const START: u64 = W * 600_000;
/// 10 s into window 42's scoring span (it opens 40 s after the deadline).
pub(crate) const SCORING: u64 = START + 530_000;
pub(crate) const GOLDEN_KEY: &str =
    "ea4a6c63e29c520abef5507b132ec5f9954776aebebe7b92421eea691446d22c";

pub(crate) fn submit_signature() -> String {
    golden::submit_signature().unwrap()
}

pub(crate) fn miner(i: u64) -> Address {
    let mut a = [0u8; 32];
    a[31] = 0xb0 + i as u8;
    a
}

pub(crate) fn world(tag: &str, register_key: bool) -> Ledger {
    world_with(tag, register_key, |_| {})
}

/// The golden world with `edit` applied to its Hparams values.
pub(crate) fn world_with(
    tag: &str,
    register_key: bool,
    edit: impl FnOnce(&mut HparamValues),
) -> Ledger {
    // The ledger file outlives this function: keep its folder.
    let path = vram_test_support::TempDir::new(&format!("ledger-{tag}"))
        .unwrap()
        .keep()
        .join("ledger.sqlite");
    let mut ledger = Ledger::open(&path).unwrap();
    let mut values = HparamValues::defaults();
    values.dataset_root = vec![0x22; 32];
    values.dataset_pages = 1000;
    values.dataset_blob = vec![0x44; 32];
    values.checkpoint_frequency = 2;
    edit(&mut values);
    ledger.genesis(values, 0).unwrap();
    ledger
        .register_validator(VALIDATOR, 10_000_000_000, 0)
        .unwrap();
    for i in 0..6 {
        assert_eq!(
            ledger.register_miner(miner(i), 1_000_000_000, 0).unwrap(),
            i
        );
    }
    ledger
        .anchor_checkpoint(2, &[0x11; 32], &[0xab; 32], 0)
        .unwrap();
    if register_key {
        ledger
            .register_test_enclave(
                VALIDATOR,
                &hex::decode(GOLDEN_KEY).unwrap(),
                &TEST_DOCUMENT,
                0,
            )
            .unwrap();
    }
    for uid in [1u64, 2, 5] {
        ledger
            .commit_gradient(
                miner(uid),
                W,
                uid,
                &[0xb0 + uid as u8; 32],
                &[uid as u8; 32],
                START + 1_000,
            )
            .unwrap();
    }
    ledger
}

/// The golden statement's `submit_scores` arguments with its signature.
pub(crate) fn golden_args() -> SubmitArgs {
    let m = golden::submit_message().unwrap();
    let signature = hex::decode(submit_signature()).unwrap();
    SubmitArgs::new(m.timestamp_ms, &m.payload, &signature).unwrap()
}
