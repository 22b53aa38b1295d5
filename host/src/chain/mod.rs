//! The chain side of the host: what the window loop needs from the network
//! (`Chain`), the Rust twins of the Move package's structs (`types`, BCS
//! layouts checked field by field in `tests/contract_layouts.rs`, table in
//! `docs/contracts.md`) and the package's abort codes (`aborts`). The local
//! implementation on the embedded ledger lives in `vram-localnet`.

pub mod aborts;
pub mod sui;
pub mod sui_tx;
pub mod types;

use crate::error::Result;
use types::{AnchorRef, Commitment, DocumentRef, EnclaveRecord, HparamsObject, SubmitArgs};

/// Wall-clock Unix time in milliseconds (0 before 1970, which cannot happen
/// on a configured host).
pub fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Sleeps until the chain clock reaches `at_ms`, polling at most `poll`
/// apart, or until `stop` is set. Returns whether the time was reached.
pub fn wait_until<C: Chain + ?Sized>(
    chain: &C,
    at_ms: u64,
    poll: std::time::Duration,
    stop: &std::sync::atomic::AtomicBool,
) -> Result<bool> {
    loop {
        if stop.load(std::sync::atomic::Ordering::SeqCst) {
            return Ok(false);
        }
        let now = chain.now_ms()?;
        if now >= at_ms {
            return Ok(true);
        }
        let left = std::time::Duration::from_millis(at_ms - now);
        std::thread::sleep(left.min(poll));
    }
}

/// A submission prepared for sending: its bytes are journaled before the
/// first send, and after a restart only these bytes are re-sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreparedSubmission {
    /// The transaction digest (what confirms it).
    pub digest: String,
    /// The signed transaction bytes.
    pub bytes: Vec<u8>,
}

/// What the window loop reads from and sends to the network. Implemented on
/// Sui (production, test mode) and on the embedded ledger (local mode).
pub trait Chain: Send {
    /// A label for logs ("local ledger", "sui testnet").
    fn name(&self) -> String;
    /// The account that submits (the statement's `validator`).
    fn validator(&self) -> [u8; 32];
    /// Chain time, milliseconds.
    fn now_ms(&self) -> Result<u64>;
    /// The Hparams object.
    fn hparams(&self) -> Result<HparamsObject>;
    /// The latest checkpoint anchor at or before `window`.
    fn latest_anchor(&self, window: u64) -> Result<AnchorRef>;
    /// The gradient commitments of `window`, ascending uid.
    fn commitments(&self, window: u64) -> Result<Vec<(u64, Commitment)>>;
    /// The commitments of `window` as a node whose clock (on Sui: its latest
    /// checkpoint) is at or past `after_ms` holds them, the clock and the
    /// list read from the same node: the final list once `after_ms` is the
    /// end of the reveal phase (design §3). Refused while no node is there.
    /// The default is for a chain that is one node (the local ledger).
    fn commitments_after(&self, window: u64, after_ms: u64) -> Result<Vec<(u64, Commitment)>> {
        let now = self.now_ms()?;
        if now < after_ms {
            return Err(crate::error::Error::Chain {
                reason: format!("the chain's clock reads {now}, before {after_ms}"),
            });
        }
        self.commitments(window)
    }
    /// Registered miner uids, ascending.
    fn miners(&self) -> Result<Vec<u64>>;
    /// This validator's latest key, if it can sign for the windows whose
    /// upload deadline is still ahead.
    fn enclave_key(&self) -> Result<Option<Vec<u8>>>;
    /// The only registration whose key may sign for `window`: the one made
    /// before its upload deadline (design §2), if it still counts.
    fn window_signer(&self, window: u64) -> Result<Option<EnclaveRecord>>;
    /// Registers a simulated enclave's key (test-mode path), naming its
    /// document.
    fn register_test_enclave(&mut self, public_key: &[u8], document: &DocumentRef) -> Result<()>;
    /// Registers the key an AWS attestation document binds (production path:
    /// the chain verifies the document itself); `blob` is where the
    /// document's bytes are stored on Walrus.
    fn register_attested_enclave(
        &mut self,
        document: &[u8],
        blob: Option<crate::walrus::BlobId>,
    ) -> Result<()>;
    /// Builds and signs the `submit_scores` transaction.
    fn prepare_submission(&self, args: &SubmitArgs) -> Result<PreparedSubmission>;
    /// Sends prepared bytes; sending the same bytes twice executes them once.
    fn send(&mut self, submission: &PreparedSubmission) -> Result<()>;
    /// Whether the chain holds this validator's submission for `window`.
    fn has_submitted(&self, window: u64) -> Result<bool>;
    /// This validator's accepted statement for `window`: (BCS, signature).
    fn submission(&self, window: u64) -> Result<Option<(Vec<u8>, Vec<u8>)>>;
    /// The validator's SUI balance in MIST, where the chain has gas.
    fn gas_balance(&self) -> Result<Option<u64>> {
        Ok(None)
    }
    /// `validator_registry::budget_for_window`: how many miners this
    /// validator's statement for `window` scores when that many are valid
    /// (its declared `K_v`, capped at `max_scored`).
    fn budget(&self, window: u64) -> Result<u64>;
    /// `validator_registry::set_budget`: declares `K_v` from the next window.
    fn set_budget(&mut self, budget: u64) -> Result<()>;
}

