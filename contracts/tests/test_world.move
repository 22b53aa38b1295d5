// Copyright (c) The VRAM hub authors
// SPDX-License-Identifier: Apache-2.0

/// A whole network for tests: every shared object, the capabilities, a clock,
/// and the scenario of the golden statement (window 42, validator 0xaa..aa,
/// miners 0..=5, miners 1, 2 and 5 committed, checkpoint 0x11.. anchored at
/// window 2 before it started, dataset 0x22.., checkpoints every 2 windows,
/// enclave key from seed 0x07..07 registered at time 0).
#[test_only]
module vramhub::test_world;

use std::unit_test::destroy;
use sui::address;
use sui::clock::Clock;
use sui::coin;
use sui::nitro_attestation;
use sui::sui::SUI;
use sui::test_scenario::{Self as ts, Scenario};
use vramhub::enclave_registry::{Self, EnclaveConfig, EnclaveAdminCap, TestModeCap};
use vramhub::gradient_registry::{Self, GradientRegistry};
use vramhub::hparams::{Self, Hparams, HparamsAdminCap, Values};
use vramhub::peer_registry::{Self, PeerRegistry};
use vramhub::round_state::{Self, RoundState, AnchorCap};
use vramhub::score_ledger::{Self, ScoreLedger};
use vramhub::validator_registry::{Self, ValidatorRegistry};

const ADMIN: address = @0xad;
const VALIDATOR: address = @0xaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa;
const WINDOW_MS: u64 = 600_000;
const GOLDEN_WINDOW: u64 = 42;
/// Ed25519 public key of seed 0x07 * 32 (the Rust golden key).
const GOLDEN_KEY: vector<u8> = x"ea4a6c63e29c520abef5507b132ec5f9954776aebebe7b92421eea691446d22c";
/// The golden statement with the real eval-params hash of the default Hparams,
/// signed by the golden key (`host/tests/contract_layouts.rs`,
/// `submit_vector_for_move`).
const SUBMIT_SIGNATURE: vector<u8> =
    x"98184dcf3cb370206e860f1851fc77cbc4a85bdaaad782d997dbd1ecda9662e01aaea78b5832443d555e78b13f9b7a8484d57ab501be35ff2c3a5c8e17f5b40e";

public struct World {
    scenario: Scenario,
    clock: Clock,
    hparams_cap: HparamsAdminCap,
    anchor_cap: AnchorCap,
    enclave_cap: EnclaveAdminCap,
    test_cap: Option<TestModeCap>,
}

/// The arguments of one `submit_scores` call.
public struct Submit has copy, drop {
    sender: address,
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
}

// === Setup ===

public fun admin(): address { ADMIN }

public fun validator(): address { VALIDATOR }

public fun miner(i: u64): address { address::from_u256(0xb0 + (i as u256)) }

public fun golden_key(): vector<u8> { GOLDEN_KEY }

public fun golden_window(): u64 { GOLDEN_WINDOW }

public fun window_ms(): u64 { WINDOW_MS }

public fun fill(byte: u8, len: u64): vector<u8> {
    let mut v = vector[];
    let mut i = 0;
    while (i < len) {
        v.push_back(byte);
        i = i + 1;
    };
    v
}

/// The values `begin` sets from window 1: the defaults with the golden
/// dataset and a checkpoint every 2 windows (so window 2 can be anchored
/// before it starts).
public fun values(): Values {
    hparams::defaults()
        .with_dataset(fill(0x22, 32), 1000, fill(0x44, 32))
        .with_checkpoint_frequency(2)
}

/// Every object shared, `values()` set from window 1, the clock at 0.
public fun begin(): World {
    begin_with(values())
}

/// Every object shared, `values` set from window 1, the clock at 0.
public fun begin_with(values: Values): World {
    let mut scenario = ts::begin(ADMIN);
    let hparams_cap = hparams::init_for_testing(scenario.ctx());
    let anchor_cap = round_state::init_for_testing(scenario.ctx());
    let (enclave_cap, test_cap) = enclave_registry::init_for_testing(scenario.ctx());
    validator_registry::init_for_testing(scenario.ctx());
    peer_registry::init_for_testing(scenario.ctx());
    gradient_registry::init_for_testing(scenario.ctx());
    score_ledger::init_for_testing(scenario.ctx());
    let clock = sui::clock::create_for_testing(scenario.ctx());
    let mut world = World {
        scenario,
        clock,
        hparams_cap,
        anchor_cap,
        enclave_cap,
        test_cap: option::some(test_cap),
    };
    world.next(ADMIN);
    let mut hp = world.scenario.take_shared<Hparams>();
    hp.update_hparams(&world.hparams_cap, values, &world.clock);
    ts::return_shared(hp);
    world
}

