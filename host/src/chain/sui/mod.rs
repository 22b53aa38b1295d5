//! `Chain` on Sui, over the `sui.rpc.v2` gRPC services (the `sui-rpc`
//! crate's client): Move objects are read as BCS `contents` and decoded into
//! their Rust twins (`types`); table entries are dynamic fields, whose ids are
//! derived from the table's UID and the key; transactions are built offline
//! (`sui_tx`), signed with the wallet and executed.
//!
//! Every call goes to the endpoints in turn, each attempt under a deadline,
//! for several rounds with backoff: an endpoint that is unavailable, slow or
//! answers nonsense is skipped. A Move abort in one of the package's modules
//! comes back as [`Error::Abort`] with the constant's name.

use std::time::Duration;

use sui_rpc::proto::sui::rpc::v2 as proto;
use sui_sdk_types::TypeTag;

use crate::chain::aborts;
use crate::chain::sui_tx::{self, Deployment, OwnedObject};
use crate::chain::types::{
    Anchor, AnchorRef, Commitment, DocumentRef, EnclaveConfigObject, EnclaveRecord, Enclaves,
    GradientRegistryObject, HparamsObject, PeerRecord, PeerRegistryObject, RoundStateObject,
    ScoreLedgerObject, SubmissionKey, SubmissionRecord, SubmitArgs, ValidatorRecord,
    ValidatorRegistryObject,
};
use crate::chain::{Chain, PreparedSubmission};
use crate::error::{Error, Result};
use crate::wallet::Wallet;
use crate::walrus::BlobId;

mod execute;
mod rpc;

pub(super) fn chain_err(reason: impl Into<String>) -> Error {
    Error::Chain {
        reason: reason.into(),
    }
}

/// How to reach Sui.
#[derive(Debug, Clone)]
pub struct SuiSettings {
    /// gRPC endpoints, tried in turn.
    pub endpoints: Vec<String>,
    /// One attempt's deadline.
    pub timeout: Duration,
    /// Rounds over all endpoints.
    pub rounds: u32,
    /// Pause before the second round (doubles).
    pub backoff: Duration,
    /// Gas budget per transaction, MIST.
    pub gas_budget: u64,
    /// The TestModeCap the validator holds, for test-mode registration.
    pub test_cap: Option<[u8; 32]>,
}

/// The package on Sui, seen from the validator's account.
pub struct SuiChain {
    rt: tokio::runtime::Runtime,
    clients: Vec<(String, sui_rpc::Client)>,
    deployment: Deployment,
    /// The account read for (`validator`); the wallet, when there is one,
    /// is its key. Read-only commands (status, scores, audit) have none.
    address: [u8; 32],
    wallet: Option<Wallet>,
    settings: SuiSettings,
}

/// An object as read: Move contents (BCS), version, digest.
pub(super) type ObjectRead = (Vec<u8>, u64, [u8; 32]);

pub(super) const COIN_TYPE: &str = "0x2::coin::Coin<0x2::sui::SUI>";

impl SuiChain {
    /// Connects (lazily) to the endpoints, acting as the wallet's account.
    pub fn new(settings: SuiSettings, deployment: Deployment, wallet: Wallet) -> Result<Self> {
        let address = wallet.address();
        Self::connect(settings, deployment, address, Some(wallet))
    }

    /// Connects without a key, reading for `address`: every read works,
    /// and anything that signs says it needs the key.
    pub fn read_only(
        settings: SuiSettings,
        deployment: Deployment,
        address: [u8; 32],
    ) -> Result<Self> {
        Self::connect(settings, deployment, address, None)
    }

    pub(super) fn signer(&self) -> Result<&Wallet> {
        self.wallet.as_ref().ok_or_else(|| {
            chain_err(
                "this needs the validator's key (chain.keystore, VRAMHUB_PRIVATE_KEY or \
                 VRAMHUB_MNEMONIC); read-only commands run without it",
            )
        })
    }

    fn connect(
        settings: SuiSettings,
        deployment: Deployment,
        address: [u8; 32],
        wallet: Option<Wallet>,
    ) -> Result<Self> {
        if settings.endpoints.is_empty() {
            return Err(chain_err("no Sui RPC endpoint configured"));
        }
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| chain_err(format!("runtime: {e}")))?;
        let clients = settings
            .endpoints
            .iter()
            .map(|url| {
                let _guard = rt.enter();
                sui_rpc::Client::new(url.as_str())
                    .map(|c| (url.clone(), c))
                    .map_err(|e| chain_err(format!("{url}: {e}")))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            rt,
            clients,
            deployment,
            address,
            wallet,
            settings,
        })
    }
}

