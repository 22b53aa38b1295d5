//! Twin of `contracts/sources/score_ledger.move`: `submit_scores` with every
//! check of the Move function in its order, and the accepted statements.

use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use vram_attestation::sha256;
use vram_attestation::statement::{
    scored_lead_seed_order, to_bcs, verify_ed25519, EntryStatus, IntentMessage, ScoreEntry,
    WindowScores, INTENT_WINDOW_SCORES,
};
use vram_host::chain::aborts::score_ledger as e;
use vram_host::chain::types::{
    Commitment, HparamsObject, ScoresSubmitted, SubmitArgs, MAX_SUBMIT_ENTRIES,
};

use super::enclave_registry::signer_for_window;
use super::gradient_registry::commitments;
use super::hparams::{for_window, read_hparams, times};
use super::round_state::latest_anchor;
use super::store::{abort, bcs_bytes, db, event, to_address};
use super::validator_registry::{budget_for_window, cannot_score};
use super::{Address, Ledger};
use crate::error::{Error, Result};

const HASH_LEN: usize = 32;

/// An accepted statement as the ledger stores it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredSubmission {
    /// The window.
    pub window: u64,
    /// The validator.
    #[serde(with = "hex::serde")]
    pub validator: Address,
    /// The signed BCS bytes (rebuilt by the ledger, as Move does).
    #[serde(with = "hex::serde")]
    pub statement: Vec<u8>,
    /// The enclave's signature.
    #[serde(with = "hex::serde")]
    pub signature: Vec<u8>,
    /// When it was accepted.
    pub submitted_ms: u64,
    /// Signed by a test-mode key (simulated NSM, no AWS attestation).
    pub test_mode: bool,
    /// The validator's budget for the window (its eval params bind it).
    pub budget: u64,
}

impl Ledger {
    /// `score_ledger::submit_scores`, with every check of the Move function
    /// in its order.
    pub fn submit_scores(
        &mut self,
        sender: Address,
        args: &SubmitArgs,
        now_ms: u64,
    ) -> Result<ScoresSubmitted> {
        self.tx(|tx| submit_scores(tx, sender, args, now_ms))
    }

    /// The accepted statement of `validator` for `window`.
    pub fn submission(&self, window: u64, validator: &Address) -> Result<Option<StoredSubmission>> {
        self.conn
            .query_row(
                "SELECT statement, signature, submitted_ms, test_mode, budget FROM submissions
                 WHERE window = ?1 AND validator = ?2",
                params![window as i64, &validator[..]],
                |r| {
                    Ok(StoredSubmission {
                        window,
                        validator: *validator,
                        statement: r.get(0)?,
                        signature: r.get(1)?,
                        submitted_ms: r.get::<_, i64>(2)? as u64,
                        test_mode: r.get::<_, i64>(3)? != 0,
                        budget: r.get::<_, i64>(4)? as u64,
                    })
                },
            )
            .optional()
            .map_err(db("read submissions"))
    }

    /// Every accepted statement, by window then validator.
    pub fn submissions(&self) -> Result<Vec<StoredSubmission>> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT window, validator, statement, signature, submitted_ms, test_mode, budget
                 FROM submissions ORDER BY window, validator",
            )
            .map_err(db("read submissions"))?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, i64>(0)? as u64,
                    r.get::<_, Vec<u8>>(1)?,
                    r.get::<_, Vec<u8>>(2)?,
                    r.get::<_, Vec<u8>>(3)?,
                    r.get::<_, i64>(4)? as u64,
                    r.get::<_, i64>(5)? != 0,
                    r.get::<_, i64>(6)? as u64,
                ))
            })
            .map_err(db("read submissions"))?;
        rows.map(|row| {
            let (window, validator, statement, signature, submitted_ms, test_mode, budget) =
                row.map_err(db("read submissions"))?;
            Ok(StoredSubmission {
                window,
                validator: to_address(&validator)?,
                statement,
                signature,
                submitted_ms,
                test_mode,
                budget,
            })
        })
        .collect()
    }
}

