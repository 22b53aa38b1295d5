//! A streamed body: chunks in order, size fixed by the first chunk and
//! capped per kind, hashed as it arrives.

use ring::digest::{Context, SHA256};

use super::Refusal;
use crate::protocol::ErrorCode;

pub(crate) struct Stream {
    total: u64,
    data: Vec<u8>,
    hasher: Context,
}

impl Stream {
    /// A new stream for a body of `total` bytes, at most `limit`.
    pub(crate) fn new(total: u64, limit: u64) -> Result<Self, Refusal> {
        if total == 0 {
            return Err((ErrorCode::BadRequest, "empty upload".into()));
        }
        if total > limit {
            return Err((
                ErrorCode::UploadTooLarge,
                format!("{total} bytes, at most {limit} for this kind"),
            ));
        }
        Ok(Self {
            total,
            data: Vec::new(),
            hasher: Context::new(&SHA256),
        })
    }

    /// Appends a chunk; true when the body is complete.
    pub(crate) fn push(&mut self, offset: u64, total: u64, chunk: &[u8]) -> Result<bool, Refusal> {
        let received = self.data.len() as u64;
        if total != self.total || offset != received {
            return Err((
                ErrorCode::UploadOutOfOrder,
                format!(
                    "chunk at {offset} of {total}; expected offset {received} of {}",
                    self.total
                ),
            ));
        }
        if chunk.is_empty() || received + chunk.len() as u64 > self.total {
            return Err((
                ErrorCode::UploadTooLarge,
                format!("chunk of {} bytes overruns {}", chunk.len(), self.total),
            ));
        }
        self.data.extend_from_slice(chunk);
        self.hasher.update(chunk);
        Ok(self.data.len() as u64 == self.total)
    }

    pub(crate) fn received(&self) -> u64 {
        self.data.len() as u64
    }

    pub(crate) fn total(&self) -> u64 {
        self.total
    }

    /// The body and its SHA-256.
    pub(crate) fn finish(self) -> (Vec<u8>, [u8; 32]) {
        let mut hash = [0u8; 32];
        hash.copy_from_slice(self.hasher.finish().as_ref());
        (self.data, hash)
    }
}
