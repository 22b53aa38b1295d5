// Copyright (c) The VRAM hub authors
// SPDX-License-Identifier: Apache-2.0

/// Validators: the accounts that may submit statements. A validator's account
/// is the address that registered it, and it is the `validator` field of every
/// statement it submits. Stake is held here as a real `Balance<SUI>`, never as a
/// number the caller reports.
module vramhub::validator_registry;

use sui::balance::Balance;
use sui::clock::Clock;
use sui::coin::{Self, Coin};
use sui::event;
use sui::sui::SUI;
use sui::table::{Self, Table};
use vramhub::hparams::Hparams;
use vramhub::round_state;

// === Errors ===

/// The account is already a validator.
const EAlreadyRegistered: u64 = 0;
/// The stake is below `min_validator_stake`.
const EInsufficientStake: u64 = 1;
/// The account is not a validator.
const ENotValidator: u64 = 2;
/// A declared budget is zero or above the next window's `max_scored`.
const EBadBudget: u64 = 3;

// === Structs ===

/// A declared budget and the first window it is in force for.
public struct BudgetChange has copy, drop, store {
    from_window: u64,
    budget: u64,
}

/// One validator.
public struct Validator has store {
    stake: Balance<SUI>,
    /// The first window it may score: registration window + `validator_offset`.
    first_window: u64,
    /// Every budget it declared, ascending `from_window` (the last may be
    /// pending), so the budget of any past window can be rebuilt. Empty until
    /// it declares one: it then scores Hparams' `max_scored`.
    budgets: vector<BudgetChange>,
}

/// The shared registry.
public struct ValidatorRegistry has key {
    id: UID,
    validators: Table<address, Validator>,
}

// === Events ===

/// A validator joined.
public struct ValidatorRegistered has copy, drop {
    validator: address,
    stake: u64,
    first_window: u64,
}

/// A validator added stake.
public struct ValidatorStakeAdded has copy, drop {
    validator: address,
    amount: u64,
    total: u64,
}

/// A validator declared how many miners a statement of its scores, from
/// `from_window` on (design §4.4).
public struct ValidatorBudgetSet has copy, drop {
    validator: address,
    budget: u64,
    from_window: u64,
}

/// A validator left and took its stake back.
public struct ValidatorDeregistered has copy, drop {
    validator: address,
    stake: u64,
}

// === Init ===

fun init(ctx: &mut TxContext) {
    transfer::share_object(ValidatorRegistry {
        id: object::new(ctx),
        validators: table::new(ctx),
    });
}

// === Public Functions ===

/// Registers the sender as a validator with `stake`.
public fun register_validator(
    self: &mut ValidatorRegistry,
    hparams: &Hparams,
    stake: Coin<SUI>,
    clock: &Clock,
    ctx: &mut TxContext,
) {
    let validator = ctx.sender();
    assert!(!self.validators.contains(validator), EAlreadyRegistered);
    let window = round_state::current_window(hparams, clock);
    let values = hparams.for_window(window);
    let amount = stake.value();
    assert!(amount >= values.min_validator_stake(), EInsufficientStake);
    let first_window = window + values.validator_offset();
    self
        .validators
        .add(validator, Validator { stake: stake.into_balance(), first_window, budgets: vector[] });
    event::emit(ValidatorRegistered { validator, stake: amount, first_window });
}

/// Adds stake to the sender's validator.
public fun add_stake(self: &mut ValidatorRegistry, stake: Coin<SUI>, ctx: &mut TxContext) {
    let validator = ctx.sender();
    assert!(self.validators.contains(validator), ENotValidator);
    let amount = stake.value();
    let record = self.validators.borrow_mut(validator);
    record.stake.join(stake.into_balance());
    event::emit(ValidatorStakeAdded { validator, amount, total: record.stake.value() });
}

/// Removes the sender's validator and returns its stake.
public fun deregister_validator(self: &mut ValidatorRegistry, ctx: &mut TxContext): Coin<SUI> {
    let validator = ctx.sender();
    assert!(self.validators.contains(validator), ENotValidator);
    let Validator { stake, first_window: _, budgets: _ } = self.validators.remove(validator);
    event::emit(ValidatorDeregistered { validator, stake: stake.value() });
    coin::from_balance(stake, ctx)
}

/// Declares the sender's budget `K_v`: every statement it submits scores
/// exactly `min(K_v, valid)` miners, from the next window on. At most the
/// next window's `max_scored`; a change pending for that window is replaced.
public fun set_budget(
    self: &mut ValidatorRegistry,
    hparams: &Hparams,
    budget: u64,
    clock: &Clock,
    ctx: &TxContext,
) {
    let validator = ctx.sender();
    assert!(self.validators.contains(validator), ENotValidator);
    let from_window = round_state::current_window(hparams, clock) + 1;
    assert!(budget > 0 && budget <= hparams.for_window(from_window).max_scored(), EBadBudget);
    let budgets = &mut self.validators.borrow_mut(validator).budgets;
    let n = budgets.length();
    if (n > 0 && budgets[n - 1].from_window == from_window) {
        budgets.pop_back();
    };
    budgets.push_back(BudgetChange { from_window, budget });
    event::emit(ValidatorBudgetSet { validator, budget, from_window });
}

/// The budget `validator` scores `window` with: the last one declared for
/// a window at or before it, capped at the window's `max_scored`; the
/// window's `max_scored` when none was declared.
public fun budget_for_window(
    self: &ValidatorRegistry,
    hparams: &Hparams,
    validator: address,
    window: u64,
): u64 {
    assert!(self.validators.contains(validator), ENotValidator);
    let max_scored = hparams.for_window(window).max_scored();
    let budgets = &self.validators.borrow(validator).budgets;
    let mut i = budgets.length();
    while (i > 0) {
        let change = &budgets[i - 1];
        if (change.from_window <= window) return change.budget.min(max_scored);
        i = i - 1;
    };
    max_scored
}

/// Whether `validator` is registered.
public fun is_validator(self: &ValidatorRegistry, validator: address): bool {
    self.validators.contains(validator)
}

/// Whether `validator` may score `window`: registered, past its offset, and
/// staked at least the window's `min_validator_stake`.
public fun can_score(
    self: &ValidatorRegistry,
    hparams: &Hparams,
    validator: address,
    window: u64,
): bool {
    if (!self.validators.contains(validator)) return false;
    let record = self.validators.borrow(validator);
    window >= record.first_window
        && record.stake.value() >= hparams.for_window(window).min_validator_stake()
}

/// The validator's stake.
public fun stake(self: &ValidatorRegistry, validator: address): u64 {
    assert!(self.validators.contains(validator), ENotValidator);
    self.validators.borrow(validator).stake.value()
}

/// The first window the validator may score.
public fun first_window(self: &ValidatorRegistry, validator: address): u64 {
    assert!(self.validators.contains(validator), ENotValidator);
    self.validators.borrow(validator).first_window
}

// === Test Only ===

#[test_only]
public fun init_for_testing(ctx: &mut TxContext) {
    init(ctx)
}
