// Copyright (c) The VRAM hub authors
// SPDX-License-Identifier: Apache-2.0

/// Which enclave key signs for which validator.
///
/// Production registration takes a `NitroAttestationDocument`, which only
/// `0x2::nitro_attestation::load_nitro_attestation` can create, after checking
/// the COSE signature, the certificate chain to the AWS Nitro root and the
/// certificates' validity at the clock's time. That function is a non-public
/// `entry`, so a registration is a two-command programmable transaction:
/// `load_nitro_attestation(doc, clock)` then `register_enclave(config, ..., result)`.
/// This module adds the governance checks: PCR0/1/2 equal the published image,
/// debug-mode (all-zero) PCRs are refused, the document is fresh, and it binds a
/// 32-byte Ed25519 key.
///
/// Test mode (simulated NSM, testnet) registers a raw key through a separate path
/// gated by `TestModeCap`, which emits `TestEnclaveRegistered`; the capability can
/// be destroyed for good.
module vramhub::enclave_registry;

use sui::clock::Clock;
use sui::event;
use sui::nitro_attestation::NitroAttestationDocument;
use sui::table::{Self, Table};
use vramhub::validator_registry::ValidatorRegistry;

// === Errors ===

/// Only registered validators may register an enclave.
const ENotValidator: u64 = 0;
/// The expected PCRs have not been set by governance.
const EPcrsNotConfigured: u64 = 1;
/// The document lacks some of PCR0, PCR1, PCR2 and carries others.
const EPcrMissing: u64 = 2;
/// PCR0/1/2 are all zero (or absent): a debug-mode enclave.
const EDebugModePcrs: u64 = 3;
/// PCR0/1/2 differ from the configured image.
const EPcrMismatch: u64 = 4;
/// The document binds no public key.
const ENoPublicKey: u64 = 5;
/// The bound key is not a 32-byte Ed25519 key.
const EBadPublicKey: u64 = 6;
/// The document is older than `MAX_DOCUMENT_AGE_MS`.
const EDocumentTooOld: u64 = 7;
/// The document's timestamp is ahead of the chain clock.
const EDocumentFromFuture: u64 = 8;
/// A configured PCR is not 48 bytes.
const EBadPcrLength: u64 = 9;
/// The validator has no registered enclave.
const ENoEnclave: u64 = 10;
/// The enclave was registered under an older configuration version.
const EStaleEnclave: u64 = 11;

// === Constants ===

/// A registration must use a document at most this old.
const MAX_DOCUMENT_AGE_MS: u64 = 600_000;
/// Allowed clock skew between the enclave and the chain.
const MAX_FUTURE_SKEW_MS: u64 = 60_000;
const PCR_LEN: u64 = 48;
const ED25519_KEY_LEN: u64 = 32;

// === Structs ===

/// Authority to set the expected image (governance).
public struct EnclaveAdminCap has key, store {
    id: UID,
}

/// Authority to register simulated (test-mode) enclaves. Destroy it on a
/// production deployment.
public struct TestModeCap has key, store {
    id: UID,
}

/// A validator's current enclave.
public struct EnclaveRecord has copy, drop, store {
    public_key: vector<u8>,
    /// `EnclaveConfig.version` at registration.
    config_version: u64,
    registered_ms: u64,
    /// Registered through the test-mode path.
    test_mode: bool,
}

/// The expected image and the registered enclaves, one per validator.
public struct EnclaveConfig has key {
    id: UID,
    pcr0: vector<u8>,
    pcr1: vector<u8>,
    pcr2: vector<u8>,
    /// Bumped by every PCR update; older registrations become stale.
    version: u64,
    enclaves: Table<address, EnclaveRecord>,
}

// === Events ===

/// An attested enclave key now signs for `validator`.
public struct EnclaveRegistered has copy, drop {
    validator: address,
    public_key: vector<u8>,
    pcr0: vector<u8>,
    pcr1: vector<u8>,
    pcr2: vector<u8>,
    config_version: u64,
    document_timestamp_ms: u64,
}

/// A test-mode key (simulated NSM, no hardware attestation) now signs for
/// `validator`. Nothing it signs is backed by AWS.
public struct TestEnclaveRegistered has copy, drop {
    validator: address,
    public_key: vector<u8>,
    config_version: u64,
}

/// Governance changed the expected image.
public struct PcrsUpdated has copy, drop {
    version: u64,
    pcr0: vector<u8>,
    pcr1: vector<u8>,
    pcr2: vector<u8>,
}

/// A validator's enclave was removed.
public struct EnclaveRetired has copy, drop {
    validator: address,
    public_key: vector<u8>,
    by_governance: bool,
}

/// The test-mode path was closed for good.
public struct TestModeDisabled has copy, drop {}

// === Init ===

