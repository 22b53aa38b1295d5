//! The journal: every window the host works on, in SQLite (WAL, fully
//! synchronous), so that a crash at any point loses nothing and a window is
//! never submitted twice.
//!
//! The rule that makes double submission impossible: the signed transaction
//! is written (`begin_submission`) *before* it is sent. After a restart a
//! window in `submitting` is never rebuilt: the same bytes, with the same
//! digest, are re-sent or looked up, and Sui executes a digest at most once.

use std::path::Path;

use rusqlite::{params, Connection, OptionalExtension};

use crate::error::{Error, Result};

/// Where a window stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowState {
    /// Inputs recorded, no statement yet.
    Opened,
    /// The enclave's signed statement is recorded.
    Scored,
    /// A signed transaction is recorded and may have been sent.
    Submitting,
    /// The chain accepted the statement.
    Submitted,
    /// The chain refused it, or it could not be sent in time.
    Failed,
}

impl WindowState {
    /// The state's name, as stored and printed.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Opened => "opened",
            Self::Scored => "scored",
            Self::Submitting => "submitting",
            Self::Submitted => "submitted",
            Self::Failed => "failed",
        }
    }

    fn parse(s: &str) -> Result<Self> {
        Ok(match s {
            "opened" => Self::Opened,
            "scored" => Self::Scored,
            "submitting" => Self::Submitting,
            "submitted" => Self::Submitted,
            "failed" => Self::Failed,
            other => return Err(journal(format!("unknown state {other:?}"))),
        })
    }
}

/// What to do next for a window, after a restart or otherwise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NextStep {
    /// Drive the enclave and record its statement.
    Score,
    /// Build, sign, record, then send the submission of this statement.
    Submit {
        /// BCS statement.
        statement: Vec<u8>,
        /// Its signature.
        signature: Vec<u8>,
    },
    /// A transaction was recorded: re-send exactly these bytes or look the
    /// digest up; never build another.
    Confirm {
        /// The transaction digest.
        digest: String,
        /// The signed transaction.
        transaction: Vec<u8>,
    },
    /// Nothing left to do.
    Done,
}

/// One window's row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowRecord {
    /// The window.
    pub window: u64,
    /// Its state.
    pub state: WindowState,
    /// Digest of everything fed to the enclave.
    pub inputs_hash: Vec<u8>,
    /// SHA-256 of the statement, once scored.
    pub statement_sha256: Option<Vec<u8>>,
    /// The transaction digest, once submitting.
    pub tx_digest: Option<String>,
    /// How it ended (or why it failed).
    pub outcome: Option<String>,
}

fn journal(reason: impl Into<String>) -> Error {
    Error::Journal {
        reason: reason.into(),
    }
}

fn db(e: rusqlite::Error) -> Error {
    journal(e.to_string())
}

/// The journal database.
pub struct Journal {
    conn: Connection,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS windows (
    window INTEGER PRIMARY KEY,
    state TEXT NOT NULL,
    inputs_hash BLOB NOT NULL,
    statement BLOB,
    signature BLOB,
    statement_sha256 BLOB,
    tx_digest TEXT,
    tx_bytes BLOB,
    outcome TEXT,
    updated_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    window INTEGER NOT NULL,
    at_ms INTEGER NOT NULL,
    kind TEXT NOT NULL,
    detail TEXT NOT NULL
);
";

/// Opens a crash-safe SQLite database (WAL, fully synchronous: a
/// committed transaction survives power loss) and applies `schema`. With
/// `busy`, a writer waits that long for another process's lock.
pub fn open_durable(
    path: &Path,
    schema: &str,
    busy: Option<std::time::Duration>,
) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    if let Some(wait) = busy {
        conn.busy_timeout(wait)?;
    }
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.execute_batch(schema)?;
    Ok(conn)
}

impl Journal {
    /// Opens (creating if needed) the journal at `path`.
    pub fn open(path: &Path) -> Result<Self> {
        let conn = open_durable(path, SCHEMA, None).map_err(db)?;
        Ok(Self { conn })
    }

    fn event(&self, window: u64, now_ms: u64, kind: &str, detail: &str) -> Result<()> {
        self.conn
            .execute(
                "INSERT INTO events (window, at_ms, kind, detail) VALUES (?1, ?2, ?3, ?4)",
                params![window as i64, now_ms as i64, kind, detail],
            )
            .map(|_| ())
            .map_err(db)
    }

