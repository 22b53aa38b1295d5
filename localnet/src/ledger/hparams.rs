//! Twin of `contracts/sources/hparams.move`: the Hparams object, its
//! schedule segments and `update_hparams`.

use rusqlite::Connection;
use vram_host::chain::aborts::hparams as e;
use vram_host::chain::types::{HparamValues, HparamsObject, WindowTimes};

use super::store::{abort, bcs_bytes, event, get_meta, put_meta};
use super::Ledger;
use crate::error::{Error, Result};

impl Ledger {
    /// The Hparams object.
    pub fn hparams(&self) -> Result<HparamsObject> {
        read_hparams(&self.conn)
    }

    /// `hparams::update_hparams`: `values` from the next window boundary.
    pub fn update_hparams(&mut self, values: HparamValues, now_ms: u64) -> Result<()> {
        validate_values(&values)?;
        self.tx(|tx| {
            let mut hp = read_hparams(tx)?;
            let segment = hp
                .schedule_update(values, now_ms)
                .ok_or_else(|| abort(e::EWindowBeforeSchedule, format!("at {now_ms}")))??;
            let (window, start_ms) = (segment.start_window, segment.start_ms);
            put_meta(tx, "hparams", &bcs_bytes("Hparams", &hp)?)?;
            // The whole segment, as Move's `HparamsUpdated` carries it.
            event(
                tx,
                now_ms,
                "HparamsUpdated",
                &serde_json::json!({"version": hp.version, "effective_window": window,
                    "effective_ms": start_ms, "segment": segment}),
            )
        })
    }
}

/// The values `new_values` accepts, with its aborts (the twin raises them).
pub(super) fn validate_values(values: &HparamValues) -> Result<()> {
    Ok(values.validate()?)
}

/// The stored Hparams object.
pub(super) fn read_hparams(conn: &Connection) -> Result<HparamsObject> {
    let bytes = get_meta(conn, "hparams")?.ok_or(Error::NoGenesis)?;
    bcs::from_bytes(&bytes).map_err(|err| Error::Corrupt {
        what: "Hparams",
        reason: err.to_string(),
    })
}

/// `hparams::for_window`: the values in force for `window`.
pub(super) fn for_window(hp: &HparamsObject, window: u64) -> Result<HparamValues> {
    hp.segment_for_window(window)
        .map(|s| s.values.clone())
        .ok_or_else(|| abort(e::EWindowBeforeSchedule, format!("window {window}")))
}

/// The window's start, upload deadline and end.
pub(super) fn times(hp: &HparamsObject, window: u64) -> Result<WindowTimes> {
    hp.times(window)
        .ok_or_else(|| abort(e::EWindowBeforeSchedule, format!("window {window}")))
}