fun init(ctx: &mut TxContext) {
    share(ctx);
    transfer::public_transfer(EnclaveAdminCap { id: object::new(ctx) }, ctx.sender());
    transfer::public_transfer(TestModeCap { id: object::new(ctx) }, ctx.sender());
}

fun share(ctx: &mut TxContext) {
    transfer::share_object(EnclaveConfig {
        id: object::new(ctx),
        pcr0: vector[],
        pcr1: vector[],
        pcr2: vector[],
        version: 0,
        enclaves: table::new(ctx),
    });
}

// === Public Functions ===

/// Registers the key bound in a verified attestation document as the sender's
/// enclave, replacing any earlier one.
public fun register_enclave(
    self: &mut EnclaveConfig,
    validators: &ValidatorRegistry,
    document: NitroAttestationDocument,
    clock: &Clock,
    ctx: &mut TxContext,
) {
    let (pcr0, pcr1, pcr2) = document_pcrs(&document);
    self.register_attested(
        validators,
        pcr0,
        pcr1,
        pcr2,
        *document.timestamp(),
        *document.public_key(),
        clock,
        ctx.sender(),
    );
}

/// Registers a simulated enclave's key for the sender (test mode only).
public fun register_test_enclave(
    self: &mut EnclaveConfig,
    _cap: &TestModeCap,
    validators: &ValidatorRegistry,
    public_key: vector<u8>,
    clock: &Clock,
    ctx: &mut TxContext,
) {
    let validator = ctx.sender();
    assert!(validators.is_validator(validator), ENotValidator);
    assert!(public_key.length() == ED25519_KEY_LEN, EBadPublicKey);
    self.put(validator, public_key, clock.timestamp_ms(), true);
    event::emit(TestEnclaveRegistered { validator, public_key, config_version: self.version });
}

/// Sets the expected image. Every earlier registration becomes stale and must
/// be redone with a document of the new image.
public fun update_pcrs(
    self: &mut EnclaveConfig,
    _cap: &EnclaveAdminCap,
    pcr0: vector<u8>,
    pcr1: vector<u8>,
    pcr2: vector<u8>,
) {
    assert!(
        pcr0.length() == PCR_LEN && pcr1.length() == PCR_LEN && pcr2.length() == PCR_LEN,
        EBadPcrLength,
    );
    assert!(!(is_zero(&pcr0) && is_zero(&pcr1) && is_zero(&pcr2)), EDebugModePcrs);
    self.pcr0 = pcr0;
    self.pcr1 = pcr1;
    self.pcr2 = pcr2;
    self.version = self.version + 1;
    event::emit(PcrsUpdated { version: self.version, pcr0, pcr1, pcr2 });
}

/// Governance removes a validator's enclave (a compromised or retired image).
public fun retire_enclave(self: &mut EnclaveConfig, _cap: &EnclaveAdminCap, validator: address) {
    assert!(self.enclaves.contains(validator), ENoEnclave);
    let record = self.enclaves.remove(validator);
    event::emit(EnclaveRetired { validator, public_key: record.public_key, by_governance: true });
}

/// A validator removes its own enclave.
public fun deregister_enclave(self: &mut EnclaveConfig, ctx: &mut TxContext) {
    let validator = ctx.sender();
    assert!(self.enclaves.contains(validator), ENoEnclave);
    let record = self.enclaves.remove(validator);
    event::emit(EnclaveRetired { validator, public_key: record.public_key, by_governance: false });
}

/// Closes the test-mode path for good.
public fun destroy_test_mode_cap(cap: TestModeCap) {
    let TestModeCap { id } = cap;
    id.delete();
    event::emit(TestModeDisabled {});
}

/// The key that currently signs for `validator`; aborts if none or stale.
public fun current_key(self: &EnclaveConfig, validator: address): vector<u8> {
    assert!(self.enclaves.contains(validator), ENoEnclave);
    let record = self.enclaves.borrow(validator);
    assert!(record.config_version == self.version, EStaleEnclave);
    record.public_key
}

/// The validator's record, if any (stale or not).
public fun record(self: &EnclaveConfig, validator: address): Option<EnclaveRecord> {
    if (self.enclaves.contains(validator)) option::some(*self.enclaves.borrow(validator))
    else option::none()
}

/// The configuration version.
public fun version(self: &EnclaveConfig): u64 { self.version }

/// The expected PCR0, PCR1, PCR2.
public fun pcrs(self: &EnclaveConfig): (vector<u8>, vector<u8>, vector<u8>) {
    (self.pcr0, self.pcr1, self.pcr2)
}

/// The record's key.
public fun public_key(r: &EnclaveRecord): &vector<u8> { &r.public_key }

/// Whether the record came through the test-mode path.
public fun is_test_mode(r: &EnclaveRecord): bool { r.test_mode }

// === Private Functions ===

