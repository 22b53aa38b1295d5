//! The embedded ledger: a single-file stand-in (SQLite) for the `vramhub`
//! Move package, used by the local demo and the tests. **It is not a chain**:
//! nothing here is replicated or final. It exists so that the whole appliance
//! runs on one machine with the *same rules* the contracts enforce.
//!
//! It mirrors `contracts/sources` file for file: one Rust module per Move
//! module, each entry function named after its Move twin, making the same
//! checks in the same order and refusing with the same abort
//! (`vram_host::chain::aborts`, `docs/contracts.md`). Change a Move module and
//! its twin here together.
//!
//! Several processes may share one ledger file (the demo's miners, the
//! host, a restarted host): every call is one immediate transaction.
//! Stakes are recorded amounts; the Move package holds real coins.

mod enclave_registry;
mod export;
mod gradient_registry;
mod hparams;
mod peer_registry;
mod round_state;
mod score_ledger;
mod store;
mod validator_registry;

pub use score_ledger::StoredSubmission;

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, TransactionBehavior};
use vram_attestation::sha256;
use vram_host::chain::types::{HparamValues, HparamsObject, Segment};
use vram_host::chain::unix_ms;

use crate::error::Result;
use store::{bcs_bytes, db, event, get_meta, put_meta};

/// A 32-byte Sui address.
pub type Address = [u8; 32];

/// The ledger file.
pub struct Ledger {
    conn: Connection,
}

impl Ledger {
    /// Opens (creating if needed) the ledger at `path`.
    pub fn open(path: &Path) -> Result<Self> {
        let conn =
            vram_host::journal::open_durable(path, store::SCHEMA, Some(Duration::from_secs(30)))
                .map_err(db("open"))?;
        Ok(Self { conn })
    }

    /// Runs `f` in one immediate transaction (serialised across processes).
    fn tx<T>(&mut self, f: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<T>) -> Result<T> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db("begin"))?;
        let out = f(&tx)?;
        tx.commit().map_err(db("commit"))?;
        Ok(out)
    }

    /// Publishes the package: Hparams with `values` from window 0, which
    /// starts at `origin_unix_ms` (the stand-in for publish plus a first
    /// `update_hparams`), and no PCRs. Chain time is Unix ms, as on Sui, so
    /// the enclave's own clock gates windows here too. Does nothing if the
    /// ledger already exists.
    pub fn genesis(&mut self, values: HparamValues, origin_unix_ms: u64) -> Result<()> {
        hparams::validate_values(&values)?;
        self.tx(|tx| {
            if get_meta(tx, "hparams")?.is_some() {
                return Ok(());
            }
            let genesis = Segment {
                start_window: 0,
                start_ms: origin_unix_ms,
                values,
            };
            let mut object =
                HparamsObject::new(sha256(b"vramhub local ledger: Hparams"), genesis.clone());
            object.version = 1;
            put_meta(tx, "hparams", &bcs_bytes("Hparams", &object)?)?;
            put_meta(tx, "config_version", &0u64.to_le_bytes())?;
            event(
                tx,
                origin_unix_ms,
                "Published",
                &serde_json::json!({"local_stand_in": true, "segment": genesis}),
            )
        })
    }

    /// Chain time: Unix ms from the system clock (the stand-in for the
    /// `0x6` Clock object).
    pub fn now_ms(&self) -> Result<u64> {
        Ok(unix_ms())
    }
}
