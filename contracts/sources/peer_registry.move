// Copyright (c) The VRAM hub authors
// SPDX-License-Identifier: Apache-2.0

/// Miners ("peers"): which address owns which miner uid. Uids are handed out in
/// order and never reused, so a statement's uid always names one owner. Stake is
/// held as a real `Balance<SUI>`.
module vramhub::peer_registry;

use sui::balance::Balance;
use sui::clock::Clock;
use sui::coin::{Self, Coin};
use sui::event;
use sui::sui::SUI;
use sui::table::{Self, Table};
use vramhub::hparams::Hparams;
use vramhub::round_state;

// === Errors ===

/// The address already owns a miner uid.
const EAlreadyRegistered: u64 = 0;
/// The stake is below `min_miner_stake`.
const EInsufficientStake: u64 = 1;
/// No miner has this uid.
const EUnknownMiner: u64 = 2;
/// The sender owns no miner uid.
const ENotMiner: u64 = 3;

// === Structs ===

/// One miner.
public struct Peer has store {
    owner: address,
    stake: Balance<SUI>,
    registered_window: u64,
}

/// The shared registry.
public struct PeerRegistry has key {
    id: UID,
    next_uid: u64,
    peers: Table<u64, Peer>,
    uid_of: Table<address, u64>,
}

// === Events ===

/// A miner joined with `uid`.
public struct MinerRegistered has copy, drop {
    uid: u64,
    owner: address,
    stake: u64,
    window: u64,
}

/// A miner left and took its stake back; its uid is never reused.
public struct MinerDeregistered has copy, drop {
    uid: u64,
    owner: address,
    stake: u64,
}

// === Init ===

fun init(ctx: &mut TxContext) {
    transfer::share_object(PeerRegistry {
        id: object::new(ctx),
        next_uid: 0,
        peers: table::new(ctx),
        uid_of: table::new(ctx),
    });
}

// === Public Functions ===

/// Registers the sender as a miner and returns its uid.
public fun register_miner(
    self: &mut PeerRegistry,
    hparams: &Hparams,
    stake: Coin<SUI>,
    clock: &Clock,
    ctx: &mut TxContext,
): u64 {
    let owner = ctx.sender();
    assert!(!self.uid_of.contains(owner), EAlreadyRegistered);
    let window = round_state::current_window(hparams, clock);
    let amount = stake.value();
    assert!(amount >= hparams.for_window(window).min_miner_stake(), EInsufficientStake);
    let uid = self.next_uid;
    self.next_uid = uid + 1;
    self.peers.add(uid, Peer { owner, stake: stake.into_balance(), registered_window: window });
    self.uid_of.add(owner, uid);
    event::emit(MinerRegistered { uid, owner, stake: amount, window });
    uid
}

/// Removes the sender's miner and returns its stake.
public fun deregister_miner(self: &mut PeerRegistry, ctx: &mut TxContext): Coin<SUI> {
    let owner = ctx.sender();
    assert!(self.uid_of.contains(owner), ENotMiner);
    let uid = self.uid_of.remove(owner);
    let Peer { owner: _, stake, registered_window: _ } = self.peers.remove(uid);
    event::emit(MinerDeregistered { uid, owner, stake: stake.value() });
    coin::from_balance(stake, ctx)
}

/// Whether a miner has `uid`.
public fun is_registered(self: &PeerRegistry, uid: u64): bool {
    self.peers.contains(uid)
}

/// The address that owns `uid`.
public fun owner_of(self: &PeerRegistry, uid: u64): address {
    assert!(self.peers.contains(uid), EUnknownMiner);
    self.peers.borrow(uid).owner
}

/// The uid `owner` holds, if any.
public fun uid_of(self: &PeerRegistry, owner: address): Option<u64> {
    if (self.uid_of.contains(owner)) option::some(*self.uid_of.borrow(owner)) else option::none()
}

/// The miner's stake.
public fun stake(self: &PeerRegistry, uid: u64): u64 {
    assert!(self.peers.contains(uid), EUnknownMiner);
    self.peers.borrow(uid).stake.value()
}

/// The uid the next miner will get.
public fun next_uid(self: &PeerRegistry): u64 { self.next_uid }

// === Test Only ===

#[test_only]
public fun init_for_testing(ctx: &mut TxContext) {
    init(ctx)
}
