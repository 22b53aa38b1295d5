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
/// Every registration also records the SHA-256 of the attestation document
/// and its Walrus blob id (empty when it was not stored), so an auditor can
/// fetch the document of any key years later. The chain verifies the
/// document's content through the native, not its bytes (the native takes
/// them in a separate command): the hash is the registrant's claim, and an
/// auditor checks that the fetched bytes hash to it, verify under the AWS
/// root and bind the recorded key.
///
/// Test mode (simulated NSM, testnet) registers a raw key through a separate path
/// gated by `TestModeCap`, which emits `TestEnclaveRegistered`. Destroying the
/// capability closes test mode for good: from then on no test-mode key signs
/// anything, even one registered before.
///
/// Which key signs for a window (design §2): the key the validator had
/// registered before the window's upload deadline, so a key registered during
/// a scoring phase cannot re-score that window and running several enclaves to
/// pick the best seed gains nothing. The latest and the previous registration
/// are kept, which covers one restart per window. A PCR update takes effect at
/// the next window boundary; until then keys of the old and of the pending
/// image both register, and a window is signed by a key of the image in force
/// at its upload deadline (or of the pending one).
module vramhub::enclave_registry;

use sui::clock::Clock;
use sui::event;
use sui::nitro_attestation::NitroAttestationDocument;
use sui::table::{Self, Table};
use vramhub::hparams::Hparams;
use vramhub::round_state;
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
/// The enclave was registered for an image not in force for the window.
const EStaleEnclave: u64 = 11;
/// Test mode is closed: no test-mode key registers or signs.
const ETestModeClosed: u64 = 12;
/// No key of the validator was registered before the window's upload
/// deadline.
const ENoKeyForWindow: u64 = 13;

/// The document's SHA-256 is not 32 bytes, or its Walrus blob id is
/// neither empty nor 32 bytes.
const EBadDocumentRef: u64 = 14;

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

/// One registration of a validator's enclave.
public struct EnclaveRecord has copy, drop, store {
    public_key: vector<u8>,
    /// The version of the image the key was registered for.
    config_version: u64,
    registered_ms: u64,
    /// Registered through the test-mode path.
    test_mode: bool,
    /// SHA-256 of the attestation document (the registrant's claim, checked
    /// by auditors against the fetched document).
    document_sha256: vector<u8>,
    /// Walrus blob id of the document; empty if it was not stored.
    document_blob: vector<u8>,
}

/// A validator's latest registration and the one before it: a window whose
/// deadline fell between them is still signed by the earlier key.
public struct Enclaves has copy, drop, store {
    latest: EnclaveRecord,
    previous: Option<EnclaveRecord>,
}

/// An expected image: PCR0/1/2, in force from `effective_ms` (a window
/// boundary).
public struct Image has copy, drop, store {
    version: u64,
    pcr0: vector<u8>,
    pcr1: vector<u8>,
    pcr2: vector<u8>,
    effective_ms: u64,
}

/// The expected image and the registered enclaves, one per validator.
public struct EnclaveConfig has key {
    id: UID,
    /// The image in force (version 0 and empty PCRs until governance sets one).
    current: Image,
    /// An update waiting for its window boundary.
    next: Option<Image>,
    /// Bumped by every PCR update.
    version: u64,
    /// False once the test-mode capability is destroyed.
    test_mode_open: bool,
    enclaves: Table<address, Enclaves>,
}

// === Events ===

/// An attested enclave key signs for `validator` from the first window
/// whose upload deadline is after `registered_ms`.
public struct EnclaveRegistered has copy, drop {
    validator: address,
    public_key: vector<u8>,
    pcr0: vector<u8>,
    pcr1: vector<u8>,
    pcr2: vector<u8>,
    config_version: u64,
    document_timestamp_ms: u64,
    registered_ms: u64,
    document_sha256: vector<u8>,
    document_blob: vector<u8>,
}

