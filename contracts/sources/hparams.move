// Copyright (c) The VRAM hub authors
// SPDX-License-Identifier: Apache-2.0

/// Network hyperparameters, set by governance through `HparamsAdminCap`.
///
/// An update never changes the window in progress: it takes effect at the next
/// window boundary. Values live in schedule segments so that a change of
/// `window_duration_ms` keeps earlier window numbers where they were: window `w`
/// of a segment starts at `start_ms + (w - start_window) * window_duration_ms`.
/// With the defaults (one segment from 0) that is `w * window_duration_ms`.
///
/// Fixed point: every fractional parameter is stored times 1e9 (`_e9`).
module vramhub::hparams;

use std::bcs;
use std::hash;
use sui::clock::Clock;
use sui::event;

// === Errors ===

/// A parameter is outside its allowed range (see `validate`).
const EInvalidValue: u64 = 0;
/// The dataset root is not a 32-byte SHA-256.
const EBadDatasetRoot: u64 = 1;
/// The window precedes the schedule's first segment.
const EWindowBeforeSchedule: u64 = 2;
/// The dataset index's Walrus blob id is not 32 bytes.
const EBadDatasetBlob: u64 = 3;
/// The update would let the last window under the old values still be
/// scoring when the first window under the new ones opens: a validator has
/// at most one window in flight (design §3).
const EWindowsOverlap: u64 = 4;

// === Constants ===

const SCALE_E9: u64 = 1_000_000_000;
const MAX_TOPK: u64 = 4096;

// === Structs ===

/// Authority to change hyperparameters.
public struct HparamsAdminCap has key, store {
    id: UID,
}

/// Every parameter. Field order is part of the BCS layout the host decodes
/// (`docs/contracts.md`, Rust twin `vram_host::chain::types::HparamValues`).
public struct Values has copy, drop, store {
    window_duration_ms: u64,
    put_window_open_ms: u64,
    topk_compression: u64,
    top_g: u64,
    openskill_beta_e9: u64,
    openskill_tau_e9: u64,
    emission_per_window: u64,
    checkpoint_frequency: u64,
    min_miner_stake: u64,
    min_validator_stake: u64,
    validator_offset: u64,
    gauntlet_gamma_e9: u64,
    sync_threshold: u64,
    learning_rate_e9: u64,
    page_len: u64,
    own_pages: u64,
    random_pages: u64,
    dataset_root: vector<u8>,
    dataset_pages: u64,
    /// Most entries a statement may score (status 0); the valid rest are
    /// status 4, in the seed's order (design §4.4, budgeted selection).
    max_scored: u64,
    /// How long after the upload deadline an enclave waits, by its own
    /// clock, before it opens a window (covers enclave clock drift).
    seed_margin_ms: u64,
    /// Walrus blob id of the dataset index (`vram-dataset/1`, docs/protocol.md):
    /// where a validator on an empty machine finds the manifest and the
    /// pages. Their identity stays `dataset_root`; the index is transport.
    dataset_blob: vector<u8>,
    /// How long after the upload deadline a window's statements are
    /// accepted (its scoring span, design §3). At most one window long, so
    /// window W is scored while miners upload W+1.
    scoring_span_ms: u64,
    /// The reveal phase right after the upload deadline: no window opens
    /// in it.
    reveal_ms: u64,
}

/// Values in force from `start_window`, which starts at `start_ms`.
public struct Segment has copy, drop, store {
    start_window: u64,
    start_ms: u64,
    values: Values,
}

/// The shared parameters object.
public struct Hparams has key {
    id: UID,
    /// Bumped by every update.
    version: u64,
    /// Every segment ever in force, ascending by `start_window`, so that an
    /// auditor can rebuild the parameters of any past window. The last one
    /// may still be pending (its `start_ms` ahead of the clock).
    segments: vector<Segment>,
}

/// The evaluation parameters the enclave uses (design §4.4; field order is
/// normative). Its BCS hash goes in every statement; the Rust twin is
/// `vram_enclave::eval::EvalParams`. `max_scored` is the submitting
/// validator's declared budget (`validator_registry::budget_for_window`).
/// The enclave opens a window only at or after `opens_at_ms` by its own
/// clock and signs only before `scoring_end_ms - seed_margin_ms`.
public struct EvalParams has copy, drop {
    learning_rate_e9: u64,
    topk: u64,
    page_len: u64,
    own_pages: u64,
    random_pages: u64,
    max_scored: u64,
    upload_deadline_ms: u64,
    seed_margin_ms: u64,
    opens_at_ms: u64,
    scoring_end_ms: u64,
}

// === Events ===