impl Chain for SuiChain {
    fn name(&self) -> String {
        format!("sui ({})", self.settings.endpoints.join(", "))
    }

    fn validator(&self) -> [u8; 32] {
        self.address
    }

    fn now_ms(&self) -> Result<u64> {
        let info = self
            .call("get_service_info", |mut c| async move {
                c.ledger_client()
                    .get_service_info(proto::GetServiceInfoRequest::default())
                    .await
                    .map(|r| r.into_inner())
            })?
            .ok_or_else(|| chain_err("service info: not found"))?;
        let ts = info
            .timestamp
            .ok_or_else(|| chain_err("service info has no timestamp"))?;
        Ok(rpc::unix_ms(ts.seconds, ts.nanos))
    }

    fn hparams(&self) -> Result<HparamsObject> {
        self.decode(&self.deployment.hparams.id, "Hparams")
    }

    fn latest_anchor(&self, window: u64) -> Result<AnchorRef> {
        let rounds: RoundStateObject = self.decode(&self.deployment.rounds.id, "RoundState")?;
        let anchored = rounds
            .windows
            .iter()
            .copied()
            .filter(|w| *w <= window)
            .max()
            .ok_or_else(|| aborts::round_state::ENoAnchor.err(format!("window {window}")))?;
        let anchor: Anchor = self
            .field(&rounds.anchors.id, &TypeTag::U64, &anchored)?
            .ok_or_else(|| chain_err(format!("anchor {anchored} listed but not found")))?;
        anchor.checked(anchored)
    }

    fn commitments(&self, window: u64) -> Result<Vec<(u64, Commitment)>> {
        self.window_commitments(window, None)
    }

    fn commitments_after(&self, window: u64, after_ms: u64) -> Result<Vec<(u64, Commitment)>> {
        self.window_commitments(window, Some(after_ms))
    }

    fn miners(&self) -> Result<Vec<u64>> {
        let reg: PeerRegistryObject = self.decode(&self.deployment.peers.id, "PeerRegistry")?;
        let mut out = Vec::new();
        for uid in 0..reg.next_uid.min(100_000) {
            let peer: Option<PeerRecord> = self.field(&reg.peers.id, &TypeTag::U64, &uid)?;
            if peer.is_some() {
                out.push(uid);
            }
        }
        Ok(out)
    }

    fn enclave_key(&self) -> Result<Option<Vec<u8>>> {
        let Some((config, enclaves)) = self.enclaves()? else {
            return Ok(None);
        };
        let now = self.now_ms()?;
        Ok(config
            .check_usable(&enclaves.latest, now)
            .ok()
            .map(|()| enclaves.latest.public_key))
    }

    fn window_signer(&self, window: u64) -> Result<Option<EnclaveRecord>> {
        let Some((config, enclaves)) = self.enclaves()? else {
            return Ok(None);
        };
        let times = self
            .hparams()?
            .times(window)
            .ok_or(Error::NoSchedule { window })?;
        Ok(config
            .signer_for_window(&enclaves, times.upload_deadline_ms)
            .ok()
            .cloned())
    }

    fn register_test_enclave(&mut self, public_key: &[u8], document: &DocumentRef) -> Result<()> {
        let cap_id = self.settings.test_cap.ok_or_else(|| {
            chain_err("test-mode registration needs the TestModeCap (chain.test_cap)")
        })?;
        let (_, version, digest) = self
            .object(&cap_id)?
            .ok_or_else(|| chain_err("the TestModeCap object is not found"))?;
        let cap = OwnedObject {
            id: cap_id,
            version,
            digest,
        };
        let tx = sui_tx::register_test_enclave(
            &self.deployment,
            &self.gas()?,
            cap,
            public_key,
            document,
        )?;
        let prepared = self.sign(&tx)?;
        self.execute(&prepared)
    }

    fn register_attested_enclave(&mut self, document: &[u8], blob: Option<BlobId>) -> Result<()> {
        let tx = sui_tx::register_enclave(&self.deployment, &self.gas()?, document, blob)?;
        let prepared = self.sign(&tx)?;
        self.execute(&prepared)
    }

    fn prepare_submission(&self, args: &SubmitArgs) -> Result<PreparedSubmission> {
        let tx = sui_tx::submit_scores(&self.deployment, &self.gas()?, args)?;
        self.sign(&tx)
    }

