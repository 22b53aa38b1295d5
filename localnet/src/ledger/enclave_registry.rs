//! Twin of `contracts/sources/enclave_registry.move`: the expected image
//! (in force from a window boundary, or pending), test mode and its closing,
//! and each validator's latest and previous registration. The key that signs
//! for a window is the one registered before its upload deadline. Enclaves
//! of the local network register through the test-mode path (simulated NSM).

use rusqlite::{params, Connection, OptionalExtension};
use vram_host::chain::aborts::enclave_registry as e;
use vram_host::chain::types::{
    DocumentRef, EnclaveConfigObject, EnclaveRecord, Enclaves, Image, SignerRefusal, TableRef,
};

use super::hparams::{read_hparams, times};
use super::store::{abort, bcs_bytes, db, event, get_meta, put_meta};
use super::validator_registry::is_validator;
use super::{Address, Ledger};
use crate::error::{Error, Result};

impl Ledger {
    /// `enclave_registry::update_pcrs`: the image from the next window
    /// boundary (at once if none was set); returns the new version.
    pub fn update_pcrs(&mut self, pcrs: [&[u8]; 3], now_ms: u64) -> Result<u64> {
        self.tx(|tx| {
            if pcrs.iter().any(|p| p.len() != 48) {
                return Err(abort(e::EBadPcrLength, "PCRs are 48 bytes"));
            }
            if pcrs.iter().all(|p| p.iter().all(|&b| b == 0)) {
                return Err(abort(e::EDebugModePcrs, "all-zero PCRs"));
            }
            let mut config = read_config(tx)?;
            settle(&mut config, now_ms);
            config.version += 1;
            let effective_ms = if config.current.version == 0 {
                now_ms
            } else {
                let hp = read_hparams(tx)?;
                times(&hp, hp.window_at(now_ms) + 1)?.start_ms
            };
            let image = Image {
                version: config.version,
                pcr0: pcrs[0].to_vec(),
                pcr1: pcrs[1].to_vec(),
                pcr2: pcrs[2].to_vec(),
                effective_ms,
            };
            if config.current.version == 0 {
                config.current = image;
            } else {
                config.next = Some(image);
            }
            write_config(tx, &config)?;
            event(
                tx,
                now_ms,
                "PcrsUpdated",
                &serde_json::json!({"version": config.version, "pcr0": hex::encode(pcrs[0]),
                    "pcr1": hex::encode(pcrs[1]), "pcr2": hex::encode(pcrs[2]),
                    "effective_ms": effective_ms}),
            )?;
            Ok(config.version)
        })
    }

    /// `enclave_registry::register_test_enclave`: a simulated enclave's key
    /// signs for `sender` from the next upload deadline. Emits
    /// `TestEnclaveRegistered`. `document` is where its (simulated)
    /// attestation document is.
    pub fn register_test_enclave(
        &mut self,
        sender: Address,
        public_key: &[u8],
        document: &DocumentRef,
        now_ms: u64,
    ) -> Result<()> {
        self.tx(|tx| {
            let config = read_config(tx)?;
            if !config.test_mode_open {
                return Err(abort(e::ETestModeClosed, "test mode is closed"));
            }
            if !is_validator(tx, &sender)? {
                return Err(abort(e::ENotValidator, "sender is not a validator"));
            }
            if public_key.len() != 32 {
                return Err(abort(
                    e::EBadPublicKey,
                    format!("{} bytes", public_key.len()),
                ));
            }
            let config_version = config.image_at(now_ms).version;
            put(
                tx,
                &sender,
                EnclaveRecord {
                    public_key: public_key.to_vec(),
                    config_version,
                    registered_ms: now_ms,
                    test_mode: true,
                    document_sha256: document.sha256.to_vec(),
                    document_blob: document.blob.map(|b| b.0.to_vec()).unwrap_or_default(),
                },
            )?;
            event(
                tx,
                now_ms,
                "TestEnclaveRegistered",
                &serde_json::json!({"validator": hex::encode(sender),
                    "public_key": hex::encode(public_key), "config_version": config_version,
                    "registered_ms": now_ms, "document_sha256": hex::encode(document.sha256),
                    "document_blob": document.blob.map(|b| b.to_string())}),
            )
        })
    }

    /// `enclave_registry::destroy_test_mode_cap`: closes test mode for good;
    /// no test-mode key registers or signs after this.
    pub fn close_test_mode(&mut self, now_ms: u64) -> Result<()> {
        self.tx(|tx| {
            let mut config = read_config(tx)?;
            config.test_mode_open = false;
            write_config(tx, &config)?;
            event(tx, now_ms, "TestModeDisabled", &serde_json::json!({}))
        })
    }

    /// `enclave_registry::retire_enclave` (governance) and
    /// `deregister_enclave` (the validator itself).
    pub fn remove_enclave(
        &mut self,
        validator: Address,
        by_governance: bool,
        now_ms: u64,
    ) -> Result<()> {
        self.tx(|tx| {
            let enclaves = read_enclaves(tx, &validator)?
                .ok_or_else(|| abort(e::ENoEnclave, "no enclave registered"))?;
            tx.execute(
                "DELETE FROM enclave_records WHERE validator = ?1",
                params![&validator[..]],
            )
            .map_err(db("delete enclave"))?;
            event(
                tx,
                now_ms,
                "EnclaveRetired",
                &serde_json::json!({"validator": hex::encode(validator),
                    "public_key": hex::encode(&enclaves.latest.public_key),
                    "by_governance": by_governance}),
            )
        })
    }

