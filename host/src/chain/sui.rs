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

use std::future::Future;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sui_rpc::field::{FieldMask, FieldMaskUtil};
use sui_rpc::proto::sui::rpc::v2 as proto;
use sui_sdk_types::{Address, Digest, StructTag, TypeTag};

use crate::chain::sui_tx::{self, Deployment, Gas, OwnedObject};
use crate::chain::types::{
    Commitment, CommitmentKey, EnclaveConfigObject, EnclaveRecord, FieldObject,
    GradientRegistryObject, HparamsObject, PeerRecord, PeerRegistryObject, RoundStateObject,
    ScoreLedgerObject, SubmissionKey, SubmissionRecord, SubmitArgs,
};
use crate::chain::{Chain, PreparedSubmission};
use crate::error::{Error, Result};
use crate::ledger::aborts;
use crate::wallet::Wallet;

fn chain_err(reason: impl Into<String>) -> Error {
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
    wallet: Wallet,
    settings: SuiSettings,
}

/// A signed transaction as journaled: the bytes are exactly what is sent.
#[derive(Serialize, Deserialize)]
struct SignedTx {
    tx_bcs: Vec<u8>,
    signature: String,
}

/// An object as read: Move contents (BCS), version, digest.
type ObjectRead = (Vec<u8>, u64, [u8; 32]);

const COIN_TYPE: &str = "0x2::coin::Coin<0x2::sui::SUI>";