/// A chain chosen at run time (`chain.kind` in the configuration).
impl Chain for Box<dyn Chain> {
    fn name(&self) -> String {
        (**self).name()
    }
    fn validator(&self) -> [u8; 32] {
        (**self).validator()
    }
    fn now_ms(&self) -> Result<u64> {
        (**self).now_ms()
    }
    fn hparams(&self) -> Result<HparamsObject> {
        (**self).hparams()
    }
    fn latest_anchor(&self, window: u64) -> Result<AnchorRef> {
        (**self).latest_anchor(window)
    }
    fn commitments(&self, window: u64) -> Result<Vec<(u64, Commitment)>> {
        (**self).commitments(window)
    }
    fn commitments_after(&self, window: u64, after_ms: u64) -> Result<Vec<(u64, Commitment)>> {
        (**self).commitments_after(window, after_ms)
    }
    fn miners(&self) -> Result<Vec<u64>> {
        (**self).miners()
    }
    fn enclave_key(&self) -> Result<Option<Vec<u8>>> {
        (**self).enclave_key()
    }
    fn window_signer(&self, window: u64) -> Result<Option<EnclaveRecord>> {
        (**self).window_signer(window)
    }
    fn register_test_enclave(&mut self, public_key: &[u8], document: &DocumentRef) -> Result<()> {
        (**self).register_test_enclave(public_key, document)
    }
    fn register_attested_enclave(
        &mut self,
        document: &[u8],
        blob: Option<crate::walrus::BlobId>,
    ) -> Result<()> {
        (**self).register_attested_enclave(document, blob)
    }
    fn prepare_submission(&self, args: &SubmitArgs) -> Result<PreparedSubmission> {
        (**self).prepare_submission(args)
    }
    fn send(&mut self, submission: &PreparedSubmission) -> Result<()> {
        (**self).send(submission)
    }
    fn has_submitted(&self, window: u64) -> Result<bool> {
        (**self).has_submitted(window)
    }
    fn submission(&self, window: u64) -> Result<Option<(Vec<u8>, Vec<u8>)>> {
        (**self).submission(window)
    }
    fn gas_balance(&self) -> Result<Option<u64>> {
        (**self).gas_balance()
    }
    fn budget(&self, window: u64) -> Result<u64> {
        (**self).budget(window)
    }
    fn set_budget(&mut self, budget: u64) -> Result<()> {
        (**self).set_budget(budget)
    }
}
