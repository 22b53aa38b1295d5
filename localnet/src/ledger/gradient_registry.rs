//! Twin of `contracts/sources/gradient_registry.move`: each miner's
//! `(blob_id, sha256)` commitment per window, at most `MAX_COMMITMENTS` per
//! window.

use rusqlite::{params, Connection};
use vram_host::chain::aborts::{gradient_registry as e, peer_registry};
use vram_host::chain::types::{Commitment, MAX_SUBMIT_ENTRIES};

use super::hparams::{read_hparams, times};
use super::peer_registry::owner_of;
use super::store::{abort, db, event};
use super::{Address, Ledger};
use crate::error::Result;

impl Ledger {
    /// `gradient_registry::commit_gradient`.
    pub fn commit_gradient(
        &mut self,
        sender: Address,
        window: u64,
        uid: u64,
        blob_id: &[u8],
        sha: &[u8],
        now_ms: u64,
    ) -> Result<()> {
        self.tx(|tx| {
            let hp = read_hparams(tx)?;
            let owner = owner_of(tx, uid)?
                .ok_or_else(|| abort(peer_registry::EUnknownMiner, format!("uid {uid}")))?;
            if owner != sender {
                return Err(abort(e::ENotOwner, format!("uid {uid}")));
            }
            if blob_id.len() != 32 {
                return Err(abort(e::EBadBlobId, format!("{} bytes", blob_id.len())));
            }
            if sha.len() != 32 {
                return Err(abort(e::EBadHash, format!("{} bytes", sha.len())));
            }
            let current = hp.window_at(now_ms);
            if window != current {
                return Err(abort(
                    e::EWrongWindow,
                    format!("window {window}, current {current}"),
                ));
            }
            let deadline = times(&hp, window)?.upload_deadline_ms;
            if now_ms >= deadline {
                return Err(abort(
                    e::EUploadClosed,
                    format!("{} ms after the deadline", now_ms - deadline),
                ));
            }
            let exists: i64 = tx
                .query_row(
                    "SELECT COUNT(*) FROM commitments WHERE window = ?1 AND uid = ?2",
                    params![window as i64, uid as i64],
                    |r| r.get(0),
                )
                .map_err(db("read commitments"))?;
            if exists > 0 {
                return Err(abort(
                    e::EAlreadyCommitted,
                    format!("window {window}, uid {uid}"),
                ));
            }
            let count: i64 = tx
                .query_row(
                    "SELECT COUNT(*) FROM commitments WHERE window = ?1",
                    params![window as i64],
                    |r| r.get(0),
                )
                .map_err(db("read commitments"))?;
            // `gradient_registry::MAX_COMMITMENTS`: what one statement lists.
            if count as usize >= MAX_SUBMIT_ENTRIES {
                return Err(abort(e::EWindowFull, format!("window {window}")));
            }
            let done = tx
                .execute(
                    "INSERT OR IGNORE INTO commitments VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![window as i64, uid as i64, blob_id, sha, now_ms as i64],
                )
                .map_err(db("write commitment"))?;
            if done == 0 {
                return Err(abort(
                    e::EAlreadyCommitted,
                    format!("window {window}, uid {uid}"),
                ));
            }
            event(
                tx,
                now_ms,
                "GradientCommitted",
                &serde_json::json!({"window": window, "miner_uid": uid,
                    "blob_id": hex::encode(blob_id), "sha256": hex::encode(sha)}),
            )
        })
    }

    /// The commitments of `window`, ascending uid.
    pub fn commitments(&self, window: u64) -> Result<Vec<(u64, Commitment)>> {
        commitments(&self.conn, window)
    }
}

/// Every commitment of `window`, ascending uid.
pub(super) fn commitments(conn: &Connection, window: u64) -> Result<Vec<(u64, Commitment)>> {
    let mut stmt = conn
        .prepare(
            "SELECT uid, blob_id, sha256, committed_ms FROM commitments
             WHERE window = ?1 ORDER BY uid",
        )
        .map_err(db("read commitments"))?;
    let rows = stmt
        .query_map(params![window as i64], |r| {
            Ok((
                r.get::<_, i64>(0)? as u64,
                Commitment {
                    blob_id: r.get(1)?,
                    sha256: r.get(2)?,
                    committed_ms: r.get::<_, i64>(3)? as u64,
                },
            ))
        })
        .map_err(db("read commitments"))?;
    rows.collect::<rusqlite::Result<Vec<_>>>()
        .map_err(db("read commitments"))
}