    /// `enclave_registry::current_key`: the latest key if it signs at
    /// `now_ms`.
    pub fn current_key(&self, validator: &Address, now_ms: u64) -> Result<Vec<u8>> {
        let config = read_config(&self.conn)?;
        let enclaves = read_enclaves(&self.conn, validator)?
            .ok_or_else(|| abort(e::ENoEnclave, "no enclave registered"))?;
        config
            .check_usable(&enclaves.latest, now_ms)
            .map_err(refusal)?;
        Ok(enclaves.latest.public_key)
    }

    /// `enclave_registry::signer_for_window`: the key (and whether it is a
    /// test-mode key) that signs for a window whose upload deadline is
    /// `upload_deadline_ms`.
    pub fn signer_for_window(
        &self,
        validator: &Address,
        upload_deadline_ms: u64,
    ) -> Result<(Vec<u8>, bool)> {
        signer_for_window(&self.conn, validator, upload_deadline_ms)
            .map(|r| (r.public_key, r.test_mode))
    }

    /// The registration whose key signs for a window with this deadline.
    pub fn signer_record(
        &self,
        validator: &Address,
        upload_deadline_ms: u64,
    ) -> Result<EnclaveRecord> {
        signer_for_window(&self.conn, validator, upload_deadline_ms)
    }
}

/// `enclave_registry::signer_for_window`.
pub(super) fn signer_for_window(
    conn: &Connection,
    validator: &Address,
    upload_deadline_ms: u64,
) -> Result<EnclaveRecord> {
    let config = read_config(conn)?;
    let enclaves = read_enclaves(conn, validator)?
        .ok_or_else(|| abort(e::ENoEnclave, "no enclave registered"))?;
    let record = config
        .signer_for_window(&enclaves, upload_deadline_ms)
        .map_err(refusal)?;
    Ok(record.clone())
}

fn refusal(r: SignerRefusal) -> Error {
    match r {
        SignerRefusal::NoKeyForWindow => abort(
            e::ENoKeyForWindow,
            "no key was registered before the window's upload deadline",
        ),
        SignerRefusal::Stale => abort(e::EStaleEnclave, "registered for an image not in force"),
        SignerRefusal::TestModeClosed => abort(e::ETestModeClosed, "test mode is closed"),
    }
}

/// The configuration (an empty one before governance sets an image).
fn read_config(conn: &Connection) -> Result<EnclaveConfigObject> {
    match get_meta(conn, "enclave_config")? {
        Some(bytes) => bcs::from_bytes(&bytes).map_err(|err| Error::Corrupt {
            what: "enclave config",
            reason: err.to_string(),
        }),
        None => Ok(EnclaveConfigObject {
            id: vram_attestation::sha256(b"vramhub local ledger: EnclaveConfig"),
            current: Image {
                version: 0,
                pcr0: Vec::new(),
                pcr1: Vec::new(),
                pcr2: Vec::new(),
                effective_ms: 0,
            },
            next: None,
            version: 0,
            test_mode_open: true,
            enclaves: TableRef {
                id: vram_attestation::sha256(b"vramhub local ledger: enclaves"),
                size: 0,
            },
        }),
    }
}

fn write_config(conn: &Connection, config: &EnclaveConfigObject) -> Result<()> {
    put_meta(conn, "enclave_config", &bcs_bytes("EnclaveConfig", config)?)
}

/// Folds a pending image in once its boundary has passed.
fn settle(config: &mut EnclaveConfigObject, now_ms: u64) {
    if config
        .next
        .as_ref()
        .is_some_and(|n| now_ms >= n.effective_ms)
    {
        if let Some(next) = config.next.take() {
            config.current = next;
        }
    }
}

fn read_enclaves(conn: &Connection, validator: &Address) -> Result<Option<Enclaves>> {
    let bytes: Option<Vec<u8>> = conn
        .query_row(
            "SELECT enclaves FROM enclave_records WHERE validator = ?1",
            params![&validator[..]],
            |r| r.get(0),
        )
        .optional()
        .map_err(db("read enclaves"))?;
    bytes
        .map(|b| {
            bcs::from_bytes(&b).map_err(|err| Error::Corrupt {
                what: "enclave record",
                reason: err.to_string(),
            })
        })
        .transpose()
}

/// The new record becomes the latest; the latest becomes the previous.
fn put(conn: &Connection, validator: &Address, latest: EnclaveRecord) -> Result<()> {
    let previous = read_enclaves(conn, validator)?.map(|e| e.latest);
    let enclaves = Enclaves { latest, previous };
    conn.execute(
        "INSERT OR REPLACE INTO enclave_records VALUES (?1, ?2)",
        params![&validator[..], bcs_bytes("Enclaves", &enclaves)?],
    )
    .map_err(db("write enclave"))?;
    Ok(())
}
