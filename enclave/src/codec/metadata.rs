//! A blob's `__metadata__`: format, window, miner, top-k, chunk and base
//! checkpoint, written by miners and parsed strictly by the enclave.

use std::collections::HashMap;

use super::blob::FORMAT;
use super::layout::TARGET_CHUNK;
use crate::error::{Error, Result};

/// The blob's `__metadata__`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobMetadata {
    /// The window the gradient is for.
    pub window: u64,
    /// The miner that produced it.
    pub miner_uid: u64,
    /// Coefficients kept per chunk.
    pub topk: usize,
    /// SHA-256 identity of the checkpoint the gradient was computed on.
    pub base_checkpoint: [u8; 32],
}

impl BlobMetadata {
    pub(super) fn to_map(&self) -> HashMap<String, String> {
        HashMap::from([
            ("format".to_string(), FORMAT.to_string()),
            ("window".to_string(), self.window.to_string()),
            ("miner_uid".to_string(), self.miner_uid.to_string()),
            ("topk".to_string(), self.topk.to_string()),
            ("chunk".to_string(), TARGET_CHUNK.to_string()),
            (
                "base_checkpoint".to_string(),
                hex_encode(&self.base_checkpoint),
            ),
        ])
    }

    pub(super) fn from_map(map: Option<&HashMap<String, String>>) -> Result<Self> {
        let empty = HashMap::new();
        let map = map.unwrap_or(&empty);
        const KEYS: [&str; 6] = [
            "format",
            "window",
            "miner_uid",
            "topk",
            "chunk",
            "base_checkpoint",
        ];
        if let Some(unknown) = map.keys().find(|k| !KEYS.contains(&k.as_str())) {
            return Err(Error::BadMetadata {
                key: "__metadata__",
                reason: format!("unknown key {:?}", truncate(unknown)),
            });
        }
        let get = |key: &'static str| {
            map.get(key).ok_or(Error::BadMetadata {
                key,
                reason: "missing".into(),
            })
        };
        let number = |key: &'static str| -> Result<u64> {
            get(key)?.parse().map_err(|_| Error::BadMetadata {
                key,
                reason: format!(
                    "{:?} is not an unsigned integer",
                    truncate(get(key).map_or("", |s| s))
                ),
            })
        };
        if get("format")? != FORMAT {
            return Err(Error::BadMetadata {
                key: "format",
                reason: format!("{:?}, expected {FORMAT:?}", truncate(get("format")?)),
            });
        }
        if number("chunk")? != TARGET_CHUNK as u64 {
            return Err(Error::BadMetadata {
                key: "chunk",
                reason: format!("must be {TARGET_CHUNK}"),
            });
        }
        let base = get("base_checkpoint")?;
        let base_checkpoint = hex_decode32(base).ok_or(Error::BadMetadata {
            key: "base_checkpoint",
            reason: "not 64 hex digits".into(),
        })?;
        Ok(Self {
            window: number("window")?,
            miner_uid: number("miner_uid")?,
            topk: usize::try_from(number("topk")?).unwrap_or(usize::MAX),
            base_checkpoint,
        })
    }
}

pub(super) fn truncate(s: &str) -> String {
    s.chars().take(80).collect()
}

fn hex_encode(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn hex_decode32(s: &str) -> Option<[u8; 32]> {
    if s.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}
