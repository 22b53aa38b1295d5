// Copyright (c) The VRAM hub authors
// SPDX-License-Identifier: Apache-2.0

/// Window arithmetic from the chain clock, and the checkpoint anchors: the
/// SHA-256 identity of each aggregated checkpoint (weights and config), anchored
/// every `checkpoint_frequency` windows, beside the Walrus blob id of its file
/// list (`vram-checkpoint/1`, docs/protocol.md) so that a validator on an
/// empty machine can fetch it. A window is scored against the latest anchor
/// at or before it.
module vramhub::round_state;

use sui::clock::Clock;
use sui::event;
use sui::table::{Self, Table};
use vramhub::hparams::Hparams;

// === Errors ===

/// A checkpoint hash is not 32 bytes.
const EBadHash: u64 = 0;
/// Anchors must be added in ascending window order.
const ENotAscending: u64 = 1;
/// The window is not a multiple of `checkpoint_frequency`.
const ENotCheckpointWindow: u64 = 2;
/// No checkpoint is anchored at or before the window.
const ENoAnchor: u64 = 3;
/// Anchors are set for windows that have not started (never the current or
/// a past one, so no commitment or statement in flight goes stale) and at
/// most `checkpoint_frequency` windows ahead.
const EAnchorNotFuture: u64 = 4;
/// The checkpoint's Walrus blob id is not 32 bytes.
const EBadBlobId: u64 = 5;

// === Constants ===

/// The window has not started.
const PHASE_FUTURE: u8 = 0;
/// Miners upload and commit.
const PHASE_UPLOAD: u8 = 1;
/// Validators score and submit: from `opens_at_ms` to `scoring_end_ms`.
const PHASE_SCORING: u8 = 2;
/// Over: its scoring span ended.
const PHASE_CLOSED: u8 = 3;
/// Between the upload deadline and `opens_at_ms`: the reveal phase and the
/// seed margin; nothing is scored yet.
const PHASE_REVEAL: u8 = 4;

// === Structs ===

/// Authority to anchor checkpoints (the aggregator's role).
public struct AnchorCap has key, store {
    id: UID,
}

/// One anchor: the checkpoint's identity and where its files are listed.
public struct Anchor has copy, drop, store {
    /// SHA-256 identity of the checkpoint (design §4.2).
    checkpoint_hash: vector<u8>,
    /// Walrus blob id of its `vram-checkpoint/1` file list.
    checkpoint_blob: vector<u8>,
}

/// The shared anchor list.
public struct RoundState has key {
    id: UID,
    /// window -> anchor.
    anchors: Table<u64, Anchor>,
    /// Anchored windows, ascending (binary-searched).
    windows: vector<u64>,
}

// === Events ===

/// A checkpoint became the base for `window` and later windows.
public struct CheckpointAnchored has copy, drop {
    window: u64,
    checkpoint_hash: vector<u8>,
    checkpoint_blob: vector<u8>,
}

// === Init ===

fun init(ctx: &mut TxContext) {
    share(ctx);
    transfer::public_transfer(AnchorCap { id: object::new(ctx) }, ctx.sender());
}

fun share(ctx: &mut TxContext) {
    transfer::share_object(RoundState {
        id: object::new(ctx),
        anchors: table::new(ctx),
        windows: vector[],
    });
}

// === Public Functions ===

/// Anchors `checkpoint_hash` as the base of `window`; its files are listed
/// by the Walrus blob `checkpoint_blob`.
public fun anchor_checkpoint(
    self: &mut RoundState,
    _cap: &AnchorCap,
    hparams: &Hparams,
    window: u64,
    checkpoint_hash: vector<u8>,
    checkpoint_blob: vector<u8>,
    clock: &Clock,
) {
    assert!(checkpoint_hash.length() == 32, EBadHash);
    assert!(checkpoint_blob.length() == 32, EBadBlobId);
    let frequency = hparams.for_window(window).checkpoint_frequency();
    let now = clock.timestamp_ms();
    assert!(
        hparams.window_start_ms(window) > now
            && window <= current_window(hparams, clock) + frequency,
        EAnchorNotFuture,
    );
    assert!(window % frequency == 0, ENotCheckpointWindow);
    let count = self.windows.length();
    assert!(count == 0 || self.windows[count - 1] < window, ENotAscending);
    self.windows.push_back(window);
    self.anchors.add(window, Anchor { checkpoint_hash, checkpoint_blob });
    event::emit(CheckpointAnchored { window, checkpoint_hash, checkpoint_blob });
}

