//! The embedded ledger: a single-file stand-in (SQLite) for the `vramhub`
//! Move package, used by the local demo and the tests. **It is not a chain**:
//! nothing here is replicated or final. It exists so that the whole appliance
//! runs on one machine with the *same rules* the contracts enforce: every
//! call makes the checks of its Move twin, in the same order, and refuses
//! with the same abort (`aborts`, `docs/contracts.md`).
//!
//! Several processes may share one ledger file (the demo's miners, the
//! host, a restarted host): every call is one immediate transaction.
//! Stakes are recorded amounts; the Move package holds real coins.

pub mod aborts;

use std::path::Path;
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use serde::Serialize;
use vram_attestation::sha256;
use vram_attestation::statement::{
    to_bcs, verify_ed25519, IntentMessage, ScoreEntry, WindowScores, INTENT_WINDOW_SCORES,
};

use crate::chain::types::{
    Commitment, HparamValues, HparamsObject, ScoresSubmitted, Segment, SubmitArgs,
    MAX_SUBMIT_ENTRIES,
};
use crate::error::{Error, Result};
use aborts as e;

/// A 32-byte Sui address.
pub type Address = [u8; 32];

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS validators (
    address BLOB PRIMARY KEY, stake INTEGER NOT NULL, first_window INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS peers (
    uid INTEGER PRIMARY KEY, owner BLOB NOT NULL UNIQUE, stake INTEGER NOT NULL,
    registered_window INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS anchors (window INTEGER PRIMARY KEY, hash BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS commitments (
    window INTEGER NOT NULL, uid INTEGER NOT NULL, blob_id BLOB NOT NULL,
    sha256 BLOB NOT NULL, committed_ms INTEGER NOT NULL, PRIMARY KEY (window, uid));
CREATE TABLE IF NOT EXISTS enclaves (
    validator BLOB PRIMARY KEY, public_key BLOB NOT NULL, config_version INTEGER NOT NULL,
    registered_ms INTEGER NOT NULL, test_mode INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS submissions (
    window INTEGER NOT NULL, validator BLOB NOT NULL, statement BLOB NOT NULL,
    signature BLOB NOT NULL, statement_sha256 BLOB NOT NULL, submitted_ms INTEGER NOT NULL,
    PRIMARY KEY (window, validator));
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT, at_ms INTEGER NOT NULL, kind TEXT NOT NULL,
    body TEXT NOT NULL);
";

fn db(err: rusqlite::Error) -> Error {
    Error::Journal {
        reason: format!("ledger database: {err}"),
    }
}

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

/// The ledger file.
pub struct Ledger {
    conn: Connection,
}

impl Ledger {
    /// Opens (creating if needed) the ledger at `path`.
    pub fn open(path: &Path) -> Result<Self> {
        let conn = crate::journal::open_durable(path, SCHEMA, Some(Duration::from_secs(30)))
            .map_err(db)?;
        Ok(Self { conn })
    }

    /// Runs `f` in one immediate transaction (serialised across processes).
    fn tx<T>(&mut self, f: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<T>) -> Result<T> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db)?;
        let out = f(&tx)?;
        tx.commit().map_err(db)?;
        Ok(out)
    }

    /// Publishes the package: Hparams with `values` from window 0 (the
    /// stand-in for publish plus a first `update_hparams`), no PCRs, and the
    /// ledger clock's origin: chain time 0 is `origin_unix_ms`. Does nothing
    /// if the ledger already exists.
    pub fn genesis(&mut self, values: HparamValues, origin_unix_ms: u64) -> Result<()> {
        validate_values(&values)?;
        self.tx(|tx| {
            if get_meta(tx, "hparams")?.is_some() {
                return Ok(());
            }
            put_meta(tx, "clock_origin_unix_ms", &origin_unix_ms.to_le_bytes())?;
            let object = HparamsObject {
                id: sha256(b"vramhub local ledger: Hparams"),
                version: 1,
                current: Segment {
                    start_window: 0,
                    start_ms: 0,
                    values,
                },
                next: None,
            };
            put_meta(tx, "hparams", &bcs_bytes(&object)?)?;
            put_meta(tx, "config_version", &0u64.to_le_bytes())?;
            event(
                tx,
                0,
                "Published",
                &serde_json::json!({"local_stand_in": true}),
            )
        })
    }

    /// Chain time: milliseconds since the genesis origin, from the system
    /// clock (the stand-in for the `0x6` Clock object).
    pub fn now_ms(&self) -> Result<u64> {
        let bytes = get_meta(&self.conn, "clock_origin_unix_ms")?.ok_or_else(|| Error::Config {
            reason: "the ledger has no genesis".into(),
        })?;
        let origin =
            u64::from_le_bytes(bytes.as_slice().try_into().map_err(|_| Error::Journal {
                reason: "clock origin is not 8 bytes".into(),
            })?);
        Ok(unix_ms().saturating_sub(origin))
    }

    /// The Hparams object.
    pub fn hparams(&self) -> Result<HparamsObject> {
        read_hparams(&self.conn)
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
            let start_ms = start_ms(&hp, window)?;
            hp.next = Some(Segment {
                start_window: window,
                start_ms,
                values,
            });
            hp.version += 1;
            put_meta(tx, "hparams", &bcs_bytes(&hp)?)?;
            event(
                tx,
                now_ms,
                "HparamsUpdated",
                &serde_json::json!({"version": hp.version, "effective_window": window}),
            )
        })
    }

    /// `validator_registry::register_validator`.
    pub fn register_validator(&mut self, sender: Address, stake: u64, now_ms: u64) -> Result<()> {
        self.tx(|tx| {
            let hp = read_hparams(tx)?;
            let exists: Option<i64> = tx
                .query_row(
                    "SELECT 1 FROM validators WHERE address = ?1",
                    params![&sender[..]],
                    |r| r.get(0),
                )
                .optional()
                .map_err(db)?;
            if exists.is_some() {
                return Err(e::validator_registry::EAlreadyRegistered.err("already a validator"));
            }
            let window = hp.window_at(now_ms);
            let values = values_for(&hp, window)?;
            if stake < values.min_validator_stake {
                return Err(e::validator_registry::EInsufficientStake.err(format!(
                    "stake {stake} below {}",
                    values.min_validator_stake
                )));
            }
            let first_window = window + values.validator_offset;
            tx.execute(
                "INSERT INTO validators VALUES (?1, ?2, ?3)",
                params![&sender[..], stake as i64, first_window as i64],
            )
            .map_err(db)?;
            event(
                tx,
                now_ms,
                "ValidatorRegistered",
                &serde_json::json!({"validator": hex::encode(sender), "stake": stake, "first_window": first_window}),
            )
        })
    }

    /// `peer_registry::register_miner`; returns the uid.
    pub fn register_miner(&mut self, sender: Address, stake: u64, now_ms: u64) -> Result<u64> {
        self.tx(|tx| {
            let hp = read_hparams(tx)?;
            let exists: Option<i64> = tx
                .query_row(
                    "SELECT uid FROM peers WHERE owner = ?1",
                    params![&sender[..]],
                    |r| r.get(0),
                )
                .optional()
                .map_err(db)?;
            if exists.is_some() {
                return Err(e::peer_registry::EAlreadyRegistered.err("address owns a uid"));
            }
            let window = hp.window_at(now_ms);
            let min = values_for(&hp, window)?.min_miner_stake;
            if stake < min {
                return Err(
                    e::peer_registry::EInsufficientStake.err(format!("stake {stake} below {min}"))
                );
            }
            let next: i64 = tx
                .query_row("SELECT COALESCE(MAX(uid) + 1, 0) FROM peers", [], |r| {
                    r.get(0)
                })
                .map_err(db)?;
            tx.execute(
                "INSERT INTO peers VALUES (?1, ?2, ?3, ?4)",
                params![next, &sender[..], stake as i64, window as i64],
            )
            .map_err(db)?;
            event(
                tx,
                now_ms,
                "MinerRegistered",
                &serde_json::json!({"uid": next, "owner": hex::encode(sender), "stake": stake}),
            )?;
            Ok(next as u64)
        })
    }

    /// Registered miners, ascending uid: (uid, owner).
    pub fn miners(&self) -> Result<Vec<(u64, Address)>> {
        let mut stmt = self
            .conn
            .prepare("SELECT uid, owner FROM peers ORDER BY uid")
            .map_err(db)?;
        let rows = stmt
            .query_map([], |r| {
                Ok((r.get::<_, i64>(0)? as u64, r.get::<_, Vec<u8>>(1)?))
            })
            .map_err(db)?;
        rows.map(|row| {
            let (uid, owner) = row.map_err(db)?;
            Ok((uid, to_address(&owner)?))
        })
        .collect()
    }

    /// `round_state::anchor_checkpoint`.
    pub fn anchor_checkpoint(&mut self, window: u64, hash: &[u8], now_ms: u64) -> Result<()> {
        self.tx(|tx| {
            let hp = read_hparams(tx)?;
            if hash.len() != 32 {
                return Err(e::round_state::EBadHash.err(format!("{} bytes", hash.len())));
            }
            if window > hp.window_at(now_ms) + 1 {
                return Err(e::round_state::EAnchorTooFarAhead.err(format!("window {window}")));
            }
            let frequency = values_for(&hp, window)?.checkpoint_frequency;
            if window % frequency != 0 {
                return Err(e::round_state::ENotCheckpointWindow
                    .err(format!("{window} is not a multiple of {frequency}")));
            }
            let last: Option<i64> = tx
                .query_row("SELECT MAX(window) FROM anchors", [], |r| r.get(0))
                .map_err(db)?;
            if last.is_some_and(|l| l as u64 >= window) {
                return Err(e::round_state::ENotAscending.err(format!("window {window}")));
            }
            tx.execute(
                "INSERT INTO anchors VALUES (?1, ?2)",
                params![window as i64, hash],
            )
            .map_err(db)?;
            event(
                tx,
                now_ms,
                "CheckpointAnchored",
                &serde_json::json!({"window": window, "checkpoint_hash": hex::encode(hash)}),
            )
        })
    }

    /// `round_state::latest_anchor`: (anchored window, hash).
    pub fn latest_anchor(&self, window: u64) -> Result<(u64, [u8; 32])> {
        latest_anchor(&self.conn, window)
    }

    /// `gradient_registry::commit_gradient`.
    pub fn commit_gradient(
        &mut self,
        sender: Address,
        window: u64,
        uid: u64,
        blob_id: &[u8],
        sha: &[u8],
        now_ms: u64,
    ) -> Result<()> {
        self.tx(|tx| {
            let hp = read_hparams(tx)?;
            let owner = owner_of(tx, uid)?
                .ok_or_else(|| e::peer_registry::EUnknownMiner.err(format!("uid {uid}")))?;
            if owner != sender {
                return Err(e::gradient_registry::ENotOwner.err(format!("uid {uid}")));
            }
            if blob_id.len() != 32 {
                return Err(
                    e::gradient_registry::EBadBlobId.err(format!("{} bytes", blob_id.len()))
                );
            }
            if sha.len() != 32 {
                return Err(e::gradient_registry::EBadHash.err(format!("{} bytes", sha.len())));
            }
            let current = hp.window_at(now_ms);
            if window != current {
                return Err(e::gradient_registry::EWrongWindow
                    .err(format!("window {window}, current {current}")));
            }
            let deadline = times(&hp, window)?.upload_deadline_ms;
            if now_ms >= deadline {
                return Err(e::gradient_registry::EUploadClosed
                    .err(format!("{} ms after the deadline", now_ms - deadline)));
            }
            let done = tx
                .execute(
                    "INSERT OR IGNORE INTO commitments VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![window as i64, uid as i64, blob_id, sha, now_ms as i64],
                )
                .map_err(db)?;
            if done == 0 {
                return Err(e::gradient_registry::EAlreadyCommitted
                    .err(format!("window {window}, uid {uid}")));
            }
            event(
                tx,
                now_ms,
                "GradientCommitted",
                &serde_json::json!({"window": window, "miner_uid": uid,
                    "blob_id": hex::encode(blob_id), "sha256": hex::encode(sha)}),
            )
        })
    }

    /// The commitments of `window`, ascending uid.
    pub fn commitments(&self, window: u64) -> Result<Vec<(u64, Commitment)>> {
        commitments(&self.conn, window)
    }

    /// `enclave_registry::update_pcrs` (the local ledger keeps them for the
    /// record; its enclaves register through the test-mode path).
    pub fn update_pcrs(&mut self, pcrs: [&[u8]; 3], now_ms: u64) -> Result<u64> {
        self.tx(|tx| {
            if pcrs.iter().any(|p| p.len() != 48) {
                return Err(e::enclave_registry::EBadPcrLength.err("PCRs are 48 bytes"));
            }
            if pcrs.iter().all(|p| p.iter().all(|&b| b == 0)) {
                return Err(e::enclave_registry::EDebugModePcrs.err("all-zero PCRs"));
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
                return Err(e::enclave_registry::ENotValidator.err("sender is not a validator"));
            }
            if public_key.len() != 32 {
                return Err(
                    e::enclave_registry::EBadPublicKey.err(format!("{} bytes", public_key.len()))
                );
            }
            let version = config_version(tx)?;
            tx.execute(
                "INSERT OR REPLACE INTO enclaves VALUES (?1, ?2, ?3, ?4, 1)",
                params![&sender[..], public_key, version as i64, now_ms as i64],
            )
            .map_err(db)?;
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

    /// `score_ledger::submit_scores`, with every check of the Move function
    /// in its order.
    pub fn submit_scores(
        &mut self,
        sender: Address,
        args: &SubmitArgs,
        now_ms: u64,
    ) -> Result<ScoresSubmitted> {
        self.tx(|tx| submit(tx, sender, args, now_ms))
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
            .map_err(db)
    }

    /// Every accepted statement, by window then validator.
    pub fn submissions(&self) -> Result<Vec<StoredSubmission>> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT window, validator, statement, signature, submitted_ms FROM submissions
                 ORDER BY window, validator",
            )
            .map_err(db)?;
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
            .map_err(db)?;
        rows.map(|row| {
            let (window, validator, statement, signature, submitted_ms) = row.map_err(db)?;
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

    /// The whole ledger as JSON (the audit bundle's `ledger.json`).
    pub fn export(&self) -> Result<serde_json::Value> {
        let hp = self.hparams()?;
        let mut events = Vec::new();
        let mut stmt = self
            .conn
            .prepare("SELECT at_ms, kind, body FROM events ORDER BY id")
            .map_err(db)?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                ))
            })
            .map_err(db)?;
        for row in rows {
            let (at_ms, kind, body) = row.map_err(db)?;
            let body: serde_json::Value =
                serde_json::from_str(&body).map_err(|err| Error::Journal {
                    reason: format!("ledger event: {err}"),
                })?;
            events.push(serde_json::json!({"at_ms": at_ms, "kind": kind, "event": body}));
        }
        let mut anchors = Vec::new();
        let mut stmt = self
            .conn
            .prepare("SELECT window, hash FROM anchors ORDER BY window")
            .map_err(db)?;
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?)))
            .map_err(db)?;
        for row in rows {
            let (window, hash) = row.map_err(db)?;
            anchors
                .push(serde_json::json!({"window": window, "checkpoint_hash": hex::encode(hash)}));
        }
        let mut commitments = Vec::new();
        let mut stmt = self
            .conn
            .prepare("SELECT window, uid, blob_id, sha256, committed_ms FROM commitments ORDER BY window, uid")
            .map_err(db)?;
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
            .map_err(db)?;
        for row in rows {
            let (window, uid, blob_id, sha, at) = row.map_err(db)?;
            commitments.push(serde_json::json!({"window": window, "miner_uid": uid,
                "blob_id": hex::encode(blob_id), "sha256": hex::encode(sha), "committed_ms": at}));
        }
        Ok(serde_json::json!({
            "kind": "vramhub local ledger (a stand-in for the Move package, not a chain)",
            "hparams": {"version": hp.version, "current": hp.current.values_json(), "start_window": hp.current.start_window},
            "miners": self.miners()?.iter().map(|(uid, owner)| serde_json::json!({"uid": uid, "owner": hex::encode(owner)})).collect::<Vec<_>>(),
            "anchors": anchors,
            "commitments": commitments,
            "submissions": self.submissions()?,
            "events": events,
        }))
    }
}

