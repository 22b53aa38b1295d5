//! The ledger's SQLite plumbing: the schema, metadata, the event log, and
//! the byte checks on what comes back out of the file.

use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;

use super::Address;
use crate::error::{Error, Result};

/// One table per Move table, plus `meta` (the singleton objects' fields)
/// and `events` (every event, in order).
pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS validators (
    address BLOB PRIMARY KEY, stake INTEGER NOT NULL, first_window INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS validator_budgets (
    address BLOB NOT NULL, from_window INTEGER NOT NULL, budget INTEGER NOT NULL,
    PRIMARY KEY (address, from_window));
CREATE TABLE IF NOT EXISTS peers (
    uid INTEGER PRIMARY KEY, owner BLOB NOT NULL UNIQUE, stake INTEGER NOT NULL,
    registered_window INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS anchors (
    window INTEGER PRIMARY KEY, hash BLOB NOT NULL, blob BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS commitments (
    window INTEGER NOT NULL, uid INTEGER NOT NULL, blob_id BLOB NOT NULL,
    sha256 BLOB NOT NULL, committed_ms INTEGER NOT NULL, PRIMARY KEY (window, uid));
CREATE TABLE IF NOT EXISTS enclave_records (
    validator BLOB PRIMARY KEY, enclaves BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS submissions (
    window INTEGER NOT NULL, validator BLOB NOT NULL, statement BLOB NOT NULL,
    signature BLOB NOT NULL, statement_sha256 BLOB NOT NULL, submitted_ms INTEGER NOT NULL,
    test_mode INTEGER NOT NULL, budget INTEGER NOT NULL, PRIMARY KEY (window, validator));
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT, at_ms INTEGER NOT NULL, kind TEXT NOT NULL,
    body TEXT NOT NULL);
";

/// Maps a SQLite failure, saying what the ledger was doing.
pub(super) fn db(context: &'static str) -> impl Fn(rusqlite::Error) -> Error {
    move |source| Error::Database { context, source }
}

/// The abort `abort` with `detail`: the host's own `Error::Abort`, as the
/// Sui chain reports it.
pub(super) fn abort(abort: vram_host::chain::aborts::Abort, detail: impl Into<String>) -> Error {
    Error::Host(abort.err(detail))
}

pub(super) fn bcs_bytes<T: Serialize>(what: &'static str, value: &T) -> Result<Vec<u8>> {
    bcs::to_bytes(value).map_err(|err| Error::Encoding {
        what,
        reason: err.to_string(),
    })
}

pub(super) fn get_meta(conn: &Connection, key: &str) -> Result<Option<Vec<u8>>> {
    conn.query_row("SELECT value FROM meta WHERE key = ?1", params![key], |r| {
        r.get(0)
    })
    .optional()
    .map_err(db("read meta"))
}

pub(super) fn put_meta(conn: &Connection, key: &str, value: &[u8]) -> Result<()> {
    conn.execute(
        "INSERT OR REPLACE INTO meta VALUES (?1, ?2)",
        params![key, value],
    )
    .map_err(db("write meta"))?;
    Ok(())
}

pub(super) fn event(
    conn: &Connection,
    at_ms: u64,
    kind: &str,
    body: &serde_json::Value,
) -> Result<()> {
    conn.execute(
        "INSERT INTO events (at_ms, kind, body) VALUES (?1, ?2, ?3)",
        params![at_ms as i64, kind, body.to_string()],
    )
    .map_err(db("append event"))?;
    Ok(())
}

/// A u64 kept in `meta` (little-endian).
pub(super) fn meta_u64(conn: &Connection, key: &'static str) -> Result<Option<u64>> {
    get_meta(conn, key)?
        .map(|bytes| {
            let arr: [u8; 8] = bytes.as_slice().try_into().map_err(|_| Error::Corrupt {
                what: key,
                reason: format!("{} bytes, not 8", bytes.len()),
            })?;
            Ok(u64::from_le_bytes(arr))
        })
        .transpose()
}

pub(super) fn to_address(bytes: &[u8]) -> Result<Address> {
    bytes.try_into().map_err(|_| Error::Corrupt {
        what: "address or hash",
        reason: format!("{} bytes, not 32", bytes.len()),
    })
}