impl SuiChain {
    /// Connects (lazily) to the endpoints.
    pub fn new(settings: SuiSettings, deployment: Deployment, wallet: Wallet) -> Result<Self> {
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
            wallet,
            settings,
        })
    }

    /// Runs `call` against each endpoint in turn until one answers.
    /// `NotFound` is an answer (`Ok(None)`), not a failure.
    fn call<T, F, Fut>(&self, what: &str, call: F) -> Result<Option<T>>
    where
        F: Fn(sui_rpc::Client) -> Fut,
        Fut: Future<Output = std::result::Result<T, tonic::Status>>,
    {
        let mut failures = Vec::new();
        for round in 0..self.settings.rounds.max(1) {
            if round > 0 {
                std::thread::sleep(self.settings.backoff * (1 << (round - 1).min(8)));
            }
            for (url, client) in &self.clients {
                let attempt = self.rt.block_on(async {
                    tokio::time::timeout(self.settings.timeout, call(client.clone())).await
                });
                match attempt {
                    Ok(Ok(v)) => return Ok(Some(v)),
                    Ok(Err(status)) if status.code() == tonic::Code::NotFound => return Ok(None),
                    Ok(Err(status)) => {
                        failures.push(format!("{url}: {} {}", status.code(), status.message()))
                    }
                    Err(_) => failures.push(format!(
                        "{url}: no answer within {:?}",
                        self.settings.timeout
                    )),
                }
            }
        }
        Err(chain_err(format!("{what} failed: {}", failures.join("; "))))
    }

    /// An object's Move contents, version and digest; `None` if it does not exist.
    fn object(&self, id: &[u8; 32]) -> Result<Option<ObjectRead>> {
        let object_id = Address::new(*id).to_string();
        let response = self.call("get_object", |mut c| {
            let mut req = proto::GetObjectRequest::default();
            req.object_id = Some(object_id.clone());
            req.read_mask = Some(FieldMask::from_paths([
                "object_id",
                "version",
                "digest",
                "contents",
            ]));
            async move {
                c.ledger_client()
                    .get_object(req)
                    .await
                    .map(|r| r.into_inner())
            }
        })?;
        let Some(object) = response.and_then(|r| r.object) else {
            return Ok(None);
        };
        let contents = object
            .contents
            .and_then(|b| b.value)
            .ok_or_else(|| chain_err(format!("object {object_id} came without contents")))?;
        let digest = object
            .digest
            .as_deref()
            .map(|d| d.parse::<Digest>())
            .transpose()
            .map_err(|e| chain_err(format!("object {object_id} digest: {e}")))?
            .map(|d| d.into_inner())
            .unwrap_or([0; 32]);
        Ok(Some((
            contents.to_vec(),
            object.version.unwrap_or(0),
            digest,
        )))
    }

    fn decode<T: DeserializeOwned>(&self, id: &[u8; 32], what: &str) -> Result<T> {
        let (bytes, _, _) = self
            .object(id)?
            .ok_or_else(|| chain_err(format!("{what} object 0x{} not found", hex::encode(id))))?;
        bcs::from_bytes(&bytes)
            .map_err(|e| chain_err(format!("{what} object does not decode: {e}")))
    }

    /// A table entry (dynamic field) of `table`, if present.
    fn field<K, V>(&self, table: &[u8; 32], key_type: &TypeTag, key: &K) -> Result<Option<V>>
    where
        K: Serialize + DeserializeOwned,
        V: DeserializeOwned,
    {
        let key_bytes = bcs::to_bytes(key).map_err(|e| chain_err(e.to_string()))?;
        let id = Address::new(*table)
            .derive_dynamic_child_id(key_type, &key_bytes)
            .into_inner();
        let Some((bytes, _, _)) = self.object(&id)? else {
            return Ok(None);
        };
        let field: FieldObject<K, V> = bcs::from_bytes(&bytes)
            .map_err(|e| chain_err(format!("table entry does not decode: {e}")))?;
        Ok(Some(field.value))
    }

    fn package_type(&self, module: &str, name: &str) -> Result<TypeTag> {
        let tag: StructTag = format!(
            "0x{}::{module}::{name}",
            hex::encode(self.deployment.package)
        )
        .parse()
        .map_err(|e| chain_err(format!("type tag: {e}")))?;
        Ok(TypeTag::Struct(Box::new(tag)))
    }

    fn gas(&self) -> Result<Gas> {
        let price = self
            .call("get_epoch", |mut c| {
                let mut req = proto::GetEpochRequest::default();
                req.read_mask = Some(FieldMask::from_paths(["reference_gas_price"]));
                async move {
                    c.ledger_client()
                        .get_epoch(req)
                        .await
                        .map(|r| r.into_inner())
                }
            })?
            .and_then(|r| r.epoch)
            .and_then(|e| e.reference_gas_price)
            .ok_or_else(|| chain_err("no reference gas price"))?;
        let owner = Address::new(self.wallet.address()).to_string();
        let coins = self
            .call("list_owned_objects", |mut c| {
                let mut req = proto::ListOwnedObjectsRequest::default();
                req.owner = Some(owner.clone());
                req.object_type = Some(COIN_TYPE.into());
                req.page_size = Some(100);
                req.read_mask = Some(FieldMask::from_paths([
                    "object_id",
                    "version",
                    "digest",
                    "balance",
                ]));
                async move {
                    c.state_client()
                        .list_owned_objects(req)
                        .await
                        .map(|r| r.into_inner())
                }
            })?
            .map(|r| r.objects)
            .unwrap_or_default();
        let budget = self.settings.gas_budget;
        let coin = coins
            .iter()
            .filter(|o| o.balance.unwrap_or(0) >= budget)
            .max_by_key(|o| o.balance.unwrap_or(0))
            .ok_or_else(|| {
                chain_err(format!(
                    "no SUI coin of {owner} holds the gas budget of {budget} MIST"
                ))
            })?;
        let id = coin
            .object_id
            .as_deref()
            .unwrap_or_default()
            .parse::<Address>()
            .map_err(|e| chain_err(format!("gas coin id: {e}")))?;
        let digest = coin
            .digest
            .as_deref()
            .unwrap_or_default()
            .parse::<Digest>()
            .map_err(|e| chain_err(format!("gas coin digest: {e}")))?;
        Ok(Gas {
            sender: self.wallet.address(),
            coins: vec![OwnedObject {
                id: id.into_inner(),
                version: coin.version.unwrap_or(0),
                digest: digest.into_inner(),
            }],
            price,
            budget,
        })
    }

    fn sign(&self, tx: &sui_sdk_types::Transaction) -> Result<PreparedSubmission> {
        let signed = SignedTx {
            tx_bcs: sui_tx::to_bytes(tx)?,
            signature: self.wallet.sign_transaction(tx)?,
        };
        Ok(PreparedSubmission {
            digest: sui_tx::digest(tx),
            bytes: bcs::to_bytes(&signed).map_err(|e| chain_err(e.to_string()))?,
        })
    }

    fn execute(&self, prepared: &PreparedSubmission) -> Result<()> {
        let signed: SignedTx = bcs::from_bytes(&prepared.bytes)
            .map_err(|e| chain_err(format!("journaled transaction: {e}")))?;
        use base64::Engine as _;
        let signature = base64::engine::general_purpose::STANDARD
            .decode(&signed.signature)
            .map_err(|e| chain_err(format!("signature: {e}")))?;
        let response = self
            .call("execute_transaction", |mut c| {
                let mut bcs = proto::Bcs::default();
                bcs.name = Some("TransactionData".into());
                bcs.value = Some(signed.tx_bcs.clone().into());
                let mut tx = proto::Transaction::default();
                tx.bcs = Some(bcs);
                let mut sig_bcs = proto::Bcs::default();
                sig_bcs.name = Some("UserSignatureBytes".into());
                sig_bcs.value = Some(signature.clone().into());
                let mut sig = proto::UserSignature::default();
                sig.bcs = Some(sig_bcs);
                let mut req = proto::ExecuteTransactionRequest::default();
                req.transaction = Some(tx);
                req.signatures = vec![sig];
                req.read_mask = Some(FieldMask::from_paths(["effects.status", "digest"]));
                async move {
                    c.execution_client()
                        .execute_transaction(req)
                        .await
                        .map(|r| r.into_inner())
                }
            })?
            .ok_or_else(|| chain_err("execute_transaction: not found"))?;
        let status = response
            .transaction
            .and_then(|t| t.effects)
            .and_then(|e| e.status)
            .ok_or_else(|| chain_err("execution returned no status"))?;
        if status.success == Some(true) {
            return Ok(());
        }
        let error = status.error.unwrap_or_default();
        if let Some(proto::execution_error::ErrorDetails::Abort(abort)) = &error.error_details {
            let module = abort
                .location
                .as_ref()
                .and_then(|l| l.module.clone())
                .unwrap_or_default();
            let code = abort.abort_code.unwrap_or(u64::MAX);
            if let Some(known) = aborts::lookup(&module, code) {
                return Err(known.err(error.description.unwrap_or_default()));
            }
            return Err(chain_err(format!("Move abort {module}::{code}")));
        }
        Err(chain_err(format!(
            "execution failed: {}",
            error.description.unwrap_or_else(|| "no description".into())
        )))
    }
}