fn submit_scores(
    conn: &Connection,
    sender: Address,
    args: &SubmitArgs,
    now_ms: u64,
) -> Result<ScoresSubmitted> {
    let n = args.miner_uids.len();
    let lengths = [
        args.statuses.len(),
        args.losses_before_own.len(),
        args.losses_after_own.len(),
        args.losses_after_random.len(),
    ];
    if lengths.iter().any(|&l| l != n) {
        return Err(abort(e::ELengthMismatch, "entry vectors differ in length"));
    }
    if n > MAX_SUBMIT_ENTRIES {
        return Err(abort(e::ETooManyEntries, format!("{n} entries")));
    }

    let hp = read_hparams(conn)?;
    let window = args.window;
    if let Some(why) = cannot_score(conn, &hp, &sender, window)? {
        return Err(abort(e::ENotValidator, why));
    }
    check_scoring_phase(&hp, window, now_ms)?;
    let deadline = times(&hp, window)?.upload_deadline_ms;
    let vram_host::chain::types::EnclaveRecord {
        public_key,
        test_mode,
        ..
    } = signer_for_window(conn, &sender, deadline)?;
    if has_submitted(conn, window, &sender)? {
        return Err(abort(e::EAlreadySubmitted, format!("window {window}")));
    }

    let (_, anchored) = latest_anchor(conn, window)?;
    if args.checkpoint_hash != anchored {
        return Err(abort(
            e::ECheckpointMismatch,
            format!(
                "statement {}, anchor {}",
                hex::encode(&args.checkpoint_hash),
                hex::encode(anchored)
            ),
        ));
    }
    let values = for_window(&hp, window)?;
    if args.dataset_root != values.dataset_root {
        return Err(abort(
            e::EDatasetRootMismatch,
            hex::encode(&args.dataset_root),
        ));
    }
    if args.eval_seed.len() != HASH_LEN {
        return Err(abort(
            e::EBadSeed,
            format!("{} bytes", args.eval_seed.len()),
        ));
    }

    let budget = budget_for_window(conn, &hp, &sender, window)?;
    let entries = build_entries(&commitments(conn, window)?, budget, args)?;
    let scored = count_scored(&entries);
    let message = IntentMessage {
        intent: INTENT_WINDOW_SCORES,
        timestamp_ms: args.timestamp_ms,
        payload: WindowScores {
            window,
            validator: sender,
            checkpoint_hash: args.checkpoint_hash.clone(),
            dataset_root: args.dataset_root.clone(),
            eval_params_hash: sha256(&bcs_bytes(
                "EvalParams",
                &values.eval_params(deadline, budget),
            )?)
            .to_vec(),
            eval_seed: args.eval_seed.clone(),
            loss_before_random: args.loss_before_random,
            entries,
        },
    };
    let bytes = to_bcs(&message).map_err(|err| Error::Encoding {
        what: "statement",
        reason: err.to_string(),
    })?;
    verify_ed25519(&public_key, &bytes, &args.signature)
        .map_err(|_| abort(e::EBadSignature, "Ed25519 over the rebuilt statement"))?;

    let digest = sha256(&bytes);
    conn.execute(
        "INSERT INTO submissions VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            window as i64,
            &sender[..],
            &bytes,
            &args.signature,
            &digest[..],
            now_ms as i64,
            i64::from(test_mode),
            budget as i64
        ],
    )
    .map_err(db("write submission"))?;
    event(
        conn,
        now_ms,
        "ScoresSubmitted",
        &serde_json::json!({"window": window, "validator": hex::encode(sender),
            "enclave_public_key": hex::encode(&public_key), "test_mode": test_mode,
            "statement_sha256": hex::encode(digest), "entries": n, "scored": scored}),
    )?;
    Ok(ScoresSubmitted {
        window,
        validator: sender,
        enclave_public_key: public_key,
        test_mode,
        statement_sha256: digest.to_vec(),
        entries: n as u64,
        scored,
    })
}

