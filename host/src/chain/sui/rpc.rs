//! Reads: one gRPC call tried on each endpoint in turn under deadlines and
//! backoff, Move objects as BCS into their Rust twins, dynamic-field table
//! entries, the package's type tags.

use std::future::Future;

use serde::de::DeserializeOwned;
use serde::Serialize;
use sui_rpc::field::{FieldMask, FieldMaskUtil};
use sui_rpc::proto::sui::rpc::v2 as proto;
use sui_sdk_types::{Address, Digest, StructTag, TypeTag};

use crate::chain::types::FieldObject;
use crate::error::Result;

use super::{chain_err, ObjectRead, SuiChain};

impl SuiChain {
    /// Runs `call` against each endpoint in turn until one answers.
    /// `NotFound` is an answer (`Ok(None)`), not a failure.
    pub(super) fn call<T, F, Fut>(&self, what: &str, call: F) -> Result<Option<T>>
    where
        F: Fn(sui_rpc::Client) -> Fut,
        Fut: Future<Output = std::result::Result<T, tonic::Status>>,
    {
        let mut failures: Vec<String> = Vec::new();
        let rounds = self.settings.rounds.max(1);
        for round in 0..rounds {
            if round > 0 {
                let pause = self.settings.backoff * (1 << (round - 1).min(8));
                // Say so while retrying, instead of going quiet for seconds.
                tracing::warn!(
                    call = what,
                    round = round + 1,
                    rounds,
                    ?pause,
                    last = failures.last().map_or("", String::as_str),
                    "Sui RPC failed; retrying"
                );
                std::thread::sleep(pause);
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
        // One line per distinct failure, with how often it happened.
        let mut distinct: Vec<(String, usize)> = Vec::new();
        for f in failures {
            match distinct.iter_mut().find(|(d, _)| *d == f) {
                Some((_, n)) => *n += 1,
                None => distinct.push((f, 1)),
            }
        }
        let summary: Vec<String> = distinct
            .into_iter()
            .map(|(f, n)| if n > 1 { format!("{f} (x{n})") } else { f })
            .collect();
        Err(chain_err(format!(
            "{what} failed after {rounds} round(s) over {} endpoint(s): {}",
            self.clients.len(),
            summary.join("; ")
        )))
    }

    /// An object's Move contents, version and digest; `None` if it does not exist.
    pub(super) fn object(&self, id: &[u8; 32]) -> Result<Option<ObjectRead>> {
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

    pub(super) fn decode<T: DeserializeOwned>(&self, id: &[u8; 32], what: &str) -> Result<T> {
        let (bytes, _, _) = self
            .object(id)?
            .ok_or_else(|| chain_err(format!("{what} object 0x{} not found", hex::encode(id))))?;
        bcs::from_bytes(&bytes)
            .map_err(|e| chain_err(format!("{what} object does not decode: {e}")))
    }

    /// A table entry (dynamic field) of `table`, if present.
    pub(super) fn field<K, V>(
        &self,
        table: &[u8; 32],
        key_type: &TypeTag,
        key: &K,
    ) -> Result<Option<V>>
    where
        K: Serialize + DeserializeOwned,
        V: DeserializeOwned,
    {
        self.field_as_of(table, key_type, key, None)
    }

    /// [`field`](Self::field); with `after_ms`, as a node whose latest
    /// checkpoint is at or past it holds the entry (see `object_after`).
    pub(super) fn field_as_of<K, V>(
        &self,
        table: &[u8; 32],
        key_type: &TypeTag,
        key: &K,
        after_ms: Option<u64>,
    ) -> Result<Option<V>>
    where
        K: Serialize + DeserializeOwned,
        V: DeserializeOwned,
    {
        let key_bytes = bcs::to_bytes(key).map_err(|e| chain_err(e.to_string()))?;
        let id = Address::new(*table)
            .derive_dynamic_child_id(key_type, &key_bytes)
            .into_inner();
        let bytes = match after_ms {
            None => self.object(&id)?.map(|(bytes, _, _)| bytes),
            Some(after_ms) => self.object_after(&id, after_ms)?,
        };
        let Some(bytes) = bytes else {
            return Ok(None);
        };
        let field: FieldObject<K, V> = bcs::from_bytes(&bytes)
            .map_err(|e| chain_err(format!("table entry does not decode: {e}")))?;
        Ok(Some(field.value))
    }

    /// The object `id`'s contents as a node whose latest checkpoint is at or
    /// past `after_ms` holds it, the node's clock and the object read in one
    /// call to it: a node that is behind is skipped like one that is down.
    /// `None` if the object does not exist there.
    fn object_after(&self, id: &[u8; 32], after_ms: u64) -> Result<Option<Vec<u8>>> {
        let object_id = Address::new(*id).to_string();
        let read = self.call("clock and object from one node", |mut c| {
            let object_id = object_id.clone();
            async move {
                let info = c
                    .ledger_client()
                    .get_service_info(proto::GetServiceInfoRequest::default())
                    .await?
                    .into_inner();
                let now = info.timestamp.map_or(0, |ts| unix_ms(ts.seconds, ts.nanos));
                if now < after_ms {
                    return Err(tonic::Status::unavailable(format!(
                        "the node's latest checkpoint is at {now}, before {after_ms}"
                    )));
                }
                let mut req = proto::GetObjectRequest::default();
                req.object_id = Some(object_id);
                req.read_mask = Some(FieldMask::from_paths(["object_id", "contents"]));
                match c.ledger_client().get_object(req).await {
                    Ok(r) => Ok(Some(r.into_inner())),
                    Err(status) if status.code() == tonic::Code::NotFound => Ok(None),
                    Err(status) => Err(status),
                }
            }
        })?;
        let Some(object) = read.flatten().and_then(|r| r.object) else {
            return Ok(None);
        };
        let contents = object
            .contents
            .and_then(|b| b.value)
            .ok_or_else(|| chain_err(format!("object {object_id} came without contents")))?;
        Ok(Some(contents.to_vec()))
    }

    pub(super) fn package_type(&self, module: &str, name: &str) -> Result<TypeTag> {
        let tag: StructTag = format!(
            "0x{}::{module}::{name}",
            hex::encode(self.deployment.package)
        )
        .parse()
        .map_err(|e| chain_err(format!("type tag: {e}")))?;
        Ok(TypeTag::Struct(Box::new(tag)))
    }
}

/// A protobuf timestamp (a node's latest checkpoint) as Unix ms.
pub(super) fn unix_ms(seconds: i64, nanos: i32) -> u64 {
    u64::try_from(seconds).unwrap_or(0) * 1000 + u64::try_from(nanos).unwrap_or(0) / 1_000_000
}