/// A test-mode key (simulated NSM, no hardware attestation) signs for
/// `validator` from the first window whose upload deadline is after
/// `registered_ms`, until test mode closes. Nothing it signs is backed by AWS.
public struct TestEnclaveRegistered has copy, drop {
    validator: address,
    public_key: vector<u8>,
    config_version: u64,
    registered_ms: u64,
    document_sha256: vector<u8>,
    document_blob: vector<u8>,
}

/// Governance changed the expected image, from `effective_ms` on.
public struct PcrsUpdated has copy, drop {
    version: u64,
    pcr0: vector<u8>,
    pcr1: vector<u8>,
    pcr2: vector<u8>,
    effective_ms: u64,
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
        current: Image {
            version: 0,
            pcr0: vector[],
            pcr1: vector[],
            pcr2: vector[],
            effective_ms: 0,
        },
        next: option::none(),
        version: 0,
        test_mode_open: true,
        enclaves: table::new(ctx),
    });
}

// === Public Functions ===

/// Registers the key bound in a verified attestation document as the sender's
/// enclave, replacing any earlier one. `document_sha256` and `document_blob`
/// say where auditors find the document's bytes.
public fun register_enclave(
    self: &mut EnclaveConfig,
    validators: &ValidatorRegistry,
    document: NitroAttestationDocument,
    document_sha256: vector<u8>,
    document_blob: vector<u8>,
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
        document_sha256,
        document_blob,
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
    document_sha256: vector<u8>,
    document_blob: vector<u8>,
    clock: &Clock,
    ctx: &mut TxContext,
) {
    let validator = ctx.sender();
    assert!(self.test_mode_open, ETestModeClosed);
    assert!(validators.is_validator(validator), ENotValidator);
    assert!(public_key.length() == ED25519_KEY_LEN, EBadPublicKey);
    check_document_ref(&document_sha256, &document_blob);
    let now = clock.timestamp_ms();
    // A test key stands for the image in force: it goes stale with it.
    let config_version = self.image_at(now).version;
    self.put(
        validator,
        EnclaveRecord {
            public_key,
            config_version,
            registered_ms: now,
            test_mode: true,
            document_sha256,
            document_blob,
        },
    );
    event::emit(TestEnclaveRegistered {
        validator,
        public_key,
        config_version,
        registered_ms: now,
        document_sha256,
        document_blob,
    });
}

/// Sets the expected image from the next window boundary (at once if none
/// was set yet). Keys of the new image may register before the boundary; keys
/// of the old one stop signing for windows whose upload deadline is after it.
/// A pending update that has not taken effect is replaced, and keys
/// registered for it never sign.
public fun update_pcrs(
    self: &mut EnclaveConfig,
    _cap: &EnclaveAdminCap,
    hparams: &Hparams,
    pcr0: vector<u8>,
    pcr1: vector<u8>,
    pcr2: vector<u8>,
    clock: &Clock,
) {
    assert!(
        pcr0.length() == PCR_LEN && pcr1.length() == PCR_LEN && pcr2.length() == PCR_LEN,
        EBadPcrLength,
    );
    assert!(!(is_zero(&pcr0) && is_zero(&pcr1) && is_zero(&pcr2)), EDebugModePcrs);
    let now = clock.timestamp_ms();
    self.settle(now);
    self.version = self.version + 1;
    let effective_ms = if (self.current.version == 0) now
    else hparams.window_start_ms(round_state::current_window(hparams, clock) + 1);
    let image = Image { version: self.version, pcr0, pcr1, pcr2, effective_ms };
    if (self.current.version == 0) {
        self.current = image;
    } else {
        self.next = option::some(image);
    };
    event::emit(PcrsUpdated { version: self.version, pcr0, pcr1, pcr2, effective_ms });
}

