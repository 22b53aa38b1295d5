//! `Chain` on the embedded ledger (local mode). Transactions are the BCS of
//! the call's arguments; their digest is its SHA-256. Like Sui, sending the
//! same transaction twice executes it once.

use std::path::Path;

use vram_host::chain::aborts::score_ledger::EAlreadySubmitted;
use vram_host::chain::aborts::MoveAbort;
use vram_host::chain::types::{
    AnchorRef, Commitment, DocumentRef, EnclaveRecord, HparamsObject, SubmitArgs,
};
use vram_host::chain::{Chain, PreparedSubmission};
use vram_host::{Error, Result};

use crate::ledger::{Address, Ledger};

/// The local ledger, seen from one account.
pub struct LocalChain {
    ledger: Ledger,
    sender: Address,
}

impl LocalChain {
    /// Opens the ledger file as `sender`.
    pub fn open(path: &Path, sender: Address) -> Result<Self> {
        Ok(Self {
            ledger: Ledger::open(path)?,
            sender,
        })
    }

    /// The ledger itself.
    pub fn ledger(&mut self) -> &mut Ledger {
        &mut self.ledger
    }
}

impl Chain for LocalChain {
    fn name(&self) -> String {
        "local ledger (stand-in for the Move package)".into()
    }

    fn validator(&self) -> [u8; 32] {
        self.sender
    }

    fn now_ms(&self) -> Result<u64> {
        Ok(self.ledger.now_ms()?)
    }

    fn hparams(&self) -> Result<HparamsObject> {
        Ok(self.ledger.hparams()?)
    }

    fn latest_anchor(&self, window: u64) -> Result<AnchorRef> {
        Ok(self.ledger.anchor(window)?)
    }

    fn commitments(&self, window: u64) -> Result<Vec<(u64, Commitment)>> {
        Ok(self.ledger.commitments(window)?)
    }

    fn miners(&self) -> Result<Vec<u64>> {
        Ok(self
            .ledger
            .miners()?
            .into_iter()
            .map(|(uid, _)| uid)
            .collect())
    }

    fn enclave_key(&self) -> Result<Option<Vec<u8>>> {
        let now = self.ledger.now_ms()?;
        match self.ledger.current_key(&self.sender, now) {
            Ok(key) => Ok(Some(key)),
            Err(e) if e.move_abort().is_some() => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    fn window_signer(&self, window: u64) -> Result<Option<EnclaveRecord>> {
        let times = self
            .ledger
            .hparams()?
            .times(window)
            .ok_or(Error::NoSchedule { window })?;
        match self
            .ledger
            .signer_record(&self.sender, times.upload_deadline_ms)
        {
            Ok(record) => Ok(Some(record)),
            Err(e) if e.move_abort().is_some() => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    fn register_test_enclave(&mut self, public_key: &[u8], document: &DocumentRef) -> Result<()> {
        let now = self.ledger.now_ms()?;
        Ok(self
            .ledger
            .register_test_enclave(self.sender, public_key, document, now)?)
    }

    fn register_attested_enclave(
        &mut self,
        _document: &[u8],
        _blob: Option<vram_host::walrus::BlobId>,
    ) -> Result<()> {
        Err(Error::Chain {
            reason: "the local ledger registers simulated enclaves only (test mode); use Sui for attested ones".into(),
        })
    }

    fn prepare_submission(&self, args: &SubmitArgs) -> Result<PreparedSubmission> {
        let bytes = bcs::to_bytes(args).map_err(|e| Error::Chain {
            reason: format!("encoding submit_scores: {e}"),
        })?;
        Ok(PreparedSubmission {
            digest: format!("local:{}", hex::encode(vram_attestation::sha256(&bytes))),
            bytes,
        })
    }

    fn send(&mut self, submission: &PreparedSubmission) -> Result<()> {
        let args: SubmitArgs = bcs::from_bytes(&submission.bytes).map_err(|e| Error::Chain {
            reason: format!("decoding a journaled submission: {e}"),
        })?;
        let now = self.ledger.now_ms()?;
        match self.ledger.submit_scores(self.sender, &args, now) {
            Ok(_) => Ok(()),
            Err(e) if EAlreadySubmitted.is(&e) => {
                // Executed before: fine if it is this very transaction.
                match self.ledger.submission(args.window, &self.sender)? {
                    Some(stored) if stored.signature == args.signature => Ok(()),
                    _ => Err(e.into()),
                }
            }
            Err(e) => Err(e.into()),
        }
    }

    fn has_submitted(&self, window: u64) -> Result<bool> {
        Ok(self.ledger.submission(window, &self.sender)?.is_some())
    }

    fn budget(&self, window: u64) -> Result<u64> {
        Ok(self.ledger.validator_budget(&self.sender, window)?)
    }

    fn set_budget(&mut self, budget: u64) -> Result<()> {
        let now = self.ledger.now_ms()?;
        Ok(self.ledger.set_validator_budget(self.sender, budget, now)?)
    }

    fn submission(&self, window: u64) -> Result<Option<(Vec<u8>, Vec<u8>)>> {
        Ok(self
            .ledger
            .submission(window, &self.sender)?
            .map(|s| (s.statement, s.signature)))
    }
}
