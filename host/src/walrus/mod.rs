//! Walrus over its HTTP API: blobs fetched from several aggregators with
//! failover, retries (exponential backoff with jitter), a size cap and the
//! SHA-256 of the on-chain commitment checked before anything is returned;
//! uploads through a publisher. Content larger than one request travels as
//! shards under a manifest (`transport`).

pub mod transport;

use std::io::Read;
use std::time::Duration;

use base64::Engine as _;
use ring::rand::{SecureRandom, SystemRandom};

use crate::error::{Error, Result};

/// A Walrus blob id: 32 bytes, written in URL-safe base64 without padding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BlobId(pub [u8; 32]);

impl BlobId {
    /// A blob id from its 32 raw bytes (as the chain holds it).
    pub fn from_slice(bytes: &[u8]) -> Result<Self> {
        let id: [u8; 32] = bytes.try_into().map_err(|_| Error::Walrus {
            reason: format!("a blob id is 32 bytes, not {}", bytes.len()),
        })?;
        Ok(Self(id))
    }
}

impl std::str::FromStr for BlobId {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(s.trim_end_matches('='))
            .map_err(|e| Error::Walrus {
                reason: format!("blob id {s:?}: {e}"),
            })?;
        let id: [u8; 32] = bytes.try_into().map_err(|b: Vec<u8>| Error::Walrus {
            reason: format!("blob id {s:?} is {} bytes, not 32", b.len()),
        })?;
        Ok(Self(id))
    }
}

impl std::fmt::Display for BlobId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(self.0))
    }
}

/// Retry and timeout policy.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Rounds over all aggregators.
    pub rounds: u32,
    /// Pause before the second round, doubled each round, plus up to 50 %
    /// jitter.
    pub backoff: Duration,
    /// Bound on one request, connection to last byte.
    pub request_timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            rounds: 3,
            backoff: Duration::from_millis(500),
            request_timeout: Duration::from_secs(30),
        }
    }
}

/// A Walrus HTTP client (cheap to clone: the connection pool is shared).
#[derive(Clone)]
pub struct WalrusClient {
    aggregators: Vec<String>,
    publishers: Vec<String>,
    policy: RetryPolicy,
    agent: ureq::Agent,
    /// The largest body one request carries (public services: 10 MiB).
    max_request: u64,
}

/// Why one attempt failed. Every failure may be one aggregator's fault
/// (5xx, timeout, truncation, wrong or oversized bytes), so the next one is
/// always tried.
struct Attempt(String);

fn trim(url: &str) -> String {
    url.trim_end_matches('/').to_string()
}

impl WalrusClient {
    /// A client for the given aggregator and publisher base URLs.
    pub fn new(aggregators: &[String], publishers: &[String], policy: RetryPolicy) -> Result<Self> {
        if aggregators.is_empty() {
            return Err(Error::Config {
                reason: "at least one Walrus aggregator is needed".into(),
            });
        }
        let config = ureq::Agent::config_builder()
            .timeout_global(Some(policy.request_timeout))
            .http_status_as_error(false)
            .build();
        Ok(Self {
            aggregators: aggregators.iter().map(|u| trim(u)).collect(),
            publishers: publishers.iter().map(|u| trim(u)).collect(),
            policy,
            agent: ureq::Agent::new_with_config(config),
            max_request: transport::DEFAULT_MAX_REQUEST_BYTES,
        })
    }

    /// Sets the largest body one request carries (at least 4 KiB); larger
    /// content is sharded.
    pub fn with_max_request_bytes(mut self, bytes: u64) -> Self {
        self.max_request = bytes.max(4096);
        self
    }

    /// The largest body one request carries.
    pub fn max_request_bytes(&self) -> u64 {
        self.max_request
    }

    fn pause(&self, round: u32) {
        if round == 0 {
            return;
        }
        let base = self.policy.backoff.saturating_mul(1 << (round - 1).min(16));
        let mut r = [0u8; 2];
        let jitter = if SystemRandom::new().fill(&mut r).is_ok() {
            u16::from_le_bytes(r) as u32
        } else {
            0
        };
        std::thread::sleep(base + base.mul_f64(f64::from(jitter) / f64::from(u16::MAX) / 2.0));
    }

