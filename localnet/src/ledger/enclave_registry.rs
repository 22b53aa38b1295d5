//! Twin of `contracts/sources/enclave_registry.move`: the expected PCRs and
//! the key that signs for each validator. Enclaves of the local network
//! register through the test-mode path (simulated NSM); the PCRs are kept
//! for the record.

use rusqlite::{params, Connection, OptionalExtension};
use vram_host::chain::aborts::enclave_registry as e;

use super::store::{abort, db, event, meta_u64, put_meta};
use super::validator_registry::is_validator;
use super::{Address, Ledger};
use crate::error::Result;

impl Ledger {
    /// `enclave_registry::update_pcrs`; returns the new configuration version.
    pub fn update_pcrs(&mut self, pcrs: [&[u8]; 3], now_ms: u64) -> Result<u64> {
        self.tx(|tx| {
            if pcrs.iter().any(|p| p.len() != 48) {
                return Err(abort(e::EBadPcrLength, "PCRs are 48 bytes"));
            }
            if pcrs.iter().all(|p| p.iter().all(|&b| b == 0)) {
                return Err(abort(e::EDebugModePcrs, "all-zero PCRs"));
            }
            let version = config_version(tx)? + 1;
            put_meta(tx, "config_version", &version.to_le_bytes())?;
            put_meta(tx, "pcrs", &pcrs.concat())?;
            event(
                tx,
                now_ms,
                "PcrsUpdated",
                &serde_json::json!({"version": version, "pcr0": hex::encode(pcrs[0])}),
            )?;
            Ok(version)
        })
    }

    /// `enclave_registry::register_test_enclave`: a simulated enclave's key
    /// signs for `sender` from now on. Emits `TestEnclaveRegistered`.
    pub fn register_test_enclave(
        &mut self,
        sender: Address,
        public_key: &[u8],
        now_ms: u64,
    ) -> Result<()> {
        self.tx(|tx| {
            if !is_validator(tx, &sender)? {
                return Err(abort(e::ENotValidator, "sender is not a validator"));
            }
            if public_key.len() != 32 {
                return Err(abort(
                    e::EBadPublicKey,
                    format!("{} bytes", public_key.len()),
                ));
            }
            let version = config_version(tx)?;
            tx.execute(
                "INSERT OR REPLACE INTO enclaves VALUES (?1, ?2, ?3, ?4, 1)",
                params![&sender[..], public_key, version as i64, now_ms as i64],
            )
            .map_err(db("write enclave"))?;
            event(
                tx,
                now_ms,
                "TestEnclaveRegistered",
                &serde_json::json!({"validator": hex::encode(sender),
                    "public_key": hex::encode(public_key), "config_version": version}),
            )
        })
    }

    /// `enclave_registry::current_key`.
    pub fn current_key(&self, validator: &Address) -> Result<Vec<u8>> {
        current_key(&self.conn, validator)
    }
}

/// `enclave_registry::version`: bumped by every PCR update.
pub(super) fn config_version(conn: &Connection) -> Result<u64> {
    Ok(meta_u64(conn, "config_version")?.unwrap_or(0))
}

/// `enclave_registry::current_key`: aborts if none or stale.
pub(super) fn current_key(conn: &Connection, validator: &Address) -> Result<Vec<u8>> {
    let record: Option<(Vec<u8>, i64)> = conn
        .query_row(
            "SELECT public_key, config_version FROM enclaves WHERE validator = ?1",
            params![&validator[..]],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .map_err(db("read enclaves"))?;
    let (key, version) = record.ok_or_else(|| abort(e::ENoEnclave, "no enclave registered"))?;
    if version as u64 != config_version(conn)? {
        return Err(abort(
            e::EStaleEnclave,
            format!("registered under version {version}"),
        ));
    }
    Ok(key)
}