impl Chain for SuiChain {
    fn name(&self) -> String {
        format!("sui ({})", self.settings.endpoints.join(", "))
    }

    fn validator(&self) -> [u8; 32] {
        self.wallet.address()
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
        Ok(u64::try_from(ts.seconds).unwrap_or(0) * 1000
            + u64::try_from(ts.nanos).unwrap_or(0) / 1_000_000)
    }

    fn hparams(&self) -> Result<HparamsObject> {
        self.decode(&self.deployment.hparams.id, "Hparams")
    }

    fn latest_anchor(&self, window: u64) -> Result<(u64, [u8; 32])> {
        let rounds: RoundStateObject = self.decode(&self.deployment.rounds.id, "RoundState")?;
        let anchored = rounds
            .windows
            .iter()
            .copied()
            .filter(|w| *w <= window)
            .max()
            .ok_or_else(|| aborts::round_state::ENoAnchor.err(format!("window {window}")))?;
        let hash: Vec<u8> = self
            .field(&rounds.anchors.id, &TypeTag::U64, &anchored)?
            .ok_or_else(|| chain_err(format!("anchor {anchored} listed but not found")))?;
        let hash: [u8; 32] = hash
            .as_slice()
            .try_into()
            .map_err(|_| chain_err("anchor is not 32 bytes"))?;
        Ok((anchored, hash))
    }

    fn commitments(&self, window: u64) -> Result<Vec<(u64, Commitment)>> {
        let reg: GradientRegistryObject =
            self.decode(&self.deployment.gradients.id, "GradientRegistry")?;
        let uids: Vec<u64> = self
            .field(&reg.by_window.id, &TypeTag::U64, &window)?
            .unwrap_or_default();
        let key_type = self.package_type("gradient_registry", "CommitmentKey")?;
        let mut out = Vec::with_capacity(uids.len());
        for uid in uids {
            let key = CommitmentKey {
                window,
                miner_uid: uid,
            };
            let c: Commitment = self
                .field(&reg.commitments.id, &key_type, &key)?
                .ok_or_else(|| {
                    chain_err(format!("commitment of miner {uid} listed but not found"))
                })?;
            out.push((uid, c));
        }
        out.sort_by_key(|(uid, _)| *uid);
        Ok(out)
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
        let config: EnclaveConfigObject =
            self.decode(&self.deployment.enclave_config.id, "EnclaveConfig")?;
        let record: Option<EnclaveRecord> = self.field(
            &config.enclaves.id,
            &TypeTag::Address,
            &self.wallet.address(),
        )?;
        Ok(record
            .filter(|r| r.config_version == config.version)
            .map(|r| r.public_key))
    }

    fn register_test_enclave(&mut self, public_key: &[u8]) -> Result<()> {
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
        let tx = sui_tx::register_test_enclave(&self.deployment, &self.gas()?, cap, public_key)?;
        let prepared = self.sign(&tx)?;
        self.execute(&prepared)
    }

    fn register_attested_enclave(&mut self, document: &[u8]) -> Result<()> {
        let tx = sui_tx::register_enclave(&self.deployment, &self.gas()?, document)?;
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
                validator: self.wallet.address(),
                checkpoint_hash: record.checkpoint_hash,
                dataset_root: values.dataset_root.clone(),
                eval_params_hash: vram_attestation::sha256(
                    &bcs::to_bytes(&values.eval_params()).map_err(|e| chain_err(e.to_string()))?,
                )
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
    fn submission_record(&self, window: u64) -> Result<Option<SubmissionRecord>> {
        let ledger: ScoreLedgerObject = self.decode(&self.deployment.ledger.id, "ScoreLedger")?;
        let key = SubmissionKey {
            window,
            validator: self.wallet.address(),
        };
        self.field(
            &ledger.submissions.id,
            &self.package_type("score_ledger", "SubmissionKey")?,
            &key,
        )
    }
}
