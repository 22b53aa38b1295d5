//! Twin of `contracts/sources/score_ledger.move`: `submit_scores` with every
//! check of the Move function in its order, and the accepted statements.

use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use vram_attestation::sha256;
use vram_attestation::statement::{
    to_bcs, verify_ed25519, EntryStatus, IntentMessage, ScoreEntry, WindowScores,
    INTENT_WINDOW_SCORES,
};
use vram_host::chain::aborts::score_ledger as e;
use vram_host::chain::types::{
    Commitment, HparamsObject, ScoresSubmitted, SubmitArgs, MAX_SUBMIT_ENTRIES,
};

use super::enclave_registry::current_key;
use super::gradient_registry::commitments;
use super::hparams::{for_window, read_hparams, times};
use super::peer_registry::owner_of;
use super::round_state::latest_anchor;
use super::store::{abort, bcs_bytes, db, event, to_address};
use super::validator_registry::cannot_score;
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
                "SELECT statement, signature, submitted_ms FROM submissions
                 WHERE window = ?1 AND validator = ?2",
                params![window as i64, &validator[..]],
                |r| {
                    Ok(StoredSubmission {
                        window,
                        validator: *validator,
                        statement: r.get(0)?,
                        signature: r.get(1)?,
                        submitted_ms: r.get::<_, i64>(2)? as u64,
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
                "SELECT window, validator, statement, signature, submitted_ms FROM submissions
                 ORDER BY window, validator",
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
                ))
            })
            .map_err(db("read submissions"))?;
        rows.map(|row| {
            let (window, validator, statement, signature, submitted_ms) =
                row.map_err(db("read submissions"))?;
            Ok(StoredSubmission {
                window,
                validator: to_address(&validator)?,
                statement,
                signature,
                submitted_ms,
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
    let public_key = current_key(conn, &sender)?;
    check_scoring_phase(&hp, window, now_ms)?;
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

    let entries = build_entries(conn, &commitments(conn, window)?, args)?;
    let scored = count_scored(&entries);
    let message = IntentMessage {
        intent: INTENT_WINDOW_SCORES,
        timestamp_ms: args.timestamp_ms,
        payload: WindowScores {
            window,
            validator: sender,
            checkpoint_hash: args.checkpoint_hash.clone(),
            dataset_root: args.dataset_root.clone(),
            eval_params_hash: sha256(&bcs_bytes("EvalParams", &values.eval_params())?).to_vec(),
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
        "INSERT INTO submissions VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            window as i64,
            &sender[..],
            &bytes,
            &args.signature,
            &digest[..],
            now_ms as i64
        ],
    )
    .map_err(db("write submission"))?;
    event(
        conn,
        now_ms,
        "ScoresSubmitted",
        &serde_json::json!({"window": window, "validator": hex::encode(sender),
            "statement_sha256": hex::encode(digest), "entries": n, "scored": scored}),
    )?;
    Ok(ScoresSubmitted {
        window,
        validator: sender,
        enclave_public_key: public_key,
        statement_sha256: digest.to_vec(),
        entries: n as u64,
        scored,
    })
}

/// `round_state::is_scoring`: after the upload deadline, before the end.
fn check_scoring_phase(hp: &HparamsObject, window: u64, now_ms: u64) -> Result<()> {
    let t = times(hp, window)?;
    if now_ms < t.upload_deadline_ms || now_ms >= t.end_ms {
        return Err(abort(
            e::EWindowNotScoring,
            format!(
                "now {now_ms}, scoring is [{}, {})",
                t.upload_deadline_ms, t.end_ms
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

/// `score_ledger::build_entries`: checks the entries against the registries
/// and builds them, taking each non-missing entry's gradient hash from
/// `gradient_hashes` and requiring it to equal the commitment. Every
/// committed miner must appear.
fn build_entries(
    conn: &Connection,
    committed: &[(u64, Commitment)],
    args: &SubmitArgs,
) -> Result<Vec<ScoreEntry>> {
    let n = args.miner_uids.len();
    let mut entries = Vec::with_capacity(n);
    let (mut committed_seen, mut offset) = (0usize, 0usize);
    for i in 0..n {
        let uid = args.miner_uids[i];
        if i > 0 && args.miner_uids[i - 1] >= uid {
            return Err(abort(e::EEntriesNotSorted, format!("uid {uid} at {i}")));
        }
        let status = args.statuses[i];
        if EntryStatus::from_u8(status).is_none() {
            return Err(abort(e::EBadStatus, format!("status {status}")));
        }
        if owner_of(conn, uid)?.is_none() {
            return Err(abort(e::EUnknownMiner, format!("uid {uid}")));
        }
        let commitment = committed.iter().find(|(u, _)| *u == uid).map(|(_, c)| c);
        if commitment.is_some() {
            committed_seen += 1;
        }
        let gradient_hash = if status == EntryStatus::Missing as u8 {
            Vec::new()
        } else {
            let c = commitment.ok_or_else(|| abort(e::ENoCommitment, format!("uid {uid}")))?;
            let claimed = args
                .gradient_hashes
                .get(offset..offset + HASH_LEN)
                .ok_or_else(|| abort(e::EBadGradientHashes, "too few gradient hashes"))?;
            offset += HASH_LEN;
            if claimed != c.sha256.as_slice() {
                return Err(abort(
                    e::EGradientHashMismatch,
                    format!(
                        "uid {uid}: statement {}, commitment {}",
                        hex::encode(claimed),
                        hex::encode(&c.sha256)
                    ),
                ));
            }
            claimed.to_vec()
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
    if offset != args.gradient_hashes.len() {
        return Err(abort(e::EBadGradientHashes, "gradient hashes left over"));
    }
    if committed_seen != committed.len() {
        return Err(abort(
            e::ECommitmentNotScored,
            format!(
                "{committed_seen} of {} committed miners scored",
                committed.len()
            ),
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
