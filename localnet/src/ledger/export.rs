//! The whole ledger as JSON: the audit bundle's `ledger.json`.

use rusqlite::Connection;

use super::store::db;
use super::Ledger;
use crate::error::{Error, Result};

impl Ledger {
    /// The whole ledger as JSON (the audit bundle's `ledger.json`).
    pub fn export(&self) -> Result<serde_json::Value> {
        let hp = self.hparams()?;
        let miners: Vec<_> = self
            .miners()?
            .iter()
            .map(|(uid, owner)| serde_json::json!({"uid": uid, "owner": hex::encode(owner)}))
            .collect();
        Ok(serde_json::json!({
            "kind": "vramhub local ledger (a stand-in for the Move package, not a chain)",
            "hparams": hp,
            "miners": miners,
            "anchors": anchors(&self.conn)?,
            "commitments": commitments(&self.conn)?,
            "submissions": self.submissions()?,
            "events": events(&self.conn)?,
        }))
    }
}

fn events(conn: &Connection) -> Result<Vec<serde_json::Value>> {
    let mut stmt = conn
        .prepare("SELECT at_ms, kind, body FROM events ORDER BY id")
        .map_err(db("export events"))?;
    let rows = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
            ))
        })
        .map_err(db("export events"))?;
    rows.map(|row| {
        let (at_ms, kind, body) = row.map_err(db("export events"))?;
        let body: serde_json::Value =
            serde_json::from_str(&body).map_err(|err| Error::Corrupt {
                what: "event",
                reason: err.to_string(),
            })?;
        Ok(serde_json::json!({"at_ms": at_ms, "kind": kind, "event": body}))
    })
    .collect()
}

fn anchors(conn: &Connection) -> Result<Vec<serde_json::Value>> {
    let mut stmt = conn
        .prepare("SELECT window, hash, blob FROM anchors ORDER BY window")
        .map_err(db("export anchors"))?;
    let rows = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, Vec<u8>>(1)?,
                r.get::<_, Vec<u8>>(2)?,
            ))
        })
        .map_err(db("export anchors"))?;
    rows.map(|row| {
        let (window, hash, blob) = row.map_err(db("export anchors"))?;
        Ok(
            serde_json::json!({"window": window, "checkpoint_hash": hex::encode(hash),
            "checkpoint_blob": hex::encode(blob)}),
        )
    })
    .collect()
}

fn commitments(conn: &Connection) -> Result<Vec<serde_json::Value>> {
    let mut stmt = conn
        .prepare(
            "SELECT window, uid, blob_id, sha256, committed_ms FROM commitments
             ORDER BY window, uid",
        )
        .map_err(db("export commitments"))?;
    let rows = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, Vec<u8>>(2)?,
                r.get::<_, Vec<u8>>(3)?,
                r.get::<_, i64>(4)?,
            ))
        })
        .map_err(db("export commitments"))?;
    rows.map(|row| {
        let (window, uid, blob_id, sha, at) = row.map_err(db("export commitments"))?;
        Ok(serde_json::json!({"window": window, "miner_uid": uid,
            "blob_id": hex::encode(blob_id), "sha256": hex::encode(sha), "committed_ms": at}))
    })
    .collect()
}
