//! Every constant that Rust and the Move package must agree on, read from the
//! Move sources themselves: the abort table (each module's `const E…: u64`),
//! the entry statuses, the statement's intent and the entry cap. The byte
//! vectors (golden statement, signatures, layouts, attestation fixtures) are
//! checked where their Rust twins are built: `attestation/tests/statement.rs`
//! and `contract_layouts.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;

use vram_attestation::statement::{EntryStatus, INTENT_WINDOW_SCORES};
use vram_host::chain::aborts::{self, Abort};
use vram_host::chain::types::MAX_SUBMIT_ENTRIES;
use vram_test_support::MovePackage;

/// The Rust abort table, module by module.
fn rust_aborts() -> BTreeMap<&'static str, &'static [Abort]> {
    [
        ("hparams", aborts::hparams::ALL),
        ("round_state", aborts::round_state::ALL),
        ("validator_registry", aborts::validator_registry::ALL),
        ("peer_registry", aborts::peer_registry::ALL),
        ("gradient_registry", aborts::gradient_registry::ALL),
        ("enclave_registry", aborts::enclave_registry::ALL),
        ("score_ledger", aborts::score_ledger::ALL),
    ]
    .into_iter()
    .collect()
}

/// A Move error constant by the framework's convention: `E` then a
/// CamelCase name (`EBadSeed`), unlike other constants (`ED25519_KEY_LEN`).
fn is_error_constant(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next() == Some('E')
        && chars.next().is_some_and(|c| c.is_ascii_uppercase())
        && !name.contains('_')
        && name.chars().any(|c| c.is_ascii_lowercase())
}

#[test]
fn the_abort_table_is_the_move_package_s() {
    let package = MovePackage::contracts().unwrap();
    let rust = rust_aborts();
    let mut move_modules = Vec::new();
    for module in package
        .modules()
        .filter(|m| m.path.parent().is_some_and(|p| p.ends_with("sources")))
    {
        let from_move: BTreeMap<String, u128> = module.integers(is_error_constant);
        if from_move.is_empty() {
            continue;
        }
        move_modules.push(module.name.as_str());
        let table = rust
            .get(module.name.as_str())
            .unwrap_or_else(|| panic!("no Rust abort table for Move module {}", module.name));
        let from_rust: BTreeMap<String, u128> = table
            .iter()
            .map(|a| {
                assert_eq!(
                    a.module, module.name,
                    "{} filed under {}",
                    a.name, module.name
                );
                (a.name.to_owned(), u128::from(a.code))
            })
            .collect();
        assert_eq!(
            from_rust,
            from_move,
            "chain/aborts.rs disagrees with {}",
            module.path.display()
        );
    }
    let rust_modules: Vec<&str> = rust.keys().copied().collect();
    move_modules.sort_unstable();
    assert_eq!(
        rust_modules, move_modules,
        "the Rust table covers exactly the Move modules with aborts"
    );
}

#[test]
fn entry_statuses_are_the_move_package_s() {
    let package = MovePackage::contracts().unwrap();
    let statuses = package
        .module("score_ledger")
        .unwrap()
        .integers(|n| n.starts_with("STATUS_"));
    assert!(!statuses.is_empty());
    for (name, value) in &statuses {
        let word = name.trim_start_matches("STATUS_").to_ascii_lowercase();
        let rust = u8::try_from(*value)
            .ok()
            .and_then(EntryStatus::from_u8)
            .unwrap_or_else(|| panic!("Move {name} = {value} is no Rust EntryStatus"));
        assert_eq!(rust.as_str(), word, "Move {name} = {value}");
    }
    // `submit_scores` accepts every status up to STATUS_NOT_EVALUATED:
    // exactly the statuses Rust knows.
    let highest = statuses["STATUS_NOT_EVALUATED"];
    for v in 0..=255u8 {
        assert_eq!(
            EntryStatus::from_u8(v).is_some(),
            u128::from(v) <= highest,
            "status {v}"
        );
    }
}

#[test]
fn statement_intent_and_entry_cap_are_the_move_package_s() {
    let package = MovePackage::contracts().unwrap();
    assert_eq!(
        package
            .integer("score_ledger", "INTENT_WINDOW_SCORES")
            .unwrap(),
        u128::from(INTENT_WINDOW_SCORES)
    );
    assert_eq!(
        package.integer("score_ledger", "MAX_ENTRIES").unwrap(),
        MAX_SUBMIT_ENTRIES as u128
    );
    // A window holds no more commitments than one statement lists (and the
    // enclave opens no window with more miners: `MAX_SUBMIT_ENTRIES` is the
    // statement format's `MAX_ENTRIES`).
    assert_eq!(
        package
            .integer("gradient_registry", "MAX_COMMITMENTS")
            .unwrap(),
        MAX_SUBMIT_ENTRIES as u128
    );
    assert_eq!(package.integer("score_ledger", "HASH_LEN").unwrap(), 32);
}