    /// Fetches blob `id`, which must hash to `sha256` and be at most
    /// `max_bytes` long. Tries every aggregator in turn, for several rounds.
    pub fn fetch(&self, id: &BlobId, sha256: &[u8; 32], max_bytes: u64) -> Result<Vec<u8>> {
        self.fetch_accepting(id, max_bytes, |body| {
            if vram_attestation::sha256(body) == *sha256 {
                Ok(())
            } else {
                Err(format!(
                    "{} bytes that do not match the commitment",
                    body.len()
                ))
            }
        })
    }

    /// Fetches content `sha256` of at most `max_bytes` by the id the chain
    /// holds beside it: the content itself, or a `vram-shards/1` manifest
    /// of it whose shards are then fetched (a few at a time), checked and
    /// reassembled. Returns the content only.
    pub fn fetch_content(&self, id: &BlobId, sha256: &[u8; 32], max_bytes: u64) -> Result<Vec<u8>> {
        let cap = self
            .max_request
            .min(max_bytes.max(transport::MAX_MANIFEST_BYTES));
        let max_shard = self.max_request;
        let mut shards = Vec::new();
        let first = self.fetch_accepting(id, cap, |body| {
            if vram_attestation::sha256(body) == *sha256 {
                return if body.len() as u64 <= max_bytes {
                    Ok(())
                } else {
                    Err(format!(
                        "{} bytes, above the cap of {max_bytes}",
                        body.len()
                    ))
                };
            }
            match transport::ShardManifest::parse(body, sha256, max_bytes, max_shard) {
                Ok(list) => {
                    shards = list;
                    Ok(())
                }
                Err(e) => Err(format!(
                    "neither the committed content nor its manifest ({e})"
                )),
            }
        })?;
        if shards.is_empty() {
            return Ok(first);
        }
        let pieces = self.fetch_shards(&shards)?;
        let mut content = Vec::with_capacity(shards.iter().map(|s| s.size as usize).sum());
        for piece in pieces {
            content.extend_from_slice(&piece);
        }
        if vram_attestation::sha256(&content) != *sha256 {
            return Err(Error::Walrus {
                reason: format!("blob {id}: the reassembled shards do not match the content hash"),
            });
        }
        Ok(content)
    }

    /// Fetches an index blob (at most `max_bytes`, JSON) that is checked by
    /// what it lists rather than by a hash of its own.
    pub fn fetch_index(&self, id: &BlobId, max_bytes: u64) -> Result<Vec<u8>> {
        self.fetch_accepting(id, max_bytes, |body| {
            serde_json::from_slice::<serde_json::Value>(body)
                .map(|_| ())
                .map_err(|e| format!("not a JSON index: {e}"))
        })
    }

    fn fetch_shards(&self, shards: &[transport::ShardRef]) -> Result<Vec<Vec<u8>>> {
        const IN_FLIGHT: usize = 4;
        let mut out: Vec<Option<Vec<u8>>> = vec![None; shards.len()];
        for (batch_no, batch) in shards.chunks(IN_FLIGHT).enumerate() {
            let results: Vec<Result<Vec<u8>>> = std::thread::scope(|scope| {
                let handles: Vec<_> = batch
                    .iter()
                    .map(|s| scope.spawn(move || self.fetch(&s.id, &s.sha256, s.size)))
                    .collect();
                handles
                    .into_iter()
                    .map(|h| {
                        h.join().unwrap_or_else(|_| {
                            Err(Error::Walrus {
                                reason: "a shard fetch panicked".into(),
                            })
                        })
                    })
                    .collect()
            });
            for (i, r) in results.into_iter().enumerate() {
                let bytes = r?;
                let shard = &shards[batch_no * IN_FLIGHT + i];
                if bytes.len() as u64 != shard.size {
                    return Err(Error::Walrus {
                        reason: format!("shard {} is not {} bytes", shard.id, shard.size),
                    });
                }
                out[batch_no * IN_FLIGHT + i] = Some(bytes);
            }
        }
        Ok(out.into_iter().flatten().collect())
    }

    /// Fetches `id` (at most `max_bytes`) from the first aggregator whose
    /// answer `accept` takes, for several rounds.
    fn fetch_accepting(
        &self,
        id: &BlobId,
        max_bytes: u64,
        mut accept: impl FnMut(&[u8]) -> std::result::Result<(), String>,
    ) -> Result<Vec<u8>> {
        let mut failures = Vec::new();
        for round in 0..self.policy.rounds.max(1) {
            self.pause(round);
            for aggregator in &self.aggregators {
                match self.fetch_once(aggregator, id, max_bytes) {
                    Ok(bytes) => match accept(&bytes) {
                        Ok(()) => return Ok(bytes),
                        Err(reason) => failures.push(format!("{aggregator}: {reason}")),
                    },
                    Err(Attempt(reason)) => failures.push(format!("{aggregator}: {reason}")),
                }
            }
        }
        Err(Error::Walrus {
            reason: format!("blob {id} not fetched: {}", failures.join("; ")),
        })
    }

