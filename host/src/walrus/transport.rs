//! Content of any size over Walrus (design §4.1): identity is the content's
//! SHA-256; transport is separate. Content up to the request cap travels as
//! one blob; larger content as shards of at most the cap under a small
//! `vram-shards/1` manifest blob, whose id the chain holds beside the
//! content hash. A reader fetches the id; if the bytes hash to the content
//! hash they are the content, otherwise they must parse as a manifest naming
//! that same hash, and the shards are fetched concurrently, each checked by
//! its own hash, reassembled and checked again as a whole. The enclave never
//! sees a manifest.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

use super::BlobId;

/// Public aggregators and publishers refuse requests above 10 MiB.
pub const DEFAULT_MAX_REQUEST_BYTES: u64 = 10 * 1024 * 1024;
/// The manifest's `format`.
pub const SHARDS_FORMAT: &str = "vram-shards/1";
/// A manifest is small: 1 MiB lists ~8,000 shards (80 GB at 10 MiB each).
pub const MAX_MANIFEST_BYTES: u64 = 1 << 20;

/// One shard of a sharded blob.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Shard {
    /// Where the shard is.
    pub blob_id: String,
    /// SHA-256 of its bytes, hex.
    pub sha256: String,
    /// Its length.
    pub size: u64,
}

/// `vram-shards/1`: the content's hash and size, and its shards in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShardManifest {
    /// [`SHARDS_FORMAT`].
    pub format: String,
    /// SHA-256 of the whole content, hex.
    pub sha256: String,
    /// Length of the whole content.
    pub size: u64,
    /// The shards, in content order.
    pub shards: Vec<Shard>,
}

/// A shard, parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShardRef {
    /// Where it is.
    pub id: BlobId,
    /// Its hash.
    pub sha256: [u8; 32],
    /// Its length.
    pub size: u64,
}

fn bad(reason: impl Into<String>) -> Error {
    Error::Walrus {
        reason: format!("shard manifest: {}", reason.into()),
    }
}

/// A 32-byte hash from hex.
pub fn hash_from_hex(text: &str) -> Result<[u8; 32]> {
    let bytes = hex::decode(text).map_err(|e| Error::Walrus {
        reason: format!("hash {text:?}: {e}"),
    })?;
    bytes.as_slice().try_into().map_err(|_| Error::Walrus {
        reason: format!("hash {text:?} is {} bytes, not 32", bytes.len()),
    })
}