/// `round_state::is_scoring`: from `opens_at_ms` until `scoring_end_ms`.
fn check_scoring_phase(hp: &HparamsObject, window: u64, now_ms: u64) -> Result<()> {
    let t = times(hp, window)?;
    if now_ms < t.opens_at_ms || now_ms >= t.scoring_end_ms {
        return Err(abort(
            e::EWindowNotScoring,
            format!(
                "now {now_ms}, window {window} is scored in [{}, {})",
                t.opens_at_ms, t.scoring_end_ms
            ),
        ));
    }
    Ok(())
}

/// `score_ledger::has_submitted`.
fn has_submitted(conn: &Connection, window: u64, validator: &Address) -> Result<bool> {
    let done: Option<i64> = conn
        .query_row(
            "SELECT 1 FROM submissions WHERE window = ?1 AND validator = ?2",
            params![window as i64, &validator[..]],
            |r| r.get(0),
        )
        .optional()
        .map_err(db("read submissions"))?;
    Ok(done.is_some())
}

/// `score_ledger::build_entries`: the entries are exactly the committed
/// miners (each proven by its commitment alone, so a miner that left cannot
/// block the window), each non-missing entry's gradient hash is its
/// commitment's, and the scored entries are a prefix of the seed's order,
/// exactly `budget` long when any valid entry is left `not evaluated`.
fn build_entries(
    committed: &[(u64, Commitment)],
    budget: u64,
    args: &SubmitArgs,
) -> Result<Vec<ScoreEntry>> {
    let n = args.miner_uids.len();
    let mut entries = Vec::with_capacity(n);
    for i in 0..n {
        let uid = args.miner_uids[i];
        if i > 0 && args.miner_uids[i - 1] >= uid {
            return Err(abort(e::EEntriesNotSorted, format!("uid {uid} at {i}")));
        }
        let status = args.statuses[i];
        let known = EntryStatus::from_u8(status)
            .ok_or_else(|| abort(e::EBadStatus, format!("status {status}")))?;
        let c = committed
            .binary_search_by_key(&uid, |(u, _)| *u)
            .map(|at| &committed[at].1)
            .map_err(|_| abort(e::ENoCommitment, format!("uid {uid}")))?;
        let gradient_hash = if known == EntryStatus::Missing {
            Vec::new()
        } else {
            c.sha256.clone()
        };
        entries.push(ScoreEntry {
            miner_uid: uid,
            gradient_hash,
            status,
            loss_before_own: args.losses_before_own[i],
            loss_after_own: args.losses_after_own[i],
            loss_after_random: args.losses_after_random[i],
        });
    }
    if n != committed.len() {
        return Err(abort(
            e::ECommitmentNotScored,
            format!("{n} of {} committed miners listed", committed.len()),
        ));
    }
    let scored = count_scored(&entries);
    if scored > budget {
        return Err(abort(
            e::ETooManyScored,
            format!("{scored} scored, budget {budget}"),
        ));
    }
    let statuses = entries.iter().map(|e| (e.miner_uid, e.status));
    if !scored_lead_seed_order(&args.eval_seed, statuses) {
        return Err(abort(
            e::ENotInSeedOrder,
            "a scored entry sorts after a not-evaluated one",
        ));
    }
    let left = entries
        .iter()
        .any(|e| e.status == EntryStatus::NotEvaluated as u8);
    if left && scored != budget {
        return Err(abort(
            e::EBudgetNotScored,
            format!("{scored} scored of a budget of {budget}, valid entries left not evaluated"),
        ));
    }
    Ok(entries)
}

/// `score_ledger::count_scored`.
fn count_scored(entries: &[ScoreEntry]) -> u64 {
    entries
        .iter()
        .filter(|e| e.status == EntryStatus::Scored as u8)
        .count() as u64
}
