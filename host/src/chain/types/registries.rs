//! Twins of the registries' structs: `gradient_registry`, `peer_registry`,
//! `enclave_registry`, `round_state`, and the framework's table and field.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// `vramhub::gradient_registry::Commitment`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Commitment {
    /// Walrus blob id (32 bytes).
    pub blob_id: Vec<u8>,
    /// SHA-256 of the blob.
    pub sha256: Vec<u8>,
    /// Chain time of the commitment.
    pub committed_ms: u64,
}

impl Commitment {
    /// The committed blob id and SHA-256, checked to be 32 bytes each.
    pub fn blob(&self) -> Result<(crate::walrus::BlobId, [u8; 32])> {
        let id = crate::walrus::BlobId::from_slice(&self.blob_id)?;
        let sha = hash32(&self.sha256, "commitment hash")?;
        Ok((id, sha))
    }
}

/// `vramhub::enclave_registry::EnclaveRecord`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnclaveRecord {
    /// The Ed25519 key that signs for the validator.
    pub public_key: Vec<u8>,
    /// The version of the image the key was registered for.
    pub config_version: u64,
    /// Chain time of registration.
    pub registered_ms: u64,
    /// Registered through the test-mode path.
    pub test_mode: bool,
    /// SHA-256 of the registration's attestation document.
    pub document_sha256: Vec<u8>,
    /// Walrus blob id of that document; empty if it was not stored.
    pub document_blob: Vec<u8>,
}

impl EnclaveRecord {
    /// Where the registration's document is: its hash and blob id, checked.
    pub fn document(&self) -> Result<DocumentRef> {
        let sha256 = hash32(&self.document_sha256, "document hash")?;
        let blob = match self.document_blob.len() {
            0 => None,
            _ => Some(crate::walrus::BlobId::from_slice(&self.document_blob)?),
        };
        Ok(DocumentRef { sha256, blob })
    }
}

/// An attestation document by reference, as a registration records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DocumentRef {
    /// SHA-256 of the document's bytes.
    pub sha256: [u8; 32],
    /// Where it is stored on Walrus, if it is.
    pub blob: Option<crate::walrus::BlobId>,
}

/// `vramhub::round_state::Anchor`: a checkpoint's identity and its file list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Anchor {
    /// SHA-256 identity of the checkpoint.
    pub checkpoint_hash: Vec<u8>,
    /// Walrus blob id of its `vram-checkpoint/1` file list.
    pub checkpoint_blob: Vec<u8>,
}

/// The latest anchor at or before a window, checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnchorRef {
    /// The window it was anchored for.
    pub window: u64,
    /// The checkpoint's identity.
    pub checkpoint_hash: [u8; 32],
    /// Its file list on Walrus.
    pub checkpoint_blob: crate::walrus::BlobId,
}

impl Anchor {
    /// This anchor, for `window`, with its lengths checked.
    pub fn checked(&self, window: u64) -> Result<AnchorRef> {
        let checkpoint_hash = hash32(&self.checkpoint_hash, "anchor hash")?;
        Ok(AnchorRef {
            window,
            checkpoint_hash,
            checkpoint_blob: crate::walrus::BlobId::from_slice(&self.checkpoint_blob)?,
        })
    }
}

/// `vramhub::enclave_registry::Enclaves`: a validator's latest registration
/// and the one before it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Enclaves {
    /// The latest registration.
    pub latest: EnclaveRecord,
    /// The one before.
    pub previous: Option<EnclaveRecord>,
}

/// `vramhub::enclave_registry::Image`: expected PCRs from `effective_ms`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Image {
    /// Bumped by every PCR update.
    pub version: u64,
    /// Expected PCR0.
    pub pcr0: Vec<u8>,
    /// Expected PCR1.
    pub pcr1: Vec<u8>,
    /// Expected PCR2.
    pub pcr2: Vec<u8>,
    /// Chain time from which the image is in force (a window boundary).
    pub effective_ms: u64,
}

/// `sui::table::Table<K, V>` as it sits inside its parent: the table's own
/// UID (the parent of its dynamic fields) and its size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableRef {
    /// The table's UID.
    pub id: [u8; 32],
    /// Entries.
    pub size: u64,
}

/// `vramhub::round_state::RoundState`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoundStateObject {
    /// UID.
    pub id: [u8; 32],
    /// window -> anchor.
    pub anchors: TableRef,
    /// Anchored windows, ascending.
    pub windows: Vec<u64>,
}

/// `vramhub::gradient_registry::GradientRegistry`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GradientRegistryObject {
    /// UID.
    pub id: [u8; 32],
    /// window -> `vector<Committed>`, ascending uid. `Committed { miner_uid,
    /// commitment }` has the BCS of the tuple `(u64, Commitment)`.
    pub by_window: TableRef,
}