/// Governance removes a validator's enclave (a compromised or retired image).
public fun retire_enclave(self: &mut EnclaveConfig, _cap: &EnclaveAdminCap, validator: address) {
    assert!(self.enclaves.contains(validator), ENoEnclave);
    let record = self.enclaves.remove(validator).latest;
    event::emit(EnclaveRetired { validator, public_key: record.public_key, by_governance: true });
}

/// A validator removes its own enclave.
public fun deregister_enclave(self: &mut EnclaveConfig, ctx: &mut TxContext) {
    let validator = ctx.sender();
    assert!(self.enclaves.contains(validator), ENoEnclave);
    let record = self.enclaves.remove(validator).latest;
    event::emit(EnclaveRetired { validator, public_key: record.public_key, by_governance: false });
}

/// Closes the test-mode path for good: no test-mode key registers or signs
/// after this, including keys registered before.
public fun destroy_test_mode_cap(self: &mut EnclaveConfig, cap: TestModeCap) {
    let TestModeCap { id } = cap;
    id.delete();
    self.test_mode_open = false;
    event::emit(TestModeDisabled {});
}

/// The key that signs for `validator` in a window whose upload deadline is
/// `upload_deadline_ms`, and whether it is a test-mode key: the latest key
/// registered before the deadline, for the image in force at the deadline (or
/// the pending one). Aborts `ENoEnclave`, `ENoKeyForWindow`, `EStaleEnclave` or
/// `ETestModeClosed`.
public fun signer_for_window(
    self: &EnclaveConfig,
    validator: address,
    upload_deadline_ms: u64,
): (vector<u8>, bool) {
    assert!(self.enclaves.contains(validator), ENoEnclave);
    let enclaves = self.enclaves.borrow(validator);
    let record = if (enclaves.latest.registered_ms < upload_deadline_ms) {
        &enclaves.latest
    } else {
        assert!(enclaves.previous.is_some(), ENoKeyForWindow);
        let previous = enclaves.previous.borrow();
        assert!(previous.registered_ms < upload_deadline_ms, ENoKeyForWindow);
        previous
    };
    self.check_usable(record, upload_deadline_ms);
    (record.public_key, record.test_mode)
}

/// The validator's latest key if it can sign now (for windows whose upload
/// deadline is still ahead); aborts like `signer_for_window`.
public fun current_key(self: &EnclaveConfig, validator: address, clock: &Clock): vector<u8> {
    assert!(self.enclaves.contains(validator), ENoEnclave);
    let record = &self.enclaves.borrow(validator).latest;
    self.check_usable(record, clock.timestamp_ms());
    record.public_key
}

/// The validator's latest record, if any (stale or not).
public fun record(self: &EnclaveConfig, validator: address): Option<EnclaveRecord> {
    if (self.enclaves.contains(validator)) option::some(self.enclaves.borrow(validator).latest)
    else option::none()
}

/// The configuration version (bumped by every PCR update).
public fun version(self: &EnclaveConfig): u64 { self.version }

/// Whether test-mode keys may still register and sign.
public fun test_mode_open(self: &EnclaveConfig): bool { self.test_mode_open }

/// The PCR0, PCR1, PCR2 expected at `now_ms`.
public fun pcrs(self: &EnclaveConfig, now_ms: u64): (vector<u8>, vector<u8>, vector<u8>) {
    let image = self.image_at(now_ms);
    (image.pcr0, image.pcr1, image.pcr2)
}

/// The record's key.
public fun public_key(r: &EnclaveRecord): &vector<u8> { &r.public_key }

/// Whether the record came through the test-mode path.
public fun is_test_mode(r: &EnclaveRecord): bool { r.test_mode }

/// When the record was registered.
public fun registered_ms(r: &EnclaveRecord): u64 { r.registered_ms }

/// SHA-256 of the registration's attestation document.
public fun document_sha256(r: &EnclaveRecord): &vector<u8> { &r.document_sha256 }