fun put(
    self: &mut EnclaveConfig,
    validator: address,
    public_key: vector<u8>,
    now: u64,
    test_mode: bool,
) {
    let record = EnclaveRecord {
        public_key,
        config_version: self.version,
        registered_ms: now,
        test_mode,
    };
    if (self.enclaves.contains(validator)) {
        *self.enclaves.borrow_mut(validator) = record;
    } else {
        self.enclaves.add(validator, record);
    }
}

/// The checks on what a verified document says, in order. Kept apart from
/// `register_enclave` so that every check runs in unit tests: a
/// `NitroAttestationDocument` only comes from the framework's native verifier.
///
/// A debug-mode enclave reports all-zero PCR0/1/2. Framework parsers differ:
/// some keep those PCRs, some drop all-zero entries. Either way the document
/// is refused with `EDebugModePcrs`: a PCR that is absent counts as zero here,
/// and only a document with some of PCR0-2 absent and others set is
/// `EPcrMissing`.
fun register_attested(
    self: &mut EnclaveConfig,
    validators: &ValidatorRegistry,
    pcr0: Option<vector<u8>>,
    pcr1: Option<vector<u8>>,
    pcr2: Option<vector<u8>>,
    timestamp: u64,
    public_key: Option<vector<u8>>,
    clock: &Clock,
    validator: address,
) {
    assert!(validators.is_validator(validator), ENotValidator);
    assert!(self.version > 0, EPcrsNotConfigured);

    assert!(
        !(absent_or_zero(&pcr0) && absent_or_zero(&pcr1) && absent_or_zero(&pcr2)),
        EDebugModePcrs,
    );
    assert!(pcr0.is_some() && pcr1.is_some() && pcr2.is_some(), EPcrMissing);
    let pcr0 = pcr0.destroy_some();
    let pcr1 = pcr1.destroy_some();
    let pcr2 = pcr2.destroy_some();
    assert!(pcr0 == self.pcr0 && pcr1 == self.pcr1 && pcr2 == self.pcr2, EPcrMismatch);

    let now = clock.timestamp_ms();
    assert!(timestamp <= now + MAX_FUTURE_SKEW_MS, EDocumentFromFuture);
    assert!(now <= timestamp || now - timestamp <= MAX_DOCUMENT_AGE_MS, EDocumentTooOld);

    assert!(public_key.is_some(), ENoPublicKey);
    let public_key = public_key.destroy_some();
    assert!(public_key.length() == ED25519_KEY_LEN, EBadPublicKey);

    self.put(validator, public_key, now, false);
    event::emit(EnclaveRegistered {
        validator,
        public_key,
        pcr0,
        pcr1,
        pcr2,
        config_version: self.version,
        document_timestamp_ms: timestamp,
    });
}

/// PCR0, PCR1, PCR2 by index, each if present (the document's order is not
/// relied on).
fun document_pcrs(
    document: &NitroAttestationDocument,
): (Option<vector<u8>>, Option<vector<u8>>, Option<vector<u8>>) {
    let entries = document.pcrs();
    let mut found = vector[option::none(), option::none(), option::none()];
    let mut i = 0;
    while (i < entries.length()) {
        let entry = &entries[i];
        let index = entry.index();
        if (index < 3) {
            *found.borrow_mut(index as u64) = option::some(*entry.value());
        };
        i = i + 1;
    };
    let pcr2 = found.pop_back();
    let pcr1 = found.pop_back();
    let pcr0 = found.pop_back();
    (pcr0, pcr1, pcr2)
}

fun absent_or_zero(pcr: &Option<vector<u8>>): bool {
    pcr.is_none() || is_zero(pcr.borrow())
}

fun is_zero(bytes: &vector<u8>): bool {
    let mut i = 0;
    while (i < bytes.length()) {
        if (bytes[i] != 0) return false;
        i = i + 1;
    };
    true
}

// === Test Only ===

#[test_only]
/// Shares an empty configuration and returns both capabilities.
public fun init_for_testing(ctx: &mut TxContext): (EnclaveAdminCap, TestModeCap) {
    share(ctx);
    (EnclaveAdminCap { id: object::new(ctx) }, TestModeCap { id: object::new(ctx) })
}

#[test_only]
/// `register_enclave`'s checks on the facts a verified document carries
/// (PCRs by index, timestamp, bound key), for tests without the native
/// verifier.
public fun register_attested_for_testing(
    self: &mut EnclaveConfig,
    validators: &ValidatorRegistry,
    pcr0: Option<vector<u8>>,
    pcr1: Option<vector<u8>>,
    pcr2: Option<vector<u8>>,
    timestamp: u64,
    public_key: Option<vector<u8>>,
    clock: &Clock,
    ctx: &TxContext,
) {
    self.register_attested(
        validators,
        pcr0,
        pcr1,
        pcr2,
        timestamp,
        public_key,
        clock,
        ctx.sender(),
    );
}