/// The golden scenario, with the clock in window 42's scoring phase.
public fun golden(): World {
    golden_with_key(true)
}

/// The golden scenario, the validator's enclave registered or not, the
/// clock 10 s into window 42's scoring span (it opens 40 s after the
/// deadline: the reveal phase and the seed margin).
public fun golden_with_key(register_key: bool): World {
    golden_at(register_key, golden_opens_at() + 10_000)
}

/// The golden scenario with the clock left at `now_ms`, which must not be
/// before the commitments at 1 s into window 42 (the clock only moves on).
public fun golden_at(register_key: bool, now_ms: u64): World {
    golden_from(begin(), register_key, now_ms)
}

/// The golden scenario on a world that `begin_with` made.
public fun golden_from(mut world: World, register_key: bool, now_ms: u64): World {
    world.register_validator(VALIDATOR, 10_000_000_000);
    golden_registered_with(world, register_key, now_ms)
}

/// The golden scenario on a world where the validator is registered already.
public fun golden_registered(world: World, now_ms: u64): World {
    golden_registered_with(world, true, now_ms)
}

fun golden_registered_with(mut world: World, register_key: bool, now_ms: u64): World {
    world.register_miners(6);
    world.anchor(2, fill(0x11, 32));
    if (register_key) world.register_test_key(VALIDATOR, GOLDEN_KEY);
    world.set_time(GOLDEN_WINDOW * WINDOW_MS + 1_000);
    world.commit(1, GOLDEN_WINDOW, fill(1, 32));
    world.commit(2, GOLDEN_WINDOW, fill(2, 32));
    world.commit(5, GOLDEN_WINDOW, fill(5, 32));
    world.set_time(now_ms);
    world
}

/// The upload deadline of the golden window.
public fun golden_deadline(): u64 { GOLDEN_WINDOW * WINDOW_MS + 480_000 }

/// When the golden window's statements are first accepted.
public fun golden_opens_at(): u64 { golden_deadline() + 40_000 }

/// When they are no longer accepted (a full window after the deadline).
public fun golden_scoring_end(): u64 { golden_deadline() + WINDOW_MS }

public fun finish(world: World) {
    let World { scenario, clock, hparams_cap, anchor_cap, enclave_cap, test_cap } = world;
    clock.destroy_for_testing();
    destroy(hparams_cap);
    destroy(anchor_cap);
    destroy(enclave_cap);
    test_cap.destroy!(|cap| destroy(cap));
    scenario.end();
}

// === Actions ===

public fun next(world: &mut World, sender: address) {
    world.scenario.next_tx(sender);
}

public fun set_time(world: &mut World, ms: u64) {
    world.clock.set_for_testing(ms);
}

public fun clock(world: &World): &Clock { &world.clock }

public fun scenario(world: &mut World): &mut Scenario { &mut world.scenario }

public fun hparams_cap(world: &World): &HparamsAdminCap { &world.hparams_cap }

public fun anchor_cap(world: &World): &AnchorCap { &world.anchor_cap }

public fun enclave_cap(world: &World): &EnclaveAdminCap { &world.enclave_cap }

/// Closes test mode for good (destroys the capability).
public fun close_test_mode(world: &mut World) {
    world.next(ADMIN);
    let mut config = world.scenario.take_shared<EnclaveConfig>();
    config.destroy_test_mode_cap(world.test_cap.extract());
    ts::return_shared(config);
}

/// Governance sets the expected image (from the next window boundary once
/// one is set).
public fun update_pcrs(world: &mut World, pcr0: vector<u8>, pcr1: vector<u8>, pcr2: vector<u8>) {
    world.next(ADMIN);
    let mut config = world.scenario.take_shared<EnclaveConfig>();
    let hp = world.scenario.take_shared<Hparams>();
    config.update_pcrs(&world.enclave_cap, &hp, pcr0, pcr1, pcr2, &world.clock);
    ts::return_shared(config);
    ts::return_shared(hp);
}

/// The key (and its test-mode flag) that signs for `who` in `window`.
public fun signer_for(world: &mut World, who: address, window: u64): (vector<u8>, bool) {
    world.next(ADMIN);
    let config = world.scenario.take_shared<EnclaveConfig>();
    let hp = world.scenario.take_shared<Hparams>();
    let deadline = round_state::upload_deadline_ms(&hp, window);
    let (key, test_mode) = config.signer_for_window(who, deadline);
    ts::return_shared(config);
    ts::return_shared(hp);
    (key, test_mode)
}

/// The miner owning `uid` leaves and takes its stake back.
public fun deregister_miner(world: &mut World, uid: u64) {
    world.next(miner(uid));
    let mut peers = world.scenario.take_shared<PeerRegistry>();
    let stake = peers.deregister_miner(world.scenario.ctx());
    destroy(stake);
    ts::return_shared(peers);
}