/// Hyperparameters changed; they apply from `effective_window`.
public struct HparamsUpdated has copy, drop {
    version: u64,
    effective_window: u64,
    effective_ms: u64,
    values: Values,
}

// === Init ===

fun init(ctx: &mut TxContext) {
    share(ctx);
    transfer::public_transfer(HparamsAdminCap { id: object::new(ctx) }, ctx.sender());
}

fun share(ctx: &mut TxContext) {
    transfer::share_object(Hparams {
        id: object::new(ctx),
        version: 0,
        segments: vector[Segment { start_window: 0, start_ms: 0, values: defaults() }],
    });
}

// === Public Functions ===

/// The network's published defaults. The dataset is unset (empty root) until
/// governance sets one; statements cannot be accepted before that.
public fun defaults(): Values {
    Values {
        window_duration_ms: 600_000,
        put_window_open_ms: 480_000,
        topk_compression: 32,
        top_g: 15,
        openskill_beta_e9: 4_166_666_667, // 25/6
        openskill_tau_e9: 83_333_333, // 25/300
        emission_per_window: 70_000_000_000,
        checkpoint_frequency: 100,
        min_miner_stake: 1_000_000_000,
        min_validator_stake: 10_000_000_000,
        validator_offset: 2,
        gauntlet_gamma_e9: 990_000_000,
        sync_threshold: 3,
        learning_rate_e9: 1_000_000, // 1e-3
        page_len: 1025,
        own_pages: 4,
        random_pages: 8,
        dataset_root: vector[],
        dataset_pages: 0,
        max_scored: 256,
        seed_margin_ms: 10_000,
        dataset_blob: vector[],
        scoring_span_ms: 600_000,
        reveal_ms: 30_000,
    }
}

/// Builds a full set of values (for `update_hparams` in a programmable
/// transaction).
public fun new_values(
    window_duration_ms: u64,
    put_window_open_ms: u64,
    topk_compression: u64,
    top_g: u64,
    openskill_beta_e9: u64,
    openskill_tau_e9: u64,
    emission_per_window: u64,
    checkpoint_frequency: u64,
    min_miner_stake: u64,
    min_validator_stake: u64,
    validator_offset: u64,
    gauntlet_gamma_e9: u64,
    sync_threshold: u64,
    learning_rate_e9: u64,
    page_len: u64,
    own_pages: u64,
    random_pages: u64,
    dataset_root: vector<u8>,
    dataset_pages: u64,
    max_scored: u64,
    seed_margin_ms: u64,
    dataset_blob: vector<u8>,
    scoring_span_ms: u64,
    reveal_ms: u64,
): Values {
    let values = Values {
        window_duration_ms,
        put_window_open_ms,
        topk_compression,
        top_g,
        openskill_beta_e9,
        openskill_tau_e9,
        emission_per_window,
        checkpoint_frequency,
        min_miner_stake,
        min_validator_stake,
        validator_offset,
        gauntlet_gamma_e9,
        sync_threshold,
        learning_rate_e9,
        page_len,
        own_pages,
        random_pages,
        dataset_root,
        dataset_pages,
        max_scored,
        seed_margin_ms,
        dataset_blob,
        scoring_span_ms,
        reveal_ms,
    };
    validate(&values);
    values
}

/// Schedules `values` for the next window boundary. A pending update that has
/// not taken effect yet is replaced. Refused (`EWindowsOverlap`) when the
/// last window under the values in force would still be scoring when the
/// first window under `values` opens.
public fun update_hparams(
    self: &mut Hparams,
    _cap: &HparamsAdminCap,
    values: Values,
    clock: &Clock,
) {
    validate(&values);
    let now = clock.timestamp_ms();
    let window = self.window_at(now) + 1;
    let start_ms = self.window_start_ms(window);
    // A pending segment starts at this same boundary: it is replaced.
    if (self.segments[self.segments.length() - 1].start_ms > now) {
        self.segments.pop_back();
    };
    let before = self.eval_params(window - 1, 0);
    let opens_at = start_ms + values.put_window_open_ms + values.reveal_ms + values.seed_margin_ms;
    assert!(before.scoring_end_ms <= opens_at, EWindowsOverlap);
    self.segments.push_back(Segment { start_window: window, start_ms, values });
    self.version = self.version + 1;
    event::emit(HparamsUpdated {
        version: self.version,
        effective_window: window,
        effective_ms: start_ms,
        values,
    });
}

/// The window that contains chain time `now_ms`.
public fun window_at(self: &Hparams, now_ms: u64): u64 {
    let segment = self.segment_at_ms(now_ms);
    let duration = segment.values.window_duration_ms;
    segment.start_window + (now_ms - segment.start_ms) / duration
}