impl Segment {
    fn values_json(&self) -> serde_json::Value {
        serde_json::to_value(&self.values).unwrap_or(serde_json::Value::Null)
    }
}

fn submit(
    tx: &rusqlite::Transaction<'_>,
    sender: Address,
    args: &SubmitArgs,
    now_ms: u64,
) -> Result<ScoresSubmitted> {
    use e::score_ledger as s;
    let n = args.miner_uids.len();
    if [
        args.statuses.len(),
        args.losses_before_own.len(),
        args.losses_after_own.len(),
        args.losses_after_random.len(),
    ]
    .iter()
    .any(|&l| l != n)
    {
        return Err(s::ELengthMismatch.err("entry vectors differ in length"));
    }
    if n > MAX_SUBMIT_ENTRIES {
        return Err(s::ETooManyEntries.err(format!("{n} entries")));
    }
    let hp = read_hparams(tx)?;
    let window = args.window;
    let values = values_for(&hp, window)?;
    let validator: Option<(i64, i64)> = tx
        .query_row(
            "SELECT stake, first_window FROM validators WHERE address = ?1",
            params![&sender[..]],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .map_err(db)?;
    match validator {
        Some((stake, first))
            if window >= first as u64 && stake as u64 >= values.min_validator_stake => {}
        Some((_, first)) => {
            return Err(s::ENotValidator.err(format!("may score from window {first}")));
        }
        None => return Err(s::ENotValidator.err("sender is not a validator")),
    }
    let public_key = current_key(tx, &sender)?;
    let t = times(&hp, window)?;
    if now_ms < t.upload_deadline_ms || now_ms >= t.end_ms {
        return Err(s::EWindowNotScoring.err(format!(
            "now {now_ms}, scoring is [{}, {})",
            t.upload_deadline_ms, t.end_ms
        )));
    }
    let done: Option<i64> = tx
        .query_row(
            "SELECT 1 FROM submissions WHERE window = ?1 AND validator = ?2",
            params![window as i64, &sender[..]],
            |r| r.get(0),
        )
        .optional()
        .map_err(db)?;
    if done.is_some() {
        return Err(s::EAlreadySubmitted.err(format!("window {window}")));
    }
    let (_, anchored) = latest_anchor(tx, window)?;
    if args.checkpoint_hash != anchored {
        return Err(s::ECheckpointMismatch.err(format!(
            "statement {}, anchor {}",
            hex::encode(&args.checkpoint_hash),
            hex::encode(anchored)
        )));
    }
    if args.dataset_root != values.dataset_root {
        return Err(s::EDatasetRootMismatch.err(hex::encode(&args.dataset_root)));
    }
    if args.eval_seed.len() != 32 {
        return Err(s::EBadSeed.err(format!("{} bytes", args.eval_seed.len())));
    }
    let committed = commitments(tx, window)?;
    let mut entries = Vec::with_capacity(n);
    let (mut seen, mut offset) = (0usize, 0usize);
    for i in 0..n {
        let uid = args.miner_uids[i];
        if i > 0 && args.miner_uids[i - 1] >= uid {
            return Err(s::EEntriesNotSorted.err(format!("uid {uid} at {i}")));
        }
        let status = args.statuses[i];
        if status > 3 {
            return Err(s::EBadStatus.err(format!("status {status}")));
        }
        if owner_of(tx, uid)?.is_none() {
            return Err(s::EUnknownMiner.err(format!("uid {uid}")));
        }
        let commitment = committed.iter().find(|(u, _)| *u == uid).map(|(_, c)| c);
        if commitment.is_some() {
            seen += 1;
        }
        let gradient_hash = if status == 1 {
            Vec::new()
        } else {
            let c = commitment.ok_or_else(|| s::ENoCommitment.err(format!("uid {uid}")))?;
            let claimed = args
                .gradient_hashes
                .get(offset..offset + 32)
                .ok_or_else(|| s::EBadGradientHashes.err("too few gradient hashes"))?;
            offset += 32;
            if claimed != c.sha256.as_slice() {
                return Err(s::EGradientHashMismatch.err(format!(
                    "uid {uid}: statement {}, commitment {}",
                    hex::encode(claimed),
                    hex::encode(&c.sha256)
                )));
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
        return Err(s::EBadGradientHashes.err("gradient hashes left over"));
    }
    if seen != committed.len() {
        return Err(s::ECommitmentNotScored.err(format!(
            "{} of {} committed miners scored",
            seen,
            committed.len()
        )));
    }
    let scored = entries.iter().filter(|e| e.status == 0).count() as u64;
    let message = IntentMessage {
        intent: INTENT_WINDOW_SCORES,
        timestamp_ms: args.timestamp_ms,
        payload: WindowScores {
            window,
            validator: sender,
            checkpoint_hash: args.checkpoint_hash.clone(),
            dataset_root: args.dataset_root.clone(),
            eval_params_hash: sha256(&bcs_bytes(&values.eval_params())?).to_vec(),
            eval_seed: args.eval_seed.clone(),
            loss_before_random: args.loss_before_random,
            entries,
        },
    };
    let bytes = to_bcs(&message).map_err(|err| Error::Journal {
        reason: format!("statement encoding: {err}"),
    })?;
    verify_ed25519(&public_key, &bytes, &args.signature)
        .map_err(|_| s::EBadSignature.err("Ed25519 over the rebuilt statement"))?;
    let digest = sha256(&bytes);
    tx.execute(
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
    .map_err(db)?;
    let submitted = ScoresSubmitted {
        window,
        validator: sender,
        enclave_public_key: public_key,
        statement_sha256: digest.to_vec(),
        entries: n as u64,
        scored,
    };
    event(
        tx,
        now_ms,
        "ScoresSubmitted",
        &serde_json::json!({"window": window, "validator": hex::encode(sender),
            "statement_sha256": hex::encode(digest), "entries": n, "scored": scored}),
    )?;
    Ok(submitted)
}

/// Milliseconds since the UNIX epoch.
pub fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn validate_values(values: &HparamValues) -> Result<()> {
    values.validate().map_err(|err| {
        if values.dataset_root.len() != 32 {
            e::hparams::EBadDatasetRoot.err(err.to_string())
        } else {
            e::hparams::EInvalidValue.err(err.to_string())
        }
    })
}

fn bcs_bytes<T: Serialize>(value: &T) -> Result<Vec<u8>> {
    bcs::to_bytes(value).map_err(|err| Error::Journal {
        reason: format!("BCS: {err}"),
    })
}

fn get_meta(conn: &Connection, key: &str) -> Result<Option<Vec<u8>>> {
    conn.query_row("SELECT value FROM meta WHERE key = ?1", params![key], |r| {
        r.get(0)
    })
    .optional()
    .map_err(db)
}

fn put_meta(conn: &Connection, key: &str, value: &[u8]) -> Result<()> {
    conn.execute(
        "INSERT OR REPLACE INTO meta VALUES (?1, ?2)",
        params![key, value],
    )
    .map_err(db)?;
    Ok(())
}

fn event(conn: &Connection, at_ms: u64, kind: &str, body: &serde_json::Value) -> Result<()> {
    conn.execute(
        "INSERT INTO events (at_ms, kind, body) VALUES (?1, ?2, ?3)",
        params![at_ms as i64, kind, body.to_string()],
    )
    .map_err(db)?;
    Ok(())
}

fn read_hparams(conn: &Connection) -> Result<HparamsObject> {
    let bytes = get_meta(conn, "hparams")?.ok_or_else(|| Error::Config {
        reason: "the ledger has no genesis".into(),
    })?;
    bcs::from_bytes(&bytes).map_err(|err| Error::Journal {
        reason: format!("Hparams: {err}"),
    })
}

fn values_for(hp: &HparamsObject, window: u64) -> Result<HparamValues> {
    hp.segment_for_window(window)
        .map(|s| s.values.clone())
        .ok_or_else(|| e::hparams::EWindowBeforeSchedule.err(format!("window {window}")))
}

fn start_ms(hp: &HparamsObject, window: u64) -> Result<u64> {
    hp.window_start_ms(window)
        .ok_or_else(|| e::hparams::EWindowBeforeSchedule.err(format!("window {window}")))
}

fn times(hp: &HparamsObject, window: u64) -> Result<crate::chain::types::WindowTimes> {
    hp.times(window)
        .ok_or_else(|| e::hparams::EWindowBeforeSchedule.err(format!("window {window}")))
}

fn config_version(conn: &Connection) -> Result<u64> {
    let bytes = get_meta(conn, "config_version")?.unwrap_or_else(|| vec![0; 8]);
    let arr: [u8; 8] = bytes.as_slice().try_into().map_err(|_| Error::Journal {
        reason: "config_version is not 8 bytes".into(),
    })?;
    Ok(u64::from_le_bytes(arr))
}

fn is_validator(conn: &Connection, address: &Address) -> Result<bool> {
    Ok(conn
        .query_row(
            "SELECT 1 FROM validators WHERE address = ?1",
            params![&address[..]],
            |r| r.get::<_, i64>(0),
        )
        .optional()
        .map_err(db)?
        .is_some())
}

fn owner_of(conn: &Connection, uid: u64) -> Result<Option<Address>> {
    let owner: Option<Vec<u8>> = conn
        .query_row(
            "SELECT owner FROM peers WHERE uid = ?1",
            params![uid as i64],
            |r| r.get(0),
        )
        .optional()
        .map_err(db)?;
    owner.map(|o| to_address(&o)).transpose()
}

fn current_key(conn: &Connection, validator: &Address) -> Result<Vec<u8>> {
    let record: Option<(Vec<u8>, i64)> = conn
        .query_row(
            "SELECT public_key, config_version FROM enclaves WHERE validator = ?1",
            params![&validator[..]],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .map_err(db)?;
    let (key, version) =
        record.ok_or_else(|| e::enclave_registry::ENoEnclave.err("no enclave registered"))?;
    if version as u64 != config_version(conn)? {
        return Err(
            e::enclave_registry::EStaleEnclave.err(format!("registered under version {version}"))
        );
    }
    Ok(key)
}

fn latest_anchor(conn: &Connection, window: u64) -> Result<(u64, [u8; 32])> {
    let row: Option<(i64, Vec<u8>)> = conn
        .query_row(
            "SELECT window, hash FROM anchors WHERE window <= ?1 ORDER BY window DESC LIMIT 1",
            params![window as i64],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .map_err(db)?;
    let (anchored, hash) =
        row.ok_or_else(|| e::round_state::ENoAnchor.err(format!("window {window}")))?;
    Ok((anchored as u64, to_address(&hash)?))
}

fn commitments(conn: &Connection, window: u64) -> Result<Vec<(u64, Commitment)>> {
    let mut stmt = conn
        .prepare(
            "SELECT uid, blob_id, sha256, committed_ms FROM commitments
             WHERE window = ?1 ORDER BY uid",
        )
        .map_err(db)?;
    let rows = stmt
        .query_map(params![window as i64], |r| {
            Ok((
                r.get::<_, i64>(0)? as u64,
                Commitment {
                    blob_id: r.get(1)?,
                    sha256: r.get(2)?,
                    committed_ms: r.get::<_, i64>(3)? as u64,
                },
            ))
        })
        .map_err(db)?;
    rows.collect::<rusqlite::Result<Vec<_>>>().map_err(db)
}

fn to_address(bytes: &[u8]) -> Result<Address> {
    bytes.try_into().map_err(|_| Error::Journal {
        reason: format!("ledger holds a {}-byte address or hash", bytes.len()),
    })
}