public fun register_validator(world: &mut World, who: address, stake: u64) {
    world.next(who);
    let mut validators = world.scenario.take_shared<ValidatorRegistry>();
    let hp = world.scenario.take_shared<Hparams>();
    let coin = coin::mint_for_testing<SUI>(stake, world.scenario.ctx());
    validators.register_validator(&hp, coin, &world.clock, world.scenario.ctx());
    ts::return_shared(validators);
    ts::return_shared(hp);
}

/// `who` declares its budget from the next window on.
public fun set_budget(world: &mut World, who: address, budget: u64) {
    world.next(who);
    let mut validators = world.scenario.take_shared<ValidatorRegistry>();
    let hp = world.scenario.take_shared<Hparams>();
    validators.set_budget(&hp, budget, &world.clock, world.scenario.ctx());
    ts::return_shared(validators);
    ts::return_shared(hp);
}

/// The budget `who` scores `window` with.
public fun budget_for(world: &mut World, who: address, window: u64): u64 {
    world.next(ADMIN);
    let validators = world.scenario.take_shared<ValidatorRegistry>();
    let hp = world.scenario.take_shared<Hparams>();
    let budget = validators.budget_for_window(&hp, who, window);
    ts::return_shared(validators);
    ts::return_shared(hp);
    budget
}

/// Miners 0..count-1 at addresses `miner(i)`, each with the minimum stake.
public fun register_miners(world: &mut World, count: u64) {
    let mut i = 0;
    while (i < count) {
        world.register_miner(miner(i), 1_000_000_000);
        i = i + 1;
    };
}

public fun register_miner(world: &mut World, who: address, stake: u64): u64 {
    world.next(who);
    let mut peers = world.scenario.take_shared<PeerRegistry>();
    let hp = world.scenario.take_shared<Hparams>();
    let coin = coin::mint_for_testing<SUI>(stake, world.scenario.ctx());
    let uid = peers.register_miner(&hp, coin, &world.clock, world.scenario.ctx());
    ts::return_shared(peers);
    ts::return_shared(hp);
    uid
}

public fun anchor(world: &mut World, window: u64, hash: vector<u8>) {
    world.next(ADMIN);
    let mut rounds = world.scenario.take_shared<RoundState>();
    let hp = world.scenario.take_shared<Hparams>();
    // The file list's blob id is derived from the hash, so each anchor has its own.
    let blob = std::hash::sha2_256(hash);
    rounds.anchor_checkpoint(&world.anchor_cap, &hp, window, hash, blob, &world.clock);
    ts::return_shared(rounds);
    ts::return_shared(hp);
}

public fun register_test_key(world: &mut World, who: address, key: vector<u8>) {
    world.register_test_key_with_document(who, key, std::hash::sha2_256(key), fill(0xdb, 32));
}

/// Registers `key` with the given document hash and blob id.
public fun register_test_key_with_document(
    world: &mut World,
    who: address,
    key: vector<u8>,
    document_sha256: vector<u8>,
    document_blob: vector<u8>,
) {
    world.next(who);
    let mut config = world.scenario.take_shared<EnclaveConfig>();
    let validators = world.scenario.take_shared<ValidatorRegistry>();
    config.register_test_enclave(
        world.test_cap.borrow(),
        &validators,
        key,
        document_sha256,
        document_blob,
        &world.clock,
        world.scenario.ctx(),
    );
    ts::return_shared(config);
    ts::return_shared(validators);
}

/// Miner `uid` (at `miner(uid)`) commits `sha256` for `window`.
public fun commit(world: &mut World, uid: u64, window: u64, sha256: vector<u8>) {
    world.commit_as(miner(uid), uid, window, fill(0xb0 + (uid as u8), 32), sha256);
}

public fun commit_as(
    world: &mut World,
    who: address,
    uid: u64,
    window: u64,
    blob_id: vector<u8>,
    sha256: vector<u8>,
) {
    world.next(who);
    let mut gradients = world.scenario.take_shared<GradientRegistry>();
    let peers = world.scenario.take_shared<PeerRegistry>();
    let hp = world.scenario.take_shared<Hparams>();
    gradients.commit_gradient(
        &peers,
        &hp,
        window,
        uid,
        blob_id,
        sha256,
        &world.clock,
        world.scenario.ctx(),
    );
    ts::return_shared(gradients);
    ts::return_shared(peers);
    ts::return_shared(hp);
}