/// When `window` starts.
public fun window_start_ms(self: &Hparams, window: u64): u64 {
    let segment = self.segment_for_window(window);
    segment.start_ms + (window - segment.start_window) * segment.values.window_duration_ms
}

/// The values in force during `window`.
public fun for_window(self: &Hparams, window: u64): &Values {
    &self.segment_for_window(window).values
}

/// The evaluation parameters for `window` and a validator whose budget
/// for it is `budget` (capped at the window's `max_scored`), with the
/// window's timeline: `opens_at_ms = deadline + reveal_ms + seed_margin_ms`,
/// `scoring_end_ms = deadline + scoring_span_ms` (design §3).
public fun eval_params(self: &Hparams, window: u64, budget: u64): EvalParams {
    let v = self.for_window(window);
    let deadline = self.window_start_ms(window) + v.put_window_open_ms;
    EvalParams {
        learning_rate_e9: v.learning_rate_e9,
        topk: v.topk_compression,
        page_len: v.page_len,
        own_pages: v.own_pages,
        random_pages: v.random_pages,
        max_scored: budget.min(v.max_scored),
        upload_deadline_ms: deadline,
        seed_margin_ms: v.seed_margin_ms,
        opens_at_ms: deadline + v.reveal_ms + v.seed_margin_ms,
        scoring_end_ms: deadline + v.scoring_span_ms,
    }
}

/// `sha256(bcs(EvalParams))`, as statements carry it.
public fun eval_params_hash(self: &Hparams, window: u64, budget: u64): vector<u8> {
    hash::sha2_256(bcs::to_bytes(&self.eval_params(window, budget)))
}

/// When the enclave may open `window` and the chain starts accepting its
/// statements.
public fun opens_at_ms(p: &EvalParams): u64 { p.opens_at_ms }

/// When the chain stops accepting `window`'s statements.
public fun scoring_end_ms(p: &EvalParams): u64 { p.scoring_end_ms }

/// The budget the parameters carry.
public fun budget(p: &EvalParams): u64 { p.max_scored }

/// Bumped by every update.
public fun version(self: &Hparams): u64 { self.version }

/// How many schedule segments exist (every one ever scheduled).
public fun segment_count(self: &Hparams): u64 { self.segments.length() }

/// Segment `i`: (start window, start ms, values).
public fun segment(self: &Hparams, i: u64): (u64, u64, Values) {
    let s = &self.segments[i];
    (s.start_window, s.start_ms, s.values)
}

// === Getters on Values ===

public fun window_duration_ms(v: &Values): u64 { v.window_duration_ms }

public fun put_window_open_ms(v: &Values): u64 { v.put_window_open_ms }

public fun topk_compression(v: &Values): u64 { v.topk_compression }

public fun top_g(v: &Values): u64 { v.top_g }

public fun openskill_beta_e9(v: &Values): u64 { v.openskill_beta_e9 }

public fun openskill_tau_e9(v: &Values): u64 { v.openskill_tau_e9 }

public fun emission_per_window(v: &Values): u64 { v.emission_per_window }

public fun checkpoint_frequency(v: &Values): u64 { v.checkpoint_frequency }

public fun min_miner_stake(v: &Values): u64 { v.min_miner_stake }

public fun min_validator_stake(v: &Values): u64 { v.min_validator_stake }

public fun validator_offset(v: &Values): u64 { v.validator_offset }

public fun gauntlet_gamma_e9(v: &Values): u64 { v.gauntlet_gamma_e9 }

public fun sync_threshold(v: &Values): u64 { v.sync_threshold }

public fun learning_rate_e9(v: &Values): u64 { v.learning_rate_e9 }

public fun page_len(v: &Values): u64 { v.page_len }

public fun own_pages(v: &Values): u64 { v.own_pages }

public fun random_pages(v: &Values): u64 { v.random_pages }

public fun dataset_root(v: &Values): &vector<u8> { &v.dataset_root }

public fun dataset_pages(v: &Values): u64 { v.dataset_pages }

public fun max_scored(v: &Values): u64 { v.max_scored }

public fun seed_margin_ms(v: &Values): u64 { v.seed_margin_ms }

public fun dataset_blob(v: &Values): &vector<u8> { &v.dataset_blob }

public fun scoring_span_ms(v: &Values): u64 { v.scoring_span_ms }

public fun reveal_ms(v: &Values): u64 { v.reveal_ms }

// === Private Functions ===

/// The last segment that started at or before `now_ms` (binary search; the
/// genesis segment starts at 0).
fun segment_at_ms(self: &Hparams, now_ms: u64): &Segment {
    let mut lo = 0;
    let mut hi = self.segments.length();
    while (lo < hi) {
        let mid = (lo + hi) / 2;
        if (self.segments[mid].start_ms <= now_ms) lo = mid + 1 else hi = mid;
    };
    assert!(lo > 0, EWindowBeforeSchedule);
    &self.segments[lo - 1]
}