    fn send(&mut self, submission: &PreparedSubmission) -> Result<()> {
        self.execute(submission)
    }

    fn has_submitted(&self, window: u64) -> Result<bool> {
        Ok(self.submission_record(window)?.is_some())
    }

    fn gas_balance(&self) -> Result<Option<u64>> {
        Ok(Some(
            self.coins()?
                .iter()
                .map(|o| o.balance.unwrap_or(0))
                .fold(0u64, u64::saturating_add),
        ))
    }

    fn budget(&self, window: u64) -> Result<u64> {
        let max_scored = self
            .hparams()?
            .values(window)
            .ok_or(Error::NoSchedule { window })?
            .max_scored;
        let reg: ValidatorRegistryObject =
            self.decode(&self.deployment.validators.id, "ValidatorRegistry")?;
        let record: ValidatorRecord = self
            .field(&reg.validators.id, &TypeTag::Address, &self.address)?
            .ok_or_else(|| {
                aborts::validator_registry::ENotValidator.err(format!(
                    "0x{} is not a validator",
                    hex::encode(self.address)
                ))
            })?;
        Ok(record.budget_for_window(window, max_scored))
    }

    fn set_budget(&mut self, budget: u64) -> Result<()> {
        let tx = sui_tx::set_budget(&self.deployment, &self.gas()?, budget)?;
        let prepared = self.sign(&tx)?;
        self.execute(&prepared)
    }

    fn submission(&self, window: u64) -> Result<Option<(Vec<u8>, Vec<u8>)>> {
        let Some(record) = self.submission_record(window)? else {
            return Ok(None);
        };
        let hp = self.hparams()?;
        let values = hp
            .segment_for_window(window)
            .map(|s| s.values.clone())
            .ok_or_else(|| chain_err(format!("no hparams for window {window}")))?;
        let message = vram_attestation::statement::IntentMessage {
            intent: vram_attestation::statement::INTENT_WINDOW_SCORES,
            timestamp_ms: record.timestamp_ms,
            payload: vram_attestation::statement::WindowScores {
                window,
                validator: self.address,
                checkpoint_hash: record.checkpoint_hash,
                dataset_root: values.dataset_root.clone(),
                eval_params_hash: hp
                    .eval_params_hash(window, record.budget)
                    .ok_or(Error::NoSchedule { window })?
                    .to_vec(),
                eval_seed: record.eval_seed,
                loss_before_random: record.loss_before_random,
                entries: record.entries,
            },
        };
        let bytes =
            vram_attestation::statement::to_bcs(&message).map_err(|e| chain_err(e.to_string()))?;
        Ok(Some((bytes, record.signature)))
    }
}

impl SuiChain {
    /// `window`'s commitments: one dynamic field holds the whole window,
    /// ascending uid, so one read whatever the number of miners; with
    /// `after_ms`, read with the clock of the node that serves it.
    fn window_commitments(
        &self,
        window: u64,
        after_ms: Option<u64>,
    ) -> Result<Vec<(u64, Commitment)>> {
        let reg: GradientRegistryObject =
            self.decode(&self.deployment.gradients.id, "GradientRegistry")?;
        let list: Vec<(u64, Commitment)> = self
            .field_as_of(&reg.by_window.id, &TypeTag::U64, &window, after_ms)?
            .unwrap_or_default();
        if list.windows(2).any(|w| w[0].0 >= w[1].0) {
            return Err(chain_err(format!(
                "window {window}'s commitments are not ascending by uid"
            )));
        }
        Ok(list)
    }

    /// The enclave configuration and this validator's registrations, if any.
    fn enclaves(&self) -> Result<Option<(EnclaveConfigObject, Enclaves)>> {
        let config: EnclaveConfigObject =
            self.decode(&self.deployment.enclave_config.id, "EnclaveConfig")?;
        let enclaves: Option<Enclaves> =
            self.field(&config.enclaves.id, &TypeTag::Address, &self.address)?;
        Ok(enclaves.map(|e| (config, e)))
    }

    fn submission_record(&self, window: u64) -> Result<Option<SubmissionRecord>> {
        let ledger: ScoreLedgerObject = self.decode(&self.deployment.ledger.id, "ScoreLedger")?;
        let key = SubmissionKey {
            window,
            validator: self.address,
        };
        self.field(
            &ledger.submissions.id,
            &self.package_type("score_ledger", "SubmissionKey")?,
            &key,
        )
    }
}
