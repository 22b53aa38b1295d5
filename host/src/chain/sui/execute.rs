//! Writes: gas coin selection at the reference gas price, signing with the
//! wallet, execution, and Move aborts mapped to the package's names.

use serde::{Deserialize, Serialize};
use sui_rpc::field::{FieldMask, FieldMaskUtil};
use sui_rpc::proto::sui::rpc::v2 as proto;
use sui_sdk_types::{Address, Digest};

use crate::chain::aborts;
use crate::chain::sui_tx::{self, Gas, OwnedObject};
use crate::chain::PreparedSubmission;
use crate::error::Result;

use super::{chain_err, SuiChain, COIN_TYPE};

/// A signed transaction as journaled: the bytes are exactly what is sent.
#[derive(Serialize, Deserialize)]
struct SignedTx {
    tx_bcs: Vec<u8>,
    signature: String,
}

impl SuiChain {
    pub(super) fn gas(&self) -> Result<Gas> {
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
        let owner = Address::new(self.address).to_string();
        let coins = self.coins()?;
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
            sender: self.address,
            coins: vec![OwnedObject {
                id: id.into_inner(),
                version: coin.version.unwrap_or(0),
                digest: digest.into_inner(),
            }],
            price,
            budget,
        })
    }

    pub(super) fn sign(&self, tx: &sui_sdk_types::Transaction) -> Result<PreparedSubmission> {
        let signed = SignedTx {
            tx_bcs: sui_tx::to_bytes(tx)?,
            signature: self.signer()?.sign_transaction(tx)?,
        };
        Ok(PreparedSubmission {
            digest: sui_tx::digest(tx),
            bytes: bcs::to_bytes(&signed).map_err(|e| chain_err(e.to_string()))?,
        })
    }

    pub(super) fn execute(&self, prepared: &PreparedSubmission) -> Result<()> {
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

impl SuiChain {
    /// The validator's SUI coins (first page of 100), with their balances.
    pub(super) fn coins(&self) -> Result<Vec<proto::Object>> {
        let owner = Address::new(self.address).to_string();
        Ok(self
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
            .unwrap_or_default())
    }
}