/// Walrus blob id of that document (empty if not stored).
public fun document_blob(r: &EnclaveRecord): &vector<u8> { &r.document_blob }

// === Private Functions ===

fun check_document_ref(document_sha256: &vector<u8>, document_blob: &vector<u8>) {
    assert!(document_sha256.length() == 32, EBadDocumentRef);
    assert!(document_blob.is_empty() || document_blob.length() == 32, EBadDocumentRef);
}

fun put(self: &mut EnclaveConfig, validator: address, latest: EnclaveRecord) {
    if (self.enclaves.contains(validator)) {
        let enclaves = self.enclaves.borrow_mut(validator);
        enclaves.previous = option::some(enclaves.latest);
        enclaves.latest = latest;
    } else {
        self.enclaves.add(validator, Enclaves { latest, previous: option::none() });
    }
}

/// Folds a pending image in once its boundary has passed.
fun settle(self: &mut EnclaveConfig, now_ms: u64) {
    if (self.next.is_some() && now_ms >= self.next.borrow().effective_ms) {
        self.current = self.next.extract();
    }
}

/// The image in force at `time_ms`.
fun image_at(self: &EnclaveConfig, time_ms: u64): &Image {
    if (self.next.is_some() && time_ms >= self.next.borrow().effective_ms) self.next.borrow()
    else &self.current
}

/// A record signs at `time_ms` if its image is the one in force then or the
/// pending one, and it is not a test-mode key after test mode closed.
fun check_usable(self: &EnclaveConfig, record: &EnclaveRecord, time_ms: u64) {
    let version = record.config_version;
    let pending = self.next.is_some() && self.next.borrow().version == version;
    assert!(version == self.image_at(time_ms).version || pending, EStaleEnclave);
    assert!(!record.test_mode || self.test_mode_open, ETestModeClosed);
}

/// The version of the image (in force at `now_ms`, or pending) whose PCRs
/// are these; aborts `EPcrMismatch`.
fun matching_image(
    self: &EnclaveConfig,
    now_ms: u64,
    pcr0: &vector<u8>,
    pcr1: &vector<u8>,
    pcr2: &vector<u8>,
): u64 {
    let in_force = self.image_at(now_ms);
    if (&in_force.pcr0 == pcr0 && &in_force.pcr1 == pcr1 && &in_force.pcr2 == pcr2) {
        return in_force.version
    };
    assert!(self.next.is_some(), EPcrMismatch);
    let next = self.next.borrow();
    assert!(&next.pcr0 == pcr0 && &next.pcr1 == pcr1 && &next.pcr2 == pcr2, EPcrMismatch);
    next.version
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
    document_sha256: vector<u8>,
    document_blob: vector<u8>,
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
    let now = clock.timestamp_ms();
    let config_version = self.matching_image(now, &pcr0, &pcr1, &pcr2);

    assert!(timestamp <= now + MAX_FUTURE_SKEW_MS, EDocumentFromFuture);
    assert!(now <= timestamp || now - timestamp <= MAX_DOCUMENT_AGE_MS, EDocumentTooOld);

    assert!(public_key.is_some(), ENoPublicKey);
    let public_key = public_key.destroy_some();
    assert!(public_key.length() == ED25519_KEY_LEN, EBadPublicKey);
    check_document_ref(&document_sha256, &document_blob);

    self.put(
        validator,
        EnclaveRecord {
            public_key,
            config_version,
            registered_ms: now,
            test_mode: false,
            document_sha256,
            document_blob,
        },
    );
    event::emit(EnclaveRegistered {
        validator,
        public_key,
        pcr0,
        pcr1,
        pcr2,
        config_version,
        document_timestamp_ms: timestamp,
        registered_ms: now,
        document_sha256,
        document_blob,
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
    document_sha256: vector<u8>,
    document_blob: vector<u8>,
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
        document_sha256,
        document_blob,
        clock,
        ctx.sender(),
    );
}
