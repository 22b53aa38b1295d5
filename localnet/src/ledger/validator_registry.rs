//! Twin of `contracts/sources/validator_registry.move`: validators and their
//! stakes (recorded amounts here; the Move package holds real coins).

use rusqlite::{params, Connection, OptionalExtension};
use vram_host::chain::aborts::validator_registry as e;
use vram_host::chain::types::HparamsObject;

use super::hparams::{for_window, read_hparams};
use super::store::{abort, db, event};
use super::{Address, Ledger};
use crate::error::Result;

impl Ledger {
    /// `validator_registry::register_validator`.
    pub fn register_validator(&mut self, sender: Address, stake: u64, now_ms: u64) -> Result<()> {
        self.tx(|tx| {
            let hp = read_hparams(tx)?;
            if is_validator(tx, &sender)? {
                return Err(abort(e::EAlreadyRegistered, "already a validator"));
            }
            let window = hp.window_at(now_ms);
            let values = for_window(&hp, window)?;
            if stake < values.min_validator_stake {
                return Err(abort(
                    e::EInsufficientStake,
                    format!("stake {stake} below {}", values.min_validator_stake),
                ));
            }
            let first_window = window + values.validator_offset;
            tx.execute(
                "INSERT INTO validators VALUES (?1, ?2, ?3)",
                params![&sender[..], stake as i64, first_window as i64],
            )
            .map_err(db("write validator"))?;
            event(
                tx,
                now_ms,
                "ValidatorRegistered",
                &serde_json::json!({"validator": hex::encode(sender), "stake": stake, "first_window": first_window}),
            )
        })
    }

    /// `validator_registry::add_stake`.
    pub fn add_validator_stake(&mut self, sender: Address, amount: u64, now_ms: u64) -> Result<()> {
        self.tx(|tx| {
            let Some((stake, _)) = validator(tx, &sender)? else {
                return Err(abort(e::ENotValidator, "sender is not a validator"));
            };
            let total = stake.saturating_add(amount);
            tx.execute(
                "UPDATE validators SET stake = ?2 WHERE address = ?1",
                params![&sender[..], total as i64],
            )
            .map_err(db("write validator"))?;
            event(
                tx,
                now_ms,
                "ValidatorStakeAdded",
                &serde_json::json!({"validator": hex::encode(sender), "amount": amount, "total": total}),
            )
        })
    }

    /// `validator_registry::set_budget`: `budget` from the next window on, at
    /// most that window's `max_scored`; a change pending for that window is
    /// replaced.
    pub fn set_validator_budget(
        &mut self,
        sender: Address,
        budget: u64,
        now_ms: u64,
    ) -> Result<()> {
        self.tx(|tx| {
            let hp = read_hparams(tx)?;
            if !is_validator(tx, &sender)? {
                return Err(abort(e::ENotValidator, "sender is not a validator"));
            }
            let from_window = hp.window_at(now_ms) + 1;
            let max_scored = for_window(&hp, from_window)?.max_scored;
            if budget == 0 || budget > max_scored {
                return Err(abort(
                    e::EBadBudget,
                    format!("budget {budget} outside 1..={max_scored}"),
                ));
            }
            tx.execute(
                "INSERT OR REPLACE INTO validator_budgets VALUES (?1, ?2, ?3)",
                params![&sender[..], from_window as i64, budget as i64],
            )
            .map_err(db("write budget"))?;
            event(
                tx,
                now_ms,
                "ValidatorBudgetSet",
                &serde_json::json!({"validator": hex::encode(sender), "budget": budget,
                    "from_window": from_window}),
            )
        })
    }

    /// `validator_registry::budget_for_window`.
    pub fn validator_budget(&self, validator: &Address, window: u64) -> Result<u64> {
        let hp = read_hparams(&self.conn)?;
        budget_for_window(&self.conn, &hp, validator, window)
    }

    /// `validator_registry::deregister_validator`; returns the stake.
    pub fn deregister_validator(&mut self, sender: Address, now_ms: u64) -> Result<u64> {
        self.tx(|tx| {
            let Some((stake, _)) = validator(tx, &sender)? else {
                return Err(abort(e::ENotValidator, "sender is not a validator"));
            };
            tx.execute(
                "DELETE FROM validators WHERE address = ?1",
                params![&sender[..]],
            )
            .map_err(db("delete validator"))?;
            tx.execute(
                "DELETE FROM validator_budgets WHERE address = ?1",
                params![&sender[..]],
            )
            .map_err(db("delete validator"))?;
            event(
                tx,
                now_ms,
                "ValidatorDeregistered",
                &serde_json::json!({"validator": hex::encode(sender), "stake": stake}),
            )?;
            Ok(stake)
        })
    }
}

/// `validator_registry::is_validator`.
pub(super) fn is_validator(conn: &Connection, address: &Address) -> Result<bool> {
    Ok(validator(conn, address)?.is_some())
}

/// Why `validator_registry::can_score` refuses `address` for `window`, if it
/// does: not registered, still waiting its offset, or staked below the
/// minimum in force for the window. In Move's order: the Hparams of the
/// window are read only for a registered validator past its offset.
pub(super) fn cannot_score(
    conn: &Connection,
    hp: &HparamsObject,
    address: &Address,
    window: u64,
) -> Result<Option<String>> {
    let Some((stake, first)) = validator(conn, address)? else {
        return Ok(Some("sender is not a validator".into()));
    };
    if window < first {
        return Ok(Some(format!("may score from window {first}")));
    }
    let min_stake = for_window(hp, window)?.min_validator_stake;
    Ok((stake < min_stake).then(|| format!("stake {stake} below {min_stake}")))
}

/// `validator_registry::budget_for_window`: the last budget declared for a
/// window at or before `window`, capped at its `max_scored`; `max_scored`
/// when none was declared.
pub(super) fn budget_for_window(
    conn: &Connection,
    hp: &HparamsObject,
    address: &Address,
    window: u64,
) -> Result<u64> {
    if !is_validator(conn, address)? {
        return Err(abort(e::ENotValidator, "not a validator"));
    }
    let max_scored = for_window(hp, window)?.max_scored;
    let declared: Option<i64> = conn
        .query_row(
            "SELECT budget FROM validator_budgets WHERE address = ?1 AND from_window <= ?2
             ORDER BY from_window DESC LIMIT 1",
            params![&address[..], window as i64],
            |r| r.get(0),
        )
        .optional()
        .map_err(db("read budgets"))?;
    Ok(declared.map_or(max_scored, |b| (b as u64).min(max_scored)))
}

/// (stake, first window it may score).
fn validator(conn: &Connection, address: &Address) -> Result<Option<(u64, u64)>> {
    let row: Option<(i64, i64)> = conn
        .query_row(
            "SELECT stake, first_window FROM validators WHERE address = ?1",
            params![&address[..]],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .map_err(db("read validators"))?;
    Ok(row.map(|(stake, first)| (stake as u64, first as u64)))
}
