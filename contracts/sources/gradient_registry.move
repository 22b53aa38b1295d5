// Copyright (c) The VRAM hub authors
// SPDX-License-Identifier: Apache-2.0

/// Gradient commitments: before the upload deadline of window `w`, a miner
/// commits `(w, uid, blob_id, sha256(blob))` from the address that owns `uid`.
/// The score ledger later requires every scored entry's gradient hash to be
/// that commitment, so a validator's host cannot substitute a blob.
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

// === Structs ===

/// (window, miner) key.
public struct CommitmentKey has copy, drop, store {
    window: u64,
    miner_uid: u64,
}

/// What a miner committed.
public struct Commitment has copy, drop, store {
    blob_id: vector<u8>,
    sha256: vector<u8>,
    committed_ms: u64,
}

/// The shared registry.
public struct GradientRegistry has key {
    id: UID,
    commitments: Table<CommitmentKey, Commitment>,
    /// window -> committed uids, in commit order.
    by_window: Table<u64, vector<u64>>,
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
        commitments: table::new(ctx),
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
    let key = CommitmentKey { window, miner_uid };
    assert!(!self.commitments.contains(key), EAlreadyCommitted);
    self.commitments.add(key, Commitment { blob_id, sha256, committed_ms: clock.timestamp_ms() });
    if (!self.by_window.contains(window)) self.by_window.add(window, vector[]);
    self.by_window.borrow_mut(window).push_back(miner_uid);
    event::emit(GradientCommitted { window, miner_uid, blob_id, sha256 });
}

/// The miner's commitment for `window`, if any.
public fun commitment(self: &GradientRegistry, window: u64, miner_uid: u64): Option<Commitment> {
    let key = CommitmentKey { window, miner_uid };
    if (self.commitments.contains(key)) option::some(*self.commitments.borrow(key))
    else option::none()
}

/// Whether the miner committed for `window`.
public fun has_commitment(self: &GradientRegistry, window: u64, miner_uid: u64): bool {
    self.commitments.contains(CommitmentKey { window, miner_uid })
}

/// How many miners committed for `window`.
public fun commitment_count(self: &GradientRegistry, window: u64): u64 {
    if (self.by_window.contains(window)) self.by_window.borrow(window).length() else 0
}

/// The uids that committed for `window`, in commit order.
public fun committed_uids(self: &GradientRegistry, window: u64): vector<u64> {
    if (self.by_window.contains(window)) *self.by_window.borrow(window)
    else vector[]
}

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
