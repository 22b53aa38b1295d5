//! Twin of `contracts/sources/hparams.move`: the Hparams object, its
//! schedule segments and `update_hparams`.

use rusqlite::Connection;
use vram_host::chain::aborts::hparams as e;
use vram_host::chain::types::{HparamValues, HparamsObject, Schedule, Segment, WindowTimes};

use super::store::{abort, bcs_bytes, db, event, get_meta, put_meta};
use super::Ledger;
use crate::error::{Error, Result};

impl Ledger {
    /// The Hparams object.
    pub fn hparams(&self) -> Result<HparamsObject> {
        read_hparams(&self.conn)
    }

    /// Every segment ever in force, rebuilt from the `Published` and
    /// `HparamsUpdated` events as an auditor does from Sui's.
    pub fn schedule(&self) -> Result<Schedule> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT body FROM events WHERE kind IN ('Published', 'HparamsUpdated') ORDER BY id",
            )
            .map_err(db("read events"))?;
        let rows = stmt
            .query_map([], |r| r.get::<_, String>(0))
            .map_err(db("read events"))?;
        let mut schedule = Schedule::default();
        for row in rows {
            let body = row.map_err(db("read events"))?;
            let corrupt = |reason: String| Error::Corrupt {
                what: "Hparams event",
                reason,
            };
            let value: serde_json::Value =
                serde_json::from_str(&body).map_err(|e| corrupt(e.to_string()))?;
            let segment: Segment = serde_json::from_value(value["segment"].clone())
                .map_err(|e| corrupt(e.to_string()))?;
            schedule.push(segment);
        }
        Ok(schedule)
    }

    /// `hparams::update_hparams`: `values` from the next window boundary.
    pub fn update_hparams(&mut self, values: HparamValues, now_ms: u64) -> Result<()> {
        validate_values(&values)?;
        self.tx(|tx| {
            let mut hp = read_hparams(tx)?;
            if let Some(next) = hp.next.clone() {
                if now_ms >= next.start_ms {
                    hp.current = next;
                    hp.next = None;
                }
            }
            let window = hp.window_at(now_ms) + 1;
            let start_ms = window_start_ms(&hp, window)?;
            let segment = Segment {
                start_window: window,
                start_ms,
                values,
            };
            hp.next = Some(segment.clone());
            hp.version += 1;
            put_meta(tx, "hparams", &bcs_bytes("Hparams", &hp)?)?;
            // The whole segment, as Move's `HparamsUpdated` carries it: the
            // schedule of every window is rebuilt from these events.
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

/// The values `new_values` accepts, with its aborts.
pub(super) fn validate_values(values: &HparamValues) -> Result<()> {
    values.validate().map_err(|err| {
        if values.dataset_root.len() != 32 {
            abort(e::EBadDatasetRoot, err.to_string())
        } else {
            abort(e::EInvalidValue, err.to_string())
        }
    })
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

/// `hparams::window_start_ms`.
pub(super) fn window_start_ms(hp: &HparamsObject, window: u64) -> Result<u64> {
    hp.window_start_ms(window)
        .ok_or_else(|| abort(e::EWindowBeforeSchedule, format!("window {window}")))
}

/// The window's start, upload deadline and end.
pub(super) fn times(hp: &HparamsObject, window: u64) -> Result<WindowTimes> {
    hp.times(window)
        .ok_or_else(|| abort(e::EWindowBeforeSchedule, format!("window {window}")))
}