    /// The window's row, if any.
    pub fn get(&self, window: u64) -> Result<Option<WindowRecord>> {
        self.conn
            .query_row(
                "SELECT state, inputs_hash, statement_sha256, tx_digest, outcome FROM windows WHERE window = ?1",
                params![window as i64],
                |r| Ok((r.get::<_, String>(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
            )
            .optional()
            .map_err(db)?
            .map(|(state, inputs_hash, statement_sha256, tx_digest, outcome)| {
                Ok(WindowRecord { window, state: WindowState::parse(&state)?, inputs_hash, statement_sha256, tx_digest, outcome })
            })
            .transpose()
    }

    /// Records that a window is being worked on with these inputs. Opening
    /// again with the same inputs is a no-op; with others, a refusal.
    pub fn open_window(&self, window: u64, inputs_hash: &[u8], now_ms: u64) -> Result<()> {
        if let Some(existing) = self.get(window)? {
            if existing.inputs_hash != inputs_hash {
                return Err(journal(format!(
                    "window {window} was journaled with other inputs"
                )));
            }
            return Ok(());
        }
        self.conn
            .execute(
                "INSERT INTO windows (window, state, inputs_hash, updated_ms) VALUES (?1, 'opened', ?2, ?3)",
                params![window as i64, inputs_hash, now_ms as i64],
            )
            .map_err(db)?;
        self.event(window, now_ms, "opened", "")
    }

    fn require(&self, window: u64) -> Result<WindowRecord> {
        self.get(window)?
            .ok_or_else(|| journal(format!("window {window} is not journaled")))
    }

    /// Records the enclave's statement (the same statement again is a no-op).
    pub fn record_statement(
        &self,
        window: u64,
        statement: &[u8],
        signature: &[u8],
        now_ms: u64,
    ) -> Result<()> {
        let record = self.require(window)?;
        let sha = vram_attestation::sha256(statement).to_vec();
        match record.state {
            WindowState::Opened => {}
            _ if record.statement_sha256.as_deref() == Some(sha.as_slice()) => return Ok(()),
            state => {
                return Err(journal(format!(
                    "window {window} is {}; a different statement cannot replace its own",
                    state.as_str()
                )))
            }
        }
        self.conn
            .execute(
                "UPDATE windows SET state = 'scored', statement = ?2, signature = ?3, statement_sha256 = ?4, updated_ms = ?5 WHERE window = ?1",
                params![window as i64, statement, signature, sha, now_ms as i64],
            )
            .map_err(db)?;
        self.event(window, now_ms, "scored", "")
    }

    /// Records a signed transaction before it is sent. Refused if another
    /// transaction was recorded for the window: there is exactly one.
    pub fn begin_submission(
        &self,
        window: u64,
        digest: &str,
        transaction: &[u8],
        now_ms: u64,
    ) -> Result<()> {
        let record = self.require(window)?;
        match (record.state, record.tx_digest.as_deref()) {
            (WindowState::Scored, _) => {}
            (WindowState::Submitting | WindowState::Submitted, Some(d)) if d == digest => {
                return Ok(())
            }
            (state, _) => {
                return Err(journal(format!(
                    "window {window} is {}: refusing a second submission",
                    state.as_str()
                )))
            }
        }
        self.conn
            .execute(
                "UPDATE windows SET state = 'submitting', tx_digest = ?2, tx_bytes = ?3, updated_ms = ?4 WHERE window = ?1",
                params![window as i64, digest, transaction, now_ms as i64],
            )
            .map_err(db)?;
        self.event(window, now_ms, "submitting", digest)
    }

    /// Records how a window ended: `Ok(detail)` accepted on chain,
    /// `Err(reason)` refused or late.
    pub fn finish(
        &self,
        window: u64,
        outcome: std::result::Result<&str, &str>,
        now_ms: u64,
    ) -> Result<()> {
        self.require(window)?;
        let (state, detail) = match outcome {
            Ok(d) => ("submitted", d),
            Err(r) => ("failed", r),
        };
        self.conn
            .execute(
                "UPDATE windows SET state = ?2, outcome = ?3, updated_ms = ?4 WHERE window = ?1",
                params![window as i64, state, detail, now_ms as i64],
            )
            .map_err(db)?;
        self.event(window, now_ms, state, detail)
    }

    /// What to do for `window` now.
    pub fn next_step(&self, window: u64) -> Result<NextStep> {
        let Some(record) = self.get(window)? else {
            return Ok(NextStep::Score);
        };
        Ok(match record.state {
            WindowState::Opened => NextStep::Score,
            WindowState::Scored => {
                let (statement, signature) = self
                    .conn
                    .query_row(
                        "SELECT statement, signature FROM windows WHERE window = ?1",
                        params![window as i64],
                        |r| Ok((r.get(0)?, r.get(1)?)),
                    )
                    .map_err(db)?;
                NextStep::Submit {
                    statement,
                    signature,
                }
            }
            WindowState::Submitting => {
                let (digest, transaction) = self
                    .conn
                    .query_row(
                        "SELECT tx_digest, tx_bytes FROM windows WHERE window = ?1",
                        params![window as i64],
                        |r| Ok((r.get(0)?, r.get(1)?)),
                    )
                    .map_err(db)?;
                NextStep::Confirm {
                    digest,
                    transaction,
                }
            }
            WindowState::Submitted | WindowState::Failed => NextStep::Done,
        })
    }

    /// The most recent windows, newest first.
    pub fn recent(&self, limit: usize) -> Result<Vec<WindowRecord>> {
        let mut stmt = self
            .conn
            .prepare("SELECT window FROM windows ORDER BY window DESC LIMIT ?1")
            .map_err(db)?;
        let windows: Vec<i64> = stmt
            .query_map(params![limit as i64], |r| r.get(0))
            .map_err(db)?
            .collect::<std::result::Result<_, _>>()
            .map_err(db)?;
        windows
            .into_iter()
            .filter_map(|w| self.get(w as u64).transpose())
            .collect()
    }
}