/// At `at_ms`, loads `doc` with the framework's verifier and registers it as
/// `who`'s enclave.
public fun register_document(world: &mut World, who: address, doc: vector<u8>, at_ms: u64) {
    world.set_time(at_ms);
    world.next(who);
    let mut config = world.scenario.take_shared<EnclaveConfig>();
    let validators = world.scenario.take_shared<ValidatorRegistry>();
    let sha = std::hash::sha2_256(doc);
    let document = nitro_attestation::load_nitro_attestation(doc, &world.clock);
    config.register_enclave(
        &validators,
        document,
        sha,
        fill(0xdb, 32),
        &world.clock,
        world.scenario.ctx(),
    );
    ts::return_shared(config);
    ts::return_shared(validators);
}

/// At `at_ms`, registers what a verified document says (PCR0-2 by index,
/// each present or not, its timestamp and bound key) as `who`'s enclave:
/// `register_enclave`'s checks without the native verifier.
public fun register_facts(
    world: &mut World,
    who: address,
    pcrs: vector<Option<vector<u8>>>,
    timestamp: u64,
    public_key: Option<vector<u8>>,
    at_ms: u64,
) {
    world.set_time(at_ms);
    world.next(who);
    let mut config = world.scenario.take_shared<EnclaveConfig>();
    let validators = world.scenario.take_shared<ValidatorRegistry>();
    config.register_attested_for_testing(
        &validators,
        pcrs[0],
        pcrs[1],
        pcrs[2],
        timestamp,
        public_key,
        fill(0xdd, 32),
        fill(0xdb, 32),
        &world.clock,
        world.scenario.ctx(),
    );
    ts::return_shared(config);
    ts::return_shared(validators);
}

// === Submissions ===

/// The golden statement's arguments with its valid submit signature.
public fun golden_submit(): Submit {
    Submit {
        sender: VALIDATOR,
        window: GOLDEN_WINDOW,
        timestamp_ms: 1_763_700_000_000,
        checkpoint_hash: fill(0x11, 32),
        dataset_root: fill(0x22, 32),
        eval_seed: fill(0x44, 32),
        loss_before_random: 4_200_000_000,
        miner_uids: vector[1, 2, 5],
        statuses: vector[0, 1, 2],
        losses_before_own: vector[4_100_000_000, 0, 0],
        losses_after_own: vector[4_000_000_000, 0, 0],
        losses_after_random: vector[4_150_000_000, 0, 0],
        signature: SUBMIT_SIGNATURE,
    }
}

public fun with_sender(mut s: Submit, sender: address): Submit {
    s.sender = sender;
    s
}

public fun with_window(mut s: Submit, window: u64): Submit {
    s.window = window;
    s
}

public fun with_checkpoint(mut s: Submit, hash: vector<u8>): Submit {
    s.checkpoint_hash = hash;
    s
}

public fun with_dataset_root(mut s: Submit, root: vector<u8>): Submit {
    s.dataset_root = root;
    s
}

public fun with_seed(mut s: Submit, seed: vector<u8>): Submit {
    s.eval_seed = seed;
    s
}

public fun with_entries(mut s: Submit, miner_uids: vector<u64>, statuses: vector<u8>): Submit {
    let n = miner_uids.length();
    s.miner_uids = miner_uids;
    s.statuses = statuses;
    s.losses_before_own = vector::tabulate!(n, |_| 0);
    s.losses_after_own = vector::tabulate!(n, |_| 0);
    s.losses_after_random = vector::tabulate!(n, |_| 0);
    s
}

public fun with_loss_after_own(mut s: Submit, index: u64, loss: u64): Submit {
    *s.losses_after_own.borrow_mut(index) = loss;
    s
}

public fun with_statuses(mut s: Submit, statuses: vector<u8>): Submit {
    s.statuses = statuses;
    s
}

public fun with_signature(mut s: Submit, signature: vector<u8>): Submit {
    s.signature = signature;
    s
}

public fun submit(world: &mut World, s: Submit) {
    world.next(s.sender);
    let mut ledger = world.scenario.take_shared<ScoreLedger>();
    let config = world.scenario.take_shared<EnclaveConfig>();
    let validators = world.scenario.take_shared<ValidatorRegistry>();
    let gradients = world.scenario.take_shared<GradientRegistry>();
    let rounds = world.scenario.take_shared<RoundState>();
    let hp = world.scenario.take_shared<Hparams>();
    ledger.submit_scores(
        &config,
        &validators,
        &gradients,
        &rounds,
        &hp,
        s.window,
        s.timestamp_ms,
        s.checkpoint_hash,
        s.dataset_root,
        s.eval_seed,
        s.loss_before_random,
        s.miner_uids,
        s.statuses,
        s.losses_before_own,
        s.losses_after_own,
        s.losses_after_random,
        s.signature,
        &world.clock,
        world.scenario.ctx(),
    );
    ts::return_shared(ledger);
    ts::return_shared(config);
    ts::return_shared(validators);
    ts::return_shared(gradients);
    ts::return_shared(rounds);
    ts::return_shared(hp);
}