    fn fetch_once(
        &self,
        aggregator: &str,
        id: &BlobId,
        max_bytes: u64,
    ) -> std::result::Result<Vec<u8>, Attempt> {
        let url = format!("{aggregator}/v1/blobs/{id}");
        let mut response = self
            .agent
            .get(&url)
            .call()
            .map_err(|e| Attempt(e.to_string()))?;
        let status = response.status().as_u16();
        if status != 200 {
            return Err(Attempt(format!("HTTP {status}")));
        }
        if let Some(len) = response.body().content_length() {
            if len > max_bytes {
                return Err(Attempt(format!(
                    "announces {len} bytes, the cap is {max_bytes}"
                )));
            }
        }
        // Stream with the cap: read at most one byte past it.
        let mut body = Vec::new();
        let mut reader = response.body_mut().as_reader().take(max_bytes + 1);
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = reader
                .read(&mut buf)
                .map_err(|e| Attempt(format!("reading body: {e}")))?;
            if n == 0 {
                break;
            }
            body.extend_from_slice(&buf[..n]);
            if body.len() as u64 > max_bytes {
                return Err(Attempt(format!(
                    "sent more than the cap of {max_bytes} bytes"
                )));
            }
        }
        Ok(body)
    }

    /// Stores content of any size: one blob if it fits a request, otherwise
    /// shards under a `vram-shards/1` manifest. Returns the id to publish
    /// beside the content's hash.
    pub fn store_content(&self, bytes: &[u8], epochs: u32) -> Result<BlobId> {
        if bytes.len() as u64 <= self.max_request {
            return self.store(bytes, epochs);
        }
        let cut = usize::try_from(self.max_request).unwrap_or(usize::MAX);
        let pieces = bytes
            .chunks(cut)
            .map(|piece| Ok((self.store(piece, epochs)?, piece)))
            .collect::<Result<Vec<_>>>()?;
        let manifest = transport::ShardManifest::new(bytes, &pieces);
        let body = serde_json::to_vec(&manifest).map_err(|e| Error::Walrus {
            reason: format!("manifest: {e}"),
        })?;
        self.store(&body, epochs)
    }

    /// Stores `bytes` for `epochs` epochs through the first publisher that
    /// answers; returns the blob id Walrus assigned.
    pub fn store(&self, bytes: &[u8], epochs: u32) -> Result<BlobId> {
        let mut failures = Vec::new();
        for round in 0..self.policy.rounds.max(1) {
            self.pause(round);
            for publisher in &self.publishers {
                let url = format!("{publisher}/v1/blobs?epochs={epochs}");
                match self.agent.put(&url).send(bytes) {
                    Ok(mut r) if r.status().as_u16() == 200 => {
                        let text = r
                            .body_mut()
                            .with_config()
                            .limit(1 << 20)
                            .read_to_string()
                            .map_err(|e| Error::Walrus {
                                reason: e.to_string(),
                            })?;
                        return blob_id_from_store_response(&text);
                    }
                    Ok(r) => failures.push(format!("{publisher}: HTTP {}", r.status().as_u16())),
                    Err(e) => failures.push(format!("{publisher}: {e}")),
                }
            }
        }
        if self.publishers.is_empty() {
            failures.push("no publisher configured".into());
        }
        Err(Error::Walrus {
            reason: format!("blob not stored: {}", failures.join("; ")),
        })
    }
}

/// The blob id in a publisher's answer: `newlyCreated.blobObject.blobId` or
/// `alreadyCertified.blobId`.
pub fn blob_id_from_store_response(text: &str) -> Result<BlobId> {
    let json: serde_json::Value = serde_json::from_str(text).map_err(|e| Error::Walrus {
        reason: format!("publisher answer: {e}"),
    })?;
    let id = json["newlyCreated"]["blobObject"]["blobId"]
        .as_str()
        .or_else(|| json["alreadyCertified"]["blobId"].as_str())
        .ok_or_else(|| Error::Walrus {
            reason: "publisher answer has no blobId".into(),
        })?;
    id.parse()
}