impl ShardManifest {
    /// Parses `bytes` as the manifest of content `sha256` of at most
    /// `max_bytes`, each shard at most `max_shard` long. Every shard is
    /// non-empty and their sizes add up to the content's.
    pub fn parse(
        bytes: &[u8],
        sha256: &[u8; 32],
        max_bytes: u64,
        max_shard: u64,
    ) -> Result<Vec<ShardRef>> {
        if bytes.len() as u64 > MAX_MANIFEST_BYTES {
            return Err(bad(format!("{} bytes, above the cap", bytes.len())));
        }
        let m: ShardManifest = serde_json::from_slice(bytes).map_err(|e| bad(e.to_string()))?;
        if m.format != SHARDS_FORMAT {
            return Err(bad(format!("format {:?}, not {SHARDS_FORMAT}", m.format)));
        }
        if hash_from_hex(&m.sha256)? != *sha256 {
            return Err(bad("names another content hash than the chain's"));
        }
        if m.size > max_bytes {
            return Err(bad(format!(
                "content of {} bytes, above the cap of {max_bytes}",
                m.size
            )));
        }
        let mut total = 0u64;
        let shards = m
            .shards
            .iter()
            .map(|s| {
                if s.size == 0 || s.size > max_shard {
                    return Err(bad(format!(
                        "a shard of {} bytes (1..={max_shard} allowed)",
                        s.size
                    )));
                }
                total = total.saturating_add(s.size);
                Ok(ShardRef {
                    id: s.blob_id.parse()?,
                    sha256: hash_from_hex(&s.sha256)?,
                    size: s.size,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        if shards.is_empty() || total != m.size {
            return Err(bad(format!(
                "shards add up to {total} bytes, the content is {}",
                m.size
            )));
        }
        Ok(shards)
    }

    /// The manifest of `content` cut into `shards` (ids already assigned).
    pub fn new(content: &[u8], shards: &[(BlobId, &[u8])]) -> Self {
        Self {
            format: SHARDS_FORMAT.into(),
            sha256: hex::encode(vram_attestation::sha256(content)),
            size: content.len() as u64,
            shards: shards
                .iter()
                .map(|(id, bytes)| Shard {
                    blob_id: id.to_string(),
                    sha256: hex::encode(vram_attestation::sha256(bytes)),
                    size: bytes.len() as u64,
                })
                .collect(),
        }
    }
}

/// Content `sha256` whose id is `id`, from a folder laid out as a blob
/// store (`DIR/<blob id>`): the file itself, or its shards reassembled if
/// the file is a manifest of that content. Otherwise the file's bytes as
/// they are (the caller compares them with the hash and reports).
pub fn read_local(
    dir: &std::path::Path,
    id: &BlobId,
    sha256: &[u8; 32],
) -> std::io::Result<Vec<u8>> {
    let bytes = std::fs::read(crate::bundle::blob_path(dir, id))?;
    if vram_attestation::sha256(&bytes) == *sha256 {
        return Ok(bytes);
    }
    let Ok(shards) = ShardManifest::parse(&bytes, sha256, u64::MAX, u64::MAX) else {
        return Ok(bytes);
    };
    let mut content = Vec::new();
    for s in shards {
        content.extend(std::fs::read(crate::bundle::blob_path(dir, &s.id))?);
    }
    Ok(content)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn manifest(content: &[u8], cut: usize) -> (Vec<u8>, [u8; 32]) {
        let pieces: Vec<(BlobId, &[u8])> = content
            .chunks(cut)
            .map(|c| (BlobId(vram_attestation::sha256(c)), c))
            .collect();
        let m = ShardManifest::new(content, &pieces);
        (
            serde_json::to_vec(&m).unwrap(),
            vram_attestation::sha256(content),
        )
    }

    #[test]
    fn a_manifest_round_trips_and_lists_every_shard() {
        let content: Vec<u8> = (0..1000u32).map(|i| i as u8).collect();
        let (bytes, sha) = manifest(&content, 300);
        let shards = ShardManifest::parse(&bytes, &sha, 1000, 300).unwrap();
        assert_eq!(shards.len(), 4);
        assert_eq!(shards.iter().map(|s| s.size).sum::<u64>(), 1000);
    }

    #[test]
    fn a_manifest_is_refused_for_another_hash_size_or_shard_cap() {
        let content = vec![7u8; 1000];
        let (bytes, sha) = manifest(&content, 300);
        let err = |r: Result<Vec<ShardRef>>| r.unwrap_err().to_string();
        assert!(err(ShardManifest::parse(&bytes, &[0; 32], 1000, 300)).contains("another"));
        assert!(err(ShardManifest::parse(&bytes, &sha, 999, 300)).contains("above the cap"));
        assert!(err(ShardManifest::parse(&bytes, &sha, 1000, 299)).contains("a shard of"));
        let mut m: ShardManifest = serde_json::from_slice(&bytes).unwrap();
        m.size = 1001;
        let lying = serde_json::to_vec(&m).unwrap();
        assert!(err(ShardManifest::parse(&lying, &sha, 2000, 300)).contains("add up"));
        let trailing = [bytes.as_slice(), b"x"].concat();
        assert!(ShardManifest::parse(&trailing, &sha, 1000, 300).is_err());
    }

    proptest::proptest! {
        #[test]
        fn parsing_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(0u8..=255, 0..512)) {
            let _ = ShardManifest::parse(&bytes, &[0; 32], u64::MAX, u64::MAX);
        }
    }
}
