// Copyright (c) The VRAM hub authors
// SPDX-License-Identifier: Apache-2.0

/// Gradient commitments: before the upload deadline of window `w`, a miner
/// commits `(w, uid, blob_id, sha256(blob))` from the address that owns `uid`.
/// The score ledger takes every entry's gradient hash from these commitments,
/// so a validator's host cannot substitute a blob.
///
/// A window's commitments live in one table entry, sorted by uid: a
/// submission loads one dynamic field for the whole window, whatever its size
/// (design §4.4: a transaction loads about 1000 dynamic fields; a window may
/// hold 2000 commitments). At about 90 bytes a commitment, 2000 take 180 KB of
/// the 256 KB object limit.
module vramhub::gradient_registry;

use sui::clock::Clock;
use sui::event;
use sui::table::{Self, Table};
use vramhub::hparams::Hparams;
use vramhub::peer_registry::PeerRegistry;
use vramhub::round_state;

// === Errors ===

/// The sender does not own the miner uid.
const ENotOwner: u64 = 0;
/// A Walrus blob id is 32 bytes.
const EBadBlobId: u64 = 1;
/// A blob hash is a 32-byte SHA-256.
const EBadHash: u64 = 2;
/// Commitments are for the current window only.
const EWrongWindow: u64 = 3;
/// The window's upload deadline has passed.
const EUploadClosed: u64 = 4;
/// The miner already committed for this window.
const EAlreadyCommitted: u64 = 5;
/// The window already holds `MAX_COMMITMENTS` commitments.
const EWindowFull: u64 = 6;

// === Constants ===

/// The most commitments a window holds: what one statement lists.
const MAX_COMMITMENTS: u64 = 2000;

// === Structs ===

/// What a miner committed.
public struct Commitment has copy, drop, store {
    blob_id: vector<u8>,
    sha256: vector<u8>,
    committed_ms: u64,
}

/// One miner's commitment in its window's list.
public struct Committed has copy, drop, store {
    miner_uid: u64,
    commitment: Commitment,
}

/// The shared registry.
public struct GradientRegistry has key {
    id: UID,
    /// window -> its commitments, ascending uid.
    by_window: Table<u64, vector<Committed>>,
}

// === Events ===

/// A miner committed a gradient blob.
public struct GradientCommitted has copy, drop {
    window: u64,
    miner_uid: u64,
    blob_id: vector<u8>,
    sha256: vector<u8>,
}

// === Init ===

fun init(ctx: &mut TxContext) {
    transfer::share_object(GradientRegistry {
        id: object::new(ctx),
        by_window: table::new(ctx),
    });
}

// === Public Functions ===

/// Commits the sender's gradient blob for `window`.
public fun commit_gradient(
    self: &mut GradientRegistry,
    peers: &PeerRegistry,
    hparams: &Hparams,
    window: u64,
    miner_uid: u64,
    blob_id: vector<u8>,
    sha256: vector<u8>,
    clock: &Clock,
    ctx: &mut TxContext,
) {
    assert!(peers.owner_of(miner_uid) == ctx.sender(), ENotOwner);
    assert!(blob_id.length() == 32, EBadBlobId);
    assert!(sha256.length() == 32, EBadHash);
    assert!(window == round_state::current_window(hparams, clock), EWrongWindow);
    assert!(round_state::is_upload_open(hparams, window, clock), EUploadClosed);
    if (!self.by_window.contains(window)) self.by_window.add(window, vector[]);
    let list = self.by_window.borrow_mut(window);
    let (found, at) = position(list, miner_uid);
    assert!(!found, EAlreadyCommitted);
    assert!(list.length() < MAX_COMMITMENTS, EWindowFull);
    let commitment = Commitment { blob_id, sha256, committed_ms: clock.timestamp_ms() };
    list.insert(Committed { miner_uid, commitment }, at);
    event::emit(GradientCommitted { window, miner_uid, blob_id, sha256 });
}

/// The miner's commitment for `window`, if any.
public fun commitment(self: &GradientRegistry, window: u64, miner_uid: u64): Option<Commitment> {
    if (!self.by_window.contains(window)) return option::none();
    let list = self.by_window.borrow(window);
    let (found, at) = position(list, miner_uid);
    if (found) option::some(list[at].commitment) else option::none()
}

/// Whether the miner committed for `window`.
public fun has_commitment(self: &GradientRegistry, window: u64, miner_uid: u64): bool {
    self.commitment(window, miner_uid).is_some()
}

/// How many miners committed for `window`.
public fun commitment_count(self: &GradientRegistry, window: u64): u64 {
    if (self.by_window.contains(window)) self.by_window.borrow(window).length() else 0
}

/// Whether anyone committed for `window`.
public fun has_window(self: &GradientRegistry, window: u64): bool {
    self.by_window.contains(window)
}

/// The window's commitments, ascending uid, by reference (one dynamic-field
/// load, no copy); aborts if nobody committed (see `has_window`).
public fun borrow_window(self: &GradientRegistry, window: u64): &vector<Committed> {
    self.by_window.borrow(window)
}

/// The window's commitments, ascending uid (empty if none).
public fun window_commitments(self: &GradientRegistry, window: u64): vector<Committed> {
    if (self.by_window.contains(window)) *self.by_window.borrow(window)
    else vector[]
}

/// The uids that committed for `window`, ascending.
public fun committed_uids(self: &GradientRegistry, window: u64): vector<u64> {
    let list = self.window_commitments(window);
    list.map_ref!(|c| c.miner_uid)
}

/// Binary search of `miner_uid` in a list sorted by uid: (found, index).
public fun position(list: &vector<Committed>, miner_uid: u64): (bool, u64) {
    let mut lo = 0;
    let mut hi = list.length();
    while (lo < hi) {
        let mid = (lo + hi) / 2;
        let uid = list[mid].miner_uid;
        if (uid == miner_uid) return (true, mid);
        if (uid < miner_uid) lo = mid + 1 else hi = mid;
    };
    (false, lo)
}

/// The listed miner.
public fun miner_uid(c: &Committed): u64 { c.miner_uid }

/// The listed commitment.
public fun commitment_of(c: &Committed): &Commitment { &c.commitment }

/// The committed blob id.
public fun blob_id(c: &Commitment): &vector<u8> { &c.blob_id }

/// The committed SHA-256 of the blob.
public fun sha256(c: &Commitment): &vector<u8> { &c.sha256 }

/// When the commitment landed.
public fun committed_ms(c: &Commitment): u64 { c.committed_ms }

// === Test Only ===

#[test_only]
public fun init_for_testing(ctx: &mut TxContext) {
    init(ctx)
}

#[test_only]
/// Inserts a commitment as `commit_gradient` would, without its owner, clock
/// and phase checks (tests that fill a window with thousands of miners).
public fun commit_for_testing(
    self: &mut GradientRegistry,
    window: u64,
    miner_uid: u64,
    sha256: vector<u8>,
) {
    if (!self.by_window.contains(window)) self.by_window.add(window, vector[]);
    let list = self.by_window.borrow_mut(window);
    let (found, at) = position(list, miner_uid);
    assert!(!found, EAlreadyCommitted);
    assert!(list.length() < MAX_COMMITMENTS, EWindowFull);
    let commitment = Commitment { blob_id: sha256, sha256, committed_ms: 0 };
    list.insert(Committed { miner_uid, commitment }, at);
}