/// The last segment whose first window is at or before `window`.
fun segment_for_window(self: &Hparams, window: u64): &Segment {
    let mut lo = 0;
    let mut hi = self.segments.length();
    while (lo < hi) {
        let mid = (lo + hi) / 2;
        if (self.segments[mid].start_window <= window) lo = mid + 1 else hi = mid;
    };
    assert!(lo > 0, EWindowBeforeSchedule);
    &self.segments[lo - 1]
}

fun validate(v: &Values) {
    assert!(v.window_duration_ms > 0, EInvalidValue);
    assert!(v.put_window_open_ms > 0, EInvalidValue);
    assert!(v.put_window_open_ms < v.window_duration_ms, EInvalidValue);
    assert!(v.topk_compression > 0 && v.topk_compression <= MAX_TOPK, EInvalidValue);
    assert!(v.top_g > 0, EInvalidValue);
    assert!(v.openskill_beta_e9 > 0, EInvalidValue);
    assert!(v.checkpoint_frequency > 0, EInvalidValue);
    assert!(v.gauntlet_gamma_e9 <= SCALE_E9, EInvalidValue);
    assert!(v.learning_rate_e9 > 0, EInvalidValue);
    assert!(v.page_len >= 2, EInvalidValue);
    assert!(v.own_pages > 0 && v.random_pages > 0, EInvalidValue);
    assert!(v.dataset_root.length() == 32, EBadDatasetRoot);
    assert!(v.dataset_pages > 0, EInvalidValue);
    assert!(v.dataset_blob.length() == 32, EBadDatasetBlob);
    assert!(v.max_scored > 0, EInvalidValue);
    // The enclave opens after the reveal phase and the margin and signs a
    // margin before the span ends: room is left to score; and window W's
    // span ends before W+1's opens.
    assert!(v.reveal_ms + 2 * v.seed_margin_ms < v.scoring_span_ms, EInvalidValue);
    assert!(v.scoring_span_ms <= v.window_duration_ms, EInvalidValue);
}

// === Test Only ===

#[test_only]
/// Shares a default `Hparams` and returns its admin capability.
public fun init_for_testing(ctx: &mut TxContext): HparamsAdminCap {
    share(ctx);
    HparamsAdminCap { id: object::new(ctx) }
}

#[test_only]
/// Overrides one value in a set (tests build variants from the defaults).
public fun with_dataset(
    v: Values,
    dataset_root: vector<u8>,
    dataset_pages: u64,
    dataset_blob: vector<u8>,
): Values {
    let mut v = v;
    v.dataset_root = dataset_root;
    v.dataset_pages = dataset_pages;
    v.dataset_blob = dataset_blob;
    v
}

#[test_only]
public fun with_window(v: Values, window_duration_ms: u64, put_window_open_ms: u64): Values {
    let mut v = v;
    v.window_duration_ms = window_duration_ms;
    v.put_window_open_ms = put_window_open_ms;
    v
}

#[test_only]
public fun with_checkpoint_frequency(v: Values, checkpoint_frequency: u64): Values {
    let mut v = v;
    v.checkpoint_frequency = checkpoint_frequency;
    v
}

#[test_only]
public fun with_timeline(
    v: Values,
    scoring_span_ms: u64,
    reveal_ms: u64,
    seed_margin_ms: u64,
): Values {
    let mut v = v;
    v.scoring_span_ms = scoring_span_ms;
    v.reveal_ms = reveal_ms;
    v.seed_margin_ms = seed_margin_ms;
    v
}

#[test_only]
/// The same values through `new_values`, so its checks run.
public fun rebuilt(v: Values): Values {
    new_values(
        v.window_duration_ms,
        v.put_window_open_ms,
        v.topk_compression,
        v.top_g,
        v.openskill_beta_e9,
        v.openskill_tau_e9,
        v.emission_per_window,
        v.checkpoint_frequency,
        v.min_miner_stake,
        v.min_validator_stake,
        v.validator_offset,
        v.gauntlet_gamma_e9,
        v.sync_threshold,
        v.learning_rate_e9,
        v.page_len,
        v.own_pages,
        v.random_pages,
        v.dataset_root,
        v.dataset_pages,
        v.max_scored,
        v.seed_margin_ms,
        v.dataset_blob,
        v.scoring_span_ms,
        v.reveal_ms,
    )
}

#[test_only]
public fun with_max_scored(v: Values, max_scored: u64): Values {
    let mut v = v;
    v.max_scored = max_scored;
    v
}
