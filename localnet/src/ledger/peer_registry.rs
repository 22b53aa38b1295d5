//! Twin of `contracts/sources/peer_registry.move`: miner uids (sequential,
//! never reused), their owners and stakes.

use rusqlite::{params, Connection, OptionalExtension};
use vram_host::chain::aborts::peer_registry as e;

use super::hparams::{for_window, read_hparams};
use super::store::{abort, db, event, meta_u64, put_meta, to_address};
use super::{Address, Ledger};
use crate::error::Result;

impl Ledger {
    /// `peer_registry::register_miner`; returns the uid.
    pub fn register_miner(&mut self, sender: Address, stake: u64, now_ms: u64) -> Result<u64> {
        self.tx(|tx| {
            let hp = read_hparams(tx)?;
            let exists: Option<i64> = tx
                .query_row(
                    "SELECT uid FROM peers WHERE owner = ?1",
                    params![&sender[..]],
                    |r| r.get(0),
                )
                .optional()
                .map_err(db("read peers"))?;
            if exists.is_some() {
                return Err(abort(e::EAlreadyRegistered, "address owns a uid"));
            }
            let window = hp.window_at(now_ms);
            let min = for_window(&hp, window)?.min_miner_stake;
            if stake < min {
                return Err(abort(
                    e::EInsufficientStake,
                    format!("stake {stake} below {min}"),
                ));
            }
            let next = next_uid(tx)? as i64;
            tx.execute(
                "INSERT INTO peers VALUES (?1, ?2, ?3, ?4)",
                params![next, &sender[..], stake as i64, window as i64],
            )
            .map_err(db("write peer"))?;
            put_meta(tx, "next_uid", &(next as u64 + 1).to_le_bytes())?;
            event(
                tx,
                now_ms,
                "MinerRegistered",
                &serde_json::json!({"uid": next, "owner": hex::encode(sender), "stake": stake}),
            )?;
            Ok(next as u64)
        })
    }

    /// `peer_registry::deregister_miner`: the sender's miner leaves and
    /// takes its stake back (returned); its uid is never reused. Its
    /// commitments stay: they still prove its entries.
    pub fn deregister_miner(&mut self, sender: Address, now_ms: u64) -> Result<u64> {
        self.tx(|tx| {
            let row: Option<(i64, i64)> = tx
                .query_row(
                    "SELECT uid, stake FROM peers WHERE owner = ?1",
                    params![&sender[..]],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()
                .map_err(db("read peers"))?;
            let (uid, stake) = row.ok_or_else(|| abort(e::ENotMiner, "sender owns no uid"))?;
            tx.execute("DELETE FROM peers WHERE uid = ?1", params![uid])
                .map_err(db("delete peer"))?;
            // Uids are never reused: remember the next one.
            put_meta(
                tx,
                "next_uid",
                &(next_uid(tx)?.max(uid as u64 + 1)).to_le_bytes(),
            )?;
            event(
                tx,
                now_ms,
                "MinerDeregistered",
                &serde_json::json!({"uid": uid, "owner": hex::encode(sender), "stake": stake}),
            )?;
            Ok(stake as u64)
        })
    }

    /// Registered miners, ascending uid: (uid, owner).
    pub fn miners(&self) -> Result<Vec<(u64, Address)>> {
        let mut stmt = self
            .conn
            .prepare("SELECT uid, owner FROM peers ORDER BY uid")
            .map_err(db("read peers"))?;
        let rows = stmt
            .query_map([], |r| {
                Ok((r.get::<_, i64>(0)? as u64, r.get::<_, Vec<u8>>(1)?))
            })
            .map_err(db("read peers"))?;
        rows.map(|row| {
            let (uid, owner) = row.map_err(db("read peers"))?;
            Ok((uid, to_address(&owner)?))
        })
        .collect()
    }
}

/// `peer_registry::owner_of`.
pub(super) fn owner_of(conn: &Connection, uid: u64) -> Result<Option<Address>> {
    let owner: Option<Vec<u8>> = conn
        .query_row(
            "SELECT owner FROM peers WHERE uid = ?1",
            params![uid as i64],
            |r| r.get(0),
        )
        .optional()
        .map_err(db("read peers"))?;
    owner.map(|o| to_address(&o)).transpose()
}

/// `peer_registry::next_uid`: the uid the next miner gets (never reused).
fn next_uid(conn: &Connection) -> Result<u64> {
    let highest: Option<i64> = conn
        .query_row("SELECT MAX(uid) FROM peers", [], |r| r.get(0))
        .map_err(db("read peers"))?;
    let from_peers = highest.map_or(0, |h| h as u64 + 1);
    Ok(meta_u64(conn, "next_uid")?.unwrap_or(0).max(from_peers))
}