/// `vramhub::validator_registry::ValidatorRegistry`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValidatorRegistryObject {
    /// UID.
    pub id: [u8; 32],
    /// address -> Validator.
    pub validators: TableRef,
}

/// `vramhub::validator_registry::BudgetChange`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BudgetChange {
    /// The first window it is in force for.
    pub from_window: u64,
    /// `K_v`.
    pub budget: u64,
}

/// `vramhub::validator_registry::Validator` (`Balance<SUI>` is its `u64`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValidatorRecord {
    /// Stake, MIST.
    pub stake: u64,
    /// The first window it may score.
    pub first_window: u64,
    /// Every budget declared, ascending `from_window`.
    pub budgets: Vec<BudgetChange>,
}

impl ValidatorRecord {
    /// `validator_registry::budget_for_window` given the window's
    /// `max_scored`.
    pub fn budget_for_window(&self, window: u64, max_scored: u64) -> u64 {
        self.budgets
            .iter()
            .rev()
            .find(|c| c.from_window <= window)
            .map_or(max_scored, |c| c.budget.min(max_scored))
    }
}

/// `vramhub::peer_registry::PeerRegistry`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerRegistryObject {
    /// UID.
    pub id: [u8; 32],
    /// The next uid to hand out.
    pub next_uid: u64,
    /// uid -> Peer.
    pub peers: TableRef,
    /// address -> uid.
    pub uid_of: TableRef,
}

/// `vramhub::peer_registry::Peer` (`Balance<SUI>` is its `u64` value).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerRecord {
    /// The owner.
    pub owner: [u8; 32],
    /// Stake, MIST.
    pub stake: u64,
    /// Registration window.
    pub registered_window: u64,
}

/// `vramhub::enclave_registry::EnclaveConfig`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnclaveConfigObject {
    /// UID.
    pub id: [u8; 32],
    /// The image in force (version 0 until governance sets one).
    pub current: Image,
    /// An update waiting for its window boundary.
    pub next: Option<Image>,
    /// Bumped by every PCR update.
    pub version: u64,
    /// False once the test-mode capability is destroyed.
    pub test_mode_open: bool,
    /// validator -> Enclaves.
    pub enclaves: TableRef,
}

/// Why no key signs (the twins of `enclave_registry`'s aborts).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignerRefusal {
    /// `ENoKeyForWindow`: nothing registered before the deadline.
    NoKeyForWindow,
    /// `EStaleEnclave`: registered for an image not in force.
    Stale,
    /// `ETestModeClosed`: a test-mode key after test mode closed.
    TestModeClosed,
}

impl EnclaveConfigObject {
    /// `image_at`: the image in force at `time_ms`.
    pub fn image_at(&self, time_ms: u64) -> &Image {
        match &self.next {
            Some(next) if time_ms >= next.effective_ms => next,
            _ => &self.current,
        }
    }

    /// `check_usable`: whether `record` may sign at `time_ms`.
    pub fn check_usable(
        &self,
        record: &EnclaveRecord,
        time_ms: u64,
    ) -> std::result::Result<(), SignerRefusal> {
        let pending = self
            .next
            .as_ref()
            .is_some_and(|n| n.version == record.config_version);
        if record.config_version != self.image_at(time_ms).version && !pending {
            return Err(SignerRefusal::Stale);
        }
        if record.test_mode && !self.test_mode_open {
            return Err(SignerRefusal::TestModeClosed);
        }
        Ok(())
    }

    /// `signer_for_window`: the record that signs for a window whose upload
    /// deadline is `upload_deadline_ms`.
    pub fn signer_for_window<'a>(
        &self,
        enclaves: &'a Enclaves,
        upload_deadline_ms: u64,
    ) -> std::result::Result<&'a EnclaveRecord, SignerRefusal> {
        let record = if enclaves.latest.registered_ms < upload_deadline_ms {
            &enclaves.latest
        } else {
            match &enclaves.previous {
                Some(p) if p.registered_ms < upload_deadline_ms => p,
                _ => return Err(SignerRefusal::NoKeyForWindow),
            }
        };
        self.check_usable(record, upload_deadline_ms)?;
        Ok(record)
    }
}

/// `sui::dynamic_field::Field<K, V>`: what a table entry is on chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldObject<K, V> {
    /// The field's UID (its object id).
    pub id: [u8; 32],
    /// The key.
    pub name: K,
    /// The value.
    pub value: V,
}

/// A 32-byte hash the chain holds as `vector<u8>`, length checked.
fn hash32(bytes: &[u8], what: &str) -> Result<[u8; 32]> {
    bytes.try_into().map_err(|_| Error::Walrus {
        reason: format!("{what} of {} bytes", bytes.len()),
    })
}
