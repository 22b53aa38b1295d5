//! Twin of `contracts/sources/round_state.move`: checkpoint anchors.

use rusqlite::{params, Connection, OptionalExtension};
use vram_host::chain::aborts::round_state as e;
use vram_host::chain::types::{Anchor, AnchorRef};

use super::hparams::{for_window, read_hparams, times};
use super::store::{abort, db, event, to_address};
use super::Ledger;
use crate::error::Result;

impl Ledger {
    /// `round_state::anchor_checkpoint`: `hash` is the checkpoint's
    /// identity, `blob` the Walrus id of its file list.
    pub fn anchor_checkpoint(
        &mut self,
        window: u64,
        hash: &[u8],
        blob: &[u8],
        now_ms: u64,
    ) -> Result<()> {
        self.tx(|tx| {
            let hp = read_hparams(tx)?;
            if hash.len() != 32 {
                return Err(abort(e::EBadHash, format!("{} bytes", hash.len())));
            }
            if blob.len() != 32 {
                return Err(abort(e::EBadBlobId, format!("{} bytes", blob.len())));
            }
            let frequency = for_window(&hp, window)?.checkpoint_frequency;
            // Only windows that have not started, at most a checkpoint
            // period ahead: nothing in flight goes stale.
            let start = times(&hp, window)?.start_ms;
            if start <= now_ms || window > hp.window_at(now_ms) + frequency {
                return Err(abort(
                    e::EAnchorNotFuture,
                    format!("window {window} starts at {start}; now {now_ms}"),
                ));
            }
            if window % frequency != 0 {
                return Err(abort(
                    e::ENotCheckpointWindow,
                    format!("{window} is not a multiple of {frequency}"),
                ));
            }
            let last: Option<i64> = tx
                .query_row("SELECT MAX(window) FROM anchors", [], |r| r.get(0))
                .map_err(db("read anchors"))?;
            if last.is_some_and(|l| l as u64 >= window) {
                return Err(abort(e::ENotAscending, format!("window {window}")));
            }
            tx.execute(
                "INSERT INTO anchors VALUES (?1, ?2, ?3)",
                params![window as i64, hash, blob],
            )
            .map_err(db("write anchor"))?;
            event(
                tx,
                now_ms,
                "CheckpointAnchored",
                &serde_json::json!({"window": window, "checkpoint_hash": hex::encode(hash),
                    "checkpoint_blob": hex::encode(blob)}),
            )
        })
    }

    /// `round_state::latest_anchor`: (anchored window, hash).
    pub fn latest_anchor(&self, window: u64) -> Result<(u64, [u8; 32])> {
        latest_anchor(&self.conn, window)
    }

    /// The latest anchor at or before `window`, with its file list's blob id.
    pub fn anchor(&self, window: u64) -> Result<AnchorRef> {
        let (anchored, hash) = latest_anchor(&self.conn, window)?;
        let blob: Vec<u8> = self
            .conn
            .query_row(
                "SELECT blob FROM anchors WHERE window = ?1",
                params![anchored as i64],
                |r| r.get(0),
            )
            .map_err(db("read anchors"))?;
        Ok(Anchor {
            checkpoint_hash: hash.to_vec(),
            checkpoint_blob: blob,
        }
        .checked(anchored)?)
    }
}

/// `round_state::latest_anchor`.
pub(super) fn latest_anchor(conn: &Connection, window: u64) -> Result<(u64, [u8; 32])> {
    let row: Option<(i64, Vec<u8>)> = conn
        .query_row(
            "SELECT window, hash FROM anchors WHERE window <= ?1 ORDER BY window DESC LIMIT 1",
            params![window as i64],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .map_err(db("read anchors"))?;
    let (anchored, hash) = row.ok_or_else(|| abort(e::ENoAnchor, format!("window {window}")))?;
    Ok((anchored as u64, to_address(&hash)?))
}