/// The latest anchor at or before `window`: (its window, its hash).
public fun latest_anchor(self: &RoundState, window: u64): (u64, vector<u8>) {
    let (anchored, anchor) = self.latest(window);
    (anchored, anchor.checkpoint_hash)
}

/// The Walrus blob id of the file list of the latest anchor at or before
/// `window`.
public fun latest_anchor_blob(self: &RoundState, window: u64): vector<u8> {
    let (_, anchor) = self.latest(window);
    anchor.checkpoint_blob
}

/// Whether any anchor exists at or before `window`.
public fun has_anchor(self: &RoundState, window: u64): bool {
    let lo = search(&self.windows, window);
    lo > 0
}

/// The window containing the clock's time.
public fun current_window(hparams: &Hparams, clock: &Clock): u64 {
    hparams.window_at(clock.timestamp_ms())
}

/// When uploads for `window` close.
public fun upload_deadline_ms(hparams: &Hparams, window: u64): u64 {
    hparams.window_start_ms(window) + hparams.for_window(window).put_window_open_ms()
}

/// When `window` ends (the next one starts; its scoring goes on).
public fun window_end_ms(hparams: &Hparams, window: u64): u64 {
    hparams.window_start_ms(window) + hparams.for_window(window).window_duration_ms()
}

/// When statements for `window` are first accepted: the upload deadline, the
/// reveal phase and the seed margin later (design §3).
public fun opens_at_ms(hparams: &Hparams, window: u64): u64 {
    let v = hparams.for_window(window);
    upload_deadline_ms(hparams, window) + v.reveal_ms() + v.seed_margin_ms()
}

/// When statements for `window` are no longer accepted: the upload deadline
/// plus the scoring span.
public fun scoring_end_ms(hparams: &Hparams, window: u64): u64 {
    upload_deadline_ms(hparams, window) + hparams.for_window(window).scoring_span_ms()
}

/// The phase of `window` at the clock's time.
public fun phase(hparams: &Hparams, window: u64, clock: &Clock): u8 {
    let now = clock.timestamp_ms();
    if (now < hparams.window_start_ms(window)) PHASE_FUTURE
    else if (now < upload_deadline_ms(hparams, window)) PHASE_UPLOAD
    else if (now < opens_at_ms(hparams, window)) PHASE_REVEAL
    else if (now < scoring_end_ms(hparams, window)) PHASE_SCORING
    else PHASE_CLOSED
}

/// Miners may commit for `window` now.
public fun is_upload_open(hparams: &Hparams, window: u64, clock: &Clock): bool {
    phase(hparams, window, clock) == PHASE_UPLOAD
}

/// Validators may submit for `window` now.
public fun is_scoring(hparams: &Hparams, window: u64, clock: &Clock): bool {
    phase(hparams, window, clock) == PHASE_SCORING
}

// === Private Functions ===

fun latest(self: &RoundState, window: u64): (u64, Anchor) {
    let lo = search(&self.windows, window);
    assert!(lo > 0, ENoAnchor);
    let anchored = self.windows[lo - 1];
    (anchored, *self.anchors.borrow(anchored))
}

/// How many anchored windows are <= `window`.
fun search(windows: &vector<u64>, window: u64): u64 {
    let mut lo = 0;
    let mut hi = windows.length();
    while (lo < hi) {
        let mid = (lo + hi) / 2;
        if (windows[mid] <= window) {
            lo = mid + 1
        } else {
            hi = mid
        };
    };
    lo
}

// === Test Only ===

#[test_only]
public fun init_for_testing(ctx: &mut TxContext): AnchorCap {
    share(ctx);
    AnchorCap { id: object::new(ctx) }
}
